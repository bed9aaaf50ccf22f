"""Rebate pages (R4.5): rules (rows of tiers), deductions, statements (compute, detail,
confirm), the Excel and PDF statement; rights (403), hidden distributors (404), bad input."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation
from openpyxl import load_workbook
from pypdf import PdfReader

from guanxi.core.models import AuditEvent, User
from guanxi.sales.models import RebateDeduction, RebateRule, RebateStatement
from guanxi.sales.services import rebates as services
from guanxi.sales.tests.rebates_targets_helpers import contract, payment, rule

pytestmark = pytest.mark.django_db
YEAR = 2025


@pytest.fixture(autouse=True)
def english(org: Any) -> Any:
    User.objects.update(language="en")
    with translation.override("en"):
        yield


@pytest.fixture
def dealer(org: Any, account_factory: Any) -> Any:
    account = account_factory(org.salesperson, name="杭州顺达贸易有限公司", is_distributor=True)
    payment(contract(account, org.salesperson), "1234567.89", dt.date(YEAR, 6, 1))
    return account


@pytest.fixture
def statement(org: Any, dealer: Any) -> RebateStatement:
    rule(YEAR)
    services.rebate_deduct(actor=org.manager, account=dealer, year=YEAR, amount="1000", reason="=HYPERLINK(\"x\")")
    return services.rebate_compute(actor=org.manager, year=YEAR, account=dealer).statements[0]


def test_rule_pages_are_for_managers(org: Any, login: Any) -> None:
    rule(YEAR)
    assert login(org.salesperson).get("/sales/rebates/rules/").status_code == 403
    page = login(org.manager).get("/sales/rebates/rules/")
    assert page.status_code == 200 and "≥ ¥1,000,000 → 2%" in page.content.decode()


def test_a_manager_sets_a_rule_with_rows_of_tiers(org: Any, login: Any) -> None:
    response = login(org.manager).post("/sales/rebates/rules/new/", {
        "name": "华东经销商返利", "year": "2025", "basis": "received", "grade": "", "target": "2500000",
        "target_rate": "0.5", "points_per_10k": "1", "active": "on",
        "tier_from": ["0", "1000000", "", ""], "tier_rate": ["1", "2", "", ""]})
    assert response.status_code == 302, response.content.decode()[:2000]
    made = RebateRule.objects.get()
    assert made.tiers == [{"from": "0.00", "rate": "1.00"}, {"from": "1000000.00", "rate": "2.00"}]
    assert made.target == Decimal("2500000.00") and made.active


def test_descending_tiers_are_refused_with_a_message_and_nothing_saved(org: Any, login: Any) -> None:
    response = login(org.manager).post("/sales/rebates/rules/new/", {
        "name": "错", "year": "2025", "basis": "received", "tier_from": ["1000000", "0"], "tier_rate": ["2", "1"]})
    assert response.status_code == 422
    assert "must start above the tier before it" in response.content.decode()
    assert 'value="1000000"' in response.content.decode()  # the rows come back as typed
    assert not RebateRule.objects.exists()


def test_deductions_list_is_scoped_and_recording_is_for_managers(org: Any, login: Any, dealer: Any,
                                                                 account_factory: Any) -> None:
    other = account_factory(org.teammate, name="宁波远航商贸有限公司", is_distributor=True)
    services.rebate_deduct(actor=org.manager, account=dealer, year=YEAR, amount="10", reason="窜货甲")
    services.rebate_deduct(actor=org.manager, account=other, year=YEAR, amount="10", reason="窜货乙")
    page = login(org.salesperson).get("/sales/rebates/deductions/").content.decode()
    assert "窜货甲" in page and "窜货乙" not in page
    assert login(org.salesperson).get("/sales/rebates/deductions/new/").status_code == 403
    manager = login(org.manager)
    bad = manager.post("/sales/rebates/deductions/new/", {"account": dealer.pk, "year": "2025", "amount": "0",
                                                          "points": "", "occurred_on": "2025-07-01", "reason": "无"})
    assert bad.status_code == 422 and "Deduct an amount, points, or both." in bad.content.decode()
    made = manager.post("/sales/rebates/deductions/new/", {"account": dealer.pk, "year": "2025", "amount": "88",
                                                           "points": "2", "occurred_on": "2025-07-01",
                                                           "reason": "低价窜货到上海"})
    assert made.status_code == 302
    assert RebateDeduction.objects.filter(account=dealer).count() == 2
    hidden = login(org.south_manager).post("/sales/rebates/deductions/new/", {
        "account": dealer.pk, "year": "2025", "amount": "1", "occurred_on": "2025-07-01", "reason": "x"})
    assert hidden.status_code == 422 and RebateDeduction.objects.filter(account=dealer).count() == 2


def test_a_deduction_is_deleted_to_the_recycle_bin(org: Any, login: Any, dealer: Any) -> None:
    deduction = services.rebate_deduct(actor=org.manager, account=dealer, year=YEAR, amount="10", reason="误录")
    assert login(org.salesperson).post(f"/sales/rebates/deductions/{deduction.pk}/delete/").status_code == 403
    response = login(org.manager).post(f"/sales/rebates/deductions/{deduction.pk}/delete/", {"version": "1"})
    assert response.status_code == 302 and not RebateDeduction.objects.exists()


def test_compute_every_distributor_from_the_list(org: Any, login: Any, dealer: Any) -> None:
    rule(YEAR)
    client = login(org.salesperson)
    response = client.post("/sales/rebates/compute/", {"year": "2025", "account": "", "rule": ""}, follow=True)
    assert response.status_code == 200 and "1 statements computed." in response.content.decode()
    listing = client.get("/sales/rebates/?year=2025").content.decode()
    assert "杭州顺达贸易有限公司" in listing and "¥24,691.36" in listing


def test_a_bad_year_is_a_message_and_changes_nothing(org: Any, login: Any, dealer: Any) -> None:
    rule(YEAR)
    response = login(org.manager).post("/sales/rebates/compute/", {"year": "20x5"}, follow=True)
    assert "Enter a year" in response.content.decode()
    assert not RebateStatement.objects.exists()


def test_statement_detail_shows_the_working_and_hides_from_others(org: Any, login: Any,
                                                                  statement: RebateStatement) -> None:
    page = login(org.salesperson).get(f"/sales/rebates/{statement.pk}/")
    text = page.content.decode()
    assert page.status_code == 200 and "2025 rebate statement — 杭州顺达贸易有限公司" in text
    assert "¥24,691.36" in text and "¥23,691.36" in text and 'data-testid="confirm"' not in text
    assert login(org.outsider).get(f"/sales/rebates/{statement.pk}/").status_code == 404
    assert login(org.teammate).get(f"/sales/rebates/{statement.pk}/").status_code == 404
    assert login(org.service).get(f"/sales/rebates/{statement.pk}/").status_code == 403


def test_only_a_manager_confirms(org: Any, login: Any, statement: RebateStatement) -> None:
    assert login(org.salesperson).post(f"/sales/rebates/{statement.pk}/confirm/",
                                       {"version": statement.version}).status_code == 403
    statement.refresh_from_db()
    assert statement.state == RebateStatement.State.DRAFT
    manager = login(org.manager)
    assert 'data-testid="confirm"' in manager.get(f"/sales/rebates/{statement.pk}/").content.decode()
    manager.post(f"/sales/rebates/{statement.pk}/confirm/", {"version": statement.version})
    statement.refresh_from_db()
    assert statement.state == RebateStatement.State.CONFIRMED and statement.confirmed_by == org.manager


def test_the_statement_workbook_never_holds_a_formula(org: Any, login: Any, statement: RebateStatement) -> None:
    response = login(org.salesperson).get(f"/sales/rebates/{statement.pk}/xlsx/")
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Statement", "Tiers", "Deductions"]
    reasons = [row[1] for row in book["Deductions"].iter_rows(min_row=2, values_only=True)]
    assert reasons == ["'=HYPERLINK(\"x\")"]
    cell = book["Deductions"]["B2"]
    assert cell.data_type == "s"
    values = {row[0]: row[1] for row in book["Statement"].iter_rows(values_only=True) if row and row[0]}
    assert values["Net rebate"] == "¥23,691.36"
    assert AuditEvent.objects.filter(action="export", object_id=str(statement.pk), note="rebate-statement.xlsx").exists()


def test_the_statement_pdf_carries_the_chinese_name_and_figures(org: Any, login: Any,
                                                                statement: RebateStatement) -> None:
    response = login(org.salesperson).get(f"/sales/rebates/{statement.pk}/pdf/")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert "杭州顺达贸易有限公司" in text and "23,691.36" in text and "24,691.36" in text
    assert login(org.outsider).get(f"/sales/rebates/{statement.pk}/pdf/").status_code == 404
