"""The manager's business check (R10.6): what a salesperson (or the team) did over a period.

A manager picks one of the people they manage by role (never through a grant), a
department below them or the whole team, and a period. Every figure is one SQL aggregate
(GROUP BY) over indexed columns; every list is capped. The figures are about people the
manager manages, so the accounts behind them are the manager's to see; lists that name an
account (overdue follow-ups) still go through the access scope, because a salesperson may
follow up a colleague's account the manager does not see.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import CharField, Count, Exists, F, Func, OuterRef, Q, QuerySet, Value
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from guanxi.activities.models import FollowUp, Interaction
from guanxi.core import access
from guanxi.core.errors import Invalid, NotFound
from guanxi.core.models import User
from guanxi.customers.models import Account, AccountRating, Grade

PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_DAYS = 366
LIST_LIMIT = 50  # overdue follow-ups and rating movements shown
PEOPLE_LIMIT = 200  # rows of the per-salesperson table
MOVES_READ = 2_000  # a person's rating movements read and counted in Python before SQL counts them
WEEKLY_AFTER = 62  # longer periods chart contacts per week instead of per day


# --- The period ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    start: dt.date  # first day
    end: dt.date  # last day, included
    preset: int | None = None  # 7, 30 or 90 when picked from the presets

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.start, dt.time.min))

    @property
    def end_at(self) -> dt.datetime:
        """The first instant after the period (midnight after its last day)."""
        return timezone.make_aware(dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min))


def _date(value: Any, name: str, errors: dict[str, list[str]]) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return timezone.localdate(value) if timezone.is_aware(value) else value.date()
    if isinstance(value, dt.date):
        return value
    try:
        parsed = parse_date(str(value).strip())
    except ValueError:
        parsed = None
    if parsed is None:
        errors[name] = [_("Enter a valid date (YYYY-MM-DD).")]
    return parsed


def period_for(*, days: Any = None, start: Any = None, end: Any = None, today: dt.date | None = None) -> Period:
    """The period from a number of days ending today, or from ``start``/``end`` dates.

    ``days`` wins when given (the preset buttons send it along with the dates shown); a
    missing end is today, a missing start 30 days before the end. Raises ``Invalid`` for
    unreadable input, a start after the end, or more than a year.
    """
    today = today or timezone.localdate()
    errors: dict[str, list[str]] = {}
    if days in (None, ""):
        first, last = _date(start, "start", errors), _date(end, "end", errors)
    else:
        first = last = None
    if errors:
        raise Invalid(errors=errors)
    if first is None and last is None:
        try:
            count = int(days) if days not in (None, "") else DEFAULT_DAYS
        except (TypeError, ValueError):
            raise Invalid(errors={"days": [_("Enter a number of days.")]}) from None
        if not 1 <= count <= MAX_DAYS:
            raise Invalid(errors={"days": [_("Choose between 1 and %(max)s days.") % {"max": MAX_DAYS}]})
        return Period(today - dt.timedelta(days=count - 1), today, count if count in PRESETS else None)
    last = last or today
    first = first or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise Invalid(errors={"start": [_("The start must not be after the end.")]})
    if (last - first).days + 1 > MAX_DAYS:
        raise Invalid(errors={"start": [_("Choose at most %(max)s days.") % {"max": MAX_DAYS}]})
    return Period(first, last)


# --- Who is checked ----------------------------------------------------------------------------
@dataclass
class Subject:
    kind: str  # "user", "team" or "department"
    label: str
    user: Person | None = None
    department: DepartmentRef | None = None
    # The people whose work is counted; None means everybody (a general manager's team).
    owner_ids: frozenset[int] | None = None

    @property
    def is_group(self) -> bool:
        return self.kind != "user"


def _reach(actor: Any) -> access.Visibility:
    # By role only: a grant lets one look at a colleague's customers, not check their work.
    return access.visibility_for(actor, include_grants=False)


@dataclass(frozen=True)
class DepartmentRef:
    pk: int
    name: str
    path: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Person:
    """Someone who may be checked: just what the page and the figures need (no model rows)."""

    pk: int
    name: str
    is_active: bool
    department: DepartmentRef | None

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Reach:
    """Whom ``actor`` may check: people and departments, read once per page (the picker too)."""

    everything: bool
    people: list[Person]  # active first, then those who left
    departments: list[DepartmentRef]

    def names(self) -> dict[int, str]:
        return {p.pk: p.name for p in self.people}


def reach_for(actor: Any) -> Reach:
    """The people ``actor`` manages by role (one query) and their departments below the actor's."""
    vis = _reach(actor)
    qs = User.objects.all()
    if not vis.everything:
        qs = qs.filter(Q(pk=actor.pk) | Q(pk__in=vis.owner_ids) | Q(department_id__in=vis.department_ids))
    departments: dict[int, DepartmentRef] = {}
    people = []
    for pk, name, username, active, dept_id, dept_name, dept_path in (
            qs.order_by("-is_active", "department__path", "name", "username")
            .values_list("pk", "name", "username", "is_active", "department_id", "department__name",
                         "department__path")):
        dept = None
        if dept_id is not None:
            dept = departments.get(dept_id) or departments.setdefault(dept_id, DepartmentRef(dept_id, dept_name,
                                                                                             dept_path))
        people.append(Person(pk, name or username, active, dept))
    managed = sorted((d for d in departments.values() if vis.everything or d.pk in vis.department_ids),
                     key=lambda d: d.path)
    return Reach(vis.everything, people, managed)


