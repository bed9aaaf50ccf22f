"""HTML views: the satisfaction dashboard (/surveys/dashboard/) and its Excel export.

RATER by dimension (a radar: all responses and each touchpoint), the NPS, % satisfied and
response-rate trend by month, and the same figures by touchpoint, department and team, each
chart with its table (accessible, printable). Every figure comes from ``selectors/dashboard.py``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.core.dbrouter import replica_reads
from guanxi.core.permissions import declare as requires
from guanxi.loyalty.models import Dimension
from guanxi.loyalty.selectors import dashboard as reads
from guanxi.service.services import reports_export
from guanxi.service.views.reports import DASH, Section, export_download, parse_or_default, pct


def score(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}"


def nps(value: float | None) -> str:
    return DASH if value is None else f"{value:+.1f}" if value else "0.0"


def _headers(first: str) -> list[str]:
    return [first, _("Responses"), *(str(label) for _c, label in Dimension.choices), _("NPS"),
            _("Promoters / passives / detractors"), _("CSAT"), _("Satisfied"), _("Invitations sent"), _("Answered"),
            _("Response rate")]


def _cells(s: reads.Scores) -> list[Any]:
    return [s.label, s.responses, *(score(s.rater[d]) for d in Dimension.values), nps(s.nps),
            f"{s.promoters} / {s.passives} / {s.detractors}", score(s.csat_average), pct(s.satisfied_pct), s.sent,
            s.answered, pct(s.response_rate)]


def sections(board: reads.Dashboard) -> list[Section]:
    rater_rows = [[str(label), score(board.overall.rater[code]), *(score(s.rater[code]) for s in board.by_touchpoint)]
                  for code, label in Dimension.choices]
    return [
        Section("rater", _("RATER: average score by dimension (1–5)"),
                [_("Dimension"), _("All"), *(s.label for s in board.by_touchpoint)], rater_rows,
                note=_("Reliability, assurance, tangibles, empathy and responsiveness: the mean of the responses' "
                       "scores for each dimension.")),
        Section("trend", _("NPS, satisfaction and response rate by month"), _headers(_("Month")),
                [_cells(s) for s in board.by_month],
                note=_("NPS: the share of promoters (9–10) minus the share of detractors (0–6). Satisfied: CSAT 4 "
                       "or 5. Response rate: the invitations sent in the month that were answered.")),
        Section("touchpoint", _("By touchpoint"), _headers(_("Touchpoint")), [_cells(s) for s in board.by_touchpoint]),
        Section("department", _("By department of the responsible person"), _headers(_("Department")),
                [_cells(s) for s in board.by_department]),
        Section("team", _("By team of the responsible person"), _headers(_("Team")),
                [_cells(s) for s in board.by_team],
                note=_("A person in two teams counts in both.")),
    ]


def chart_data(board: reads.Dashboard) -> dict[str, Any]:
    def group(items: list[reads.Scores]) -> dict[str, Any]:
        return {"labels": [s.label for s in items], "nps": [s.nps for s in items],
                "satisfied": [s.satisfied_pct for s in items], "rate": [s.response_rate for s in items]}

    rater = [{"name": _("All"), "values": [board.overall.rater[d] for d in Dimension.values]}]
    rater += [{"name": s.label, "values": [s.rater[d] for d in Dimension.values]}
              for s in board.by_touchpoint if s.responses]
    return {
        "labels": {"nps": _("NPS"), "satisfied": _("Satisfied (%)"), "rate": _("Response rate (%)")},
        "dimensions": [{"key": code, "label": str(label)} for code, label in Dimension.choices],
        "rater": rater,
        "trend": group(board.by_month),
        "touchpoint": group(board.by_touchpoint),
        "department": group(board.by_department),
        "team": group(board.by_team),
    }


@requires(reads.RIGHT)
@replica_reads
def dashboard_page(request: HttpRequest) -> HttpResponse:
    """``date_from``/``date_to`` (default the last 12 months), ``touchpoint``, ``department``, ``team``."""
    user: Any = request.user
    filters, errors = parse_or_default(request.GET, reads.parse_filters)
    board = reads.dashboard(user, filters)
    o = board.overall
    cards = [
        ("responses", _("Responses"), str(o.responses), ""),
        ("nps", _("NPS"), nps(o.nps), _("%(p)s promoters · %(d)s detractors of %(n)s")
         % {"p": o.promoters, "d": o.detractors, "n": o.nps_count}),
        ("csat", _("CSAT"), score(o.csat_average), _("%(pct)s satisfied") % {"pct": pct(o.satisfied_pct)}),
        ("rate", _("Response rate"), pct(o.response_rate), _("%(a)s of %(s)s invitations answered")
         % {"a": o.answered, "s": o.sent}),
    ]
    return render(request, "loyalty/dashboard_page.html", {
        "board": board, "filters": filters, "errors": errors,
        "values": request.GET if errors else filters.as_query(), "options": reads.options(), "cards": cards,
        "sections": sections(board), "chart": chart_data(board), "export_query": urlencode(filters.as_query()),
    })


@requires(reads.RIGHT)
@require_POST
@replica_reads
def dashboard_export(request: HttpRequest) -> HttpResponse:
    """The dashboard with the posted filters as an Excel workbook (audited)."""
    return export_download(request, reads.parse_filters, reports_export.dashboard_export, "survey-dashboard")


urlpatterns: list[URLPattern] = [
    path("dashboard/", dashboard_page, name="dashboard"),
    path("dashboard/export/", dashboard_export, name="dashboard-export"),
]
public_urlpatterns: list[URLPattern] = []
