"""S22: back up while the company works, destroy everything, restore, and get every row and file back.

A restore drill with real processes and the ``guanxi`` command, on a database of the test's own:
a SQLite file in a temp dir, or, when ``DATABASE_URL`` points at PostgreSQL, the database
``<name>_s22`` (created and dropped here; the SQLite suite, run beside it in CI, covers SQLite).
The children run the project's own code:

1. a migrated database (a copy of one migrated once per session: tests/migrated.py), then a
   company with records in every app (the demo company, 200 accounts) and
   uploaded files of every kind (account attachments, a case photo, a product picture, an
   import file);
2. a writer process adds attachments (a file, its row and its audit row in one transaction)
   the whole time ``guanxi backup`` runs, and a little longer;
3. every table of the live database is fingerprinted row by row, with every uploaded file;
4. damaged, truncated, incomplete, padded, escaping and foreign archives are refused and
   change nothing;
5. the database and the upload directory are destroyed (file deleted / schema dropped);
6. ``guanxi restore`` puts the archive back: every table holds exactly the rows it held at the
   snapshot (the rows the writer added before it, none after), the writer's rows are whole
   (each attachment with its audit row and its file, no audit row without its attachment:
   a consistent snapshot), every file comes back byte for byte, and SQLite's integrity check
   passes;
7. an archive of an older guanxi (one without the loyalty app's tables) is restored into the
   current installation, which has them: the restore drops what the archive does not have,
   migrates, and the rest of the data is unchanged.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import migrated

# Under a minute on an idle machine; a loaded CI machine may take longer.
pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = 200  # the demo company's accounts (S has 2,000): every app's records, in a few seconds
WRITER_TABLES = {"customers_accountattachment", "core_auditevent"}  # the writer (and the commands) add rows here

RUNNER = textwrap.dedent('''
    import hashlib, io, json, os, sys, time
    from pathlib import Path
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    import django
    django.setup()
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import connection

    def user(username):
        from guanxi.core.models import User
        return User.objects.get(username=username)

    def png(colour):
        from PIL import Image
        out = io.BytesIO()
        Image.new("RGB", (64, 48), colour).save(out, "PNG")
        return out.getvalue()

    command = sys.argv[1]
    if command == "setup":
        from guanxi.customers.models import Account
        from guanxi.customers.services import imports, lists
        from guanxi.demo import build_demo
        from guanxi.sales.models import Product
        from guanxi.sales.services import products
        from guanxi.service.services import attachments
        from guanxi.service.selectors.scope import case_scope

        from guanxi import demo
        from guanxi.activities.models import Interaction
        from guanxi.customers.models import AccountAttachment, Tag
        # The demo company, smaller than S (every app's records, a tenth of the time).
        demo.SIZES["S"] = demo.Size(accounts=int(sys.argv[2]), users=20, departments=4)
        build_demo("S")
        manager, servicemgr = user("manager"), user("servicemgr")
        accounts = list(Account.objects.order_by("pk")[:3])
        pdf = b"%PDF-1.4\\n" + bytes(range(256)) * 40 + b"\\n%%EOF\\n"
        for n, (name, data, kind) in enumerate([
                ("营业执照.pdf", pdf, "licence"), ("合作协议.pdf", pdf[::-1].replace(b"%", b"#").join([b"%PDF-1.7", b""]),
                 "agreement"), ("门头照片.png", png((200, 30, 30)), "other"), ("说明.txt", "联系人备注\\n".encode() * 50,
                 "other")]):
            lists.attachment_upload(actor=manager, account=accounts[n % len(accounts)],
                                    upload=SimpleUploadedFile(name, data), kind=kind)
        case = case_scope(servicemgr).order_by("pk").first()
        attachments.attach(actor=servicemgr, case=case, upload=SimpleUploadedFile("故障照片.png", png((0, 90, 200))))
        product = Product.objects.order_by("pk").first()
        products.product_picture_set(actor=user("admin"), product=product,
                                     upload=SimpleUploadedFile("产品.png", png((20, 160, 60))))
        imports.import_upload(actor=manager, name="客户.csv", data="名称,统一社会信用代码\\n新客户有限公司,\\n".encode())
        # A few rows in link tables the demo leaves empty.
        Interaction.objects.order_by("pk").first().attachments.add(AccountAttachment.objects.order_by("pk").first())
        tag = Tag.objects.create(name="重点客户")
        for account in accounts:
            account.tags.add(tag)
        print(json.dumps({"ok": True}))
    elif command == "write":
        # Until the stop file appears: one attachment (file, row, audit row) per transaction.
        from guanxi.customers.models import Account
        from guanxi.customers.services import lists
        stop = Path(sys.argv[2])
        manager = user("manager")
        accounts = list(Account.objects.order_by("pk")[:50])
        n = 0
        while not stop.exists():
            body = (f"writer {n} ".encode() * (50 + n % 200))
            lists.attachment_upload(actor=manager, account=accounts[n % len(accounts)],
                                    upload=SimpleUploadedFile(f"writer-{n}.txt", body))
            n += 1
        print(json.dumps({"written": n}))
    elif command == "dump":
        # Every table row by row (a short hash per row, in primary-key order), every uploaded file.
        def norm(value):
            return bytes(value) if isinstance(value, memoryview) else value
        tables = {}
        with connection.cursor() as cursor:
            names = sorted(t for t in connection.introspection.table_names(cursor) if not t.startswith("sqlite_"))
            for table in names:
                pk = connection.introspection.get_primary_key_column(cursor, table)
                cursor.execute(f'SELECT * FROM "{table}"' + (f' ORDER BY "{pk}"' if pk else ""))
                rows = [repr(tuple(norm(v) for v in row)) for row in cursor.fetchall()]
                if not pk:
                    rows.sort()
                tables[table] = [hashlib.sha256(r.encode()).hexdigest()[:20] for r in rows]
        root = Path(settings.MEDIA_ROOT)
        files = {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in sorted(root.rglob("*")) if p.is_file()} if root.exists() else {}
        Path(sys.argv[2]).write_text(json.dumps({"tables": tables, "files": files}))
        print(json.dumps({"tables": len(tables), "files": len(files)}))
    elif command == "inspect":
        # The writer's rows in this database: every attachment with its audit row and its file.
        from django.contrib.contenttypes.models import ContentType
        from guanxi.core.models import AuditEvent
        from guanxi.customers.models import AccountAttachment
        mine = {str(pk): (name, size) for pk, name, size in AccountAttachment.all_objects.filter(
            original_name__startswith="writer-").values_list("pk", "file", "size")}
        audited = list(AuditEvent.objects.filter(
            content_type=ContentType.objects.get_for_model(AccountAttachment), action="create",
            changes__original_name__1__startswith="writer-").values_list("object_id", flat=True))
        root = Path(settings.MEDIA_ROOT)
        files_ok = all((root / name).is_file() and (root / name).stat().st_size == size for name, size in mine.values())
        integrity = None
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                integrity = [r[0] for r in cursor.execute("PRAGMA integrity_check").fetchall()]
        numbers = sorted(int(n.removeprefix("writer-").removesuffix(".txt")) for n in
                         AccountAttachment.all_objects.filter(original_name__startswith="writer-")
                         .values_list("original_name", flat=True))
        print(json.dumps({"attachments": sorted(mine), "audited": sorted(audited), "files_ok": files_ok,
                          "integrity": integrity, "numbers": numbers,
                          "last_audit": list(AuditEvent.objects.order_by("-pk").values_list("action", "note")[:1])}))
''')


def _sqlite_database(tmp_path: Path) -> Iterator[dict[str, Any]]:
    path = tmp_path / "data" / "guanxi.sqlite3"
    migrated.sqlite_database(path)  # a copy of the session's migrated file

    def destroy() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    def writer_rows() -> int:
        with sqlite3.connect(path, timeout=30) as db:
            row = db.execute("SELECT count(*) FROM customers_accountattachment "
                             "WHERE original_name LIKE 'writer-%'").fetchone()
            return int(row[0])

    def make_older() -> None:
        # What a guanxi without the loyalty app had: no loyalty tables, no loyalty migrations.
        with sqlite3.connect(path, timeout=30) as db:
            db.execute("PRAGMA foreign_keys=OFF")
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                       "AND name LIKE 'loyalty%'").fetchall():
                db.execute(f'DROP TABLE "{table}"')
            db.execute("DELETE FROM django_migrations WHERE app = 'loyalty'")

    yield {"url": f"sqlite:///{path}", "destroy": destroy, "writer_rows": writer_rows, "vendor": "sqlite",
           "make_older": make_older}


def _postgres_database(url: str) -> Iterator[dict[str, Any]]:
    import psycopg

    with migrated.postgres_copy(url, "s22") as own:
        def destroy() -> None:
            with psycopg.connect(own, autocommit=True) as db:
                db.execute("DROP SCHEMA public CASCADE")
                db.execute("CREATE SCHEMA public")

        def writer_rows() -> int:
            with psycopg.connect(own, autocommit=True) as db:
                row = db.execute("SELECT count(*) FROM customers_accountattachment "
                                 "WHERE original_name LIKE 'writer-%%'").fetchone()
                return int(row[0]) if row else 0

        def make_older() -> None:
            with psycopg.connect(own, autocommit=True) as db:
                for (table,) in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                           "AND tablename LIKE 'loyalty%%'").fetchall():
                    db.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
                db.execute("DELETE FROM django_migrations WHERE app = 'loyalty'")

        yield {"url": own, "destroy": destroy, "writer_rows": writer_rows, "vendor": "postgresql",
               "make_older": make_older}


@pytest.fixture(params=migrated.backends())  # the run's own database, as in CI
def database(request: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    if request.param == "sqlite":
        yield from _sqlite_database(tmp_path)
    else:
        yield from _postgres_database(os.environ["DATABASE_URL"])


def _archive_with(source: Path, target: Path, change: Callable[[str, bytes], bytes | None],
                  extra: dict[str, bytes] | None = None) -> Path:
    """A copy of ``source`` with each member's bytes passed through ``change`` (None: left out)
    and ``extra`` members added."""
    with tarfile.open(source) as old, tarfile.open(target, "w") as new:
        for member in old:
            handle = old.extractfile(member)
            data = change(member.name, handle.read() if handle else b"")
            if data is None:
                continue
            member.size = len(data)
            new.addfile(member, io.BytesIO(data))
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            new.addfile(info, io.BytesIO(data))
    return target


def _compare(live: dict[str, Any], restored: dict[str, Any], manifest: dict[str, Any]) -> None:
    """Every table holds the rows of the snapshot: those the manifest counted, identical to the
    live database's first rows; only the writer's tables had more rows afterwards."""
    counts: dict[str, int] = manifest["tables"]
    assert set(restored["tables"]) == set(live["tables"]) == set(counts)
    for table, expected in counts.items():
        rows = restored["tables"][table]
        assert rows[:expected] == live["tables"][table][:expected], f"{table}: rows differ from the snapshot"
        if table == "core_auditevent":
            assert len(rows) == expected + 1  # and the restore's own audit row
        elif table == "django_migrations":
            assert len(rows) >= expected  # the restore migrates: code newer than the snapshot adds rows
        else:
            assert len(rows) == expected, table
        if table not in WRITER_TABLES:
            assert len(live["tables"][table]) == expected, f"{table} changed while nobody wrote to it"
    # Every file comes back byte for byte (that the snapshot's rows all have theirs: inspect).
    for name, digest in restored["files"].items():
        assert live["files"].get(name) == digest, name
    for prefix in ("attachments/", "cases/", "products/"):
        assert any(name.startswith(prefix) for name in restored["files"]), prefix


def _refused_in_process(archive: Path, tmp_path: Path) -> None:
    """Archive checks that need no database: a member missing, one not in the manifest, one
    whose name leaves the staging directory. Each is refused before anything is extracted
    outside the staging directory."""
    from django.utils import translation

    from guanxi.core import backup

    manifest = backup.read_manifest(archive)
    cases = {
        "missing": _archive_with(archive, tmp_path / "missing.tar",
                                 lambda name, data: None if name.startswith("media/cases/") else data),
        "not in the manifest": _archive_with(archive, tmp_path / "extra.tar", lambda name, data: data,
                                             {"media/attachments/extra": b"x"}),
        "unexpected member": _archive_with(archive, tmp_path / "escape.tar", lambda name, data: data,
                                           {"media/../../escaped": b"x"}),
    }
    for problem, bad in cases.items():
        staging = tmp_path / f"staging-{bad.stem}"
        staging.mkdir()
        with translation.override("en"), pytest.raises(backup.BackupError, match=problem):
            backup.extract_verified(bad, manifest, staging)
    assert not (tmp_path / "escaped").exists()


def test_backup_while_writing_destroy_restore_every_row_and_file_back(tmp_path: Path,
                                                                        database: dict[str, Any]) -> None:
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER, encoding="utf-8")
    data_dir, backups = tmp_path / "data", tmp_path / "backups"
    env = {k: v for k, v in os.environ.items()
           if k not in {"GUANXI_TESTING", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "GUANXI_MEDIA_ROOT",
                        "GUANXI_BACKUP_DIR", "GUANXI_QUEUE_FILE"}}
    env.update(GUANXI_DATA_DIR=str(data_dir), DATABASE_URL=database["url"], PYTHONPATH=str(ROOT),
               DJANGO_SETTINGS_MODULE="guanxi.settings")

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        done = subprocess.run(list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
                              check=False, stdin=subprocess.DEVNULL)
        print(f"{' '.join(a.rsplit('/', 1)[-1] for a in args[1:4])}: {time.monotonic() - started:.1f} s", flush=True)
        if ok:
            assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
        return done

    def child(*args: str) -> dict[str, Any]:
        done = run(sys.executable, str(runner), *args)
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    def guanxi(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        language = ["--language", "en"] if args[0] in {"backup", "restore"} else []
        return run(sys.executable, "-m", "guanxi.cli", *args, *language, ok=ok)

    def dump(name: str) -> dict[str, Any]:
        child("dump", str(tmp_path / name))
        return dict(json.loads((tmp_path / name).read_text()))

    # 1. A company, in a database as migrate leaves it (the fixture copies one migrated once per
    # session, tests/migrated.py; step 7 runs migrate itself).
    child("setup", str(ACCOUNTS))

    # 2. The backup runs while the writer writes.
    stop = tmp_path / "stop-writing"
    writer = subprocess.Popen([sys.executable, str(runner), "write", str(stop)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while database["writer_rows"]() < 5 and time.monotonic() < deadline and writer.poll() is None:
            time.sleep(0.05)
        before = database["writer_rows"]()
        assert before >= 5, "the writer wrote nothing"
        made = guanxi("backup", "--to", str(backups))
        after = database["writer_rows"]()
        deadline = time.monotonic() + 30
        while database["writer_rows"]() < after + 3 and time.monotonic() < deadline and writer.poll() is None:
            time.sleep(0.05)
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err[-3000:]
    written = json.loads(out.strip().splitlines()[-1])["written"]
    archives = sorted(backups.glob("guanxi-backup-*.tar"))
    assert len(archives) == 1 and str(archives[0]) in made.stdout
    archive = archives[0]
    assert archive.stat().st_mode & 0o077 == 0  # readable by its owner only
    with tarfile.open(archive) as tar:
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        manifest = json.loads(handle.read())
    assert manifest["vendor"] == database["vendor"]
    assert before < after  # the writer went on writing while guanxi backup ran
    assert {"customers_account", "activities_interaction", "sales_opportunity", "sales_order", "service_case",
            "loyalty_response", "activities_interaction_attachments", "customers_account_tags"} <= {
        t for t, n in manifest["tables"].items() if n > 0}  # every app has data

    # 3. The live database and files, as they are once the writer has stopped.
    live = dump("live.json")
    assert len(live["files"]) >= 7 + written

    # 4. Archives that must be refused, changing nothing.
    _refused_in_process(archive, tmp_path)
    member = manifest["database_member"]
    flipped = _archive_with(archive, tmp_path / "flipped.tar", lambda name, data: (
        data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 0x01]) + data[len(data) // 2 + 1:]
        if name == member else data))
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size * 2 // 3])
    foreign = _archive_with(archive, tmp_path / "foreign.tar", lambda name, data: (
        json.dumps({**json.loads(data), "vendor": "postgresql" if database["vendor"] == "sqlite" else "sqlite"})
        .encode() if name == "manifest.json" else data))
    for bad, message in ((flipped, "checksum mismatch"), (truncated, "damaged"), (foreign, "but this installation uses")):
        refused = guanxi("restore", str(bad), "--yes", ok=False)
        assert refused.returncode != 0
        assert message in refused.stderr and "Nothing was changed" in refused.stderr, refused.stderr[-2000:]
    unasked = guanxi("restore", str(archive), ok=False)  # no --yes, and nobody at a terminal to ask
    assert unasked.returncode != 0 and "Add --yes" in unasked.stderr
    assert dump("after-refusals.json") == live

    # 5. Destroy the database and the uploaded files. 6. Restore.
    database["destroy"]()
    shutil.rmtree(data_dir / "media")
    restored_run = guanxi("restore", str(archive), "--yes")
    assert "DIFFERENT" not in restored_run.stdout
    assert f"{len(manifest['tables'])} tables" in restored_run.stdout
    restored = dump("restored.json")
    _compare(live, restored, manifest)
    check = child("inspect")
    # The snapshot holds the writer's first k rows, none missing, k between the counts seen before
    # and after the backup ran, and fewer than it wrote in all.
    k = len(check["numbers"])
    assert check["numbers"] == list(range(k)) and before <= k <= after and k < written
    assert check["attachments"] == check["audited"]  # each attachment with its audit row, and no more
    assert len(check["attachments"]) == k
    assert check["files_ok"]  # and each with its file
    assert len(live["files"]) - len(restored["files"]) <= written - k  # only files newer than the snapshot are not back
    assert check["integrity"] in (None, ["ok"])
    assert check["last_audit"][0][0] == "restore" and archive.name in check["last_audit"][0][1]

    # 7. An archive of an older guanxi (no loyalty app yet), restored into this version: what the
    # archive does not have is dropped (PostgreSQL) or replaced (SQLite), then migrated.
    database["make_older"]()
    guanxi("backup", "--to", str(tmp_path / "old.tar"))
    guanxi("migrate", "-v0")  # this version again, with the loyalty tables and their rows
    upgraded = guanxi("restore", str(tmp_path / "old.tar"), "--yes")
    assert "loyalty.0001_initial" in upgraded.stdout and "DIFFERENT" not in upgraded.stdout
    after_upgrade = dump("upgraded.json")
    for table, rows in restored["tables"].items():
        if table.startswith("loyalty_") or table in {"django_migrations", "core_auditevent"}:
            continue
        assert after_upgrade["tables"][table] == rows, table
    assert after_upgrade["tables"]["core_auditevent"][:len(restored["tables"]["core_auditevent"])] == \
        restored["tables"]["core_auditevent"]
    assert after_upgrade["files"] == restored["files"]
