"""The performance page (R11.2): results against targets next to the relationship work
behind them, per salesperson, for a period.

Whose: a salesperson sees their own row; a manager the people they manage by role
(``core.access`` without grants: a grant opens a colleague's customers, not their appraisal);
the general manager everyone who sells. Only active people holding the sales rights are
listed. Per person:

* targets and attainment for orders, receipts, contracts and new customers — their own
  targets that overlap the period, a target covering only part of it counted pro rata by
  days (see ``selectors/targets.py`` for what each measure counts);
* contacts made (interactions they own, by kind);
* follow-ups due in the period (and already due): done on time, done late, still open;
* accounts they own whose grade went up in the period (rating history);
* deals won and lost (closed in the period) and the amount won in CNY.

Every figure is one grouped query over all the people at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.activities.models import FollowUp, Interaction
from guanxi.activities.selectors.check import grade_order, reach_for
from guanxi.core.errors import NotFound
from guanxi.core.models import User
from guanxi.core.permissions import ROLE_PERMISSIONS
from guanxi.customers.models import AccountRating
from guanxi.sales.models import Opportunity, SalesTarget
from guanxi.sales.selectors.targets import Metric, Period, actual_by_owner, attainment, period_of

ZERO = Decimal("0")
FEN = Decimal("0.01")
PRESETS = ("month", "last_month", "quarter", "year")
RATINGS_READ = 20_000
_CNY = DecimalField(max_digits=24, decimal_places=8)


def preset_period(name: str, today: dt.date | None = None) -> Period:
    today = today or timezone.localdate()
    if name == "last_month":
        end = today.replace(day=1) - dt.timedelta(days=1)
        return Period(end.replace(day=1), end)
    if name == "quarter":
        first = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        after = dt.date(first.year + (first.month + 2) // 12, (first.month + 2) % 12 + 1, 1)
        return Period(first, after - dt.timedelta(days=1))
    if name == "year":
        return Period(dt.date(today.year, 1, 1), dt.date(today.year, 12, 31))
    first = today.replace(day=1)
    after = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return Period(first, after - dt.timedelta(days=1))


def preset_label(name: str) -> str:
    return {"month": _("This month"), "last_month": _("Last month"), "quarter": _("This quarter"),
            "year": _("This year")}[name]


def period_from(params: Any, today: dt.date | None = None) -> tuple[Period, str]:
    """(period, preset name or "") from ``period`` (a preset: the page's buttons send it along
    with the dates shown, so it wins), else ``start``/``end``, else this month."""
    if params.get("period") in PRESETS:
        return preset_period(params["period"], today), params["period"]
    if params.get("start") or params.get("end"):
        return period_of(params.get("start"), params.get("end"), start_field="start", end_field="end"), ""
    return preset_period("month", today), "month"


@dataclass
class Row:
    user_id: int
    name: str
    department: str
    targets: dict[str, Decimal | None] = field(default_factory=dict)
    actuals: dict[str, Decimal] = field(default_factory=dict)
    attainment: dict[str, Decimal | None] = field(default_factory=dict)
    contacts: int = 0
    contacts_by_kind: dict[str, int] = field(default_factory=dict)
    followups_on_time: int = 0
    followups_late: int = 0
    followups_open: int = 0
    grades_improved: int = 0
    deals_won: int = 0
    won_amount: Decimal = ZERO
    deals_lost: int = 0

    @property
    def measures(self) -> list[tuple[str, Decimal, Decimal | None, Decimal | None]]:
        """(measure, actual, target, attainment %) in the order of the measures."""
        return [(m, self.actuals[m], self.targets[m], self.attainment[m]) for m in Metric.values]

    @property
    def kinds(self) -> list[tuple[str, int]]:
        """(kind label, contacts) for the kinds of contact made, in the order of the kinds."""
        return [(str(label), self.contacts_by_kind[k]) for k, label in Interaction.Kind.choices
                if self.contacts_by_kind.get(k)]


@dataclass
class Performance:
    period: Period
    rows: list[Row]


def _sellers() -> set[str]:
    return {code for code, perms in ROLE_PERMISSIONS.items() if "performance.view" in perms}


def people_for(actor: Any, *, user: Any = None) -> list[tuple[int, str, str]]:
    """(id, name, department) of the active sellers ``actor`` may appraise; ``user`` narrows
    to one of them (anyone else → NotFound)."""
    reach = reach_for(actor)
    people = {p.pk: p for p in reach.people if p.is_active}
    if user not in (None, ""):
        try:
            pk = int(user)
        except (TypeError, ValueError):
            raise NotFound() from None
        if pk not in people:
            raise NotFound()
        people = {pk: people[pk]}
    sellers = set(User.objects.filter(pk__in=list(people), roles__code__in=_sellers()).values_list("pk", flat=True))
    return [(p.pk, p.name, p.department.name if p.department else "") for p in people.values() if p.pk in sellers]


def _targets(people: list[int], period: Period) -> dict[int, dict[str, Decimal]]:
    """Each person's own targets over the period by measure, pro rata by days of overlap."""
    out: dict[int, dict[str, Decimal]] = {}
    for target in SalesTarget.objects.filter(user_id__in=people, period_start__lte=period.end,
                                             period_end__gte=period.start):
        days = (target.period_end - target.period_start).days + 1
        share = target.amount * period.overlap_days(target.period_start, target.period_end) / days
        mine = out.setdefault(target.user_id or 0, {})
        mine[target.metric] = mine.get(target.metric, ZERO) + share
    return out


