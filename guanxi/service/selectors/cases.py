"""Case reads: the list with its filters and sorting, one case's page, hand-overs, the desk's
panels. Everything starts from ``scope.case_scope`` (hidden = missing).

The list's SLA filters read the columns the SLA sweep keeps (due times, warned and
breached flags), never the calendar: *overdue* is an open case past a running timer's due
time, *at risk* one whose warning went out and whose due time is still ahead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db.models import Case as CaseWhen
from django.db.models import DateTimeField, F, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from guanxi.core import search
from guanxi.core.models import Team
from guanxi.core.permissions import has_perm
from guanxi.sales.selectors.common import id_of
from guanxi.service.models import Case, CaseAttachment, CaseCategory, CaseEvent, Channel, HandlingStep, Handover, Kind, Severity
from guanxi.service.selectors.scope import case_scope, case_visibility
from guanxi.service.services import calendar as calendars
from guanxi.service.services import sla

OPEN = Case.OPEN_STATES
DONE = tuple(s for s in Case.State.values if s not in OPEN)
# ?sort= values → the ordering (a fixed table: nothing from the request reaches order_by).
SORTS: dict[str, tuple[str, ...]] = {
    "newest": ("-received_at", "-id"),
    "oldest": ("received_at", "id"),
    "due": ("resolution_due", "id"),
    "response": ("first_response_due", "id"),
    "severity": ("severity", "-id"),
    "state": ("state", "-id"),
    "code": ("code",),
}
DEFAULT_SORT = "newest"
SEVERITY_ORDER = ("critical", "high", "normal", "low")
FILTERS = ("kind", "state", "status", "mine", "team", "category", "severity", "channel", "sla", "unmatched",
           "account", "q", "received_from", "received_to", "owner", "sort")


def _day(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value or "").strip())
    except ValueError:
        return None


def parse_filters(user: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """The list's filters from a query string; bad values are ignored, never an error.

    ``kind`` (complaint/suggestion/ticket), ``state``, ``status`` (open/closed: closed is
    resolved, confirmed or closed), ``mine`` (1), ``team`` (1: my teams' owners), ``owner`` (an
    id), ``category`` (an id), ``severity``, ``channel``, ``sla`` (overdue/at_risk),
    ``unmatched`` (1), ``account`` (an id), ``q``, ``received_from``/``received_to`` (ISO
    dates), ``sort`` (one of ``SORTS``).
    """
    out: dict[str, Any] = {}
    if (kind := str(params.get("kind") or "")) in Kind.values:
        out["kind"] = kind
    if (state := str(params.get("state") or "")) in Case.State.values:
        out["state"] = state
    if (status := str(params.get("status") or "")) in ("open", "closed"):
        out["status"] = status
    for flag in ("mine", "team", "unmatched"):
        if str(params.get(flag) or "") in ("1", "true", "on", "yes"):
            out[flag] = True
    for name in ("owner", "category", "account"):
        if (pk := id_of(params.get(name))) is not None:
            out[name] = pk
    if (severity := str(params.get("severity") or "")) in Severity.values:
        out["severity"] = severity
    if (channel := str(params.get("channel") or "")) in Channel.values:
        out["channel"] = channel
    if (risk := str(params.get("sla") or "")) in ("overdue", "at_risk"):
        out["sla"] = risk
    q = str(params.get("q") or "").strip()
    if q:
        out["q"] = q[:100]
    for name in ("received_from", "received_to"):
        if (day := _day(params.get(name))) is not None:
            out[name] = day.isoformat()
    if (sort := str(params.get("sort") or "")) in SORTS:
        out["sort"] = sort
    return out


def team_owner_ids(user: Any) -> set[int]:
    """The people of the teams the user leads or belongs to (the user included)."""
    teams = Team.objects.filter(Q(leader_id=user.pk) | Q(members__id=user.pk)).values("pk")
    ids = set(Team.members.through.objects.filter(team_id__in=teams).values_list("user_id", flat=True))
    ids |= set(Team.objects.filter(pk__in=teams, leader__isnull=False).values_list("leader_id", flat=True))
    return ids | {user.pk}


def overdue_q(now: dt.datetime) -> Q:
    return Q(state__in=OPEN) & (Q(first_responded_at__isnull=True, first_response_due__lt=now)
                                | Q(resolution_due__lt=now))


def at_risk_q(now: dt.datetime) -> Q:
    return Q(state__in=OPEN) & ~overdue_q(now) & (
        Q(first_responded_at__isnull=True, response_warned_at__isnull=False)
        | Q(resolution_warned_at__isnull=False))


def _local_start(day: str) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(dt.date.fromisoformat(day), dt.time.min))


def case_list_for(user: Any, *, now: dt.datetime | None = None, **filters: Any) -> QuerySet[Case]:
    """The cases ``user`` sees with the given (parsed) filters, sorted."""
    now = now or timezone.now()
    qs = case_scope(user).select_related("account", "owner", "category", "sla_policy")
    if filters.get("kind"):
        qs = qs.filter(kind=filters["kind"])
    if filters.get("state"):
        qs = qs.filter(state=filters["state"])
    if filters.get("status") == "open":
        qs = qs.filter(state__in=OPEN)
    elif filters.get("status") == "closed":
        qs = qs.filter(state__in=DONE)
    if filters.get("mine"):
        qs = qs.filter(owner_id=user.pk)
    if filters.get("team"):
        qs = qs.filter(owner_id__in=team_owner_ids(user))
    for name in ("owner", "category", "account"):
        if filters.get(name):
            qs = qs.filter(**{f"{name}_id": filters[name]})
    for name in ("severity", "channel"):
        if filters.get(name):
            qs = qs.filter(**{name: filters[name]})
    if filters.get("sla") == "overdue":
        qs = qs.filter(overdue_q(now))
    elif filters.get("sla") == "at_risk":
        qs = qs.filter(at_risk_q(now))
    if filters.get("unmatched"):
        qs = qs.filter(account__isnull=True)
    if filters.get("q"):
        needle = search.normalise(filters["q"])
        qs = qs.filter(Q(search_text__contains=needle) | Q(code__iexact=filters["q"]))
    if filters.get("received_from"):
        qs = qs.filter(received_at__gte=_local_start(filters["received_from"]))
    if filters.get("received_to"):
        qs = qs.filter(received_at__lt=_local_start(filters["received_to"]) + dt.timedelta(days=1))
    order = SORTS[filters.get("sort") or DEFAULT_SORT]
    if order[0] in ("resolution_due", "first_response_due"):
        return qs.order_by(F(order[0]).asc(nulls_last=True), *order[1:])
    if order[0] == "severity":  # the most severe first, not alphabetical
        rank = CaseWhen(*(When(severity=value, then=Value(n)) for n, value in enumerate(SEVERITY_ORDER)),
                        default=Value(9))
        return qs.order_by(rank, *order[1:])
    return qs.order_by(*order)


def with_sla(cases: list[Case], now: dt.datetime | None = None) -> list[Case]:
    """Each case's ``sla`` status (one calendar for all; ``sla_policy`` selected by the caller)."""
    now = now or timezone.now()
    cal = calendars.current()
    for case in cases:
        case.sla = sla.status(case, now, calendar=cal)  # type: ignore[attr-defined]
    return cases


