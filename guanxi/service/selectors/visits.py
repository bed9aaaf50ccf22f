"""Field-visit reads: lists and the technicians' agenda, scoped first (``scope.visit_scope``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.models import User
from guanxi.core.permissions import has_perm
from guanxi.service.models import Visit
from guanxi.service.selectors.scope import visit_scope

SPANS = ("day", "week")


def _day(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value or "").strip())
    except ValueError:
        return None


def parse_filters(user: Any, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The list's filters from a query string, and a message per bad value.

    ``technician``: ``me`` or an id; ``state``: a visit state; ``case``: an id;
    ``date_from``/``date_to``: ISO dates of the planned start (both days included). The HTML
    list ignores the bad ones; the API refuses them (422)."""
    out: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    technician = str(params.get("technician") or "").strip()
    if technician == "me":
        out["technician"] = user.pk
    elif technician.isdigit():
        out["technician"] = int(technician)
    elif technician:
        errors["technician"] = [_("Enter me or a colleague's id.")]
    state = str(params.get("state") or "").strip()
    if state in Visit.State.values:
        out["state"] = state
    elif state:
        errors["state"] = [_("Choose a valid state.")]
    case = str(params.get("case") or "").strip()
    if case.isdigit():
        out["case"] = int(case)
    elif case:
        errors["case"] = [_("Enter a case's id.")]
    for name in ("date_from", "date_to"):
        raw = params.get(name)
        if raw in (None, ""):
            continue
        day = _day(raw)
        if day is None:
            errors[name] = [_("Enter a valid date (YYYY-MM-DD).")]
        else:
            out[name] = day
    return out, errors


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def visit_list_for(user: Any, *, technician: int | None = None, state: str = "", case: int | None = None,
                   date_from: dt.date | None = None, date_to: dt.date | None = None) -> QuerySet[Visit]:
    """The visits ``user`` sees, by planned start, with the given (parsed) filters. A date range
    keeps the visits that overlap it (local days, both included)."""
    qs = visit_scope(user).select_related("technician", "case", "case__account")
    if technician:
        qs = qs.filter(technician_id=technician)
    if state:
        qs = qs.filter(state=state)
    if case:
        qs = qs.filter(case_id=case)
    if date_from:
        qs = qs.filter(scheduled_end__gt=_start_of(date_from))
    if date_to:
        qs = qs.filter(scheduled_start__lt=_start_of(date_to + dt.timedelta(days=1)))
    return qs.order_by("scheduled_start", "id")


# --- The agenda ---------------------------------------------------------------------------------------
@dataclass
class AgendaRow:
    technician: User
    days: list[list[Visit]] = field(default_factory=list)


@dataclass
class Agenda:
    span: str
    first: dt.date
    days: list[dt.date]
    rows: list[AgendaRow]  # per technician: one list of visits per day
    by_day: list[tuple[dt.date, list[Visit]]]  # the same visits, per day (the phone's view)
    mine: bool
    technician: int | None
    state: str

    @property
    def last(self) -> dt.date:
        return self.days[-1]

    @property
    def previous(self) -> dt.date:
        return self.first - dt.timedelta(days=len(self.days))

    @property
    def next(self) -> dt.date:
        return self.first + dt.timedelta(days=len(self.days))

    @property
    def count(self) -> int:
        return sum(len(visits) for _day, visits in self.by_day)


def default_mine(user: Any) -> bool:
    """Technicians open their own visits; those who plan for others (service managers) everyone's."""
    return has_perm(user, "visit.change") and not has_perm(user, "case.review")


def agenda(user: Any, params: Mapping[str, Any], *, today: dt.date | None = None) -> Agenda:
    """A day or a week (Monday first) of the visits ``user`` sees, per technician and per day.

    ``params``: ``day`` (ISO date, today by default), ``span`` (``day``/``week``), ``who``
    (``mine``/``all``; default :func:`default_mine`), ``technician`` (an id), ``state``
    (cancelled visits are left out unless asked for)."""
    today = today or timezone.localdate()
    day = _day(params.get("day")) or today
    span = str(params.get("span") or "week")
    span = span if span in SPANS else "week"
    first = day - dt.timedelta(days=day.weekday()) if span == "week" else day
    days = [first + dt.timedelta(days=n) for n in range(7 if span == "week" else 1)]
    who = str(params.get("who") or "")
    mine = who == "mine" if who in ("mine", "all") else default_mine(user)
    filters, _errors = parse_filters(user, {k: params.get(k) for k in ("technician", "state")})
    technician = user.pk if mine else filters.get("technician")
    state = filters.get("state", "")
    qs = visit_list_for(user, technician=technician, state=state, date_from=days[0], date_to=days[-1])
    if not state:
        qs = qs.exclude(state=Visit.State.CANCELLED)
    visits = list(qs[:2000])
    index = {d: n for n, d in enumerate(days)}
    rows: dict[int, AgendaRow] = {}
    by_day: list[tuple[dt.date, list[Visit]]] = [(d, []) for d in days]
    for visit in visits:
        start = max(timezone.localtime(visit.scheduled_start).date(), days[0])
        end = min(timezone.localtime(visit.scheduled_end - dt.timedelta(microseconds=1)).date(), days[-1])
        row = rows.setdefault(visit.technician_id, AgendaRow(visit.technician, [[] for _d in days]))
        current = start
        while current <= end:  # a visit over several days shows on each of them
            row.days[index[current]].append(visit)
            by_day[index[current]][1].append(visit)
            current += dt.timedelta(days=1)
    ordered = sorted(rows.values(), key=lambda r: (r.technician.name or r.technician.username, r.technician.pk))
    return Agenda(span=span, first=first, days=days, rows=ordered, by_day=by_day, mine=mine,
                  technician=technician if not mine else None, state=state)


def today_for(user: Any, *, today: dt.date | None = None) -> list[Visit]:
    """The user's own visits today that still wait for a report or a signature (the phone's start)."""
    today = today or timezone.localdate()
    return list(visit_list_for(user, technician=user.pk, date_from=today, date_to=today)
                .filter(state__in=(Visit.State.SCHEDULED, Visit.State.DONE)))