def performance_for(actor: Any, period: Period, *, user: Any = None) -> Performance:
    """Every figure of the page for the people ``actor`` may appraise (about ten queries)."""
    people = people_for(actor, user=user)
    ids = [pk for pk, _n, _d in people]
    rows = {pk: Row(pk, name, dept) for pk, name, dept in people}
    if not ids:
        return Performance(period, [])
    targets = _targets(ids, period)
    for metric in Metric.values:
        actual = actual_by_owner(metric, period, ids)
        zero = Decimal(0) if metric == Metric.NEW_ACCOUNTS else ZERO.quantize(FEN)
        for pk, row in rows.items():
            goal = targets.get(pk, {}).get(metric)
            goal = (goal.quantize(Decimal(1)) if metric == Metric.NEW_ACCOUNTS else goal.quantize(FEN)) \
                if goal is not None else None
            row.targets[metric] = goal
            row.actuals[metric] = actual.get(pk, zero)
            row.attainment[metric] = attainment(row.actuals[metric], goal)

    made = Interaction.objects.filter(owner_id__in=ids, occurred_at__gte=period.start_at, occurred_at__lt=period.end_at)
    for item in made.order_by().values("owner_id", "kind").annotate(n=Count("id")):
        row = rows[item["owner_id"]]
        row.contacts += item["n"]
        row.contacts_by_kind[item["kind"]] = item["n"]

    until = min(period.end_at, timezone.now())
    if period.start_at < until:
        due = FollowUp.objects.filter(owner_id__in=ids, account__deleted_at__isnull=True, due_at__gte=period.start_at,
                                      due_at__lt=until)
        for item in due.order_by().values("owner_id").annotate(
                on_time=Count("id", filter=Q(state=FollowUp.State.DONE, done_at__lte=F("due_at"))),
                late=Count("id", filter=Q(state=FollowUp.State.DONE, done_at__gt=F("due_at"))),
                still_open=Count("id", filter=Q(state=FollowUp.State.OPEN))):
            row = rows[item["owner_id"]]
            row.followups_on_time, row.followups_late, row.followups_open = (item["on_time"], item["late"],
                                                                              item["still_open"])

    rank = {code: i for i, code in enumerate(grade_order())}  # best first
    improved: dict[int, set[int]] = {}
    moves = (AccountRating.objects.filter(account__owner_id__in=ids, account__deleted_at__isnull=True,
                                          rated_at__gte=period.start_at, rated_at__lt=period.end_at)
             .exclude(previous_grade="").exclude(previous_grade=F("grade"))
             .values_list("account__owner_id", "account_id", "previous_grade", "grade")[:RATINGS_READ])
    for owner_id, account_id, previous, grade in moves:
        if rank.get(grade, len(rank)) < rank.get(previous, len(rank)):
            improved.setdefault(owner_id, set()).add(account_id)
    for pk, accounts in improved.items():
        rows[pk].grades_improved = len(accounts)

    won_lost = (Opportunity.objects.filter(owner_id__in=ids, account__deleted_at__isnull=True,
                                           state__in=(Opportunity.State.WON, Opportunity.State.LOST),
                                           closed_on__gte=period.start, closed_on__lte=period.end)
                .order_by().values("owner_id", "state")
                .annotate(n=Count("id"), total=Sum(ExpressionWrapper(F("amount") * F("rate_to_cny"),
                                                                     output_field=_CNY))))
    for item in won_lost:
        row = rows[item["owner_id"]]
        if item["state"] == Opportunity.State.WON:
            row.deals_won, row.won_amount = item["n"], Decimal(item["total"] or 0).quantize(FEN)
        else:
            row.deals_lost = item["n"]
    ordered = sorted(rows.values(), key=lambda r: (r.department, r.name))
    return Performance(period, ordered)


def metric_labels() -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in Metric.choices]


def kind_labels() -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in Interaction.Kind.choices]


def as_dict(performance: Performance) -> dict[str, Any]:
    return {
        "period": {"start": performance.period.start, "end": performance.period.end},
        "people": [{
            "user": r.user_id, "name": r.name, "department": r.department,
            "targets": {m: {"target": r.targets[m], "actual": r.actuals[m], "attainment": r.attainment[m]}
                        for m in Metric.values},
            "contacts": {"total": r.contacts, "by_kind": {k: r.contacts_by_kind.get(k, 0)
                                                          for k in Interaction.Kind.values}},
            "followups": {"on_time": r.followups_on_time, "late": r.followups_late, "open": r.followups_open},
            "grades_improved": r.grades_improved,
            "deals": {"won": r.deals_won, "won_amount": r.won_amount, "lost": r.deals_lost},
        } for r in performance.rows],
    }
