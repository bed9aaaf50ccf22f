"""REST API of the sales forecast (R11.3): `/api/v1/forecast/pipeline` (the weighted pipeline of
the deals the caller sees) and `/api/v1/forecast/orders` (the forecast of orders by product
and region, for managers: 403 for others).

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from guanxi.core.api import ErrorOut
from guanxi.core.dbrouter import replica_reads
from guanxi.core.permissions import declare as requires
from guanxi.sales.selectors import forecast as reads

router = Router(tags=["forecast"])


class MonthValue(Schema):
    month: dt.date
    weighted: Decimal


class PipelineLineOut(Schema):
    id: int | None
    name: str
    weighted: Decimal
    amount: Decimal
    count: int
    months: list[MonthValue]


class PipelineOut(Schema):
    months: list[dt.date]
    weighted: Decimal
    amount: Decimal
    count: int
    totals: list[MonthValue]
    by_person: list[PipelineLineOut]
    by_team: list[PipelineLineOut]


class HistoryPoint(Schema):
    month: dt.date
    amount: float


class HoldoutPoint(Schema):
    month: dt.date
    actual: float
    predicted: float
    error: float


class OrdersOut(Schema):
    method: str
    months: int
    fallback_from: str | None
    mae: float | None
    mape: float | None
    baseline_mae: float | None
    holdout: list[HoldoutPoint]
    forecast: list[HistoryPoint]
    history: list[HistoryPoint]


@router.get("/forecast/pipeline", response=PipelineOut)
@requires("forecast.view")
@replica_reads
def pipeline(request: HttpRequest, months: int = 6) -> Any:
    """Open deals the caller sees, weighted by probability (CNY), by expected close month for
    this month and the next ``months`` − 1 (1–12; overdue deals count in this month), in
    total, per person (``by_person``) and per team (``by_team``; ``id`` null: no team)."""
    return reads.pipeline_as_dict(reads.pipeline_forecast(request.user, months=months))


@router.get("/forecast/orders", response={200: OrdersOut, 403: ErrorOut, 422: ErrorOut})
@requires("forecast.view")
@replica_reads
def orders(request: HttpRequest, product: int | None = None, province: str = "") -> Any:
    """The forecast of orders (CNY per month) of one ``product`` and/or one ``province``
    (``-``: orders without a province), or of all. ``method`` is ``holt_winters``,
    ``holt``, ``naive`` or ``none`` (too little history); ``mae`` and ``mape`` (%) are its
    errors on the last 6 complete months, held out while fitting; ``baseline_mae`` is a flat
    average's; ``forecast`` the next 6 months. For sales managers and the general manager."""
    return reads.forecast_as_dict(reads.order_forecast(request.user, product=product, province=province or None))
