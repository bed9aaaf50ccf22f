"""The catalogue's services: products, pictures, price lists and their prices, exchange rates.
Every refused write is checked for its message and for nothing having changed."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from PIL import Image

from guanxi.core import registry
from guanxi.core.errors import Conflict, Forbidden, Invalid
from guanxi.core.models import AuditEvent
from guanxi.core.selectors import history_for
from guanxi.sales.models import ExchangeRate, PriceList, PriceListItem, Product
from guanxi.sales.selectors import products as reads
from guanxi.sales.services import common
from guanxi.sales.services import products as services
from guanxi.sales.services import products_prices as prices

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(org: Any, settings: Any, tmp_path: Any) -> Iterator[None]:
    settings.MEDIA_ROOT = tmp_path
    with translation.override("en"):
        yield


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (40, 30), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else 128).save(out, fmt)
    return out.getvalue()


def upload(name: str, content: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def snapshot() -> list[Any]:
    return [list(Product.all_objects.values_list("id", "code", "name", "version", "picture", "deleted_at")),
            list(PriceList.all_objects.values_list("id", "name", "version", "deleted_at")),
            list(PriceListItem.objects.values_list("id", "price", "min_quantity", "version")),
            list(ExchangeRate.objects.values_list("id", "currency", "rate", "valid_from", "version")),
            AuditEvent.objects.filter(content_type__app_label="sales").count()]


@pytest.fixture
def pump(org: Any) -> Product:
    return services.product_create(actor=org.manager, code="HP-100", name="中石化液压泵", model="XJ-200",
                                   category="泵", list_price="1200", features="耐高温\n低噪音",
                                   specification="流量 100 L/min", packaging="木箱")


# --- Products ---------------------------------------------------------------------------------------
def test_a_manager_adds_a_product_that_is_searchable_by_name_pinyin_code_and_model(org: Any, pump: Product) -> None:
    assert pump.unit == "件" and pump.currency == "CNY" and pump.tax_rate == Decimal("13")
    event = AuditEvent.objects.get(action="create", object_id=str(pump.pk), content_type__model="product")
    assert event.changes["code"] == [None, "HP-100"] and event.actor == org.manager
    for q in ("液压泵", "yeyabeng", "zsh", "hp-100", "HP-100", "xj-200", "XJ"):
        assert [p.pk for p in reads.product_list_for(org.salesperson, {"q": q})] == [pump.pk], q
    assert not reads.product_list_for(org.salesperson, {"q": "阀门"}).exists()


def test_the_exact_code_comes_first_in_a_search(org: Any, pump: Product) -> None:
    other = services.product_create(actor=org.manager, code="HP-1", name="配件 HP-100 专用")
    found = [p.pk for p in reads.product_list_for(org.salesperson, {"q": "HP-1"})]
    assert found[0] == other.pk and pump.pk in found


def test_the_list_filters_by_product_line_and_sale(org: Any, pump: Product) -> None:
    valve = services.product_create(actor=org.manager, code="V-1", name="阀门", category="阀", active=False)
    assert [p.pk for p in reads.product_list_for(org.salesperson, {"category": "阀"})] == [valve.pk]
    assert [p.pk for p in reads.product_list_for(org.salesperson, {"active": "1"})] == [pump.pk]
    assert [p.pk for p in reads.product_list_for(org.salesperson, {"active": "0"})] == [valve.pk]
    assert reads.categories() == ["泵", "阀"]
    assert [p.pk for p in reads.product_search(org.salesperson, "")] == [pump.pk]  # pickers: on sale only


def test_only_product_managers_write_the_catalogue(org: Any, pump: Product) -> None:
    before = snapshot()
    for person in (org.salesperson, org.service, org.marketing, org.outsider):
        with pytest.raises(Forbidden):
            services.product_create(actor=person, code="X-1", name="不该有")
        with pytest.raises(Forbidden):
            services.product_update(actor=person, product=pump, changes={"name": "改"}, expected_version=1)
        with pytest.raises(Forbidden):
            services.product_delete(actor=person, product=pump)
    assert snapshot() == before
    for person in (org.manager, org.gm, org.admin):
        services.product_create(actor=person, code=f"OK-{person.pk}", name="可以")


def test_codes_are_unique_even_against_the_recycle_bin(org: Any, pump: Product) -> None:
    before = snapshot()
    with pytest.raises(Invalid) as taken:
        services.product_create(actor=org.manager, code="HP-100", name="重复")
    assert taken.value.errors["code"] == ["This code is already used by another product."]
    services.product_delete(actor=org.manager, product=pump)
    with pytest.raises(Invalid) as binned:
        services.product_create(actor=org.manager, code="HP-100", name="重复")
    assert "recycle bin" in binned.value.errors["code"][0]
    assert Product.all_objects.count() == 1 and len(snapshot()[0]) == len(before[0])


def test_bad_input_gets_every_message_and_changes_nothing(org: Any, pump: Product) -> None:
    before = snapshot()
    with pytest.raises(Invalid) as bad:
        services.product_create(actor=org.manager, code="A B", name="", list_price="-1", tax_rate="120",
                                currency="XYZ", unit="")
    errors = bad.value.errors
    assert set(errors) == {"code", "name", "list_price", "tax_rate", "currency", "unit"}
    assert errors["code"] == ["A product code cannot contain spaces."]
    with pytest.raises(Invalid) as decimals:
        services.product_create(actor=org.manager, code="D-1", name="小数", list_price="1.234")
    assert decimals.value.errors["list_price"] == ["Use at most 2 decimal places."]
    with pytest.raises(Invalid) as unknown:
        services.product_create(actor=org.manager, code="D-2", name="字段", search_text="x")
    assert "search_text" in unknown.value.errors
    assert snapshot() == before


def test_a_foreign_currency_needs_a_rate_first(org: Any) -> None:
    with pytest.raises(Invalid) as missing:
        services.product_create(actor=org.manager, code="U-1", name="进口件", currency="usd")
    assert missing.value.errors["currency"] == ["No exchange rate is set for USD: add one under Exchange rates first."]
    prices.exchange_rate_create(actor=org.manager, currency="USD", rate="7.1", valid_from=dt.date(2026, 1, 1))
    assert services.product_create(actor=org.manager, code="U-1", name="进口件", currency="usd").currency == "USD"


def test_an_edit_updates_the_search_text_and_is_audited(org: Any, pump: Product) -> None:
    services.product_update(actor=org.manager, product=pump, changes={"name": "齿轮泵", "model": "CL-9"},
                            expected_version=pump.version)
    pump.refresh_from_db()
    assert pump.version == 2 and pump.name == "齿轮泵"
    assert [p.pk for p in reads.product_list_for(org.salesperson, {"q": "chilunbeng"})] == [pump.pk]
    assert [p.pk for p in reads.product_list_for(org.salesperson, {"q": "cl-9"})] == [pump.pk]
    assert not reads.product_list_for(org.salesperson, {"q": "yeyabeng"}).exists()
    event = history_for(pump).filter(action="update").get()
    assert event.changes["name"] == ["中石化液压泵", "齿轮泵"]


def test_a_stale_edit_is_refused_and_changes_nothing(org: Any, pump: Product) -> None:
    services.product_update(actor=org.manager, product=pump, changes={"packaging": "纸箱"}, expected_version=1)
    stale = Product.objects.get(pk=pump.pk)
    stale.version = 1
    before = snapshot()
    with pytest.raises(Conflict):
        services.product_update(actor=org.gm, product=stale, changes={"packaging": "铁桶"}, expected_version=1)
    assert snapshot() == before


def test_delete_to_the_recycle_bin_and_restore(org: Any, pump: Product) -> None:
    services.product_delete(actor=org.manager, product=pump, expected_version=pump.version)
    assert not reads.product_list_for(org.manager, {}).exists()
    assert reads.product_search(org.salesperson, "泵") == []
    assert [p.pk for p in reads.product_deleted_for(org.manager)] == [pump.pk]
    assert not reads.product_deleted_for(org.salesperson).exists()
    with pytest.raises(Invalid):
        services.product_update(actor=org.manager, product=pump, changes={"name": "x"}, expected_version=None)
    services.product_restore(actor=org.manager, product=pump)
    assert [p.pk for p in reads.product_list_for(org.salesperson, {})] == [pump.pk]
    assert list(history_for(pump).values_list("action", flat=True)) == ["restore", "delete", "create"]
    with pytest.raises(Invalid):
        services.product_restore(actor=org.manager, product=pump)


def test_products_are_registered_for_history_and_the_recycle_bin(org: Any, pump: Product) -> None:
    entry = registry.get(Product)
    assert entry.perm == "product" and entry.detail_url and entry.detail_url(pump) == f"/sales/products/{pump.pk}/"
    assert list(entry.scope(org.service, Product.objects.all())) == [pump]
    assert list(entry.scope(org.outsider, Product.objects.all())) == [pump]  # every salesperson reads the catalogue
    from guanxi.core.models import User

    nobody = User.objects.create_user(username="norole", password="x")
    assert not entry.scope(nobody, Product.objects.all()).exists()


# --- Pictures -------------------------------------------------------------------------------------
def test_a_real_picture_is_stored_re_encoded_under_a_random_name(org: Any) -> None:
    payload = image_bytes("PNG") + b"<script>alert(1)</script>"  # a trailing payload is dropped
    product = services.product_create(actor=org.manager, code="PIC-1", name="带图", picture=upload("我的.png", payload))
    product.refresh_from_db()
    name = product.picture.name
    assert name.startswith("products/") and name.endswith(".png") and "我的" not in name
    stored = product.picture.read()
    assert stored.startswith(b"\x89PNG") and b"<script>" not in stored
    assert Image.open(io.BytesIO(stored)).size == (40, 30)
    assert history_for(product).get().changes["picture"] == [None, name] and product.version == 1


@pytest.mark.parametrize(("fmt", "ext"), [("JPEG", "jpg"), ("GIF", "png"), ("WEBP", "png")])
def test_jpeg_stays_jpeg_and_other_formats_become_png(org: Any, fmt: str, ext: str) -> None:
    product = services.product_create(actor=org.manager, code=f"F-{fmt}", name="格式",
                                      picture=upload(f"a.{fmt.lower()}", image_bytes(fmt)))
    assert product.picture.name.endswith(f".{ext}")


def test_large_pictures_are_scaled_down(org: Any) -> None:
    product = services.product_create(actor=org.manager, code="BIG", name="大图",
                                      picture=upload("big.png", image_bytes("PNG", (3000, 1500))))
    assert Image.open(product.picture.path).size == (2000, 1000)


@pytest.mark.parametrize(("name", "content"), [
    ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    ("fake.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),  # the right magic, no picture
    ("page.png", b"<!doctype html><script>alert(1)</script>"),
    ("doc.jpg", b"%PDF-1.4\n%%EOF\n"),
    ("empty.png", b""),
])
def test_anything_but_a_picture_is_refused_and_nothing_changes(org: Any, pump: Product, name: str,
                                                               content: bytes) -> None:
    before = snapshot()
    with pytest.raises(Invalid) as refused:
        services.product_update(actor=org.manager, product=pump, changes={"name": "不该改"},
                                expected_version=pump.version, picture=upload(name, content))
    assert set(refused.value.errors) == {"picture"}
    with pytest.raises(Invalid):
        services.product_create(actor=org.manager, code="NEW", name="新", picture=upload(name, content))
    assert snapshot() == before


def test_a_picture_above_the_attachment_limit_is_refused(org: Any, pump: Product, settings: Any) -> None:
    settings.GUANXI_ATTACHMENT_MAX_BYTES = 100
    with pytest.raises(Invalid) as refused:
        services.product_picture_set(actor=org.manager, product=pump, upload=upload("a.png", image_bytes()))
    assert "larger than" in refused.value.errors["picture"][0]
    pump.refresh_from_db()
    assert not pump.picture


def test_a_picture_is_replaced_and_removed(org: Any, pump: Product) -> None:
    services.product_picture_set(actor=org.manager, product=pump, upload=upload("a.png", image_bytes()))
    first = Product.objects.get(pk=pump.pk).picture.name
    services.product_update(actor=org.manager, product=pump, changes={}, expected_version=pump.version,
                            picture=upload("b.jpg", image_bytes("JPEG")))
    second = Product.objects.get(pk=pump.pk).picture.name
    assert first != second and second.endswith(".jpg")
    services.product_update(actor=org.manager, product=pump, changes={}, expected_version=pump.version,
                            remove_picture=True)
    assert not Product.objects.get(pk=pump.pk).picture
    assert Product.objects.get(pk=pump.pk).version == 4


# --- Price lists and their prices ------------------------------------------------------------------
def test_a_price_list_validates_grade_dates_channel_and_currency(org: Any) -> None:
    before = snapshot()
    with pytest.raises(Invalid) as bad:
        prices.pricelist_create(actor=org.manager, name="", grade="Z", channel="shop", currency="EUR",
                                valid_from=dt.date(2026, 6, 1), valid_until=dt.date(2026, 5, 1))
    assert set(bad.value.errors) == {"name", "grade", "channel", "currency", "valid_until"}
    assert snapshot() == before
    ok = prices.pricelist_create(actor=org.manager, name="A 级客户", grade="a", province="江苏", channel="direct",
                                 valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31), priority=5)
    assert ok.grade == "A" and ok.currency == "CNY"
    with pytest.raises(Invalid) as late:
        prices.pricelist_update(actor=org.manager, price_list=ok, changes={"valid_until": dt.date(2025, 1, 1)},
                                expected_version=ok.version)
    assert set(late.value.errors) == {"valid_until"}
    prices.pricelist_update(actor=org.manager, price_list=ok, changes={"valid_until": None, "name": "A 级"},
                            expected_version=ok.version)
    ok.refresh_from_db()
    assert ok.valid_until is None and ok.version == 2
    with pytest.raises(Conflict):
        prices.pricelist_update(actor=org.manager, price_list=PriceList.objects.get(pk=ok.pk), changes={"name": "x"},
                                expected_version=1)
    with pytest.raises(Forbidden):
        prices.pricelist_create(actor=org.salesperson, name="自己定价")


def test_prices_on_a_list_are_audited_on_the_list(org: Any, pump: Product) -> None:
    price_list = prices.pricelist_create(actor=org.manager, name="经销价", channel="distributor")
    item = prices.price_item_add(actor=org.manager, price_list=price_list, product=pump, price="1000")
    big = prices.price_item_add(actor=org.manager, price_list=price_list, product=pump, price="950", min_quantity="10")
    prices.price_item_update(actor=org.manager, item=item, changes={"price": "990"}, expected_version=item.version)
    prices.price_item_remove(actor=org.manager, item=big, expected_version=big.version)
    assert list(PriceListItem.objects.values_list("price", "min_quantity")) == [(Decimal("990.00"), Decimal("1.000"))]
    changes = [e.changes["price"] for e in history_for(price_list).filter(action="update").order_by("id")]
    assert changes == [[None, "HP-100 ≥1: 1000.00"], [None, "HP-100 ≥10: 950.00"],
                       ["HP-100 ≥1: 1000.00", "HP-100 ≥1: 990.00"], ["HP-100 ≥10: 950.00", None]]
    assert [r.items[0].price for r in reads.prices_of(pump)] == [Decimal("990.00")]


def test_bad_prices_are_refused_and_change_nothing(org: Any, pump: Product) -> None:
    price_list = prices.pricelist_create(actor=org.manager, name="价目")
    item = prices.price_item_add(actor=org.manager, price_list=price_list, product=pump, price="1000", min_quantity="5")
    before = snapshot()
    for kwargs, field in [({"price": "-1"}, "price"), ({"price": "abc"}, "price"), ({"price": "1", "min_quantity": "0"},
                                                                                    "min_quantity"),
                          ({"price": "1", "min_quantity": "5"}, "min_quantity"), ({"price": "1.005"}, "price")]:
        with pytest.raises(Invalid) as bad:
            prices.price_item_add(actor=org.manager, price_list=price_list, product=pump, **kwargs)
        assert field in bad.value.errors, kwargs
    with pytest.raises(Invalid) as no_product:
        prices.price_item_add(actor=org.manager, price_list=price_list, product=None, price="1")
    assert "product" in no_product.value.errors
    other = prices.price_item_add(actor=org.manager, price_list=price_list, product=pump, price="900", min_quantity="50")
    before = snapshot()
    with pytest.raises(Invalid) as clash:
        prices.price_item_update(actor=org.manager, item=other, changes={"min_quantity": "5"},
                                 expected_version=other.version)
    assert "min_quantity" in clash.value.errors
    with pytest.raises(Conflict):
        prices.price_item_update(actor=org.manager, item=item, changes={"price": "1"}, expected_version=item.version + 1)
    with pytest.raises(Forbidden):
        prices.price_item_remove(actor=org.salesperson, item=item)
    assert snapshot() == before


def test_a_deleted_list_or_product_takes_no_new_prices(org: Any, pump: Product) -> None:
    price_list = prices.pricelist_create(actor=org.manager, name="价目")
    prices.pricelist_delete(actor=org.manager, price_list=price_list)
    with pytest.raises(Invalid):
        prices.price_item_add(actor=org.manager, price_list=price_list, product=pump, price="1")
    prices.pricelist_restore(actor=org.manager, price_list=price_list)
    services.product_delete(actor=org.manager, product=pump)
    with pytest.raises(Invalid) as gone:
        prices.price_item_add(actor=org.manager, price_list=price_list, product=pump, price="1")
    assert "product" in gone.value.errors


# --- Exchange rates ------------------------------------------------------------------------------
def test_rates_are_validated_and_read_by_rate_to_cny(org: Any) -> None:
    before = snapshot()
    for currency, rate, field in [("US", "7", "currency"), ("XYZ", "7", "currency"), ("CNY", "1", "currency"),
                                  ("USD", "0", "rate"), ("USD", "-7", "rate"), ("USD", "abc", "rate"),
                                  ("USD", "7.1234567", "rate")]:
        with pytest.raises(Invalid) as bad:
            prices.exchange_rate_create(actor=org.manager, currency=currency, rate=rate, valid_from=dt.date(2026, 1, 1))
        assert set(bad.value.errors) == {field}, (currency, rate)
    with pytest.raises(Invalid) as no_date:
        prices.exchange_rate_create(actor=org.manager, currency="USD", rate="7", valid_from=None)
    assert set(no_date.value.errors) == {"valid_from"}
    with pytest.raises(Forbidden):
        prices.exchange_rate_create(actor=org.salesperson, currency="USD", rate="7", valid_from=dt.date(2026, 1, 1))
    assert snapshot() == before
    prices.exchange_rate_create(actor=org.manager, currency="usd", rate="7.1", valid_from=dt.date(2026, 1, 1))
    june = prices.exchange_rate_create(actor=org.manager, currency="USD", rate="7.2", valid_from="2026-06-01")
    with pytest.raises(Invalid) as twice:
        prices.exchange_rate_create(actor=org.manager, currency="USD", rate="7.3", valid_from=dt.date(2026, 6, 1))
    assert set(twice.value.errors) == {"valid_from"}
    assert common.rate_to_cny("USD", dt.date(2026, 3, 1)) == Decimal("7.1")
    assert common.rate_to_cny("USD", dt.date(2026, 6, 1)) == Decimal("7.2")
    with pytest.raises(Invalid):
        common.rate_to_cny("USD", dt.date(2025, 12, 31))
    prices.exchange_rate_update(actor=org.manager, rate=june, changes={"rate": "7.25"}, expected_version=june.version)
    assert common.rate_to_cny("USD", dt.date(2026, 6, 2)) == Decimal("7.25")
    with pytest.raises(Invalid) as moved:
        prices.exchange_rate_update(actor=org.manager, rate=june, changes={"valid_from": dt.date(2026, 1, 1)},
                                    expected_version=june.version)
    assert set(moved.value.errors) == {"valid_from"}
    with pytest.raises(Invalid):
        prices.exchange_rate_update(actor=org.manager, rate=june, changes={"currency": "EUR"},
                                    expected_version=june.version)
    assert reads.current_rates(dt.date(2026, 7, 1)) == {"USD": Decimal("7.25")}
