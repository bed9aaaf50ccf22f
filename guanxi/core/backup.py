"""Backups a company makes and restores itself (R13.9, S22): ``guanxi backup`` / ``guanxi restore``.

One archive file (a tar, optionally gzip-compressed) holds everything that is the company's data:

- ``database/guanxi.sqlite3``: on SQLite, a copy made with SQLite's online backup API. It is a
  consistent snapshot taken while web processes and workers go on reading and writing (WAL
  mode: the copy reads one transaction's view, writers are not blocked), checked with
  ``PRAGMA integrity_check`` before it goes into the archive.
- ``database/guanxi.dump``: on PostgreSQL, ``pg_dump --format=custom`` of the configured
  database, run against a snapshot exported by a repeatable-read transaction that also counts
  the rows, so the counts in the manifest are those of the dump.
- ``media/...``: every uploaded file (``MEDIA_ROOT``: attachments, case files, product
  pictures, import files, exports), copied after the database snapshot, so every file a
  row of the snapshot names is there.
- ``manifest.json`` (last): format, guanxi version, database vendor (and server version),
  the applied migrations, the row count of every table and the size and SHA-256 of every
  other member.

Not in the archive: the task queue (SQLite queue file or Redis). A job lives in the database
(``core_job``) and is re-queued by ``core.tasks.recover_jobs`` while it is QUEUED or stale;
outgoing mail waits in the database's outbox; the queue file only holds the wake-ups for those
and the periodic schedule, which the workers rebuild. Not in it either: the secret key and the
environment file, kept apart from the data on purpose (docs/deploy.md, section 11).

``restore`` reads and checks the whole archive first (manifest, each member's SHA-256, member
names, the database vendor, the PostgreSQL client version) and extracts it into a staging
directory: a damaged or foreign archive stops here, before anything is changed. Then it
replaces the database (SQLite: the backup API writes the snapshot into the configured file in
one transaction, so a process that still has it open sees either the old or the new database,
never a mix, and the WAL is handled by SQLite itself; PostgreSQL: ``pg_restore --clean
--if-exists`` inside one transaction through ``psql``, which also drops the tables of a newer
guanxi that the archive does not have), swaps the media directory, runs the migrations (an
archive of an older version is upgraded), compares every table's row count with the manifest
and writes an audit row.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

import guanxi

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/guanxi.sqlite3"
PG_MEMBER = "database/guanxi.dump"
MEDIA_PREFIX = "media/"
NAME_PATTERN = re.compile(r"^guanxi-backup-(\d{8}T\d{6})Z(?:-(\d+))?\.tar(?:\.gz)?$")
CHUNK = 1024 * 1024

Say = Callable[[str], Any]


class BackupError(Exception):
    """Something the administrator must know about; the message is translated."""


@dataclass
class BackupResult:
    path: Path
    size: int
    sha256: str
    manifest: dict[str, Any]


@dataclass
class TableCount:
    table: str
    expected: int | None  # None: not in the archive
    restored: int | None  # None: not in the database after the restore

    @property
    def ok(self) -> bool:
        return self.expected == self.restored


@dataclass
class RestoreResult:
    manifest: dict[str, Any]
    counts: list[TableCount] = field(default_factory=list)
    migrations_applied: list[str] = field(default_factory=list)
    files: int = 0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.counts)


def _quiet(message: str) -> None:
    return None


# --- helpers ------------------------------------------------------------------------------------
def vendor() -> str:
    return str(connection.vendor)


def media_root() -> Path:
    return Path(settings.MEDIA_ROOT).resolve()


def default_directory() -> Path:
    return Path(os.environ.get("GUANXI_BACKUP_DIR") or Path(settings.DATA_DIR) / "backups")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover


class _HashingReader(io.RawIOBase):
    """Reads a file for tarfile while hashing exactly the bytes that go into the archive."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.digest.update(data)
        self.count += len(data)
        return data


