"""The catalogue's REST API: products (with pictures and the price a customer gets), price lists
with their prices, exchange rates — 200/201/204/403/404/409/422 and Idempotency-Key."""

from __future__ import annotations

import io
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


@pytest.fixture(autouse=True)
def _english(org: Any, settings: Any, tmp_path: Any) -> Iterator[None]:
    settings.MEDIA_ROOT = tmp_path
    User.objects.update(language="en")
    with translation.override("en"):
        yield


def body(response: Any) -> Any:
    return response.json()


def snapshot() -> list[Any]:
    return [list(Product.all_objects.values_list("id", "code", "name", "version", "picture", "deleted_at")),
            list(PriceList.all_objects.values_list("id", "name", "version", "deleted_at")),
            list(PriceListItem.objects.values_list("id", "price", "min_quantity", "version")),
            list(ExchangeRate.objects.values_list("id", "rate", "valid_from", "version")),
            AuditEvent.objects.filter(content_type__app_label="sales").count()]


@pytest.fixture
def pump(org: Any) -> Product:
    return services.product_create(actor=org.manager, code="HP-100", name="液压泵", model="XJ-200", list_price="1200")


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 90, 0)).save(out, "PNG")
    return out.getvalue()


# --- Products ------------------------------------------------------------------------------------------
def test_list_search_and_get(org: Any, api: Any, pump: Product) -> None:
    services.product_create(actor=org.manager, code="V-1", name="闸阀", category="阀", active=False)
    client = api(org.service)
    listed = client.get("/api/v1/products")
    assert listed.status_code == 200 and {r["code"] for r in body(listed)["results"]} == {"HP-100", "V-1"}
    assert [r["code"] for r in body(client.get("/api/v1/products", {"q": "yeyabeng"}))["results"]] == ["HP-100"]
    assert [r["code"] for r in body(client.get("/api/v1/products", {"category": "阀"}))["results"]] == ["V-1"]
    assert [r["code"] for r in body(client.get("/api/v1/products", {"active": "true"}))["results"]] == ["HP-100"]
    one = body(client.get(f"/api/v1/products/{pump.pk}"))
    assert one["list_price"] == "1200.00" and one["tax_rate"] == "13.00" and one["picture_url"] is None
    assert one["version"] == 1 and one["unit"] == "件"
    assert client.get("/api/v1/products/987654").status_code == 404


def test_create_with_an_idempotency_key_makes_one_product(org: Any, api: Any) -> None:
    client = api(org.manager)
    payload = {"code": "N-1", "name": "新品", "list_price": "99.90", "features": "轻\n小"}
    first = client.post("/api/v1/products", payload, HTTP_IDEMPOTENCY_KEY="new-product-1")
    again = client.post("/api/v1/products", payload, HTTP_IDEMPOTENCY_KEY="new-product-1")
    assert first.status_code == again.status_code == 201 and body(first)["id"] == body(again)["id"]
    assert again["Idempotent-Replayed"] == "true" and Product.objects.count() == 1
    assert body(first)["list_price"] == "99.90"
    other = client.post("/api/v1/products", {**payload, "name": "别的"}, HTTP_IDEMPOTENCY_KEY="new-product-1")
    assert other.status_code == 422 and Product.objects.count() == 1


def test_create_refuses_bad_input_and_unknown_fields(org: Any, api: Any, pump: Product) -> None:
    client = api(org.manager)
    client.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"  # the messages are asserted in English
    before = snapshot()
    taken = client.post("/api/v1/products", {"code": "HP-100", "name": "重复"})
    assert taken.status_code == 422 and body(taken)["errors"]["code"] == ["This code is already used by another product."]
    bad = client.post("/api/v1/products", {"code": "X", "name": "", "tax_rate": "101", "currency": "ZZZ"})
    assert bad.status_code == 422 and set(body(bad)["errors"]) == {"name", "tax_rate", "currency"}
    sneaky = client.post("/api/v1/products", {"code": "Y", "name": "y", "search_text": "x", "version": 7})
    assert sneaky.status_code == 422 and {"search_text", "version"} <= set(body(sneaky)["errors"])
    assert api(org.salesperson).post("/api/v1/products", {"code": "S", "name": "s"}).status_code == 403
    assert snapshot() == before


