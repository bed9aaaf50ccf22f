"""S9 — CSV / Excel formula injection in every sales export.

Text a spreadsheet would run as a formula — cells starting with ``= + - @``, a tab, a
carriage return, NUL, a space before ``=``, the full-width ``＝`` — is seeded into every
field the sales exports write: the customer's name, an order's remarks and shipping
address, its line, a contract's title and terms, a quote's subject, line, terms and notes,
a rebate deduction's reason, a salesperson's name. Then every export is downloaded — the
order, contract and receivables lists (CSV and Excel, API and HTML doors), the quote's
workbook (both sheets), the rebate statement's workbook, and the performance export where
it exists — and every cell is read back: none may start like a formula (CSV) and no Excel
cell may be a formula or hold text that starts like one. Each payload must still be
there, quoted, so the probe is real.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from guanxi.core.models import Job, User
from guanxi.sales.models import Contract

pytestmark = pytest.mark.django_db

PAYLOADS = ["=1+1", "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1", "\0=1", " =1", "＝1+1", '=HYPERLINK("http://x")',
            "\n=1", "＋1", "－1", "＠SUM(A1)"]
FORMULA_START = ("=", "+", "-", "@", "＝", "＋", "－", "＠")


def stored_payloads() -> list[str]:
    """The payloads the database can hold (PostgreSQL stores no NUL in text)."""
    return [p for p in PAYLOADS if not ("\0" in p and connection.vendor == "postgresql")]


def dangerous(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    return value.lstrip(" ").startswith(FORMULA_START) or value[0] in "\t\r\n\0"


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def seeded(org: Any, account_factory: Any) -> dict[str, Any]:
    """One account per payload, with an order, a draft contract and a contract in force with
    money outstanding; a quote and a distributor's rebate statement carrying every payload."""
    from guanxi.sales.services import contracts, orders, quotes, rebates

    today = timezone.localdate()
    User.objects.filter(pk=org.salesperson.pk).update(name="=王伟+1")
    owner = User.objects.get(pk=org.salesperson.pk)
    accounts, contract_ids = [], []
    for n, payload in enumerate(stored_payloads()):
        account = account_factory(owner, name=f"{payload}公司{n}", address=payload)
        accounts.append(account)
        orders.order_create(actor=owner, account=account, remarks=payload, shipping_address=payload,
                            lines=[{"name": payload or "x", "quantity": 1, "unit_price": "100"}])
        contracts.contract_create(actor=owner, account=account, amount=1000, title=payload, terms=payload)
        paid = contracts.contract_create(actor=owner, account=account, amount=2000, title=f"{payload}执行")
        contracts.plan_add(actor=owner, contract=paid, due_on=today, amount=2000, description=payload)
        contracts.contract_move(actor=owner, contract=paid, to=Contract.State.ACTIVE, signed_on=today)
        contract_ids.append(paid.pk)
    lines = [{"name": p, "model": p, "specification": p, "unit": "台", "quantity": 1, "unit_price": "100",
              "remarks": p} for p in stored_payloads()]
    quote = quotes.quote_create(actor=owner, account=accounts[0], subject=stored_payloads()[0], lines=lines,
                                payment_terms="=1+1", delivery_terms="@SUM(A1)", terms="-1+2", notes="＝1+1")
    distributor = account_factory(owner, name="=经销商+1", is_distributor=True)
    rule = rebates.rebate_rule_create(actor=org.manager, name="=年度返利", year=today.year,
                                      tiers=[{"from": "0", "rate": "2"}])
    for payload in stored_payloads():
        rebates.rebate_deduct(actor=org.manager, account=distributor, year=today.year, amount="1", reason=payload,
                              occurred_on=today)
    rebates.rebate_compute(actor=org.manager, year=today.year, account=distributor, rule=rule)
    from guanxi.sales.models import RebateStatement

    statement = RebateStatement.objects.get(account=distributor, year=today.year)
    return {"quote": quote, "statement": statement, "owner": owner}


# --- Reading files back ------------------------------------------------------------------------------
def csv_cells(content: bytes) -> list[str]:
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    return [cell for row in rows for cell in row]


def xlsx_cells(content: bytes) -> Iterator[Any]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(content))
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            yield from row


