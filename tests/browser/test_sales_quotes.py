"""A quote in a real browser (R4.2 acceptance): the salesperson builds a quote from the catalogue
with a discount above the limit and asks for approval; the manager, in another browser,
finds it under "waiting for my approval" and approves it; the salesperson sends it and
downloads its PDF and Excel. No CSP violation, no console error."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest

from tests.browser.helpers import clean, expect

pytestmark = pytest.mark.browser


def test_quote_with_a_discount_that_needs_approval(browser_org: Any, session_factory: Any,
                                                   account_factory: Any) -> None:
    from openpyxl import load_workbook
    from pypdf import PdfReader

    from guanxi.customers.models import Contact
    from guanxi.sales.models import Quote
    from guanxi.sales.services import products

    org = browser_org
    account = account_factory(org.salesperson, name="苏州金鸡湖自动化有限公司", address="苏州工业园区星湖街 328 号")
    Contact.objects.create(account=account, name="顾晓明", title="采购部经理", email="gu@jinjihu.example")
    products.product_create(actor=org.gm, code="QG-100", name="气动夹爪", model="MHZ2-20D", unit="个",
                            specification="缸径 20 mm", packaging="纸盒", list_price=Decimal("860"))

    sales = session_factory(accept_downloads=True)
    page = sales.page
    sales.login("sales")
    sales.goto(f"/sales/quotes/new/?account={account.pk}")
    page.fill("#id_subject", "气动夹爪年度采购")
    page.select_option("#id_contact", label="顾晓明 采购部经理")
    sales.submit("[data-testid=quote-save]")
    expect(page.locator("[data-testid=quote-title]")).to_contain_text("苏州金鸡湖自动化有限公司 气动夹爪年度采购 报价单")

    # A line from the catalogue: search, pick, 20 pieces at 15% off (the limit is 10%).
    page.fill("[data-testid=product-search]", "夹爪")
    page.locator("#product-results [data-product-id]").first.click()
    page.fill("#product-quantity", "20")
    page.fill("[data-testid=product-discount]", "15")
    page.click("[data-testid=add-product-submit]")
    expect(page.locator("[data-testid=line-1]")).to_contain_text("气动夹爪")
    expect(page.locator("[data-testid=quote-total]")).to_contain_text("14,620.00")  # 20 × 860 × 85%
    expect(page.locator("[data-testid=approval-needed]")).to_be_visible()
    expect(page.locator("[data-testid=quote-send]")).to_have_count(0)
    # A free line for the installation, added without leaving the page.
    page.fill("#free-name", "现场安装指导")
    page.fill("#free-price", "500")
    page.click("[data-testid=add-free-submit]")
    expect(page.locator("[data-testid=line-2]")).to_contain_text("现场安装指导")
    page.fill("#approval-note", "年度框架客户，竞品报价更低")
    sales.submit("[data-testid=request-approval]")
    expect(page.locator("[data-testid=approval-pending]")).to_be_visible()
    clean(sales)
    quote = Quote.objects.get()
    assert quote.state == Quote.State.PENDING

    # The manager, in a browser of their own, approves it from "waiting for my approval".
    manager = session_factory()
    manager.login("manager")
    manager.goto("/sales/quotes/?approval=mine")
    row = manager.page.locator(f"[data-testid=quote-row-{quote.pk}]")
    expect(row).to_be_visible()
    manager.submit(row.locator("a").first)
    manager.page.fill("#decision-note", "同意，本季度有效")
    manager.submit("[data-testid=quote-approve]")
    expect(manager.page.locator("[data-testid=approval-given]")).to_contain_text("同意，本季度有效")
    clean(manager)

    # Back to the salesperson: send, then download the PDF and the Excel workbook.
    sales.goto(f"/sales/quotes/{quote.pk}/")
    sales.submit("[data-testid=quote-send]")
    expect(page.locator("[data-testid=revision-1]")).to_be_visible()
    with page.expect_download() as pdf_download:
        page.click("[data-testid=quote-pdf]")
    pdf = open(pdf_download.value.path(), "rb").read()
    assert pdf.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).replace("\n", "")
    assert "苏州金鸡湖自动化有限公司" in text and "气动夹爪" in text and "顾晓明" in text
    with page.expect_download() as xlsx_download:
        page.click("[data-testid=quote-xlsx]")
    xlsx = open(xlsx_download.value.path(), "rb").read()
    assert xlsx.startswith(b"PK")
    assert len(load_workbook(io.BytesIO(xlsx)).sheetnames) == 2
    assert xlsx_download.value.suggested_filename.endswith(".xlsx")
    clean(sales)
    assert Quote.objects.get().state == Quote.State.SENT
