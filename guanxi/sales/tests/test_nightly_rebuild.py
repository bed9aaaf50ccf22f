"""The nightly sales job (``rebuild_sales_months``): it recounts the monthly sales, every
customer's figures and the deal board's figures from the records, and writes only what differs
from the rows kept — nothing on a night without drift, exactly the recount's values after one."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from guanxi.sales.models import AccountSales, BoardFigures, ExchangeRate, Order, SalesMonth
from guanxi.sales.services import board, totals
from guanxi.sales.services.orders import rebuild_sales_months
from guanxi.sales.tests.orders_helpers import contract_factory, order_factory, product, receive
from guanxi.sales.tests.pipeline_helpers import deal

pytestmark = pytest.mark.django_db
TABLES = ("sales_salesmonth", "sales_accountsales", "sales_boardfigures")


def writes(queries: CaptureQueriesContext) -> list[str]:
    """The statements that wrote one of the rebuilt tables."""
    out = []
    for q in queries.captured_queries:
        sql = q["sql"].split(" times: ", 1)[-1].replace('"', "")
        if sql.split(" ", 1)[0] in ("INSERT", "UPDATE", "DELETE") and any(t in sql.split(" SET ")[0].split(" (")[0]
                                                                         for t in TABLES):
            out.append(q["sql"])
    return out


def kept() -> tuple[list[Any], list[Any], list[Any]]:
    months = sorted(SalesMonth.objects.values_list("month", "product_id", "province", "quantity", "amount", "orders"))
    figures = sorted(AccountSales.objects.values_list("account_id", "orders_count", "orders_total", "contracts_total",
                                                      "received_total", "receivable_total", "overdue_total",
                                                      "open_deals_total", "first_order_on", "last_order_on"))
    places = sorted(BoardFigures.objects.values_list("pipeline_id", "stage_id", "owner_id", "state", "closed_on",
                                                     "count", "amount", "weighted"))
    return months, figures, places


@pytest.fixture
def company(org: Any, account_factory: Any) -> list[Any]:
    """Orders in CNY and USD over two products and provinces, a contract part paid, and deals
    whose weighted amounts have many decimals (a foreign currency at 35 %)."""
    ExchangeRate.objects.create(currency="USD", rate=Decimal("7.1234"), valid_from=dt.date(2020, 1, 1))
    a, b, c = (account_factory(org.salesperson) for _ in range(3))
    p, q = product("P-1", "10.15"), product("P-2", "333.33")
    order_factory(org.salesperson, a, state=Order.State.CONFIRMED, currency="USD",
                  lines=[{"product": p, "quantity": "3.5"}, {"product": q, "quantity": "1"}])
    order_factory(org.salesperson, b, state=Order.State.SHIPPED, lines=[{"product": p, "quantity": "7"}])
    order_factory(org.salesperson, b, state=Order.State.DRAFT, lines=[{"product": q, "quantity": "1"}])
    owed = contract_factory(org.salesperson, c, amount="2000", plan=[(-5, "2000")])
    receive(org.salesperson, owed, "500")
    deal(org.salesperson, a, amount="1000.10", currency="USD", probability=35)
    deal(org.salesperson, c, amount="2500.01", probability=35)
    d = account_factory(org.teammate)
    deal(org.teammate, d, amount="77.77", probability=15)
    return [a, b, c, d]


def test_a_night_without_drift_writes_nothing(company: Any) -> None:
    before = kept()
    assert all(before)
    with CaptureQueriesContext(connection) as queries:
        assert rebuild_sales_months.call_local() == len(before[0])
    assert writes(queries) == []
    assert kept() == before


def test_a_night_after_drift_writes_the_recount_where_it_differs(company: Any, org: Any,
                                                                 account_factory: Any) -> None:
    right = kept()
    generation = SalesMonth.objects.values_list("changes", flat=True)
    bumped = sum(generation)
    # Drift in every table: a wrong row, a missing row and a stray row.
    first, second = SalesMonth.objects.order_by("id")[:2]
    SalesMonth.objects.filter(pk=first.pk).update(amount=Decimal("1.00"))
    second.delete()
    SalesMonth.objects.create(month=first.month.replace(year=2001), product_id=first.product_id, province="西藏")
    AccountSales.objects.filter(account=company[0]).update(orders_total=Decimal("9.00"))
    AccountSales.objects.filter(account=company[2]).delete()
    stray = AccountSales.objects.create(account=account_factory(org.salesperson), orders_total=Decimal("5.00"))
    places = list(BoardFigures.objects.order_by("id"))
    BoardFigures.objects.filter(pk=places[0].pk).update(weighted=Decimal("0.0000000001"))
    places[1].delete()
    with CaptureQueriesContext(connection) as queries:
        rebuild_sales_months.call_local()
    months, figures, places = kept()
    zero = (stray.account_id, 0, *[Decimal("0")] * 6, None, None)
    assert months == right[0]
    assert [f for f in figures if f != zero] == right[1], (figures, right[1])
    assert places == right[2]
    assert zero in figures  # a customer whose records went away keeps a zeroed row
    assert board.differences() == []
    assert totals.grouped_figures() == {a.pk: totals.figures(a.pk) for a in company}
    # The corrected monthly row moved the forecast's generation on (its changes were bumped).
    assert sum(SalesMonth.objects.values_list("changes", flat=True)) == bumped + 1
    # Each table: the wrong row updated, the missing one written, the stray one removed or zeroed.
    assert len(writes(queries)) <= 9, writes(queries)
