"""The time-series forecast of orders (R11.3): the model chosen by the history's length, its
error on the held-out months (which must beat a flat average on seasonal data, and equal a
recomputation from the rows shown), the fallbacks, and the day's cache."""

from __future__ import annotations

import datetime as dt
import math
import random
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache

from guanxi.sales.selectors import forecast_model as model
from guanxi.sales.selectors.forecast_model import HOLDOUT, HORIZON, forecast_series, next_month


def seasonal(months: int, *, start: dt.date = dt.date(2022, 1, 1), seed: int = 7) -> list[tuple[dt.date, Decimal]]:
    """Orders with a trend (+2,000 a month), a yearly swing (±30,000) and some noise."""
    rng = random.Random(seed)
    return [(next_month(start, t), Decimal(str(round(100_000 + 2_000 * t + 30_000 * math.sin(2 * math.pi * t / 12)
                                                     + rng.gauss(0, 3_000), 2)))) for t in range(months)]


def test_holt_winters_beats_a_flat_average_on_seasonal_orders() -> None:
    result = forecast_series(seasonal(36))
    assert result.method == "holt_winters" and result.fallback == "" and result.months == 36
    assert result.mae is not None and result.baseline_mae is not None
    assert result.mae < result.baseline_mae
    assert result.mape is not None and result.mape < 10


def test_the_error_shown_is_the_error_of_the_rows_shown() -> None:
    history = seasonal(36)
    result = forecast_series(history)
    assert [row["month"] for row in result.holdout] == [m.isoformat() for m, _v in history[-HOLDOUT:]]
    assert [row["actual"] for row in result.holdout] == [float(v) for _m, v in history[-HOLDOUT:]]
    actual = [row["actual"] for row in result.holdout]
    predicted = [row["predicted"] for row in result.holdout]
    mae = sum(abs(a - p) for a, p in zip(actual, predicted, strict=True)) / HOLDOUT
    mape = 100 * sum(abs(a - p) / a for a, p in zip(actual, predicted, strict=True)) / HOLDOUT
    assert result.mae == pytest.approx(mae, abs=1e-9) and result.mape == pytest.approx(mape, abs=1e-9)
    fit = [float(v) for _m, v in history[:-HOLDOUT]]
    mean = round(sum(fit) / len(fit), 2)
    assert result.baseline_mae == pytest.approx(sum(abs(a - mean) for a in actual) / HOLDOUT, abs=1e-9)
    assert all(row["error"] == pytest.approx(row["predicted"] - row["actual"], abs=0.011) for row in result.holdout)


def test_the_forecast_covers_the_months_after_the_history() -> None:
    history = seasonal(36)
    result = forecast_series(history)
    assert [row["month"] for row in result.forecast] == [next_month(history[-1][0], n).isoformat()
                                                          for n in range(1, HORIZON + 1)]
    # The swing continues: the forecast follows the season, not a flat line.
    values = [row["amount"] for row in result.forecast]
    assert max(values) - min(values) > 20_000


@pytest.mark.parametrize(("months", "method"), [(30, "holt_winters"), (29, "holt"), (18, "holt"), (17, "naive"),
                                                (9, "naive"), (8, "none"), (0, "none")])
def test_the_model_follows_the_months_there_are_to_fit(months: int, method: str) -> None:
    result = forecast_series(seasonal(months))
    assert result.method == method
    if method == "none":
        assert result.forecast == [] and result.mae is None
    else:
        assert len(result.holdout) == HOLDOUT and len(result.forecast) == HORIZON


def test_the_naive_baseline_is_the_average_of_the_last_three_months() -> None:
    history = [(next_month(dt.date(2024, 1, 1), t), Decimal(v)) for t, v in enumerate(
        [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120])]
    result = forecast_series(history)
    assert result.method == "naive"
    assert [row["predicted"] for row in result.holdout] == [50.0] * HOLDOUT  # (40 + 50 + 60) / 3
    assert [row["amount"] for row in result.forecast] == [110.0] * HORIZON  # (100 + 110 + 120) / 3
    assert result.mae == pytest.approx(45.0) and result.mape == pytest.approx(
        100 * sum(abs(a - 50) / a for a in (70, 80, 90, 100, 110, 120)) / 6)


def test_months_without_orders_leave_mape_to_the_others_and_nothing_goes_below_zero() -> None:
    falling = [(next_month(dt.date(2023, 1, 1), t), Decimal(max(0, 60_000 - 4_000 * t))) for t in range(24)]
    result = forecast_series(falling)
    assert result.method == "holt"
    assert all(row["predicted"] >= 0 for row in result.holdout) and all(r["amount"] >= 0 for r in result.forecast)
    assert result.mape is None  # every held-out month is 0
    assert result.mae is not None


def test_a_model_that_cannot_be_fitted_falls_back_to_a_simpler_one(monkeypatch: pytest.MonkeyPatch) -> None:
    real = model._fit

    def broken(method: str, values: list[float], steps: int) -> list[float]:
        if method == "holt_winters":
            raise ValueError("no convergence")
        return real(method, values, steps)

    monkeypatch.setattr(model, "_fit", broken)
    result = forecast_series(seasonal(36))
    assert (result.method, result.fallback) == ("holt", "holt_winters")


def test_the_forecast_is_kept_for_the_day_and_for_this_history_only(monkeypatch: pytest.MonkeyPatch) -> None:
    cache.clear()
    calls: list[int] = []
    real = model.forecast_series

    def counted(series: Any) -> Any:
        calls.append(len(series))
        return real(series)

    monkeypatch.setattr(model, "forecast_series", counted)
    history = seasonal(20)
    first = model.cached_forecast("p1:r*", history)
    again = model.cached_forecast("p1:r*", history)
    assert calls == [20] and again == first
    model.cached_forecast("p1:r*", [*history[:-1], (history[-1][0], history[-1][1] + 1)])
    model.cached_forecast("p2:r*", history)
    assert calls == [20, 20, 20]
