"""The forecast's reads of the monthly rollup are cached for the day under the rollup's
generation: every change the order service makes (confirm, cancel, delete, restore) and every
rebuild moves the generation, so the page never shows a series older than the rollup."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from guanxi.core.services import records
from guanxi.sales.models import Order, SalesMonth
from guanxi.sales.selectors import forecast as reads
from guanxi.sales.services import orders as services
from guanxi.sales.tests.orders_helpers import order_factory, product

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture(autouse=True)
def _clear() -> Any:
    cache.clear()
    yield
    cache.clear()


def last_month_total() -> Decimal:
    history = dict(reads.series())
    return history.get(reads.last_complete_month(), D("0"))


def test_cached_reads_follow_every_change_of_the_rollup(org: Any, account_factory: Any,
                                                        django_assert_num_queries: Any) -> None:
    account = account_factory(org.salesperson, province="江苏")
    p = product("P-100", "100.00")
    day = reads.last_complete_month() + dt.timedelta(days=3)
    older = order_factory(org.salesperson, account, state=Order.State.CONFIRMED, order_date=day,
                          lines=[{"product": p, "quantity": "1"}])
    assert last_month_total() == D("100.00")
    generation = reads.rollup_generation()
    with django_assert_num_queries(1):  # the generation; the series comes from the cache
        assert last_month_total() == D("100.00")
    assert reads.choices(generation=generation).top_provinces == ["江苏"]
    with django_assert_num_queries(0):  # given the generation, a cached read asks nothing
        assert reads.choices(generation=generation).top_provinces == ["江苏"]

    order = order_factory(org.salesperson, account, lines=[{"product": p, "quantity": "3"}], order_date=day)
    assert last_month_total() == D("100.00")  # a draft is not counted: same generation, same read
    assert reads.rollup_generation() == generation
    services.order_confirm(actor=org.salesperson, order=order)
    assert reads.rollup_generation() != generation
    assert last_month_total() == D("400.00")
    services.order_cancel(actor=org.salesperson, order=Order.objects.get(pk=order.pk))
    assert last_month_total() == D("100.00")
    services.order_delete(actor=org.manager, order=Order.objects.get(pk=older.pk))
    assert last_month_total() == D("0.00")
    records.record_restore(actor=org.manager, obj=Order.all_objects.get(pk=older.pk))
    assert last_month_total() == D("100.00")

    # The nightly rebuild bumps the rows it corrects: a new generation.
    before = reads.rollup_generation()
    SalesMonth.objects.update(amount=D("5"))  # drift the rebuild corrects
    services.sales_month_rebuild()
    assert reads.rollup_generation() != before
    assert last_month_total() == D("100.00")
    assert dict(reads.series_by("province", ["江苏"])["江苏"])[reads.last_complete_month()] == D("100.00")
    assert timezone.localdate().replace(day=1) not in dict(reads.series())  # the month is not over yet
