"""Order services (R4.3): lines and totals, from a quote, status through delivery, the
customer's figures and the monthly sales kept in step, recycle bin."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.models import AuditEvent
from guanxi.core.services import records
from guanxi.sales.models import Order, OrderLine, PriceList, PriceListItem, Quote, SalesMonth
from guanxi.sales.services import orders as services
from guanxi.sales.services import totals
from guanxi.sales.tests.orders_helpers import (
    assert_figures,
    days,
    order_factory,
    product,
    quote_factory,
)

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def account(org, account_factory):
    return account_factory(org.salesperson, name="华东机械有限公司", province="江苏", address="苏州工业园区星湖街1号")


def test_a_new_order_takes_catalogue_data_and_the_price_lists_price(org, account):
    drill = product("P-7", "200.00", name="台钻", model="Z4116", unit="台", tax_rate=D("13"))
    special = PriceList.objects.create(name="华东经销价", province="江苏")
    PriceListItem.objects.create(price_list=special, product=drill, price=D("180.00"))
    order = services.order_create(actor=org.salesperson, account=account, remarks="加急", lines=[
        {"product": drill, "quantity": "5", "discount": "10"},
        {"name": "运费", "quantity": "1", "unit_price": "100", "tax_rate": "9"},
    ])
    lines = list(order.lines.order_by("position"))
    assert [(line.name, line.model, line.unit, line.unit_price, line.total) for line in lines] == [
        ("台钻", "Z4116", "台", D("180.00"), D("810.00")), ("运费", "", "", D("100.00"), D("100.00"))]
    # Prices include tax: 810 − 810/1.13 and 100 − 100/1.09.
    assert (order.subtotal, order.total, order.tax_total) == (D("1000.00"), D("910.00"), D("101.45"))
    assert order.state == "draft" and order.owner == org.salesperson and order.department == org.east
    assert order.code.startswith("DD-") and order.shipping_address == "苏州工业园区星湖街1号"
    event = AuditEvent.objects.get(action="create", object_id=str(order.pk),
                                   content_type=ContentType.objects.get_for_model(Order))
    assert "lines" in event.changes and event.actor == org.salesperson


def test_bad_lines_are_refused_all_at_once_and_nothing_is_written(org, account):
    with pytest.raises(Invalid) as caught:
        services.order_create(actor=org.salesperson, account=account, lines=[
            {"name": "", "quantity": "1", "unit_price": "1"},
            {"name": "x", "quantity": "-2", "unit_price": "1"},
            {"product": "?NOPE", "quantity": "1"},
            {"name": "y", "quantity": "1"},
            {"name": "z", "quantity": "1", "unit_price": "1", "discount": "120"},
        ])
    assert set(caught.value.errors) == {"lines.1.name", "lines.2.quantity", "lines.3.product", "lines.4.unit_price",
                                        "lines.5.discount"}
    assert not Order.all_objects.exists() and not OrderLine.objects.exists()


def test_ship_date_before_order_date_and_unknown_currency_are_refused(org, account):
    with pytest.raises(Invalid) as caught:
        services.order_create(actor=org.salesperson, account=account, order_date=days(0), ship_date=days(-1),
                              currency="XYZ")
    assert set(caught.value.errors) == {"ship_date", "currency"}


def test_an_order_needs_a_visible_account_and_the_right(org, account):
    with pytest.raises(NotFound):
        services.order_create(actor=org.outsider, account=account)
    with pytest.raises(Forbidden):
        services.order_create(actor=org.service, account=account)
    assert not Order.all_objects.exists()


# --- From a quote --------------------------------------------------------------------------
def test_an_approved_quote_becomes_a_draft_order_and_is_accepted(org, account):
    quote = quote_factory(org.salesperson, account)
    order = services.order_from_quote(actor=org.salesperson, quote=quote)
    quote.refresh_from_db()
    assert quote.state == Quote.State.ACCEPTED
    assert (order.quote, order.opportunity, order.state, order.currency) == (quote, quote.opportunity, "draft", "CNY")
    assert order.total == quote.total == D("2200.00")  # 2 × 1000 − 15 % + 500
    copied = [(line.name, line.quantity, line.unit_price, line.discount, line.tax_rate, line.total)
              for line in order.lines.order_by("position")]
    assert copied == [(line.name, line.quantity, line.unit_price, line.discount, line.tax_rate, line.total)
                      for line in quote.lines.order_by("position")]
    assert order.remarks == "款到发货"


@pytest.mark.parametrize("state", [Quote.State.SENT, Quote.State.ACCEPTED])
def test_sent_and_accepted_quotes_become_orders(org, account, state):
    quote = quote_factory(org.salesperson, account, state=state, discount="5")
    assert services.order_from_quote(actor=org.salesperson, quote=quote).quote_id == quote.pk


def test_a_quote_waiting_for_approval_or_a_draft_cannot_become_an_order(org, account):
    pending = quote_factory(org.salesperson, account, state=Quote.State.PENDING)
    with pytest.raises(Invalid, match="approval"):
        services.order_from_quote(actor=org.salesperson, quote=pending)
    draft = quote_factory(org.salesperson, account, state=Quote.State.DRAFT)
    with pytest.raises(Invalid):
        services.order_from_quote(actor=org.salesperson, quote=draft)
    assert not Order.all_objects.exists()
    pending.refresh_from_db()
    assert pending.state == Quote.State.PENDING


def test_one_live_order_per_quote_but_a_cancelled_one_can_be_replaced(org, account):
    quote = quote_factory(org.salesperson, account)
    first = services.order_from_quote(actor=org.salesperson, quote=quote)
    quote.refresh_from_db()
    with pytest.raises(Invalid, match=first.code):
        services.order_from_quote(actor=org.salesperson, quote=quote)
    services.order_cancel(actor=org.salesperson, order=first)
    assert services.order_from_quote(actor=org.salesperson, quote=quote).pk != first.pk


def test_a_managers_conversion_keeps_the_salespersons_ownership(org, account):
    quote = quote_factory(org.salesperson, account)
    order = services.order_from_quote(actor=org.manager, quote=quote)
    assert order.owner == org.salesperson and order.department == org.east


def test_prices_without_tax_are_converted_to_tax_included(org, account):
    quote = quote_factory(org.salesperson, account, state=Quote.State.SENT, discount="0", prices_include_tax=False, lines=[
        {"name": "服务", "quantity": "1", "unit_price": "100", "tax_rate": "13"}])
    order = services.order_from_quote(actor=org.salesperson, quote=quote)
    assert order.lines.get().unit_price == D("113.00") and order.total == quote.total == D("113.00")


# --- Status through delivery ---------------------------------------------------------------
def test_status_through_delivery_with_dates(org, account):
    order = order_factory(org.salesperson, account)
    with pytest.raises(Invalid):
        services.order_ship(actor=org.salesperson, order=order)  # not confirmed yet
    services.order_confirm(actor=org.salesperson, order=order)
    services.order_ship(actor=org.salesperson, order=order, on=order.order_date)
    with pytest.raises(Invalid) as caught:
        services.order_deliver(actor=org.salesperson, order=order, on=order.order_date - dt.timedelta(days=1))
    assert "on" in caught.value.errors
    services.order_deliver(actor=org.salesperson, order=order)
    order.refresh_from_db()
    assert (order.state, order.ship_date, order.delivered_on) == ("delivered", order.order_date,
                                                                  timezone.localdate())
    with pytest.raises(Invalid):
        services.order_cancel(actor=org.salesperson, order=order)


def test_an_order_without_lines_cannot_be_confirmed(org, account):
    order = order_factory(org.salesperson, account, lines=[])
    with pytest.raises(Invalid) as caught:
        services.order_confirm(actor=org.salesperson, order=order)
    assert "lines" in caught.value.errors
    order.refresh_from_db()
    assert order.state == "draft"


def test_a_stale_version_changes_nothing(org, account):
    order = order_factory(org.salesperson, account)
    stale = order.version
    services.order_update(actor=org.salesperson, order=order, changes={"remarks": "新的"}, expected_version=stale)
    old = Order.objects.get(pk=order.pk)
    old.version = stale
    for call in (lambda: services.order_update(actor=org.teammate, order=old, changes={"remarks": "x"},
                                               expected_version=stale),
                 lambda: services.order_lines_set(actor=org.salesperson, order=old, lines=[], expected_version=stale),
                 lambda: services.order_confirm(actor=org.salesperson, order=old, expected_version=stale)):
        with pytest.raises(Conflict):
            call()
    order.refresh_from_db()
    assert (order.remarks, order.state, order.lines.count()) == ("新的", "draft", 2)


def test_only_a_drafts_lines_date_and_currency_change(org, account):
    order = order_factory(org.salesperson, account, state=Order.State.CONFIRMED)
    with pytest.raises(Invalid):
        services.order_lines_set(actor=org.salesperson, order=order, lines=[], expected_version=order.version)
    with pytest.raises(Invalid) as caught:
        services.order_update(actor=org.salesperson, order=order, changes={"order_date": days(-3)},
                              expected_version=order.version)
    assert "order_date" in caught.value.errors
    services.order_update(actor=org.salesperson, order=order, changes={"shipping_address": "上海仓"},
                          expected_version=order.version)
    order.refresh_from_db()
    assert order.shipping_address == "上海仓" and order.lines.count() == 2


def test_replacing_lines_recomputes_totals_and_audits(org, account):
    order = order_factory(org.salesperson, account)
    services.order_lines_set(actor=org.salesperson, order=order, expected_version=order.version,
                             lines=[{"name": "备件", "quantity": "4", "unit_price": "25"}])
    order.refresh_from_db()
    assert (order.total, order.lines.count(), order.version) == (D("100.00"), 1, 2)
    event = AuditEvent.objects.filter(object_id=str(order.pk), action="update",
                                      content_type=ContentType.objects.get_for_model(Order)).latest("id")
    assert event.changes["lines"][1] == ["备件 × 4.000 @ 25.00 -0.00% = 100.00"]


# --- The customer's figures and the monthly sales -----------------------------------------
def test_counted_orders_feed_the_customers_figures(org, account):
    draft = order_factory(org.salesperson, account)  # 300 + 50
    assert totals.figures(account.pk)["orders_count"] == 0
    services.order_confirm(actor=org.salesperson, order=draft)
    second = order_factory(org.salesperson, account, state=Order.State.DELIVERED, order_date=days(-40))
    assert_figures(account, orders_count=2, orders_total="700.00", first_order_on=second.order_date,
                   last_order_on=draft.order_date)
    services.order_cancel(actor=org.salesperson, order=draft)
    assert_figures(account, orders_count=1, orders_total="350.00", last_order_on=second.order_date)


def test_monthly_sales_follow_confirm_cancel_delete_and_restore(org, account):
    p = product("P-100", "100.00")
    order = order_factory(org.salesperson, account, lines=[{"product": p, "quantity": "3"},
                                                            {"product": p, "quantity": "1", "unit_price": "80"},
                                                            {"name": "运费", "quantity": "1", "unit_price": "50"}])

    def row() -> tuple[Decimal, Decimal, int] | None:
        found = SalesMonth.objects.filter(product=p, province="江苏",
                                          month=order.order_date.replace(day=1)).first()
        return (found.quantity, found.amount, found.orders) if found else None

    assert row() is None
    services.order_confirm(actor=org.salesperson, order=order)
    assert row() == (D("4.000"), D("380.00"), 1)
    services.order_delete(actor=org.manager, order=order)
    assert row() == (D("0.000"), D("0.00"), 0)
    deleted = Order.all_objects.get(pk=order.pk)
    records.record_restore(actor=org.manager, obj=deleted)
    assert row() == (D("4.000"), D("380.00"), 1)
    assert_figures(account, orders_count=1, orders_total="430.00")
    before = sorted(SalesMonth.objects.values_list("month", "product_id", "province", "quantity", "amount", "orders"))
    assert services.sales_month_rebuild() == 1
    after = sorted(SalesMonth.objects.values_list("month", "product_id", "province", "quantity", "amount", "orders"))
    assert before == after


def test_rebuild_counts_only_live_counted_catalogue_lines_in_cny(org, account):
    from guanxi.sales.models import ExchangeRate

    ExchangeRate.objects.create(currency="USD", rate=D("7.100000"), valid_from=days(-400))
    p, q = product("P-1", "10"), product("P-2", "20")
    order_factory(org.salesperson, account, state=Order.State.CONFIRMED, currency="USD",
                  lines=[{"product": p, "quantity": "2", "unit_price": "10"}])
    order_factory(org.salesperson, account, state=Order.State.DRAFT, lines=[{"product": q, "quantity": "1"}])
    order_factory(org.salesperson, account, state=Order.State.CANCELLED, lines=[{"product": q, "quantity": "1"}])
    live = order_factory(org.salesperson, account, state=Order.State.SHIPPED, lines=[{"product": p, "quantity": "1"}])
    incremental = sorted(SalesMonth.objects.exclude(orders=0).values_list("product_id", "quantity", "amount",
                                                                          "orders"))
    services.sales_month_rebuild()
    rebuilt = sorted(SalesMonth.objects.values_list("product_id", "quantity", "amount", "orders"))
    assert rebuilt == incremental == [(p.pk, D("3.000"), D("152.00"), 2)]  # 20 USD × 7.1 + 10 CNY
    assert live.rate_to_cny == 1


def test_a_salesperson_cannot_delete_and_nothing_changes(org, account):
    order = order_factory(org.salesperson, account, state=Order.State.CONFIRMED)
    with pytest.raises(Forbidden):
        services.order_delete(actor=org.salesperson, order=order)
    assert Order.objects.filter(pk=order.pk).exists()
    assert_figures(account, orders_count=1)


def test_the_nightly_rebuild_runs_on_the_real_queue(org, account, run_queue):
    order_factory(org.salesperson, account, state=Order.State.CONFIRMED)
    SalesMonth.objects.all().delete()
    services.rebuild_sales_months()  # enqueue, as the scheduler does
    assert run_queue() == 1
    assert SalesMonth.objects.count() == 1
