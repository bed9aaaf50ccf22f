"""Which sales records a user sees: every sales selector starts here.

Deals, quotes, orders and contracts are owned records (their own ``owner`` and
``department``): a salesperson sees their own, a manager their team's and department's, the
general manager everything (``core.access``). Records of an account in the recycle bin are
hidden with it. Lines, stage history, plans and receipts are visible with their parent.
Unassigned leads (no owner yet) are seen by whoever may hand them out (``lead.assign``).
Without the record type's view right a user sees none of them, whatever the reach of their
role (the administrator sees everything by scope but holds no sales rights): every door
that reads through a scope — history, recycle bin, exports — then answers "not found".
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model, Q, QuerySet

from guanxi.core import access
from guanxi.core.errors import NotFound
from guanxi.core.permissions import has_perm
from guanxi.sales.models import Contract, Lead, Opportunity, Order, Payment, PaymentPlan, Quote

M = TypeVar("M", bound=Model)


def owned(user: Any, queryset: QuerySet[M], *, prefix: str = "") -> QuerySet[M]:
    """Scope an owned sales record (or, with ``prefix``, records hanging off one)."""
    return access.visible(user, queryset, owner_field=f"{prefix}owner", department_field=f"{prefix}department")


def _alive(model: type[M], prefix: str = "") -> QuerySet[M]:
    return model._default_manager.filter(**{f"{prefix}deleted_at__isnull": True,
                                            f"{prefix}account__deleted_at__isnull": True})


def _viewable(user: Any, perm: str, queryset: QuerySet[M]) -> QuerySet[M] | None:
    """``queryset.none()`` for a user without the view right, else None (go on scoping)."""
    return None if has_perm(user, perm) else queryset.none()


def _scoped(user: Any, perm: str, queryset: QuerySet[M], prefix: str = "") -> QuerySet[M]:
    hidden = _viewable(user, perm, queryset)
    return hidden if hidden is not None else owned(user, queryset, prefix=prefix)


def opportunity_scope(user: Any, queryset: QuerySet[Opportunity] | None = None) -> QuerySet[Opportunity]:
    qs = queryset if queryset is not None else _alive(Opportunity)
    return _scoped(user, "opportunity.view", qs)


def quote_scope(user: Any, queryset: QuerySet[Quote] | None = None) -> QuerySet[Quote]:
    qs = queryset if queryset is not None else _alive(Quote)
    return _scoped(user, "quote.view", qs)


def order_scope(user: Any, queryset: QuerySet[Order] | None = None) -> QuerySet[Order]:
    qs = queryset if queryset is not None else _alive(Order)
    return _scoped(user, "order.view", qs)


def contract_scope(user: Any, queryset: QuerySet[Contract] | None = None) -> QuerySet[Contract]:
    qs = queryset if queryset is not None else _alive(Contract)
    return _scoped(user, "contract.view", qs)


def plan_scope(user: Any, queryset: QuerySet[PaymentPlan] | None = None) -> QuerySet[PaymentPlan]:
    qs = queryset if queryset is not None else PaymentPlan.objects.filter(
        contract__deleted_at__isnull=True, contract__account__deleted_at__isnull=True)
    return _scoped(user, "contract.view", qs, prefix="contract__")


def payment_scope(user: Any, queryset: QuerySet[Payment] | None = None) -> QuerySet[Payment]:
    qs = queryset if queryset is not None else Payment.objects.filter(
        deleted_at__isnull=True, contract__deleted_at__isnull=True, account__deleted_at__isnull=True)
    return _scoped(user, "payment.view", qs, prefix="contract__")


def lead_scope(user: Any, queryset: QuerySet[Lead] | None = None) -> QuerySet[Lead]:
    """Leads the user owns or manages; unassigned ones for whoever hands leads out."""
    qs = queryset if queryset is not None else Lead.objects.filter(deleted_at__isnull=True)
    hidden = _viewable(user, "lead.view", qs)
    if hidden is not None:
        return hidden
    vis = access.visibility_for(user)
    if vis.everything:
        return qs
    q = Q(pk__in=[])
    if vis.owner_ids:
        q |= Q(owner_id__in=vis.owner_ids)
    if vis.department_ids:
        q |= Q(department_id__in=vis.department_ids)
    if has_perm(user, "lead.assign"):
        q |= Q(owner__isnull=True)
    return qs.filter(q)


def get_one(scope: Any, user: Any, pk: Any, *related: str) -> Any:
    """One record through ``scope`` (hidden = missing → NotFound)."""
    qs = scope(user)
    try:
        return (qs.select_related(*related) if related else qs).get(pk=pk)
    except (ObjectDoesNotExist, ValueError, TypeError):
        raise NotFound() from None
