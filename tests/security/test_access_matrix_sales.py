"""S1 / S3 — the access matrix for sales: leads, opportunities, quotes, orders, contracts and
payments (receipts), for every persona × every state of the record × every action.

The rule under test (R4, R10.4, issue 5): deals, quotes, orders and contracts are *owned*
records. A salesperson sees their own (not a teammate's); a team leader their team's; a
sales manager their department's and every department below it; the general manager
everything; an approved, unexpired grant into a department adds that department's records.
Receipts are visible with their contract. Leads are owned the same way, and unassigned leads
are seen by whoever hands leads out (``lead.assign``: managers, the general manager,
marketing). Service agents, marketing (beyond leads) and the administrator hold no sales
right at all (``ROLE_PERMISSIONS``: the administrator configures products and pipelines
only), so the sales pages and API answer them 403 — and a record's history, which is a
read of the record, shows them nothing (404). Writes: whoever sees a record and holds
``<record>.change`` edits it; only sales managers and the general manager delete
(``<record>.delete``, ``payment.delete``); a grant lets one edit, never delete. Records in
the recycle bin, and records of an account in the recycle bin, are gone from list, get,
page, edit and delete for everyone; their history stays readable for whoever could see them.
Only holders of ``sales.export`` export, and an export holds exactly what its caller sees.
Anonymous callers get 401 from the API and the sign-in page from HTML.

Personas: the account matrix's (test_access_matrix.py) plus a team leader (组长 of 华东一组,
whose members are 王伟 and 李娜) and 张敏 (上海办事处, below 华东). States (one account
each, owned by the state's owner, holding one of every sales record):
  own = 王伟's (the salesperson); teammate = 李娜's (same team); sub = 张敏's (a department
  below 华东); other = 周杰's (华南); deleted = 王伟's, every sales record in the recycle bin;
  acctbin = 王伟's, the account in the recycle bin (its sales records not deleted).
Leads have no "acctbin" (a lead needs no account): their sixth state is an unassigned lead.

The tables below are written out by hand from the rule above; they are not computed from
the access engine. READS: list (Y/-: in the API list, and in the API list searched for the
world's tag), get (API), page (HTML detail page; receipts have none), history (the History
tab's API). WRITES: edit (PATCH with the current version), delete (DELETE; receipts are
not edited, only reversed). A hidden record answers 404 with the very body a missing id
gets, and every refused write leaves every table of the customer file, of contact and
follow-up and of sales, the audit log, notifications, grants, jobs and the queue as they
were (S3, ``fingerprint``).

Speed: the world is built once per module; a test covers one persona × one object across
every state (each write in a savepoint rolled back), so a failure lists every cell that
differs from the spec.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.core.files.storage import default_storage
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from conftest import settled
from guanxi.core.models import Job, Role, User
from guanxi.core.services import records
from guanxi.customers.models import Account
from guanxi.sales.models import Contract, Lead, Opportunity, Order, Payment, Quote
from tests.security.conftest import fingerprint
from tests.security.test_access_matrix import (
    FAST_HASHERS,
    MISSING_ID,
    Anonymous,
    _plain,
    outsider_grant_into_east,
    without_csrf,
)

pytestmark = pytest.mark.django_db

PERSONAS = ["salesperson", "teammate", "sub_sales", "leader", "manager", "south_manager", "gm", "service",
            "marketing", "outsider", "admin", "outsider_with_grant", "anonymous"]
STATES = ["own", "teammate", "sub", "other", "deleted", "acctbin"]
LEAD_STATES = ["own", "teammate", "sub", "other", "deleted", "unassigned"]
READ_ACTIONS = ["list", "get", "page", "history"]
WRITE_ACTIONS = ["edit", "delete"]

# Opportunities, quotes, orders, contracts and receipts (one rule for all of them).
DEAL_READS = """
persona              action   own   teammate sub   other deleted acctbin
salesperson          list     Y     -        -     -     -       -
salesperson          get      200   404      404   404   404     404
salesperson          page     200   404      404   404   404     404
salesperson          history  200   404      404   404   200     200

teammate             list     -     Y        -     -     -       -
teammate             get      404   200      404   404   404     404
teammate             page     404   200      404   404   404     404
teammate             history  404   200      404   404   404     404