def test_patch_needs_the_version_read(org: Any, api: Any, pump: Product) -> None:
    client = api(org.manager)
    done = client.patch(f"/api/v1/products/{pump.pk}", {"version": 1, "packaging": "木箱", "list_price": "1180"})
    assert done.status_code == 200 and body(done)["version"] == 2 and body(done)["packaging"] == "木箱"
    before = snapshot()
    stale = client.patch(f"/api/v1/products/{pump.pk}", {"version": 1, "packaging": "纸箱"})
    assert stale.status_code == 409 and body(stale)["code"] == "conflict"
    assert client.patch(f"/api/v1/products/{pump.pk}", {"packaging": "纸箱"}).status_code == 422  # no version
    assert client.patch(f"/api/v1/products/{pump.pk}", {"version": 2, "name": None}).status_code == 422
    assert client.patch(f"/api/v1/products/{pump.pk}", {"version": 2, "list_price": "-1"}).status_code == 422
    assert api(org.salesperson).patch(f"/api/v1/products/{pump.pk}", {"version": 2, "name": "x"}).status_code == 403
    assert client.patch("/api/v1/products/987654", {"version": 1, "name": "x"}).status_code == 404
    assert snapshot() == before


def test_delete_and_restore(org: Any, api: Any, pump: Product) -> None:
    client = api(org.manager)
    assert api(org.salesperson).delete(f"/api/v1/products/{pump.pk}").status_code == 403
    assert client.delete(f"/api/v1/products/{pump.pk}?version=9").status_code == 409
    assert client.delete(f"/api/v1/products/{pump.pk}?version=1").status_code == 204
    assert client.get(f"/api/v1/products/{pump.pk}").status_code == 404
    assert body(client.get("/api/v1/products"))["results"] == []
    assert api(org.salesperson).post(f"/api/v1/products/{pump.pk}/restore").status_code == 403
    restored = client.post(f"/api/v1/products/{pump.pk}/restore")
    assert restored.status_code == 200 and body(restored)["id"] == pump.pk
    assert client.post(f"/api/v1/products/{pump.pk}/restore").status_code == 422  # not in the bin any more


def test_picture_upload_download_and_removal(org: Any, api: Any, pump: Product) -> None:
    client = api(org.manager)
    fake = client.client.post(f"/api/v1/products/{pump.pk}/picture",
                              {"picture": SimpleUploadedFile("x.png", b"GIF89a not really", content_type="image/png")})
    assert fake.status_code == 422 and "picture" in body(fake)["errors"]
    done = client.client.post(f"/api/v1/products/{pump.pk}/picture",
                              {"picture": SimpleUploadedFile("p.png", png(), content_type="image/png")})
    assert done.status_code == 200 and body(done)["picture_url"] == f"/api/v1/products/{pump.pk}/picture"
    picture = api(org.salesperson).get(f"/api/v1/products/{pump.pk}/picture")
    assert picture.status_code == 200 and picture["Content-Type"] == "image/png"
    assert b"".join(picture.streaming_content).startswith(b"\x89PNG")
    assert client.delete(f"/api/v1/products/{pump.pk}/picture?version=1").status_code == 409
    removed = client.delete(f"/api/v1/products/{pump.pk}/picture")
    assert removed.status_code == 200 and body(removed)["picture_url"] is None
    assert client.get(f"/api/v1/products/{pump.pk}/picture").status_code == 404


