"""S1 / S2 / S3 — every route that names an account, a contact or an attachment — or a record of
contact and follow-up: an interaction, a follow-up, a care plan, support given, a project, a
phase, a cost change, a calendar feed — or a sales record: a lead, a deal, a quote (and its
lines), an order, a contract (its execution steps and payment plan), a receipt, a rebate
statement or deduction, a sales target — hidden from the caller.

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
    (re.compile(r"^sales/accounts/<int:account_pk>/"), "account"),
    (re.compile(r"^sales/leads/<int:pk>/"), "lead"),
    (re.compile(r"^sales/deals/<int:pk>/"), "opportunity"),
    (re.compile(r"^sales/quotes/<int:pk>/"), "quote"),
    (re.compile(r"^sales/orders/<int:pk>/"), "order"),
    (re.compile(r"^sales/contracts/<int:pk>/"), "contract"),
    (re.compile(r"^sales/contract-steps/<int:pk>/"), "step"),
    (re.compile(r"^sales/payment-plans/<int:pk>/"), "plan"),
    (re.compile(r"^sales/payments/<int:pk>/"), "payment"),
    (re.compile(r"^sales/rebates/<int:pk>/"), "statement"),
    (re.compile(r"^sales/rebates/deductions/<int:pk>/"), "deduction"),
    (re.compile(r"^sales/targets/<int:pk>/"), "target"),
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
    (re.compile(rf"^{API_PREFIX}/leads/\{{(int:)?pk\}}"), "lead"),
    (re.compile(rf"^{API_PREFIX}/opportunities/\{{(int:)?pk\}}"), "opportunity"),
    (re.compile(rf"^{API_PREFIX}/quotes/\{{(int:)?pk\}}"), "quote"),
    (re.compile(rf"^{API_PREFIX}/orders/\{{(int:)?pk\}}"), "order"),
    (re.compile(rf"^{API_PREFIX}/contracts/\{{(int:)?pk\}}"), "contract"),
    (re.compile(rf"^{API_PREFIX}/payments/\{{(int:)?pk\}}"), "payment"),
    (re.compile(rf"^{API_PREFIX}/rebate-statements/\{{(int:)?pk\}}"), "statement"),
    (re.compile(rf"^{API_PREFIX}/rebate-deductions/\{{(int:)?pk\}}"), "deduction"),
    (re.compile(rf"^{API_PREFIX}/targets/\{{(int:)?pk\}}"), "target"),
]
# The route parameters that carry the hidden record's id.
ID_PARAMS = {"pk", "account_pk"}
# Record types with a History tab (GET /api/v1/history/<type>/<id>).
HISTORY_TYPES = {"account": "customers.account", "contact": "customers.contact", "interaction": "activities.interaction",
                 "followup": "activities.followup", "careplan": "activities.careplan",
                 "support": "activities.support", "project": "activities.project", "phase": "activities.phase",
                 "costchange": "activities.costchange", "lead": "sales.lead", "opportunity": "sales.opportunity",
                 "quote": "sales.quote", "order": "sales.order", "contract": "sales.contract",
                 "payment": "sales.payment", "deduction": "sales.rebatededuction"}
MISSING_ID = 987654321


def _kind(route: str, kinds: list[tuple[re.Pattern[str], str]]) -> str | None:
    for pattern, kind in kinds:
        if pattern.match(route):
            return kind
    return None


# Other parts of a route beside the hidden record's id: filled with something the caller may use.
EXTRA_KWARGS = {"other": "own_account", "field": "phone", "fmt": "csv", "number": "1", "line_pk": "child"}
# A record's part named beside it (a quote's line, a contract's step or instalment): filled with
# the hidden record's own part, and also tried under the caller's own record (an IDOR on the part).
CHILD_PARAMS = {"line_pk": "line", "step_pk": "step", "plan_pk": "plan"}


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
        extra = set(re.findall(r"\{(?:\w+:)?(\w+)\}", path)) - {"pk"}
        if kind is not None and extra <= set(CHILD_PARAMS):
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
    out.update(sales_records(org.outsider, org.south_manager, account, "南方"))
    return out


def sales_records(owner: Any, manager: Any, account: Any, tag: str) -> dict[str, Any]:
    """One sales record of each kind on ``account`` (made a distributor), made by its owner (and
    the owner's manager where a manager's right is needed)."""
    import datetime as dt

    from django.utils import timezone

    from guanxi.customers.models import Account
    from guanxi.sales.models import Contract, QuoteLine, RebateRule, RebateStatement
    from guanxi.sales.services import contracts, leads, orders, payments, pipeline, quotes, rebates, targets

    today = timezone.localdate()
    Account.objects.filter(pk=account.pk).update(is_distributor=True)
    account.refresh_from_db()
    lead = leads.lead_capture(actor=owner, source="manual", data={"company": f"{tag}线索公司", "person_name": "何生",
                                                                            "mobile": "13800001111"})
    deal = pipeline.opportunity_create(actor=owner, account=account, name=f"{tag}二期商机", amount=300000)
    quote = quotes.quote_create(actor=owner, account=account, subject=f"{tag}油缸",
                                lines=[{"name": "液压油缸", "quantity": 2, "unit_price": "1000"}])
    order = orders.order_create(actor=owner, account=account, lines=[{"name": "液压油缸", "quantity": 2,
                                                                      "unit_price": "1000"}])
    contract = contracts.contract_create(actor=owner, account=account, amount=100000, title=f"{tag}供货合同")
    step = contracts.step_add(actor=owner, contract=contract, name="到货安装")
    plan = contracts.plan_add(actor=owner, contract=contract, due_on=today + dt.timedelta(days=30), amount=100000)
    contracts.contract_move(actor=owner, contract=contract, to=Contract.State.ACTIVE, signed_on=today)
    payment = payments.payment_record(actor=owner, contract=Contract.objects.get(pk=contract.pk), amount=1000)
    if not RebateRule.objects.filter(year=today.year, active=True, grade="").exists():
        rebates.rebate_rule_create(actor=manager, name="年度返利", year=today.year, tiers=[{"from": "0", "rate": "2"}])
    deduction = rebates.rebate_deduct(actor=manager, account=account, year=today.year, amount="10", reason="窜货")
    rebates.rebate_compute(actor=manager, year=today.year, account=account)
    target = targets.target_create(actor=manager, metric="orders", period_start=today.replace(month=1, day=1),
                                   period_end=today.replace(month=12, day=31), amount=100000, user=owner)
    return {"lead": lead, "opportunity": deal, "quote": quote, "line": QuoteLine.objects.filter(quote=quote).first(),
            "order": order, "contract": Contract.objects.get(pk=contract.pk), "step": step, "plan": plan,
            "payment": payment, "deduction": deduction, "target": target,
            "statement": RebateStatement.objects.get(account=account, year=today.year)}


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


def _html_path(route: str, pk: int, own_account: int = MISSING_ID, child: int = MISSING_ID) -> str:
    """The route with the hidden id for ``pk`` and harmless values for any other part (``child``
    for a part of the record, such as a quote's line)."""
    def fill(match: re.Match[str]) -> str:
        param = match.group(1)
        if param in ID_PARAMS:
            return str(pk)
        value = EXTRA_KWARGS[param]
        return str(own_account) if value == "own_account" else str(child) if value == "child" else value

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", fill, route)


def _api_path(path: str, pk: int, child: int = MISSING_ID) -> str:
    path = re.sub(r"\{(int:)?pk\}", str(pk), path)
    return re.sub(r"\{(?:int:)?(?:line_pk|step_pk|plan_pk)\}", str(child), path)


def _child(route: str, records: dict[str, Any]) -> int:
    """The hidden record's part a route names beside the record (a line, a step, an instalment)."""
    for param, key in CHILD_PARAMS.items():
        if param in route:
            return int(records[key].pk)
    return MISSING_ID


ACTIVITY_KINDS = {"interaction", "followup", "careplan", "support", "project", "phase", "costchange", "feed"}
SALES_KINDS = {"lead", "opportunity", "quote", "order", "contract", "step", "plan", "payment", "statement",
               "deduction", "target"}


def test_the_walker_finds_the_customer_file_routes() -> None:
    html_kinds = {kind for _route, _name, kind in html_routes()}
    api_kinds = {kind for _m, _p, kind in api_routes()}
    assert {"account", "contact"} | ACTIVITY_KINDS | SALES_KINDS <= html_kinds
    assert {"account", "contact"} | ACTIVITY_KINDS | SALES_KINDS - {"step", "plan"} <= api_kinds


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


# Sales routes with an id that names no owned record: the catalogue, price lists and exchange
# rates, pipelines, stages and loss reasons, rebate rules (the company's configuration, read by
# everyone who sells), and the lead import's upload token (a one-off key of the uploader's file,
# checked against the uploader inside the view).
SALES_NOT_RECORDS = {
    "sales:product-detail", "sales:product-edit", "sales:product-delete", "sales:product-restore",
    "sales:product-picture", "sales:pricelist-detail", "sales:pricelist-edit", "sales:pricelist-delete",
    "sales:pricelist-restore", "sales:pricelist-item-add", "sales:pricelist-item-edit", "sales:pricelist-item-delete",
    "sales:rate-edit", "sales:pipeline-edit", "sales:stage-create", "sales:stage-edit", "sales:stage-delete",
    "sales:lossreason-edit", "sales:lossreason-delete", "sales:rebaterule-edit", "sales:rebaterule-delete",
    "sales:lead-import-map",
}
SALES_API_NOT_RECORDS = tuple(f"{API_PREFIX}/{name}/" for name in (
    "products", "price-lists", "exchange-rates", "pipelines", "pipeline-stages", "loss-reasons", "rebate-rules"))
SALES_API = tuple(f"{API_PREFIX}/{name}/" for name in (
    "leads", "opportunities", "quotes", "orders", "contracts", "payments", "rebate-statements", "rebate-deductions",
    "targets", "performance", "forecast", "payment-plans", "contract-steps"))


def test_every_route_naming_a_sales_record_is_walked() -> None:
    """A new sales route with an id in it must be recognised by the walker (or be one of the few
    that name the company's configuration or carry a one-off key instead)."""
    walked = {name for _route, name, _kind in html_routes()}
    for route, name, _callback in django_routes():
        if name.startswith("sales:") and re.search(r"<(?:\w+:)?\w+>", route):
            assert name in walked or name in SALES_NOT_RECORDS, f"{name} ({route}) is not walked"
    walked_api = {f"{m} {p}" for m, p, _kind in api_routes()}
    for key, _op in api_operations():
        path = key.split(" ", 1)[1]
        if "{" in path and path.startswith(SALES_API) and not path.startswith(SALES_API_NOT_RECORDS):
            assert key in walked_api, f"{key} is not walked"


# A salesperson, and a manager whose rights reach further into each view (merge, reassign, rate …).
PERSONAS = ["salesperson", "manager"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_hidden_records_answer_like_missing_ones_on_every_html_route(persona: str, org: Any, login: Any,
                                                                     hidden: dict[str, Any]) -> None:
    client = login(getattr(org, persona))
    own_account = services.account_create(actor=org.salesperson, name="厦门本地客户有限公司")
    own = own_account.pk
    mine = sales_records(org.salesperson, org.manager, own_account, "厦门")
    attempts = []
    for route, name, kind in html_routes():
        child = _child(route, hidden)
        attempts.append((route, name, _html_path(route, hidden[kind].pk, own, child),
                         _html_path(route, MISSING_ID, own, child)))
        if "<int:other>" in route:  # the hidden record in the second place too
            attempts.append((route, name, _html_path(route, own, hidden[kind].pk), _html_path(route, own, MISSING_ID)))
        if child != MISSING_ID:  # the hidden part under one's own record
            attempts.append((route, name, _html_path(route, mine[kind].pk, own, child),
                             _html_path(route, mine[kind].pk, own, MISSING_ID)))
    before = fingerprint()  # unchanged while every call leaves everything as it was
    for _route, name, path, missing in attempts:
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            assert response.status_code in {403, 404, 405}, f"{method.upper()} {path} ({name}): {response.status_code}"
            if response.status_code == 404:
                assert getattr(client, method)(missing).status_code == 404
            assert fingerprint() == before, f"{method.upper()} {path} ({name}) changed something"


@pytest.mark.parametrize("persona", PERSONAS)
def test_hidden_records_answer_like_missing_ones_on_every_api_route(persona: str, org: Any, api: Any,
                                                                    hidden: dict[str, Any]) -> None:
    client = api(getattr(org, persona))
    own_account = services.account_create(actor=org.salesperson, name="厦门本地客户有限公司")
    mine = sales_records(org.salesperson, org.manager, own_account, "厦门")
    attempts = []
    for method, path, kind in api_routes():
        child = _child(path, hidden)
        attempts.append((method, path, _api_path(path, hidden[kind].pk, child), _api_path(path, MISSING_ID, child)))
        if child != MISSING_ID:  # the hidden part under one's own record
            attempts.append((method, path, _api_path(path, mine[kind].pk, child),
                             _api_path(path, mine[kind].pk, MISSING_ID)))
    before = fingerprint()  # unchanged while every call leaves everything as it was
    for method, path, url, missing_url in attempts:
        kind = _kind(path, API_KINDS)
        assert kind is not None
        call = getattr(client, method.lower())
        response = call(url)
        # 422 only where the body is checked before the record is fetched: still no record data.
        assert response.status_code in {403, 404, 422}, f"{method} {url}: {response.status_code} {response.content[:200]!r}"
        if response.status_code == 404:
            missing = call(missing_url)
            assert missing.status_code == 404
            assert response.content == missing.content, f"{method} {url}: hidden differs from missing"
        assert hidden[kind].__class__._base_manager.filter(pk=hidden[kind].pk).exists()
        assert fingerprint() == before, f"{method} {url} changed something"


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


def test_the_owners_manager_reaches_the_sales_routes(org: Any, login: Any, api: Any, hidden: dict[str, Any]) -> None:
    """The sales sweep proves nothing unless the same routes serve whoever sees the records: 华南's
    manager (who also holds the rights a salesperson lacks: rebates, targets) gets a page and an
    API read of every kind."""
    client = login(org.south_manager)
    ok_html = {kind for route, _name, kind in html_routes() if kind in SALES_KINDS
               and client.get(_html_path(route, hidden[kind].pk, child=_child(route, hidden))).status_code == 200}
    # Steps, instalments and receipts have no page of their own (their routes are forms and deletes;
    # GET of a form answers 200 too, so steps and instalments show up through their edit forms).
    assert SALES_KINDS - {"payment"} <= ok_html, SALES_KINDS - ok_html
    api_client = api(org.south_manager)
    ok_api = {kind for method, path, kind in api_routes() if method == "GET" and kind in SALES_KINDS
              and api_client.get(_api_path(path, hidden[kind].pk, _child(path, hidden))).status_code == 200}
    assert SALES_KINDS - {"step", "plan"} <= ok_api, SALES_KINDS - ok_api


@pytest.mark.parametrize("persona", PERSONAS)
def test_hidden_records_have_no_history_for_the_caller(persona: str, org: Any, api: Any,
                                                       hidden: dict[str, Any]) -> None:
    client = api(getattr(org, persona))
    for kind, label in HISTORY_TYPES.items():
        response = client.get(f"{API_PREFIX}/history/{label}/{hidden[kind].pk}")
        assert response.status_code == 404, f"history of {label}: {response.status_code}"
        assert response.content == client.get(f"{API_PREFIX}/history/{label}/{MISSING_ID}").content