sub_sales            list     -     -        Y     -     -       -
sub_sales            get      404   404      200   404   404     404
sub_sales            page     404   404      200   404   404     404
sub_sales            history  404   404      200   404   404     404

leader               list     Y     Y        -     -     -       -
leader               get      200   200      404   404   404     404
leader               page     200   200      404   404   404     404
leader               history  200   200      404   404   200     200

manager              list     Y     Y        Y     -     -       -
manager              get      200   200      200   404   404     404
manager              page     200   200      200   404   404     404
manager              history  200   200      200   404   200     200

south_manager        list     -     -        -     Y     -       -
south_manager        get      404   404      404   200   404     404
south_manager        page     404   404      404   200   404     404
south_manager        history  404   404      404   200   404     404

gm                   list     Y     Y        Y     Y     -       -
gm                   get      200   200      200   200   404     404
gm                   page     200   200      200   200   404     404
gm                   history  200   200      200   200   200     200

service              list     403   403      403   403   403     403
service              get      403   403      403   403   403     403
service              page     403   403      403   403   403     403
service              history  404   404      404   404   404     404

marketing            list     403   403      403   403   403     403
marketing            get      403   403      403   403   403     403
marketing            page     403   403      403   403   403     403
marketing            history  404   404      404   404   404     404

outsider             list     -     -        -     Y     -       -
outsider             get      404   404      404   200   404     404
outsider             page     404   404      404   200   404     404
outsider             history  404   404      404   200   404     404

admin                list     403   403      403   403   403     403
admin                get      403   403      403   403   403     403
admin                page     403   403      403   403   403     403
admin                history  404   404      404   404   404     404

outsider_with_grant  list     Y     Y        Y     Y     -       -
outsider_with_grant  get      200   200      200   200   404     404
outsider_with_grant  page     200   200      200   200   404     404
outsider_with_grant  history  200   200      200   200   200     200

anonymous            list     401   401      401   401   401     401
anonymous            get      401   401      401   401   401     401
anonymous            page     login login    login login login   login
anonymous            history  401   401      401   401   401     401
"""

DEAL_WRITES = """
persona              action   own   teammate sub   other deleted acctbin
salesperson          edit     200   404      404   404   404     404
salesperson          delete   403   403      403   403   403     403
teammate             edit     404   200      404   404   404     404
teammate             delete   403   403      403   403   403     403
sub_sales            edit     404   404      200   404   404     404
sub_sales            delete   403   403      403   403   403     403
leader               edit     200   200      404   404   404     404
leader               delete   403   403      403   403   403     403
manager              edit     200   200      200   404   404     404
manager              delete   204   204      204   404   404     404
south_manager        edit     404   404      404   200   404     404
south_manager        delete   404   404      404   204   404     404
gm                   edit     200   200      200   200   404     404
gm                   delete   204   204      204   204   404     404
service              edit     403   403      403   403   403     403
service              delete   403   403      403   403   403     403
marketing            edit     403   403      403   403   403     403
marketing            delete   403   403      403   403   403     403
outsider             edit     404   404      404   200   404     404
outsider             delete   403   403      403   403   403     403
admin                edit     403   403      403   403   403     403
admin                delete   403   403      403   403   403     403
outsider_with_grant  edit     200   200      200   200   404     404
outsider_with_grant  delete   403   403      403   403   403     403
anonymous            edit     401   401      401   401   401     401
anonymous            delete   401   401      401   401   401     401
"""

LEAD_READS = """
persona              action   own   teammate sub   other deleted unassigned
salesperson          list     Y     -        -     -     -       -
salesperson          get      200   404      404   404   404     404
salesperson          page     200   404      404   404   404     404
salesperson          history  200   404      404   404   200     404

teammate             list     -     Y        -     -     -       -
teammate             get      404   200      404   404   404     404
teammate             page     404   200      404   404   404     404
teammate             history  404   200      404   404   404     404

sub_sales            list     -     -        Y     -     -       -
sub_sales            get      404   404      200   404   404     404
sub_sales            page     404   404      200   404   404     404
sub_sales            history  404   404      200   404   404     404

leader               list     Y     Y        -     -     -       -
leader               get      200   200      404   404   404     404
leader               page     200   200      404   404   404     404
leader               history  200   200      404   404   200     404