def test_the_price_for_an_account(org: Any, api: Any, pump: Product, account_factory: Any) -> None:
    mine = account_factory(org.salesperson, grade="B", province="浙江省")
    theirs = account_factory(org.outsider)
    zhejiang = prices.pricelist_create(actor=org.manager, name="浙江价", province="浙江")
    prices.price_item_add(actor=org.manager, price_list=zhejiang, product=pump, price="1100")
    prices.price_item_add(actor=org.manager, price_list=zhejiang, product=pump, price="1000", min_quantity="20")
    client = api(org.salesperson)
    answer = client.get(f"/api/v1/products/{pump.pk}/price", {"account": mine.pk, "quantity": "20"})
    assert answer.status_code == 200
    data = body(answer)
    assert data["price"] == "1000.00" and data["currency"] == "CNY" and data["price_list"] == zhejiang.pk
    assert data["price_list_name"] == "浙江价" and data["quantity"] == "20"
    plain = body(client.get(f"/api/v1/products/{pump.pk}/price"))
    assert plain["price"] == "1200.00" and plain["price_list"] is None
    past = body(client.get(f"/api/v1/products/{pump.pk}/price", {"account": mine.pk, "on": "2020-01-01"}))
    assert past["on"] == "2020-01-01" and past["price_list"] == zhejiang.pk  # open-ended list
    assert client.get(f"/api/v1/products/{pump.pk}/price", {"account": theirs.pk}).status_code == 404
    assert client.get(f"/api/v1/products/{pump.pk}/price", {"quantity": "0"}).status_code == 422
    assert client.get(f"/api/v1/products/{pump.pk}/price", {"quantity": "abc"}).status_code == 422


# --- Price lists ------------------------------------------------------------------------------------------
def test_price_lists_and_their_prices(org: Any, api: Any, pump: Product) -> None:
    client = api(org.manager)
    created = client.post("/api/v1/price-lists", {"name": "经销价", "channel": "distributor", "priority": 3,
                                                  "valid_from": "2026-01-01"}, HTTP_IDEMPOTENCY_KEY="pl-1")
    assert created.status_code == 201
    pl = body(created)
    assert pl["channel"] == "distributor" and pl["valid_from"] == "2026-01-01" and pl["currency"] == "CNY"
    again = client.post("/api/v1/price-lists", {"name": "经销价", "channel": "distributor", "priority": 3,
                                                "valid_from": "2026-01-01"}, HTTP_IDEMPOTENCY_KEY="pl-1")
    assert body(again)["id"] == pl["id"] and PriceList.objects.count() == 1
    reader = api(org.salesperson)
    assert [r["id"] for r in body(reader.get("/api/v1/price-lists"))["results"]] == [pl["id"]]
    assert reader.get(f"/api/v1/price-lists/{pl['id']}").status_code == 200
    item = client.post(f"/api/v1/price-lists/{pl['id']}/items", {"product": pump.pk, "price": "1000"})
    assert item.status_code == 201 and body(item)["product_code"] == "HP-100" and body(item)["min_quantity"] == "1.000"
    assert client.post(f"/api/v1/price-lists/{pl['id']}/items", {"product": pump.pk, "price": "9"}).status_code == 422
    assert client.post(f"/api/v1/price-lists/{pl['id']}/items", {"product": 987654, "price": "9"}).status_code == 422
    item_id = body(item)["id"]
    changed = client.patch(f"/api/v1/price-lists/{pl['id']}/items/{item_id}", {"version": 1, "price": "990"})
    assert changed.status_code == 200 and body(changed)["price"] == "990.00" and body(changed)["version"] == 2
    assert client.patch(f"/api/v1/price-lists/{pl['id']}/items/{item_id}",
                        {"version": 1, "price": "980"}).status_code == 409
    listed = body(reader.get(f"/api/v1/price-lists/{pl['id']}/items"))
    assert [(r["price"], r["min_quantity"]) for r in listed] == [("990.00", "1.000")]
    other = body(client.post("/api/v1/price-lists", {"name": "别的"}))
    assert client.patch(f"/api/v1/price-lists/{other['id']}/items/{item_id}",
                        {"version": 2, "price": "1"}).status_code == 404  # not this list's price
    assert reader.delete(f"/api/v1/price-lists/{pl['id']}/items/{item_id}").status_code == 403
    assert client.delete(f"/api/v1/price-lists/{pl['id']}/items/{item_id}?version=2").status_code == 204
    assert PriceListItem.objects.count() == 0