def _add_file(tar: tarfile.TarFile, source: Path, arcname: str, mtime: float | None = None) -> dict[str, Any]:
    with source.open("rb") as fh:
        stat = os.fstat(fh.fileno())
        info = tarfile.TarInfo(arcname)
        info.size = stat.st_size
        info.mtime = int(mtime if mtime is not None else stat.st_mtime)
        info.mode = 0o600
        reader = _HashingReader(fh)
        tar.addfile(info, reader)  # type: ignore[arg-type]  # tarfile reads info.size bytes from it
    return {"sha256": reader.digest.hexdigest(), "size": reader.count}


def _add_bytes(tar: tarfile.TarFile, data: bytes, arcname: str) -> None:
    info = tarfile.TarInfo(arcname)
    info.size = len(data)
    info.mtime = int(_now().timestamp())
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


# --- PostgreSQL client tools -----------------------------------------------------------------
@dataclass(frozen=True)
class PgTools:
    bindir: Path | None  # None: found on PATH
    major: int
    version: str

    def path(self, tool: str) -> str:
        return str(self.bindir / tool) if self.bindir else (shutil.which(tool) or tool)


def _tool_version(executable: str) -> tuple[int, str] | None:
    try:
        done = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30,  # noqa: S603
                              check=False)
    except OSError:
        return None
    match = re.search(r"(\d+)(?:\.(\d+))?", done.stdout)
    if done.returncode != 0 or not match:
        return None
    return int(match.group(1)), done.stdout.strip()


def server_major() -> int:
    connection.ensure_connection()
    return int(connection.pg_version) // 10000  # type: ignore[attr-defined]


def pg_tools(major: int, tools: tuple[str, ...] = ("pg_dump", "pg_restore", "psql")) -> PgTools:
    """The PostgreSQL client programs of ``major`` (the server's major version).

    Looked for in ``$GUANXI_PG_BINDIR``, then Debian's ``/usr/lib/postgresql/<major>/bin`` (where
    several client versions live side by side), then on ``PATH``. A pg_dump older than the
    server refuses to dump it, and a dump made by a newer pg_dump may not load into this server:
    anything but the same major version is refused here with a message saying what to install.
    """
    candidates: list[Path | None] = []
    if os.environ.get("GUANXI_PG_BINDIR"):
        candidates.append(Path(os.environ["GUANXI_PG_BINDIR"]))
    candidates += [Path(f"/usr/lib/postgresql/{major}/bin"), None]
    found: list[str] = []
    for bindir in candidates:
        paths = [str(bindir / t) if bindir else shutil.which(t) for t in tools]
        if not all(paths) or (bindir is not None and not all(Path(p).is_file() for p in paths if p)):
            continue
        versions = [_tool_version(p) for p in paths if p]
        if any(v is None for v in versions):
            continue
        majors = {v[0] for v in versions if v}
        if majors == {major}:
            first = versions[0]
            return PgTools(bindir=bindir, major=major, version=first[1] if first else "")
        found += [f"{p}: {v[1]}" for p, v in zip(paths, versions, strict=True) if v]
    if found:
        raise BackupError(_(
            "The PostgreSQL server is version {major}, but the client programs found are another "
            "version ({found}). pg_dump, pg_restore and psql must have the server's major version: "
            "install postgresql-client-{major} (Debian and Ubuntu; from apt.postgresql.org if the "
            "release does not have it) or set GUANXI_PG_BINDIR to the directory that holds them."
        ).format(major=major, found="; ".join(dict.fromkeys(found))))
    raise BackupError(_(
        "pg_dump, pg_restore and psql were not found. Install postgresql-client-{major} (the "
        "server's major version) or set GUANXI_PG_BINDIR to the directory that holds them."
    ).format(major=major))


