"""Which survey invitations and responses a user sees.

They carry the responsible person (``owner``: the case's owner, the technician, the order's
salesperson) and that person's ``department``, so they are scoped by ``core.access`` like the
records they came from; a salesperson also sees the answers of the accounts they see.
Without ``survey.view`` a user sees none. Survey templates are the company's: whoever holds
``survey.view`` reads them.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet

from guanxi.core import access
from guanxi.core.permissions import has_perm
from guanxi.loyalty.models import Invitation, Response, Survey

M = TypeVar("M", bound=Model)


def _scoped(user: Any, qs: QuerySet[M]) -> QuerySet[M]:
    if not has_perm(user, "survey.view"):
        return qs.none()
    vis = access.visibility_for(user)
    if vis.everything:
        return qs
    q = Q(pk__in=[])
    if vis.owner_ids:
        q |= Q(owner_id__in=vis.owner_ids) | Q(account__owner_id__in=vis.owner_ids)
    if vis.department_ids:
        q |= Q(department_id__in=vis.department_ids) | Q(account__department_id__in=vis.department_ids)
    return qs.filter(q)


def response_scope(user: Any, queryset: QuerySet[Response] | None = None) -> QuerySet[Response]:
    qs = queryset if queryset is not None else Response.objects.filter(
        Q(account__isnull=True) | Q(account__deleted_at__isnull=True))
    return _scoped(user, qs)


def invitation_scope(user: Any, queryset: QuerySet[Invitation] | None = None) -> QuerySet[Invitation]:
    qs = queryset if queryset is not None else Invitation.objects.filter(
        Q(account__isnull=True) | Q(account__deleted_at__isnull=True))
    return _scoped(user, qs)


def survey_scope(user: Any, queryset: QuerySet[Survey] | None = None) -> QuerySet[Survey]:
    qs = queryset if queryset is not None else Survey.objects.all()
    return qs if has_perm(user, "survey.view") else qs.none()
