"""Runs in a child process: the project's own code on the databases named by the environment
(DATABASE_URL = the primary, DATABASE_REPLICA_URL = the replica). The commands run in order in
one process and it prints one JSON line, command → result (a repeated command:
``report#2``...). Used by test_router.py (two SQLite
files) and test_replica.py (a PostgreSQL streaming replica):
``python tests/replica/child.py seed:4 add:3 report decisions``."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
import django

django.setup()
from django.test.utils import setup_test_environment  # noqa: E402

setup_test_environment()  # the test Client's host, mail kept in memory

from django.core.files.storage import default_storage  # noqa: E402
from django.db import connections, router, transaction  # noqa: E402
from django.test import Client  # noqa: E402

from guanxi.core import audit, jobs  # noqa: E402
from guanxi.core.dbrouter import replica_reads  # noqa: E402
from guanxi.core.models import AuditEvent, Department, Role, User  # noqa: E402
from guanxi.customers.models import Account  # noqa: E402
from guanxi.service.models import Case  # noqa: E402

MANAGER = "replica-manager"


def _dept() -> Department:
    return Department.objects.get(name="复制测试部")


def add(prefix: str, n: int) -> None:
    """``n`` accounts and ``n`` service cases, owned by the manager."""
    manager = User.objects.get(username=MANAGER)
    start = Account.all_objects.filter(code__startswith="RPL-").count()
    for i in range(start, start + n):
        account = Account.objects.create(name=f"{prefix}客户{i}有限公司", code=f"RPL-{i}", owner=manager,
                                         department=manager.department)
        Case.objects.create(code=f"RPL-C-{i}", title=f"{prefix}问题{i}", owner=manager,
                            department=manager.department, account=account)


def seed(n: int) -> dict[str, Any]:
    dept = Department.objects.create(name="复制测试部")
    dept.path = f"/{dept.pk}/"
    dept.save(update_fields=["path"])
    manager = User.objects.create_user(MANAGER, password="x-Replica-2026!", department=dept, name="刘经理")
    manager.roles.add(Role.objects.get(code="sales_manager"))
    add("旧", n)
    return {"accounts": Account.objects.count(), "cases": Case.objects.count()}


def report() -> dict[str, Any]:
    """What the manager sees: the service report (marked replica_reads) and the account list
    page (not marked), through the test Client; then an account export (a job whose handler is
    marked) run here to the end. Counts the queries each connection ran."""
    manager = User.objects.get(username=MANAGER)
    client = Client()
    client.force_login(manager)
    out: dict[str, Any] = {}
    replica = connections["replica"] if "replica" in connections.settings else None
    primary = connections["default"]

    def run(name: str, call: Any) -> Any:
        # Counted with execute wrappers: unlike CaptureQueriesContext they open no connection.
        ran = {"primary": 0, "replica": 0}

        def counter(alias: str) -> Any:
            def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
                ran[alias] += 1
                return execute(sql, params, many, context)
            return count

        with primary.execute_wrapper(counter("primary")):
            if replica is None:
                response = call()
            else:
                with replica.execute_wrapper(counter("replica")):
                    response = call()
        out[f"{name}_queries"] = ran
        return response

    api = run("api_report", lambda: client.get("/api/v1/service-reports"))
    assert api.status_code == 200, api.content[:500]
    out["report_total"] = api.json()["total"]
    page = run("report_page", lambda: client.get("/service/reports/"))
    assert page.status_code == 200, page.content[:500]
    listing = run("list_page", lambda: client.get("/accounts/"))
    assert listing.status_code == 200, listing.content[:500]
    text = listing.content.decode()
    out["list_names"] = sorted(a.name for a in Account.objects.all() if a.name in text)
    audits_before = AuditEvent.objects.filter(action="export").count()
    workbook = run("report_export", lambda: client.post("/service/reports/export/", {"query": ""}))
    assert workbook.status_code == 200 and workbook.content.startswith(b"PK"), workbook.content[:500]
    event = AuditEvent.objects.filter(action="export").latest("pk")  # on default: the write went there
    out["report_export_cases"] = event.changes["cases"]
    started = client.post("/accounts/export/", {"format": "csv"})
    assert started.status_code == 302, started.content[:500]
    job_id = started["Location"].rstrip("/").rsplit("/", 1)[-1]
    job = run("export", lambda: jobs.execute(job_id))
    assert job is not None and job.state == "done", (job.state if job else None, job.errors if job else None)
    with default_storage.open(job.result["file"]) as fh:
        rows = list(csv.reader(io.StringIO(fh.read().decode("utf-8-sig"))))[1:]
    out["export_names"] = sorted(r[1] for r in rows)
    out["export_audits"] = AuditEvent.objects.filter(action="export").count() - audits_before  # read on default
    return out


def decisions() -> dict[str, Any]:
    """The router's choices, each made with real connections."""
    out: dict[str, Any] = {}
    out["outside"] = Account.objects.count()
    with replica_reads():
        out["inside"] = Account.objects.count()
        out["inside_db"] = Account.objects.all().db
        out["for_update_db"] = Account.objects.select_for_update().db
        out["session_db"] = router.db_for_read(django.apps.apps.get_model("sessions", "Session"))
        with transaction.atomic():
            out["in_atomic"] = Account.objects.count()
        # A write inside the mark: to default, though the record it points at came from the replica.
        account = Account.objects.order_by("pk").first()
        assert account is not None
        out["loaded_from"] = account._state.db
        event = audit.record(actor=None, action="update", obj=account, note="replica routing check")
        out["written_to"] = event._state.db
        out["write_on_default"] = AuditEvent.objects.using("default").filter(pk=event.pk).exists()
        out["write_on_replica"] = AuditEvent.objects.using("replica").filter(pk=event.pk).exists()
    out["decorated"] = replica_reads(lambda: Account.objects.count())()
    with transaction.atomic(), replica_reads():  # a mark entered inside a transaction: default throughout
        out["mark_in_atomic"] = Account.objects.count()
    out["migrate_default"] = router.allow_migrate("default", "customers")
    out["migrate_replica"] = router.allow_migrate("replica", "customers")
    return out


def counts() -> dict[str, Any]:
    return {"accounts": Account.objects.count(), "cases": Case.objects.count()}


if __name__ == "__main__":
    # Commands run in order in this one process: ``seed:4 add:3 report decisions``.
    results: dict[str, Any] = {}
    for command in sys.argv[1:]:
        name, _, arg = command.partition(":")
        key = name if name not in results else f"{name}#{sum(k.split('#')[0] == name for k in results) + 1}"
        if name == "seed":
            results[key] = seed(int(arg))
        elif name == "add":
            add("新", int(arg))
            results[key] = counts()
        elif name == "report":
            results[key] = report()
        elif name == "decisions":
            results[key] = decisions()
        elif name == "wait":
            # Tell the test we got here (<arg>.ready), then wait until it creates <arg>.
            Path(arg + ".ready").touch()
            deadline = time.monotonic() + 120
            while not Path(arg).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            results[key] = Path(arg).exists()
        elif name == "counts":
            results[key] = counts()
        else:
            raise SystemExit(f"unknown command {command}")
    print(json.dumps(results, ensure_ascii=False))