def categories() -> QuerySet[CaseCategory]:
    return CaseCategory.objects.filter(active=True).order_by("position", "id")


# --- One case ---------------------------------------------------------------------------------
def get_case(user: Any, pk: Any) -> Case:
    """One case the user sees, with what its page shows of it; hidden or missing → NotFound."""
    from guanxi.service.selectors.scope import get_one

    return get_one(case_scope, user, pk, "account", "contact", "owner", "department", "category", "product",  # type: ignore[no-any-return]
                   "order", "received_by", "reviewed_by", "sla_policy", "form", "improvement")


def events_of(case: Case) -> list[CaseEvent]:
    """The case's story, oldest first (each with ``to_label``, the state it moved to, if any)."""
    labels = dict(Case.State.choices)
    rows = list(CaseEvent.objects.filter(case=case).select_related("actor", "to_user").order_by("at", "id")[:500])
    for row in rows:
        row.to_label = labels.get(row.to_state, "")  # type: ignore[attr-defined]
    return rows


def steps_of(case: Case) -> list[HandlingStep]:
    return list(HandlingStep.objects.filter(case=case).select_related("actor").order_by("at", "id")[:200])


def handovers_of(case: Case) -> list[Handover]:
    return list(Handover.objects.filter(case=case).select_related("from_user", "to_user").order_by("-id")[:50])


