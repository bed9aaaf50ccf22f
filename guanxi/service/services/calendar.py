"""The business calendar of the SLA clock: working hours, working weekdays and holidays.

One ``ServiceCalendar`` row holds the working hours (``day_start``–``day_end``) and the
working ISO weekdays; ``Holiday`` rows override single days: ``holiday`` makes a working
weekday a day off (节假日), ``workday`` makes a weekend day a working day (调休上班).

The arithmetic works on one number per instant, the *business position*
``G(t) = L·W(day) + cum(t)``: ``L`` is the length of a working day, ``W(day)`` the number of
working days before ``day`` (weekday arithmetic plus a prefix sum over the sorted holiday
overrides, so O(log n) for any span) and ``cum(t)`` the working time of ``day`` before ``t``.
``business_minutes_between(a, b)`` is ``G(b) − G(a)``; ``add_business_minutes`` solves
``G(t) = G(start) + minutes`` with a search over days, so spans of months or years cost
a few dozen steps, never a walk minute by minute.

Times are aware datetimes in the project's time zone (``TIME_ZONE``, Asia/Shanghai); a
naive datetime is read as local time. A start outside working hours begins at the next
opening. The loaded calendar is kept per process, keyed by a stamp read from the database in
one small statement (the calendar row's version and time, the holidays' latest change, count
and highest id): a change made by another process, or undone by a rolled-back transaction,
is seen at the next call; the services here also drop the cached copy at once. Pages that
have nothing to colour (a desk without cases) do not ask for the calendar at all.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Func, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit, registry
from guanxi.core.errors import Conflict, Invalid
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.sales.services.common import parse_day, raise_if, require
from guanxi.service.models import Holiday, ServiceCalendar

DEFAULT_START = dt.time(9, 0)
DEFAULT_END = dt.time(18, 0)
DEFAULT_WEEKDAYS = "12345"
US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_DAY = 24 * 3600 * US_PER_SECOND
# A search for a working day gives up past this many days (a calendar without working days).
SEARCH_LIMIT_DAYS = 366 * 200

# chinesecalendar's English holiday names → the Chinese names shown in the holiday list.
CHINESE_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}


# --- The calendar in memory ---------------------------------------------------------------
@dataclass(frozen=True)
class Calendar:
    """Working hours, weekdays and day overrides, ready for arithmetic (immutable)."""

    day_start: dt.time = DEFAULT_START
    day_end: dt.time = DEFAULT_END
    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    # day → True (working) / False (day off), only where it differs from the weekday rule
    overrides: dict[dt.date, bool] = field(default_factory=dict)
    # day → the holiday's name, for every Holiday row (also those that change nothing)
    names: dict[dt.date, str] = field(default_factory=dict)
    _days: tuple[int, ...] = ()  # sorted ordinals of the overrides
    _prefix: tuple[int, ...] = ()  # _prefix[i]: net working days the first i overrides add
    _week: tuple[int, ...] = ()  # _week[r]: working days among the first r days of a week (Mon first)

    @classmethod
    def build(cls, day_start: dt.time, day_end: dt.time, weekdays: str | set[int] | frozenset[int],
              holidays: dict[dt.date, tuple[str, str]] | None = None) -> Calendar:
        """A calendar from hours, weekdays ("12345" or {1..5}) and ``{day: (type, name)}``."""
        days = frozenset(int(d) for d in weekdays)
        overrides: dict[dt.date, bool] = {}
        names: dict[dt.date, str] = {}
        for day, (kind, name) in (holidays or {}).items():
            working = kind == Holiday.Type.WORKDAY
            names[day] = name
            if working != (day.isoweekday() in days):
                overrides[day] = working
        ordinals = tuple(sorted(d.toordinal() for d in overrides))
        prefix = [0]
        for ordinal in ordinals:
            prefix.append(prefix[-1] + (1 if overrides[dt.date.fromordinal(ordinal)] else -1))
        week = [0]
        for weekday in range(1, 8):
            week.append(week[-1] + (1 if weekday in days else 0))
        return cls(day_start=day_start, day_end=day_end, weekdays=days, overrides=overrides, names=names,
                   _days=ordinals, _prefix=tuple(prefix), _week=tuple(week))

    # -- days
    @property
    def day_length(self) -> int:
        """A working day's length in microseconds."""
        return _tod(self.day_end) - _tod(self.day_start)

    @property
    def day_minutes(self) -> int:
        return self.day_length // US_PER_MINUTE

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        return day.isoweekday() in self.weekdays

    def working_days_before(self, day: dt.date) -> int:
        """W(day): working days from 0001-01-01 up to, not including, ``day``."""
        ordinal = day.toordinal()
        weeks, rest = divmod(ordinal - 1, 7)  # ordinal 1 (0001-01-01) is a Monday
        count = weeks * self._week[7] + self._week[rest]
        return count + self._prefix[bisect.bisect_left(self._days, ordinal)]

    def working_days_between(self, first: dt.date, last: dt.date) -> int:
        """Working days in [first, last)."""
        return self.working_days_before(last) - self.working_days_before(first)

    # -- instants
    def position(self, moment: dt.datetime) -> int:
        """G(moment): business microseconds since 0001-01-01 (flat outside working hours)."""
        local = _local(moment)
        day = local.date()
        before = self.working_days_before(day) * self.day_length
        if not self.is_working_day(day):
            return before
        into = _tod(local.time()) - _tod(self.day_start)
        return before + min(max(into, 0), self.day_length)

    def at_position(self, target: int, *, near: dt.date, opening: bool = False) -> dt.datetime:
        """The instant at business position ``target`` (a closing time rather than the next
        opening when ``target`` ends a day; the opening when ``opening``). ``near`` is a day
        close to the answer, where the search starts."""
        length = self.day_length
        if opening:
            k = target // length + 1
            offset = 0
        else:
            k = -(-target // length)  # ceil: the answer lies in the k-th working day
            offset = target - (k - 1) * length
        day = self._kth_working_day(k, near)
        start = dt.datetime.combine(day, self.day_start)
        return _aware(start + dt.timedelta(microseconds=offset))

    def _kth_working_day(self, k: int, near: dt.date) -> dt.date:
        """The working day D with W(D) = k − 1 (the smallest D with W(D + 1) ≥ k)."""
        def reached(ordinal: int) -> bool:
            return self.working_days_before(dt.date.fromordinal(ordinal + 1)) >= k

        anchor = near.toordinal()
        if reached(anchor):
            low, high, step = anchor - 1, anchor, 1
            while reached(low):
                high = low
                step *= 2
                low = anchor - step
                if step > SEARCH_LIMIT_DAYS or low < 1:
                    raise ValueError("The service calendar has no working days.")
        else:
            low, high, step = anchor, anchor + 1, 1
            while not reached(high):
                low = high
                step *= 2
                high = anchor + step
                if step > SEARCH_LIMIT_DAYS:
                    raise ValueError("The service calendar has no working days.")
        while high - low > 1:  # invariant: not reached(low), reached(high)
            middle = (low + high) // 2
            if reached(middle):
                high = middle
            else:
                low = middle
        return dt.date.fromordinal(high)

    def within_hours(self, moment: dt.datetime) -> bool:
        local = _local(moment)
        return self.is_working_day(local.date()) and self.day_start <= local.time() < self.day_end

    def next_opening(self, moment: dt.datetime) -> dt.datetime:
        """``moment`` itself within working hours, else the next opening."""
        if self.within_hours(moment):
            return _local(moment)
        return self.at_position(self.position(moment), near=_local(moment).date(), opening=True)

    def add_minutes(self, start: dt.datetime, minutes: int) -> dt.datetime:
        if minutes == 0:
            return self.next_opening(start)
        target = self.position(start) + int(minutes) * US_PER_MINUTE
        return self.at_position(target, near=_local(start).date())

    def minutes_between(self, a: dt.datetime, b: dt.datetime) -> int:
        diff = self.position(b) - self.position(a)
        return diff // US_PER_MINUTE if diff >= 0 else -(-diff // US_PER_MINUTE)


def _tod(value: dt.time) -> int:
    """A time of day in microseconds since midnight."""
    return ((value.hour * 60 + value.minute) * 60 + value.second) * US_PER_SECOND + value.microsecond


def _local(moment: dt.datetime) -> dt.datetime:
    """``moment`` in the company's time zone (the calendar's, whatever a request activated)."""
    zone = timezone.get_default_timezone()
    if timezone.is_naive(moment):
        return timezone.make_aware(moment, zone)
    return timezone.localtime(moment, zone)


def _aware(naive: dt.datetime) -> dt.datetime:
    return timezone.make_aware(naive, timezone.get_default_timezone())


# --- The per-process copy -----------------------------------------------------------------
_lock = threading.Lock()
_cached: tuple[Any, Calendar] | None = None


def calendar_row() -> ServiceCalendar:
    """The one calendar row, created with the defaults (09:00–18:00, Monday to Friday) when missing."""
    row = ServiceCalendar.objects.order_by("id").first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return ServiceCalendar.objects.create(day_start=DEFAULT_START, day_end=DEFAULT_END,
                                                  weekdays=DEFAULT_WEEKDAYS)
    except IntegrityError:  # pragma: no cover - a racing request created it
        return ServiceCalendar.objects.order_by("id").first()  # type: ignore[return-value]


def _stamp() -> Any:
    """What the cached calendar is valid for, in one statement: the calendar row's id, version
    and time, and the holidays' latest change, count and highest id (every insert, edit or
    delete of a holiday moves one of them, whoever made it). None without a calendar row."""
    holidays = Holiday.objects.order_by()
    return (ServiceCalendar.objects.order_by("id").values_list(
        "id", "version", "updated_at",
        Subquery(holidays.order_by("-updated_at").values("updated_at")[:1]),
        Subquery(holidays.values(n=Func(F("id"), function="COUNT"))),
        Subquery(holidays.order_by("-id").values("id")[:1]),
    ).first())


def current() -> Calendar:
    """The calendar as stored now (one small query when the process already holds it)."""
    global _cached
    stamp = _stamp()
    cached = _cached
    if cached is not None and stamp is not None and cached[0] == stamp:
        return cached[1]
    row = calendar_row()
    holidays = {day: (kind, name) for day, kind, name in Holiday.objects.values_list("day", "type", "name")}
    calendar = Calendar.build(row.day_start, row.day_end, row.weekdays, holidays)
    with _lock:
        _cached = (_stamp(), calendar)
    return calendar


def invalidate() -> None:
    """Forget the cached calendar (now and again once the writing transaction commits)."""
    global _cached
    _cached = None

    def forget() -> None:
        global _cached
        _cached = None

    transaction.on_commit(forget)


# --- The public arithmetic ----------------------------------------------------------------
def is_working_day(day: dt.date, *, calendar: Calendar | None = None) -> bool:
    return (calendar or current()).is_working_day(day)


def add_business_minutes(start: dt.datetime, minutes: int, *, calendar: Calendar | None = None) -> dt.datetime:
    """The instant ``minutes`` business minutes after ``start`` (before it when negative).

    A start outside working hours counts from the next opening; a span that ends exactly at
    a closing time ends there (18:00), not at the next opening. Aware, in local time."""
    return (calendar or current()).add_minutes(start, minutes)


def business_minutes_between(a: dt.datetime, b: dt.datetime, *, calendar: Calendar | None = None) -> int:
    """Whole business minutes from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
    return (calendar or current()).minutes_between(a, b)


def format_minutes(minutes: int, *, day_minutes: int | None = None) -> str:
    """Business minutes as "2 h 30 min" (and "= 1 business day" for whole days)."""
    sign = "-" if minutes < 0 else ""
    minutes = abs(int(minutes))
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        text = _("%(h)d h %(m)d min") % {"h": hours, "m": rest}
    elif hours:
        text = _("%(h)d h") % {"h": hours}
    else:
        text = _("%(m)d min") % {"m": rest}
    if day_minutes and minutes and minutes % day_minutes == 0:
        days = minutes // day_minutes
        text += " " + (_("(%(n)d business day)") if days == 1 else _("(%(n)d business days)")) % {"n": days}
    return sign + text


# --- Business hours -----------------------------------------------------------------------
HOURS_EDITABLE = ("day_start", "day_end", "weekdays")


def _parse_time(value: Any, name: str, errors: dict[str, list[str]]) -> dt.time | None:
    if isinstance(value, dt.time):
        return value.replace(second=0, microsecond=0)
    text = str(value or "").strip()
    try:
        parsed = dt.time.fromisoformat(text) if text else None
    except ValueError:
        parsed = None
    if parsed is None:
        errors.setdefault(name, []).append(_("Enter a time as HH:MM."))
        return None
    return parsed.replace(second=0, microsecond=0, tzinfo=None)


def _parse_weekdays(value: Any, errors: dict[str, list[str]]) -> str | None:
    if isinstance(value, str):
        items: list[Any] = [c for c in value if not c.isspace() and c != ","]
    else:
        items = list(value or [])
    days: set[int] = set()
    for item in items:
        try:
            day = int(item)
        except (TypeError, ValueError):
            day = 0
        if not 1 <= day <= 7:
            errors.setdefault("weekdays", []).append(_("Weekdays are numbers from 1 (Monday) to 7 (Sunday)."))
            return None
        days.add(day)
    if not days:
        errors.setdefault("weekdays", []).append(_("Choose at least one working weekday."))
        return None
    return "".join(str(d) for d in sorted(days))


@transaction.atomic
def hours_update(*, actor: Any, changes: dict[str, Any], expected_version: int | None) -> ServiceCalendar:
    """Change the working hours (``day_start``, ``day_end`` as HH:MM) and the working
    ``weekdays`` ("12345" or [1, 2, 3, 4, 5]); the day must end after it starts. Due times of
    cases already received stay as they were worked out."""
    require(actor, "service.configure")
    unknown = set(changes) - set(HOURS_EDITABLE)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    row = calendar_row()
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if "day_start" in changes:
        cleaned["day_start"] = _parse_time(changes["day_start"], "day_start", errors)
    if "day_end" in changes:
        cleaned["day_end"] = _parse_time(changes["day_end"], "day_end", errors)
    if "weekdays" in changes:
        cleaned["weekdays"] = _parse_weekdays(changes["weekdays"], errors)
    start = cleaned.get("day_start", row.day_start)
    end = cleaned.get("day_end", row.day_end)
    if start is not None and end is not None and end <= start and "day_end" not in errors:
        errors.setdefault("day_end", []).append(_("The working day must end after it starts."))
    raise_if(errors)
    if expected_version is not None and int(expected_version) != row.version:
        raise Conflict()
    records.apply_update(actor=actor, obj=row, changes=cleaned, expected_version=expected_version)
    invalidate()
    return row


# --- Holidays -----------------------------------------------------------------------------
HOLIDAY_EDITABLE = ("day", "type", "name")


def _validate_holiday(obj: Holiday | None, changes: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if "day" in changes or obj is None:
        day = parse_day(changes.get("day"), "day", errors)
        if day is not None:
            if Holiday.objects.filter(day=day).exclude(pk=obj.pk if obj else 0).exists():
                errors.setdefault("day", []).append(_("This day is already in the calendar; change it instead."))
            cleaned["day"] = day
    if "type" in changes or obj is None:
        kind = str(changes.get("type") or Holiday.Type.HOLIDAY)
        if kind not in Holiday.Type.values:
            errors.setdefault("type", []).append(_("Choose a public holiday or an adjusted working day."))
        cleaned["type"] = kind
    if "name" in changes:
        name = str(changes.get("name") or "").strip()
        if len(name) > 100:
            errors.setdefault("name", []).append(_("Enter at most 100 characters."))
        if "\x00" in name:
            errors.setdefault("name", []).append(_("Null characters are not allowed."))
        cleaned["name"] = name
    raise_if(errors)
    return cleaned


@transaction.atomic
def holiday_create(*, actor: Any, day: Any, type: str = Holiday.Type.HOLIDAY, name: str = "") -> Holiday:
    """Add one day: a day off (``holiday``) or a working weekend day (``workday``, 调休)."""
    require(actor, "service.configure")
    cleaned = _validate_holiday(None, {"day": day, "type": type, "name": name})
    holiday = Holiday.objects.create(**cleaned)
    audit.record(actor=actor, action="create", obj=holiday, changes=audit.creation_changes(holiday))
    invalidate()
    return holiday


@transaction.atomic
def holiday_update(*, actor: Any, holiday: Holiday, changes: dict[str, Any],
                   expected_version: int | None) -> Holiday:
    require(actor, "service.configure")
    unknown = set(changes) - set(HOLIDAY_EDITABLE)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    cleaned = _validate_holiday(holiday, changes)
    records.apply_update(actor=actor, obj=holiday, changes=cleaned, expected_version=expected_version)
    invalidate()
    return holiday


@transaction.atomic
def holiday_delete(*, actor: Any, holiday: Holiday, expected_version: int | None = None) -> None:
    """Remove a day from the calendar (configuration, not a customer record: really removed,
    with the audit row keeping what it was)."""
    require(actor, "service.configure")
    if expected_version is not None and int(expected_version) != holiday.version:
        raise Conflict()
    audit.record(actor=actor, action="delete", obj=holiday, changes=audit.creation_changes(holiday))
    holiday.delete()
    invalidate()


def package_years() -> tuple[int, int]:
    """The first and last year the installed ``chinesecalendar`` knows."""
    import chinese_calendar

    return min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year


def package_days(year: int, weekdays: str | set[int] | frozenset[int] = DEFAULT_WEEKDAYS
                 ) -> list[tuple[dt.date, str, str]]:
    """China's official days of ``year`` that change the weekday rule: (day, type, Chinese name)
    for the holidays on working weekdays and the working days (调休) on other days."""
    import chinese_calendar

    days = {int(d) for d in weekdays}
    rows: list[tuple[dt.date, str, str]] = []
    for day, english in sorted(chinese_calendar.holidays.items()):
        if day.year == year and day.isoweekday() in days:
            rows.append((day, Holiday.Type.HOLIDAY, CHINESE_NAMES.get(english, english)))
    for day, english in sorted(chinese_calendar.workdays.items()):
        if day.year == year and day.isoweekday() not in days:
            rows.append((day, Holiday.Type.WORKDAY, CHINESE_NAMES.get(english, english)))
    return sorted(rows)


@transaction.atomic
def holidays_load(*, actor: Any, year: Any) -> dict[str, int]:
    """Fill ``year`` with China's public holidays and adjusted working days from the
    ``chinesecalendar`` package (its Chinese names: 春节, 国庆节 …). Days already in the
    calendar take the official type and name; days entered by hand stay. Refuses a year the
    installed package does not know (update the package when the State Council publishes)."""
    require(actor, "service.configure")
    try:
        number = int(str(year).strip())
    except (TypeError, ValueError):
        raise Invalid(errors={"year": [_("Enter a year, e.g. 2026.")]}) from None
    first, last = package_years()
    if not first <= number <= last:
        raise Invalid(errors={"year": [_("China's public holidays for %(year)d are not known to this installation "
                                         "(it knows %(first)d to %(last)d). Enter them by hand, or update the "
                                         "chinesecalendar package once they are published.")
                                       % {"year": number, "first": first, "last": last}]})
    row = calendar_row()
    existing = {h.day: h for h in Holiday.objects.filter(day__year=number)}
    created = updated = 0
    for day, kind, name in package_days(number, row.weekdays):
        holiday = existing.get(day)
        if holiday is None:
            holiday = Holiday.objects.create(day=day, type=kind, name=name)
            audit.record(actor=actor, action="create", obj=holiday, changes=audit.creation_changes(holiday),
                         note="chinesecalendar")
            created += 1
        elif holiday.type != kind or holiday.name != name:
            records.apply_update(actor=actor, obj=holiday, changes={"type": kind, "name": name},
                                 expected_version=None, note="chinesecalendar")
            updated += 1
    invalidate()
    return {"year": number, "created": created, "updated": updated}


def holidays_of(year: int) -> list[Holiday]:
    return list(Holiday.objects.filter(day__year=year).order_by("day"))


# --- History pages (configuration: its managers only) --------------------------------------
def _config_scope(user: Any, qs: Any) -> Any:
    return qs if has_perm(user, "service.configure") else qs.none()


registry.register(registry.Entry(model=ServiceCalendar, perm="service", scope=_config_scope,
                                 editable=HOURS_EDITABLE, detail_url=lambda obj: "/service/settings/hours/"))
registry.register(registry.Entry(model=Holiday, perm="service", scope=_config_scope, editable=HOLIDAY_EDITABLE,
                                 detail_url=lambda obj: f"/service/settings/holidays/?year={obj.day.year}"))
