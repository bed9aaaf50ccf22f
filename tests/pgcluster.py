"""Private PostgreSQL clusters for tests: a server of their own, in a temp dir, on a free port.

Tests that stop, crash or replicate a database server cannot do it to the shared server on
5432 (other test runs use it), so they start clusters of their own with the server binaries
of the installed PostgreSQL (Debian: package ``postgresql-15``, or whichever version is the
newest under /usr/lib/postgresql; ``GUANXI_PG_BINDIR`` names another directory)::

    from tests.pgcluster import PrivateCluster, require_binaries

    require_binaries()                      # skips the test when there are none
    with PrivateCluster() as primary:       # initdb + start on a free 127.0.0.1 port
        primary.create_database("app")
        url = primary.url("app")            # postgres://postgres@127.0.0.1:<port>/app
        replica = primary.make_replica()    # pg_basebackup -R: a streaming hot standby, started
        primary.wait_replayed(replica)      # the replica has replayed everything written so far
        replica.pause_replay(); ...; replica.resume_replay()
        primary.kill()                      # SIGKILL the postmaster and its backends: a crash
        primary.start()                     # crash recovery, then accepting connections again

Each cluster lives in a ``tempfile`` directory (data dir, log, unix socket), is owned by the
``postgres`` user when the tests run as root (initdb and the server refuse to run as root:
``runuser -u postgres --`` is used), trusts every local and 127.0.0.1 connection including
replication, and is removed with everything in it by :meth:`PrivateCluster.destroy`, which the
context manager, pytest fixtures (see :func:`cluster_fixture`) and an ``atexit`` hook call.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SERVER_USER = "postgres"
_LIVE: list[PrivateCluster] = []


def find_bindir() -> Path | None:
    """The directory of initdb/pg_ctl/postgres: $GUANXI_PG_BINDIR, else the newest
    /usr/lib/postgresql/<version>/bin holding them, else None."""
    wanted = os.environ.get("GUANXI_PG_BINDIR")
    candidates = [Path(wanted)] if wanted else sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)] or [0], reverse=True)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres", "pg_basebackup")):
            return bindir
    return None


def require_binaries() -> Path:
    """The server binaries' directory, or skip the calling test with the reason."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, postgres, pg_basebackup) are not installed: "
                    "apt-get install postgresql-15 (or set GUANXI_PG_BINDIR)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            pytest.skip(f"running as root and there is no {SERVER_USER!r} user to run the private server as")
    return bindir


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ClusterError(RuntimeError):
    pass


