"""The catalogue's pages: products, pictures, the line pickers' JSON, price lists with their
prices edited in place (htmx and plain forms), exchange rates. Pages are read in English."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from PIL import Image

from guanxi.core.models import AuditEvent, User
from guanxi.sales.models import ExchangeRate, PriceList, PriceListItem, Product
from guanxi.sales.services import products as services
from guanxi.sales.services import products_prices as prices

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _english(org: Any, settings: Any, tmp_path: Any) -> Iterator[None]:
    settings.MEDIA_ROOT = tmp_path
    User.objects.update(language="en")
    with translation.override("en"):
        yield


def png(size: tuple[int, int] = (20, 20)) -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, "PNG")
    return SimpleUploadedFile("泵.png", out.getvalue(), content_type="image/png")


def text(response: Any) -> str:
    return response.content.decode()


def snapshot() -> list[Any]:
    return [list(Product.all_objects.values_list("id", "code", "name", "version", "picture", "deleted_at")),
            list(PriceList.all_objects.values_list("id", "name", "version", "deleted_at")),
            list(PriceListItem.objects.values_list("id", "price", "min_quantity", "version")),
            list(ExchangeRate.objects.values_list("id", "rate", "valid_from", "version")),
            AuditEvent.objects.filter(content_type__app_label="sales").count()]


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def pump(org: Any) -> Product:
    return services.product_create(actor=org.manager, code="HP-100", name="液压泵", model="XJ-200", category="泵",
                                   list_price="1200", features="耐高温\n- 低噪音\n", specification="流量 100 L/min",
                                   packaging="木箱", picture=png())


@pytest.fixture
def nobody(db: Any) -> User:
    return User.objects.create_user(username="norole", password="x", language="en")


FORM = {"code": "V-1", "name": "闸阀", "model": "Z41H", "category": "阀", "unit": "台", "list_price": "350.50",
        "currency": "CNY", "tax_rate": "13", "active": "on", "specification": "DN50", "packaging": "纸箱",
        "features": "密封好", "description": ""}


# --- The catalogue ----------------------------------------------------------------------------------
def test_everyone_with_the_catalogue_right_reads_the_list_and_search_works(org: Any, login: Any, pump: Product) -> None:
    for person in (org.salesperson, org.service, org.marketing, org.outsider, org.admin):
        page = login(person).get("/sales/products/")
        assert page.status_code == 200 and "液压泵" in text(page), person
    found = login(org.salesperson).get("/sales/products/", {"q": "yyb"})
    assert "液压泵" in text(found)
    assert "液压泵" not in text(login(org.salesperson).get("/sales/products/", {"q": "闸阀"}))
    assert "液压泵" not in text(login(org.salesperson).get("/sales/products/", {"active": "0"}))
    assert "New product" not in text(found) and "New product" in text(login(org.manager).get("/sales/products/"))


def test_without_the_right_the_pages_are_forbidden(nobody: User, login: Any, pump: Product, client: Any) -> None:
    for url in ("/sales/products/", f"/sales/products/{pump.pk}/", f"/sales/products/{pump.pk}/picture/",
                "/sales/products/search/?q=泵", "/sales/price-lists/", "/sales/rates/"):
        assert login(nobody).get(url).status_code == 403, url
        assert client.get(url).status_code == 302, url  # anonymous: to the sign-in page


def test_the_detail_shows_picture_features_specification_packaging_and_every_lists_price(
        org: Any, login: Any, pump: Product) -> None:
    prices.pricelist_create(actor=org.manager, name="经销价", channel="distributor", priority=2)
    dealer = PriceList.objects.get(name="经销价")
    prices.price_item_add(actor=org.manager, price_list=dealer, product=pump, price="1000")
    prices.price_item_add(actor=org.manager, price_list=dealer, product=pump, price="950", min_quantity="10")
    expired = prices.pricelist_create(actor=org.manager, name="去年价", valid_until=dt.date(2020, 12, 31))
    prices.price_item_add(actor=org.manager, price_list=expired, product=pump, price="1100")
    page = login(org.salesperson).get(f"/sales/products/{pump.pk}/")
    body = text(page)
    assert page.status_code == 200
    assert f'src="/sales/products/{pump.pk}/picture/"' in body
    assert "<li>耐高温</li>" in body and "<li>低噪音</li>" in body
    assert "流量 100 L/min" in body and "木箱" in body and "¥1,200.00" in body
    assert "经销价" in body and "1,000.00" in body and "950.00" in body and "Distributor" in body
    assert "去年价" in body and "not valid today" in body
    assert "Edit" not in body.split("<main")[1].split("<dl")[0]  # no edit button for a salesperson
    assert login(org.salesperson).get("/sales/products/987654/").status_code == 404


def test_a_manager_adds_a_product_with_a_picture(org: Any, login: Any) -> None:
    client = login(org.manager)
    assert client.get("/sales/products/new/").status_code == 200
    response = client.post("/sales/products/new/", {**FORM, "picture": png()})
    product = Product.objects.get(code="V-1")
    assert response.status_code == 302 and response["Location"] == f"/sales/products/{product.pk}/"
    assert product.unit == "台" and product.list_price == Decimal("350.50") and product.picture
    assert "Product 闸阀 added." in messages_of(client.get(response["Location"]))


def test_salespeople_cannot_add_or_change_products(org: Any, login: Any, pump: Product) -> None:
    before = snapshot()
    client = login(org.salesperson)
    assert client.get("/sales/products/new/").status_code == 403
    assert client.post("/sales/products/new/", FORM).status_code == 403
    assert client.post(f"/sales/products/{pump.pk}/edit/", {**FORM, "version": pump.version}).status_code == 403
    assert client.post(f"/sales/products/{pump.pk}/delete/").status_code == 403
    assert snapshot() == before


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"code": "HP-100"}, "code", "This code is already used by another product."),
    ({"code": "A B"}, "code", "A product code cannot contain spaces."),
    ({"currency": "USD"}, "currency", "No exchange rate is set for USD"),
    ({"list_price": "-5"}, "list_price", "Ensure this value is greater than or equal to 0."),
    ({"picture": SimpleUploadedFile("x.png", b"<svg onload=alert(1)>", content_type="image/png")}, "picture",
     "This file is not a picture"),
])
def test_bad_input_shows_messages_and_changes_nothing(org: Any, login: Any, pump: Product, change: dict[str, Any],
                                                      field: str, message: str) -> None:
    before = snapshot()
    response = login(org.manager).post("/sales/products/new/", {**FORM, **change})
    assert response.status_code == 422
    assert message in text(response) and f'data-testid="error-{field}"' in text(response)
    assert "The product was not saved: please correct the errors below." in messages_of(response)
    assert snapshot() == before


def test_an_edit_saves_and_a_stale_one_is_refused(org: Any, login: Any, pump: Product) -> None:
    client = login(org.manager)
    page = client.get(f"/sales/products/{pump.pk}/edit/")
    assert page.status_code == 200 and 'data-testid="current-picture"' in text(page)
    data = {**FORM, "code": "HP-100", "name": "液压泵二代", "version": pump.version}
    assert client.post(f"/sales/products/{pump.pk}/edit/", data).status_code == 302
    pump.refresh_from_db()
    assert pump.name == "液压泵二代" and pump.version == 2
    before = snapshot()
    stale = client.post(f"/sales/products/{pump.pk}/edit/", {**data, "name": "旧页面", "version": 1})
    assert stale.status_code == 409 and "Someone else changed this record" in text(stale)
    assert snapshot() == before
    removed = client.post(f"/sales/products/{pump.pk}/edit/", {**data, "version": 2, "remove_picture": "on"})
    assert removed.status_code == 302 and not Product.objects.get(pk=pump.pk).picture


def test_delete_to_the_recycle_bin_and_restore_from_the_list(org: Any, login: Any, pump: Product) -> None:
    client = login(org.manager)
    response = client.post(f"/sales/products/{pump.pk}/delete/", {"version": pump.version})
    assert response.status_code == 302 and Product.all_objects.get(pk=pump.pk).deleted_at
    assert "液压泵 was moved to the recycle bin." in messages_of(client.get(response["Location"]))
    assert login(org.salesperson).get(f"/sales/products/{pump.pk}/").status_code == 404
    assert "液压泵" not in text(login(org.salesperson).get("/sales/products/?deleted=1"))  # not for salespeople
    binned = client.get("/sales/products/?deleted=1")
    assert "液压泵" in text(binned) and f"/sales/products/{pump.pk}/restore/" in text(binned)
    assert login(org.salesperson).post(f"/sales/products/{pump.pk}/restore/").status_code == 403
    assert client.post(f"/sales/products/{pump.pk}/restore/").status_code == 302
    assert Product.objects.filter(pk=pump.pk).exists()


def test_the_picture_is_served_only_to_signed_in_readers(org: Any, login: Any, pump: Product, client: Any) -> None:
    response = login(org.service).get(f"/sales/products/{pump.pk}/picture/")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    assert client.get(f"/sales/products/{pump.pk}/picture/").status_code == 302
    bare = services.product_create(actor=org.manager, code="NOPIC", name="无图")
    assert login(org.service).get(f"/sales/products/{bare.pk}/picture/").status_code == 404
    assert login(org.service).get("/sales/products/987654/picture/").status_code == 404


# --- The line pickers' JSON ---------------------------------------------------------------------------
def test_product_search_answers_the_line_pickers(org: Any, login: Any, pump: Product) -> None:
    services.product_create(actor=org.manager, code="OFF-1", name="停售液压泵", active=False)
    for n in range(25):
        services.product_create(actor=org.manager, code=f"BULK-{n:02d}", name=f"螺栓{n}")
    rows = json.loads(login(org.salesperson).get("/sales/products/search/", {"q": "yeyabeng"}).content)
    assert [r["code"] for r in rows] == ["HP-100"]  # on sale only
    row = rows[0]
    assert set(row) == {"id", "code", "name", "model", "unit", "list_price", "currency", "tax_rate", "specification",
                        "packaging", "features", "picture_url"}
    assert row["list_price"] == "1200.00" and row["tax_rate"] == "13.00" and row["unit"] == "件"
    assert row["picture_url"] == f"/sales/products/{pump.pk}/picture/" and row["features"].startswith("耐高温")
    assert len(json.loads(login(org.salesperson).get("/sales/products/search/", {"q": "luoshuan"}).content)) == 20


def test_product_price_answers_for_a_visible_account_only(org: Any, login: Any, pump: Product,
                                                          account_factory: Any) -> None:
    mine = account_factory(org.salesperson, grade="A")
    theirs = account_factory(org.outsider, grade="A")
    vip = prices.pricelist_create(actor=org.manager, name="A 级", grade="A")
    prices.price_item_add(actor=org.manager, price_list=vip, product=pump, price="1000")
    prices.price_item_add(actor=org.manager, price_list=vip, product=pump, price="900", min_quantity="10")
    client = login(org.salesperson)
    answer = client.get("/sales/products/price/", {"product": pump.pk, "account": mine.pk, "quantity": "12"})
    assert answer.status_code == 200
    assert json.loads(answer.content) == {"price": "900.00", "currency": "CNY", "price_list": "A 级",
                                          "price_list_id": vip.pk}
    plain = json.loads(client.get("/sales/products/price/", {"product": pump.pk}).content)
    assert plain == {"price": "1200.00", "currency": "CNY", "price_list": None, "price_list_id": None}
    assert client.get("/sales/products/price/", {"product": pump.pk, "account": theirs.pk}).status_code == 404
    assert client.get("/sales/products/price/", {"product": pump.pk, "account": "x"}).status_code == 404
    assert client.get("/sales/products/price/", {"product": 987654, "account": mine.pk}).status_code == 404
    bad = client.get("/sales/products/price/", {"product": pump.pk, "account": mine.pk, "quantity": "-1"})
    assert bad.status_code == 422 and "quantity" in json.loads(bad.content)["errors"]
    assert client.get("/sales/products/price/", {"product": pump.pk, "quantity": "abc"}).status_code == 422
    assert login(org.outsider).get("/sales/products/price/", {"product": pump.pk, "account": theirs.pk}).status_code == 200


# --- Price lists -------------------------------------------------------------------------------------------
PL_FORM = {"name": "华东经销价", "currency": "CNY", "grade": "", "province": "江苏", "channel": "distributor",
           "valid_from": "2026-01-01", "valid_until": "2026-12-31", "priority": "5", "active": "on"}


def test_a_manager_creates_edits_deletes_and_restores_a_price_list(org: Any, login: Any) -> None:
    client = login(org.manager)
    assert client.get("/sales/price-lists/new/").status_code == 200
    created = client.post("/sales/price-lists/new/", PL_FORM)
    price_list = PriceList.objects.get(name="华东经销价")
    assert created.status_code == 302 and price_list.channel == "distributor" and price_list.priority == 5
    listing = text(login(org.salesperson).get("/sales/price-lists/"))
    assert "华东经销价" in listing and "2026-01-01" in listing and "Distributor" in listing
    edit = client.post(f"/sales/price-lists/{price_list.pk}/edit/", {**PL_FORM, "priority": "9", "version": 1})
    assert edit.status_code == 302 and PriceList.objects.get(pk=price_list.pk).priority == 9
    before = snapshot()
    bad = client.post(f"/sales/price-lists/{price_list.pk}/edit/", {**PL_FORM, "valid_until": "2025-01-01",
                                                                    "version": 2})
    assert bad.status_code == 422 and "The end date cannot be before the start date." in text(bad)
    stale = client.post(f"/sales/price-lists/{price_list.pk}/edit/", {**PL_FORM, "version": 1})
    assert stale.status_code == 409
    assert snapshot() == before
    assert client.post(f"/sales/price-lists/{price_list.pk}/delete/", {"version": 2}).status_code == 302
    assert login(org.salesperson).get(f"/sales/price-lists/{price_list.pk}/").status_code == 404
    assert "华东经销价" in text(client.get("/sales/price-lists/?deleted=1"))
    assert client.post(f"/sales/price-lists/{price_list.pk}/restore/").status_code == 302
    assert PriceList.objects.filter(pk=price_list.pk).exists()


def test_salespeople_read_price_lists_but_cannot_change_them(org: Any, login: Any, pump: Product) -> None:
    price_list = prices.pricelist_create(actor=org.manager, name="价目")
    item = prices.price_item_add(actor=org.manager, price_list=price_list, product=pump, price="1000")
    client = login(org.salesperson)
    page = client.get(f"/sales/price-lists/{price_list.pk}/")
    assert page.status_code == 200 and "1,000.00" in text(page) and 'data-testid="price-add"' not in text(page)
    before = snapshot()
    for url, data in [("/sales/price-lists/new/", PL_FORM),
                      (f"/sales/price-lists/{price_list.pk}/prices/", {"product": "HP-100", "price": "1"}),
                      (f"/sales/prices/{item.pk}/edit/", {"price": "1"}),
                      (f"/sales/prices/{item.pk}/delete/", {}),
                      (f"/sales/price-lists/{price_list.pk}/delete/", {})]:
        assert client.post(url, data).status_code == 403, url
    assert snapshot() == before


def test_prices_are_added_edited_and_removed_in_place_with_htmx(org: Any, login: Any, pump: Product) -> None:
    price_list = prices.pricelist_create(actor=org.manager, name="价目")
    client = login(org.manager)
    page = text(client.get(f"/sales/price-lists/{price_list.pk}/"))
    assert 'data-testid="price-add"' in page and "HP-100 液压泵 XJ-200" in page  # the product suggestions
    added = client.post(f"/sales/price-lists/{price_list.pk}/prices/",
                        {"product": "HP-100 液压泵 XJ-200", "min_quantity": "10", "price": "950"}, **HTMX)
    assert added.status_code == 200 and "<html" not in text(added)
    assert 'id="price-items"' in text(added) and "950.00" in text(added) and "Price of 液压泵 added." in text(added)
    item = PriceListItem.objects.get(price_list=price_list)
    assert item.min_quantity == Decimal("10") and item.price == Decimal("950")
    row = client.get(f"/sales/prices/{item.pk}/edit/", **HTMX)
    assert 'data-testid="price-edit-row"' in text(row) and f'form="price-form-{item.pk}"' in text(row)
    saved = client.post(f"/sales/prices/{item.pk}/edit/", {"min_quantity": "10", "price": "930",
                                                           "version": item.version}, **HTMX)
    assert "930.00" in text(saved) and PriceListItem.objects.get(pk=item.pk).price == Decimal("930")
    removed = client.post(f"/sales/prices/{item.pk}/delete/", {"version": item.version + 1}, **HTMX)
    assert "No prices on this list yet." in text(removed) and not PriceListItem.objects.exists()


def test_a_bad_price_shows_its_message_and_changes_nothing(org: Any, login: Any, pump: Product) -> None:
    price_list = prices.pricelist_create(actor=org.manager, name="价目")
    item = prices.price_item_add(actor=org.manager, price_list=price_list, product=pump, price="1000")
    client = login(org.manager)
    before = snapshot()
    unknown = client.post(f"/sales/price-lists/{price_list.pk}/prices/", {"product": "NOPE", "price": "1"}, **HTMX)
    assert "Choose a product of the catalogue." in text(unknown) and 'value="NOPE"' in text(unknown)
    twice = client.post(f"/sales/price-lists/{price_list.pk}/prices/", {"product": "HP-100", "price": "1"}, **HTMX)
    assert "already has a price from this quantity" in text(twice)
    negative = client.post(f"/sales/prices/{item.pk}/edit/", {"min_quantity": "1", "price": "-3",
                                                              "version": item.version}, **HTMX)
    assert "Enter a number of at least 0." in text(negative) and 'data-testid="price-edit-row"' in text(negative)
    stale = client.post(f"/sales/prices/{item.pk}/edit/", {"min_quantity": "1", "price": "3", "version": 99}, **HTMX)
    assert "Someone else changed this record" in text(stale)
    plain = client.post(f"/sales/price-lists/{price_list.pk}/prices/", {"product": "HP-100", "price": "abc"})
    assert plain.status_code == 302 and plain["Location"].endswith("#price-items")
    assert "Enter a number." in messages_of(client.get(plain["Location"]))
    assert snapshot() == before


def test_without_htmx_a_price_row_opens_on_the_page(org: Any, login: Any, pump: Product) -> None:
    price_list = prices.pricelist_create(actor=org.manager, name="价目")
    item = prices.price_item_add(actor=org.manager, price_list=price_list, product=pump, price="1000")
    client = login(org.manager)
    page = client.get(f"/sales/prices/{item.pk}/edit/")
    assert page.status_code == 200 and "<html" in text(page) and 'data-testid="price-edit-row"' in text(page)
    saved = client.post(f"/sales/prices/{item.pk}/edit/", {"min_quantity": "2", "price": "990", "version": 1})
    assert saved.status_code == 302
    assert "Price of 液压泵 saved." in messages_of(client.get(saved["Location"]))
    assert PriceListItem.objects.get(pk=item.pk).min_quantity == Decimal("2")


# --- Exchange rates --------------------------------------------------------------------------------
def test_the_rate_page_lists_rates_and_managers_add_them(org: Any, login: Any) -> None:
    seller = login(org.salesperson).get("/sales/rates/")
    assert seller.status_code == 200 and 'data-testid="rate-form"' not in text(seller)
    assert login(org.salesperson).post("/sales/rates/", {"currency": "USD", "rate": "7.1",
                                                         "valid_from": "2026-01-01"}).status_code == 403
    client = login(org.manager)
    assert 'data-testid="rate-form"' in text(client.get("/sales/rates/"))
    added = client.post("/sales/rates/", {"currency": "usd", "rate": "7.1234", "valid_from": "2026-01-01"})
    assert added.status_code == 302
    rate = ExchangeRate.objects.get()
    assert rate.currency == "USD" and rate.rate == Decimal("7.1234")
    listing = text(client.get("/sales/rates/"))
    assert "7.1234" in listing and "2026-01-01" in listing
    before = snapshot()
    for data, message in [({"currency": "ABC", "rate": "7", "valid_from": "2026-02-01"}, "ISO 4217"),
                          ({"currency": "USD", "rate": "0", "valid_from": "2026-02-01"}, "greater than zero"),
                          ({"currency": "USD", "rate": "7.2", "valid_from": "2026-01-01"}, "already has a rate"),
                          ({"currency": "USD", "rate": "7.2", "valid_from": ""}, "This field is required.")]:
        bad = client.post("/sales/rates/", data)
        assert bad.status_code == 422 and message in text(bad), data
        assert "The rate was not saved: please correct the errors below." in messages_of(bad)
    assert snapshot() == before
    fixed = client.post(f"/sales/rates/{rate.pk}/edit/", {"rate": "7.2", "valid_from": "2026-01-01", "version": 1})
    assert fixed.status_code == 302 and ExchangeRate.objects.get().rate == Decimal("7.2")
    assert login(org.salesperson).get(f"/sales/rates/{rate.pk}/edit/").status_code == 403
    assert client.get("/sales/rates/987654/edit/").status_code == 404
