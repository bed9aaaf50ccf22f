"""Background jobs on the real queue: progress, ownership, re-runs, failures; periodic housekeeping.

The export job also proves S9: cells a spreadsheet would run as a formula are neutralised.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from guanxi.core import jobs
from guanxi.core.models import AccessGrant, AuditEvent, Job, Role, User

# The queue's task wrapper closes "old" database connections around each task, which
# inside a test-wide transaction would close the test's own connection on PostgreSQL;
# so the tests that drain the real queue run with real commits.
queue_db = pytest.mark.django_db(transaction=True, serialized_rollback=True)

FORMULAS = ["=1+2", "+SUM(A1:A9)", "-2+3", "@SUM(1)", "\t=1+1", "\r=1+1", " =1+1", "＝1+1", "=HYPERLINK(\"x\")"]
SAFE = ["正常客户有限公司", "Acme 1-2-3 Ltd", "a=b"]


@pytest.fixture
def exported(org, api, login, account_factory, run_queue, django_capture_on_commit_callbacks) -> dict[str, Any]:
    """Accounts in and out of the manager's reach, an export started by the manager, the queue drained."""
    formula_owner = User.objects.create_user(username="formula", password="x", name="=cmd|' /C calc'!A0",
                                             department=org.east)
    formula_owner.roles.set([Role.objects.get(code="salesperson")])
    visible = [account_factory(org.salesperson, name=name) for name in FORMULAS + SAFE]
    visible.append(account_factory(org.teammate, region="-1+1"))
    visible.append(account_factory(org.sub_sales))  # the East sub-office is part of the manager's department
    visible.append(account_factory(formula_owner))
    hidden = [account_factory(org.outsider, name="=HIDDEN()"), account_factory(org.south_manager)]
    manager = api(org.manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post("/api/v1/accounts/export", {})
        assert response.status_code == 202, response.content
        job_id = response.json()["job"]
    ran = run_queue()
    assert ran >= 1
    return {"job_id": job_id, "visible": visible, "hidden": hidden, "manager": manager}


def read_csv(job: Job) -> list[dict[str, str]]:
    with default_storage.open(job.result["file"], "rb") as fh:
        text = fh.read().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:], newline="")))
    header, body = rows[0], rows[1:]
    from guanxi.customers.services import EXPORT_COLUMNS

    names = [name for name, _label in EXPORT_COLUMNS]  # (no custom fields defined here)
    assert len(header) == len(names)
    return [dict(zip(names, row, strict=True)) for row in body]


