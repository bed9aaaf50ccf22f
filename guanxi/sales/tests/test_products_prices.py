"""The price a customer gets (``price_for``): validity dates, priority, specificity, grade,
province and channel, quantity breaks, currency, and the list price when nothing applies."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from guanxi.sales.models import Channel, PriceList, PriceListItem, Product
from guanxi.sales.services import products as services
from guanxi.sales.services import products_prices as prices
from guanxi.sales.services.products import account_channel, price_for, region_key

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 6, 15)


@pytest.fixture
def product(org: Any) -> Product:
    return services.product_create(actor=org.manager, code="P-100", name="液压泵", model="HP-100",
                                   list_price="1200.00")


@pytest.fixture
def account(org: Any, account_factory: Any) -> Any:
    return account_factory(org.salesperson, grade="A", province="江苏省")


def plist(product: Product, price: str, *, min_quantity: str = "1", **fields: Any) -> PriceList:
    fields.setdefault("name", f"价目表{PriceList.all_objects.count() + 1}")
    price_list = PriceList.objects.create(**fields)
    PriceListItem.objects.create(price_list=price_list, product=product, min_quantity=Decimal(min_quantity),
                                 price=Decimal(price))
    return price_list


def test_without_any_price_list_the_list_price_applies(product: Product, account: Any) -> None:
    assert price_for(product, account, 1, TODAY) == (Decimal("1200.00"), "CNY", None)


def test_a_list_for_everyone_applies_to_any_account_and_to_none(product: Product, account: Any) -> None:
    general = plist(product, "1100")
    assert price_for(product, account, 1, TODAY) == (Decimal("1100"), "CNY", general)
    assert price_for(product, None, 1, TODAY) == (Decimal("1100"), "CNY", general)


def test_a_list_for_a_grade_applies_only_to_accounts_of_that_grade(product: Product, account: Any,
                                                                   account_factory: Any, org: Any) -> None:
    for_a = plist(product, "1000", grade="A")
    other = account_factory(org.salesperson, grade="B", province="江苏省")
    assert price_for(product, account, 1, TODAY)[2] == for_a
    assert price_for(product, other, 1, TODAY) == (Decimal("1200.00"), "CNY", None)
    assert price_for(product, None, 1, TODAY)[2] is None


def test_grades_compare_regardless_of_case(product: Product, account_factory: Any, org: Any) -> None:
    for_a = plist(product, "1000", grade="a")
    assert price_for(product, account_factory(org.salesperson, grade="A"), 1, TODAY)[2] == for_a


def test_a_province_matches_with_or_without_its_suffix(product: Product, account: Any, account_factory: Any,
                                                       org: Any) -> None:
    jiangsu = plist(product, "1050", province="江苏")
    zhejiang = account_factory(org.salesperson, grade="A", province="浙江省")
    assert price_for(product, account, 1, TODAY)[2] == jiangsu
    assert price_for(product, zhejiang, 1, TODAY)[2] is None
    assert region_key("广西壮族自治区") == region_key("广西") == "广西"
    assert region_key(" 上海市 ") == "上海"


def test_the_channel_is_distributor_for_distributors_and_direct_otherwise(product: Product, account: Any,
                                                                          account_factory: Any, org: Any) -> None:
    dealer = account_factory(org.salesperson, is_distributor=True)
    for_dealers = plist(product, "900", channel=Channel.DISTRIBUTOR)
    direct = plist(product, "1150", channel=Channel.DIRECT)
    online = plist(product, "800", channel=Channel.ONLINE, priority=50)
    assert account_channel(dealer) == Channel.DISTRIBUTOR and account_channel(account) == Channel.DIRECT
    assert price_for(product, dealer, 1, TODAY)[2] == for_dealers
    assert price_for(product, account, 1, TODAY)[2] == direct
    # Online lists apply only when the caller says the sale is online.
    assert price_for(product, account, 1, TODAY, channel=Channel.ONLINE)[2] == online


def test_the_highest_priority_wins_over_a_more_specific_list(product: Product, account: Any) -> None:
    plist(product, "1000", grade="A", province="江苏", priority=0)
    promotion = plist(product, "980", priority=10)
    assert price_for(product, account, 1, TODAY) == (Decimal("980"), "CNY", promotion)


def test_on_equal_priority_the_most_specific_list_wins(product: Product, account: Any) -> None:
    plist(product, "1100")
    plist(product, "1050", grade="A")
    both = plist(product, "1020", grade="A", province="江苏")
    assert price_for(product, account, 1, TODAY) == (Decimal("1020"), "CNY", both)


def test_on_equal_priority_and_specificity_the_later_list_wins(product: Product, account: Any) -> None:
    plist(product, "1100", valid_from=dt.date(2026, 1, 1))
    newer = plist(product, "1090", valid_from=dt.date(2026, 6, 1))
    plist(product, "1080")  # no start date: older than any dated one
    assert price_for(product, account, 1, TODAY)[2] == newer


@pytest.mark.parametrize(("valid_from", "valid_until", "applies"), [
    (None, None, True),
    (TODAY, None, True),  # from the first day
    (None, TODAY, True),  # until the last day, inclusive
    (TODAY + dt.timedelta(days=1), None, False),  # not started yet
    (None, TODAY - dt.timedelta(days=1), False),  # expired
    (dt.date(2026, 6, 1), dt.date(2026, 6, 30), True),
])
def test_validity_dates_are_inclusive(product: Product, account: Any, valid_from: Any, valid_until: Any,
                                      applies: bool) -> None:
    price_list = plist(product, "999", valid_from=valid_from, valid_until=valid_until)
    assert (price_for(product, account, 1, TODAY)[2] == price_list) is applies


def test_the_day_defaults_to_today(product: Product, account: Any) -> None:
    from django.utils import timezone

    today = timezone.localdate()
    current = plist(product, "999", valid_from=today, valid_until=today)
    assert price_for(product, account)[2] == current


def test_inactive_and_deleted_lists_never_apply(org: Any, product: Product, account: Any) -> None:
    plist(product, "900", active=False)
    deleted = plist(product, "950")
    prices.pricelist_delete(actor=org.manager, price_list=deleted)
    assert price_for(product, account, 1, TODAY)[2] is None
    prices.pricelist_restore(actor=org.manager, price_list=deleted)
    assert price_for(product, account, 1, TODAY)[2] == deleted


def test_quantity_breaks_take_the_highest_break_reached(product: Product, account: Any) -> None:
    price_list = plist(product, "1000", min_quantity="1")
    PriceListItem.objects.create(price_list=price_list, product=product, min_quantity=Decimal("10"),
                                 price=Decimal("950"))
    PriceListItem.objects.create(price_list=price_list, product=product, min_quantity=Decimal("100"),
                                 price=Decimal("900"))
    assert price_for(product, account, 1, TODAY)[0] == Decimal("1000")
    assert price_for(product, account, Decimal("9.999"), TODAY)[0] == Decimal("1000")
    assert price_for(product, account, 10, TODAY)[0] == Decimal("950")
    assert price_for(product, account, "99", TODAY)[0] == Decimal("950")
    assert price_for(product, account, 100, TODAY)[0] == Decimal("900")
    assert price_for(product, account, 5000, TODAY)[0] == Decimal("900")


def test_a_list_whose_first_break_is_not_reached_does_not_apply(product: Product, account: Any) -> None:
    general = plist(product, "1100")
    plist(product, "800", min_quantity="50", priority=5)  # a volume deal
    assert price_for(product, account, 10, TODAY) == (Decimal("1100"), "CNY", general)
    assert price_for(product, account, 50, TODAY)[0] == Decimal("800")


def test_a_list_that_does_not_price_the_product_is_skipped(product: Product, account: Any, org: Any) -> None:
    other = services.product_create(actor=org.manager, code="P-200", name="阀门")
    plist(other, "10", priority=99)
    general = plist(product, "1100")
    assert price_for(product, account, 1, TODAY)[2] == general


def test_the_price_comes_in_the_lists_currency(org: Any, product: Product, account: Any) -> None:
    prices.exchange_rate_create(actor=org.manager, currency="USD", rate="7.10", valid_from=dt.date(2026, 1, 1))
    export = prices.pricelist_create(actor=org.manager, name="出口价", currency="usd", priority=3)
    prices.price_item_add(actor=org.manager, price_list=export, product=product, price="160")
    assert price_for(product, account, 1, TODAY) == (Decimal("160.00"), "USD", export)


def test_without_a_list_the_products_own_currency_applies(org: Any, account: Any) -> None:
    prices.exchange_rate_create(actor=org.manager, currency="EUR", rate="7.8", valid_from=dt.date(2026, 1, 1))
    item = services.product_create(actor=org.manager, code="E-1", name="进口轴承", list_price="12.50", currency="EUR")
    assert price_for(item, account, 1, TODAY) == (Decimal("12.50"), "EUR", None)


def test_a_nonsense_quantity_is_read_as_one(product: Product, account: Any) -> None:
    general = plist(product, "1100")
    assert price_for(product, account, "abc", TODAY)[2] == general
    assert price_for(product, account, "NaN", TODAY)[2] == general
