"""Each customer's cumulative sales figures (R11.4), always recounted, never incremented.

Every service that writes an order, a contract, a plan instalment, a receipt or a deal
calls :func:`refresh` for the accounts it touched, inside its own transaction, so the
figures on the account page and in reports are never out of step with the records.
A recount is a handful of indexed aggregates per account; ``recount_all`` rebuilds every
row (the nightly job, and after a bulk load).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.db.models import DecimalField, ExpressionWrapper, F, Max, Min, Sum
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


def recount_all(batch: int = 500) -> int:
    """Rebuild every account's row that has any sales record; returns how many were written."""
    ids: set[int] = set()
    for model in (Order, Contract, Opportunity):
        ids |= set(model.objects.values_list("account_id", flat=True).distinct())
    ids |= set(AccountSales.objects.values_list("account_id", flat=True))
    ordered = sorted(ids)
    for start in range(0, len(ordered), batch):
        refresh(ordered[start:start + batch])
    return len(ordered)


def _after_merge(kept: object, merged: object) -> None:
    refresh([getattr(kept, "pk", None), getattr(merged, "pk", None)])


register_merge_listener(_after_merge)