manager              list     Y     Y        Y     -     -       Y
manager              get      200   200      200   404   404     200
manager              page     200   200      200   404   404     200
manager              history  200   200      200   404   200     200

south_manager        list     -     -        -     Y     -       Y
south_manager        get      404   404      404   200   404     200
south_manager        page     404   404      404   200   404     200
south_manager        history  404   404      404   200   404     200

gm                   list     Y     Y        Y     Y     -       Y
gm                   get      200   200      200   200   404     200
gm                   page     200   200      200   200   404     200
gm                   history  200   200      200   200   200     200

service              list     403   403      403   403   403     403
service              get      403   403      403   403   403     403
service              page     403   403      403   403   403     403
service              history  404   404      404   404   404     404

marketing            list     -     -        -     -     -       Y
marketing            get      404   404      404   404   404     200
marketing            page     404   404      404   404   404     200
marketing            history  404   404      404   404   404     200

outsider             list     -     -        -     Y     -       -
outsider             get      404   404      404   200   404     404
outsider             page     404   404      404   200   404     404
outsider             history  404   404      404   200   404     404

admin                list     403   403      403   403   403     403
admin                get      403   403      403   403   403     403
admin                page     403   403      403   403   403     403
admin                history  404   404      404   404   404     404

outsider_with_grant  list     Y     Y        Y     Y     -       -
outsider_with_grant  get      200   200      200   200   404     404
outsider_with_grant  page     200   200      200   200   404     404
outsider_with_grant  history  200   200      200   200   200     404

