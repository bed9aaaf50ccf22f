"""S1 / S2 / S3 — every route that names an account, a contact or an attachment — or a record of
contact and follow-up: an interaction, a follow-up, a care plan, support given, a project, a
phase, a cost change, a calendar feed — hidden from the caller.

The walker goes through the whole URL configuration and the API routers, so a route added
later is covered the day it appears: its record id is filled with a record the salesperson
cannot see (another department's), and the answer must be what a missing id gets — 404,
or 403 when the caller lacks the right altogether — never a page, a file or a change.
Every refused write leaves every table of the customer file, the audit log and the queue
as they were (S3).

The same routes called by the record's owner prove the walker reaches real objects: at
least one HTML page and one API read per record type answer 200 for them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.base import ContentFile

from guanxi.customers import services
from guanxi.customers.models import AccountAttachment
from tests.security.conftest import fingerprint
from tests.security.test_routes_declared import API_PREFIX, api_operations, django_routes

pytestmark = pytest.mark.django_db

# What the id in a route stands for, by the route's shape. A route whose id names something
# else (a category, a grade, an import run, a merge record …) is not an owned record.
# (Cadence rules and greeting templates are the company's configuration, not owned records.)
HTML_KINDS = [
    (re.compile(r"^accounts/contacts/<int:pk>/"), "contact"),
    (re.compile(r"^accounts/attachments/<int:pk>/"), "attachment"),
    (re.compile(r"^accounts/<int:pk>/"), "account"),
    (re.compile(r"^activities/accounts/<int:account_pk>/"), "account"),
    (re.compile(r"^activities/interactions/<int:pk>/"), "interaction"),
    (re.compile(r"^activities/(desk/)?followups/<int:pk>/"), "followup"),
    (re.compile(r"^activities/care/plans/<int:pk>/"), "careplan"),
    (re.compile(r"^activities/support/<int:pk>/"), "support"),
    (re.compile(r"^activities/projects/<int:pk>/"), "project"),
    (re.compile(r"^activities/phases/<int:pk>/"), "phase"),
    (re.compile(r"^activities/cost-changes/<int:pk>/"), "costchange"),
    (re.compile(r"^activities/calendar/<int:pk>/"), "feed"),
]
API_KINDS = [
    (re.compile(rf"^{API_PREFIX}/accounts/\{{(int:)?pk\}}"), "account"),
    (re.compile(rf"^{API_PREFIX}/contacts/\{{(int:)?pk\}}"), "contact"),
    (re.compile(rf"^{API_PREFIX}/attachments/\{{(int:)?pk\}}"), "attachment"),
    (re.compile(rf"^{API_PREFIX}/interactions/\{{(int:)?pk\}}"), "interaction"),
    (re.compile(rf"^{API_PREFIX}/followups/\{{(int:)?pk\}}"), "followup"),
    (re.compile(rf"^{API_PREFIX}/care-plans/\{{(int:)?pk\}}"), "careplan"),
    (re.compile(rf"^{API_PREFIX}/support/\{{(int:)?pk\}}"), "support"),
    (re.compile(rf"^{API_PREFIX}/projects/\{{(int:)?pk\}}"), "project"),
    (re.compile(rf"^{API_PREFIX}/phases/\{{(int:)?pk\}}"), "phase"),
    (re.compile(rf"^{API_PREFIX}/cost-changes/\{{(int:)?pk\}}"), "costchange"),
    (re.compile(rf"^{API_PREFIX}/calendar-feeds/\{{(int:)?pk\}}"), "feed"),
]
# The route parameters that carry the hidden record's id.
ID_PARAMS = {"pk", "account_pk"}
# Record types with a History tab (GET /api/v1/history/<type>/<id>).
HISTORY_TYPES = {"account": "customers.account", "contact": "customers.contact", "interaction": "activities.interaction",
                 "followup": "activities.followup", "careplan": "activities.careplan",
                 "support": "activities.support", "project": "activities.project", "phase": "activities.phase",
                 "costchange": "activities.costchange"}
MISSING_ID = 987654321


def _kind(route: str, kinds: list[tuple[re.Pattern[str], str]]) -> str | None:
    for pattern, kind in kinds:
        if pattern.match(route):
            return kind
    return None


# Other parts of a route beside the hidden record's id: filled with something the caller may use.
EXTRA_KWARGS = {"other": "own_account", "field": "phone", "fmt": "csv"}


def html_routes() -> Iterator[tuple[str, str, str]]:
    for route, name, _callback in django_routes():
        kind = _kind(route, HTML_KINDS)
        extra = set(re.findall(r"<(?:\w+:)?(\w+)>", route)) - ID_PARAMS
        if kind is not None and extra <= set(EXTRA_KWARGS):
            yield route, name, kind


def api_routes() -> Iterator[tuple[str, str, str]]:
    for key, _op in api_operations():
        method, path = key.split(" ", 1)
        kind = _kind(path, API_KINDS)
        if kind is not None and path.count("{") == 1:
            yield method, path, kind


@pytest.fixture
def hidden(org: Any) -> dict[str, Any]:
    """The outsider's account (华南销售部) with a person and a file, a contact logged, a next
    step, a birthday greeting planned, support given, a project with a phase whose cost change
    waits for the customer, and the outsider's calendar feed: none of it is the salesperson's."""
    account = services.account_create(actor=org.outsider, name="广州南方重工机械有限公司", phone="020-83331234")
    contact = services.contact_create(actor=org.outsider, account=account, name="黄志强", mobile="13922223333")
    attachment = AccountAttachment(account=account, kind="licence", original_name="营业执照.pdf",
                                   content_type="application/pdf", size=8, uploaded_by=org.outsider)
    attachment.file.save("x", ContentFile(b"%PDF-1.4"), save=False)
    attachment.save()
    out = {"account": account, "contact": contact, "attachment": attachment}
    out.update(activity_records(org.outsider, account, contact))
    return out


def activity_records(owner: Any, account: Any, contact: Any) -> dict[str, Any]:
    """One record of each kind of contact and follow-up on ``account``, made by its owner."""
    import datetime as dt

    from guanxi.activities import services as activities
    from guanxi.activities.services import care, projects

    interaction = activities.interaction_create(actor=owner, account=account, kind="meeting", summary="年度采购会谈",
                                                their_people=[contact.pk])
    followup = activities.followup_create(actor=owner, account=account, title="送样品", due_at="2031-05-01T09:00:00+08:00",
                                          contact=contact)
    plan = care.care_plan_create(actor=owner, account=account, contact=contact, occasion="birthday",
                                 date=dt.date(2031, 6, 1), message="生日快乐")
    support = care.support_create(actor=owner, account=account, kind="training", description="销售培训两天")
    project = projects.project_create(actor=owner, account=account, name="二期产线改造", budget=500000)
    phase = projects.phase_add(actor=owner, project=project, name="设备安装", cost=200000)
    change, _token = projects.cost_change_request(actor=owner, phase=phase, amount="8000", reason="加装防护罩")
    feed, _key = care.calendar_feed_create(actor=owner)
    return {"interaction": interaction, "followup": followup, "careplan": plan, "support": support,
            "project": project, "phase": phase, "costchange": change, "feed": feed}


def _html_path(route: str, pk: int, own_account: int = MISSING_ID) -> str:
    """The route with the hidden id for ``pk`` and harmless values for any other part."""
    def fill(match: re.Match[str]) -> str:
        param = match.group(1)
        if param in ID_PARAMS:
            return str(pk)
        return str(own_account) if EXTRA_KWARGS[param] == "own_account" else EXTRA_KWARGS[param]

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", fill, route)


def _api_path(path: str, pk: int) -> str:
    return re.sub(r"\{(int:)?pk\}", str(pk), path)


ACTIVITY_KINDS = {"interaction", "followup", "careplan", "support", "project", "phase", "costchange", "feed"}


def test_the_walker_finds_the_customer_file_routes() -> None:
    html_kinds = {kind for _route, _name, kind in html_routes()}
    api_kinds = {kind for _m, _p, kind in api_routes()}
    assert {"account", "contact"} | ACTIVITY_KINDS <= html_kinds
    assert {"account", "contact"} | ACTIVITY_KINDS <= api_kinds


def test_every_route_naming_an_activities_record_is_walked() -> None:
    """A new activities route with a record id in it must be recognised by the walker (or be
    one of the few that name configuration or carry a credential instead)."""
    not_records = {"activities:cadence-edit", "activities:greeting-edit", "activities:greeting-delete",
                   "activities:calendar-feed-ics", "activities:cost-approval"}
    walked = {name for _route, name, _kind in html_routes()}
    for route, name, _callback in django_routes():
        if name.startswith("activities:") and re.search(r"<(?:\w+:)?\w+>", route):
            assert name in walked or name in not_records, f"{name} ({route}) is not walked"
    activity_api = tuple(f"{API_PREFIX}/{name}/" for name in (
        "interactions", "followups", "care-plans", "support", "projects", "phases", "cost-changes", "calendar-feeds",
        "care-events", "business-check"))
    walked_api = {f"{m} {p}" for m, p, _kind in api_routes()}
    for key, _op in api_operations():
        path = key.split(" ", 1)[1]
        if "{" in path and path.startswith(activity_api):
            assert key in walked_api, f"{key} is not walked"


# A salesperson, and a manager whose rights reach further into each view (merge, reassign, rate …).
PERSONAS = ["salesperson", "manager"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_hidden_records_answer_like_missing_ones_on_every_html_route(persona: str, org: Any, login: Any,
                                                                     hidden: dict[str, Any]) -> None:
    client = login(getattr(org, persona))
    own = services.account_create(actor=org.salesperson, name="厦门本地客户有限公司").pk
    attempts = []
    for route, name, kind in html_routes():
        attempts.append((route, name, _html_path(route, hidden[kind].pk, own), _html_path(route, MISSING_ID, own)))
        if "<int:other>" in route:  # the hidden record in the second place too
            attempts.append((route, name, _html_path(route, own, hidden[kind].pk), _html_path(route, own, MISSING_ID)))
    for _route, name, path, missing in attempts:
        for method in ("get", "post"):
            before = fingerprint()
            response = getattr(client, method)(path)
            assert response.status_code in {403, 404, 405}, f"{method.upper()} {path} ({name}): {response.status_code}"
            if response.status_code == 404:
                assert getattr(client, method)(missing).status_code == 404
            assert fingerprint() == before, f"{method.upper()} {path} ({name}) changed something"


@pytest.mark.parametrize("persona", PERSONAS)
def test_hidden_records_answer_like_missing_ones_on_every_api_route(persona: str, org: Any, api: Any,
                                                                    hidden: dict[str, Any]) -> None:
    client = api(getattr(org, persona))
    for method, path, kind in api_routes():
        call = getattr(client, method.lower())
        before = fingerprint()
        response = call(_api_path(path, hidden[kind].pk))
        # 422 only where the body is checked before the record is fetched: still no record data.
        assert response.status_code in {403, 404, 422}, f"{method} {path}: {response.status_code} {response.content[:200]!r}"
        if response.status_code == 404:
            missing = call(_api_path(path, MISSING_ID))
            assert missing.status_code == 404
            assert response.content == missing.content, f"{method} {path}: hidden differs from missing"
        assert hidden[kind].__class__._base_manager.filter(pk=hidden[kind].pk).exists()
        assert fingerprint() == before, f"{method} {path} changed something"


def test_the_owner_reaches_the_same_routes(org: Any, login: Any, api: Any, hidden: dict[str, Any]) -> None:
    """The sweep above proves nothing unless the same routes do serve the records' owner."""
    client = login(org.outsider)
    ok_html = {kind for route, _name, kind in html_routes()
               if client.get(_html_path(route, hidden[kind].pk)).status_code == 200}
    # Every kind but the calendar feed (its only route by id is the revoke POST) has a page.
    assert {"account", "contact"} | ACTIVITY_KINDS - {"feed"} <= ok_html
    api_client = api(org.outsider)
    ok_api = {kind for method, path, kind in api_routes()
              if method == "GET" and api_client.get(_api_path(path, hidden[kind].pk)).status_code == 200}
    # Cost changes and feeds have no GET by id (they are listed by phase, and by user).
    assert {"account", "contact"} | ACTIVITY_KINDS - {"costchange", "feed"} <= ok_api
    ok_history = {kind for kind, label in HISTORY_TYPES.items()
                  if api_client.get(f"{API_PREFIX}/history/{label}/{hidden[kind].pk}").status_code == 200}
    assert ok_history == set(HISTORY_TYPES)


@pytest.mark.parametrize("persona", PERSONAS)
def test_hidden_records_have_no_history_for_the_caller(persona: str, org: Any, api: Any,
                                                       hidden: dict[str, Any]) -> None:
    client = api(getattr(org, persona))
    for kind, label in HISTORY_TYPES.items():
        response = client.get(f"{API_PREFIX}/history/{label}/{hidden[kind].pk}")
        assert response.status_code == 404, f"history of {label}: {response.status_code}"
        assert response.content == client.get(f"{API_PREFIX}/history/{label}/{MISSING_ID}").content