def attachments_of(case: Case) -> list[CaseAttachment]:
    return list(CaseAttachment.objects.filter(case=case).select_related("uploaded_by").order_by("created_at", "id"))


def detail(user: Any, case: Case, now: dt.datetime | None = None) -> dict[str, Any]:
    """What the case's page shows besides the case: its story, steps, hand-overs, files, SLA."""
    handovers = handovers_of(case)
    return {
        "events": events_of(case),
        "steps": steps_of(case),
        "handovers": handovers,
        "open_handover": next((h for h in handovers if h.state == Handover.State.OFFERED), None),
        "attachments": attachments_of(case),
        "sla": sla.status(case, now or timezone.now()),
    }


# --- Hand-overs -------------------------------------------------------------------------------
def handover_scope(user: Any, queryset: QuerySet[Handover] | None = None) -> QuerySet[Handover]:
    """Hand-overs of the cases the user sees (the recipient sees the case while it is offered)."""
    qs = queryset if queryset is not None else Handover.objects.filter(case__deleted_at__isnull=True)
    condition = case_visibility(user, prefix="case__")
    return qs if condition is None else qs.filter(condition)


def get_handover(user: Any, pk: Any) -> Handover:
    from guanxi.service.selectors.scope import get_one

    return get_one(handover_scope, user, pk, "case", "from_user", "to_user")  # type: ignore[no-any-return]


# --- The desk ---------------------------------------------------------------------------------
DESK_ROWS = 8


def owned_open_cases(user: Any) -> QuerySet[Case]:
    """The open cases ``user`` owns (on a live account, or none): "My open cases" lists them,
    and the SLA panel's own cases are among them."""
    return (Case.objects.filter(owner_id=user.pk, state__in=OPEN)
            .filter(Q(account__isnull=True) | Q(account__deleted_at__isnull=True)))


def my_open_cases(user: Any, limit: int = DESK_ROWS) -> list[Case]:
    """My open cases, the nearest due time first: the first response while unanswered, or the
    resolution, whichever comes sooner (cases without timers last)."""
    far = Value(dt.datetime(9999, 1, 1, tzinfo=dt.UTC), output_field=DateTimeField())
    response = CaseWhen(When(first_responded_at__isnull=True, first_response_due__isnull=False,
                          then=F("first_response_due")), default=far, output_field=DateTimeField())
    nearest = Least(response, Coalesce(F("resolution_due"), far, output_field=DateTimeField()))
    qs = (owned_open_cases(user).select_related("account", "sla_policy").annotate(nearest=nearest)
          .order_by("nearest", "id"))
    return list(qs[:limit])


def handovers_offered(user: Any) -> QuerySet[Handover]:
    return Handover.objects.filter(to_user_id=user.pk, state=Handover.State.OFFERED, case__deleted_at__isnull=True)


def handovers_waiting(user: Any, limit: int = DESK_ROWS) -> list[Handover]:
    return list(handovers_offered(user).select_related("case", "from_user").order_by("-id")[:limit])


def reviews_waiting(user: Any, limit: int = DESK_ROWS) -> list[Case]:
    """Replies waiting for review in the reviewer's reach (not their own)."""
    if not has_perm(user, "case.review"):
        return []
    return list(case_scope(user).filter(review_state=Case.Review.PENDING).exclude(owner_id=user.pk)
                .select_related("owner").order_by("updated_at", "id")[:limit])


def open_count(user: Any) -> int:
    """How many open cases I own (bounded: the desk says "50+")."""
    return Case.objects.filter(owner_id=user.pk, state__in=OPEN)[:51].count()