anonymous            list     401   401      401   401   401     401
anonymous            get      401   401      401   401   401     401
anonymous            page     login login    login login login   login
anonymous            history  401   401      401   401   401     401
"""

LEAD_WRITES = """
persona              action   own   teammate sub   other deleted unassigned
salesperson          edit     200   404      404   404   404     404
salesperson          delete   403   403      403   403   403     403
teammate             edit     404   200      404   404   404     404
teammate             delete   403   403      403   403   403     403
sub_sales            edit     404   404      200   404   404     404
sub_sales            delete   403   403      403   403   403     403
leader               edit     200   200      404   404   404     404
leader               delete   403   403      403   403   403     403
manager              edit     200   200      200   404   404     200
manager              delete   204   204      204   404   404     204
south_manager        edit     404   404      404   200   404     200
south_manager        delete   404   404      404   204   404     204
gm                   edit     200   200      200   200   404     200
gm                   delete   204   204      204   204   404     204
service              edit     403   403      403   403   403     403
service              delete   403   403      403   403   403     403
marketing            edit     404   404      404   404   404     200
marketing            delete   403   403      403   403   403     403
outsider             edit     404   404      404   200   404     404
outsider             delete   403   403      403   403   403     403
admin                edit     403   403      403   403   403     403
admin                delete   403   403      403   403   403     403
outsider_with_grant  edit     200   200      200   200   404     404
outsider_with_grant  delete   403   403      403   403   403     403
anonymous            edit     401   401      401   401   401     401
anonymous            delete   401   401      401   401   401     401
"""

# Exports (a background job each): which states' records the file holds, or the refusal.
# orders = POST /api/v1/orders/export; contracts = POST /sales/contracts/export/;
# receivables = POST /sales/receivables/export/ (contracts in force with money outstanding).
EXPORTS_TABLE = """
persona              orders                contracts             receivables
salesperson          403                   403                   403
teammate             403                   403                   403
sub_sales            403                   403                   403
leader               403                   403                   403
manager              own,teammate,sub      own,teammate,sub      own,teammate,sub
south_manager        other                 other                 other
gm                   own,teammate,sub,other own,teammate,sub,other own,teammate,sub,other
service              403                   403                   403
marketing            403                   403                   403
outsider             403                   403                   403
admin                403                   403                   403
outsider_with_grant  403                   403                   403
anonymous            401                   login                 login
"""


def _parse(table: str, states: list[str], actions: list[str]) -> dict[tuple[str, str, str], str]:
    lines = [line.split() for line in table.strip().splitlines() if line.strip()]
    assert lines[0][2:] == states
    spec = {}
    for persona, action, *cells in lines[1:]:
        assert len(cells) == len(states), (persona, action)
        spec.update({(persona, action, state): value for state, value in zip(states, cells, strict=True)})
    assert set(spec) == {(p, a, s) for p in PERSONAS for a in actions for s in states}, "the spec has a gap"
    return spec


DEAL_READ_SPEC = _parse(DEAL_READS, STATES, READ_ACTIONS)
DEAL_WRITE_SPEC = _parse(DEAL_WRITES, STATES, WRITE_ACTIONS)
LEAD_READ_SPEC = _parse(LEAD_READS, LEAD_STATES, READ_ACTIONS)
LEAD_WRITE_SPEC = _parse(LEAD_WRITES, LEAD_STATES, WRITE_ACTIONS)


def _parse_exports() -> dict[tuple[str, str], str]:
    lines = [line.split() for line in EXPORTS_TABLE.strip().splitlines() if line.strip()]
    kinds = lines[0][1:]
    spec = {(persona, kind): value for persona, *cells in lines[1:] for kind, value in zip(kinds, cells, strict=True)}
    assert set(spec) == {(p, k) for p in PERSONAS for k in kinds}, "the export spec has a gap"
    return spec


EXPORT_SPEC = _parse_exports()


def test_the_fingerprint_covers_every_table_of_sales() -> None:
    """S3 is only as good as the fingerprint: a table added to the sales app must be added to it."""
    import inspect

    from tests.security import conftest

    source = inspect.getsource(conftest.fingerprint)
    for model in apps.get_app_config("sales").get_models(include_auto_created=True):
        if model._meta.auto_created:
            owner, field = model._meta.auto_created, next(
                f.name for f in model._meta.auto_created._meta.many_to_many if f.remote_field.through is model)
            needle = f"sales.{owner.__name__}.{field}.through"
        else:
            needle = f"sales.{model.__name__}."
        assert needle in source, f"fingerprint() does not cover {model._meta.label}"


# --- The objects and their doors -------------------------------------------------------------------
@dataclass(frozen=True)
class Kind:
    name: str
    model: Any
    api: str  # the API collection; the record is {api}/{pk}
    page: str | None  # the detail page's URL name
    history: str  # registry label
    field: str  # a text field PATCH changes
    value: str

    @property
    def detail(self) -> str:
        return self.api + "/{pk}"


KINDS = {
    "lead": Kind("lead", Lead, "/api/v1/leads", "sales:lead-detail", "sales.lead", "interest", "改过的意向"),
    "opportunity": Kind("opportunity", Opportunity, "/api/v1/opportunities", "sales:opportunity-detail",
                        "sales.opportunity", "next_step", "改过的下一步"),
    "quote": Kind("quote", Quote, "/api/v1/quotes", "sales:quote-detail", "sales.quote", "notes", "改过的备注"),
    "order": Kind("order", Order, "/api/v1/orders", "sales:order-detail", "sales.order", "remarks", "改过的备注"),
    "contract": Kind("contract", Contract, "/api/v1/contracts", "sales:contract-detail", "sales.contract", "terms",
                     "改过的条款"),
    "payment": Kind("payment", Payment, "/api/v1/payments", None, "sales.payment", "", ""),
}


# --- The world -------------------------------------------------------------------------------------
class World:
    def __init__(self, org: Any) -> None:
        self.org = org
        self.tag = f"sx{uuid.uuid4().hex[:8]}"
        self.ids: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}  # kind → state → pk
        self.paid_contract: dict[str, int] = {}  # state → the contract in force with a receipt
        self.actors: dict[str, User | None] = {}
        self.api: dict[str, Any] = {}
        self.browser: dict[str, Client] = {}
        self.missing: dict[tuple[str, str, str], Any] = {}

    def states(self, kind: str) -> list[str]:
        return LEAD_STATES if kind == "lead" else STATES


def _person(username: str, name: str, department: Any) -> User:
    user = User.objects.create_user(username=username, password="Matrix-Pass-2026!", name=name, department=department)
    user.roles.set([Role.objects.get(code="salesperson")])
    return user


def _lead(owner: Any, name: str) -> Lead:
    from guanxi.sales.services import leads

    data = {"company": name, "person_name": "钱经理", "mobile": "13912345678", "interest": "液压油缸"}
    if owner is None:
        return leads.lead_capture(actor=None, source=Lead.Source.FORM, data=data)
    return leads.lead_capture(actor=owner, source=Lead.Source.MANUAL, data=data)


def _fill(w: World, state: str, owner: User, account: Account) -> None:
    """One of every sales record on ``account``, made by its owner through the services."""
    from guanxi.sales.services import contracts, orders, payments, pipeline, quotes

    tag = f"{w.tag}{state}"
    today = timezone.localdate()
    deal = pipeline.opportunity_create(actor=owner, account=account, name=f"商机{tag}", amount=120000,
                                       expected_close=today + dt.timedelta(days=30))
    quote = quotes.quote_create(actor=owner, account=account, subject=f"液压油缸{tag}",
                                lines=[{"name": "液压油缸", "quantity": 2, "unit_price": "1000"}])
    order = orders.order_create(actor=owner, account=account, remarks=f"备注{tag}",
                                lines=[{"name": "液压油缸", "quantity": 2, "unit_price": "1000"}])
    draft = contracts.contract_create(actor=owner, account=account, amount=50000, title=f"合同{tag}")
    paid = contracts.contract_create(actor=owner, account=account, amount=80000, title=f"执行合同{tag}")
    contracts.plan_add(actor=owner, contract=paid, due_on=today + dt.timedelta(days=60), amount=80000,
                       description="全款")
    contracts.contract_move(actor=owner, contract=paid, to=Contract.State.ACTIVE, signed_on=today)
    payment = payments.payment_record(actor=owner, contract=Contract.objects.get(pk=paid.pk), amount=10000,
                                      reference=f"回单{tag}")
    w.ids["opportunity"][state], w.ids["quote"][state], w.ids["order"][state] = deal.pk, quote.pk, order.pk
    w.ids["contract"][state], w.ids["payment"][state] = draft.pk, payment.pk
    w.paid_contract[state] = paid.pk
    w.ids["lead"][state] = _lead(owner, f"线索{tag}公司").pk


def _bin_everything(w: World, manager: User) -> None:
    """The "deleted" state: every sales record of 王伟's second account in the recycle bin."""
    from guanxi.sales.services import payments

    payments.payment_delete(actor=manager, payment=Payment.objects.get(pk=w.ids["payment"]["deleted"]))
    for model, pk in ((Opportunity, w.ids["opportunity"]["deleted"]), (Quote, w.ids["quote"]["deleted"]),
                      (Order, w.ids["order"]["deleted"]), (Contract, w.ids["contract"]["deleted"]),
                      (Contract, w.paid_contract["deleted"]), (Lead, w.ids["lead"]["deleted"])):
        records.record_delete(actor=manager, obj=model._base_manager.get(pk=pk))