def pg_environment() -> dict[str, str]:
    """The libpq environment for the configured database (DATABASE_URL's parameters).

    The password travels in the environment of the child process, never on its command line.
    """
    db: dict[str, Any] = dict(settings.DATABASES[DEFAULT_DB_ALIAS])
    env = dict(os.environ)
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD"),
                     ("NAME", "PGDATABASE")):
        if db.get(key):
            env[var] = str(db[key])
    options = db.get("OPTIONS") or {}
    for key, var in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT"), ("sslcert", "PGSSLCERT"),
                     ("sslkey", "PGSSLKEY"), ("passfile", "PGPASSFILE"), ("service", "PGSERVICE"),
                     ("connect_timeout", "PGCONNECT_TIMEOUT"), ("options", "PGOPTIONS"),
                     ("target_session_attrs", "PGTARGETSESSIONATTRS")):
        if options.get(key):
            env[var] = str(options[key])
    return env


def _pg_tables(cursor: Any) -> list[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() ORDER BY c.relname")
    return [str(row[0]) for row in cursor.fetchall()]


def _counts(cursor: Any, tables: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in tables:
        cursor.execute(f"SELECT count(*) FROM {_quote(table)}")  # noqa: S608 (a table name, quoted)
        counts[table] = int(cursor.fetchone()[0])
    return counts


def _migrations(cursor: Any, tables: list[str]) -> list[str]:
    """The applied migrations, "app.name", in the order they were applied."""
    if "django_migrations" not in tables:
        return []
    cursor.execute("SELECT app, name FROM django_migrations ORDER BY id")
    return [f"{app}.{name}" for app, name in cursor.fetchall()]


# --- backup ---------------------------------------------------------------------------------------
def _sqlite_path() -> Path:
    return Path(str(settings.DATABASES[DEFAULT_DB_ALIAS]["NAME"])).resolve()


def _sqlite_tables(db: sqlite3.Connection) -> list[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
                      "ESCAPE '\\' ORDER BY name").fetchall()
    return [str(r[0]) for r in rows]


def _sqlite_snapshot(target: Path) -> dict[str, Any]:
    """Copy the live SQLite database into ``target`` with the online backup API.

    One step (all pages) reads inside one read transaction: in WAL mode writers carry on,
    and the copy is the database as of one commit. The copy is switched to a rollback
    journal, so the file alone is the whole database, then checked.
    """
    source_path = _sqlite_path()
    if not source_path.is_file():
        raise BackupError(_("The database file {path} does not exist.").format(path=source_path))
    source = sqlite3.connect(source_path, timeout=60)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")
        problems = [str(r[0]) for r in copy.execute("PRAGMA integrity_check").fetchall()]
        if problems != ["ok"]:
            raise BackupError(_("The copy of the database failed its integrity check: {problems}").format(
                problems="; ".join(problems[:5])))
        cursor = copy.cursor()
        tables = _sqlite_tables(copy)
        return {"tables": _counts(cursor, tables), "migrations": _migrations(cursor, tables),
                "server_version": sqlite3.sqlite_version}
    finally:
        copy.close()
        source.close()


def _pg_snapshot(target: Path) -> dict[str, Any]:
    """``pg_dump -Fc`` into ``target``, from a snapshot whose row counts go into the manifest."""
    major = server_major()
    tools = pg_tools(major, ("pg_dump", "pg_restore"))
    holder = connections.create_connection(DEFAULT_DB_ALIAS)
    holder.ensure_connection()
    raw: Any = holder.connection
    try:
        cursor = raw.cursor()
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor.execute("SELECT pg_export_snapshot(), current_setting('server_version')")
        snapshot, server_version = cursor.fetchone()
        with tempfile.TemporaryFile() as errors:
            dump = subprocess.Popen(  # noqa: S603 (fixed program, our own arguments)
                [tools.path("pg_dump"), "--format=custom", f"--snapshot={snapshot}", f"--file={target}",
                 "--no-password"], env=pg_environment(), stdout=subprocess.DEVNULL, stderr=errors)
            try:
                # Counted in the exporting transaction while pg_dump reads the same snapshot.
                tables = _pg_tables(cursor)
                counts = _counts(cursor, tables)
                migrations = _migrations(cursor, tables)
            finally:
                code = dump.wait()
            errors.seek(0)
            message = errors.read().decode("utf-8", "replace").strip()
        if code != 0:
            raise BackupError(_("pg_dump failed: {message}").format(message=message[-2000:]))
        with contextlib.suppress(Exception):
            cursor.execute("ROLLBACK")
    finally:
        with contextlib.suppress(Exception):
            holder.close()
    return {"tables": counts, "migrations": migrations, "server_version": str(server_version),
            "server_major": major, "client_version": tools.version}


def resolve_target(to: str | Path | None, *, gzip: bool = False) -> tuple[Path, bool]:
    """(archive path, whether it was named by us in a directory)."""
    stamp = _now().strftime("%Y%m%dT%H%M%SZ")
    suffix = ".tar.gz" if gzip else ".tar"
    if to is not None:
        path = Path(to).expanduser()
        if not path.is_dir() and (path.name.endswith((".tar", ".tar.gz", ".tgz")) or path.exists()):
            return path.resolve(), False
        directory = path
    else:
        directory = default_directory()
    directory.mkdir(parents=True, exist_ok=True)
    candidate = directory / f"guanxi-backup-{stamp}{suffix}"
    n = 1
    while candidate.exists():
        candidate = directory / f"guanxi-backup-{stamp}-{n}{suffix}"
        n += 1
    return candidate.resolve(), True


def _media_files(root: Path) -> Iterator[tuple[Path, str]]:
    """(file, archive name) for every regular file under ``root``, in a stable order."""
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            rel = path.relative_to(root).as_posix()
            yield path, MEDIA_PREFIX + rel


def create_backup(to: str | Path | None = None, *, gzip: bool = False, keep: int | None = None,
                  say: Say = _quiet) -> BackupResult:
    """Write one archive of the database and the uploaded files; see the module's docstring."""
    kind = vendor()
    if kind not in {"sqlite", "postgresql"}:
        raise BackupError(_("Backups support SQLite and PostgreSQL, not {vendor}.").format(vendor=kind))
    target, named = resolve_target(to, gzip=gzip)
    if target.exists():
        raise BackupError(_("{path} already exists; choose another name.").format(path=target))
    target.parent.mkdir(parents=True, exist_ok=True)
    created = _now()
    with tempfile.TemporaryDirectory(prefix=".guanxi-backup-", dir=target.parent) as work:
        member = SQLITE_MEMBER if kind == "sqlite" else PG_MEMBER
        staged = Path(work) / PurePosixPath(member).name
        say(_("Copying the database ({vendor}) …").format(vendor=kind))
        database = _sqlite_snapshot(staged) if kind == "sqlite" else _pg_snapshot(staged)
        partial = target.with_name(f".{target.name}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as raw:
                manifest = _write_archive(raw, gzip=target.name.endswith((".gz", ".tgz")), kind=kind, member=member,
                                          staged=staged, created=created, database=database, say=say)
                raw.flush()
                os.fsync(raw.fileno())  # on disk, end of archive included, before it gets its final name
            os.replace(partial, target)
        except BaseException:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise
    digest, size = _sha256_file(target)
    _audit_backup(target, digest, manifest)
    if keep is not None and named:
        prune(target.parent, keep, say=say)
    return BackupResult(path=target, size=size, sha256=digest, manifest=manifest)


def _write_archive(raw: IO[bytes], *, gzip: bool, kind: str, member: str, staged: Path, created: dt.datetime,
                   database: dict[str, Any], say: Say) -> dict[str, Any]:
    """Write the tar into ``raw``: the database, the uploaded files, then the manifest; return the manifest."""
    files: dict[str, dict[str, Any]] = {}
    with tarfile.open(fileobj=raw, mode="w:gz" if gzip else "w", format=tarfile.PAX_FORMAT) as tar:
        files[member] = _add_file(tar, staged, member, created.timestamp())
        say(_("Copying the uploaded files from {path} …").format(path=media_root()))
        for path, arcname in _media_files(media_root()):
            try:
                files[arcname] = _add_file(tar, path, arcname)
            except FileNotFoundError:
                continue  # deleted since it was listed: it is not in the snapshot either
        manifest = {
            "format": FORMAT,
            "application": "guanxi",
            "guanxi_version": guanxi.__version__,
            "created": created.isoformat().replace("+00:00", "Z"),
            "vendor": kind,
            "database": {key: value for key, value in database.items() if key not in {"tables", "migrations"}},
            "database_member": member,
            "migrations": database["migrations"],
            "tables": database["tables"],
            "files": files,
            "media_root": str(media_root()),
        }
        _add_bytes(tar, json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode(), MANIFEST)
    return manifest


def prune(directory: Path, keep: int, *, say: Say = _quiet) -> list[Path]:
    """Delete all but the newest ``keep`` archives named by ``guanxi backup`` in ``directory``."""
    def age(path: Path) -> tuple[str, int]:  # the time in the name, then the -N of a second one in that second
        match = NAME_PATTERN.match(path.name)
        return (match.group(1), int(match.group(2) or 0)) if match else ("", 0)

    archives = sorted((p for p in directory.iterdir() if NAME_PATTERN.match(p.name) and p.is_file()), key=age)
    removed = archives[:-keep] if keep > 0 else archives
    for path in removed:
        path.unlink()
        say(_("Removed the old backup {name}").format(name=path.name))
    return removed


def _audit_backup(path: Path, digest: str, manifest: dict[str, Any]) -> None:
    from guanxi.core import audit

    rows = sum(manifest["tables"].values())
    audit.record(actor=None, action="export", object_repr=path.name[:200],
                 note=f"backup {path} sha256 {digest}: {len(manifest['tables'])} tables, {rows} rows, "
                      f"{len(manifest['files']) - 1} files; by {_os_user()}")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        return "?"


# --- reading an archive -------------------------------------------------------------------------
def _open(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(_("{path} is not a readable guanxi backup: {error}").format(path=archive, error=exc)) from exc


def read_manifest(archive: Path) -> dict[str, Any]:
    """The manifest of ``archive``, checked for shape (not yet the members)."""
    if not archive.is_file():
        raise BackupError(_("{path} does not exist.").format(path=archive))
    try:
        with _open(archive) as tar:
            member = tar.getmember(MANIFEST)
            handle = tar.extractfile(member)
            if handle is None:
                raise KeyError(MANIFEST)
            manifest = json.loads(handle.read().decode("utf-8"))
    except KeyError as exc:
        raise BackupError(_("{path} has no manifest: it is not a guanxi backup, or it is damaged.").format(
            path=archive)) from exc
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise BackupError(_("{path} is damaged ({error}).").format(path=archive, error=exc)) from exc
    if not isinstance(manifest, dict) or manifest.get("application") != "guanxi":
        raise BackupError(_("{path} is not a guanxi backup.").format(path=archive))
    if manifest.get("format") != FORMAT:
        raise BackupError(_("{path} has backup format {format}; this version of guanxi reads format {ours}.").format(
            path=archive, format=manifest.get("format"), ours=FORMAT))
    for key, kind in (("vendor", str), ("tables", dict), ("files", dict), ("migrations", list),
                      ("database_member", str), ("created", str)):
        if not isinstance(manifest.get(key), kind):
            raise BackupError(_("{path} has an incomplete manifest ({key}).").format(path=archive, key=key))
    if manifest["database_member"] not in manifest["files"]:
        raise BackupError(_("{path} has an incomplete manifest ({key}).").format(path=archive, key="database"))
    return manifest


def _safe_name(name: str) -> bool:
    if name == MANIFEST:
        return True
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or "\\" in name:
        return False
    if any(p in {"", ".", ".."} for p in parts):
        return False
    return name in {SQLITE_MEMBER, PG_MEMBER} or (name.startswith(MEDIA_PREFIX) and len(parts) > 1)


def extract_verified(archive: Path, manifest: dict[str, Any], staging: Path) -> None:
    """Extract every member into ``staging``, checking its name, size and SHA-256 against the
    manifest; every listed member must be there once, and nothing else."""
    expected: dict[str, dict[str, Any]] = manifest["files"]
    seen: set[str] = set()
    damaged = _("The backup {path} is damaged ({name}: {problem}).")
    try:
        with _open(archive) as tar:
            for member in tar:
                name = member.name
                if name == MANIFEST:
                    continue
                if not member.isfile() or not _safe_name(name):
                    raise BackupError(damaged.format(path=archive, name=name, problem=pgettext("backup", "unexpected member")))
                if name not in expected or name in seen:
                    raise BackupError(damaged.format(path=archive, name=name, problem=pgettext("backup", "not in the manifest")))
                seen.add(name)
                destination = staging / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                handle = tar.extractfile(member)
                if handle is None:
                    raise BackupError(damaged.format(path=archive, name=name, problem=pgettext("backup", "unreadable")))
                digest = hashlib.sha256()
                size = 0
                with destination.open("wb") as out:
                    while chunk := handle.read(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                if size != expected[name].get("size") or digest.hexdigest() != expected[name].get("sha256"):
                    raise BackupError(damaged.format(path=archive, name=name, problem=pgettext("backup", "checksum mismatch")))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise BackupError(_("The backup {path} could not be read to the end ({error}).").format(
            path=archive, error=exc)) from exc
    missing = sorted(set(expected) - seen)
    if missing:
        raise BackupError(damaged.format(path=archive, name=missing[0], problem=pgettext("backup", "missing")))


# --- restore ------------------------------------------------------------------------------------
def check_archive(archive: Path) -> dict[str, Any]:
    """Everything that can be known before staging: manifest, vendor, client tools."""
    manifest = read_manifest(archive)
    kind = vendor()
    if manifest["vendor"] != kind:
        raise BackupError(_(
            "This backup holds a {archive} database, but this installation uses {ours}. Restore it "
            "into an installation on {archive} (DATABASE_URL), then move the data if you need to."
        ).format(archive=_vendor_name(manifest["vendor"]), ours=_vendor_name(kind)))
    if kind == "postgresql":
        tools = pg_tools(server_major())
        made_by = manifest.get("database", {}).get("client_version", "")
        match = re.search(r"(\d+)", str(made_by))
        if match and int(match.group(1)) > tools.major:
            raise BackupError(_(
                "This backup was made by {made_by}; pg_restore {major} cannot read it. Restore it into "
                "a PostgreSQL server of that version or newer."
            ).format(made_by=made_by, major=tools.major))
    return manifest


def _vendor_name(kind: str) -> str:
    return {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(kind, kind)


def _replace_sqlite(staged: Path) -> None:
    """Write the staged copy into the configured SQLite file with the backup API (one transaction)."""
    live = _sqlite_path()
    live.parent.mkdir(parents=True, exist_ok=True)
    snapshot = sqlite3.connect(staged)
    try:
        problems = [str(r[0]) for r in snapshot.execute("PRAGMA integrity_check").fetchall()]
        if problems != ["ok"]:
            raise BackupError(_("The database in the backup failed its integrity check: {problems}").format(
                problems="; ".join(problems[:5])))
        if live.exists():
            try:
                probe = sqlite3.connect(live, timeout=60)
                try:
                    probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
                finally:
                    probe.close()
            except sqlite3.DatabaseError:
                # Not a database any more: keep it aside, with its WAL, for whoever investigates.
                stamp = _now().strftime("%Y%m%dT%H%M%SZ")
                for suffix in ("", "-wal", "-shm"):
                    old = Path(f"{live}{suffix}")
                    if old.exists():
                        old.rename(Path(f"{live}{suffix}.broken-{stamp}"))
        else:
            # A WAL left without its database would be replayed onto the new file.
            for suffix in ("-wal", "-shm"):
                Path(f"{live}{suffix}").unlink(missing_ok=True)
        target = sqlite3.connect(live, timeout=60)
        try:
            snapshot.backup(target)  # one write transaction: all of it or nothing
            target.execute("PRAGMA journal_mode=WAL")
            target.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise BackupError(_("The database could not be restored; it was left as it was. {message}").format(
                message=exc)) from exc
        finally:
            target.close()
    finally:
        snapshot.close()


def _replace_postgresql(dump: Path, manifest: dict[str, Any]) -> None:
    """pg_restore --clean --if-exists, in one transaction through psql.

    Tables of this guanxi that the archive does not have (an archive of an older version) are
    dropped in the same transaction, so the migrations can create them afresh. Any error, or
    pg_restore ending early, leaves the database as it was: COMMIT is sent only after pg_restore
    has written the whole script.
    """
    tools = pg_tools(server_major())
    with connection.cursor() as cursor:
        current = set(_pg_tables(cursor))
        cursor.execute("SELECT extname FROM pg_extension")
        extensions = {str(row[0]) for row in cursor.fetchall()}
    ours = set(connection.introspection.django_table_names(include_views=False))
    extra = sorted((ours & current) - set(manifest["tables"]))
    env = pg_environment()
    # Extensions already in the database stay as they are: --clean would drop and re-create
    # them, which only their owner may do (pg_trgm is often created by the superuser).
    listing = subprocess.run([tools.path("pg_restore"), "--list", str(dump)], capture_output=True,  # noqa: S603
                             text=True, env=env, timeout=600, check=False)
    if listing.returncode != 0:
        raise BackupError(_("The database could not be restored; it was left as it was. {message}").format(
            message=listing.stderr[-2000:]))
    kept = [line for line in listing.stdout.splitlines()
            if not (match := re.search(r"\d+ \d+ (?:COMMENT - )?EXTENSION (?:- )?(\S+)", line))
            or match.group(1) not in extensions]
    toc = dump.with_name("restore.list")
    toc.write_text("\n".join(kept) + "\n", encoding="utf-8")
    with tempfile.TemporaryFile() as restore_errors, tempfile.TemporaryFile() as psql_errors:
        psql = subprocess.Popen(  # noqa: S603
            [tools.path("psql"), "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "-f", "-"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_errors, env=env)
        restore = subprocess.Popen(  # noqa: S603
            [tools.path("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
             f"--use-list={toc}", "--file=-", str(dump)], stdout=subprocess.PIPE, stderr=restore_errors, env=env)
        if psql.stdin is None or restore.stdout is None:  # pragma: no cover (both are pipes)
            raise BackupError("pipe")
        broken = False
        try:
            psql.stdin.write(b"BEGIN;\n")
            for table in extra:
                psql.stdin.write(f"DROP TABLE IF EXISTS {_quote(table)} CASCADE;\n".encode())
            shutil.copyfileobj(restore.stdout, psql.stdin, CHUNK)
            restored = restore.wait() == 0
            if restored:
                psql.stdin.write(b"COMMIT;\n")
            psql.stdin.close()
        except BrokenPipeError:
            broken = True  # psql stopped at an error (ON_ERROR_STOP): its message says which
            restore.kill()
            restore.wait()
            restored = False
        code = psql.wait()
        restore_errors.seek(0)
        psql_errors.seek(0)
        message = (restore_errors.read() + psql_errors.read()).decode("utf-8", "replace").strip()
    if not restored or code != 0 or broken:
        raise BackupError(_("The database could not be restored; it was left as it was. {message}").format(
            message=message[-2000:]))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _replace_media(staged: Path) -> int:
    """Make ``staged`` the media directory; returns the number of files."""
    root = media_root()
    count = sum(1 for p in staged.rglob("*") if p.is_file()) if staged.exists() else 0
    staged.mkdir(parents=True, exist_ok=True)
    old = root.with_name(f".{root.name}.old-{_now():%Y%m%dT%H%M%SZ}")
    try:
        if root.exists():
            os.rename(root, old)
        os.rename(staged, root)
    except OSError:
        # A mount point or another file system: replace the contents instead.
        if old.exists() and not root.exists():
            os.rename(old, root)
        root.mkdir(parents=True, exist_ok=True)
        for entry in list(root.iterdir()):
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        for entry in list(staged.iterdir()):
            shutil.move(str(entry), str(root / entry.name))
    if old.exists():
        shutil.rmtree(old)
    return count


def _current_counts() -> dict[str, int]:
    """Rows per table of the configured database, the tables chosen as for the manifest."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            return _counts(cursor, _pg_tables(cursor))
    db = sqlite3.connect(_sqlite_path(), timeout=60)
    try:
        return _counts(db.cursor(), _sqlite_tables(db))
    finally:
        db.close()


def restore_backup(archive: str | Path, *, say: Say = _quiet) -> RestoreResult:
    """Restore ``archive`` over the configured database and media directory; see the module's docstring."""
    from django.contrib.contenttypes.models import ContentType
    from django.core.management import call_command

    path = Path(archive).expanduser().resolve()
    say(_("Checking {path} …").format(path=path))
    root = media_root()
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".guanxi-restore-", dir=root.parent))
    try:
        try:
            manifest = check_archive(path)
            extract_verified(path, manifest, staging)
        except BackupError as exc:
            raise BackupError(f"{exc} {_('Nothing was changed.')}") from exc
        say(_("The backup is complete and undamaged: made {created} by guanxi {version}, {tables} tables, "
              "{files} files.").format(created=manifest["created"], version=manifest.get("guanxi_version", "?"),
                                       tables=len(manifest["tables"]), files=len(manifest["files"]) - 1))
        say(_("Restoring the database …"))
        connections.close_all()
        staged_db = staging / manifest["database_member"]
        if manifest["vendor"] == "sqlite":
            _replace_sqlite(staged_db)
        else:
            _replace_postgresql(staged_db, manifest)
        connections.close_all()
        ContentType.objects.clear_cache()
        counts = _current_counts()
        say(_("Restoring the uploaded files into {path} …").format(path=root))
        try:
            files = _replace_media(staging / MEDIA_PREFIX.rstrip("/"))
        except OSError as exc:
            raise BackupError(_("The database was restored, but the uploaded files could not be put into {path}: "
                                "{error}. Free the space or fix the permissions, then restore again.").format(
                path=root, error=exc)) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result = RestoreResult(manifest=manifest, files=files)
    for table in sorted(set(manifest["tables"]) | set(counts)):
        result.counts.append(TableCount(table=table, expected=manifest["tables"].get(table),
                                        restored=counts.get(table)))
    say(_("Running the migrations …"))
    before = _applied_migrations()
    call_command("migrate", interactive=False, verbosity=0)
    result.migrations_applied = [m for m in _applied_migrations() if m not in before]
    _audit_restore(path, manifest, result)
    return result


def _applied_migrations() -> list[str]:
    with connection.cursor() as cursor:
        return _migrations(cursor, ["django_migrations"])


def _audit_restore(path: Path, manifest: dict[str, Any], result: RestoreResult) -> None:
    from guanxi.core import audit

    differing = [c.table for c in result.counts if not c.ok]
    audit.record(actor=None, action="restore", object_repr=path.name[:200],
                 note=(f"backup {path} made {manifest['created']} restored by {_os_user()}: "
                       f"{len(result.counts)} tables, {result.files} files, "
                       f"{len(result.migrations_applied)} migrations applied"
                       + (f"; row counts differ in {', '.join(differing)}" if differing else "")))


# For the management command's confirmation text.
def describe_targets() -> str:
    if vendor() == "sqlite":
        database = str(_sqlite_path())
    else:
        db = settings.DATABASES[DEFAULT_DB_ALIAS]
        database = f"postgresql://{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db.get('NAME')}"
    return _("the database {database} and the uploaded files in {media}").format(database=database,
                                                                                 media=media_root())

