"""Reads of interactions, follow-ups, care and projects: always scoped by their account first.

A record here is visible exactly when its account is (the account's owner and department
decide, see core/access.py), so reassigning an account moves its history with it.
Follow-ups are also visible to their own owner, who may be a colleague asked to help.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from guanxi.activities.models import CarePlan, CostChange, FollowUp, Interaction, Phase, Project, Support
from guanxi.core import access
from guanxi.core.errors import NotFound

M = TypeVar("M", bound=Model)


def by_account(user: Any, queryset: QuerySet[M], *, prefix: str = "account") -> QuerySet[M]:
    """Scope any queryset of records that hang off an account to what ``user`` sees."""
    return access.visible(user, queryset, owner_field=f"{prefix}__owner", department_field=f"{prefix}__department")


def _live(model: type[M], queryset: QuerySet[M] | None, prefix: str = "account") -> QuerySet[M]:
    if queryset is not None:
        return queryset
    return model._default_manager.filter(**{f"{prefix}__deleted_at__isnull": True})


def interaction_scope(user: Any, queryset: QuerySet[Interaction] | None = None) -> QuerySet[Interaction]:
    return by_account(user, _live(Interaction, queryset))


def followup_scope(user: Any, queryset: QuerySet[FollowUp] | None = None) -> QuerySet[FollowUp]:
    """Follow-ups of visible accounts, plus the caller's own (a colleague asked to help)."""
    qs = _live(FollowUp, queryset)
    vis = access.visibility_for(user)
    if vis.everything:
        return qs
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    q = Q(owner_id=user.id)
    if vis.owner_ids:
        q |= Q(account__owner_id__in=vis.owner_ids)
    if vis.department_ids:
        q |= Q(account__department_id__in=vis.department_ids)
    return qs.filter(q)


def care_scope(user: Any, queryset: QuerySet[CarePlan] | None = None) -> QuerySet[CarePlan]:
    return by_account(user, _live(CarePlan, queryset))


def support_scope(user: Any, queryset: QuerySet[Support] | None = None) -> QuerySet[Support]:
    return by_account(user, _live(Support, queryset))


def project_scope(user: Any, queryset: QuerySet[Project] | None = None) -> QuerySet[Project]:
    return by_account(user, _live(Project, queryset))


def phase_scope(user: Any, queryset: QuerySet[Phase] | None = None) -> QuerySet[Phase]:
    qs = Phase.objects.filter(project__deleted_at__isnull=True, project__account__deleted_at__isnull=True) \
        if queryset is None else queryset
    return by_account(user, qs, prefix="project__account")


def cost_change_scope(user: Any, queryset: QuerySet[CostChange] | None = None) -> QuerySet[CostChange]:
    qs = CostChange.objects.filter(phase__project__deleted_at__isnull=True) if queryset is None else queryset
    return by_account(user, qs, prefix="phase__project__account")


def get_one(scope: Any, user: Any, pk: Any, *related: str) -> Any:
    """One record through ``scope`` (hidden = missing → NotFound)."""
    qs = scope(user)
    try:
        return (qs.select_related(*related) if related else qs).get(pk=pk)
    except (ObjectDoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def interactions_of(user: Any, account_id: int, *, limit: int = 50) -> list[Interaction]:
    return list(interaction_scope(user).filter(account_id=account_id).select_related("owner")
                .prefetch_related("their_people").order_by("-occurred_at", "-id")[:limit])


def open_followups_of(user: Any, account_id: int) -> list[FollowUp]:
    return list(followup_scope(user).filter(account_id=account_id, state=FollowUp.State.OPEN)
                .select_related("owner", "contact").order_by("due_at", "id")[:50])


def my_open_followups(user: Any, *, until: dt.datetime | None = None, limit: int = 50) -> list[FollowUp]:
    """The caller's open follow-ups due before ``until`` (default: the end of today), oldest first."""
    if until is None:
        until = end_of_today()
    return list(FollowUp.objects.filter(owner=user, state=FollowUp.State.OPEN, due_at__lt=until,
                                        account__deleted_at__isnull=True)
                .select_related("account", "contact").order_by("due_at", "id")[:limit])


def end_of_today() -> dt.datetime:
    today = timezone.localdate()
    return timezone.make_aware(dt.datetime.combine(today + dt.timedelta(days=1), dt.time.min))
