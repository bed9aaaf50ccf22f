"""The demo company's sales: documented volumes, consistent records, the named people's screens,
figures equal to the recount, determinism and idempotence."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db.models import Count, F, Sum
from django.utils import timezone

from conftest import drawn_grades, module_data, settled
from guanxi.core.models import User
from guanxi.customers.models import Account
from guanxi.demo import build_demo
from guanxi.sales import demo as sales_demo
from guanxi.sales import models as m
from guanxi.sales.demo_batch import Batch
from guanxi.sales.demo_world import AccountRow
from guanxi.sales.services import totals

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    """Built once for the module (rolled back at its end); each test runs in its own transaction.
    The tests that need an empty database live in test_demo_resume.py."""
    with module_data(django_db_blocker):
        yield settled(build_demo("S", now=NOW))


def test_volumes_catalogue_and_configuration(demo: dict[str, Any]) -> None:
    lines = m.OrderLine.objects.count()
    assert 0.9 * 20_000 <= lines <= 1.1 * 20_000, lines
    assert demo["sales_seconds"] > 0
    assert m.Product.objects.count() == 30
    assert len(set(m.Product.objects.values_list("category", flat=True))) == 5
    assert not m.Product.objects.filter(specification="").exists()
    assert set(m.Product.objects.values_list("tax_rate", flat=True)) == {Decimal("13")}
    assert set(m.PriceList.objects.values_list("name", flat=True)) == {"经销商价", "A级客户价"}
    assert m.PriceListItem.objects.filter(price_list__name="A级客户价").count() == 30
    assert {"USD", "EUR"} <= set(m.ExchangeRate.objects.values_list("currency", flat=True))
    assert m.Pipeline.objects.filter(is_default=True).count() == 1 and m.Pipeline.objects.count() >= 2
    for pipeline in m.Pipeline.objects.all():
        kinds = Counter(pipeline.stages.values_list("kind", flat=True))
        assert kinds["open"] >= 3 and kinds["won"] == 1 and kinds["lost"] == 1, pipeline
    assert m.RebateRule.objects.exists() and Account.objects.filter(is_distributor=True).count() > 20
    assert not Account.objects.filter(province="").exists()  # filled from the region for prices and the forecast
    leads = m.Lead.objects
    assert len(set(leads.values_list("state", flat=True))) == 6 and len(set(leads.values_list("source", flat=True))) >= 6
    assert leads.filter(state="new", owner__isnull=True).exists()
    converted = leads.filter(state="converted")
    assert converted.exists() and not converted.filter(account__isnull=True).exists()
    assert leads.filter(state="disqualified").exclude(disqualify_reason="").exists()
    codes = list(m.Order.objects.values_list("code", flat=True)[:50])
    assert all(re.fullmatch(r"DD-\d{4}-\d{6}", code) for code in codes)


def test_deals_quotes_orders_and_contracts_hold_together(demo: dict[str, Any]) -> None:
    states = Counter(m.Opportunity.objects.values_list("state", flat=True))
    assert states["open"] > 100 and states["won"] > 300 and states["lost"] > 100
    # Every deal has its stage history, ending where the deal is.
    last = {}
    for deal_id, to_stage in m.StageChange.objects.order_by("opportunity_id", "changed_at", "id").values_list(
            "opportunity_id", "to_stage_id"):
        last[deal_id] = to_stage
    deals = dict(m.Opportunity.objects.values_list("id", "stage_id"))
    assert last == deals
    assert not m.Opportunity.objects.filter(state="lost", loss_reason__isnull=True).exists()
    assert not m.Opportunity.objects.exclude(state="open").filter(closed_on__isnull=True).exists()
    assert m.Opportunity.objects.values("pipeline").distinct().count() == 2
    # Orders: totals are their lines'; won deals led to their orders.
    sums = dict(m.OrderLine.objects.values("order_id").annotate(s=Sum("total")).values_list("order_id", "s"))
    for order_id, total in m.Order.objects.values_list("id", "total"):
        assert sums[order_id] == total, order_id
    assert m.Order.objects.filter(opportunity__state="won", quote__state="accepted").count() == states["won"]
    # Quotes: above the limit only with a decision, or waiting for one; revisions kept.
    limit = Decimal(str(settings.GUANXI_QUOTE_DISCOUNT_LIMIT))
    pending = m.Quote.objects.filter(state="pending")
    assert pending.exists() and not pending.filter(max_discount__lte=limit).exists()
    assert not pending.exclude(approved_by=None).exists()
    decided = m.Quote.objects.filter(max_discount__gt=limit).exclude(state__in=("draft", "pending"))
    assert decided.exists() and not decided.filter(approved_by=None).exists()
    revised = m.Quote.objects.filter(revision__gt=1).annotate(kept=Count("revisions"))
    assert revised.exists() and all(q.kept == q.revision - 1 for q in revised)
    snapshot = m.QuoteRevision.objects.select_related("quote").first()
    assert snapshot is not None and snapshot.snapshot["code"] == snapshot.quote.code and snapshot.snapshot["lines"]
    assert not m.Quote.objects.filter(title__in=["报价单", ""]).exists()
    # Contracts: plans add up, receipts are what the plans and the contract hold.
    plan_sums = dict(m.PaymentPlan.objects.values("contract_id").annotate(s=Sum("amount"))
                     .values_list("contract_id", "s"))
    received = defaultdict(Decimal)
    by_plan = defaultdict(Decimal)
    for contract_id, plan_id, amount in m.Payment.objects.values_list("contract_id", "plan_id", "amount"):
        received[contract_id] += amount
        by_plan[plan_id] += amount
    for contract in m.Contract.objects.all():
        assert plan_sums[contract.pk] == contract.amount, contract.code
        assert received[contract.pk] == contract.received, contract.code
    for plan_id, got in m.PaymentPlan.objects.values_list("id", "received"):
        assert by_plan[plan_id] == got
    assert m.ContractStep.objects.values("contract_id").distinct().count() == m.Contract.objects.count()


def test_named_salespeople_have_deals_overdue_receivables_and_a_quote_to_approve(demo: dict[str, Any]) -> None:
    today = timezone.localdate(NOW)
    for username in ("sales", "sales2"):
        user = User.objects.get(username=username)
        overdue = m.PaymentPlan.objects.filter(contract__owner=user, contract__state="active", due_on__lt=today,
                                               amount__gt=F("received"))
        assert overdue.exists(), username
        assert m.Quote.objects.filter(owner=user, state="pending").exists(), username
        stages = set(m.Opportunity.objects.filter(owner=user, state="open").values_list("stage_id", flat=True))
        assert len(stages) >= 2, username
        assert m.SalesTarget.objects.filter(user=user).count() >= 4
    # Old overdue instalments count as told: the nightly job does not flood anyone.
    stale = m.PaymentPlan.objects.filter(due_on__lt=today.replace(day=1), amount__gt=F("received"),
                                         contract__state="active")
    assert stale.exists() and not stale.filter(overdue_notified_at=None).exists()


def test_figures_and_monthly_sales_equal_the_recount(demo: dict[str, Any]) -> None:
    rows = {row.account_id: row for row in m.AccountSales.objects.all()}
    assert len(rows) > 500
    sample = sorted(rows)[::7] + list(Account.objects.filter(owner__username="sales").values_list("pk", flat=True))
    for account_id in sample:
        expected = totals.figures(account_id)
        row = rows.get(account_id)
        if row is None:
            assert expected["orders_count"] == 0 and expected["open_deals_total"] == 0
        else:
            assert {key: getattr(row, key) for key in expected} == expected, account_id
    # The forecast's history: every counted catalogue line, once.
    counted = m.OrderLine.objects.filter(order__state__in=totals.COUNTED_ORDERS, product__isnull=False)
    assert sum(m.SalesMonth.objects.values_list("amount", flat=True)) == sum(counted.values_list("total", flat=True))
    by_month = defaultdict(Decimal)
    for month, amount in m.SalesMonth.objects.values_list("month", "amount"):
        by_month[(month.year, month.month)] += amount
    # The Chinese business year shows: February (Spring Festival) below its neighbours.
    for year in (2025, 2026):
        assert by_month[(year, 2)] < min(by_month[(year, 1)], by_month[(year, 3)]), year


def test_a_second_build_changes_nothing_and_the_draw_is_the_accounts_own(demo: dict[str, Any]) -> None:
    before = (m.Order.objects.count(), m.OrderLine.objects.count(), m.Opportunity.objects.count(),
              m.Payment.objects.count(), m.Lead.objects.count())
    again = build_demo("S", now=NOW)
    assert again["created"] is False
    assert (m.Order.objects.count(), m.OrderLine.objects.count(), m.Opportunity.objects.count(),
            m.Payment.objects.count(), m.Lead.objects.count()) == before
    # Drawing an account again (no write) gives the orders it has: same days, same totals.
    drawn_grades()  # the build drew its orders with these
    world = sales_demo.load_world("S", 20261123, NOW)
    accounts = list(Account.objects.filter(orders__isnull=False).distinct().order_by("pk").values_list(
        "pk", "name", "owner_id", "created_by_id", "created_at", "grade", "lifecycle", "is_distributor", "province",
        "city", "address")[:30])
    batch = Batch(world)
    batch.load_contacts([a[0] for a in accounts])
    for account in accounts:
        batch.account(AccountRow(*account))
    drawn = sorted((row["account_id"], row["order_date"], row["total"]) for row in batch.rows["orders"])
    written = sorted(m.Order.objects.filter(account_id__in=[a[0] for a in accounts]).values_list(
        "account_id", "order_date", "total"))
    assert drawn == written
