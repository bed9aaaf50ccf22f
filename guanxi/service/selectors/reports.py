"""Service reports (R5): volume, SLA compliance, response and resolution times, reopen rate, backlog.

Every figure is an aggregate in SQL over the cases the user sees (``scope.case_scope``), for
those who hold ``service.report``; a salesperson (no such right) is refused, a sales manager
counts only the cases of the department's customers, a service agent their own.

The period is the day of receipt (``received_at``, local dates, both ends included; by
default the last 12 calendar months including this one). Filters: kind, category, product,
channel, and the department (with the departments below it) or the team of the case's owner.

Definitions (the user guide repeats them):

* **SLA compliance**, for the first response and for the resolution separately, among the
  cases with that due time (set from an SLA policy when the case was received): *on time* —
  done no later than due; *late* — done after it, or not done and the due time has passed
  (or the SLA sweep flagged it); *pending* — not done, not yet due. The rate is on time /
  (on time + late): pending cases are not judged yet. A case *met its SLA* when both were on
  time; it *missed* it when either was late.
* **Time to first response / to resolution** in business minutes of the service calendar
  (working hours, weekdays, holidays, adjusted working days): each working day's length comes
  from ``calendar.business_minutes_between`` (the SLA clock), and SQL adds the days up, so the
  mean and the **median** are computed by the database over every case — the median with
  window functions (``ROW_NUMBER`` and ``COUNT`` over the ordered values, the middle row or the
  mean of the two middle rows), the same statement on PostgreSQL and SQLite. No row reaches
  Python.
* **Reopen rate**: cases reopened at least once / cases resolved at least once.
* **Open backlog** by age: the cases open *now* (new, acknowledged, investigating, proposed)
  matching the filters — whenever they were received, since an old open case is exactly what a
  backlog must show — by days since receipt.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.db import connection
from django.db.models import Case as DbCase
from django.db.models import Count, F, IntegerField, Max, Q, QuerySet, Value, When
from django.db.models.functions import ExtractDay, ExtractHour, ExtractMinute, ExtractMonth, ExtractSecond, ExtractYear
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from guanxi.core import access
from guanxi.core.errors import Forbidden, Invalid
from guanxi.core.models import Department, Team
from guanxi.core.permissions import has_perm
from guanxi.sales.models import Product
from guanxi.service.models import Case, CaseCategory, Channel, Kind
from guanxi.service.selectors.scope import case_scope

RIGHT = "service.report"
DEFAULT_MONTHS = 12
MAX_DAYS = 5 * 366 + 1  # five years of receipt
MAX_CLOCK_DAYS = 20 * 366  # business-clock days built at most (receipt → last response or resolution)
TOP_ROWS = 20  # categories and products listed; the rest are summed into "Others"
# Age of the open backlog in days since receipt: [low, high), the last bucket open-ended.
BACKLOG_BUCKETS: tuple[tuple[int, int | None], ...] = ((0, 1), (1, 3), (3, 7), (7, 14), (14, 30), (30, None))
OTHERS = "other"
CLOSED_STATES = (Case.State.RESOLVED, Case.State.CONFIRMED, Case.State.CLOSED)


def require_report(user: Any) -> None:
    if not has_perm(user, RIGHT):
        raise Forbidden()


# --- Filters ---------------------------------------------------------------------------------
def month_start(day: dt.date, months_back: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 - months_back
    return dt.date(index // 12, index % 12 + 1, 1)


def default_period(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last 12 calendar months, this one included: the 1st of the month 11 months ago → today."""
    today = today or timezone.localdate()
    return month_start(today, DEFAULT_MONTHS - 1), today


def local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_default_timezone())


