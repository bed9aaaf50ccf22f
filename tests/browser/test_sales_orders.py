"""Orders, contracts and receipts in a real browser (issue 5 acceptance): an approved quote
becomes an order, the order is confirmed, a contract is made from it with a payment plan of
two instalments, the contract is activated, a partial receipt is recorded, and the
outstanding receivable shows on the contract and, with the customer's cumulative totals, on
the receivables page. No console errors, no CSP violations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from tests.browser.helpers import clean, expect

pytestmark = pytest.mark.browser


def day(offset: int) -> str:
    return (timezone.localdate() + dt.timedelta(days=offset)).isoformat()


def test_quote_to_order_to_contract_with_a_plan_and_a_partial_receipt(browser_org: Any, session: Any,
                                                                      account_factory: Any) -> None:
    from guanxi.sales.models import Contract, Order, PaymentPlan, Product, Quote
    from guanxi.sales.selectors.quotes import approvers_for
    from guanxi.sales.services import quotes as quote_services

    org = browser_org
    account = account_factory(org.salesperson, name="苏州精工机械有限公司", province="江苏")
    lathe = Product.objects.create(code="CK-6140", name="数控车床", model="CK6140", unit="台",
                                   list_price=Decimal("1000.00"))
    # An approved quote, made through the services: a 15 % discount is above the limit.
    quote = quote_services.quote_create(actor=org.salesperson, account=account, subject="数控车床", lines=[
        {"product": lathe.pk, "quantity": "2", "discount": "15"},
        {"name": "安装调试", "unit": "次", "quantity": "1", "unit_price": "500", "tax_rate": "6"}])
    quote_services.quote_request_approval(actor=org.salesperson, quote=quote)
    quote_services.quote_decide(actor=approvers_for(org.salesperson)[0], quote=quote, approve=True)
    quote.refresh_from_db()
    assert (quote.state, quote.total) == (Quote.State.APPROVED, Decimal("2200.00"))

    session.login("sales")
    page = session.page

    # The quote becomes an order, which is confirmed.
    session.goto(f"/sales/quotes/{quote.pk}/")
    session.submit("[data-testid=quote-order]")
    order = Order.objects.get(quote=quote)
    expect(page.locator("[data-testid=order-code]")).to_have_text(order.code)
    expect(page.locator("[data-testid=order-total]")).to_have_text("¥2,200.00")
    expect(page.locator("[data-testid=order-line]")).to_have_count(2)
    session.submit("[data-testid=order-confirm]")
    order.refresh_from_db()
    assert order.state == Order.State.CONFIRMED

    # A contract from the order, with a plan of two instalments; then it is signed.
    session.submit("[data-testid=contract-from-order]")
    contract = Contract.objects.get(order=order)
    expect(page.locator("[data-testid=party-a]")).to_have_text("苏州精工机械有限公司")
    expect(page.locator("[data-testid=contract-amount]")).to_have_text("¥2,200.00")
    plan_form = page.locator("[data-testid=plan-form]")
    plan_form.locator("input[name=description]").fill("预付款")
    plan_form.locator("input[name=due_on]").fill(day(-5))
    plan_form.locator("input[name=amount]").fill("1200")
    session.submit("[data-testid=plan-add]")
    page.click("[data-testid=plan-new]")
    plan_form.locator("input[name=description]").fill("尾款")
    plan_form.locator("input[name=due_on]").fill(day(30))
    plan_form.locator("input[name=amount]").fill("1000")
    session.submit("[data-testid=plan-add]")
    expect(page.locator("[data-testid=plan-row]")).to_have_count(2)
    expect(page.locator("[data-testid=plan-total]")).to_have_text("¥2,200.00")
    page.fill("[data-testid=activate-signed-on]", day(-6))
    session.submit("[data-testid=contract-activate]")
    contract.refresh_from_db()
    assert contract.state == Contract.State.ACTIVE

    # A partial receipt: 800 of the 1,200 due five days ago.
    receipt = page.locator("[data-testid=receipt-form]")
    receipt.locator("input[name=amount]").fill("800")
    receipt.locator("input[name=reference]").fill("工行 20260301")
    session.submit("[data-testid=receipt-save]")
    expect(page.locator("[data-testid=receipt-row]")).to_have_count(1)
    expect(page.locator("[data-testid=contract-received]")).to_have_text("¥800.00")
    expect(page.locator("[data-testid=contract-outstanding]")).to_have_text("¥1,400.00")
    expect(page.locator("[data-testid=contract-overdue]")).to_have_text("¥400.00")
    expect(page.locator("[data-testid=plan-overdue]")).to_have_count(1)
    expect(page.locator("[data-testid=fig-receivable]")).to_have_text("¥1,400.00")
    assert [p.received for p in PaymentPlan.objects.filter(contract=contract).order_by("due_on")] == [
        Decimal("800.00"), Decimal("0.00")]
    clean(session)

    # The receivables page: the contract flagged overdue, and the customer's cumulative totals.
    session.goto(f"/sales/receivables/?account={account.pk}")
    row = page.locator("[data-testid=receivable-row]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(contract.code)
    expect(row.locator("[data-testid=receivable-outstanding]")).to_have_text("¥1,400.00")
    expect(row.locator("[data-testid=receivable-overdue]")).to_contain_text("¥400.00")
    expect(page.locator("[data-testid=sum-outstanding]")).to_have_text("¥1,400.00")
    expect(page.locator("[data-testid=fig-ordered]")).to_have_text("¥2,200.00")
    expect(page.locator("[data-testid=fig-contracted]")).to_have_text("¥2,200.00")
    expect(page.locator("[data-testid=fig-received]")).to_have_text("¥800.00")
    expect(page.locator("[data-testid=fig-receivable]")).to_have_text("¥1,400.00")
    expect(page.locator("[data-testid=fig-overdue]")).to_have_text("¥400.00")
    clean(session)


def test_a_new_order_with_a_catalogue_line_on_a_phone(browser_org: Any, session_factory: Any,
                                                      account_factory: Any) -> None:
    """The line editor adds a row with its button and takes a typed product code."""
    from guanxi.sales.models import Order
    from guanxi.sales.services.products import product_create

    account = account_factory(browser_org.salesperson, name="杭州精密仪器有限公司")
    product_create(actor=browser_org.admin, code="VF-9", name="变频器", model="VF9", unit="台",
                   list_price=Decimal("300.00"))
    session = session_factory(viewport={"width": 390, "height": 844})
    session.login("sales")
    page = session.page
    session.goto(f"/sales/orders/new/?account={account.pk}")
    rows = page.locator("[data-testid=line-row]")
    expect(rows).to_have_count(3)
    page.click("[data-testid=line-add]")
    expect(rows).to_have_count(4)
    code = rows.nth(0).locator("input[name$=-product]")
    code.press_sequentially("变频")  # the catalogue suggests the product by its name
    expect(page.locator("#product-options option[value='VF-9']")).to_have_count(1)
    code.fill("VF-9")
    rows.nth(0).locator("input[name$=-quantity]").fill("2")
    rows.nth(3).locator("input[name$=-name]").fill("运费")
    rows.nth(3).locator("input[name$=-quantity]").fill("1")
    rows.nth(3).locator("input[name$=-unit_price]").fill("40")
    session.submit("form[data-testid=order-form] button[type=submit]")
    order = Order.objects.get(account=account)
    expect(page.locator("[data-testid=order-total]")).to_have_text("¥640.00")
    assert [line.name for line in order.lines.order_by("position")] == ["变频器", "运费"]
    clean(session)
