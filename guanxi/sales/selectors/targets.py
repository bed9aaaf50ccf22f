"""Sales targets and what was achieved against them (R11.2).

What counts, in CNY, for a holder over a period (both ends included):

* orders — confirmed, shipped or delivered orders by ``order_date``, credited to the order's owner;
* receipts — receipts (回款) by ``received_on``, credited to the contract's owner;
* contracts — contracts in force, completed or expired, by ``signed_on``, to the owner;
* new customers — accounts created in the period, credited to the person they were created
  for (the first owner in the ownership history), else to whoever created them, else to
  the current owner. Records of accounts in the recycle bin do not count.

A person's figures are their own records; a team's are its members' (today's members);
a department's are the records of that department and every department below it (the
department stamped on each record, which follows its owner's at the time).

Targets are read by those who may see the holder: one's own, one's teams' and one's
department's; a manager also those of the people, teams and departments they manage.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import BigIntegerField, Count, DecimalField, ExpressionWrapper, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import access
from guanxi.core.errors import Invalid
from guanxi.core.models import Team, User
from guanxi.customers.models import Account, OwnershipChange
from guanxi.sales.models import Contract, Order, Payment, SalesTarget
from guanxi.sales.services.common import parse_day
from guanxi.sales.services.totals import COUNTED_CONTRACTS, COUNTED_ORDERS

ZERO = Decimal("0")
FEN = Decimal("0.01")
MAX_DAYS = 366
_CNY = DecimalField(max_digits=24, decimal_places=8)
Metric = SalesTarget.Metric


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date  # included

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.start, dt.time.min))

    @property
    def end_at(self) -> dt.datetime:
        """The first instant after the period."""
        return timezone.make_aware(dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min))

    def overlap_days(self, start: dt.date, end: dt.date) -> int:
        return max((min(self.end, end) - max(self.start, start)).days + 1, 0)


def period_of(start: Any, end: Any, *, start_field: str = "period_start", end_field: str = "period_end") -> Period:
    """A period from two dates (the start not after the end, at most a year); Invalid otherwise."""
    errors: dict[str, list[str]] = {}
    first, last = parse_day(start, start_field, errors), parse_day(end, end_field, errors)
    if first and last:
        if first > last:
            errors[end_field] = [_("The end must not be before the start.")]
        elif (last - first).days + 1 > MAX_DAYS:
            errors[end_field] = [_("Choose a period of at most a year.")]
    if errors:
        raise Invalid(errors=errors)
    assert first is not None and last is not None
    return Period(first, last)


# --- Actual figures ------------------------------------------------------------------------
def _credited() -> Coalesce:
    """Who a new account counts for: the owner it was created (or imported) for, else its
    creator, else its owner today."""
    first_owner = (OwnershipChange.objects.filter(account=OuterRef("pk"), kind__in=(
        OwnershipChange.Kind.CREATED, OwnershipChange.Kind.IMPORTED)).order_by("at", "id").values("to_user_id")[:1])
    return Coalesce(Subquery(first_owner), F("created_by_id"), F("owner_id"), output_field=BigIntegerField())


def _base(metric: str, period: Period) -> tuple[QuerySet[Any], str, str, Any]:
    """(records of the period, owner field, department field, the aggregate) for ``metric``."""
    if metric == Metric.ORDERS:
        qs: QuerySet[Any] = Order.objects.filter(account__deleted_at__isnull=True, state__in=COUNTED_ORDERS,
                                                 order_date__gte=period.start, order_date__lte=period.end)
        return qs, "owner_id", "department_id", Sum(ExpressionWrapper(F("total") * F("rate_to_cny"),
                                                                      output_field=_CNY))
    if metric == Metric.RECEIPTS:
        qs = Payment.objects.filter(account__deleted_at__isnull=True, contract__deleted_at__isnull=True,
                                    received_on__gte=period.start, received_on__lte=period.end)
        return qs, "contract__owner_id", "contract__department_id", Sum(ExpressionWrapper(
            F("amount") * F("contract__rate_to_cny"), output_field=_CNY))
    if metric == Metric.CONTRACTS:
        qs = Contract.objects.filter(account__deleted_at__isnull=True, state__in=COUNTED_CONTRACTS,
                                     signed_on__gte=period.start, signed_on__lte=period.end)
        return qs, "owner_id", "department_id", Sum(ExpressionWrapper(F("amount") * F("rate_to_cny"),
                                                                      output_field=_CNY))
    if metric == Metric.NEW_ACCOUNTS:
        qs = Account.objects.filter(created_at__gte=period.start_at, created_at__lt=period.end_at).annotate(
            credited=_credited())
        return qs, "credited", "", Count("id")
    raise Invalid(errors={"metric": [_("Choose what the target measures.")]})


def _value(metric: str, raw: Any) -> Decimal:
    if metric == Metric.NEW_ACCOUNTS:
        return Decimal(int(raw or 0))
    return Decimal(raw or 0).quantize(FEN)


def actual_by_owner(metric: str, period: Period, owner_ids: Iterable[int]) -> dict[int, Decimal]:
    """{person: their figure} for ``metric`` over ``period`` (people with nothing are absent). One query."""
    ids = list(owner_ids)
    if not ids:
        return {}
    qs, owner_field, _dept, aggregate = _base(metric, period)
    rows = qs.filter(**{f"{owner_field}__in": ids}).order_by().values(owner_field).annotate(value=aggregate)
    return {row[owner_field]: _value(metric, row["value"]) for row in rows}


def actual_for_departments(metric: str, period: Period, department_ids: Iterable[int]) -> Decimal:
    """The figure of records of these departments (pass a subtree). One query."""
    ids = list(department_ids)
    if not ids:
        return _value(metric, 0)
    qs, _owner, dept_field, aggregate = _base(metric, period)
    if dept_field:
        qs = qs.filter(**{f"{dept_field}__in": ids})
    else:  # new customers: by the department of the person they count for
        qs = qs.filter(credited__in=User.objects.filter(department_id__in=ids).values("id"))
    return _value(metric, qs.order_by().aggregate(value=aggregate)["value"])


def team_members(team_ids: Iterable[int]) -> dict[int, set[int]]:
    members: dict[int, set[int]] = {pk: set() for pk in team_ids}
    for team_id, user_id in Team.members.through.objects.filter(team_id__in=list(members)).values_list(
            "team_id", "user_id"):
        members[team_id].add(user_id)
    return members


def attach_actuals(targets: list[SalesTarget]) -> list[SalesTarget]:
    """Set ``actual`` and ``attainment`` (%, None without a target amount) on each target.

    Targets of the same measure and period share one grouped query for their people and
    teams; each department target is one query over its subtree.
    """
    teams = team_members({t.team_id for t in targets if t.team_id})
    groups: dict[tuple[str, dt.date, dt.date], list[SalesTarget]] = {}
    for target in targets:
        groups.setdefault((target.metric, target.period_start, target.period_end), []).append(target)
    for (metric, start, end), items in groups.items():
        period = Period(start, end)
        people: set[int] = set()
        for t in items:
            if t.user_id:
                people.add(t.user_id)
            elif t.team_id:
                people |= teams.get(t.team_id, set())
        by_owner = actual_by_owner(metric, period, people)
        for t in items:
            if t.user_id:
                value = by_owner.get(t.user_id, _value(metric, 0))
            elif t.team_id:
                value = sum((by_owner.get(pk, ZERO) for pk in teams.get(t.team_id, set())), _value(metric, 0))
            else:
                value = actual_for_departments(metric, period, access.subtree_ids({t.department_id or 0}))
            t.actual = value  # type: ignore[attr-defined]
            t.attainment = attainment(value, t.amount)  # type: ignore[attr-defined]
    return targets


def attainment(actual: Decimal, target: Decimal | None) -> Decimal | None:
    """Actual as a percentage of target, one decimal; None when there is no target."""
    if not target:
        return None
    return (Decimal(actual) * 100 / Decimal(target)).quantize(Decimal("0.1"))


# --- Which targets a user reads and manages -------------------------------------------------
def target_scope(user: Any, queryset: QuerySet[SalesTarget] | None = None) -> QuerySet[SalesTarget]:
    """One's own targets, one's teams' and department's; a manager's people, teams and
    departments too (by role: a grant opens customers, not targets)."""
    qs = queryset if queryset is not None else SalesTarget.objects.all()
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    reach = access.visibility_for(user, include_grants=False)
    if reach.everything:
        return qs
    departments = set(reach.department_ids) | ({user.department_id} if user.department_id else set())
    people = Q(user_id=user.pk) | Q(user_id__in=reach.owner_ids) | Q(user__department_id__in=reach.department_ids)
    teams = Team.objects.filter(Q(members=user) | Q(leader=user) | Q(department_id__in=reach.department_ids))
    return qs.filter(people | Q(team_id__in=teams.values("id")) | Q(department_id__in=departments))


def target_list_for(user: Any, params: Mapping[str, Any]) -> QuerySet[SalesTarget]:
    """Visible targets: ``metric``, ``user``, ``team``, ``department``, and ``from``/``to``
    (targets whose period overlaps these dates)."""
    qs = target_scope(user).select_related("user", "team", "department")
    errors: dict[str, list[str]] = {}
    if params.get("metric"):
        if params["metric"] not in Metric.values:
            errors["metric"] = [_("Choose what the target measures.")]
        qs = qs.filter(metric=params["metric"])
    for name in ("user", "team", "department"):
        value = str(params.get(name) or "")
        if value:
            if not value.isdigit():
                errors[name] = [_("Enter a number.")]
            else:
                qs = qs.filter(**{f"{name}_id": int(value)})
    if params.get("from"):
        day = parse_day(params["from"], "from", errors)
        if day:
            qs = qs.filter(period_end__gte=day)
    if params.get("to"):
        day = parse_day(params["to"], "to", errors)
        if day:
            qs = qs.filter(period_start__lte=day)
    if errors:
        raise Invalid(errors=errors)
    return qs.order_by("-period_start", "metric", "id")


def holder_label(target: SalesTarget) -> str:
    holder = target.user or target.team or target.department
    return str(holder) if holder is not None else ""


def holder_kind(target: SalesTarget) -> str:
    if target.user_id:
        return _("Salesperson")
    return _("Team") if target.team_id else _("Department")
