"""HTML views: the service report (/service/reports/) and its Excel export.

The page shows figure cards, a plotly chart per section (data through ``json_script``, the
script file carries the CSP nonce) and, under each chart, the same figures as a table — the
accessible and printable form. Every figure comes from ``selectors/reports.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.core.dbrouter import replica_reads
from guanxi.core.errors import Invalid
from guanxi.core.permissions import declare as requires
from guanxi.service.models import Kind
from guanxi.service.selectors import reports as reads
from guanxi.service.services import calendar, reports_export

DASH = "—"


def pct(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f}%"


def hours(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}"


def duration(minutes: float | None) -> str:
    """Business minutes as the SLA pages write them ("1 h 30 min")."""
    return DASH if minutes is None else calendar.format_minutes(int(minutes + 0.5))


@dataclass
class Section:
    """A chart and the table under it."""

    key: str
    title: str
    headers: list[str]
    rows: list[list[Any]]
    note: str = ""
    chart: bool = True
    footer: list[Any] = field(default_factory=list)


def parse_or_default(params: Any, parse: Any) -> tuple[Any, dict[str, list[str]]]:
    """The filters from ``params``; on bad input the default ones and the messages."""
    try:
        return parse(params), {}
    except Invalid as exc:
        return parse({}), exc.errors


def export_name(prefix: str) -> str:
    return f"{prefix}-{timezone.localdate():%Y%m%d}.xlsx"


def export_download(request: HttpRequest, parse: Any, export: Any, prefix: str) -> HttpResponse:
    """The workbook ``export`` writes for the filters posted as ``query`` (parsed by ``parse``;
    bad input: the 422 page), as a download named ``<prefix>-<date>.xlsx``."""
    filters = parse(QueryDict(request.POST.get("query", "")))
    content = export(actor=request.user, filters=filters)
    response = HttpResponse(content, content_type=reports_export.XLSX)
    response["Content-Disposition"] = f'attachment; filename="{export_name(prefix)}"'
    return response


def _count_section(key: str, title: str, heading: str, rows: list[reads.Row]) -> Section:
    return Section(key, title, [heading, _("Cases"), _("Share")], [[r.label, r.count, pct(r.share)] for r in rows])


def sections(report: reads.Report) -> list[Section]:
    kinds = list(Kind.choices)
    sla, times = report.sla, report.times
    return [
        Section("month", _("Cases received by month"), [_("Month"), _("Cases"), *(str(label) for _c, label in kinds)],
                [[m.label, m.count, *(m.by_kind.get(code, 0) for code, _l in kinds)] for m in report.by_month]),
        _count_section("channel", _("By channel"), _("Channel"), report.by_channel),
        _count_section("category", _("By category"), _("Category"), report.by_category),
        _count_section("product", _("By product"), _("Product"), report.by_product),
        _count_section("kind", _("By kind"), _("Kind"), report.by_kind),
        Section("sla", _("SLA compliance by category"),
                [_("Category"), _("Cases with an SLA"), _("First response late"), _("Resolution late"), _("SLA met"),
                 _("SLA missed"), _("SLA met (%)")],
                [[r.label, r.cases, r.response_late, r.resolution_late, r.met, r.missed, pct(r.rate)]
                 for r in sla.by_category],
                note=_("A case meets its SLA when both the first response and the resolution were on time; it misses "
                       "it when either was late. Cases not yet due are pending and not judged.")),
        Section("times", _("Time to first response and to resolution by month (business hours)"),
                [_("Month"), _("First responses"), _("Mean"), _("Median"), _("Resolutions"), _("Mean"), _("Median")],
                [[r.label, r.response.count, hours(r.response.mean_hours), hours(r.response.median_hours),
                  r.resolution.count, hours(r.resolution.mean_hours), hours(r.resolution.median_hours)]
                 for r in times.by_month],
                note=_("Business hours of the service calendar (working hours, weekdays, holidays and adjusted working "
                       "days), from receipt; by month of receipt.")),
        Section("times-category", _("Time to first response and to resolution by category (business hours)"),
                [_("Category"), _("First responses"), _("Mean"), _("Median"), _("Resolutions"), _("Mean"),
                 _("Median")],
                [[r.label, r.response.count, hours(r.response.mean_hours), hours(r.response.median_hours),
                  r.resolution.count, hours(r.resolution.mean_hours), hours(r.resolution.median_hours)]
                 for r in times.by_category], chart=False),
        Section("backlog", _("Open backlog by age"), [_("Age"), _("Open cases")],
                [[b.label, b.count] for b in report.backlog.buckets],
                note=_("Cases open now (new, acknowledged, investigating, solution proposed) matching the filters, "
                       "whenever they were received; age in calendar days since receipt."),
                footer=[_("Total"), report.backlog.total]),
    ]


def chart_data(report: reads.Report) -> dict[str, Any]:
    def bars(rows: list[reads.Row]) -> dict[str, Any]:
        return {"labels": [r.label for r in rows], "values": [r.count for r in rows]}

    sla, times = report.sla, report.times
    return {
        "labels": {"cases": _("Cases"), "met": _("SLA met"), "missed": _("SLA missed"),
                   "response_late": _("First response late"), "resolution_late": _("Resolution late"),
                   "response": _("First response, median"), "resolution": _("Resolution, median"),
                   "response_mean": _("First response, mean"), "resolution_mean": _("Resolution, mean"),
                   "hours": _("Business hours"), "open": _("Open cases")},
        "month": {"labels": [m.label for m in report.by_month],
                  "series": [{"name": str(label), "values": [m.by_kind.get(code, 0) for m in report.by_month]}
                             for code, label in Kind.choices]},
        "channel": bars(report.by_channel),
        "category": bars(report.by_category),
        "product": bars(report.by_product),
        "kind": bars(report.by_kind),
        "sla": {"labels": [r.label for r in sla.by_category], "met": [r.met for r in sla.by_category],
                "missed": [r.missed for r in sla.by_category]},
        "times": {"labels": [r.label for r in times.by_month],
                  "response": [r.response.median_hours for r in times.by_month],
                  "resolution": [r.resolution.median_hours for r in times.by_month],
                  "response_mean": [r.response.mean_hours for r in times.by_month],
                  "resolution_mean": [r.resolution.mean_hours for r in times.by_month]},
        "backlog": {"labels": [b.label for b in report.backlog.buckets],
                    "values": [b.count for b in report.backlog.buckets]},
    }


@requires(reads.RIGHT)
@replica_reads
def report_page(request: HttpRequest) -> HttpResponse:
    """``date_from``/``date_to`` (days of receipt; default the last 12 months), ``kind``,
    ``category``, ``product``, ``channel``, ``department``, ``team``."""
    user: Any = request.user
    filters, errors = parse_or_default(request.GET, reads.parse_filters)
    report = reads.service_report(user, filters)
    sla, times = report.sla, report.times
    cards = [
        ("total", _("Cases received"), str(report.total), ""),
        ("response-sla", _("First response on time"), pct(sla.response.rate),
         _("%(on)s of %(all)s judged") % {"on": sla.response.on_time, "all": sla.response.judged}),
        ("resolution-sla", _("Resolved on time"), pct(sla.resolution.rate),
         _("%(on)s of %(all)s judged") % {"on": sla.resolution.on_time, "all": sla.resolution.judged}),
        ("response-time", _("First response, median"), duration(times.response.median),
         _("business time · mean %(mean)s") % {"mean": duration(times.response.mean)}),
        ("resolution-time", _("Resolution, median"), duration(times.resolution.median),
         _("business time · mean %(mean)s") % {"mean": duration(times.resolution.mean)}),
        ("reopen", _("Reopen rate"), pct(report.reopen.rate),
         _("%(n)s of %(all)s resolved") % {"n": report.reopen.reopened, "all": report.reopen.resolved}),
        ("backlog", _("Open backlog"), str(report.backlog.total),
         _("%(n)s past the resolution time") % {"n": report.backlog.overdue}),
    ]
    return render(request, "service/reports_page.html", {
        "report": report, "filters": filters, "errors": errors, "values": request.GET if errors else filters.as_query(),
        "options": reads.options(user), "cards": cards, "sections": sections(report), "chart": chart_data(report),
        "export_query": urlencode(filters.as_query()),
    })


@requires(reads.RIGHT)
@require_POST
@replica_reads
def report_export(request: HttpRequest) -> HttpResponse:
    """The report with the posted filters as an Excel workbook (audited)."""
    return export_download(request, reads.parse_filters, reports_export.report_export, "service-report")


urlpatterns: list[URLPattern] = [
    path("reports/", report_page, name="reports"),
    path("reports/export/", report_export, name="reports-export"),
]
# Routes outside /service/ that need no login (served below /feedback/).
public_urlpatterns: list[URLPattern] = []
