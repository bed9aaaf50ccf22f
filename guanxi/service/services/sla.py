"""SLA timers of a case: which policy applies, when the answers are due, warnings and escalation.

A case has two timers, both in business minutes of the service calendar
(``services.calendar``) from ``received_at``:

* **first response** — stopped by ``first_responded_at`` (:func:`record_first_response`,
  called by the case services when the owner first answers);
* **resolution** — running while the case is open (new … proposed), stopped when it is
  resolved; a reopened case runs again against the same due time.

:func:`apply_timers` works the due times out when a case is received or its category or
severity changes; the columns then answer every list, the desk and the sweep without any
arithmetic. :func:`sweep` (every minute, from the queue) reads open cases by the indexed
``(state, due)`` columns in batches and, each at most once per case:

* **warns** the owner when ``warn_percent`` of a timer's time has passed;
* on a **breach** marks the case late and tells the owner, then **escalates**: level 1 to
  the service managers whose department contains the owner's (else all service managers)
  for a late first response; level 2 to the general managers for a late resolution, or a
  first response still missing a full response period after it was due. A jump from level
  0 to 2 tells both levels.

Each step is a conditional UPDATE of the case's flags (only the run whose UPDATE wins goes
on), so overlapping or repeated sweeps change nothing twice; each writes a ``CaseEvent``, a
notification with the case's address and an audit row. The sweep does not bump the case's
``version``: it never makes the owner's open edit form stale.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guanxi.core import audit, context
from guanxi.core.models import Role, User
from guanxi.core.services.notifications import notify
from guanxi.service.models import Case, CaseCategory, CaseEvent, SlaPolicy
from guanxi.service.services import calendar as calendars
from guanxi.service.services.calendar import Calendar

OPEN = Case.OPEN_STATES
DEFAULT_WARN_PERCENT = 75
RESPONSE, RESOLUTION = "response", "resolution"


def _batch_size() -> int:
    return int(getattr(settings, "GUANXI_SLA_SWEEP_BATCH", 200))


# --- Policies and timers ------------------------------------------------------------------
def policy_for(category: CaseCategory | int | None, severity: str) -> SlaPolicy | None:
    """The active policy of ``category`` for ``severity``, else the default policy (no
    category) for ``severity``; None when neither exists."""
    category_id = category.pk if isinstance(category, CaseCategory) else category
    active = SlaPolicy.objects.filter(severity=severity, active=True)
    if category_id is not None:
        found = active.filter(category_id=category_id).first()
        if found is not None:
            return found
    return active.filter(category__isnull=True).first()


def apply_timers(case: Case, *, calendar: Calendar | None = None) -> None:
    """Set ``sla_policy``, ``first_response_due`` and ``resolution_due`` on the instance from
    its ``received_at``, category and severity (no save). A timer whose due time moves and
    that still runs starts afresh: its warning and breach may happen again (escalations
    already made stay)."""
    policy = policy_for(case.category_id, case.severity)
    cal = calendar or calendars.current()
    received = case.received_at or timezone.now()
    case.sla_policy = policy
    response_due = resolution_due = None
    if policy is not None:
        response_due = cal.add_minutes(received, policy.first_response_minutes)
        resolution_due = cal.add_minutes(received, policy.resolution_minutes)
    if response_due != case.first_response_due:
        case.first_response_due = response_due
        if case.first_responded_at is None:
            case.response_warned_at = None
            case.response_breached = False
    if resolution_due != case.resolution_due:
        case.resolution_due = resolution_due
        if case.is_open:
            case.resolution_warned_at = None
            case.resolution_breached = False


def record_first_response(case: Case, at: dt.datetime | None = None) -> bool:
    """Stop the first-response timer at ``at`` (now by default) unless it already stopped
    (instance only, no save). True when this was the first response."""
    if case.first_responded_at is not None:
        return False
    case.first_responded_at = at or timezone.now()
    return True


# --- Status for pages and the API ---------------------------------------------------------
STATE_ORDER = {"breached": 3, "warning": 2, "ok": 1, "met": 0}
STATE_CSS = {"ok": "text-bg-success", "warning": "text-bg-warning", "breached": "text-bg-danger",
             "met": "text-bg-secondary"}


def _state_label(state: str) -> str:
    return {"ok": _("On time"), "warning": _("Due soon"), "breached": _("Overdue"), "met": _("Met")}.get(state, "")


def _warn_percent(case: Case) -> int:
    policy = case.sla_policy if case.sla_policy_id else None
    return policy.warn_percent if policy is not None else DEFAULT_WARN_PERCENT


def _timer(case: Case, due: dt.datetime | None, done_at: dt.datetime | None, running: bool, now: dt.datetime,
           cal: Calendar) -> dict[str, Any] | None:
    if due is None:
        return None
    total = max(cal.minutes_between(case.received_at, due), 1)
    day = cal.day_minutes
    if not running:
        finished = done_at or now
        late = cal.minutes_between(due, finished)
        state = "met" if finished <= due else "breached"
        return {"due": due, "done_at": done_at, "running": False, "state": state, "label": _state_label(state),
                "css": STATE_CSS[state], "minutes_left": None, "overdue_minutes": max(late, 0),
                "left_text": "", "overdue_text": calendars.format_minutes(late, day_minutes=day) if late > 0 else "",
                "percent": min(round(100 * cal.minutes_between(case.received_at, finished) / total), 999)}
    left = cal.minutes_between(now, due)
    elapsed = cal.minutes_between(case.received_at, now)
    percent = round(100 * elapsed / total)
    if now >= due:
        state = "breached"
    elif percent >= _warn_percent(case):
        state = "warning"
    else:
        state = "ok"
    return {"due": due, "done_at": None, "running": True, "state": state, "label": _state_label(state),
            "css": STATE_CSS[state], "minutes_left": left, "overdue_minutes": max(-left, 0),
            "left_text": calendars.format_minutes(left, day_minutes=day) if left > 0 else "",
            "overdue_text": calendars.format_minutes(-left, day_minutes=day) if left <= 0 else "",
            "percent": max(min(percent, 999), 0)}


def status(case: Case, now: dt.datetime | None = None, *, calendar: Calendar | None = None) -> dict[str, Any]:
    """The case's SLA as templates and the API show it: for ``response`` and ``resolution``
    (None without a due time) the due time, whether it runs, the state (ok / warning /
    breached / met), business minutes left (negative: overdue) and as text, the share of the
    time used; ``state`` overall (the worst running timer, else breached if one finished
    late, else met; "none" without timers), the policy and the escalation level."""
    now = now or timezone.now()
    cal = calendar or calendars.current()
    response_done = case.first_responded_at
    response_running = response_done is None and case.is_open
    if response_done is None and not case.is_open:
        response_done = case.resolved_at or case.closed_at
    resolution_running = case.is_open
    resolution_done = None if resolution_running else (case.resolved_at or case.confirmed_at or case.closed_at)
    response = _timer(case, case.first_response_due, response_done, response_running, now, cal)
    resolution = _timer(case, case.resolution_due, resolution_done, resolution_running, now, cal)
    timers = [t for t in (response, resolution) if t is not None]
    running = [t for t in timers if t["running"]]
    if running:
        overall = max((t["state"] for t in running), key=lambda s: STATE_ORDER[s])
    elif timers:
        overall = "breached" if any(t["state"] == "breached" for t in timers) else "met"
    else:
        overall = "none"
    policy = case.sla_policy if case.sla_policy_id else None
    return {"state": overall, "label": _state_label(overall), "css": STATE_CSS.get(overall, "text-bg-light"),
            "response": response, "resolution": resolution, "policy": str(policy) if policy else "",
            "policy_id": case.sla_policy_id, "escalation_level": case.escalation_level,
            "escalated_at": case.escalated_at}


# --- The sweep ----------------------------------------------------------------------------
def case_url(case: Case) -> str:
    try:
        return reverse("service:case-detail", args=[case.pk])
    except NoReverseMatch:  # the cases area not wired (yet)
        return f"/service/cases/{case.pk}/"


def _when(moment: dt.datetime | None) -> str:
    return timezone.localtime(moment, timezone.get_default_timezone()).strftime("%Y-%m-%d %H:%M") if moment else ""


def _batches(qs: QuerySet[Case], due_field: str) -> Iterator[Case]:
    """``qs`` ordered by (due, id), read ``GUANXI_SLA_SWEEP_BATCH`` rows at a time (keyset:
    rows that leave the filter on the way do not shift the pages)."""
    size = _batch_size()
    ordered = qs.select_related("owner", "owner__department", "sla_policy").order_by(due_field, "id")
    last: tuple[Any, int] | None = None
    while True:
        page = ordered
        if last is not None:
            page = page.filter(Q(**{f"{due_field}__gt": last[0]}) | Q(**{due_field: last[0], "id__gt": last[1]}))
        rows = list(page[:size])
        yield from rows
        if len(rows) < size:
            return
        last = (getattr(rows[-1], due_field), rows[-1].pk)


def _open_cases() -> QuerySet[Case]:
    return Case.objects.filter(state__in=OPEN, deleted_at__isnull=True)


class _Recipients:
    """Who hears of an escalation, worked out once per sweep."""

    def __init__(self) -> None:
        self._managers: list[User] | None = None
        self._gms: list[User] | None = None

    def managers(self) -> list[User]:
        if self._managers is None:
            self._managers = list(User.objects.filter(is_active=True, roles__code=Role.Code.SERVICE_MANAGER)
                                  .select_related("department").distinct().order_by("id"))
        return self._managers

    def service_managers_over(self, owner: User) -> list[User]:
        """The service managers whose department contains the owner's, else all of them."""
        path = owner.department.path if owner.department_id and owner.department else ""
        above = [m for m in self.managers()
                 if path and m.department_id and m.department and path.startswith(m.department.path)]
        return above or self.managers()

    def general_managers(self) -> list[User]:
        if self._gms is None:
            self._gms = list(User.objects.filter(is_active=True, roles__code=Role.Code.GENERAL_MANAGER)
                             .distinct().order_by("id"))
        return self._gms

    def for_level(self, level: int, owner: User) -> list[User]:
        return self.service_managers_over(owner) if level == 1 else self.general_managers()


