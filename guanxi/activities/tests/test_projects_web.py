"""Projects through their doors: the staff pages, the customer's public page and the REST API (R3.7)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone, translation

from guanxi.activities.models import CostChange, Phase, Project
from guanxi.activities.services import projects as services
from guanxi.core.models import AuditEvent, Notification

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


@pytest.fixture(autouse=True)
def _english(org: Any) -> Iterator[None]:
    """Messages and pages are checked in English: every persona reads English (pages follow
    the signed-in user's language, notifications the recipient's)."""
    from guanxi.core.models import User

    User.objects.update(language="en")
    with translation.override("en"):
        yield


@pytest.fixture
def setup(org: Any, account_factory: Any) -> Any:
    account = account_factory(org.salesperson, name="华东重工有限公司")
    project = services.project_create(actor=org.salesperson, account=account, name="车间改造", budget="100000")
    phase = services.phase_add(actor=org.salesperson, project=project, name="设计", cost="20000")
    return account, project, phase


def link_path(url: str) -> str:
    match = re.search(r"(/activities/cost-approval/[^/\"]+/)", url)
    assert match, url
    return match.group(1)


def customer() -> Client:
    """A fresh browser without an account, with CSRF checks on (as in production), that chose
    English with the language switch."""
    from django.conf import settings

    client = Client(enforce_csrf_checks=True)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def customer_post(client: Client, path: str, data: dict[str, str]) -> Any:
    page = client.get(path)
    token = page.cookies["csrftoken"].value if "csrftoken" in page.cookies else client.cookies["csrftoken"].value
    return client.post(path, {**data, "csrfmiddlewaretoken": token})


def state_of(*objs: Any) -> list[Any]:
    for obj in objs:
        obj.refresh_from_db()
    return [(type(o).__name__, o.pk, getattr(o, "state", None), getattr(o, "cost", None), o.version) for o in objs]


# --- Staff pages ----------------------------------------------------------------------------
def test_staff_start_a_project_add_a_phase_and_ask_the_customer(org, login, account_factory):
    account = account_factory(org.salesperson, name="华南电气")
    account_factory(org.outsider, name="别人的客户")
    client = login(org.salesperson)
    choose = client.get("/activities/projects/new/").content.decode()  # from the list: pick the account
    assert "华南电气" in choose and "别人的客户" not in choose
    page = client.get(f"/activities/projects/new/?account={account.pk}")
    assert page.status_code == 200 and "华南电气" in page.content.decode()
    response = client.post(f"/activities/projects/new/?account={account.pk}", {
        "account": account.pk, "name": "产线升级", "goal": "提升产能", "owner": org.salesperson.pk, "budget": "50000"})
    project = Project.objects.get(name="产线升级")
    assert response.status_code == 302 and response["Location"] == f"/activities/projects/{project.pk}/"
    response = client.post(f"/activities/projects/{project.pk}/phases/new/", {
        "name": "安装", "owner": org.salesperson.pk, "cost": "30000"})
    assert response.status_code == 302
    phase = Phase.objects.get(project=project)
    response = client.post(f"/activities/phases/{phase.pk}/cost-changes/new/", {"amount": "4000", "reason": "加装传感器"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    url = re.search(r'data-testid="approval-url"', response.content.decode())
    assert url
    path = link_path(response.content.decode())
    detail = client.get(f"/activities/projects/{project.pk}/").content.decode()
    assert "Waiting for the customer" in detail and "加装传感器" in detail
    assert path not in detail  # the link is shown once, never on the project page
    # Blocked: starting the phase is refused with the reason.
    response = client.post(f"/activities/phases/{phase.pk}/start/", {"version": phase.version}, follow=True)
    assert "waiting for the customer" in response.content.decode()
    assert Phase.objects.get(pk=phase.pk).state == "planned"
    # The customer approves; the phase shows the new cost and can start.
    assert customer_post(customer(), path, {"customer_name": "陈经理", "decision": "approve"}).status_code == 200
    detail = client.get(f"/activities/projects/{project.pk}/").content.decode()
    assert "34000.00" in detail and "陈经理" in detail
    phase.refresh_from_db()
    client.post(f"/activities/phases/{phase.pk}/start/", {"version": phase.version})
    assert Phase.objects.get(pk=phase.pk).state == "active"


def test_project_list_is_scoped_and_filtered(org, login, setup, account_factory):
    _account, _project, phase = setup
    other = account_factory(org.outsider, name="南方公司")
    hidden = services.project_create(actor=org.outsider, account=other, name="南方项目")
    services.cost_change_request(actor=org.salesperson, phase=phase, amount="1", reason="r")
    body = login(org.salesperson).get("/activities/projects/").content.decode()
    assert "车间改造" in body and "南方项目" not in body
    assert "0 / 1 phases" in body
    assert "车间改造" in login(org.salesperson).get("/activities/projects/?waiting=1").content.decode()
    assert "车间改造" not in login(org.salesperson).get("/activities/projects/?state=done").content.decode()
    assert "车间改造" not in login(org.salesperson).get("/activities/projects/?q=nothing").content.decode()
    assert "南方项目" in login(org.gm).get("/activities/projects/").content.decode()
    assert hidden.pk


@pytest.mark.parametrize("method,path", [
    ("get", "/activities/projects/{project}/"),
    ("get", "/activities/projects/{project}/edit/"),
    ("post", "/activities/projects/{project}/state/"),
    ("get", "/activities/projects/{project}/phases/new/"),
    ("get", "/activities/phases/{phase}/edit/"),
    ("post", "/activities/phases/{phase}/start/"),
    ("post", "/activities/phases/{phase}/move/"),
    ("get", "/activities/phases/{phase}/cost-changes/new/"),
    ("post", "/activities/cost-changes/{change}/link/"),
    ("post", "/activities/cost-changes/{change}/withdraw/"),
    ("get", "/activities/cost-changes/{change}/record/"),
    ("get", "/activities/accounts/{account}/projects/"),
])
@pytest.mark.parametrize("persona", ["outsider", "south_manager"])
def test_outsiders_get_404_and_change_nothing(org, login, setup, method, path, persona):
    _account, project, phase = setup
    change, _token = services.cost_change_request(actor=org.salesperson, phase=phase, amount="1", reason="r")
    client = login(getattr(org, persona))
    before = state_of(project, phase, change)
    audit_rows = AuditEvent.objects.count()
    url = path.format(project=project.pk, phase=phase.pk, change=change.pk, account=project.account_id)
    response = getattr(client, method)(url, {"action": "complete", "direction": "up"} if method == "post" else None)
    assert response.status_code == 404
    assert state_of(project, phase, change) == before
    assert AuditEvent.objects.count() == audit_rows


def test_salespeople_cannot_delete_and_managers_can(org, login, setup):
    _account, project, _phase = setup
    assert login(org.salesperson).post(f"/activities/projects/{project.pk}/delete/").status_code == 403
    assert Project.objects.filter(pk=project.pk).exists()
    assert login(org.manager).post(f"/activities/projects/{project.pk}/delete/").status_code == 302
    assert not Project.objects.filter(pk=project.pk).exists()
    assert login(org.manager).get(f"/activities/projects/{project.pk}/").status_code == 404


def test_staff_recording_without_evidence_is_refused_and_changes_nothing(org, login, setup):
    _account, _project, phase = setup
    change, _token = services.cost_change_request(actor=org.salesperson, phase=phase, amount="500", reason="r")
    client = login(org.salesperson)
    form = client.get(f"/activities/cost-changes/{change.pk}/record/")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.content.decode()
    before = state_of(phase, change)
    response = client.post(f"/activities/cost-changes/{change.pk}/record/", {
        "version": change.version, "decision": "approve", "customer_name": "陈经理"})
    assert response.status_code == 422
    assert "written decision" in response.content.decode()
    assert state_of(phase, change) == before
    response = client.post(f"/activities/cost-changes/{change.pk}/record/", {
        "version": change.version, "decision": "approve", "customer_name": "陈经理", "note": "盖章回函",
        "evidence": SimpleUploadedFile("回函.pdf", PDF, content_type="application/pdf")})
    assert response.status_code == 302
    change.refresh_from_db()
    phase.refresh_from_db()
    assert (change.state, change.decided_via, change.recorded_by, phase.cost) == \
        ("approved", "staff", org.salesperson, Decimal("20500"))
    assert change.evidence.original_name == "回函.pdf"


def test_withdraw_and_reissue_from_the_project_page(org, login, setup):
    _account, _project, phase = setup
    client = login(org.salesperson)
    response = client.post(f"/activities/phases/{phase.pk}/cost-changes/new/", {"amount": "-100", "reason": "少用料"})
    first = link_path(response.content.decode())
    change = CostChange.objects.get(phase=phase)
    second = link_path(client.post(f"/activities/cost-changes/{change.pk}/link/").content.decode())
    assert first != second
    assert customer().get(first).status_code == 410
    assert customer().get(second).status_code == 200
    change.refresh_from_db()
    client.post(f"/activities/cost-changes/{change.pk}/withdraw/", {"version": change.version})
    assert CostChange.objects.get(pk=change.pk).state == "withdrawn"
    refused = customer().get(second)
    assert refused.status_code == 410 and "withdrew" in refused.content.decode()


# --- The customer's page ----------------------------------------------------------------------
def test_the_public_page_reads_without_writing_and_decides_once(org, setup):
    _account, _project, phase = setup
    change, token = services.cost_change_request(actor=org.salesperson, phase=phase, amount="2500", reason="加一台泵")
    path = f"/activities/cost-approval/{token}/"
    client = customer()
    audit_rows, before = AuditEvent.objects.count(), state_of(phase, change)
    page = client.get(path)
    body = page.content.decode()
    assert page.status_code == 200 and "Cache-Control" in page and "no-cache" in page["Cache-Control"]
    for text in ("车间改造", "设计", "+2500.00", "加一台泵", "22500.00", "csrfmiddlewaretoken"):
        assert text in body
    assert "Content-Security-Policy" in page
    # A GET writes nothing: no audit row, no change, no session.
    assert AuditEvent.objects.count() == audit_rows and state_of(phase, change) == before
    assert "sessionid" not in page.cookies
    # A POST without the CSRF token is refused and changes nothing.
    assert client.post(path, {"customer_name": "陈经理", "decision": "approve"}).status_code == 403
    assert state_of(phase, change) == before
    # Without a name: the form asks for it, nothing changes.
    response = customer_post(client, path, {"customer_name": "", "decision": "approve"})
    assert response.status_code == 422 and state_of(phase, change) == before
    response = customer_post(client, path, {"customer_name": "陈经理", "note": "请尽快", "decision": "approve"})
    assert response.status_code == 200 and "陈经理" in response.content.decode()
    change.refresh_from_db()
    phase.refresh_from_db()
    assert (change.state, change.decided_via, change.customer_name, change.decision_note, phase.cost) == \
        ("approved", "link", "陈经理", "请尽快", Decimal("22500"))
    event = AuditEvent.objects.get(action="decide", object_id=str(change.pk))
    assert (event.actor, event.channel, event.ip) == (None, "web", "127.0.0.1")
    assert Notification.objects.filter(user=org.salesperson, url=f"/activities/projects/{phase.project_id}/").exists()
    # Replayed: the same link again is refused and changes nothing.
    after = state_of(phase, change)
    again = customer_post(customer(), path, {"customer_name": "别人", "decision": "decline"})
    assert again.status_code == 410 and "already" in again.content.decode()
    assert state_of(phase, change) == after


@pytest.mark.parametrize("case,status", [("tampered", 400), ("truncated", 400), ("expired", 410),
                                         ("reissued", 410), ("withdrawn", 410), ("deleted", 404)])
def test_links_that_cannot_be_used_show_a_refusal_and_change_nothing(org, setup, case, status):
    _account, project, phase = setup
    change, token = services.cost_change_request(actor=org.salesperson, phase=phase, amount="100", reason="r")
    if case == "tampered":
        token = token[:-2] + ("xy" if not token.endswith("xy") else "zz")
    elif case == "truncated":
        token = token.split(":")[0]
    elif case == "expired":
        CostChange.objects.filter(pk=change.pk).update(link_expires_at=timezone.now() - dt.timedelta(minutes=1))
    elif case == "reissued":
        services.cost_change_reissue(actor=org.salesperson, change=change)
    elif case == "withdrawn":
        services.cost_change_withdraw(actor=org.salesperson, change=change)
    else:
        services.project_delete(actor=org.manager, project=project)
    path = f"/activities/cost-approval/{token}/"
    before = state_of(phase, change)
    audit_rows = AuditEvent.objects.count()
    client = customer()
    page = client.get(path)
    assert page.status_code == status
    assert 'data-testid="link-refused"' in page.content.decode()
    assert 'data-testid="approve"' not in page.content.decode()
    csrf = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else ""
    if not csrf:
        client.get("/login/")
        csrf = client.cookies["csrftoken"].value
    response = client.post(path, {"customer_name": "陈经理", "decision": "approve", "csrfmiddlewaretoken": csrf})
    assert response.status_code == status
    assert state_of(phase, change) == before
    assert AuditEvent.objects.count() == audit_rows


def test_the_public_page_escapes_a_script_in_every_field(org, account_factory):
    account = account_factory(org.salesperson, name=XSS)
    project = services.project_create(actor=org.salesperson, account=account, name=XSS, goal=XSS)
    phase = services.phase_add(actor=org.salesperson, project=project, name=XSS, goal=XSS)
    _change, token = services.cost_change_request(actor=org.salesperson, phase=phase, amount="1", reason=XSS)
    body = customer().get(f"/activities/cost-approval/{token}/").content.decode()
    assert "<script>window.__pwned" not in body and "<img src=x" not in body
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in body


# --- REST API -----------------------------------------------------------------------------------
def test_api_projects_phases_and_the_blocking_rule(org, api, account_factory):
    account = account_factory(org.salesperson, name="华东重工")
    client = api(org.salesperson)
    response = client.post("/api/v1/projects", {"account": account.pk, "name": "车间改造", "budget": "80000",
                                                 "starts_on": "2026-01-05"})
    assert response.status_code == 201, response.content
    project = response.json()
    assert (project["owner"], project["budget"], project["phases_total"]) == (org.salesperson.pk, "80000.00", 0)
    response = client.post(f"/api/v1/projects/{project['id']}/phases", {"name": "设计", "cost": "20000"})
    assert response.status_code == 201
    phase = response.json()
    assert (phase["position"], phase["state"], phase["pending_cost_change"]) == (1, "planned", None)
    second = client.post(f"/api/v1/projects/{project['id']}/phases", {"name": "施工", "cost": "50000"}).json()
    response = client.patch(f"/api/v1/phases/{second['id']}", {"version": second["version"], "position": 1})
    assert response.status_code == 200 and response.json()["position"] == 1
    phases = client.get(f"/api/v1/projects/{project['id']}/phases").json()
    assert [p["name"] for p in phases] == ["施工", "设计"]

    response = client.post(f"/api/v1/phases/{phase['id']}/cost-changes", {"amount": "5000", "reason": "加设备"})
    assert response.status_code == 201
    change = response.json()
    assert change["state"] == "pending" and change["approval_url"].startswith("http://testserver/activities/")
    response = client.post(f"/api/v1/phases/{phase['id']}/start", {})
    assert response.status_code == 422 and response.json()["code"] == "cost_change_pending"
    assert client.get(f"/api/v1/projects/{project['id']}/phases").json()[1]["pending_cost_change"] == change["id"]
    listed = client.get("/api/v1/projects", {"waiting": "true"}).json()["results"]
    assert [p["id"] for p in listed] == [project["id"]] and listed[0]["waiting_for_customer"] is True
    # The customer's link works; a re-issued link replaces it.
    reissued = client.post(f"/api/v1/cost-changes/{change['id']}/link").json()
    assert reissued["approval_url"] != change["approval_url"]
    assert customer().get(link_path(change["approval_url"])).status_code == 410
    assert customer_post(customer(), link_path(reissued["approval_url"]),
                         {"customer_name": "赵总", "decision": "approve"}).status_code == 200
    response = client.post(f"/api/v1/phases/{phase['id']}/start", {})
    assert response.status_code == 200 and response.json()["cost"] == "25000.00"
    history = client.get(f"/api/v1/phases/{phase['id']}/cost-changes").json()
    assert [(c["state"], c["decided_via"], c["customer_name"]) for c in history] == [("approved", "link", "赵总")]
    assert "approval_url" not in history[0] and "link_nonce" not in history[0]
    got = client.get(f"/api/v1/projects/{project['id']}").json()
    assert (got["agreed_cost"], got["phases_total"]) == ("75000.00", 2)


def test_api_filters_versions_and_rights(org, api, setup, account_factory):
    account, project, phase = setup
    other = account_factory(org.teammate)
    services.project_create(actor=org.teammate, account=other, name="队友项目")
    manager = api(org.manager)
    names = lambda r: sorted(p["name"] for p in r.json()["results"])  # noqa: E731
    assert names(manager.get("/api/v1/projects")) == ["车间改造", "队友项目"]
    assert names(manager.get("/api/v1/projects", {"account": account.pk})) == ["车间改造"]
    assert names(manager.get("/api/v1/projects", {"owner": org.teammate.pk})) == ["队友项目"]
    assert names(manager.get("/api/v1/projects", {"state": "done"})) == []
    assert manager.get("/api/v1/projects", {"state": "nonsense"}).status_code == 422
    sales = api(org.salesperson)
    assert names(sales.get("/api/v1/projects")) == ["车间改造"]
    response = sales.patch(f"/api/v1/projects/{project.pk}", {"version": project.version + 5, "name": "新名"})
    assert response.status_code == 409
    response = sales.patch(f"/api/v1/projects/{project.pk}", {"version": project.version, "name": "新名",
                                                                "budget": "120000"})
    assert response.status_code == 200 and response.json()["name"] == "新名"
    # S5: fields outside the schema are refused, not silently applied.
    response = sales.patch(f"/api/v1/phases/{phase.pk}", {"version": phase.version, "cost": "1"})
    assert response.status_code == 422 and Phase.objects.get(pk=phase.pk).cost == Decimal("20000")
    response = sales.post(f"/api/v1/projects/{project.pk}/phases", {"name": "x", "state": "done"})
    assert response.status_code == 422
    assert sales.delete(f"/api/v1/projects/{project.pk}").status_code == 403
    assert manager.delete(f"/api/v1/projects/{project.pk}").status_code == 204


@pytest.mark.parametrize("method,path", [
    ("get", "/api/v1/projects/{project}"),
    ("patch", "/api/v1/projects/{project}"),
    ("delete", "/api/v1/projects/{project}"),
    ("get", "/api/v1/projects/{project}/phases"),
    ("post", "/api/v1/projects/{project}/phases"),
    ("patch", "/api/v1/phases/{phase}"),
    ("post", "/api/v1/phases/{phase}/start"),
    ("post", "/api/v1/phases/{phase}/complete"),
    ("get", "/api/v1/phases/{phase}/cost-changes"),
    ("post", "/api/v1/phases/{phase}/cost-changes"),
    ("post", "/api/v1/cost-changes/{change}/link"),
    ("post", "/api/v1/cost-changes/{change}/withdraw"),
])
@pytest.mark.parametrize("persona", ["outsider", "south_manager"])
def test_api_outsiders_get_404_and_change_nothing(org, api, setup, method, path, persona):
    _account, project, phase = setup
    change, _token = services.cost_change_request(actor=org.salesperson, phase=phase, amount="1", reason="r")
    client = api(getattr(org, persona))
    before = state_of(project, phase, change)
    audit_rows = AuditEvent.objects.count()
    url = path.format(project=project.pk, phase=phase.pk, change=change.pk)
    if method == "delete":
        response = client.delete(url)
    elif method == "get":
        response = client.get(url)
    else:
        payload = {"version": 1} if url.endswith(("start", "complete", "withdraw")) else \
            {} if url.endswith("link") else {"amount": "1", "reason": "r"} if url.endswith("cost-changes") else \
            {"name": "x"} if url.endswith("phases") else {"version": 1, "name": "x"}
        response = getattr(client, method)(url, payload)
    # A salesperson holds no delete right at all (403 before any lookup); else hidden = 404.
    assert response.status_code == (403 if (persona, method) == ("outsider", "delete") else 404), response.content
    assert state_of(project, phase, change) == before
    assert AuditEvent.objects.count() == audit_rows


def test_api_record_decision_needs_evidence(org, api, setup):
    account, _project, phase = setup
    change, _token = services.cost_change_request(actor=org.salesperson, phase=phase, amount="-2000", reason="减项")
    client = api(org.salesperson).client
    url = f"/api/v1/cost-changes/{change.pk}/record-decision"
    before = state_of(phase, change)
    response = client.post(url, {"decision": "approve", "customer_name": "赵总"})
    assert response.status_code == 422 and "evidence" in response.json()["errors"]
    response = client.post(url, {"decision": "maybe", "customer_name": "赵总"})
    assert response.status_code == 422
    assert state_of(phase, change) == before
    response = client.post(url, {"decision": "decline", "customer_name": "赵总", "note": "不同意",
                                 "evidence": SimpleUploadedFile("reply.pdf", PDF, content_type="application/pdf")})
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["state"], data["decided_via"], data["recorded_by"]) == ("declined", "staff", org.salesperson.pk)
    assert Phase.objects.get(pk=phase.pk).cost == Decimal("20000")  # declined: unchanged
    # An existing file of the account serves as evidence for the next one.
    second, _ = services.cost_change_request(actor=org.salesperson, phase=phase, amount="300", reason="r")
    response = client.post(f"/api/v1/cost-changes/{second.pk}/record-decision",
                           {"decision": "approve", "customer_name": "赵总", "evidence_id": data["evidence"]})
    assert response.status_code == 200 and Phase.objects.get(pk=phase.pk).cost == Decimal("20300")
    assert account.attachments.count() == 1


# --- Progress on the account ---------------------------------------------------------------------
def test_the_account_page_shows_the_projects_tab_and_timeline(org, login, setup):
    account, _project, phase = setup
    services.phase_start(actor=org.salesperson, phase=phase)
    client = login(org.salesperson)
    page = client.get(f"/accounts/{account.pk}/").content.decode()
    assert 'data-testid="projects-tab"' in page and f"/activities/accounts/{account.pk}/projects/" in page
    timeline = client.get(f"/accounts/{account.pk}/timeline/", HTTP_HX_REQUEST="true").content.decode()
    assert "Phase started: 设计" in timeline  # the Timeline tab, loaded when opened
    panel = client.get(f"/activities/accounts/{account.pk}/projects/").content.decode()
    assert "车间改造" in panel and "0 / 1 phases" in panel and "20000.00" in panel
    assert login(org.outsider).get(f"/activities/accounts/{account.pk}/projects/").status_code == 404
