"""Reads of deals and pipelines: the list, the kanban board, the stage history, and the
open and weighted pipeline the forecast uses (R4.1, R11.3, R13.2).

Everything starts from ``scope.opportunity_scope`` (salespeople their own deals, managers
their team's and department's, the general manager all). Money is summed in CNY in the
database (``amount × rate_to_cny``; weighted: × probability / 100), one grouped query per
figure set, so the board and the forecast cost the same at 100 deals or 100,000.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import (
    Count,
    DateField,
    DecimalField,
    ExpressionWrapper,
    F,
    FilteredRelation,
    Func,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from guanxi.core import access
from guanxi.core.models import User
from guanxi.core.permissions import has_perm
from guanxi.sales.models import CNY, BoardFigures, LossReason, Opportunity, Pipeline, Stage, StageChange
from guanxi.sales.selectors.scope import opportunity_scope

ZERO = Decimal("0")
FEN = Decimal("0.01")
CARDS_PER_COLUMN = 50
CLOSED_DAYS = 30  # won and lost columns of the board show the deals closed this recently
OWNER_CHOICES = 500
NARROW_ROWS = 1500  # up to this many board deals, the first cards are picked from narrow rows
_MONEY = DecimalField(max_digits=28, decimal_places=8)
IN_CNY = ExpressionWrapper(F("amount") * F("rate_to_cny"), output_field=_MONEY)
# × 0.01 rather than ÷ 100: SQLite would divide integers as integers.
WEIGHTED_CNY = ExpressionWrapper(F("amount") * F("rate_to_cny") * F("probability") * Value(Decimal("0.01")),
                                 output_field=_MONEY)
SORTS = {
    "-id": "-id",
    "expected_close": "expected_close",
    "-expected_close": "-expected_close",
    "-amount": "-amount_cny",
    "amount": "amount_cny",
    "name": "name",
    "-updated": "-updated_at",
}


def money_text(value: Decimal | int | None, currency: str = CNY) -> str:
    """12345.6 → "¥12,345.60" (other currencies: "USD 12,345.60")."""
    amount = Decimal(value or 0).quantize(FEN)
    text = f"{amount:,.2f}"
    return f"¥{text}" if currency == CNY else f"{currency} {text}"


def _cny(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(FEN)


# --- Configuration as the pages read it -----------------------------------------------------
def pipelines(*, active_only: bool = True) -> list[Pipeline]:
    qs = Pipeline.objects.all()
    return list(qs.filter(active=True) if active_only else qs)


def pipelines_with_stages() -> list[Pipeline]:
    """Every pipeline with all its stages (active or not), in order: two queries."""
    return list(Pipeline.objects.prefetch_related("stages"))


def active_loss_reasons() -> list[LossReason]:
    from guanxi.sales.services.pipeline_setup import ensure_defaults

    reasons = list(LossReason.objects.filter(active=True))
    if not reasons and not LossReason.objects.exists():
        ensure_defaults()
        reasons = list(LossReason.objects.filter(active=True))
    return reasons


def stage_choices() -> list[Stage]:
    """The active stages of the active pipelines (the list filter's choices)."""
    return list(Stage.objects.filter(active=True, pipeline__active=True).select_related("pipeline")
                .order_by("pipeline__sort_order", "pipeline_id", "position", "id"))


def _owners(user: Any) -> QuerySet[User]:
    vis = access.visibility_for(user)
    qs = User.objects.filter(is_active=True)
    if not vis.everything:
        qs = qs.filter(Q(pk__in=vis.owner_ids | {user.pk}) | Q(department_id__in=vis.department_ids))
    return qs.order_by("name", "username")


def owners_for(user: Any) -> list[User]:
    """The colleagues whose deals ``user`` sees by role: the owner filter of a manager's pages."""
    return list(_owners(user)[:OWNER_CHOICES])


def owner_choices(user: Any) -> list[tuple[int, str]]:
    """``owners_for`` as (id, name) pairs, read narrow (the board renders hundreds of them)."""
    return [(pk, name or username) for pk, name, username in
            _owners(user).values_list("id", "name", "username")[:OWNER_CHOICES]]


# --- The list ---------------------------------------------------------------------------------
@dataclass
class Filters:
    pipeline: int | None = None
    stage: int | None = None
    state: str = ""
    owner: int | None = None
    account: int | None = None
    close_from: dt.date | None = None
    close_to: dt.date | None = None
    q: str = ""
    sort: str = "-id"
    errors: dict[str, list[str]] = field(default_factory=dict)


def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


def parse_filters(params: Mapping[str, Any], user: Any) -> Filters:
    """The list's filters from a query string; a bad value is reported in ``errors`` and ignored."""
    f = Filters()
    errors = f.errors
    for name in ("pipeline", "stage", "account"):
        raw = str(params.get(name) or "").strip()
        if raw and _int(raw) is None:
            errors[name] = [_("Enter a valid value.")]
        setattr(f, name, _int(raw))
    owner = str(params.get("owner") or "").strip()
    if owner == "me":
        f.owner = user.pk
    elif owner:
        f.owner = _int(owner)
        if f.owner is None:
            errors["owner"] = [_("Enter a valid value.")]
    state = str(params.get("state") or "").strip()
    if state and state not in Opportunity.State.values:
        errors["state"] = [_("Choose open, won or lost.")]
    else:
        f.state = state
    for name in ("close_from", "close_to"):
        raw = str(params.get(name) or "").strip()
        if raw:
            try:
                value = parse_date(raw)
            except ValueError:
                value = None
            if value is None:
                errors[name] = [_("Enter a valid date.")]
            setattr(f, name, value)
    f.q = str(params.get("q") or "").strip()[:100]
    sort = str(params.get("sort") or "-id")
    f.sort = sort if sort in SORTS else "-id"
    return f


def opportunity_list_for(user: Any, filters: Filters) -> QuerySet[Opportunity]:
    """The deals ``user`` sees, filtered and sorted, with what a list row shows."""
    qs = opportunity_scope(user)
    if filters.pipeline:
        qs = qs.filter(pipeline_id=filters.pipeline)
    if filters.stage:
        qs = qs.filter(stage_id=filters.stage)
    if filters.state:
        qs = qs.filter(state=filters.state)
    if filters.owner:
        qs = qs.filter(owner_id=filters.owner)
    if filters.account:
        qs = qs.filter(account_id=filters.account)
    if filters.close_from:
        qs = qs.filter(expected_close__gte=filters.close_from)
    if filters.close_to:
        qs = qs.filter(expected_close__lte=filters.close_to)
    if filters.q:
        qs = qs.filter(Q(name__icontains=filters.q) | Q(code__icontains=filters.q)
                       | Q(account__name__icontains=filters.q))
    order = SORTS[filters.sort]
    if "amount_cny" in order:
        qs = qs.annotate(amount_cny=IN_CNY)
    return qs.select_related("account", "owner", "stage", "pipeline").order_by(order, "-id")


def list_totals(qs: QuerySet[Opportunity]) -> dict[str, Any]:
    """Count, amount and weighted amount (CNY) of a filtered list: one query."""
    row = qs.order_by().aggregate(count=Count("id"), total=Coalesce(Sum(IN_CNY), ZERO, output_field=_MONEY),
                                  weighted=Coalesce(Sum(WEIGHTED_CNY), ZERO, output_field=_MONEY))
    return {"count": row["count"], "total": _cny(row["total"]), "weighted": _cny(row["weighted"])}


# --- One deal ---------------------------------------------------------------------------------
def stage_history(opportunity: Opportunity) -> list[StageChange]:
    return list(StageChange.objects.filter(opportunity=opportunity)
                .select_related("from_stage", "to_stage", "changed_by").order_by("-changed_at", "-id"))


# --- The kanban board -------------------------------------------------------------------------
@dataclass
class Card:
    """What a board card shows of a deal (read as plain values: hundreds per page)."""

    id: int
    name: str
    account_name: str
    owner_name: str
    amount: Decimal
    currency: str
    probability: int
    expected_close: dt.date | None
    version: int
    stage_id: int
    late: bool = False

    @property
    def amount_text(self) -> str:
        return money_text(self.amount, self.currency)


@dataclass
class Column:
    stage: Stage
    count: int = 0
    total: Decimal = ZERO
    weighted: Decimal = ZERO
    cards: list[Card] = field(default_factory=list)

    @property
    def more(self) -> int:
        return max(self.count - len(self.cards), 0)

    @property
    def total_text(self) -> str:
        return money_text(self.total)

    @property
    def weighted_text(self) -> str:
        return money_text(self.weighted)


@dataclass
class Board:
    pipeline: Pipeline
    columns: list[Column]
    since: dt.date  # won and lost columns: closed on or after this day

    @property
    def open_total(self) -> Decimal:
        return sum((c.total for c in self.columns if c.stage.kind == Stage.Kind.OPEN), ZERO)

    @property
    def open_weighted(self) -> Decimal:
        return sum((c.weighted for c in self.columns if c.stage.kind == Stage.Kind.OPEN), ZERO)


def _board_deals(user: Any, pipeline: Pipeline, owner: int | None, since: dt.date) -> QuerySet[Opportunity]:
    # Spelled so that each side of the OR is one range of the deal_board_rows index.
    qs = opportunity_scope(user).filter(pipeline=pipeline).filter(
        Q(state=Opportunity.State.OPEN)
        | Q(state__in=(Opportunity.State.WON, Opportunity.State.LOST), closed_on__gte=since))
    return qs.filter(owner_id=owner) if owner else qs


def _figures(user: Any, pipeline: Pipeline, owner: int | None, since: dt.date) -> QuerySet[BoardFigures]:
    """The board figures' rows of the deals ``_board_deals`` would read: the same scope, decided
    by each row's owner (a deal's department is always its owner's)."""
    # Open deals' rows are dated the last day there is: "open, or closed since" is one range.
    qs = BoardFigures.objects.filter(pipeline=pipeline, closed_on__gte=since)
    if not has_perm(user, "opportunity.view"):
        return qs.none()
    vis = access.visibility_for(user)
    if not vis.everything:
        q = Q()
        if vis.owner_ids:
            q |= Q(owner_id__in=vis.owner_ids)
        if vis.department_ids:
            q |= Q(owner__department_id__in=vis.department_ids)
        qs = qs.filter(q) if q else qs.none()
    return qs.filter(owner_id=owner) if owner else qs


def column_totals(user: Any, pipeline: Pipeline, *, owner: int | None = None,
                  since: dt.date | None = None) -> dict[int, dict[str, Any]]:
    """{stage id: {count, total, weighted}} of the board's deals: ONE grouped query over the
    board figures (``services.board`` keeps them), a few hundred rows however many deals."""
    since = since or timezone.localdate() - dt.timedelta(days=CLOSED_DAYS)
    rows = (_figures(user, pipeline, owner, since).order_by().values("stage_id")
            .annotate(n=Sum("count"), total=Sum("amount"), weighted=Sum("weighted")))
    return {r["stage_id"]: {"count": r["n"], "total": _cny(r["total"]), "weighted": _cny(r["weighted"])}
            for r in rows if r["n"]}


def _first_cards(user: Any, pipeline: Pipeline, owner: int | None, since: dt.date, columns: dict[int, Column],
                 per_column: int) -> list[int]:
    """The ids of the first ``per_column`` deals of each column, in one query.

    Few board deals (a salesperson's, a small team's): their narrow (stage, rank, id) rows are
    read off an index and the first of each column kept in Python. Many (a department, the
    whole company): each column is a LIMITed walk of the ``deal_board`` index, so the query
    reads about ``per_column`` rows per column however many deals the board holds.
    """
    total = sum(c.count for c in columns.values())
    deals = _board_deals(user, pipeline, owner, since).order_by()
    if total <= NARROW_ROWS:
        by_stage: dict[int, list[tuple[int, int]]] = {}
        for stage_id, rank, pk in deals.values_list("stage_id", "rank", "id"):
            by_stage.setdefault(stage_id, []).append((rank, pk))
        return [pk for ranked in by_stage.values() for _rank, pk in heapq.nsmallest(per_column, ranked)]
    firsts = [deals.filter(stage_id=stage_id).order_by("rank", "id").values("id")[:per_column]
              for stage_id, column in columns.items() if column.count]
    if not firsts:
        return []
    if connection.features.supports_slicing_ordering_in_compound:
        # PostgreSQL: one IN over a UNION ALL of the columns' LIMITed reads (an OR of several
        # IN subqueries made it filter every deal's id, 260 ms at M under load).
        return list(Opportunity.all_objects.filter(pk__in=firsts[0].union(*firsts[1:], all=True))
                    .values_list("id", flat=True))
    # SQLite takes no LIMIT inside a compound SELECT: an OR of IN subqueries, each run once.
    q = Q(pk__in=[])
    for first in firsts:
        q |= Q(pk__in=first)
    return list(Opportunity.all_objects.filter(q).values_list("id", flat=True))


def board(user: Any, pipeline: Pipeline, *, owner: int | None = None,
          per_column: int = CARDS_PER_COLUMN) -> Board:
    """The board of one pipeline: a column per active stage (and per retired stage that still
    holds deals), each with its count and sums, and at most ``per_column`` cards.

    Four queries whatever the size: the stages, the grouped figures, the ids of each column's
    first cards, and those cards.
    """
    since = timezone.localdate() - dt.timedelta(days=CLOSED_DAYS)
    stages = list(Stage.objects.filter(pipeline=pipeline).order_by("position", "id"))
    figures = column_totals(user, pipeline, owner=owner, since=since)
    columns = {s.pk: Column(stage=s, **figures.get(s.pk, {})) for s in stages
               if s.active or s.pk in figures}
    kept = _first_cards(user, pipeline, owner, since, columns, per_column)
    rows = (Opportunity.objects.filter(pk__in=kept)
            .values_list("id", "name", "account__name", "owner__name", "owner__username", "amount", "currency",
                         "probability", "expected_close", "version", "stage_id", "state")
            .order_by("rank", "id"))
    today = timezone.localdate()
    for (pk, name, account_name, owner_name, username, amount, currency, probability, expected_close, version,
         stage_id, state) in rows:
        column = columns.get(stage_id)
        if column is not None:
            column.cards.append(Card(
                id=pk, name=name, account_name=account_name, owner_name=owner_name or username, amount=amount,
                currency=currency, probability=probability, expected_close=expected_close, version=version,
                stage_id=stage_id, late=bool(expected_close and expected_close < today
                                             and state == Opportunity.State.OPEN)))
    return Board(pipeline=pipeline, columns=list(columns.values()), since=since)


# --- For the forecast (R11.3) -----------------------------------------------------------------
def open_deals(user: Any, *, pipeline: Any = None, owner: Any = None) -> QuerySet[Opportunity]:
    """The open deals ``user`` sees, optionally of one pipeline and one owner (ids or records)."""
    qs = opportunity_scope(user).filter(state=Opportunity.State.OPEN)
    if pipeline is not None:
        qs = qs.filter(pipeline_id=getattr(pipeline, "pk", pipeline))
    if owner is not None:
        qs = qs.filter(owner_id=getattr(owner, "pk", owner))
    return qs.select_related("account", "owner", "stage", "pipeline")


@dataclass(frozen=True)
class WeightedRow:
    month: dt.date  # the first day of the month
    key: int | None  # the owner's or team's id (None: no team, or no grouping)
    label: str
    count: int
    amount: Decimal  # CNY, unweighted
    weighted: Decimal  # CNY × probability


def month_starts(months: int | Iterable[dt.date], today: dt.date | None = None) -> list[dt.date]:
    """``n`` → the first days of this month and the n − 1 after it; dates → their months."""
    if isinstance(months, int):
        start = (today or timezone.localdate()).replace(day=1)
        out = []
        for n in range(max(months, 1)):
            year, month = divmod(start.month - 1 + n, 12)
            out.append(dt.date(start.year + year, month + 1, 1))
        return out
    return sorted({d.replace(day=1) for d in months})


class _MonthOf(Func):
    """The first day of a date's month, computed by the database itself (Django's ``TruncMonth``
    calls a Python function per row on SQLite: ~3 µs × every open deal of the forecast)."""

    template = "CAST(DATE_TRUNC('month', %(expressions)s) AS DATE)"
    output_field = DateField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="date(%(expressions)s, 'start of month')", **extra)


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def weighted_by_month(user: Any, *, months: int | Iterable[dt.date], group_by: str | None = "owner",
                      pipeline: Any = None) -> list[WeightedRow]:
    """The weighted open pipeline (amount × rate_to_cny × probability / 100) by expected close
    month, per owner, per team or in total — ONE grouped query.

    Open deals whose expected close date has already passed count in the current month (they
    are still expected); deals without a date are left out. A salesperson in two teams counts
    in both; ``group_by="team"`` puts deals of owners without a team under ``key=None``.
    """
    if group_by not in ("owner", "team", None):
        raise ValueError(f"group_by must be 'owner', 'team' or None, not {group_by!r}")
    wanted = month_starts(months)
    if not wanted:
        return []
    this_month = timezone.localdate().replace(day=1)
    qs = open_deals(user, pipeline=pipeline).filter(expected_close__isnull=False,
                                                    expected_close__lt=_next_month(wanted[-1]))
    qs = qs.annotate(month=_MonthOf(Greatest(F("expected_close"), Value(this_month))))
    keys: tuple[str, ...] = ()
    if group_by == "owner":
        keys = ("owner_id", "owner__name", "owner__username")
    elif group_by == "team":
        qs = qs.annotate(live_team=FilteredRelation("owner__teams",
                                                    condition=Q(owner__teams__deleted_at__isnull=True)))
        keys = ("live_team__id", "live_team__name")
    rows = (qs.order_by().values("month", *keys)
            .annotate(n=Count("id"), total=Coalesce(Sum(IN_CNY), ZERO, output_field=_MONEY),
                      weighted=Coalesce(Sum(WEIGHTED_CNY), ZERO, output_field=_MONEY)))
    wanted_set = set(wanted)
    out: list[WeightedRow] = []
    for r in rows:
        month = r["month"]
        if isinstance(month, dt.datetime):
            month = month.date()
        if month not in wanted_set:
            continue
        if group_by == "owner":
            key, label = r["owner_id"], r["owner__name"] or r["owner__username"]
        elif group_by == "team":
            key, label = r["live_team__id"], r["live_team__name"] or _("No team")
        else:
            key, label = None, ""
        out.append(WeightedRow(month=month, key=key, label=label, count=r["n"], amount=_cny(r["total"]),
                               weighted=_cny(r["weighted"])))
    out.sort(key=lambda row: (row.month, row.label, row.key or 0))
    return out