def _tell(user: User, title: Any, body: Any, url: str) -> None:
    """One notification in the user's own language (the texts are lazy callables)."""
    if not user.is_active:
        return
    with translation.override(user.language or None):
        notify(user, title=str(title()), body=str(body()), url=url)


def _event(case: Case, kind: str, now: dt.datetime, note: Any) -> None:
    # The history reads in the company's language, as written by the system.
    with translation.override(settings.LANGUAGE_CODE):
        CaseEvent.objects.create(case=case, type=kind, at=now, actor=None, note=str(note()))


def _timer_name(timer: str) -> str:
    return _("first response") if timer == RESPONSE else _("resolution")


def _warn(case: Case, timer: str, now: dt.datetime) -> bool:
    column = "response_warned_at" if timer == RESPONSE else "resolution_warned_at"
    due = case.first_response_due if timer == RESPONSE else case.resolution_due
    with transaction.atomic():
        if not Case.objects.filter(pk=case.pk, **{f"{column}__isnull": True}).update(**{column: now}):
            return False
        setattr(case, column, now)
        _event(case, CaseEvent.Type.WARNED, now, lambda: _("The %(timer)s is due at %(due)s.") % {
            "timer": _timer_name(timer), "due": _when(due)})
        _tell(case.owner,
              lambda: _("SLA warning: %(code)s %(title)s") % {"code": case.code, "title": case.title},
              lambda: _("The %(timer)s is due at %(due)s.") % {"timer": _timer_name(timer), "due": _when(due)},
              case_url(case))
        audit.record(actor=None, action="update", obj=case, changes={column: [None, audit.serialise(now)]},
                     note=f"sla: {timer} warning")
    return True


