"""HTML view of the sales forecast (R11.3): the weighted pipeline by month, team and person
for everyone with ``forecast.view`` (over the deals they see), and the forecast of orders by
product and by region for managers (see ``selectors/forecast.py`` for who and why)."""

from __future__ import annotations

import html
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils import formats
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from guanxi.core.dbrouter import replica_reads
from guanxi.core.permissions import declare as requires
from guanxi.sales.selectors import forecast as reads
from guanxi.sales.selectors.forecast_model import HOLDOUT, HORIZON, Forecast

ONE = Decimal(1)


def method_label(method: str) -> str:
    return {
        "holt_winters": _("Holt-Winters: trend and yearly seasonality"),
        "holt": _("Holt: damped linear trend"),
        "naive": _("Naive: the average of the last 3 months"),
        "none": _("Not enough history"),
    }.get(method, method)


def _summary(forecast: Forecast) -> dict[str, Any]:
    return {"method": method_label(forecast.method), "code": forecast.method, "mae": forecast.mae,
            "mape": forecast.mape, "baseline_mae": forecast.baseline_mae,
            "fallback": method_label(forecast.fallback) if forecast.fallback else "",
            "next_total": round(sum(p["amount"] for p in forecast.forecast), 2), "months": forecast.months,
            "forecast": forecast.forecast}


def _chart(pipeline: reads.PipelineForecast, orders: Forecast | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "labels": {"weighted": _("Weighted pipeline (CNY)"), "orders": _("Orders (CNY)"),
                   "history": _("Orders"), "holdout": _("Predicted for the held-out months"),
                   "forecast": _("Forecast")},
        "pipeline": {"months": [f"{m:%Y-%m}" for m in pipeline.months],
                     "teams": [{"name": t.label, "values": [float(v) for v in t.cells]} for t in pipeline.teams]},
    }
    if orders is not None:
        data["orders"] = {"history": orders.history, "holdout": orders.holdout, "forecast": orders.forecast}
    return data


def _rows(lines: list[reads.PipelineLine], *, people: bool) -> str:
    """The team or person rows of the weighted pipeline as HTML, built here: at M the general
    manager's table has ~200 people × up to 13 cells, ~15 ms through the template's loops and
    ``floatformat``. Whole yuan with the locale's thousands separator, as ``floatformat:"0g"``."""
    sep = html.escape(str(formats.get_format("THOUSAND_SEPARATOR")))

    def yuan(value: Decimal) -> str:
        return f"{value.quantize(ONE, rounding=ROUND_HALF_UP):,}".replace(",", sep)

    out = []
    for line in lines:
        person = f' data-person="{line.key}"' if people else ""
        cells = "".join(f'<td class="text-end">{yuan(v)}</td>' for v in line.cells)
        out.append(f'<tr{person}><td>{html.escape(line.label)}</td>{cells}'
                   f'<td class="text-end fw-semibold">{yuan(line.weighted)}</td></tr>')
    return mark_safe("\n".join(out))  # noqa: S308  (labels escaped, numbers formatted here)


@requires("forecast.view")
@replica_reads
def forecast_page(request: HttpRequest) -> HttpResponse:
    """``months`` (6, 9 or 12) of weighted pipeline; ``product`` and ``province`` (``-`` for
    orders without one) choose the series of the order forecast."""
    user: Any = request.user
    pipeline = reads.pipeline_forecast(user, months=reads.months_value(request.GET.get("months")))
    context: dict[str, Any] = {"pipeline": pipeline, "month_choices": reads.MONTH_CHOICES, "holdout": HOLDOUT,
                               "horizon": HORIZON, "may_forecast_orders": reads.may_forecast_orders(user)}
    orders = None
    if context["may_forecast_orders"]:
        generation = reads.rollup_generation()  # one small query; the rollup's reads come from the cache
        options = reads.choices(generation=generation)
        product = request.GET.get("product", "")
        province = request.GET.get("province", "")
        product_ids = {str(pk) for pk, _label in options.products}
        if product not in product_ids:
            product = ""
        if province != reads.NO_PROVINCE and province not in options.provinces:
            province = ""
        orders = reads.order_forecast(user, product=product or None, province=province or None,
                                      generation=generation)
        by_product = reads.forecasts_by("product", [pk for pk, _label in options.top_products], generation=generation)
        by_region = reads.forecasts_by("province", options.top_provinces, generation=generation)
        context.update({
            "options": options, "product": product, "province": province, "no_province": reads.NO_PROVINCE,
            "orders": orders, "summary": _summary(orders),
            "by_product": [(pk, label, _summary(by_product[pk])) for pk, label in options.top_products],
            "by_region": [(name, name or _("No province"), _summary(by_region[name])) for name in options.top_provinces],
        })
    context["chart"] = _chart(pipeline, orders)
    context["team_rows"] = _rows(pipeline.teams, people=False)
    context["people_rows"] = _rows(pipeline.people, people=True)
    return render(request, "sales/forecast_page.html", context)


urlpatterns: list[URLPattern] = [
    path("forecast/", forecast_page, name="forecast"),
]