def test_price_list_patch_delete_and_restore(org: Any, api: Any) -> None:
    client = api(org.manager)
    pl = body(client.post("/api/v1/price-lists", {"name": "A 级", "grade": "A", "valid_from": "2026-01-01",
                                                  "valid_until": "2026-12-31"}))
    opened = client.patch(f"/api/v1/price-lists/{pl['id']}", {"version": 1, "valid_until": None, "priority": 4})
    assert opened.status_code == 200 and body(opened)["valid_until"] is None and body(opened)["priority"] == 4
    before = snapshot()
    assert client.patch(f"/api/v1/price-lists/{pl['id']}", {"version": 1, "priority": 5}).status_code == 409
    bad = client.patch(f"/api/v1/price-lists/{pl['id']}", {"version": 2, "valid_until": "2025-01-01"})
    assert bad.status_code == 422 and "valid_until" in body(bad)["errors"]
    assert client.patch(f"/api/v1/price-lists/{pl['id']}", {"version": 2, "name": None}).status_code == 422
    assert client.post("/api/v1/price-lists", {"name": "欧元", "currency": "EUR"}).status_code == 422
    assert api(org.salesperson).post("/api/v1/price-lists", {"name": "自定"}).status_code == 403
    assert snapshot() == before
    assert client.delete(f"/api/v1/price-lists/{pl['id']}").status_code == 204
    assert client.get(f"/api/v1/price-lists/{pl['id']}").status_code == 404
    assert client.post(f"/api/v1/price-lists/{pl['id']}/restore").status_code == 200
    assert client.get(f"/api/v1/price-lists/{pl['id']}").status_code == 200


# --- Exchange rates ------------------------------------------------------------------------------------------
def test_exchange_rates(org: Any, api: Any) -> None:
    client = api(org.manager)
    created = client.post("/api/v1/exchange-rates", {"currency": "usd", "rate": "7.123456", "valid_from": "2026-01-01"},
                          HTTP_IDEMPOTENCY_KEY="rate-1")
    assert created.status_code == 201 and body(created)["currency"] == "USD" and body(created)["rate"] == "7.123456"
    assert client.post("/api/v1/exchange-rates", {"currency": "usd", "rate": "7.123456", "valid_from": "2026-01-01"},
                       HTTP_IDEMPOTENCY_KEY="rate-1")["Idempotent-Replayed"] == "true"
    before = snapshot()
    for payload in ({"currency": "USD", "rate": "7.2", "valid_from": "2026-01-01"},
                    {"currency": "QQQ", "rate": "1", "valid_from": "2026-01-01"},
                    {"currency": "EUR", "rate": "0", "valid_from": "2026-01-01"},
                    {"currency": "EUR", "rate": "7"}):
        assert client.post("/api/v1/exchange-rates", payload).status_code == 422, payload
    assert api(org.salesperson).post("/api/v1/exchange-rates", {"currency": "EUR", "rate": "7.8",
                                                                "valid_from": "2026-01-01"}).status_code == 403
    assert snapshot() == before
    rate_id = body(created)["id"]
    listed = body(api(org.salesperson).get("/api/v1/exchange-rates", {"currency": "USD"}))["results"]
    assert [r["id"] for r in listed] == [rate_id]
    fixed = client.patch(f"/api/v1/exchange-rates/{rate_id}", {"version": 1, "rate": "7.2"})
    assert fixed.status_code == 200 and body(fixed)["rate"] == "7.200000"
    assert client.patch(f"/api/v1/exchange-rates/{rate_id}", {"version": 1, "rate": "7.3"}).status_code == 409
    assert client.patch(f"/api/v1/exchange-rates/{rate_id}", {"version": 2, "currency": "EUR"}).status_code == 422
    assert client.patch("/api/v1/exchange-rates/987654", {"version": 1, "rate": "7.3"}).status_code == 404
    assert ExchangeRate.objects.get().rate == Decimal("7.2")
