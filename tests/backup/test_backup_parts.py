"""Parts of ``guanxi.core.backup`` that need no database: finding PostgreSQL client programs of
the server's major version (with the real installed ones), retention, archive names."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.utils import translation

from guanxi.core import backup


def _installed_major() -> int:
    tool = shutil.which("pg_dump")
    if tool is None:
        pytest.skip("pg_dump is not installed (package postgresql-client)")
    done = subprocess.run([tool, "--version"], capture_output=True, text=True, check=True)
    match = re.search(r"(\d+)", done.stdout)
    assert match
    return int(match.group(1))


def test_the_client_programs_of_the_servers_major_version_are_found() -> None:
    major = _installed_major()
    tools = backup.pg_tools(major)
    assert tools.major == major and str(major) in tools.version
    for tool in ("pg_dump", "pg_restore", "psql"):
        assert Path(tools.path(tool)).is_file()


def test_client_programs_of_another_version_are_refused_with_what_to_install() -> None:
    major = _installed_major()
    with translation.override("en"), pytest.raises(backup.BackupError) as refused:
        backup.pg_tools(major + 1)
    message = str(refused.value)
    assert f"server is version {major + 1}" in message
    assert f"postgresql-client-{major + 1}" in message and "GUANXI_PG_BINDIR" in message
    assert f"{major}." in message  # the version that was found


def test_keep_deletes_only_the_oldest_archives_it_named(tmp_path: Path) -> None:
    names = ["guanxi-backup-20261120T013000Z.tar", "guanxi-backup-20261121T013000Z.tar.gz",
             "guanxi-backup-20261122T013000Z.tar", "guanxi-backup-20261122T013000Z-1.tar",
             "guanxi-backup-20261123T013000Z.tar"]
    own = ["before-upgrade.tar", "guanxi-backup-notes.txt"]
    for name in names + own:
        (tmp_path / name).write_bytes(b"x")
    removed = backup.prune(tmp_path, 2)
    assert [p.name for p in removed] == names[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[3:] + own)


def test_archive_names(tmp_path: Path) -> None:
    path, named = backup.resolve_target(tmp_path)
    assert named and path.parent == tmp_path and backup.NAME_PATTERN.match(path.name)
    assert path.name.endswith(".tar")
    path, named = backup.resolve_target(tmp_path, gzip=True)
    assert named and path.name.endswith(".tar.gz")
    path, named = backup.resolve_target(tmp_path / "before-upgrade.tar")
    assert not named and path == (tmp_path / "before-upgrade.tar").resolve()
    path, named = backup.resolve_target(tmp_path / "nightly")
    assert named and path.parent == (tmp_path / "nightly").resolve() and (tmp_path / "nightly").is_dir()