def _escalate(case: Case, level: int, now: dt.datetime, reason: Any, recipients: _Recipients) -> bool:
    """Raise the case to ``level`` (telling every level passed) unless it is there already."""
    before = case.escalation_level
    if before >= level:
        return False
    if not Case.objects.filter(pk=case.pk, escalation_level__lt=level).update(escalation_level=level,
                                                                              escalated_at=now):
        return False
    case.escalation_level, case.escalated_at = level, now
    told: dict[int, User] = {}
    for step in range(before + 1, level + 1):
        for user in recipients.for_level(step, case.owner):
            if user.pk != case.owner_id:
                told.setdefault(user.pk, user)
    names = "、".join(str(u) for u in told.values())
    _event(case, CaseEvent.Type.ESCALATED, now, lambda: _("Level %(level)d: %(reason)s Told: %(names)s.") % {
        "level": level, "reason": reason(), "names": names or "—"})
    for user in told.values():
        _tell(user,
              lambda: _("Escalated (level %(level)d): %(code)s %(title)s") % {
                  "level": level, "code": case.code, "title": case.title},
              lambda: _("%(owner)s's case: %(reason)s") % {"owner": case.owner, "reason": reason()},
              case_url(case))
    audit.record(actor=None, action="update", obj=case,
                 changes={"escalation_level": [before, level], "escalated_at": [None, audit.serialise(now)]},
                 note=f"sla: escalated to level {level}")
    return True


