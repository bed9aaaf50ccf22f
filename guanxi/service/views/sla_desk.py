"""The desk panel "SLA at risk": open cases whose running timer was warned or breached.

It reads the columns the sweep keeps (warned/breached flags and due times), never works a
timer out per case: the user's own open cases through the ``(owner, state)`` index and, for
a service manager, their department's (the ``department`` index), ten at most, the nearest
due time first. Someone who owns no open case (the desk's "service" fact) is not asked.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Case as Choose
from django.db.models import F, Q, When
from django.db.models.functions import Coalesce, Least

from guanxi.core import access, desk
from guanxi.core.models import Role
from guanxi.core.permissions import has_perm
from guanxi.service.models import Case
from guanxi.service.selectors.scope import case_scope
from guanxi.service.services.sla import case_url
from guanxi.service.views.desk import owns_open_cases

LIMIT = 10


def at_risk() -> Q:
    """A running timer that was warned or breached (the response timer runs until answered)."""
    response = Q(first_responded_at__isnull=True) & (Q(response_warned_at__isnull=False) | Q(response_breached=True))
    resolution = Q(resolution_warned_at__isnull=False) | Q(resolution_breached=True)
    return Q(state__in=Case.OPEN_STATES) & (response | resolution)


def _next_due() -> Any:
    """The earlier of the running due times (the response one only while unanswered)."""
    response = Choose(When(first_responded_at__isnull=True, then=F("first_response_due")), default=None)
    # LEAST treats NULL differently on SQLite and PostgreSQL: never hand it one.
    return Least(Coalesce(response, F("resolution_due")), Coalesce(F("resolution_due"), response))


@desk.register("service.sla-at-risk", template="service/sla_desk.html", order=25)
def sla_at_risk(user: Any, now: dt.datetime) -> dict[str, Any] | None:
    if not has_perm(user, "case.change"):
        return None
    mine = Q(owner_id=user.pk)
    departments = (access.visibility_for(user, include_grants=False).department_ids
                   if user.has_role(Role.Code.SERVICE_MANAGER) else None)
    if departments:
        mine |= Q(department_id__in=departments)
    elif not owns_open_cases(user, now):
        # Only my own cases count, and I own no open one (the desk's fact): nothing at risk.
        return {"cases": [], "now": now, "limit": LIMIT, "user_id": user.pk}
    cases = list(case_scope(user).filter(at_risk() & mine).annotate(next_due=_next_due())
                 .select_related("owner").order_by("next_due", "id")[:LIMIT])
    for case in cases:
        # As the sweep marked it (the clock the sweep was given, also in the browser test).
        case.overdue = (case.resolution_breached  # type: ignore[attr-defined]
                        or (case.first_responded_at is None and case.response_breached))
        case.url = case_url(case)  # type: ignore[attr-defined]
    return {"cases": cases, "now": now, "limit": LIMIT, "user_id": user.pk}