@pytest.fixture(scope="module")
def world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[World]:
    import conftest

    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            org = _plain(conftest.org)(None)
            make_account = _plain(conftest.account_factory)(None)
            org.leader = _person("leader", "组长", org.east)
            org.team.leader = org.leader
            org.team.save(update_fields=["leader"])
            w = World(org)
            owners = {"own": org.salesperson, "teammate": org.teammate, "sub": org.sub_sales, "other": org.outsider,
                      "deleted": org.salesperson, "acctbin": org.salesperson}
            for state, owner in owners.items():
                account = make_account(owner, name=f"销售矩阵{state}客户{w.tag}有限公司")
                _fill(w, state, owner, account)
                if state == "acctbin":
                    records.record_delete(actor=org.manager, obj=account)
            _bin_everything(w, org.manager)
            del w.ids["lead"]["acctbin"]
            w.ids["lead"]["unassigned"] = _lead(None, f"线索{w.tag}unassigned公司").pk
            sign_in(org, w)
            yield settled(w)
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def sign_in(org: Any, w: World) -> None:
    import conftest

    api_class = _plain(conftest.api)(None)
    for persona in PERSONAS:
        user = None if persona == "anonymous" else org.outsider if persona.startswith("outsider_with_") \
            else getattr(org, persona)
        w.actors[persona] = user
        if user is None:
            w.api[persona], w.browser[persona] = Anonymous(), Client()
        elif persona.startswith("outsider_with_"):
            w.api[persona], w.browser[persona] = w.api["outsider"], w.browser["outsider"]
        else:
            w.api[persona], w.browser[persona] = api_class(user), Client()
            w.browser[persona].force_login(user)


