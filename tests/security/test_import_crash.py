"""S16: an import killed mid-way (SIGKILL, no clean-up of any kind) resumes without duplicates.

A real importer process runs the import job against a file database of its own; the test
kills it once the first chunks are committed, checks that the database holds exactly the
last committed checkpoint, runs the job again and checks that every row of the file is
accounted for exactly once, with one account per "created" row and no duplicate.

SQLite (a file in a temp dir) always; PostgreSQL too when ``DATABASE_URL`` points at one
(then in a database of its own, ``<name>_s16``, created and dropped here). Each database starts
as a copy of one migrated once per session (tests/migrated.py).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import migrated

ROOT = Path(__file__).resolve().parents[2]
ROWS = 20_000  # four chunks of imports.CHUNK rows
EXISTING = 40  # accounts in the database before the import; the file repeats some of them

# Runs in the child processes: the project's own code on the database named by the environment.
RUNNER = textwrap.dedent('''
    import json, os, sys
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    import django
    django.setup()
    from django.db.models import Count
    from guanxi.core import jobs
    from guanxi.core.models import AuditEvent, Department, Job, Role, User
    from guanxi.customers.models import Account, Contact, ImportRowResult, ImportRun, OwnershipChange
    from guanxi.customers.services import imports

    command = sys.argv[1]
    if command == "setup":
        from bench.imports import make_csv
        from guanxi.core.validators import credit_code_check_char

        dept = Department.objects.create(name="华东销售部")
        dept.path = f"/{dept.pk}/"
        dept.save(update_fields=["path"])
        manager = User.objects.create_user("s16-manager", password="x-Crash-2026!", department=dept)
        manager.roles.add(Role.objects.get(code="sales_manager"))
        existing = []
        for i in range(int(sys.argv[3])):
            body = f"91110000MA{i:07d}"
            existing.append(Account(name=f"已有客户{i}有限公司", credit_code=body + credit_code_check_char(body),
                                    code=f"S16-{i}", owner=manager, department=dept))
        Account.objects.bulk_create(existing)
        data = make_csv(int(sys.argv[2]), [(a.name, a.credit_code) for a in existing], seed=16)
        run = imports.import_upload(actor=manager, name="s16.csv", data=data)
        imports.import_set_mapping(actor=manager, run=run, mapping=run.mapping, mode="skip")
        job = imports.import_start(actor=manager, run=run)  # queued for a worker that never runs here
        print(json.dumps({"job": str(job.pk), "run": run.pk, "total": run.total_rows}))
    elif command == "run":
        job = jobs.execute(sys.argv[2])
        print(json.dumps({"state": job.state if job else None}))
    elif command == "inspect":
        run = ImportRun.objects.get(pk=int(sys.argv[2]))
        job = Job.objects.get(pk=run.job_id)
        rows = list(ImportRowResult.objects.filter(run=run).values_list("row_number", "status", "account_id"))
        note = f"import #{run.pk} "
        print(json.dumps({
            "rows": rows,
            "accounts": Account.all_objects.count(),
            "contacts": Contact.all_objects.count(),
            "imported_ownership": OwnershipChange.objects.filter(kind="imported").count(),
            "account_create_events": AuditEvent.objects.filter(note__startswith=note, action="create",
                                                               content_type__model="account").count(),
            "contact_create_events": AuditEvent.objects.filter(note__startswith=note, action="create",
                                                               content_type__model="contact").count(),
            "same_name": list(Account.all_objects.values("name").annotate(n=Count("id"))
                              .filter(n__gt=1).values_list("name", flat=True)[:5]),
            "same_code": list(Account.all_objects.exclude(credit_code="").values("credit_code")
                              .annotate(n=Count("id")).filter(n__gt=1).values_list("credit_code", flat=True)[:5]),
            "checkpoint": job.checkpoint, "job_state": job.state, "done": job.done, "failed": job.failed,
            "attempts": job.attempts, "run_state": run.state, "stats": run.stats, "total": run.total_rows,
        }))
''')


def prepare(tmp_path: Path, url: str) -> tuple[Path, dict[str, str], Callable[..., dict[str, Any]]]:
    """Write the runner for the (migrated) database at ``url`` (the project's own settings, no
    test settings): the runner's path, its environment, and ``child(*args)`` which runs it to the
    end and returns what it printed."""
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in {"GUANXI_TESTING", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(GUANXI_DATA_DIR=str(tmp_path / "data"), DATABASE_URL=url, PYTHONPATH=str(ROOT))

    def child(*args: str) -> dict[str, Any]:
        done = subprocess.run([sys.executable, str(runner), *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    return runner, env, child


def assert_at_checkpoint(crashed: dict[str, Any], total: int) -> None:
    """After a crash (an ``inspect`` result): the rows up to the job's checkpoint, whole chunks,
    nothing of the next, and every created account with its contact, ownership and audit rows."""
    numbers = sorted(r[0] for r in crashed["rows"])
    assert crashed["job_state"] == "running" and crashed["run_state"] == "running"
    assert 0 < len(numbers) < total
    assert numbers == list(range(2, crashed["checkpoint"]["row"] + 1))  # the rows up to the checkpoint
    assert crashed["done"] + crashed["failed"] == len(numbers)
    created = [r for r in crashed["rows"] if r[1] == "created"]
    assert crashed["accounts"] - EXISTING == len(created)
    assert crashed["contacts"] == crashed["imported_ownership"] == crashed["account_create_events"] == len(created)
    assert crashed["contact_create_events"] == len(created)


def assert_each_row_once(final: dict[str, Any], total: int, attempts: int = 2) -> None:
    """After the resumed run (an ``inspect`` result): every row of the file accounted for
    exactly once, one account per created row, 0 duplicates."""
    numbers = [r[0] for r in final["rows"]]
    assert sorted(numbers) == list(range(2, total + 2))  # every row of the file once
    assert len(numbers) == len(set(numbers)) == total
    created = [r for r in final["rows"] if r[1] == "created"]
    assert final["accounts"] - EXISTING == len(created)
    assert len({r[2] for r in created}) == len(created) and None not in {r[2] for r in created}
    assert final["same_name"] == [] and final["same_code"] == []  # 0 duplicates
    assert final["contacts"] == final["imported_ownership"] == final["account_create_events"] == len(created)
    assert final["contact_create_events"] == len(created)
    assert final["run_state"] == "done" and final["job_state"] == "done" and final["attempts"] == attempts
    assert sum(final["stats"].values()) == total and final["stats"]["created"] == len(created)
    assert final["stats"]["skipped"] > 0 and final["stats"]["invalid"] > 0  # the file's duplicates and errors
    assert final["done"] + final["failed"] == total


def _sqlite_database(tmp_path: Path) -> Iterator[tuple[str, Callable[[], int]]]:
    path = tmp_path / "s16.sqlite3"
    migrated.sqlite_database(path)  # a copy of the session's migrated file

    def count() -> int:
        with sqlite3.connect(path, timeout=10) as db:
            return int(db.execute("SELECT count(*) FROM customers_importrowresult").fetchone()[0])

    yield f"sqlite:///{path}", count


def _postgres_database(url: str) -> Iterator[tuple[str, Callable[[], int]]]:
    import psycopg

    with migrated.postgres_copy(url, "s16") as own:
        def count() -> int:
            with psycopg.connect(own, autocommit=True) as db:
                row = db.execute("SELECT count(*) FROM customers_importrowresult").fetchone()
                return int(row[0]) if row else 0

        yield own, count


@pytest.fixture(params=migrated.backends())
def database(request: Any, tmp_path: Path) -> Iterator[tuple[str, Callable[[], int]]]:
    if request.param == "sqlite":
        yield from _sqlite_database(tmp_path)
    else:
        yield from _postgres_database(os.environ["DATABASE_URL"])


def test_import_killed_mid_way_resumes_to_each_row_exactly_once(tmp_path: Path,
                                                                  database: tuple[str, Callable[[], int]]) -> None:
    url, committed_rows = database
    runner, env, child = prepare(tmp_path, url)
    started = child("setup", str(ROWS), str(EXISTING))
    job_id, run_id, total = started["job"], str(started["run"]), started["total"]
    assert total == ROWS

    # The importer, killed without warning once some chunks are committed.
    importer = subprocess.Popen([sys.executable, str(runner), "run", job_id], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    seen = 0
    try:
        while time.monotonic() < deadline and importer.poll() is None:
            try:
                seen = committed_rows()
            except Exception:  # noqa: S112 (the table is busy or not there yet: ask again)
                continue
            if seen > 0:
                break
            time.sleep(0.01)
        assert importer.poll() is None, f"the importer ended before it could be killed: {importer.stderr}"
        os.kill(importer.pid, signal.SIGKILL)
    finally:
        importer.wait(timeout=30)
    assert importer.returncode == -signal.SIGKILL
    assert 0 < seen < total

    # The database holds exactly the last committed checkpoint: whole chunks, nothing of the next.
    assert_at_checkpoint(child("inspect", run_id), total)

    # Run again: it carries on after the checkpoint.
    assert child("run", job_id)["state"] == "done"
    assert_each_row_once(child("inspect", run_id), total)