def check_xlsx(content: bytes, what: str) -> list[str]:
    cells = list(xlsx_cells(content))
    formulas = [f"{c.parent.title}!{c.coordinate}" for c in cells if c.data_type == "f"]
    assert not formulas, f"{what}: formula cells {formulas}"
    bad = [c.value for c in cells if dangerous(c.value)]
    assert not bad, f"{what}: cells that start like a formula {bad!r}"
    return [c.value for c in cells if isinstance(c.value, str)]


def check_csv(content: bytes, what: str) -> list[str]:
    cells = csv_cells(content)
    bad = [c for c in cells if dangerous(c)]
    assert not bad, f"{what}: cells that start like a formula {bad!r}"
    return cells


def assert_neutralised_payloads_present(values: list[str], what: str, needles: tuple[str, ...] = ("=1+1",)) -> None:
    text = "\n".join(values)
    for needle in needles:
        assert f"'{needle}" in text, f"{what}: the payload {needle!r} is missing — the probe proves nothing"


def job_file(run_queue: Any, jobs_before: set[Any]) -> bytes:
    run_queue()
    (job,) = Job.objects.exclude(pk__in=jobs_before)
    assert job.state == "done", job.result
    return default_storage.open(job.result["file"], "rb").read()


LIST_EXPORTS = [
    ("api", "/api/v1/orders/export"), ("api", "/api/v1/contracts/export"),
    ("html", "sales:order-export"), ("html", "sales:contract-export"), ("html", "sales:receivables-export"),
]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize(("door", "target"), LIST_EXPORTS)
def test_list_exports_neutralise_every_formula(door: str, target: str, fmt: str, org: Any, api: Any, login: Any,
                                               seeded: dict[str, Any], run_queue: Any,
                                               django_capture_on_commit_callbacks: Any) -> None:
    jobs_before = set(Job.objects.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        if door == "api":
            response = api(org.manager).post(target, {"format": fmt})
        else:
            response = login(org.manager).post(reverse(target), {"format": fmt})
    assert response.status_code in {202, 302}, response.content[:300]
    content = job_file(run_queue, jobs_before)
    values = check_xlsx(content, target) if fmt == "xlsx" else check_csv(content, target)
    needles = ("=1+1", "@SUM(A1)", "＝1+1", "=王伟+1")
    assert_neutralised_payloads_present(values, target, needles)


@pytest.mark.parametrize("path", ["html", "api"])
def test_the_quote_workbook_neutralises_every_formula(path: str, org: Any, login: Any, api: Any,
                                                      seeded: dict[str, Any]) -> None:
    quote = seeded["quote"]
    if path == "html":
        response = login(org.salesperson).get(reverse("sales:quote-xlsx", args=[quote.pk]))
    else:
        response = api(org.salesperson).get(f"/api/v1/quotes/{quote.pk}/xlsx")
    assert response.status_code == 200, response.content[:300]
    content = b"".join(response.streaming_content) if response.streaming else response.content
    values = check_xlsx(content, "quote workbook")
    assert_neutralised_payloads_present(values, "quote workbook", ("=1+1", "@SUM(A1)", "-1+2", "＝1+1"))


@pytest.mark.parametrize("path", ["html", "api"])
def test_the_rebate_statement_workbook_neutralises_every_formula(path: str, org: Any, login: Any, api: Any,
                                                                 seeded: dict[str, Any]) -> None:
    statement = seeded["statement"]
    if path == "html":
        response = login(org.manager).get(reverse("sales:rebate-xlsx", args=[statement.pk]))
    else:
        response = api(org.manager).get(f"/api/v1/rebate-statements/{statement.pk}/xlsx")
    assert response.status_code == 200, response.content[:300]
    content = b"".join(response.streaming_content) if response.streaming else response.content
    values = check_xlsx(content, "rebate statement")
    assert_neutralised_payloads_present(values, "rebate statement", ("=1+1", "@SUM(A1)", "=经销商+1"))


def test_the_performance_export_neutralises_every_formula(org: Any, login: Any, seeded: dict[str, Any]) -> None:
    """The appraisal export of the performance page (R11.2): the salesperson's name is a payload."""
    try:
        path = reverse("sales:performance-export")
    except NoReverseMatch:
        pytest.fail("sales:performance-export does not exist: the performance page must be exportable (issue 5, 9.)")
    client = login(org.manager)
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    content = b"".join(response.streaming_content) if response.streaming else response.content
    is_xlsx = response["Content-Type"].startswith("application/vnd.openxmlformats")
    values = check_xlsx(content, "performance") if is_xlsx else check_csv(content, "performance")
    assert_neutralised_payloads_present(values, "performance", ("=王伟+1",))