@pytest.fixture
def persona(request: Any, world: World, db: Any) -> str:
    if request.param == "outsider_with_grant":
        outsider_grant_into_east(world.org, expired=False)
    return str(request.param)


# --- Reads ------------------------------------------------------------------------------------------
def _missing(w: World, persona: str, client: Any, method: str, template: str, body: Any = None) -> Any:
    """The answer to the same call with an id that does not exist (asked once per persona)."""
    key = (persona, method, template)
    if key not in w.missing:
        with transaction.atomic():
            call = getattr(client, method)
            path = template.format(pk=MISSING_ID)
            w.missing[key] = call(path, body) if body is not None else call(path)
            transaction.set_rollback(True)
    return w.missing[key]


def _listed(response: Any) -> set[int]:
    return {row["id"] for row in response.json()["results"]}


def _status(response: Any) -> str:
    if response.status_code == 302 and response["Location"].startswith("/login/"):
        return "login"
    return str(response.status_code)


def _check_api_get(w: World, persona: str, template: str, pk: int, expected: str, where: str) -> list[str]:
    client = w.api[persona]
    response = client.get(template.format(pk=pk))
    if _status(response) != expected:
        return [f"{where}: expected {expected}, got {response.status_code}"]
    if expected == "404":
        missing = _missing(w, persona, client, "get", template)
        if missing.status_code != 404 or missing.json() != response.json():
            return [f"{where}: a hidden record must answer exactly like a missing one"]
    return []


def _check_page(w: World, persona: str, name: str, pk: int, expected: str, where: str) -> list[str]:
    browser = w.browser[persona]
    path = reverse(name, args=[pk])
    response = browser.get(path)
    if _status(response) != expected:
        return [f"{where}: expected {expected}, got {_status(response)}"]
    if expected == "404":
        missing_path = reverse(name, args=[MISSING_ID])
        missing = _missing(w, persona, browser, "get", missing_path.replace(str(MISSING_ID), "{pk}"))
        if without_csrf(response.content).replace(path.encode(), b"<p>") != \
                without_csrf(missing.content).replace(missing_path.encode(), b"<p>"):
            return [f"{where}: a hidden page must look like a missing one"]
    return []


def _check_list(w: World, persona: str, kind: Kind, spec: dict[tuple[str, str, str], str]) -> list[str]:
    client = w.api[persona]
    states = w.states(kind.name)
    ids = w.ids[kind.name]
    diffs = []
    for label, params in (("list", {"page_size": 200}), ("search", {"page_size": 200, "q": w.tag})):
        response = client.get(kind.api, params)
        expected_codes = {spec[persona, "list", s] for s in states} - {"Y", "-"}
        if expected_codes:  # refused altogether
            (code,) = expected_codes
            if str(response.status_code) != code:
                diffs.append(f"{kind.name} {label}: expected {code}, got {response.status_code}")
            continue
        if response.status_code != 200:
            diffs.append(f"{kind.name} {label}: expected 200, got {response.status_code} {response.content[:200]!r}")
            continue
        listed = _listed(response)
        for state in states:
            if (ids[state] in listed) != (spec[persona, "list", state] == "Y"):
                diffs.append(f"{kind.name} {label}/{state}: expected {spec[persona, 'list', state]}")
    return diffs


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
@pytest.mark.parametrize("kind", list(KINDS))
def test_reads(world: World, persona: str, kind: str) -> None:
    k = KINDS[kind]
    spec = LEAD_READ_SPEC if kind == "lead" else DEAL_READ_SPEC
    diffs = _check_list(world, persona, k, spec)
    for state in world.states(kind):
        pk = world.ids[kind][state]
        diffs += _check_api_get(world, persona, k.detail, pk, spec[persona, "get", state], f"{kind} get/{state}")
        if k.page:
            diffs += _check_page(world, persona, k.page, pk, spec[persona, "page", state], f"{kind} page/{state}")
        diffs += _check_api_get(world, persona, f"/api/v1/history/{k.history}/{{pk}}", pk,
                                spec[persona, "history", state], f"{kind} history/{state}")
    assert not diffs, f"{persona}: cells that differ from the spec:\n" + "\n".join(diffs)