def _breach(case: Case, timer: str, now: dt.datetime, recipients: _Recipients) -> tuple[bool, bool]:
    """Mark the timer late, tell the owner, escalate; (breached, escalated)."""
    column = "response_breached" if timer == RESPONSE else "resolution_breached"
    due = case.first_response_due if timer == RESPONSE else case.resolution_due
    with transaction.atomic():
        if not Case.objects.filter(pk=case.pk, **{column: False}).update(**{column: True}):
            return False, False
        setattr(case, column, True)

        def reason() -> str:
            return _("the %(timer)s was due at %(due)s.") % {"timer": _timer_name(timer), "due": _when(due)}

        _event(case, CaseEvent.Type.BREACHED, now, lambda: _("The %(timer)s was due at %(due)s.") % {
            "timer": _timer_name(timer), "due": _when(due)})
        _tell(case.owner,
              lambda: _("SLA breached: %(code)s %(title)s") % {"code": case.code, "title": case.title},
              lambda: _("The %(timer)s was due at %(due)s. Your manager has been told.") % {
                  "timer": _timer_name(timer), "due": _when(due)},
              case_url(case))
        audit.record(actor=None, action="update", obj=case, changes={column: [False, True]},
                     note=f"sla: {timer} breached")
        escalated = _escalate(case, 1 if timer == RESPONSE else 2, now, reason, recipients)
    return True, escalated


def _still_unanswered(case: Case, now: dt.datetime, recipients: _Recipients, cal: Calendar) -> bool:
    """Level 2 for a first response still missing a full response period after its due time."""
    assert case.first_response_due is not None
    period = max(cal.minutes_between(case.received_at, case.first_response_due), 1)
    if cal.minutes_between(case.first_response_due, now) < period:
        return False

    def reason() -> str:
        return _("the first response was due at %(due)s and is still missing.") % {
            "due": _when(case.first_response_due)}

    with transaction.atomic():
        return _escalate(case, 2, now, reason, recipients)


def _warn_horizon(now: dt.datetime, cal: Calendar, column: str) -> dt.datetime | None:
    """Due times later than this cannot be at their warning point yet: the largest share of
    time any policy leaves after its warning, counted from now."""
    minutes_field = "first_response_minutes" if column == RESPONSE else "resolution_minutes"
    largest = 0
    for minutes, warn in SlaPolicy.objects.values_list(minutes_field, "warn_percent"):
        largest = max(largest, -(-minutes * max(100 - warn, 0) // 100))
    largest = max(largest, 1)
    return cal.add_minutes(now, largest)


def _due_for_warning(case: Case, due: dt.datetime, now: dt.datetime, cal: Calendar) -> bool:
    warn = _warn_percent(case)
    if warn >= 100:
        return False
    total = cal.minutes_between(case.received_at, due)
    return total > 0 and cal.minutes_between(case.received_at, now) * 100 >= warn * total


def sweep(now: dt.datetime | None = None) -> dict[str, int]:
    """Warn, mark breaches and escalate every open case that is due (see the module's doc).
    ``now`` moves the clock (tests, the browser test). Returns what it did, by kind."""
    now = now or timezone.now()
    cal = calendars.current()
    recipients = _Recipients()
    done = {"response_breached": 0, "resolution_breached": 0, "response_warned": 0, "resolution_warned": 0,
            "escalated": 0}
    open_cases = _open_cases()
    unanswered = open_cases.filter(first_responded_at__isnull=True)

    # Breaches first: a case past its due time is late, not merely at risk.
    for case in _batches(unanswered.filter(response_breached=False, first_response_due__lte=now),
                         "first_response_due"):
        breached, escalated = _breach(case, RESPONSE, now, recipients)
        done["response_breached"] += breached
        done["escalated"] += escalated
    for case in _batches(open_cases.filter(resolution_breached=False, resolution_due__lte=now), "resolution_due"):
        breached, escalated = _breach(case, RESOLUTION, now, recipients)
        done["resolution_breached"] += breached
        done["escalated"] += escalated
    for case in _batches(unanswered.filter(response_breached=True, escalation_level__lt=2,
                                           first_response_due__lte=now), "first_response_due"):
        done["escalated"] += _still_unanswered(case, now, recipients, cal)

    # Warnings: only due times inside the horizon can have reached their warning point.
    horizon = _warn_horizon(now, cal, RESPONSE)
    for case in _batches(unanswered.filter(response_warned_at__isnull=True, response_breached=False,
                                           first_response_due__gt=now, first_response_due__lte=horizon),
                         "first_response_due"):
        assert case.first_response_due is not None
        if _due_for_warning(case, case.first_response_due, now, cal):
            done["response_warned"] += _warn(case, RESPONSE, now)
    horizon = _warn_horizon(now, cal, RESOLUTION)
    for case in _batches(open_cases.filter(resolution_warned_at__isnull=True, resolution_breached=False,
                                           resolution_due__gt=now, resolution_due__lte=horizon), "resolution_due"):
        assert case.resolution_due is not None
        if _due_for_warning(case, case.resolution_due, now, cal):
            done["resolution_warned"] += _warn(case, RESOLUTION, now)
    return done


@db_periodic_task(crontab())
def sweep_sla() -> dict[str, int]:
    """Every minute: SLA warnings, breaches and escalations of the open cases."""
    with context.origin(None, "job"):
        return sweep()
