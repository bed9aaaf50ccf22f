"""Sales reads: contracts, their plan and receipts, receivables and the desk's reminders.

Everything starts from ``scope.contract_scope`` / ``plan_scope`` / ``payment_scope``. An
instalment is *overdue* when it fell due before today with money outstanding and its
contract is in force (the same rule as the customer's overdue figure in
``services.totals``); a contract is a *receivable* when it counts as contracted and has
money outstanding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db.models import DecimalField, ExpressionWrapper, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from guanxi.sales.models import AccountSales, Contract, ContractStep, Payment, PaymentPlan
from guanxi.sales.selectors.common import filter_list, parse_list_filters
from guanxi.sales.selectors.scope import contract_scope, payment_scope, plan_scope
from guanxi.sales.services.totals import COUNTED_CONTRACTS

ZERO = Decimal("0")
MONEY = DecimalField(max_digits=24, decimal_places=8)
DESK_ROWS = 8


def parse_filters(user: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """The contract list's filters (``q``, ``state``, ``account``, ``owner`` = me or an id)."""
    out = parse_list_filters(user, params, Contract.State.values)
    if str(params.get("overdue") or "") in ("1", "true", "on"):
        out["overdue"] = True
    return out


def contract_list_for(user: Any, **filters: Any) -> QuerySet[Contract]:
    qs = contract_scope(user).select_related("account", "owner")
    if filters.get("q"):
        q = filters["q"]
        qs = qs.filter(Q(code__icontains=q) | Q(title__icontains=q) | Q(account__name__icontains=q))
    return filter_list(qs, filters).order_by("-id")


def steps_of(contract: Contract) -> list[ContractStep]:
    return list(ContractStep.objects.filter(contract=contract).select_related("owner").order_by("position", "id"))


def plan_of(contract: Contract, today: dt.date | None = None) -> list[PaymentPlan]:
    """The instalments in due order, each with ``overdue`` (see the module docstring)."""
    today = today or timezone.localdate()
    rows = list(PaymentPlan.objects.filter(contract=contract).order_by("due_on", "position", "id"))
    for plan in rows:
        plan.overdue = contract.state == Contract.State.ACTIVE and plan.outstanding > 0 and plan.due_on < today  # type: ignore[attr-defined]
    return rows


def payments_of(contract: Contract) -> list[Payment]:
    return list(Payment.objects.filter(contract=contract).select_related("plan", "recorded_by")
                .order_by("-received_on", "-id"))


def payment_list_for(user: Any, *, contract: int | None = None, account: int | None = None) -> QuerySet[Payment]:
    qs = payment_scope(user).select_related("contract", "plan")
    if contract:
        qs = qs.filter(contract_id=contract)
    if account:
        qs = qs.filter(account_id=account)
    return qs.order_by("-received_on", "-id")


def figures_of(account_id: int) -> AccountSales | None:
    """The customer's cumulative figures row (kept by every sales write)."""
    return AccountSales.objects.filter(account_id=account_id).first()


# --- Receivables ---------------------------------------------------------------------------
def receivables_for(user: Any, *, today: dt.date | None = None, **filters: Any) -> QuerySet[Contract]:
    """Visible counted contracts with money outstanding, oldest due first.

    Each row carries ``overdue`` (in the contract's currency), ``next_due`` (the earliest
    open instalment) and ``outstanding_cny``/``overdue_cny`` for the sums.
    """
    today = today or timezone.localdate()
    open_plan = PaymentPlan.objects.filter(contract=OuterRef("pk"), amount__gt=F("received"))
    overdue = (open_plan.filter(due_on__lt=today, contract__state=Contract.State.ACTIVE).order_by()
               .values("contract").annotate(s=Sum(F("amount") - F("received"))).values("s"))
    next_due = open_plan.order_by("due_on").values("due_on")[:1]
    qs = contract_list_for(user, **{k: v for k, v in filters.items() if k != "overdue"}) \
        .filter(state__in=COUNTED_CONTRACTS, amount__gt=F("received")) \
        .annotate(overdue=Coalesce(Subquery(overdue, output_field=MONEY), Value(ZERO), output_field=MONEY),
                  next_due=Subquery(next_due))
    qs = qs.annotate(
        outstanding_cny=ExpressionWrapper((F("amount") - F("received")) * F("rate_to_cny"), output_field=MONEY),
        overdue_cny=ExpressionWrapper(F("overdue") * F("rate_to_cny"), output_field=MONEY))
    if filters.get("overdue"):
        qs = qs.filter(overdue__gt=0)
    return qs.order_by(F("next_due").asc(nulls_last=True), "id")


def receivable_sums(qs: QuerySet[Contract]) -> dict[str, Decimal]:
    """Outstanding and overdue of a receivables list in CNY (every row, not one page)."""
    sums = qs.order_by().aggregate(outstanding=Sum("outstanding_cny"), overdue=Sum("overdue_cny"))
    q = Decimal("0.01")
    return {name: Decimal(sums[name] or 0).quantize(q) for name in ("outstanding", "overdue")}


# --- My desk -------------------------------------------------------------------------------
def my_overdue_instalments(user: Any, today: dt.date, limit: int = DESK_ROWS) -> list[PaymentPlan]:
    """My contracts' overdue instalments, the oldest first."""
    return list(plan_scope(user).filter(contract__owner=user, contract__state=Contract.State.ACTIVE,
                                        due_on__lt=today, amount__gt=F("received"))
                .select_related("contract", "contract__account").order_by("due_on", "id")[:limit])


def my_expiring_contracts(user: Any, today: dt.date, limit: int = DESK_ROWS) -> list[Contract]:
    """My contracts in force that reached their reminder window (or already ended)."""
    candidates = contract_scope(user).filter(owner=user, state=Contract.State.ACTIVE, ends_on__isnull=False,
                                             ends_on__lte=today + dt.timedelta(days=366)) \
        .select_related("account").order_by("ends_on", "id")[:200]
    due = [c for c in candidates if c.ends_on and c.ends_on - dt.timedelta(days=c.remind_days) <= today]
    for contract in due:
        assert contract.ends_on is not None
        contract.days_left = (contract.ends_on - today).days  # type: ignore[attr-defined]
    return due[:limit]
