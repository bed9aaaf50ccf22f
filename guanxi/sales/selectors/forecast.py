"""The sales forecast (R11.3): the weighted pipeline by month, person and team, and the
time-series forecast of orders by product and by region (province).

Who sees what:

* the weighted pipeline comes from the deals the user sees (``opportunity_scope``): a
  salesperson their own, a manager their team's and department's, the general manager all;
* the forecast of orders reads the ``SalesMonth`` rollup, which is the company's orders by
  month, product and province with no owner. It is shown to those who hold ``forecast.view``
  *and* whose role sees at least a whole department (sales managers, the general manager):
  a salesperson, or a team leader, would otherwise read the company's sales through it.
  Access grants do not count here: they open a colleague's customers, not company figures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from django.core.cache import cache
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import access
from guanxi.core.errors import Forbidden, Invalid
from guanxi.core.models import Team
from guanxi.core.permissions import has_perm
from guanxi.sales.models import SalesMonth
from guanxi.sales.selectors.forecast_model import Forecast, cached_forecast, next_month, seconds_left_today
from guanxi.sales.selectors.pipeline import WeightedRow, month_starts, weighted_by_month

ZERO = Decimal("0")
MONTH_CHOICES = (6, 9, 12)
TOP = 6  # products and provinces forecast side by side on the page
RECENT_MONTHS = 12  # what "top" is measured over
NO_PROVINCE = "-"  # the query value of orders without a province
ROLLUP_CACHE_VERSION = 1
T = TypeVar("T")


# --- Who may see the forecast of orders ------------------------------------------------------
def may_forecast_orders(user: Any) -> bool:
    """True for ``forecast.view`` holders whose role sees a whole department or everything."""
    if not has_perm(user, "forecast.view"):
        return False
    reach = access.visibility_for(user, include_grants=False)
    return reach.everything or bool(reach.department_ids)


def require_order_forecast(user: Any) -> None:
    if not may_forecast_orders(user):
        raise Forbidden(_("The forecast of orders by product and region is for sales managers and the general "
                          "manager."))


# --- The weighted pipeline -----------------------------------------------------------------
@dataclass
class PipelineLine:
    key: int | None
    label: str
    cells: list[Decimal]  # weighted CNY per month, in the order of ``months``
    amount: Decimal = ZERO  # unweighted CNY over the months
    count: int = 0

    @property
    def weighted(self) -> Decimal:
        return sum(self.cells, ZERO)


@dataclass
class PipelineForecast:
    months: list[dt.date]
    people: list[PipelineLine] = field(default_factory=list)
    teams: list[PipelineLine] = field(default_factory=list)
    totals: list[Decimal] = field(default_factory=list)
    amount: Decimal = ZERO
    count: int = 0

    @property
    def weighted(self) -> Decimal:
        return sum(self.totals, ZERO)


def months_value(value: Any) -> int:
    try:
        months = int(value)
    except (TypeError, ValueError):
        return MONTH_CHOICES[0]
    return min(max(months, 1), 12)


def _lines(rows: list[WeightedRow], months: list[dt.date]) -> list[PipelineLine]:
    index = {m: i for i, m in enumerate(months)}
    lines: dict[int | None, PipelineLine] = {}
    for row in rows:
        line = lines.get(row.key)
        if line is None:
            line = lines[row.key] = PipelineLine(row.key, row.label, [ZERO] * len(months))
        line.cells[index[row.month]] += row.weighted
        line.amount += row.amount
        line.count += row.count
    return sorted(lines.values(), key=lambda line: (-line.weighted, line.key is None, line.label))


def _by_team(rows: list[WeightedRow]) -> list[WeightedRow]:
    """Owners' rows → rows per live team of the owner (``key=None``: owners without a team),
    as ``weighted_by_month(group_by="team")`` counts them."""
    owners = {row.key for row in rows if row.key is not None}
    teams: dict[int, list[tuple[int | None, str]]] = {}
    for user_id, member_of, name in Team.members.through.objects.filter(
            user_id__in=owners, team__deleted_at__isnull=True).values_list("user_id", "team_id", "team__name"):
        teams.setdefault(user_id, []).append((member_of, name))
    sums: dict[tuple[dt.date, int | None], list[Any]] = {}
    labels: dict[int | None, str] = {None: _("No team")}
    for row in rows:
        for team_id, name in teams.get(row.key or 0) or [(None, labels[None])]:
            labels[team_id] = name
            got = sums.setdefault((row.month, team_id), [0, ZERO, ZERO])
            got[0] += row.count
            got[1] += row.amount
            got[2] += row.weighted
    out = [WeightedRow(month=month, key=team_id, label=labels[team_id], count=n, amount=amount, weighted=weighted)
           for (month, team_id), (n, amount, weighted) in sums.items()]
    out.sort(key=lambda row: (row.month, row.label, row.key or 0))
    return out


def pipeline_forecast(user: Any, *, months: int = MONTH_CHOICES[0]) -> PipelineForecast:
    """The open deals ``user`` sees, weighted by probability, by expected close month (this
    month and the next ``months`` − 1; overdue deals count in this month), per person and per
    team (a person in two teams counts in both). One grouped query by owner and one of the
    owners' live teams: the team lines are the owners' rows added up per team."""
    wanted = month_starts(months_value(months))
    result = PipelineForecast(months=wanted)
    by_owner = weighted_by_month(user, months=wanted, group_by="owner")
    result.people = _lines(by_owner, wanted)
    result.teams = _lines(_by_team(by_owner), wanted)
    result.totals = [sum((line.cells[i] for line in result.people), ZERO) for i in range(len(wanted))]
    result.amount = sum((line.amount for line in result.people), ZERO)
    result.count = sum(line.count for line in result.people)
    return result


def pipeline_as_dict(forecast: PipelineForecast) -> dict[str, Any]:
    def line(item: PipelineLine) -> dict[str, Any]:
        return {"id": item.key, "name": item.label, "weighted": item.weighted, "amount": item.amount,
                "count": item.count,
                "months": [{"month": m, "weighted": v} for m, v in zip(forecast.months, item.cells, strict=True)]}

    return {"months": forecast.months, "weighted": forecast.weighted, "amount": forecast.amount,
            "count": forecast.count,
            "totals": [{"month": m, "weighted": v} for m, v in zip(forecast.months, forecast.totals, strict=True)],
            "by_person": [line(p) for p in forecast.people], "by_team": [line(t) for t in forecast.teams]}


# --- The history of orders -----------------------------------------------------------------
# What the page reads of the rollup (the series, the choices) is cached for the day under the
# rollup's generation: its rows' count, highest id and sum of ``changes``, which the order
# service bumps in the same UPDATE that changes a row (the nightly rebuild bumps the rows it
# corrects, adds new ones and deletes emptied ones). A committed change always moves the
# generation, so a cached read is never older than the
# rollup it is served for; a read cached from a newer state than its key is never asked for
# again. One small query (a narrow index) instead of three grouped scans of the rollup.
def rollup_generation() -> str:
    row = SalesMonth.objects.aggregate(n=Count("id"), last=Max("id"), changes=Sum("changes"))
    return f"{row['n']}.{row['last'] or 0}.{row['changes'] or 0}"


def _rollup_cached(name: str, compute: Callable[[], T], *, today: dt.date | None, generation: str | None) -> T:
    day = (today or timezone.localdate()).isoformat()
    key = f"sales:rollup:{ROLLUP_CACHE_VERSION}:{day}:{generation or rollup_generation()}:{name}"
    found = cache.get(key)
    if found is not None:
        return found  # type: ignore[no-any-return]
    value = compute()
    cache.set(key, value, seconds_left_today())
    return value


def last_complete_month(today: dt.date | None = None) -> dt.date:
    """The first day of last month: the current month is not over, so it is not history."""
    return next_month((today or timezone.localdate()).replace(day=1), -1)


def _filled(rows: Iterable[tuple[dt.date, Any]], until: dt.date) -> list[tuple[dt.date, Decimal]]:
    """Monthly amounts from the first month with orders to ``until``; months without any are 0."""
    amounts: dict[dt.date, Decimal] = {}
    for month, amount in rows:
        month = month.replace(day=1)
        amounts[month] = amounts.get(month, ZERO) + Decimal(amount or 0)
    if not amounts:
        return []
    out, month = [], min(amounts)
    while month <= until:
        out.append((month, amounts.get(month, ZERO).quantize(Decimal("0.01"))))
        month = next_month(month)
    return out


def _province(value: str) -> str:
    return "" if value == NO_PROVINCE else value


def series(*, product: int | None = None, province: str | None = None, today: dt.date | None = None,
           generation: str | None = None) -> list[tuple[dt.date, Decimal]]:
    """Orders in CNY per complete month, of one product and/or one province (or all): one
    grouped query, cached for the day under the rollup's generation."""
    return _rollup_cached(f"series:{forecast_key(product, province)}",
                          lambda: _series(product=product, province=province, today=today),
                          today=today, generation=generation)


