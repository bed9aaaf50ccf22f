"""S22, PostgreSQL: point-in-time recovery with WAL archiving, as docs/deploy.md section 11 sets it up.

On a private cluster (tests/pgcluster.py; the shared server is never touched): WAL archiving
with the documented ``archive_command``, a base backup with ``pg_basebackup -Ft -z -X stream``,
rows written, the time T noted, more rows written, the server lost; then a new data directory
from the base backup with ``recovery.signal``, ``restore_command`` and
``recovery_target_time = T``: it holds exactly the rows committed before T.

Runs in the PostgreSQL suite (``DATABASE_URL`` names PostgreSQL), where the server binaries are.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
    reason="point-in-time recovery is a PostgreSQL feature (run with DATABASE_URL=postgres://...)")


def _as_postgres(*args: str) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, (args, done.stdout, done.stderr)


def _wait_archived(cluster: Any, segment: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = cluster.execute("SELECT last_archived_wal, failed_count FROM pg_stat_archiver")[0]
        if row[0] is not None and row[0] >= segment:
            return
        assert row[1] == 0, cluster.log_tail()
        time.sleep(0.1)
    raise AssertionError(f"{segment} was not archived in {timeout}s")


def test_recover_to_a_point_in_time_from_base_backup_and_archived_wal() -> None:
    from tests.pgcluster import PrivateCluster, require_binaries

    require_binaries()
    primary = PrivateCluster(name="primary")
    restored: PrivateCluster | None = None
    try:
        archive, base = primary.basedir / "wal-archive", primary.basedir / "base"
        for directory in (archive, base):
            directory.mkdir()
            primary._chown(directory)
        primary.configure(archive_mode="on", archive_timeout="0",
                          archive_command=f"'test ! -f {archive}/%f && cp %p {archive}/%f'")
        primary.start()
        primary.create_database("company")
        primary.execute("CREATE TABLE payment (id serial PRIMARY KEY, note text NOT NULL)", database="company")
        primary.execute("INSERT INTO payment (note) SELECT 'before the base backup ' || n FROM generate_series(1, 50) n",
                        database="company")

        # The weekly base backup.
        primary._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                     "-D", str(base), "-Ft", "-z", "-X", "stream", "-c", "fast", "--no-sync", timeout=180)
        assert (base / "base.tar.gz").is_file() and (base / "pg_wal.tar.gz").is_file()

        # A day's work after it, in many transactions; T is noted between two of them.
        for n in range(1, 101):
            primary.execute("INSERT INTO payment (note) VALUES (%s)", (f"after the base backup {n}",),
                            database="company")
        moment = primary.execute("SELECT clock_timestamp()")[0][0]
        time.sleep(0.05)
        primary.execute("INSERT INTO payment (note) SELECT 'after T ' || n FROM generate_series(1, 30) n",
                        database="company")
        primary.execute("DELETE FROM payment WHERE id <= 20", database="company")  # the mistake to undo
        segment = primary.execute("SELECT pg_walfile_name(pg_current_wal_lsn())")[0][0]
        primary.execute("SELECT pg_switch_wal()")
        _wait_archived(primary, segment)
        assert primary.execute("SELECT count(*) FROM payment", database="company")[0][0] == 50 + 100 + 30 - 20

        # The server is lost. A new data directory from the base backup, recovered up to T.
        primary.stop()
        restored = PrivateCluster(name="recovered", bindir=primary.bindir, _basedir=primary.basedir, _initdb=False)
        restored.datadir.mkdir(mode=0o700)
        restored._chown(restored.datadir)
        _as_postgres("tar", "xzf", str(base / "base.tar.gz"), "-C", str(restored.datadir))
        _as_postgres("tar", "xzf", str(base / "pg_wal.tar.gz"), "-C", str(restored.datadir / "pg_wal"))
        restored.configure(archive_mode="off", restore_command=f"'cp {archive}/%f %p'",
                           recovery_target_time=f"'{moment.isoformat()}'", recovery_target_action="'promote'",
                           log_min_messages="log")
        restored._configure_address()
        _as_postgres("touch", str(restored.datadir / "recovery.signal"))
        restored.start(timeout=120)
        deadline = time.monotonic() + 60
        while restored.execute("SELECT pg_is_in_recovery()")[0][0] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert restored.execute("SELECT pg_is_in_recovery()")[0][0] is False, restored.log_tail()

        rows = [r[0] for r in restored.execute("SELECT note FROM payment ORDER BY id", database="company")]
        assert rows == ([f"before the base backup {n}" for n in range(1, 51)]
                        + [f"after the base backup {n}" for n in range(1, 101)]), restored.log_tail()
        log = Path(restored.logfile).read_text(errors="replace")
        assert "recovery stopping before commit" in log and "restored log file" in log, log[-3000:]
        # The recovered server takes writes again (a new timeline).
        restored.execute("INSERT INTO payment (note) VALUES ('after the recovery')", database="company")
    finally:
        if restored is not None:
            restored.destroy()
        primary.destroy()