# --- Writes -----------------------------------------------------------------------------------------
class Attempts:
    """Writes tried one by one. Accepted ones run in a savepoint rolled back afterwards (so each
    state starts from the world as built); refused ones run as they are, and one fingerprint
    taken before the first and after the last proves that none of them changed anything (S3)."""

    def __init__(self, w: World, persona: str) -> None:
        self.w, self.persona = w, persona
        self.client = w.api[persona]
        self.refused: list[tuple[str, str, int, Any, str, str]] = []
        self.diffs: list[str] = []

    def add(self, method: str, template: str, pk: int, body: Any, expected: str, where: str, accepted: Any) -> None:
        if not expected.startswith("2"):
            self.refused.append((method, template, pk, body, expected, where))
            return
        call = getattr(self.client, method)
        with transaction.atomic():
            response = call(template.format(pk=pk), body) if body is not None else call(template.format(pk=pk))
            if str(response.status_code) != expected:
                self.diffs.append(f"{where}: expected {expected}, got {response.status_code} "
                                  f"{response.content[:160]!r}")
            elif not accepted():
                self.diffs.append(f"{where}: answered {expected} but the record did not change")
            transaction.set_rollback(True)

    def finish(self) -> list[str]:
        if not self.refused:
            return self.diffs
        before = fingerprint()
        for method, template, pk, body, expected, where in self.refused:
            call = getattr(self.client, method)
            response = call(template.format(pk=pk), body) if body is not None else call(template.format(pk=pk))
            if str(response.status_code) != expected:
                self.diffs.append(f"{where}: expected {expected}, got {response.status_code} "
                                  f"{response.content[:160]!r}")
            elif expected == "404":
                missing = _missing(self.w, self.persona, self.client, method, template, body)
                if missing.status_code != 404 or missing.json() != response.json():
                    self.diffs.append(f"{where}: a hidden record must answer exactly like a missing one")
        if fingerprint() != before:
            self.diffs.append(f"a refused write changed something (S3): one of {[r[-1] for r in self.refused]}")
        return self.diffs


def _row(model: Any, pk: int) -> Any:
    return model._base_manager.get(pk=pk)


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
@pytest.mark.parametrize("kind", list(KINDS))
def test_writes(world: World, persona: str, kind: str) -> None:
    k = KINDS[kind]
    spec = LEAD_WRITE_SPEC if kind == "lead" else DEAL_WRITE_SPEC
    attempts = Attempts(world, persona)
    for state in world.states(kind):
        pk = world.ids[kind][state]
        if k.field:  # receipts are reversed, never edited
            body = {"version": _row(k.model, pk).version, k.field: k.value}
            attempts.add("patch", k.detail, pk, body, spec[persona, "edit", state], f"{kind} edit/{state}",
                         lambda pk=pk: getattr(_row(k.model, pk), k.field) == k.value)
        attempts.add("delete", k.detail, pk, None, spec[persona, "delete", state], f"{kind} delete/{state}",
                     lambda pk=pk: _row(k.model, pk).deleted_at is not None)
    diffs = attempts.finish()
    assert not diffs, f"{persona}: cells that differ from the spec:\n" + "\n".join(diffs)


# --- Exports ----------------------------------------------------------------------------------------
EXPORT_DOORS = {
    # kind → (how to ask, which record of a state the file names)
    "orders": ("api", "/api/v1/orders/export", "order"),
    "contracts": ("html", "sales:contract-export", "contract"),
    "receivables": ("html", "sales:receivables-export", "paid"),
}


def _codes(w: World, what: str) -> dict[str, str]:
    """state → the number of the record the export of ``what`` would show for that state."""
    if what == "order":
        return {s: _row(Order, w.ids["order"][s]).code for s in STATES}
    if what == "contract":
        return {s: _row(Contract, w.ids["contract"][s]).code for s in STATES}
    return {s: _row(Contract, w.paid_contract[s]).code for s in STATES}