@dataclass(frozen=True)
class PeriodFilters:
    """A period of local dates (both ends included) and the filters named in ``QUERY``; shared
    by the service report and the satisfaction dashboard."""

    start: dt.date  # first day
    end: dt.date  # last day, included
    QUERY: ClassVar[tuple[str, ...]] = ()  # the other filters, in the order of the query string

    @property
    def start_at(self) -> dt.datetime:
        return local_midnight(self.start)

    @property
    def end_at(self) -> dt.datetime:
        """The first instant after the period."""
        return local_midnight(self.end + dt.timedelta(days=1))

    @property
    def months(self) -> list[dt.date]:
        out, month = [], month_start(self.start)
        while month <= self.end:
            out.append(month)
            month = month_start(month, -1)
        return out

    def as_query(self) -> dict[str, str]:
        """The filters as query parameters (links, the export form, the audit row)."""
        out = {"date_from": self.start.isoformat(), "date_to": self.end.isoformat()}
        for name in self.QUERY:
            value = getattr(self, name)
            if value not in (None, ""):
                out[name] = str(value)
        return out


@dataclass(frozen=True)
class Filters(PeriodFilters):
    """``start``/``end``: the days of receipt."""

    kind: str = ""
    category: int | None = None
    product: int | None = None
    channel: str = ""
    department: int | None = None
    team: int | None = None
    QUERY: ClassVar[tuple[str, ...]] = ("kind", "category", "product", "channel", "department", "team")


def parse_id(value: Any, name: str, errors: dict[str, list[str]]) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        errors.setdefault(name, []).append(_("Select a valid choice."))
        return None
    if number <= 0:
        errors.setdefault(name, []).append(_("Select a valid choice."))
        return None
    return number


def _day(value: Any, name: str, errors: dict[str, list[str]]) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        parsed = parse_date(str(value).strip())
    except ValueError:
        parsed = None
    if parsed is None:
        errors.setdefault(name, []).append(_("Enter a valid date (YYYY-MM-DD)."))
    return parsed


