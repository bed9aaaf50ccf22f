"""S4 — sales never leaks another department's records, whatever the door.

One secret marker is seeded into everything a salesperson of 华南 (another department) keeps
about one of their customers, a distributor: a lead (company, interest, notes), a deal
(name, competitors, next step), a quote (subject, terms, a line's name and specification),
an order (remarks, a line), a contract (title, terms) with an execution step and an
overdue instalment (announced to its owner as a notification), a receipt (bank reference),
a rebate deduction (reason) and the distributor's yearly statement, and a sales target
(notes). 王伟 (the salesperson) and 刘洋 (the manager of 华东) keep look-alike records of
their own, so every page has something to show. Then every read path of sales is walked as
them: the lists with their searches, filters and sort orders, the kanban board, the
forecast, the performance page and targets, the receivables, rebate statements and
deductions, the account's Sales tab and timeline, the desk panels, the product search, the
API lists and details, the documents (quote PDF / Excel / e-mail, rebate statement PDF /
Excel), the list exports (CSV and Excel, read back with openpyxl) and notifications. The
marker must appear in none of them; the same walk as the secret's owner finds it, so the
probe is real.

Filtering by an account or a person one may not see answers exactly like filtering by one
that does not exist (the same status and body), so a filter never tells that a record exists.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from guanxi.core.models import Job, Role, User
from guanxi.sales.models import Contract, Product, RebateStatement
from tests.security.test_access_matrix import MISSING_ID, without_csrf
from tests.security.test_side_doors_activities import body_text as activities_body_text

pytestmark = pytest.mark.django_db

SECRET = "ZK4Q8"
# Every seeded value carries MARK; searches send the bare SECRET, so a page that echoes the
# query (a search box) is not mistaken for a leak.
MARK = f"{SECRET}-"
OWN = "OWN7W"
HIDDEN_ACCOUNT = 7654321
HIDDEN_OWNER = 7654399
CREDIT_CODE = "91330106MA2GL2JX06"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_text(data: bytes) -> str:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True)
    return "\n".join(str(value) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
                     for value in row if value is not None)


def body_text(response: Any) -> str:
    if response.get("Content-Type", "").startswith(XLSX):
        data = b"".join(response.streaming_content) if response.streaming else response.content
        return xlsx_text(data)
    return activities_body_text(response)


def _seed(owner: User, manager: User, account: Any, tag: str, today: dt.date) -> dict[str, Any]:
    """Every sales record about ``account`` (a distributor), each text carrying ``tag``."""
    from guanxi.sales.services import contracts, leads, orders, payments, pipeline, quotes, rebates, targets

    lead = leads.lead_capture(actor=owner, source="manual", data={
        "company": f"公司{tag}l", "person_name": "钱经理", "mobile": "13912345678", "interest": f"意向{tag}i",
        "notes": f"备注{tag}n"})
    deal = pipeline.opportunity_create(actor=owner, account=account, name=f"商机{tag}o", amount=250000,
                                       expected_close=today + dt.timedelta(days=20), competitors=f"竞品{tag}c",
                                       next_step=f"下一步{tag}x")
    quote = quotes.quote_create(actor=owner, account=account, subject=f"报价{tag}q", terms=f"条款{tag}t",
                                lines=[{"name": f"产品{tag}p", "specification": f"规格{tag}s", "quantity": 2,
                                        "unit_price": "1500"}])
    order = orders.order_create(actor=owner, account=account, remarks=f"订单备注{tag}r",
                                lines=[{"name": f"订货{tag}g", "quantity": 3, "unit_price": "1200"}])
    orders.order_confirm(actor=owner, order=order)
    contract = contracts.contract_create(actor=owner, account=account, amount=90000, title=f"合同{tag}h",
                                         terms=f"主要条款{tag}k", ends_on=today + dt.timedelta(days=10))
    plan = contracts.plan_add(actor=owner, contract=contract, due_on=today - dt.timedelta(days=5), amount=90000,
                              description=f"首付款{tag}d")
    contracts.step_add(actor=owner, contract=contract, name=f"安装{tag}z")
    contracts.contract_move(actor=owner, contract=contract, to=Contract.State.ACTIVE,
                            signed_on=today - dt.timedelta(days=30))
    payment = payments.payment_record(actor=owner, contract=Contract.objects.get(pk=contract.pk), amount=20000,
                                      reference=f"回单{tag}b", received_on=today - dt.timedelta(days=1))
    deduction = rebates.rebate_deduct(actor=manager, account=account, year=today.year, amount="100",
                                      reason=f"窜货{tag}v", occurred_on=today)
    rebates.rebate_compute(actor=manager, year=today.year, account=account)
    target = targets.target_create(actor=manager, metric="orders", period_start=today.replace(month=1, day=1),
                                   period_end=today.replace(month=12, day=31), amount=500000, user=owner,
                                   notes=f"目标{tag}m")
    return {"account": account, "lead": lead, "deal": deal, "quote": quote, "order": order, "contract": contract,
            "payment": payment, "target": target, "plan": plan, "deduction": deduction,
            "statement": RebateStatement.objects.get(account=account, year=today.year)}


@pytest.fixture
def seeded(org: Any, account_factory: Any, settings: Any, tmp_path: Any) -> dict[str, Any]:
    from guanxi.sales.services import payments, rebates

    settings.MEDIA_ROOT = tmp_path
    today = timezone.localdate()
    rebates.rebate_rule_create(actor=org.gm, name="年度返利", year=today.year, tiers=[{"from": "0", "rate": "3"}])
    Product.objects.create(code="HY-001", name=f"液压油缸{OWN}", list_price=1000)
    # One's own first: on SQLite a row with an explicit id moves the table's next id past it.
    own_account = account_factory(org.salesperson, name=f"厦门{OWN}贸易有限公司", is_distributor=True)
    own = _seed(org.salesperson, org.manager, own_account, OWN, today)
    owner = User.objects.create_user(id=HIDDEN_OWNER, username="south2", password="Secret-Owner-2026!",
                                     name="郑秘", department=org.south, email="zheng@example.cn")
    owner.roles.set([Role.objects.get(code="salesperson")])
    hidden_account = account_factory(owner, id=HIDDEN_ACCOUNT, name=f"广州{MARK}经销有限公司", is_distributor=True,
                                     credit_code=CREDIT_CODE)
    hidden = _seed(owner, org.south_manager, hidden_account, MARK, today)
    # A lead of one's own for the same company (same credit code): converting it must find the
    # duplicate without telling whose or what it is.
    from guanxi.sales.services import leads

    own["twin"] = leads.lead_capture(actor=org.salesperson, source="manual", data={
        "company": f"广州{OWN}重名公司", "person_name": "黄生", "mobile": "13800002222", "credit_code": CREDIT_CODE})
    payments.receivables_notify(now=timezone.now())  # each owner is told of their overdue instalment
    return {"owner": User.objects.get(pk=HIDDEN_OWNER), "own": own, "hidden": hidden, "today": today}


# --- Reading every door ------------------------------------------------------------------------------
def desk_panels() -> list[str]:
    from guanxi.core import desk

    return [f"/desk/{key}/" for key in desk._panels if key.startswith("sales.")]


def read_paths(s: dict[str, Any]) -> list[str]:
    own = s["own"]
    a, lead, deal, quote = own["account"].pk, own["lead"].pk, own["deal"].pk, own["quote"].pk
    order, contract, payment, statement = own["order"].pk, own["contract"].pk, own["payment"].pk, own["statement"].pk
    year = s["today"].year
    return [
        # the desk, lists, searches, filters and sort orders
        "/", *desk_panels(), "/notifications/",
        "/sales/leads/", f"/sales/leads/?q={SECRET}", "/sales/leads/?state=new", "/sales/leads/?owner=me",
        "/sales/leads/?unassigned=1",
        "/sales/deals/", f"/sales/deals/?q={SECRET}", "/sales/deals/?sort=-amount", "/sales/deals/?sort=expected_close",
        "/sales/deals/?state=open", "/sales/deals/board/", f"/sales/deals/board/?q={SECRET}",
        "/sales/quotes/", f"/sales/quotes/?q={SECRET}", "/sales/quotes/?state=draft",
        "/sales/orders/", f"/sales/orders/?q={SECRET}", "/sales/orders/?state=confirmed",
        "/sales/contracts/", f"/sales/contracts/?q={SECRET}", "/sales/contracts/?overdue=1",
        "/sales/receivables/", f"/sales/receivables/?q={SECRET}", "/sales/receivables/?overdue=1",
        "/sales/rebates/", f"/sales/rebates/?q={SECRET}", f"/sales/rebates/?year={year}", "/sales/rebates/deductions/",
        "/sales/forecast/", "/sales/forecast/?months=12", "/sales/performance/", "/sales/targets/",
        "/sales/products/", f"/sales/products/search/?q={SECRET}", "/sales/products/search/?q=液压",
        # pages of one's own records, where a neighbour could show through
        f"/accounts/{a}/", f"/sales/accounts/{a}/sales/", f"/sales/leads/{lead}/", f"/sales/leads/{lead}/convert/",
        f"/sales/deals/{deal}/", f"/sales/deals/{deal}/edit/", f"/sales/quotes/{quote}/", f"/sales/quotes/{quote}/edit/",
        f"/sales/quotes/{quote}/quote.pdf", f"/sales/quotes/{quote}/quote.xlsx", f"/sales/quotes/{quote}/quote.eml",
        f"/sales/orders/{order}/", f"/sales/contracts/{contract}/", f"/sales/rebates/{statement}/",
        f"/sales/rebates/{statement}/xlsx/", f"/sales/rebates/{statement}/pdf/",
        f"/sales/quotes/new/?account={a}", f"/sales/orders/new/?account={a}", f"/sales/contracts/new/?account={a}",
        f"/sales/deals/new/?account={a}", "/sales/leads/new/",
        # the API
        "/api/v1/leads", f"/api/v1/leads?q={SECRET}", "/api/v1/opportunities", f"/api/v1/opportunities?q={SECRET}",
        "/api/v1/quotes", f"/api/v1/quotes?q={SECRET}", "/api/v1/orders", f"/api/v1/orders?q={SECRET}",
        "/api/v1/contracts", f"/api/v1/contracts?q={SECRET}", "/api/v1/payments", "/api/v1/rebate-statements",
        "/api/v1/rebate-deductions", "/api/v1/targets", "/api/v1/performance", "/api/v1/forecast/pipeline",
        "/api/v1/forecast/orders", f"/api/v1/products?q={SECRET}", "/api/v1/notifications",
        f"/api/v1/leads/{lead}", f"/api/v1/leads/{lead}/account-candidates", f"/api/v1/opportunities/{deal}",
        f"/api/v1/quotes/{quote}", f"/api/v1/quotes/{quote}/lines", f"/api/v1/quotes/{quote}/revisions",
        f"/api/v1/quotes/{quote}/pdf", f"/api/v1/quotes/{quote}/xlsx", f"/api/v1/orders/{order}",
        f"/api/v1/contracts/{contract}", f"/api/v1/contracts/{contract}/plan", f"/api/v1/contracts/{contract}/steps",
        f"/api/v1/payments/{payment}", f"/api/v1/rebate-statements/{statement}",
        f"/api/v1/rebate-statements/{statement}/xlsx", f"/api/v1/rebate-statements/{statement}/pdf",
        f"/api/v1/accounts/{a}", f"/api/v1/history/sales.contract/{contract}",
        f"/api/v1/leads/{own['twin'].pk}/account-candidates", f"/sales/leads/{own['twin'].pk}/convert/",
        f"/sales/leads/{own['twin'].pk}/",
        f"/api/v1/history/sales.opportunity/{deal}",
    ]


def walk(user: User, paths: list[str], login: Any, api: Any, statuses: dict[str, int] | None = None) -> dict[str, str]:
    """GET every path as ``user``; the text of those answering 200 (``statuses`` gets every code;
    a crash counts as 500 and does not stop the walk)."""
    html, rest = login(user), api(user)
    html.raise_request_exception = rest.client.raise_request_exception = False
    seen = {}
    for path in paths:
        response = (rest if path.startswith("/api/") else html).get(path)
        if statuses is not None:
            statuses[path] = response.status_code
        if response.status_code == 200:
            seen[path] = body_text(response)
    return seen


def exports(user: User, login: Any, api: Any, run_queue: Any, capture: Any) -> dict[str, str]:
    """The order, contract and receivables exports in both formats, read back as text."""
    html, rest = login(user), api(user)
    out = {}
    for door in ("/api/v1/orders/export", "/api/v1/contracts/export", "/sales/receivables/export/",
                 "/sales/orders/export/", "/sales/contracts/export/"):
        for fmt in ("csv", "xlsx"):
            before = set(Job.objects.values_list("pk", flat=True))
            with capture(execute=True):
                response = (rest if door.startswith("/api/") else html).post(door, {"format": fmt})
            if response.status_code not in {202, 302}:
                continue
            run_queue()
            (job,) = Job.objects.exclude(pk__in=before)
            assert job.state == "done", job.result
            data = default_storage.open(job.result["file"], "rb").read()
            out[f"{door} {fmt}"] = xlsx_text(data) if fmt == "xlsx" else data.decode("utf-8-sig")
    return out


# What a salesperson may not open at all: the lead hand-out list and rebate statements of the
# team are fine, but nothing answers them with an error.
def _check_refusals(persona: str, statuses: dict[str, int]) -> None:
    broken = {path: code for path, code in statuses.items() if code >= 500}
    assert not broken, f"these doors crash: {broken}"
    refused = {path: code for path, code in statuses.items() if code != 200}
    if persona == "manager":
        assert not refused, f"the manager is refused: {refused}"
    assert set(refused.values()) <= {403}, f"{persona}: {refused}"


@pytest.mark.parametrize("persona", ["salesperson", "manager"])
def test_the_secret_leaks_through_no_read_path(persona: str, org: Any, login: Any, api: Any, seeded: dict[str, Any],
                                               run_queue: Any, django_capture_on_commit_callbacks: Any) -> None:
    user = getattr(org, persona)
    paths = read_paths(seeded)
    statuses: dict[str, int] = {}
    seen = walk(user, paths, login, api, statuses)
    _check_refusals(persona, statuses)
    files = exports(user, login, api, run_queue, django_capture_on_commit_callbacks)
    if persona == "manager":
        assert len(files) == 10, sorted(files)
    seen.update(files)
    leaks = {path for path, text in seen.items() if MARK in text}
    assert not leaks, f"another department's records show through {sorted(leaks)}"
    # The probe is real: one's own look-alikes are on the same doors.
    probes = ["/sales/leads/", "/sales/deals/", "/sales/deals/board/", "/sales/quotes/", "/sales/orders/",
              "/sales/contracts/", "/sales/receivables/", "/api/v1/leads", "/api/v1/opportunities",
              "/api/v1/quotes", "/api/v1/orders", "/api/v1/contracts", "/api/v1/payments",
              f"/sales/accounts/{seeded['own']['account'].pk}/sales/",
              f"/sales/quotes/{seeded['own']['quote'].pk}/quote.pdf",
              f"/sales/quotes/{seeded['own']['quote'].pk}/quote.xlsx"]
    if persona == "salesperson":  # the owner of the overdue instalment is told, not their manager
        probes += ["/notifications/", "/api/v1/notifications"]
    if persona == "manager":
        probes += ["/sales/rebates/", "/api/v1/rebate-statements", "/api/v1/rebate-deductions",
                   f"/sales/rebates/{seeded['own']['statement'].pk}/xlsx/", *files]
    empty = [path for path in probes if OWN not in seen.get(path, "")]
    assert not empty, f"these doors show nothing of one's own: the probe proves nothing there: {empty}"


def test_the_owner_finds_the_secret_on_the_same_paths(org: Any, login: Any, api: Any, seeded: dict[str, Any]) -> None:
    owner, hidden = seeded["owner"], seeded["hidden"]
    paths = ["/sales/leads/", "/sales/deals/", "/sales/deals/board/", "/sales/quotes/", "/sales/orders/",
             "/sales/contracts/", "/sales/receivables/", "/notifications/", "/api/v1/leads", "/api/v1/opportunities",
             "/api/v1/quotes", "/api/v1/orders", "/api/v1/contracts", "/api/v1/payments",
             f"/sales/accounts/{hidden['account'].pk}/sales/", f"/sales/quotes/{hidden['quote'].pk}/quote.pdf",
             f"/sales/quotes/{hidden['quote'].pk}/quote.xlsx", f"/api/v1/contracts/{hidden['contract'].pk}/steps"]
    seen = walk(owner, paths, login, api)
    missing = {path for path in paths if MARK not in seen.get(path, "")}
    assert not missing, f"the probe finds nothing on {sorted(missing)}"


# --- Filters that name what one may not see ---------------------------------------------------------
FILTERS = [
    "/api/v1/leads?owner={u}", "/api/v1/opportunities?owner={u}", "/api/v1/opportunities?account={a}",
    "/api/v1/quotes?owner={u}", "/api/v1/quotes?account={a}", "/api/v1/orders?owner={u}",
    "/api/v1/orders?account={a}", "/api/v1/contracts?owner={u}", "/api/v1/contracts?account={a}",
    "/api/v1/payments?account={a}", "/api/v1/rebate-statements?account={a}", "/api/v1/rebate-deductions?account={a}",
    "/api/v1/targets?user={u}", "/api/v1/performance?user={u}", "/api/v1/products/{p}/price?account={a}",
    "/sales/leads/?owner={u}", "/sales/deals/?owner={u}", "/sales/deals/?account={a}", "/sales/deals/board/?owner={u}",
    "/sales/quotes/?owner={u}", "/sales/quotes/?account={a}", "/sales/orders/?owner={u}", "/sales/orders/?account={a}",
    "/sales/contracts/?owner={u}", "/sales/contracts/?account={a}", "/sales/receivables/?account={a}",
    "/sales/receivables/?owner={u}", "/sales/rebates/?account={a}", "/sales/rebates/deductions/?account={a}",
    "/sales/performance/?user={u}", "/sales/targets/?user={u}", "/sales/accounts/{a}/sales/",
    "/sales/quotes/new/?account={a}", "/sales/orders/new/?account={a}", "/sales/contracts/new/?account={a}",
    "/sales/deals/new/?account={a}", "/sales/products/price/?product={p}&account={a}&quantity=1",
]


def _same(text: str, value: int) -> str:
    """The answer minus what changes on every response (CSRF tokens, CSP nonces) and the id asked for."""
    text = re.sub(r'nonce="[^"]*"', 'nonce=""', without_csrf(text.encode()).decode())
    return text.replace(str(value), "<id>")


@pytest.mark.parametrize("persona", ["salesperson", "manager"])
def test_filtering_by_what_one_may_not_see_answers_like_filtering_by_nothing(persona: str, org: Any, login: Any,
                                                                              api: Any, seeded: dict[str, Any]) -> None:
    html, rest = login(getattr(org, persona)), api(getattr(org, persona))
    product = Product.objects.get(code="HY-001").pk
    differ = []
    for template in FILTERS:
        client = rest if template.startswith("/api/") else html
        hidden = client.get(template.format(a=HIDDEN_ACCOUNT, u=HIDDEN_OWNER, p=product))
        missing = client.get(template.format(a=MISSING_ID, u=MISSING_ID, p=product))
        assert hidden.status_code in {200, 400, 403, 404, 422}, (template, hidden.status_code)
        assert MARK not in body_text(hidden), template
        if hidden.status_code != missing.status_code:
            differ.append(f"{template}: {hidden.status_code} vs {missing.status_code}")
        elif _same(body_text(hidden), HIDDEN_ACCOUNT if "{a}" in template else HIDDEN_OWNER) != \
                _same(body_text(missing), MISSING_ID):
            differ.append(f"{template}: the answer tells the record exists")
    assert not differ, differ


# --- People who see the customer but hold no sales right ---------------------------------------------
def sales_only_values(tag: str) -> list[str]:
    """The texts ``_seed`` writes into sales records only (the account's own name excluded)."""
    return [f"公司{tag}l", f"意向{tag}i", f"商机{tag}o", f"竞品{tag}c", f"下一步{tag}x", f"报价{tag}q", f"条款{tag}t",
            f"产品{tag}p", f"订单备注{tag}r", f"订货{tag}g", f"合同{tag}h", f"主要条款{tag}k", f"首付款{tag}d",
            f"安装{tag}z", f"回单{tag}b", f"窜货{tag}v", f"目标{tag}m"]


@pytest.mark.parametrize("persona", ["admin", "gm"])
def test_the_account_page_shows_sales_only_to_sales_rights(persona: str, org: Any, login: Any, api: Any,
                                                          seeded: dict[str, Any]) -> None:
    """The administrator sees every customer but holds no sales right (ROLE_PERMISSIONS): the
    account page, its timeline, its history and the desk show them none of the customer's
    deals, quotes, orders, contracts or receipts. The general manager (who holds them) sees
    them on the same doors, so the probe is real."""
    h = seeded["hidden"]
    a = h["account"].pk
    histories = [f"/api/v1/history/sales.{label}/{h[key].pk}" for key, label in (
        ("deal", "opportunity"), ("quote", "quote"), ("order", "order"), ("contract", "contract"),
        ("payment", "payment"), ("lead", "lead"), ("deduction", "rebatededuction"))]
    # The Timeline tab loads after the page, from its own route (with or without htmx).
    paths = ["/", f"/accounts/{a}/", f"/accounts/{a}/?tab=timeline", f"/accounts/{a}/timeline/", f"/api/v1/accounts/{a}",
             *histories,
             f"/api/v1/history/customers.account/{a}", f"/sales/accounts/{a}/sales/", "/notifications/",
             f"/accounts/?q={SECRET}", f"/api/v1/accounts?q={SECRET}"]
    statuses: dict[str, int] = {}
    seen = walk(getattr(org, persona), paths, login, api, statuses)
    assert f"/accounts/{a}/" in seen and f"/accounts/{a}/timeline/" in seen, statuses
    found = {path: [v for v in sales_only_values(MARK) if v in text] for path, text in seen.items()}
    found = {path: values for path, values in found.items() if values}
    if persona == "admin":
        assert statuses[f"/sales/accounts/{a}/sales/"] == 403
        readable = {path for path in histories if statuses[path] != 404}
        assert not readable, f"the history of sales records, to someone without a sales right: {sorted(readable)}"
        assert not found, f"sales records show to someone without a sales right: {found}"
    else:
        assert f"商机{MARK}o" in seen[f"/sales/accounts/{a}/sales/"]
        assert all(statuses[path] == 200 for path in histories), statuses


# --- Writes that name what one may not see -----------------------------------------------------------
def creations(s: dict[str, Any], other: dict[str, int]) -> list[tuple[str, dict[str, Any]]]:
    """(path, body) of POSTs on one's own records that point at ``other``'s (hidden or missing)."""
    own = s["own"]
    a, deal, contract = own["account"].pk, own["deal"].pk, own["contract"].pk
    line = [{"name": "液压油缸", "quantity": 1, "unit_price": "100"}]
    return [
        ("/api/v1/opportunities", {"account": other["account"], "name": "新商机"}),
        ("/api/v1/quotes", {"account": other["account"], "subject": "新报价"}),
        ("/api/v1/quotes", {"account": a, "subject": "新报价", "opportunity": other["deal"]}),
        ("/api/v1/orders", {"account": other["account"], "lines": line}),
        ("/api/v1/orders", {"quote": other["quote"]}),
        ("/api/v1/contracts", {"account": other["account"], "amount": "1000", "title": "新合同"}),
        ("/api/v1/contracts", {"order": other["order"]}),
        ("/api/v1/payments", {"contract": other["contract"], "amount": "1"}),
        ("/api/v1/payments", {"contract": contract, "amount": "1", "plan": other["plan"]}),
        ("/api/v1/rebate-deductions", {"account": other["account"], "year": s["today"].year, "reason": "窜货",
                                       "amount": "1"}),
        (f"/api/v1/leads/{own['twin'].pk}/convert", {"account": other["account"]}),
        (f"/api/v1/opportunities/{deal}/move", {"stage": other["stage"]}),
    ]


def _normalised(response: Any, ids: dict[str, int]) -> str:
    text = body_text(response)
    for value in sorted(ids.values(), key=lambda v: -len(str(v))):
        text = text.replace(str(value), "<id>")
    return text


@pytest.mark.parametrize("persona", ["salesperson", "manager"])
def test_writes_naming_what_one_may_not_see_answer_like_missing_and_change_nothing(
        persona: str, org: Any, api: Any, seeded: dict[str, Any]) -> None:
    from guanxi.sales.models import Stage
    from tests.security.conftest import fingerprint

    client = api(getattr(org, persona))
    h = seeded["hidden"]
    # A stage of a pipeline nobody may use is not a hidden record; the move names a missing one.
    hidden = {"account": h["account"].pk, "deal": h["deal"].pk, "quote": h["quote"].pk, "order": h["order"].pk,
              "contract": h["contract"].pk, "plan": h["plan"].pk, "stage": MISSING_ID - 1}
    missing = {key: MISSING_ID for key in hidden}
    assert not Stage.objects.filter(pk__in=[MISSING_ID - 1, MISSING_ID]).exists()
    differ = []
    before = fingerprint()  # moved on only by a call that changed something (a failure)
    for (path, body), (_same_path, missing_body) in zip(creations(seeded, hidden), creations(seeded, missing),
                                                       strict=True):
        answer = client.post(path, body)
        if (after := fingerprint()) != before:
            differ.append(f"POST {path} {body}: changed something ({answer.status_code})")
            before = after
            continue
        other = client.post(path, missing_body)
        assert MARK not in body_text(answer), (path, body)
        if answer.status_code not in {403, 404, 422}:
            differ.append(f"POST {path} {body}: {answer.status_code}")
        elif answer.status_code != other.status_code or _normalised(answer, hidden) != _normalised(other, missing):
            differ.append(f"POST {path} {body}: {answer.status_code} {body_text(answer)[:200]} vs "
                          f"{other.status_code} {body_text(other)[:200]}")
    assert not differ, "\n".join(differ)


def test_converting_a_twin_of_a_hidden_customer_finds_it_without_naming_it(org: Any, api: Any,
                                                                            seeded: dict[str, Any]) -> None:
    """Duplicates are caught at conversion (R4.1) even when the customer is another department's —
    but the refusal says only that one exists, never whose or which."""
    from guanxi.sales.models import Lead
    from tests.security.conftest import fingerprint

    client = api(org.salesperson)
    twin = seeded["own"]["twin"]
    before = fingerprint()
    response = client.post(f"/api/v1/leads/{twin.pk}/convert", {"version": twin.version})
    assert response.status_code in {409, 422}, response.content[:300]
    assert fingerprint() == before
    text = body_text(response)
    assert MARK not in text and str(HIDDEN_ACCOUNT) not in text and "郑秘" not in text, text
    assert Lead.objects.get(pk=twin.pk).state != Lead.State.CONVERTED
