"""HTML views of the performance page (R11.2): results against targets beside the relationship
work behind them, per person, and its export for the appraisal (routed by ``views/targets.py``)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils.http import urlencode

from guanxi.activities.views.confirm import download
from guanxi.core.dbrouter import replica_reads
from guanxi.core.errors import Invalid
from guanxi.core.permissions import declare as requires
from guanxi.sales.selectors import performance as reads
from guanxi.sales.selectors.targets import Period
from guanxi.sales.services.performance import performance_export


def _period(request: HttpRequest) -> tuple[Period, str, dict[str, list[str]]]:
    """The asked period, or this month with the reasons when the dates cannot be read."""
    try:
        period, preset = reads.period_from(request.GET)
    except Invalid as exc:
        period, preset = reads.preset_period("month"), "month"
        return period, preset, exc.errors
    return period, preset, {}


@requires("performance.view")
@replica_reads
def performance_page(request: HttpRequest) -> HttpResponse:
    """``period`` (month, last_month, quarter, year) or ``start``/``end``; ``user`` for one person."""
    user: Any = request.user
    period, preset, errors = _period(request)
    status = 422 if errors else 200
    for field_messages in errors.values():
        for message in field_messages:
            messages.error(request, message)
    person = request.GET.get("user", "")
    result = reads.performance_for(user, period, user=person or None)
    people = reads.people_for(user) if not person else None
    query = {"start": period.start.isoformat(), "end": period.end.isoformat(), **({"user": person} if person else {})}
    return render(request, "sales/targets_performance.html", {
        "result": result, "period": period, "preset": preset, "presets": [
            ("month", reads.preset_label("month")), ("last_month", reads.preset_label("last_month")),
            ("quarter", reads.preset_label("quarter")), ("year", reads.preset_label("year"))],
        "metrics": reads.metric_labels(), "kinds": reads.kind_labels(), "person": person,
        "people": people if people is not None and len(people) > 1 else [], "export_query": urlencode(query),
    }, status=status)


@requires("performance.export")
@replica_reads
def performance_xlsx(request: HttpRequest) -> HttpResponse:
    period, _preset, errors = _period(request)
    if errors:
        raise Invalid(errors=errors)
    return download(*performance_export(actor=request.user, period=period, user=request.GET.get("user") or None))


urlpatterns: list[URLPattern] = [
    path("performance/", performance_page, name="performance"),
    path("performance/export/", performance_xlsx, name="performance-export"),
]
