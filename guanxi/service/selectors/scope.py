"""Which cases, visits and improvements a user sees: every service selector starts here.

A case is an owned record (``owner`` and the owner's ``department``). A user sees:

* the cases they own, and those their role reaches through ``core.access`` (a team leader
  their team's, a service manager the service department's, the general manager all);
* read-only, the cases of the accounts they see (a salesperson their customers' cases);
* a case being handed over to them, so they can accept or decline it.

A case whose sender matched no account is seen by its owner and otherwise only by those who
hold ``case.unmatched`` (service managers) within their reach. Cases of an account in the
recycle bin are hidden with it. Without ``case.view`` a user sees none (the administrator
sees everything by scope but holds no service rights). Visits and attachments are visible
with their case.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Exists, OuterRef, Q, QuerySet

from guanxi.core import access
from guanxi.core.errors import NotFound
from guanxi.core.permissions import has_perm
from guanxi.service.models import Case, Handover, Improvement, Visit


def _alive_cases() -> QuerySet[Case]:
    return Case.objects.filter(Q(account__isnull=True) | Q(account__deleted_at__isnull=True))


def case_visibility(user: Any, *, prefix: str = "") -> Q | None:
    """The condition on cases (or, with ``prefix``, on records hanging off one) that ``user``
    sees; None for "everything". Empty ``Q(pk__in=[])`` for nothing."""
    if not has_perm(user, "case.view"):
        return Q(pk__in=[])
    vis = access.visibility_for(user)
    if vis.everything:
        return None
    p = prefix
    reach = Q(pk__in=[])
    if vis.owner_ids:
        reach |= Q(**{f"{p}owner_id__in": vis.owner_ids})
    if vis.department_ids:
        reach |= Q(**{f"{p}department_id__in": vis.department_ids})
    customers = Q(pk__in=[])
    if vis.owner_ids:
        customers |= Q(**{f"{p}account__owner_id__in": vis.owner_ids})
    if vis.department_ids:
        customers |= Q(**{f"{p}account__department_id__in": vis.department_ids})
    matched = Q(**{f"{p}account__isnull": False})
    q = Q(**{f"{p}owner_id": user.pk}) | (matched & (reach | customers))
    if has_perm(user, "case.unmatched"):
        q |= Q(**{f"{p}account__isnull": True}) & reach
    # The case's id from the outer row: "pk" on cases, "case_id" on a visit ("case__").
    outer = p.removesuffix("__") + "_id" if p else "pk"
    offered = Handover.objects.filter(case_id=OuterRef(outer), to_user_id=user.pk, state=Handover.State.OFFERED)
    return q | Q(Exists(offered))


def case_scope(user: Any, queryset: QuerySet[Case] | None = None) -> QuerySet[Case]:
    qs = queryset if queryset is not None else _alive_cases()
    condition = case_visibility(user)
    return qs if condition is None else qs.filter(condition)


def can_handle(user: Any, case: Case) -> bool:
    """Whether ``user`` may move ``case`` on: only its owner (first-responder ownership)."""
    return bool(getattr(user, "is_authenticated", False)) and case.owner_id == user.pk and has_perm(user, "case.change")


def visit_scope(user: Any, queryset: QuerySet[Visit] | None = None) -> QuerySet[Visit]:
    """Visits of the cases the user sees, and the visits they are the technician of."""
    qs = queryset if queryset is not None else Visit.objects.filter(case__deleted_at__isnull=True)
    if not has_perm(user, "visit.view"):
        return qs.none()
    condition = case_visibility(user, prefix="case__")
    if condition is None:
        return qs
    return qs.filter(condition | Q(technician_id=user.pk))


def improvement_scope(user: Any, queryset: QuerySet[Improvement] | None = None) -> QuerySet[Improvement]:
    """Improvements are the company's, not a customer's: everyone with the right reads them."""
    qs = queryset if queryset is not None else Improvement.objects.all()
    return qs if has_perm(user, "improvement.view") else qs.none()


def get_one(scope: Any, user: Any, pk: Any, *related: str) -> Any:
    """One record through ``scope`` (hidden = missing → NotFound)."""
    qs = scope(user)
    try:
        return (qs.select_related(*related) if related else qs).get(pk=pk)
    except (ObjectDoesNotExist, ValueError, TypeError):
        raise NotFound() from None
