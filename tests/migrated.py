"""Freshly migrated databases for tests that start processes of their own, migrated once per session.

Running ``migrate`` from scratch costs 15–17 s of CPU (more wall time on a loaded machine); the
tests that give their child processes a database of their own (S16, S17, S22, the topology, the
replica router) each used to pay it. Here ``migrate`` runs once per pytest session and vendor,
in a child process with the project's own settings, into a template; each test then gets a copy:

    from tests.migrated import sqlite_database, postgres_database, restore_into_cluster

    url = sqlite_database(tmp_path / "db.sqlite3")          # a copy of the migrated template file
    url = postgres_database(os.environ["DATABASE_URL"], "h9_s16")   # CREATE DATABASE ... TEMPLATE
    url = restore_into_cluster(cluster, "guanxi")           # pg_restore of the template's dump

- SQLite: one file migrated in a session temp dir, its WAL checkpointed into the main file
  (``wal_checkpoint(TRUNCATE)``), then copied per test (FTS5 tables and triggers included: they
  are ordinary schema objects in the file).
- PostgreSQL (the server ``DATABASE_URL`` names): ``<db>_tmpl`` migrated once, dropped at the end
  of the session; ``CREATE DATABASE <name> TEMPLATE <db>_tmpl`` per test (the server copies the
  files: a fraction of a second). No connection to the template may be open meanwhile: this
  module closes its own, and retries briefly when the server says it is being accessed.
- Private clusters (tests/pgcluster.py): ``pg_dump -Fc`` of the template, once, restored with
  ``pg_restore --no-owner --exit-on-error`` (extensions such as pg_trgm included).

tests/test_migrated.py checks that a copy holds exactly what ``migrate`` made: the schema and
every row (roles, defaults, seeded surveys, content types and permissions).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]

_state: dict[str, Path | str] = {}


def _session_dir() -> Path:
    found = _state.get("dir")
    if isinstance(found, Path):
        return found
    made = Path(tempfile.mkdtemp(prefix="guanxi-migrated-"))
    atexit.register(shutil.rmtree, made, True)
    _state["dir"] = made
    return made


def migrate(url: str, *, data_dir: Path | None = None) -> None:
    """Run ``migrate`` on the database at ``url`` in a child process with the project's own
    settings (no test settings), as the tests' child processes see it."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"GUANXI_TESTING", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DATABASE_REPLICA_URL",
                        "GUANXI_QUEUE_FILE", "GUANXI_PRODUCTION", "GUANXI_MEDIA_ROOT", "GUANXI_BACKUP_DIR"}}
    env.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="guanxi.settings", PYTHONPATH=str(ROOT),
               GUANXI_DATA_DIR=str(data_dir or _session_dir() / "data"))
    done = subprocess.run([sys.executable, "-m", "django", "migrate", "-v0"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]


# --- SQLite ------------------------------------------------------------------------------------
def checkpoint(path: Path) -> None:
    """Move everything in the file's WAL into the file itself (and empty the WAL): a copy of
    the main file alone is then the whole database."""
    db = sqlite3.connect(path, timeout=30)
    try:
        busy, _log, _moved = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0, f"{path}: the WAL checkpoint was blocked"
    finally:
        db.close()


def sqlite_template() -> Path:
    """The session's migrated SQLite file (migrated on first use)."""
    found = _state.get("sqlite")
    if isinstance(found, Path):
        return found
    path = _session_dir() / "template.sqlite3"
    migrate(f"sqlite:///{path}")
    checkpoint(path)
    _state["sqlite"] = path
    return path


def sqlite_database(path: Path) -> str:
    """A freshly migrated SQLite database at ``path`` (a copy of the template); its URL."""
    template = sqlite_template()
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


# --- PostgreSQL, the server DATABASE_URL names ------------------------------------------------------
def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def template_name(url: str) -> str:
    return f"{urlsplit(url).path.lstrip('/') or 'guanxi'}_tmpl"


def postgres_template(url: str) -> str:
    """The session's migrated template database on ``url``'s server (migrated on first use);
    its URL. Dropped when the session ends."""
    name = template_name(url)
    key = f"pg:{_with_database(url, name)}"
    found = _state.get(key)
    if isinstance(found, str):
        return found
    import psycopg

    admin, own = _with_database(url, "postgres"), _with_database(url, name)
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # left by a killed run: made again
        db.execute(f'CREATE DATABASE "{name}"')
    atexit.register(drop_postgres, url, name)
    migrate(own)
    _state[key] = own
    return own


def drop_postgres(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(_with_database(url, "postgres"), autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_database(url: str, name: str) -> str:
    """A freshly migrated database ``name`` on ``url``'s server (dropped first if it exists),
    copied from the template; its URL."""
    import psycopg
    from psycopg import errors

    postgres_template(url)
    template = template_name(url)
    with psycopg.connect(_with_database(url, "postgres"), autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        deadline = time.monotonic() + 30
        while True:
            try:
                db.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                break
            except errors.ObjectInUse:  # "source database ... is being accessed by other users"
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    return _with_database(url, name)


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


def backends() -> list[str]:
    """What a process test runs on: the database of the run, PostgreSQL when DATABASE_URL names
    one, else SQLite. CI runs the suite once on each (.ci/run), so each process test runs once on
    each and neither run repeats the other's."""
    return ["postgresql"] if is_postgres(os.environ.get("DATABASE_URL", "")) else ["sqlite"]


@contextlib.contextmanager
def postgres_copy(url: str, suffix: str) -> Iterator[str]:
    """A migrated database ``<db>_<suffix>`` on ``url``'s server for the block (its URL); dropped
    after it. The suffix keeps the SQLite and PostgreSQL CI runs, and each test, apart."""
    name = f"{urlsplit(url).path.lstrip('/') or 'guanxi'}_{suffix}"
    own = postgres_database(url, name)
    try:
        yield own
    finally:
        drop_postgres(url, name)


# --- private clusters (tests/pgcluster.py) ------------------------------------------------------
def _tool(name: str, bindir: Path | None) -> str:
    if bindir is not None and (bindir / name).is_file():
        return str(bindir / name)
    found = shutil.which(name)
    assert found, f"{name} is not installed (package postgresql-client)"
    return found


def template_dump(url: str, bindir: Path | None = None) -> Path:
    """``pg_dump -Fc`` of the session's template on ``url``'s server (made on first use)."""
    found = _state.get("dump")
    if isinstance(found, Path):
        return found
    source = postgres_template(url)
    dump = _session_dir() / "template.dump"
    done = subprocess.run([_tool("pg_dump", bindir), "-Fc", "--no-owner", "-f", str(dump), "-d", source],
                          capture_output=True, text=True, timeout=300, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    _state["dump"] = dump
    return dump


def restore_into_cluster(cluster: object, name: str, url: str | None = None) -> str:
    """A freshly migrated database ``name`` on a private cluster (created here): the template's
    dump restored into it; its URL. ``url`` names the server holding the template (default:
    ``DATABASE_URL``, which must be PostgreSQL)."""
    from tests.pgcluster import PrivateCluster

    assert isinstance(cluster, PrivateCluster)
    dump = template_dump(url or os.environ["DATABASE_URL"], cluster.bindir)
    target = cluster.create_database(name)
    done = subprocess.run([_tool("pg_restore", cluster.bindir), "--no-owner", "--exit-on-error", "-d", target,
                           str(dump)], capture_output=True, text=True, timeout=300, check=False,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    return target
