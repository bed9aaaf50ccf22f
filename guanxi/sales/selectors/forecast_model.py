"""The time-series forecast of orders (R11.3): which model, its error on a held-out period,
and the next months — pure arithmetic over a monthly series, cached for the day.

The last ``HOLDOUT`` months are held out: the model is fitted on the months before them,
its predictions for the held-out months are compared with what was ordered (MAE, and MAPE
over the months that had orders), then it is fitted again on everything and forecasts the
next ``HORIZON`` months. The model is chosen by the months it is fitted on in that test,
and the same model makes the forecast, so the error shown is the error of the forecast's
own method:

* at least 24 months: Holt-Winters exponential smoothing with a damped additive trend and
  additive yearly seasonality (statsmodels' ``ExponentialSmoothing``; it needs two full
  years to set the seasonal pattern, so 30 months of history with the hold-out);
* 12 to 23 months: Holt's linear method (damped additive trend, no seasonality);
* 3 to 11 months: a naive baseline, the average of the last three months (a seasonal
  naive forecast would need a full year to copy from);
* fewer: no forecast.

Orders cannot be negative, so predictions below zero are shown as zero (the error is
measured on what is shown). statsmodels is imported only when a model is fitted: it takes
about a second to import.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.utils import timezone

HOLDOUT = 6
HORIZON = 6
SEASON = 12
NAIVE_WINDOW = 3
MIN_FIT = {"holt_winters": 2 * SEASON, "holt": 12, "naive": NAIVE_WINDOW}
CACHE_VERSION = 1


@dataclass
class Forecast:
    method: str  # holt_winters, holt, naive or none
    months: int  # months of history
    history: list[dict[str, Any]] = field(default_factory=list)  # [{month, amount}]
    holdout: list[dict[str, Any]] = field(default_factory=list)  # [{month, actual, predicted, error}]
    mae: float | None = None
    mape: float | None = None
    baseline_mae: float | None = None  # a flat average of the fitted months, for comparison
    forecast: list[dict[str, Any]] = field(default_factory=list)  # [{month, amount}]
    fallback: str = ""  # the method that failed to fit, when a simpler one took over


def next_month(day: dt.date, n: int = 1) -> dt.date:
    year, month = divmod(day.month - 1 + n, 12)
    return dt.date(day.year + year, month + 1, 1)


def method_for(fit_months: int) -> str:
    for method in ("holt_winters", "holt", "naive"):
        if fit_months >= MIN_FIT[method]:
            return method
    return "none"


SIMPLER = {"holt_winters": "holt", "holt": "naive"}


def _fit(method: str, values: list[float], steps: int) -> list[float]:
    """Predictions of ``steps`` months after ``values`` by ``method`` (may raise)."""
    if method == "naive":
        window = values[-NAIVE_WINDOW:]
        return [sum(window) / len(window)] * steps
    with warnings.catch_warnings():
        # statsmodels' import warns about its pandas calls (deprecations, not our concern).
        warnings.simplefilter("ignore")
        import numpy as np
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

    y = np.asarray(values, dtype=float)
    if float(np.ptp(y)) == 0.0:
        return [float(y[-1])] * steps  # a flat series forecasts itself (and would not fit)
    options: dict[str, Any] = {"trend": "add", "damped_trend": True, "initialization_method": "estimated"}
    if method == "holt_winters":
        options.update(seasonal="add", seasonal_periods=SEASON)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; a bad fit shows in the error
        result = ExponentialSmoothing(y, **options).fit()
        out = [float(v) for v in result.forecast(steps)]
    if not all(math.isfinite(v) for v in out):
        raise ValueError("the fitted model gave no finite forecast")
    return out


def predict(method: str, values: list[float], steps: int) -> tuple[list[float], str, str]:
    """(predictions ≥ 0, the method that made them, the method that failed if any)."""
    failed = ""
    while True:
        try:
            return [max(v, 0.0) for v in _fit(method, values, steps)], method, failed
        except (ValueError, ArithmeticError):  # numpy's LinAlgError is a ValueError
            failed = failed or method
            if method not in SIMPLER:
                raise
            method = SIMPLER[method]


def errors(actual: list[float], predicted: list[float]) -> tuple[float | None, float | None]:
    """(MAE, MAPE in %) of ``predicted`` against ``actual``; MAPE leaves out months without orders."""
    if not actual:
        return None, None
    mae = sum(abs(a - p) for a, p in zip(actual, predicted, strict=True)) / len(actual)
    relative = [abs(a - p) / abs(a) for a, p in zip(actual, predicted, strict=True) if a != 0]
    mape = 100 * sum(relative) / len(relative) if relative else None
    return mae, mape


def forecast_series(series: Sequence[tuple[dt.date, Decimal | float]]) -> Forecast:
    """Test the model on the last ``HOLDOUT`` months of ``series`` (complete months, oldest first),
    then forecast the ``HORIZON`` months after it."""
    months = [m for m, _v in series]
    values = [float(v) for _m, v in series]
    result = Forecast(method=method_for(len(values) - HOLDOUT), months=len(values),
                      history=[{"month": m.isoformat(), "amount": round(v, 2)} for m, v in zip(months, values,
                                                                                                 strict=True)])
    if result.method == "none":
        return result
    fit, held = values[:-HOLDOUT], values[-HOLDOUT:]
    predicted, method, failed = predict(result.method, fit, HOLDOUT)
    predicted = [round(v, 2) for v in predicted]
    result.method, result.fallback = method, failed
    result.holdout = [{"month": m.isoformat(), "actual": round(a, 2), "predicted": p, "error": round(p - a, 2)}
                      for m, a, p in zip(months[-HOLDOUT:], held, predicted, strict=True)]
    result.mae, result.mape = errors([round(a, 2) for a in held], predicted)
    mean = round(sum(fit) / len(fit), 2)
    result.baseline_mae, _ignored = errors([round(a, 2) for a in held], [mean] * HOLDOUT)
    ahead, _method, _failed = predict(method, values, HORIZON)
    result.forecast = [{"month": next_month(months[-1], n + 1).isoformat(), "amount": round(v, 2)}
                       for n, v in enumerate(ahead)]
    return result


def seconds_left_today() -> int:
    now = timezone.localtime()
    midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(int((midnight - now).total_seconds()), 60)


def cached_forecast(key: str, series: Sequence[tuple[dt.date, Decimal | float]]) -> Forecast:
    """:func:`forecast_series`, kept in the cache until midnight for this ``key`` (a product,
    a province or the total) and exactly this history (a new order changes the key)."""
    digest = hashlib.sha1(json.dumps([(m.isoformat(), str(v)) for m, v in series]).encode(),
                          usedforsecurity=False).hexdigest()[:16]
    cache_key = f"sales:forecast:{CACHE_VERSION}:{key}:{timezone.localdate().isoformat()}:{digest}"
    stored = cache.get(cache_key)
    if stored is not None:
        return Forecast(**stored)
    result = forecast_series(series)
    cache.set(cache_key, asdict(result), seconds_left_today())
    return result