def team_label(actor: Any) -> str:
    return _("The whole company") if _reach(actor).everything else _("My team")


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound() from None


def subject_for(actor: Any, *, user: Any = None, department: Any = None, reach: Reach | None = None) -> Subject:
    """The salesperson, department or team ``actor`` asked about; someone out of reach is NotFound.

    With neither ``user`` nor ``department``, the subject is the whole team: everyone the
    actor manages by role (everybody for a general manager). ``reach`` saves its query when
    the caller has it already.
    """
    reach = reach or reach_for(actor)
    if user not in (None, ""):
        pk = _as_int(user)
        person = next((p for p in reach.people if p.pk == pk), None)
        if person is None:
            raise NotFound()
        return Subject("user", str(person), user=person, owner_ids=frozenset({person.pk}))
    if department not in (None, ""):
        pk = _as_int(department)
        dept = next((d for d in reach.departments if d.pk == pk), None)
        if dept is None:
            raise NotFound()
        people = frozenset(p.pk for p in reach.people if p.department is not None
                           and p.department.path.startswith(dept.path))
        return Subject("department", str(dept), department=dept, owner_ids=people)
    label = team_label(actor)
    if reach.everything:
        return Subject("team", label, owner_ids=None)
    return Subject("team", label, owner_ids=frozenset(p.pk for p in reach.people))


# --- The figures -------------------------------------------------------------------------------
@dataclass
class PersonRow:
    user_id: int
    name: str = ""
    accounts: int = 0
    by_grade: dict[str, int] = field(default_factory=dict)
    contacts: int = 0
    not_contacted: int = 0
    overdue: int = 0
    missed_followups: int = 0
    up: int = 0
    down: int = 0


@dataclass
class BusinessCheck:
    subject: Subject
    period: Period
    grades: list[str]  # best first; "" (ungraded) last
    accounts: int = 0
    by_grade: dict[str, int] = field(default_factory=dict)
    not_contacted: int = 0
    not_contacted_by_grade: dict[str, int] = field(default_factory=dict)
    contacts: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    by_purpose: dict[str, int] = field(default_factory=dict)
    series_unit: str = "day"
    series: list[dict[str, Any]] = field(default_factory=list)  # [{date, total, by_kind}]
    overdue: int = 0
    overdue_cadence_accounts: int = 0
    overdue_items: list[dict[str, Any]] = field(default_factory=list)  # the oldest, as values() rows
    missed_followups: int = 0
    missed_cadence: int = 0
    rating_up: int = 0
    rating_down: int = 0
    rating_items: list[dict[str, Any]] = field(default_factory=list)
    people: list[PersonRow] = field(default_factory=list)


def _owned(qs: QuerySet[Any], owner_ids: frozenset[int] | None, field_name: str = "owner_id") -> QuerySet[Any]:
    if owner_ids is None:
        return qs.filter(**{f"{field_name}__isnull": False})
    return qs.filter(**{f"{field_name}__in": owner_ids})


