"""Each customer's cumulative sales figures (R11.4), always recounted, never incremented.

Every service that writes an order, a contract, a plan instalment, a receipt or a deal
calls :func:`refresh` for the accounts it touched, inside its own transaction, so the
figures on the account page and in reports are never out of step with the records.
A recount is a handful of indexed aggregates per account; ``recount_all`` rebuilds every
row from grouped reads over all accounts (the nightly job, and after a bulk load).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Case, Count, DecimalField, ExpressionWrapper, F, Max, Min, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from guanxi.customers.services.merge import register_merge_listener
from guanxi.sales.models import AccountSales, Contract, Opportunity, Order, Payment, PaymentPlan

ZERO = Decimal("0")
COUNTED_ORDERS = (Order.State.CONFIRMED, Order.State.SHIPPED, Order.State.DELIVERED)
COUNTED_CONTRACTS = (Contract.State.ACTIVE, Contract.State.COMPLETED, Contract.State.EXPIRED)
_CNY = DecimalField(max_digits=24, decimal_places=8)


def _in_cny(amount: str) -> ExpressionWrapper:
    return ExpressionWrapper(F(amount) * F("rate_to_cny"), output_field=_CNY)


def figures(account_id: int) -> dict[str, object]:
    """The figures of one account, counted from the records."""
    today = timezone.localdate()
    orders = Order.objects.filter(account_id=account_id, deleted_at__isnull=True, state__in=COUNTED_ORDERS) \
        .aggregate(total=Coalesce(Sum(_in_cny("total")), ZERO, output_field=_CNY),
                   first=Min("order_date"), last=Max("order_date"))
    orders_count = Order.objects.filter(account_id=account_id, deleted_at__isnull=True,
                                        state__in=COUNTED_ORDERS).count()
    contracts = Contract.objects.filter(account_id=account_id, deleted_at__isnull=True, state__in=COUNTED_CONTRACTS)
    contracted = ZERO
    receivable = ZERO
    # Per contract: money received on one contract never lowers what another still owes.
    for amount, got, rate in contracts.values_list("amount", "received", "rate_to_cny"):
        contracted += amount * rate
        if amount > got:
            receivable += (amount - got) * rate
    received = Payment.objects.filter(account_id=account_id, deleted_at__isnull=True,
                                      contract__deleted_at__isnull=True) \
        .aggregate(total=Coalesce(Sum(ExpressionWrapper(F("amount") * F("contract__rate_to_cny"), output_field=_CNY)),
                                  ZERO, output_field=_CNY))["total"]
    overdue = ZERO
    for amount, got, rate in PaymentPlan.objects.filter(
            contract__account_id=account_id, contract__deleted_at__isnull=True,
            contract__state=Contract.State.ACTIVE, due_on__lt=today).values_list("amount", "received",
                                                                                 "contract__rate_to_cny"):
        if amount > got:
            overdue += (amount - got) * rate
    open_deals = Opportunity.objects.filter(account_id=account_id, deleted_at__isnull=True,
                                            state=Opportunity.State.OPEN) \
        .aggregate(total=Coalesce(Sum(_in_cny("amount")), ZERO, output_field=_CNY))["total"]
    q = Decimal("0.01")
    return {
        "orders_count": orders_count,
        "orders_total": Decimal(orders["total"]).quantize(q),
        "contracts_total": Decimal(contracted).quantize(q),
        "received_total": Decimal(received).quantize(q),
        "receivable_total": Decimal(receivable).quantize(q),
        "overdue_total": Decimal(overdue).quantize(q),
        "open_deals_total": Decimal(open_deals).quantize(q),
        "first_order_on": orders["first"],
        "last_order_on": orders["last"],
    }


def refresh(account_ids: Iterable[int | None]) -> None:
    """Recount the figures of the given accounts (call inside the writing transaction)."""
    now = timezone.now()
    for account_id in {pk for pk in account_ids if pk}:
        AccountSales.objects.update_or_create(account_id=account_id,
                                              defaults={**figures(account_id), "updated_at": now})


def grouped_figures(today: dt.date | None = None) -> dict[int, dict[str, object]]:
    """Every account's figures with sales records, in six grouped reads over all accounts: the
    same definitions as :func:`figures` (receivable and overdue per contract and instalment)."""
    today = today or timezone.localdate()

    def by_account(qs: Any, key: str = "account_id", **aggregates: Any) -> dict[int, dict[str, Any]]:
        return {row.pop(key): row for row in qs.order_by().values(key).annotate(**aggregates)}

    orders = by_account(Order.objects.filter(deleted_at__isnull=True, state__in=COUNTED_ORDERS),
                        total=Sum(_in_cny("total")), count=Count("id"), first=Min("order_date"),
                        last=Max("order_date"))
    contracts = by_account(
        Contract.objects.filter(deleted_at__isnull=True, state__in=COUNTED_CONTRACTS), total=Sum(_in_cny("amount")),
        owed=Sum(Case(When(amount__gt=F("received"), then=ExpressionWrapper(
            (F("amount") - F("received")) * F("rate_to_cny"), output_field=_CNY)), default=Value(ZERO),
            output_field=_CNY)))
    received = by_account(Payment.objects.filter(deleted_at__isnull=True, contract__deleted_at__isnull=True),
                          total=Sum(ExpressionWrapper(F("amount") * F("contract__rate_to_cny"), output_field=_CNY)))
    overdue = by_account(PaymentPlan.objects.filter(
        contract__deleted_at__isnull=True, contract__state=Contract.State.ACTIVE, due_on__lt=today,
        amount__gt=F("received")), key="contract__account_id", total=Sum(ExpressionWrapper(
            (F("amount") - F("received")) * F("contract__rate_to_cny"), output_field=_CNY)))
    deals = by_account(Opportunity.objects.filter(deleted_at__isnull=True, state=Opportunity.State.OPEN),
                       total=Sum(_in_cny("amount")))
    q = Decimal("0.01")

    def money(row: dict[str, Any] | None, name: str = "total") -> Decimal:
        return Decimal((row or {}).get(name) or 0).quantize(q)

    out: dict[int, dict[str, object]] = {}
    for account_id in set(orders) | set(contracts) | set(received) | set(overdue) | set(deals):
        o = orders.get(account_id) or {}
        out[account_id] = {
            "orders_count": o.get("count", 0), "orders_total": money(o),
            "contracts_total": money(contracts.get(account_id)), "received_total": money(received.get(account_id)),
            "receivable_total": money(contracts.get(account_id), "owed"), "overdue_total": money(overdue.get(account_id)),
            "open_deals_total": money(deals.get(account_id)), "first_order_on": o.get("first"),
            "last_order_on": o.get("last")}
    return out


EMPTY: dict[str, object] = {"orders_count": 0, "orders_total": ZERO, "contracts_total": ZERO, "received_total": ZERO,
                            "receivable_total": ZERO, "overdue_total": ZERO, "open_deals_total": ZERO,
                            "first_order_on": None, "last_order_on": None}


def recount_all(batch: int = 2000) -> int:
    """Rebuild every account's row (the nightly repair): grouped reads over all accounts, compared
    with the rows kept; only rows that differ are written (upserts in batches), and rows of
    accounts without sales records any more are zeroed. Returns the rows written. (Per account,
    as :func:`refresh` does, it took ~8 queries an account: tens of minutes at size M; writing
    every row back each night took most of the rest.)"""
    now = timezone.now()
    counted = grouped_figures()
    names = list(EMPTY)
    stored = {row[0]: row[1:] for row in AccountSales.objects.order_by().values_list("account_id", *names)
              .iterator(chunk_size=5000)}
    zero = tuple(EMPTY.values())
    rows = [AccountSales(account_id=pk, updated_at=now, **values) for pk, values in sorted(counted.items())
            if stored.get(pk) != tuple(values[name] for name in names)]
    gone = sorted(pk for pk, values in stored.items() if pk not in counted and values != zero)
    rows += [AccountSales(account_id=pk, updated_at=now, **EMPTY) for pk in gone]
    fields = [*EMPTY, "updated_at"]
    for start in range(0, len(rows), batch):
        with transaction.atomic():
            AccountSales.objects.bulk_create(rows[start:start + batch], update_conflicts=True,
                                             unique_fields=["account"], update_fields=fields)
    return len(rows)


def _after_merge(kept: object, merged: object) -> None:
    refresh([getattr(kept, "pk", None), getattr(merged, "pk", None)])


register_merge_listener(_after_merge)
