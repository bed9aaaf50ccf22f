"""The catalogue in a real browser: a manager adds a product with its picture, builds a price
list and edits its prices in place (htmx); a salesperson finds the product by pinyin and sees
its price in the list. No page breaks the Content-Security-Policy."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest

from tests.browser.helpers import clean, expect

pytestmark = pytest.mark.browser


def test_a_manager_builds_the_catalogue_and_prices_it_in_place(browser_org: Any, session_factory: Any,
                                                               tmp_path: Any, settings: Any) -> None:
    from PIL import Image

    from guanxi.sales.models import PriceList, PriceListItem, Product

    settings.MEDIA_ROOT = tmp_path
    picture = tmp_path / "pump.png"
    buffer = io.BytesIO()
    Image.new("RGB", (120, 80), (30, 90, 160)).save(buffer, "PNG")
    picture.write_bytes(buffer.getvalue())

    manager = session_factory()
    page = manager.page
    manager.login("manager")
    manager.goto("/sales/products/new/")
    page.fill("input[name=code]", "HP-100")
    page.fill("input[name=name]", "液压泵")
    page.fill("input[name=model]", "XJ-200")
    page.fill("input[name=list_price]", "1200")
    page.fill("textarea[name=features]", "耐高温\n低噪音")
    page.fill("input[name=packaging]", "木箱")
    page.set_input_files("input[name=picture]", str(picture))
    manager.submit("[data-testid=product-form] button[type=submit]")
    product = Product.objects.get(code="HP-100")
    expect(page.locator("[data-testid=product-features] li")).to_have_count(2)
    expect(page.locator("[data-testid=product-packaging]")).to_have_text("木箱")
    assert page.locator("[data-testid=product-picture]").evaluate("img => img.naturalWidth") == 120
    clean(manager)

    manager.goto("/sales/price-lists/new/")
    page.fill("input[name=name]", "华东经销价")
    page.select_option("select[name=channel]", "distributor")
    manager.submit("[data-testid=pricelist-form] button[type=submit]")
    price_list = PriceList.objects.get(name="华东经销价")

    # Add two quantity breaks without leaving the page.
    url = page.url
    for quantity, price in (("1", "1000"), ("10", "950")):
        page.fill("#price-product", "HP-100")
        page.fill("#price-qty", quantity)
        page.fill("#price-price", price)
        page.click("[data-testid=price-add] button[type=submit]")
        expect(page.locator("[data-testid=price-row]")).to_have_count(int(quantity != "1") + 1)
    assert page.url == url
    # Edit the second in place, then cancel an edit of the first.
    page.locator("[data-testid=price-edit]").nth(1).click()
    page.fill("[data-testid=price-edit-row] input[name=price]", "930")
    page.click("[data-testid=price-save]")
    expect(page.locator("[data-testid=price-value]").nth(1)).to_have_text("930.00")
    assert sorted(PriceListItem.objects.filter(price_list=price_list).values_list("price", flat=True)) == [
        Decimal("930.00"), Decimal("1000.00")]
    page.locator("[data-testid=price-edit]").first.click()
    page.get_by_role("link", name="Cancel").or_(page.get_by_role("link", name="取消")).click()
    expect(page.locator("[data-testid=price-edit-row]")).to_have_count(0)
    clean(manager)

    seller = session_factory()
    seller.login("sales")
    seller.goto("/sales/products/?q=yyb")
    expect(seller.page.locator("[data-testid=product-row]")).to_have_count(1)
    seller.page.click(f"a[href='/sales/products/{product.pk}/']")
    expect(seller.page.locator("[data-testid=price-row]")).to_have_count(2)
    expect(seller.page.locator("[data-testid=product-edit]")).to_have_count(0)
    clean(seller)