def _role_scope(actor: Any, qs: QuerySet[FollowUp]) -> QuerySet[FollowUp]:
    """Follow-ups on accounts ``actor`` sees by role, and their own (``followup_scope`` without
    grants: the role's reach is what this page is about, and it is already worked out)."""
    vis = _reach(actor)
    if vis.everything:
        return qs
    q = Q(owner_id=actor.pk)
    if vis.owner_ids:
        q |= Q(account__owner_id__in=vis.owner_ids)
    if vis.department_ids:
        q |= Q(account__department_id__in=vis.department_ids)
    return qs.filter(q)


def grade_order() -> list[str]:
    """Grade codes from the best down (the rating grades' thresholds), then "" for ungraded."""
    return [*Grade.objects.order_by("-min_score", "code").values_list("code", flat=True), ""]


def _local_day(period: Period) -> Any:
    """The local calendar day of ``occurred_at``, for GROUP BY.

    On SQLite, Django's TruncDate calls back into Python for every row (a quarter of the
    page's time at M); when the zone keeps one UTC offset through the period (Asia/Shanghai
    always does), SQLite's own ``date(…, '+480 minutes')`` gives the same day. PostgreSQL
    converts natively either way.
    """
    if connection.vendor == "sqlite":
        tz = timezone.get_current_timezone()
        offsets = {timezone.make_aware(dt.datetime.combine(period.start + dt.timedelta(days=i), dt.time.min),
                                       tz).utcoffset() for i in range(period.days + 1)}
        if len(offsets) == 1:
            (offset,) = offsets
            minutes = int((offset or dt.timedelta()).total_seconds() // 60)
            return Func(F("occurred_at"), Value(f"{minutes:+d} minutes"), function="date", output_field=CharField())
    return TruncDate("occurred_at")


def _bucket(day: dt.date, unit: str) -> dt.date:
    return day - dt.timedelta(days=day.weekday()) if unit == "week" else day


def business_check(actor: Any, subject: Subject, period: Period, *, now: dt.datetime | None = None,
                   reach: Reach | None = None) -> BusinessCheck:
    """Every figure of the business check of ``subject`` over ``period`` (eight queries for a
    person, nine for a group).

    ``subject`` comes from :func:`subject_for` (so it is within the actor's reach); ``reach``
    names the people of a group's table (read again when not given).
    """
    now = now or timezone.now()
    start_at, end_at = period.start_at, period.end_at
    owner_ids = subject.owner_ids
    grades = grade_order()
    result = BusinessCheck(subject=subject, period=period, grades=grades)
    people: dict[int, PersonRow] = {}

    def person(user_id: int) -> PersonRow:
        row = people.get(user_id)
        if row is None:
            row = people[user_id] = PersonRow(user_id)
        return row

    # 1. Their customers by grade, and those nobody contacted in the period: one pass over
    #    the live accounts they own, probing each one's newest contacts by the index
    #    (account, -occurred_at).
    contacted = Interaction.objects.filter(account_id=OuterRef("pk"), occurred_at__gte=start_at,
                                           occurred_at__lt=end_at)
    rows = (_owned(Account.objects.all(), owner_ids).order_by().values("owner_id", "grade")
            .annotate(n=Count("id"), idle=Count("id", filter=~Q(Exists(contacted)))))
    for row in rows:
        grade = row["grade"] or ""
        result.accounts += row["n"]
        result.by_grade[grade] = result.by_grade.get(grade, 0) + row["n"]
        result.not_contacted += row["idle"]
        result.not_contacted_by_grade[grade] = result.not_contacted_by_grade.get(grade, 0) + row["idle"]
        p = person(row["owner_id"])
        p.accounts += row["n"]
        p.not_contacted += row["idle"]
        p.by_grade[grade] = p.by_grade.get(grade, 0) + row["n"]
    for grade in list(result.by_grade):
        if grade not in grades:
            grades.insert(-1, grade)  # a code no longer among the grades still counts

    # 2. Contacts made per day (or week) and kind, and per purpose, by GROUP BY over the index
    #    (owner, -occurred_at): one query for a person; for a group the purposes come per
    #    person, which gives the table its column (rows stay people × purposes, never × days).
    made = _owned(Interaction.objects.all(), owner_ids).filter(occurred_at__gte=start_at, occurred_at__lt=end_at)
    unit = "week" if period.days > WEEKLY_AFTER else "day"
    series: dict[dt.date, dict[str, int]] = {}
    by_day = ("day", "kind") if subject.is_group else ("day", "kind", "purpose")
    for row in made.order_by().annotate(day=_local_day(period)).values(*by_day).annotate(n=Count("id")):
        if isinstance(row["day"], str):
            row["day"] = dt.date.fromisoformat(row["day"])
        n = row["n"]
        result.contacts += n
        result.by_kind[row["kind"]] = result.by_kind.get(row["kind"], 0) + n
        if "purpose" in row:
            result.by_purpose[row["purpose"]] = result.by_purpose.get(row["purpose"], 0) + n
        bucket = series.setdefault(_bucket(row["day"], unit), {})
        bucket[row["kind"]] = bucket.get(row["kind"], 0) + n
    if subject.is_group:
        for row in made.order_by().values("owner_id", "purpose").annotate(n=Count("id")):
            result.by_purpose[row["purpose"]] = result.by_purpose.get(row["purpose"], 0) + row["n"]
            person(row["owner_id"]).contacts += row["n"]
    result.series_unit = unit
    day = _bucket(period.start, unit)
    step = dt.timedelta(days=7 if unit == "week" else 1)
    while day <= period.end:  # every day (week) of the period, the quiet ones too
        counts = series.get(day, {})
        result.series.append({"date": day, "total": sum(counts.values()), "by_kind": counts})
        day += step

    # 3. Follow-ups: open and overdue now (the partial index of open ones), and those due in
    #    the period that were not done in time — still open, or done late (the index owner,
    #    due_at). Two range scans: one OR over both would read every past follow-up.
    #    Cancelled ones are nobody's miss.
    overdue = Q(state=FollowUp.State.OPEN, due_at__lt=now)
    cadence = Q(source=FollowUp.Source.CADENCE)
    followups = _role_scope(actor, _owned(FollowUp.objects.filter(account__deleted_at__isnull=True), owner_ids))
    for row in (followups.filter(overdue).order_by().values("owner_id")
                .annotate(n=Count("id"), accounts=Count("account_id", filter=cadence, distinct=True))):
        result.overdue += row["n"]
        result.overdue_cadence_accounts += row["accounts"]
        person(row["owner_id"]).overdue += row["n"]
    until = min(end_at, now)
    if start_at < until:
        missed = Q(due_at__gte=start_at, due_at__lt=until) & (
            Q(state=FollowUp.State.OPEN) | Q(state=FollowUp.State.DONE, done_at__gt=F("due_at")))
        for row in (followups.filter(missed).order_by().values("owner_id")
                    .annotate(n=Count("id"), by_cadence=Count("id", filter=cadence))):
            result.missed_followups += row["n"]
            result.missed_cadence += row["by_cadence"]
            person(row["owner_id"]).missed_followups += row["n"]
    result.overdue_items = [dict(row) for row in followups.filter(overdue).order_by("due_at", "id").values(
        "id", "title", "due_at", "source", "account_id", "account__name", "owner_id", "owner__name",
        "owner__username", "contact_id", "contact__name")[:LIST_LIMIT]]

    # 4. Rating movements of their accounts in the period: up when the new grade is a better one.
    #    Driven from their live accounts (the owner index) into each account's ratings through
    #    the (account, -rated_at) index — the ratings of the whole company in the period are
    #    many times more; only the general manager's company-wide check walks them by date.
    #    A person's moves are read newest first as bare (id, grades) rows and counted here (by
    #    SQL beyond MOVES_READ), then the newest LIST_LIMIT are read in full by id: reading the
    #    account's name and the note for every move cost more than the scan. A group's are
    #    counted by SQL per person, and its newest found by a walk back in time.
    rank = {code: i for i, code in enumerate(grades)}
    in_period = AccountRating.objects.filter(rated_at__gte=start_at, rated_at__lt=end_at).exclude(
        previous_grade="").exclude(previous_grade=F("grade"))
    by_date = _owned(in_period.filter(account__deleted_at__isnull=True), owner_ids, "account__owner_id")
    by_account = by_date if owner_ids is None else in_period.filter(
        account_id__in=_owned(Account.objects.all(), owner_ids).values("pk"))

    def direction(previous: str, grade: str) -> str:
        return "up" if rank.get(grade, len(rank)) < rank.get(previous, len(rank)) else "down"

    def count(owner_id: int, previous: str, grade: str, n: int) -> None:
        p = person(owner_id)
        if direction(previous, grade) == "up":
            result.rating_up += n
            p.up += n
        else:
            result.rating_down += n
            p.down += n

    shown = ("id", "account_id", "account__name", "rated_at", "previous_grade", "grade", "note")
    if subject.is_group:
        for row in (by_account.order_by().values("account__owner_id", "previous_grade", "grade")
                    .annotate(n=Count("id"))):
            count(row["account__owner_id"], row["previous_grade"], row["grade"], row["n"])
        listed = list(by_date.order_by("-rated_at", "-id").values(*shown)[:LIST_LIMIT])
    else:
        assert subject.user is not None
        owner = subject.user.pk
        moves = list(by_account.order_by("-rated_at", "-id").values_list("id", "previous_grade", "grade")
                     [:MOVES_READ + 1])
        if len(moves) <= MOVES_READ:
            for _pk, previous, grade in moves:
                count(owner, previous, grade, 1)
        else:
            for row in by_account.order_by().values("previous_grade", "grade").annotate(n=Count("id")):
                count(owner, row["previous_grade"], row["grade"], row["n"])
        newest = [pk for pk, _previous, _grade in moves[:LIST_LIMIT]]
        found = {row["id"]: row for row in AccountRating.objects.filter(pk__in=newest).values(*shown)} if newest else {}
        listed = [found[pk] for pk in newest if pk in found]
    result.rating_items = [{**row, "direction": direction(row["previous_grade"], row["grade"])} for row in listed]

    # 5. The per-salesperson table of a group: everyone counted above, busiest book first.
    if subject.is_group and people:
        names = (reach or reach_for(actor)).names()
        for pk, row in people.items():
            row.name = names.get(pk, str(pk))
        result.people = sorted(people.values(), key=lambda r: (-r.accounts, -r.contacts, r.name))[:PEOPLE_LIMIT]
    return result


def as_dict(check: BusinessCheck) -> dict[str, Any]:
    """The figures as plain data (the API's answer and the charts' JSON)."""
    subject = check.subject
    return {
        "subject": {
            "kind": subject.kind, "label": subject.label,
            "user": subject.user.pk if subject.user else None,
            "department": subject.department.pk if subject.department else None,
        },
        "period": {"start": check.period.start, "end": check.period.end, "days": check.period.days},
        "customers": {
            "total": check.accounts,
            "by_grade": [{"grade": g, "count": check.by_grade.get(g, 0)} for g in check.grades],
        },
        "contacts": {
            "total": check.contacts,
            "by_kind": {k: check.by_kind.get(k, 0) for k in Interaction.Kind.values},
            "by_purpose": {p: check.by_purpose.get(p, 0) for p in Interaction.Purpose.values},
            "unit": check.series_unit,
            "series": [{"date": p["date"], "total": p["total"],
                        "by_kind": {k: p["by_kind"].get(k, 0) for k in Interaction.Kind.values}}
                       for p in check.series],
        },
        "missed": {
            "accounts_not_contacted": check.not_contacted,
            "not_contacted_by_grade": [{"grade": g, "count": check.not_contacted_by_grade.get(g, 0)}
                                       for g in check.grades],
            "followups_missed": check.missed_followups,
            "cadence_followups_missed": check.missed_cadence,
            "accounts_cadence_overdue": check.overdue_cadence_accounts,
        },
        "overdue": {
            "count": check.overdue,
            "items": [{
                "id": f["id"], "title": f["title"], "due_at": f["due_at"], "source": f["source"],
                "account": {"id": f["account_id"], "name": f["account__name"]},
                "owner": {"id": f["owner_id"], "name": f["owner__name"] or f["owner__username"]},
                "contact": {"id": f["contact_id"], "name": f["contact__name"]} if f["contact_id"] else None,
            } for f in check.overdue_items],
        },
        "ratings": {
            "up": check.rating_up, "down": check.rating_down,
            "items": [{
                "id": r["id"], "account": {"id": r["account_id"], "name": r["account__name"]},
                "rated_at": r["rated_at"], "previous_grade": r["previous_grade"], "grade": r["grade"],
                "direction": r["direction"], "note": r["note"],
            } for r in check.rating_items],
        },
        "people": [{
            "user": p.user_id, "name": p.name, "accounts": p.accounts,
            "by_grade": {g: p.by_grade.get(g, 0) for g in check.grades},
            "contacts": p.contacts, "not_contacted": p.not_contacted, "overdue": p.overdue,
            "followups_missed": p.missed_followups, "rating_up": p.up, "rating_down": p.down,
        } for p in check.people],
    }
