"""The sales demo on an empty database: an interrupted build resumes, and the set-based recount
equals the service's (kept apart from test_demo.py, whose module-wide demo company fills the
database)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from guanxi.core.models import CodeSequence
from guanxi.customers.models import Account
from guanxi.demo import build_demo
from guanxi.sales import demo as sales_demo
from guanxi.sales import models as m
from guanxi.sales.services import totals

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def test_an_interrupted_build_resumes_where_it_stopped(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sales_demo, "BATCH", 700)
    real = sales_demo.build_sales
    calls: list[int] = []

    def interrupted(**kwargs: Any) -> bool:
        calls.append(1)
        return real(**kwargs, max_batches=1) if len(calls) == 1 else real(**kwargs)

    monkeypatch.setattr(sales_demo, "build_sales", interrupted)
    build_demo("S", now=NOW)  # stops after the first batch of accounts
    first = CodeSequence.objects.get(name=sales_demo.MARKER).value
    assert 0 < first < Account.objects.order_by("-pk").values_list("pk", flat=True)[0]
    assert not m.AccountSales.objects.exists()  # the figures come once every account is done
    partial = m.Order.objects.count()
    build_demo("S", now=NOW)
    assert m.Order.objects.count() > partial and m.AccountSales.objects.exists()
    assert CodeSequence.objects.get(name=sales_demo.MARKER).value == Account.objects.order_by("-pk")[0].pk
    assert len(set(m.Order.objects.values_list("code", flat=True))) == m.Order.objects.count()


def test_bulk_recount_matches_the_service_on_edge_cases(org: Any, account_factory: Any) -> None:
    from guanxi.sales.tests.test_account_tab import sales_story

    account = account_factory(org.salesperson)
    sales_story(org, account)
    m.Order.objects.filter(account=account).update(rate_to_cny=Decimal("7.1"))
    empty = account_factory(org.salesperson)
    m.AccountSales.objects.create(account=empty, orders_total=Decimal("5"))  # stale: goes away
    assert sales_demo.recount_bulk() == 1
    row = m.AccountSales.objects.get(account=account)
    assert {key: getattr(row, key) for key in totals.figures(account.pk)} == totals.figures(account.pk)