def _job_text(job: Job) -> str:
    assert job.state == "done", job.result
    return default_storage.open(job.result["file"], "rb").read().decode("utf-8-sig")


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
@pytest.mark.parametrize("what", list(EXPORT_DOORS))
def test_exports_hold_exactly_what_the_caller_sees(world: World, persona: str, what: str, run_queue: Any,
                                                   django_capture_on_commit_callbacks: Any, settings: Any,
                                                   tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path
    door, target, record = EXPORT_DOORS[what]
    expected = EXPORT_SPEC[persona, what]
    before = fingerprint()
    jobs_before = set(Job.objects.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        if door == "api":
            response = world.api[persona].post(target, {"format": "csv"})
        else:
            response = world.browser[persona].post(reverse(target), {"format": "csv"})
    if expected in {"401", "403", "login"}:
        assert _status(response) == expected, response.content[:300]
        assert fingerprint() == before, "a refused export changed something (S3)"
        return
    assert response.status_code in {202, 302}, response.content[:300]
    run_queue()
    (job,) = Job.objects.exclude(pk__in=jobs_before)
    text = _job_text(job)
    rows = list(csv.reader(io.StringIO(text)))
    cells = {cell for row in rows[1:] for cell in row}
    shown = {state for state, code in _codes(world, record).items() if code in cells}
    assert shown == set(expected.split(",")), f"{what} export of {persona}: {sorted(shown)}"
    assert not shown & {"deleted", "acctbin"}


# --- The recycle bin ---------------------------------------------------------------------------------
# Who finds the "deleted" state's records (王伟's, in 华东) in the recycle bin: whoever holds
# recycle.view, the records' <record>.delete right and sees them. The administrator holds
# recycle.view but no sales right: the bin answers, without a sales record.
RECYCLE = {"salesperson": "403", "teammate": "403", "sub_sales": "403", "leader": "403", "manager": "Y",
           "south_manager": "-", "gm": "Y", "service": "403", "marketing": "403", "outsider": "403", "admin": "-",
           "outsider_with_grant": "403", "anonymous": "401"}
assert set(RECYCLE) == set(PERSONAS)


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
def test_the_recycle_bin_lists_deleted_sales_records_to_their_managers_only(world: World, persona: str) -> None:
    expected = RECYCLE[persona]
    response = world.api[persona].get("/api/v1/recycle-bin")
    if expected in {"401", "403"}:
        assert response.status_code == int(expected)
        return
    assert response.status_code == 200, response.content[:300]
    listed = {(row["record_type"], row["id"]) for row in response.json()}
    deleted = {(KINDS[kind].history, world.ids[kind]["deleted"]) for kind in KINDS}
    deleted.add(("sales.contract", world.paid_contract["deleted"]))
    if expected == "Y":
        assert deleted <= listed, deleted - listed
    else:
        assert not deleted & listed, deleted & listed
    sales_rows = {row for row in listed if row[0].startswith("sales.")}
    assert sales_rows <= deleted, f"records of no state of the world: {sales_rows - deleted}"


# --- The team leader and the grant, the way core.access treats them ------------------------------------
def test_the_team_leader_sees_the_team_not_the_department(world: World, db: Any) -> None:
    """Team.leader widens a salesperson's reach to their team's members (core.access): 王伟's and
    李娜's deals, never 张敏's in the sub-department nor 华南's."""
    client = world.api["leader"]
    listed = _listed(client.get("/api/v1/opportunities", {"page_size": 200}))
    ids = world.ids["opportunity"]
    assert {ids["own"], ids["teammate"]} <= listed
    assert not {ids["sub"], ids["other"], ids["deleted"], ids["acctbin"]} & listed


def test_an_expired_grant_adds_nothing(world: World, db: Any) -> None:
    outsider_grant_into_east(world.org, expired=True)
    client = world.api["outsider"]
    listed = _listed(client.get("/api/v1/orders", {"page_size": 200}))
    ids = world.ids["order"]
    assert ids["other"] in listed and not {ids["own"], ids["teammate"], ids["sub"]} & listed
    assert client.get(f"/api/v1/orders/{ids['own']}").status_code == 404


def test_the_world_is_what_the_matrix_assumes(world: World, db: Any) -> None:
    """Guards the spec's premises: the deleted state is in the bin, the account of acctbin too."""
    for kind in KINDS:
        assert _row(KINDS[kind].model, world.ids[kind]["deleted"]).deleted_at is not None, kind
    acctbin = _row(Order, world.ids["order"]["acctbin"])
    assert acctbin.deleted_at is None and Account.all_objects.get(pk=acctbin.account_id).deleted_at is not None
    assert _row(Lead, world.ids["lead"]["unassigned"]).owner_id is None
    paid = _row(Contract, world.paid_contract["own"])
    assert paid.state == Contract.State.ACTIVE and paid.received == Decimal("10000.00")