def _series(*, product: int | None, province: str | None, today: dt.date | None) -> list[tuple[dt.date, Decimal]]:
    until = last_complete_month(today)
    qs = SalesMonth.objects.filter(month__lte=until)
    if product is not None:
        qs = qs.filter(product_id=product)
    if province is not None:
        qs = qs.filter(province=_province(province))
    return _filled(qs.order_by().values("month").annotate(total=Sum("amount")).values_list("month", "total"), until)


@dataclass
class Choices:
    """What the forecast can be asked about: products and provinces with orders, the top first."""

    products: list[tuple[int, str]]  # by name
    provinces: list[str]  # by name ("" = no province)
    top_products: list[tuple[int, str]]  # most ordered in the last 12 months
    top_provinces: list[str]


def choices(today: dt.date | None = None, *, generation: str | None = None) -> Choices:
    """One grouped query over the rollup (product × province), cached like ``series``."""
    return _rollup_cached("choices", lambda: _choices(today), today=today, generation=generation)


def _choices(today: dt.date | None) -> Choices:
    until = last_complete_month(today)
    since = next_month(until, 1 - RECENT_MONTHS)
    rows = (SalesMonth.objects.filter(month__lte=until).order_by()
            .values("product_id", "product__name", "product__model", "province")
            .annotate(recent=Sum("amount", filter=Q(month__gte=since))))
    products: dict[int, tuple[str, Decimal]] = {}
    provinces: dict[str, Decimal] = {}
    for row in rows:
        recent = Decimal(row["recent"] or 0)
        label = f"{row['product__name']} {row['product__model']}".strip()
        _label, total = products.get(row["product_id"], (label, ZERO))
        products[row["product_id"]] = (label, total + recent)
        provinces[row["province"]] = provinces.get(row["province"], ZERO) + recent
    top_products = sorted(products.items(), key=lambda item: (-item[1][1], item[1][0]))[:TOP]
    top_provinces = sorted(provinces.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    return Choices(products=sorted(((pk, label) for pk, (label, _t) in products.items()), key=lambda p: p[1]),
                   provinces=sorted(provinces), top_products=[(pk, label) for pk, (label, _t) in top_products],
                   top_provinces=[name for name, _t in top_provinces])


def series_by(dimension: str, keys: list[Any], today: dt.date | None = None, *,
              generation: str | None = None) -> dict[Any, list[tuple[dt.date, Decimal]]]:
    """The monthly series of several products (``dimension="product"``) or provinces, one
    query, cached like ``series``."""
    if not keys:
        return {}
    return _rollup_cached(f"by:{dimension}:{'|'.join(str(k) for k in keys)}",
                          lambda: _series_by(dimension, keys, today), today=today, generation=generation)


def _series_by(dimension: str, keys: list[Any], today: dt.date | None) -> dict[Any, list[tuple[dt.date, Decimal]]]:
    until = last_complete_month(today)
    column = "product_id" if dimension == "product" else "province"
    rows = (SalesMonth.objects.filter(month__lte=until, **{f"{column}__in": keys}).order_by()
            .values(column, "month").annotate(total=Sum("amount")))
    grouped: dict[Any, list[tuple[dt.date, Any]]] = {key: [] for key in keys}
    for row in rows:
        grouped[row[column]].append((row["month"], row["total"]))
    return {key: _filled(items, until) for key, items in grouped.items()}


def order_forecast(user: Any, *, product: Any = None, province: Any = None,
                   today: dt.date | None = None, generation: str | None = None) -> Forecast:
    """The forecast of one product's and/or one province's orders (or all), for a manager."""
    require_order_forecast(user)
    product_id: int | None = None
    if product not in (None, ""):
        try:
            product_id = int(product)
        except (TypeError, ValueError):
            raise Invalid(errors={"product": [_("Choose a product.")]}) from None
    the_province = None if province in (None, "") else str(province)
    return cached_forecast(forecast_key(product_id, the_province),
                           series(product=product_id, province=the_province, today=today, generation=generation))


def forecast_key(product: int | None, province: str | None) -> str:
    return f"p{product if product is not None else '*'}:r{province if province is not None else '*'}"


def forecasts_by(dimension: str, keys: list[Any], today: dt.date | None = None, *,
                 generation: str | None = None) -> dict[Any, Forecast]:
    """The forecast of each of several products or provinces (each cached for the day)."""
    out = {}
    for key, history in series_by(dimension, keys, today, generation=generation).items():
        cache_key = forecast_key(key, None) if dimension == "product" else forecast_key(None, key or NO_PROVINCE)
        out[key] = cached_forecast(cache_key, history)
    return out


def forecast_as_dict(forecast: Forecast) -> dict[str, Any]:
    return {"method": forecast.method, "months": forecast.months, "fallback_from": forecast.fallback or None,
            "mae": forecast.mae, "mape": forecast.mape, "baseline_mae": forecast.baseline_mae,
            "holdout": forecast.holdout, "forecast": forecast.forecast, "history": forecast.history}
