"""The nightly repair of every customer's figures (``totals.recount_all``): grouped reads over
all accounts that give exactly what the per-account recount (``totals.figures``) gives —
receivable per contract, overdue per instalment — and zero the rows of customers whose
records went away."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from guanxi.sales.models import AccountSales, Order
from guanxi.sales.services import orders as order_services
from guanxi.sales.services import totals
from guanxi.sales.tests.orders_helpers import contract_factory, order_factory, receive
from guanxi.sales.tests.pipeline_helpers import deal

pytestmark = pytest.mark.django_db


def test_the_grouped_recount_equals_the_per_account_one(org: Any, account_factory: Any,
                                                        django_assert_max_num_queries: Any) -> None:
    a, b, c = (account_factory(org.salesperson) for _ in range(3))
    order_factory(org.salesperson, a, state=Order.State.CONFIRMED)
    order_factory(org.salesperson, a)  # a draft: not counted
    over = contract_factory(org.salesperson, a, amount="1000", plan=[(-10, "600"), (20, "400")])
    owed = contract_factory(org.salesperson, a, amount="2000", plan=[(-5, "2000")])
    receive(org.salesperson, over, "1000")  # paid in full
    receive(org.salesperson, owed, "500")  # the other still owes 1,500, 1,500 of it overdue
    deal(org.salesperson, b, amount="3000")
    gone = order_factory(org.salesperson, c, state=Order.State.CONFIRMED)
    expected = {pk: totals.figures(pk) for pk in (a.pk, b.pk)}
    assert expected[a.pk]["receivable_total"] == Decimal("1500.00")
    order_services.order_delete(actor=org.manager, order=gone)  # c's row stays, now zero
    AccountSales.objects.update(orders_total=Decimal("9"), open_deals_total=Decimal("9"))  # drift
    with django_assert_max_num_queries(12):
        assert totals.recount_all() == 3
    for pk, want in expected.items():
        row = AccountSales.objects.get(account_id=pk)
        assert {k: getattr(row, k) for k in want} == want, pk
    assert AccountSales.objects.get(account_id=c.pk).orders_total == 0
    assert totals.grouped_figures() == {pk: totals.figures(pk) for pk in (a.pk, b.pk)}