@queue_db
def test_export_is_started_through_the_api(org, api, run_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(org.manager).post("/api/v1/accounts/export", {"q": ""})
    assert response.status_code == 202, (response.status_code, response.content)
    job_id = response.json()["job"]
    assert response.json()["url"] == f"/api/v1/jobs/{job_id}"
    assert run_queue() == 1
    assert Job.objects.get(pk=job_id).state == Job.State.DONE


def test_export_endpoint_requires_the_export_right(org, api):
    response = api(org.salesperson).post("/api/v1/accounts/export", {})
    assert response.status_code == 403, (response.status_code, response.content)
    assert not Job.objects.exists()


@queue_db
def test_export_job_runs_on_the_queue_and_reports_done(exported):
    response = exported["manager"].get(f"/api/v1/jobs/{exported['job_id']}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "done"
    assert body["percent"] == 100
    assert body["done"] == body["total"] == len(exported["visible"])
    assert body["failed"] == 0 and body["errors"] == []
    assert body["result"]["rows"] == len(exported["visible"])
    assert body["finished_at"] is not None


@queue_db
def test_export_contains_exactly_the_visible_accounts(exported):
    rows = read_csv(Job.objects.get(pk=exported["job_id"]))
    assert sorted(r["code"] for r in rows) == sorted(a.code for a in exported["visible"])
    hidden_codes = {a.code for a in exported["hidden"]}
    assert not hidden_codes & {r["code"] for r in rows}
    assert AuditEvent.objects.filter(action="export").count() == 1


@queue_db
def test_export_neutralises_formula_cells(exported):
    rows = read_csv(Job.objects.get(pk=exported["job_id"]))
    by_name = {r["name"].lstrip("'"): r for r in rows}
    for name in FORMULAS:
        # csv may normalise the line break inside "\r=1+1"; the leading quote is what matters.
        row = next(r for r in rows if r["name"].lstrip("'").replace("\r\n", "\r") == name)
        assert row["name"] == "'" + name, (name, row["name"])
    for name in SAFE:
        assert by_name[name]["name"] == name  # ordinary text is left alone
    assert any(r["region"] == "'-1+1" for r in rows)
    assert any(r["owner"] == "'=cmd|' /C calc'!A0" for r in rows)
    dangerous = ("=", "+", "-", "@", "\t", "\r", "\n", "\0", "＝", "＋", "－", "＠")
    for row in rows:
        for column, value in row.items():
            assert not value.lstrip(" ").startswith(dangerous), (column, value)


@queue_db
def test_job_page_shows_a_progress_bar(exported, login, org):
    response = login(org.manager).get(f"/jobs/{exported['job_id']}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="progressbar"' in html
    assert 'aria-valuenow="100"' in html
    assert f"/jobs/{exported['job_id']}/download/" in html
    partial = login(org.manager).get(f"/jobs/{exported['job_id']}/", HTTP_HX_REQUEST="true")
    assert partial.status_code == 200 and "<html" not in partial.content.decode()
    download = login(org.manager).get(f"/jobs/{exported['job_id']}/download/")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment")


@queue_db
def test_another_user_cannot_see_the_job(exported, api, login, org):
    job_id = exported["job_id"]
    for user in (org.salesperson, org.teammate, org.gm, org.south_manager):
        assert api(user).get(f"/api/v1/jobs/{job_id}").status_code == 404
        client = login(user)
        assert client.get(f"/jobs/{job_id}/").status_code == 404
        assert client.get(f"/jobs/{job_id}/download/").status_code == 404


@queue_db
def test_running_a_finished_job_again_is_a_no_op(exported):
    job_id = exported["job_id"]
    before = Job.objects.get(pk=job_id)
    exports_before = AuditEvent.objects.filter(action="export").count()
    again = jobs.execute(job_id)
    assert again is not None
    after = Job.objects.get(pk=job_id)
    assert (after.state, after.done, after.total, after.attempts, after.finished_at, after.result) == (
        before.state, before.done, before.total, before.attempts, before.finished_at, before.result)
    assert AuditEvent.objects.filter(action="export").count() == exports_before


@pytest.fixture
def failing_kind() -> Any:
    kind = "tests.always-fails"

    @jobs.handler(kind)
    def boom(job: Job, progress: jobs.Progress) -> dict[str, Any]:
        progress.set_total(10)
        progress.advance(3)
        raise RuntimeError("the mail server is on fire")

    yield kind
    jobs._handlers.pop(kind, None)


@pytest.mark.django_db
def test_a_handler_that_raises_marks_the_job_failed_with_its_message(org, api, failing_kind):
    job = jobs.job_start(actor=org.salesperson, kind=failing_kind)
    result = jobs.execute(str(job.pk))
    assert result is not None
    assert result.state == Job.State.FAILED
    assert result.finished_at is not None
    assert result.errors[-1]["message"] == "the mail server is on fire"
    assert "RuntimeError" in result.errors[-1]["trace"]
    body = api(org.salesperson).get(f"/api/v1/jobs/{job.pk}").json()
    assert body["state"] == "failed"
    assert body["done"] == 3 and body["total"] == 10 and body["percent"] == 30
    assert body["errors"] == [{"message": "the mail server is on fire"}]  # the trace stays on the server
    assert jobs.execute(str(job.pk)).state == Job.State.FAILED  # a failed job is not run again


@queue_db
def test_a_failing_job_on_the_queue_is_marked_failed(org, run_queue, failing_kind, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.job_start(actor=org.salesperson, kind=failing_kind)
    run_queue()
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.attempts == 1
    assert job.errors[-1]["message"] == "the mail server is on fire"


@pytest.mark.django_db
def test_malformed_job_id_answers_404(org, api, login):
    assert api(org.manager).get("/api/v1/jobs/not-a-uuid").status_code == 404
    assert login(org.manager).get("/jobs/not-a-uuid/").status_code == 404
    assert login(org.manager).get("/jobs/not-a-uuid/download/").status_code == 404


# --- Periodic housekeeping -------------------------------------------------------------------------
@pytest.mark.django_db
def test_expire_grants_revokes_approved_grants_whose_time_is_over(org):
    from guanxi.core.tasks import expire_grants

    now = timezone.now()

    def grant(state: str, expires: dt.datetime) -> AccessGrant:
        return AccessGrant.objects.create(grantee=org.salesperson, target_department=org.south, reason="r",
                                          starts_at=now - dt.timedelta(days=10), expires_at=expires, state=state)

    expired = grant(AccessGrant.State.APPROVED, now - dt.timedelta(minutes=1))
    running = grant(AccessGrant.State.APPROVED, now + dt.timedelta(days=1))
    old_request = grant(AccessGrant.State.REQUESTED, now - dt.timedelta(days=1))
    rejected = grant(AccessGrant.State.REJECTED, now - dt.timedelta(days=1))
    run = getattr(expire_grants, "call_local", expire_grants)
    assert run() == 1
    states = {g.pk: AccessGrant.objects.get(pk=g.pk).state for g in (expired, running, old_request, rejected)}
    assert states == {expired.pk: "revoked", running.pk: "approved", old_request.pk: "requested",
                      rejected.pk: "rejected"}
    assert run() == 0  # running it again changes nothing