def parse_period(params: Mapping[str, Any], errors: dict[str, list[str]], *, today: dt.date | None = None,
                 max_days: int = MAX_DAYS) -> tuple[dt.date, dt.date]:
    """``date_from``/``date_to`` (both optional: the default period's ends); messages into ``errors``."""
    first, last = _day(params.get("date_from"), "date_from", errors), _day(params.get("date_to"), "date_to", errors)
    default_first, default_last = default_period(today)
    if first is None and last is None:
        first, last = default_first, default_last
    elif last is None:
        assert first is not None
        last = max(first, default_last)
    elif first is None:
        first = month_start(last, DEFAULT_MONTHS - 1)
    assert first is not None and last is not None
    if first > last:
        errors.setdefault("date_from", []).append(_("The start must not be after the end."))
    elif (last - first).days + 1 > max_days:
        errors.setdefault("date_from", []).append(
            _("Choose at most %(years)s years.") % {"years": max_days // 366})
    return first, last


def parse_filters(params: Mapping[str, Any], *, today: dt.date | None = None) -> Filters:
    """Filters from a query string or API call; ``Invalid`` with a message per field on bad input."""
    errors: dict[str, list[str]] = {}
    first, last = parse_period(params, errors, today=today)
    kind = str(params.get("kind") or "").strip()
    if kind and kind not in Kind.values:
        errors.setdefault("kind", []).append(_("Select a valid choice."))
    channel = str(params.get("channel") or "").strip()
    if channel and channel not in Channel.values:
        errors.setdefault("channel", []).append(_("Select a valid choice."))
    ids = {name: parse_id(params.get(name), name, errors) for name in ("category", "product", "department", "team")}
    for name, model in (("category", CaseCategory.objects), ("product", Product.all_objects),
                        ("department", Department.objects), ("team", Team.objects)):
        pk = ids[name]
        if pk is not None and not model.filter(pk=pk).exists():
            errors.setdefault(name, []).append(_("Select a valid choice."))
    if errors:
        raise Invalid(errors=errors)
    return Filters(start=first, end=last, kind=kind, channel=channel, **ids)


def filtered_cases(user: Any, filters: Filters, *, period: bool = True) -> QuerySet[Case]:
    """The cases ``user`` sees matching the filters (received in the period unless ``period=False``)."""
    qs = case_scope(user)
    if period:
        qs = qs.filter(received_at__gte=filters.start_at, received_at__lt=filters.end_at)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.channel:
        qs = qs.filter(channel=filters.channel)
    if filters.category is not None:
        qs = qs.filter(category_id=filters.category)
    if filters.product is not None:
        qs = qs.filter(product_id=filters.product)
    if filters.department is not None:
        qs = qs.filter(department_id__in=access.subtree_ids({filters.department}))
    if filters.team is not None:
        qs = qs.filter(owner__teams__id=filters.team)
    return qs.order_by()


# --- Results ---------------------------------------------------------------------------------
def percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


@dataclass
class Row:
    key: str  # a choice's code or a record's id ("" for none, "other" for the rest)
    label: str
    count: int
    share: float | None = None  # % of all cases in the report


@dataclass
class MonthRow:
    month: dt.date
    count: int
    by_kind: dict[str, int]

    @property
    def label(self) -> str:
        return f"{self.month:%Y-%m}"


@dataclass
class Compliance:
    on_time: int = 0
    late: int = 0
    pending: int = 0

    @property
    def judged(self) -> int:
        return self.on_time + self.late

    @property
    def rate(self) -> float | None:
        return percent(self.on_time, self.judged)

    def as_dict(self) -> dict[str, Any]:
        return {"on_time": self.on_time, "late": self.late, "pending": self.pending, "rate": self.rate}


@dataclass
class SlaRow:
    key: str
    label: str
    cases: int  # cases with an SLA
    response_late: int
    resolution_late: int
    met: int
    missed: int

    @property
    def rate(self) -> float | None:
        return percent(self.met, self.met + self.missed)


@dataclass
class Sla:
    cases: int = 0  # cases with an SLA (both due times)
    response: Compliance = field(default_factory=Compliance)
    resolution: Compliance = field(default_factory=Compliance)
    overall: Compliance = field(default_factory=Compliance)  # on_time = met, late = missed
    by_category: list[SlaRow] = field(default_factory=list)


@dataclass
class Stat:
    count: int = 0
    mean: float | None = None  # business minutes
    median: float | None = None

    @staticmethod
    def hours(minutes: float | None) -> float | None:
        return None if minutes is None else round(minutes / 60.0, 2)

    @property
    def mean_hours(self) -> float | None:
        return self.hours(self.mean)

    @property
    def median_hours(self) -> float | None:
        return self.hours(self.median)

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean_minutes": self.mean, "median_minutes": self.median,
                "mean_hours": self.mean_hours, "median_hours": self.median_hours}


@dataclass
class TimeRow:
    key: str
    label: str
    response: Stat
    resolution: Stat


@dataclass
class Times:
    response: Stat = field(default_factory=Stat)
    resolution: Stat = field(default_factory=Stat)
    by_month: list[TimeRow] = field(default_factory=list)
    by_category: list[TimeRow] = field(default_factory=list)


@dataclass
class Reopen:
    resolved: int = 0  # resolved at least once
    reopened: int = 0  # reopened at least once

    @property
    def rate(self) -> float | None:
        return percent(self.reopened, self.resolved)


@dataclass
class Bucket:
    low: int
    high: int | None
    count: int

    @property
    def key(self) -> str:
        return f"{self.low}-{self.high}" if self.high is not None else f"{self.low}+"

    @property
    def label(self) -> str:
        if self.high is None:
            return _("over %(days)s days") % {"days": self.low}
        if self.high == 1:
            return _("under 1 day")
        return _("%(low)s–%(high)s days") % {"low": self.low, "high": self.high}


@dataclass
class Backlog:
    total: int = 0
    overdue: int = 0  # past the resolution due time
    buckets: list[Bucket] = field(default_factory=list)


@dataclass
class Report:
    filters: Filters
    total: int = 0
    by_channel: list[Row] = field(default_factory=list)
    by_category: list[Row] = field(default_factory=list)
    by_product: list[Row] = field(default_factory=list)
    by_kind: list[Row] = field(default_factory=list)
    by_month: list[MonthRow] = field(default_factory=list)
    sla: Sla = field(default_factory=Sla)
    times: Times = field(default_factory=Times)
    reopen: Reopen = field(default_factory=Reopen)
    backlog: Backlog = field(default_factory=Backlog)


# --- Volume ----------------------------------------------------------------------------------
def _local(field_name: str) -> dict[str, Any]:
    tz = timezone.get_default_timezone()
    return {"year": ExtractYear(field_name, tzinfo=tz), "month": ExtractMonth(field_name, tzinfo=tz),
            "day": ExtractDay(field_name, tzinfo=tz), "hour": ExtractHour(field_name, tzinfo=tz),
            "minute": ExtractMinute(field_name, tzinfo=tz), "second": ExtractSecond(field_name, tzinfo=tz)}


def month_key(field_name: str) -> Any:
    """year × 100 + month of a timestamp in the company's time zone (an integer on every database)."""
    parts = _local(field_name)
    return parts["year"] * 100 + parts["month"]


def key_month(key: Any) -> dt.date:
    number = int(key)
    return dt.date(number // 100, number % 100, 1)


def _ranked(rows: list[Row], total: int, *, top: int | None = None) -> list[Row]:
    rows.sort(key=lambda r: (-r.count, r.key == "", r.label))
    if top is not None and len(rows) > top:
        rest = rows[top:]
        rows = [*rows[:top], Row(OTHERS, _("Others"), sum(r.count for r in rest))]
    for row in rows:
        row.share = percent(row.count, total)
    return rows


def _choice_rows(qs: QuerySet[Case], column: str, choices: Any, total: int) -> list[Row]:
    """Every choice in its own order (zeros included), then any stored value no longer a choice."""
    counts = dict(qs.values_list(column).annotate(n=Count("id")).values_list(column, "n"))
    rows = [Row(code, str(label), counts.pop(code, 0)) for code, label in choices]
    rows += [Row(code, code, n) for code, n in sorted(counts.items())]
    for row in rows:
        row.share = percent(row.count, total)
    return rows


def _category_rows(qs: QuerySet[Case], total: int) -> list[Row]:
    rows = [Row(str(r["category_id"] or ""), r["category__name"] or _("No category"), r["n"])
            for r in qs.values("category_id", "category__name").annotate(n=Count("id"))]
    return _ranked(rows, total, top=TOP_ROWS)


def product_label(name: str | None, model: str | None) -> str:
    return f"{name or ''} {model or ''}".strip()


def _product_rows(qs: QuerySet[Case], total: int) -> list[Row]:
    rows = [Row(str(r["product_id"] or ""), product_label(r["product__name"], r["product__model"]) or _("No product"),
                r["n"]) for r in qs.values("product_id", "product__name", "product__model").annotate(n=Count("id"))]
    return _ranked(rows, total, top=TOP_ROWS)


def _month_rows(qs: QuerySet[Case], filters: Filters) -> list[MonthRow]:
    rows = {m: MonthRow(m, 0, {k: 0 for k in Kind.values}) for m in filters.months}
    for r in qs.annotate(mk=month_key("received_at")).values("mk", "kind").annotate(n=Count("id")):
        row = rows.get(key_month(r["mk"]))
        if row is not None:
            row.count += r["n"]
            row.by_kind[r["kind"]] = row.by_kind.get(r["kind"], 0) + r["n"]
    return list(rows.values())


# --- SLA compliance --------------------------------------------------------------------------
def _sla_conditions(now: dt.datetime) -> dict[str, Q]:
    response_due = Q(first_response_due__isnull=False)
    responded = Q(first_responded_at__isnull=False)
    resolution_due = Q(resolution_due__isnull=False)
    resolved = Q(resolved_at__isnull=False)
    c = {
        "response_on_time": response_due & responded & Q(first_responded_at__lte=F("first_response_due")),
        "response_late": response_due & (
            (responded & Q(first_responded_at__gt=F("first_response_due")))
            | (Q(first_responded_at__isnull=True) & (Q(first_response_due__lt=now) | Q(response_breached=True)))),
        "resolution_on_time": resolution_due & resolved & Q(resolved_at__lte=F("resolution_due")),
        "resolution_late": resolution_due & (
            (resolved & Q(resolved_at__gt=F("resolution_due")))
            | (Q(resolved_at__isnull=True) & (Q(resolution_due__lt=now) | Q(resolution_breached=True)))),
    }
    c["response_pending"] = response_due & Q(first_responded_at__isnull=True, first_response_due__gte=now,
                                             response_breached=False)
    c["resolution_pending"] = resolution_due & Q(resolved_at__isnull=True, resolution_due__gte=now,
                                                 resolution_breached=False)
    c["with_sla"] = response_due & resolution_due
    c["met"] = c["with_sla"] & c["response_on_time"] & c["resolution_on_time"]
    c["missed"] = c["with_sla"] & (c["response_late"] | c["resolution_late"])
    return c


def _sla(qs: QuerySet[Case], now: dt.datetime) -> Sla:
    cond = _sla_conditions(now)
    counts = {name: Count("id", filter=q) for name, q in cond.items()}
    totals = qs.aggregate(**counts)
    sla = Sla(
        cases=totals["with_sla"],
        response=Compliance(totals["response_on_time"], totals["response_late"], totals["response_pending"]),
        resolution=Compliance(totals["resolution_on_time"], totals["resolution_late"], totals["resolution_pending"]),
        overall=Compliance(totals["met"], totals["missed"], totals["with_sla"] - totals["met"] - totals["missed"]),
    )
    rows = (qs.filter(cond["with_sla"]).values("category_id", "category__name")
            .annotate(n=Count("id"), response_late=counts["response_late"], resolution_late=counts["resolution_late"],
                      met=counts["met"], missed=counts["missed"]))
    sla.by_category = sorted(
        (SlaRow(str(r["category_id"] or ""), r["category__name"] or _("No category"), r["n"], r["response_late"],
                r["resolution_late"], r["met"], r["missed"]) for r in rows),
        key=lambda r: (-r.missed, -r.cases, r.label))
    return sla


# --- Business time ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ClockDay:
    key: int  # yyyymmdd
    start: int  # business seconds from the clock's first midnight to this day's midnight
    opens: int  # second of the day the working hours start
    length: int  # business seconds in the day (0: a day off)


def business_clock(first: dt.date, last: dt.date) -> list[ClockDay]:
    """One row per local day from ``first`` to ``last``: the business seconds before it and in it.

    Each day's length is the SLA clock's own answer (``calendar.business_minutes_between`` from
    that midnight to the next, on the calendar loaded once), so holidays, adjusted working days
    and working hours follow C's rules; within a working day the clock runs from ``day_start``."""
    from guanxi.service.services import calendar

    loaded = calendar.current()
    opens = loaded.day_start.hour * 3600 + loaded.day_start.minute * 60 + loaded.day_start.second
    days: list[ClockDay] = []
    elapsed, day = 0, first
    midnight = local_midnight(day)
    while day <= last:
        following = local_midnight(day + dt.timedelta(days=1))
        length = int(calendar.business_minutes_between(midnight, following, calendar=loaded)) * 60
        days.append(ClockDay(day.year * 10000 + day.month * 100 + day.day, elapsed, opens, length))
        elapsed += length
        day, midnight = day + dt.timedelta(days=1), following
    return days


def _day_key(parts: dict[str, Any]) -> Any:
    return parts["year"] * 10000 + parts["month"] * 100 + parts["day"]


def _second_of_day(parts: dict[str, Any]) -> Any:
    return parts["hour"] * 3600 + parts["minute"] * 60 + parts["second"]


def _clock_at(day: str, col: str) -> str:
    """SQL: the business second of a timestamp, from its clock day row and its second of the day."""
    offset = f"({col} - {day}.opens)"
    return (f"({day}.start + CASE WHEN {offset} <= 0 THEN 0 WHEN {offset} >= {day}.length THEN {day}.length "
            f"ELSE {offset} END)")


TIME_SQL = """
WITH clock (k, start, opens, length) AS (VALUES {clock}),
c AS ({cases}),
d AS (
  SELECT 1 AS metric, c.mk AS mk, c.cat AS cat, ({responded} - {received}) / 60.0 AS v
    FROM c JOIN clock rd ON rd.k = c.rk JOIN clock fd ON fd.k = c.fk
   WHERE c.fk IS NOT NULL AND c.late_response = 0
  UNION ALL
  SELECT 2, c.mk, c.cat, ({resolved} - {received}) / 60.0
    FROM c JOIN clock rd ON rd.k = c.rk JOIN clock sd ON sd.k = c.sk
   WHERE c.sk IS NOT NULL AND c.late_resolution = 0
),
g AS (
  SELECT metric, 0 AS lvl, 0 AS grp, v FROM d
  UNION ALL SELECT metric, 1, mk, v FROM d
  UNION ALL SELECT metric, 2, cat, v FROM d
),
w AS (
  SELECT metric, lvl, grp, v,
         ROW_NUMBER() OVER (PARTITION BY metric, lvl, grp ORDER BY v) AS rn,
         COUNT(*) OVER (PARTITION BY metric, lvl, grp) AS n
    FROM g
)
SELECT metric, lvl, grp, COUNT(*), AVG(v), AVG(CASE WHEN rn = (n + 1) / 2 OR rn = (n + 2) / 2 THEN v END)
  FROM w GROUP BY metric, lvl, grp
"""


def _flag(condition: Q) -> Any:
    return DbCase(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField())


def _times(qs: QuerySet[Case], filters: Filters, categories: dict[str, str]) -> Times:
    times = Times()
    done = qs.filter(Q(first_responded_at__isnull=False) | Q(resolved_at__isnull=False))
    last = done.aggregate(a=Max("first_responded_at"), b=Max("resolved_at"))
    ends = [timezone.localdate(v, timezone.get_default_timezone()) for v in (last["a"], last["b"]) if v is not None]
    if not ends:
        return _time_rows(times, {}, filters, categories)
    first_day = filters.start
    last_day = min(max(max(ends), first_day), first_day + dt.timedelta(days=MAX_CLOCK_DAYS))
    clock = business_clock(first_day, last_day)
    received, responded, resolved = _local("received_at"), _local("first_responded_at"), _local("resolved_at")
    inner = done.annotate(
        mk=received["year"] * 100 + received["month"], cat=F("category_id"),
        rk=_day_key(received), rs=_second_of_day(received),
        fk=_day_key(responded), fs=_second_of_day(responded),
        sk=_day_key(resolved), ss=_second_of_day(resolved),
        # A response or resolution stamped before the receipt (bad data) is left out.
        late_response=_flag(Q(first_responded_at__lt=F("received_at"))),
        late_resolution=_flag(Q(resolved_at__lt=F("received_at"))),
    ).values("mk", "cat", "rk", "rs", "fk", "fs", "sk", "ss", "late_response", "late_resolution")
    cases_sql, params = inner.query.sql_with_params()
    values = ", ".join(f"({int(d.key)}, {int(d.start)}, {int(d.opens)}, {int(d.length)})" for d in clock)
    sql = TIME_SQL.format(clock=values, cases=cases_sql, received=_clock_at("rd", "c.rs"),
                          responded=_clock_at("fd", "c.fs"), resolved=_clock_at("sd", "c.ss"))
    results: dict[tuple[int, int, int], Stat] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for metric, level, group, count, mean, median in cursor.fetchall():
            results[(int(metric), int(level), int(group if group is not None else 0))] = Stat(
                int(count), None if mean is None else round(float(mean), 2),
                None if median is None else round(float(median), 2))
    return _time_rows(times, results, filters, categories)


def _time_rows(times: Times, results: dict[tuple[int, int, int], Stat], filters: Filters,
               categories: dict[str, str]) -> Times:
    times.response = results.get((1, 0, 0), Stat())
    times.resolution = results.get((2, 0, 0), Stat())
    for month in filters.months:
        number = month.year * 100 + month.month
        times.by_month.append(TimeRow(f"{month:%Y-%m}", f"{month:%Y-%m}", results.get((1, 1, number), Stat()),
                                      results.get((2, 1, number), Stat())))
    groups = {group for (_metric, level, group) in results if level == 2}
    for group in groups:
        key = str(group or "")
        times.by_category.append(TimeRow(key, categories.get(key) or _("No category"),
                                         results.get((1, 2, group), Stat()), results.get((2, 2, group), Stat())))
    times.by_category.sort(key=lambda r: (-(r.resolution.count + r.response.count), r.label))
    return times


# --- Reopen rate and backlog -----------------------------------------------------------------
def _reopen(qs: QuerySet[Case]) -> Reopen:
    totals = qs.aggregate(
        resolved=Count("id", filter=Q(resolved_at__isnull=False) | Q(reopen_count__gt=0)),
        reopened=Count("id", filter=Q(reopen_count__gt=0)))
    return Reopen(totals["resolved"], totals["reopened"])


def _backlog(qs: QuerySet[Case], now: dt.datetime) -> Backlog:
    open_cases = qs.filter(state__in=Case.OPEN_STATES)
    counts: dict[str, Any] = {"total": Count("id"),
                              "overdue": Count("id", filter=Q(resolution_due__lt=now))}
    for i, (low, high) in enumerate(BACKLOG_BUCKETS):
        q = Q(received_at__lte=now - dt.timedelta(days=low))
        if high is not None:
            q &= Q(received_at__gt=now - dt.timedelta(days=high))
        counts[f"b{i}"] = Count("id", filter=q)
    totals = open_cases.aggregate(**counts)
    # Received "in the future" (clock skew) counts as under a day old.
    first = totals["total"] - sum(totals[f"b{i}"] for i in range(1, len(BACKLOG_BUCKETS)))
    buckets = [Bucket(low, high, first if i == 0 else totals[f"b{i}"])
               for i, (low, high) in enumerate(BACKLOG_BUCKETS)]
    return Backlog(total=totals["total"], overdue=totals["overdue"], buckets=buckets)


# --- The report ------------------------------------------------------------------------------
def service_report(user: Any, filters: Filters, *, now: dt.datetime | None = None) -> Report:
    """Every figure of the service report for ``user`` (``service.report``, else Forbidden).

    A fixed number of queries whatever the number of cases (about 15 with the user's reach and
    the calendar): grouped counts, conditional aggregates, and one statement for the times
    (means and medians overall, by month and by category)."""
    require_report(user)
    now = now or timezone.now()
    qs = filtered_cases(user, filters)
    report = Report(filters=filters)
    report.by_kind = _choice_rows(qs, "kind", Kind.choices, 0)
    report.total = sum(r.count for r in report.by_kind)
    for row in report.by_kind:
        row.share = percent(row.count, report.total)
    report.by_channel = _choice_rows(qs, "channel", Channel.choices, report.total)
    report.by_category = _category_rows(qs, report.total)
    report.by_product = _product_rows(qs, report.total)
    report.by_month = _month_rows(qs, filters)
    report.sla = _sla(qs, now)
    categories = {row.key: row.label for row in report.by_category if row.key != OTHERS}
    missing = [row.key for row in report.sla.by_category if row.key and row.key not in categories]
    if missing:
        categories.update({str(pk): name for pk, name in CaseCategory.objects.filter(pk__in=missing)
                           .values_list("pk", "name")})
    report.times = _times(qs, filters, {**categories, **{r.key: r.label for r in report.sla.by_category}})
    report.reopen = _reopen(qs)
    report.backlog = _backlog(filtered_cases(user, filters, period=False), now)
    return report


def options(user: Any) -> dict[str, list[tuple[str, str]]]:
    """The filter form's choices: categories, the products that appear on cases the user sees,
    departments and teams."""
    products = (Product.all_objects.filter(pk__in=case_scope(user).filter(product__isnull=False)
                                           .values("product_id").distinct()).order_by("name", "model")
                .values_list("pk", "name", "model"))
    return {
        "kinds": [(code, str(label)) for code, label in Kind.choices],
        "channels": [(code, str(label)) for code, label in Channel.choices],
        "categories": [(str(pk), name) for pk, name in CaseCategory.objects.values_list("pk", "name")],
        "products": [(str(pk), product_label(name, model)) for pk, name, model in products],
        "departments": [(str(pk), name) for pk, name in Department.objects.order_by("path").values_list("pk", "name")],
        "teams": [(str(pk), name) for pk, name in Team.objects.order_by("name").values_list("pk", "name")],
    }


# --- As JSON ---------------------------------------------------------------------------------
def _rows(rows: list[Row]) -> list[dict[str, Any]]:
    return [{"key": r.key, "label": r.label, "count": r.count, "share": r.share} for r in rows]


def _time_row(row: TimeRow) -> dict[str, Any]:
    return {"key": row.key, "label": row.label, "response": row.response.as_dict(),
            "resolution": row.resolution.as_dict()}


def report_as_dict(report: Report) -> dict[str, Any]:
    f = report.filters
    return {
        "filters": {"date_from": f.start, "date_to": f.end, "kind": f.kind, "category": f.category,
                    "product": f.product, "channel": f.channel, "department": f.department, "team": f.team},
        "total": report.total,
        "volume": {
            "by_channel": _rows(report.by_channel), "by_category": _rows(report.by_category),
            "by_product": _rows(report.by_product), "by_kind": _rows(report.by_kind),
            "by_month": [{"month": m.label, "count": m.count, "by_kind": m.by_kind} for m in report.by_month],
        },
        "sla": {
            "cases": report.sla.cases, "response": report.sla.response.as_dict(),
            "resolution": report.sla.resolution.as_dict(),
            "overall": {"met": report.sla.overall.on_time, "missed": report.sla.overall.late,
                        "pending": report.sla.overall.pending, "rate": report.sla.overall.rate},
            "by_category": [{"key": r.key, "label": r.label, "cases": r.cases, "response_late": r.response_late,
                             "resolution_late": r.resolution_late, "met": r.met, "missed": r.missed,
                             "rate": r.rate} for r in report.sla.by_category],
        },
        "times": {
            "unit": "business minutes",
            "response": report.times.response.as_dict(), "resolution": report.times.resolution.as_dict(),
            "by_month": [_time_row(r) for r in report.times.by_month],
            "by_category": [_time_row(r) for r in report.times.by_category],
        },
        "reopen": {"resolved": report.reopen.resolved, "reopened": report.reopen.reopened,
                   "rate": report.reopen.rate},
        "backlog": {"total": report.backlog.total, "overdue": report.backlog.overdue,
                    "by_age": [{"key": b.key, "label": b.label, "min_days": b.low, "max_days": b.high,
                                "count": b.count} for b in report.backlog.buckets]},
    }