class PrivateCluster:
    """One PostgreSQL cluster (server) of a test's own. Not started until :meth:`start`
    (``with`` starts it; :meth:`make_replica` returns a started replica)."""

    def __init__(self, port: int | None = None, *, name: str = "primary", fsync: bool = False,
                 settings: dict[str, str] | None = None, bindir: Path | None = None,
                 _basedir: Path | None = None, _initdb: bool = True) -> None:
        self.bindir = bindir or find_bindir()
        if self.bindir is None:
            raise ClusterError("no PostgreSQL server binaries; see tests.pgcluster.require_binaries")
        self.name = name
        self.port = port or free_port()
        self.owned_basedir = _basedir is None
        self.basedir = _basedir or Path(tempfile.mkdtemp(prefix=f"guanxi-pg-{name}-"))
        self.datadir = self.basedir / name
        self.sockdir = self.basedir / f"{name}-socket"
        self.logfile = self.basedir / f"{name}.log"
        self.sockdir.mkdir(exist_ok=True)
        self._chown(self.basedir, self.sockdir)
        _LIVE.append(self)
        if _initdb:
            self._run("initdb", "-D", str(self.datadir), "-U", SERVER_USER, "-A", "trust", "-E", "UTF8",
                      "--locale=C.UTF-8", "--no-sync", "--no-instructions")
            with (self.datadir / "pg_hba.conf").open("w") as hba:
                hba.write("local all all trust\nlocal replication all trust\n"
                          "host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n")
            self.configure(**{
                "wal_level": "replica", "max_wal_senders": "5", "hot_standby": "on",
                "wal_keep_size": "64MB", "max_connections": "40", "shared_buffers": "32MB",
                "fsync": "on" if fsync else "off",  # off: safe against a killed server, not an OS crash
                "log_min_messages": "warning", "log_line_prefix": "'%m [%p] '",
                **(settings or {}),
            })
            self._configure_address()

    # --- set-up --------------------------------------------------------------------------
    def _prefix(self) -> list[str]:
        return ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []

    def _chown(self, *paths: Path) -> None:
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVER_USER)
            for path in paths:
                os.chown(path, user.pw_uid, user.pw_gid)

    def _run(self, tool: str, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self.bindir is not None
        done = subprocess.run([*self._prefix(), str(self.bindir / tool), *args], capture_output=True, text=True,
                              timeout=timeout, check=False, cwd=self.basedir, stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise ClusterError(f"{tool} {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n"
                               f"{self.log_tail()}")
        return done

    def configure(self, **settings: str) -> None:
        """Append settings to postgresql.conf (the last line for a name wins); values are
        written as given, so quote strings: ``configure(archive_command="'cp %p /x/%f'")``.
        Takes effect at the next start (or :meth:`reload` for reloadable ones)."""
        conf = self.datadir / "postgresql.conf"
        with conf.open("a") as fh:
            fh.write(f"\n# {self.name} (tests.pgcluster)\n")
            for key, value in settings.items():
                fh.write(f"{key} = {value}\n")

    def _configure_address(self) -> None:
        self.configure(port=str(self.port), listen_addresses="'127.0.0.1'", unix_socket_directories=f"'{self.sockdir}'")

    # --- life cycle ------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> None:
        """Start the server (after a :meth:`kill` this is crash recovery) and wait until it
        accepts connections (a standby: read-only ones). Should another process have taken
        the port meanwhile (a free port is only free when asked), it moves to another one."""
        for attempt in range(3):
            try:
                self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", str(int(timeout)),
                          "start", timeout=timeout + 30)
                return
            except ClusterError:
                if attempt == 2 or self.running() or "could not bind" not in self.log_tail():
                    raise
                self.port = free_port()
                self._configure_address()

    def stop(self, mode: str = "fast") -> None:
        """A clean shutdown (``mode`` fast, smart or immediate)."""
        if self.running():
            self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "-t", "60", "stop", timeout=90)

    def restart(self) -> None:
        self.stop()
        self.start()

    def reload(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "reload")

    def postmaster_pid(self) -> int | None:
        """The running postmaster's pid, or None."""
        try:
            pid = int((self.datadir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        if _zombie(pid):
            return None
        # A stale postmaster.pid (a crashed server) may name a pid that now belongs to another
        # process: only a postgres started on this data directory counts, so kill() can never
        # reach anything else.
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        if not cmdline or not cmdline[0].endswith(b"postgres") or str(self.datadir).encode() not in cmdline:
            return None
        return pid

    def running(self) -> bool:
        return self.postmaster_pid() is not None

    def server_pids(self) -> list[int]:
        """The postmaster and every process it started (backends, checkpointer, walsender...)."""
        pid = self.postmaster_pid()
        if pid is None:
            return []
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:  # fields: state, ppid, ...
                children.append(int(stat.parent.name))
        return [pid, *children]

    def kill(self, timeout: float = 30) -> None:
        """Crash the server: SIGKILL the postmaster and all its processes at once (as the
        kernel's OOM killer or a power cut would leave it: no shutdown checkpoint, in-flight
        transactions cut off). Waits until every one of them is gone, so :meth:`start` can run
        crash recovery at once."""
        pids = self.server_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while any(not _zombie(pid) for pid in pids):
            if time.monotonic() > deadline:
                raise ClusterError(f"server processes {pids} still alive {timeout}s after SIGKILL")
            time.sleep(0.05)
        # A killed postmaster stays a zombie until its parent (init here) reaps it, and the
        # server refuses to start while postmaster.pid names a pid that kill(pid, 0) finds.
        # Wait for the reaping; should it not come, the pid file is stale: remove it.
        reaped = time.monotonic() + 10
        while pids and Path(f"/proc/{pids[0]}").exists() and time.monotonic() < reaped:
            time.sleep(0.05)
        if pids and Path(f"/proc/{pids[0]}").exists():
            (self.datadir / "postmaster.pid").unlink(missing_ok=True)

    def destroy(self) -> None:
        """Stop the server (immediately) and remove its directory. Safe to call twice."""
        with contextlib.suppress(Exception):
            if self.running():
                self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "-t", "30", "stop",
                          timeout=60, check=False)
        if self.running():
            with contextlib.suppress(Exception):
                self.kill()
        if self.owned_basedir:
            shutil.rmtree(self.basedir, ignore_errors=True)
        else:
            shutil.rmtree(self.datadir, ignore_errors=True)
            shutil.rmtree(self.sockdir, ignore_errors=True)
        if self in _LIVE:
            _LIVE.remove(self)

    def __enter__(self) -> PrivateCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # --- connections -----------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        """A DATABASE_URL for this server (TCP on 127.0.0.1, user postgres, no password)."""
        return f"postgres://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres", **kwargs: Any) -> Any:
        """A psycopg connection (autocommit unless told otherwise)."""
        import psycopg

        kwargs.setdefault("autocommit", True)
        kwargs.setdefault("connect_timeout", 10)
        return psycopg.connect(host="127.0.0.1", port=self.port, user=SERVER_USER, dbname=database, **kwargs)

    def execute(self, sql: str, params: Any = None, *, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement in its own connection; the rows it returned (or [])."""
        with self.connect(database) as db:
            cur = db.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []

    def create_database(self, name: str) -> str:
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    # --- replication -------------------------------------------------------------------------
    def make_replica(self, port: int | None = None, *, name: str = "replica", start: bool = True) -> PrivateCluster:
        """A streaming hot standby of this (running) server: ``pg_basebackup -R -X stream``
        into a data dir next to this one, on a port of its own; started unless told not to."""
        replica = PrivateCluster(port, name=name, bindir=self.bindir, _basedir=self.basedir, _initdb=False)
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", SERVER_USER,
                  "-D", str(replica.datadir), "-R", "-X", "stream", "-c", "fast", "--no-sync", timeout=180)
        replica._configure_address()  # the copied postgresql.conf names this server's port and socket
        if start:
            replica.start()
        return replica

    def current_lsn(self) -> str:
        """This primary's current WAL write position."""
        return str(self.execute("SELECT pg_current_wal_lsn()")[0][0])

    def replay_lsn(self) -> str | None:
        """A standby's last replayed WAL position (None on a primary)."""
        value = self.execute("SELECT pg_last_wal_replay_lsn()")[0][0]
        return None if value is None else str(value)

    def wait_replayed(self, replica: PrivateCluster, timeout: float = 30) -> str:
        """Wait until ``replica`` has replayed everything this primary has written so far;
        returns the LSN waited for."""
        target = self.current_lsn()
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(Exception):  # the standby may still be starting
                behind = replica.execute("SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn())", (target,))
                if behind and behind[0][0] is not None and behind[0][0] <= 0:
                    return target
            if time.monotonic() > deadline:
                raise ClusterError(f"{replica.name} did not replay up to {target} in {timeout}s "
                                   f"(at {replica.replay_lsn()}):\n{replica.log_tail()}")
            time.sleep(0.05)

    def pause_replay(self, timeout: float = 10) -> None:
        """On a standby: stop applying WAL (it still receives it) — reads see the data as of
        now until :meth:`resume_replay`. Waits until the pause is in force (or has been
        requested and there was nothing to apply within ``timeout``: then the next record
        waits anyway)."""
        self.execute("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.execute("SELECT pg_get_wal_replay_pause_state()")[0][0] == "paused":
                return
            time.sleep(0.05)

    def resume_replay(self) -> None:
        self.execute("SELECT pg_wal_replay_resume()")

    def replay_paused(self) -> bool:
        return bool(self.execute("SELECT pg_is_wal_replay_paused()")[0][0])


def _zombie(pid: int) -> bool:
    """Is ``pid`` gone or a zombie (dead, not yet reaped)?"""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def cluster_fixture(request: Any, **kwargs: Any) -> PrivateCluster:
    """A started cluster destroyed when the requesting fixture or test ends (a finalizer):
    ``primary = cluster_fixture(request)`` inside a fixture. Skips without binaries."""
    require_binaries()
    cluster = PrivateCluster(**kwargs)
    request.addfinalizer(cluster.destroy)
    cluster.start()
    return cluster


@contextlib.contextmanager
def private_cluster(**kwargs: Any) -> Iterator[PrivateCluster]:
    """``with private_cluster() as pg:`` — started, destroyed at the end of the block."""
    cluster = PrivateCluster(**kwargs)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@atexit.register
def _destroy_all() -> None:
    for cluster in list(reversed(_LIVE)):
        cluster.destroy()
