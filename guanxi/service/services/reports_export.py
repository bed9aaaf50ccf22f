"""Excel exports of the service report and of the satisfaction dashboard.

They hold the figures the pages show — aggregates, no case and no customer — so they need the
right that shows those pages: ``service.report`` for the service report (not ``case.export``,
which is for lists of cases and is a manager's right; a sales manager who may read the report
may take it to a meeting), ``survey.view`` for the dashboard. Scoped like the pages (the same
selectors, as the person who asks), audited as ``export`` with the filters, and written while
the request waits: a report is a few hundred cells whatever the number of cases.

Safe to open in a spreadsheet (S9): text — category, product, department and team names are
the company's own — is neutralised with ``guanxi.core.spreadsheet``'s ``neutralise_cell`` and written as
plain strings, never formulas; numbers stay numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.spreadsheet import XLSX as XLSX  # the views' content type
from guanxi.core.spreadsheet import neutralise_cell, xlsx_bytes
from guanxi.loyalty.models import Dimension
from guanxi.loyalty.selectors import dashboard as board_reads
from guanxi.service.selectors import reports as reads

Sheet = tuple[str, list[list[Any]]]
_BAD_TITLE = re.compile(r"[\[\]:*?/\\]")


def _text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return value
    return neutralise_cell(str(value))


def workbook(sheets: Iterable[Sheet]) -> bytes:
    """An .xlsx of the given sheets; text cells are plain strings (data type "s"), never formulas."""
    return xlsx_bytes((_BAD_TITLE.sub(" ", title)[:31] or "-", ([_text(raw) for raw in row] for row in rows))
                      for title, rows in sheets)


def _pct(value: float | None) -> float | str:
    return "" if value is None else value


# --- The service report ----------------------------------------------------------------------
def report_filter_rows(filters: reads.Filters) -> list[list[Any]]:
    """(label, value) of every filter, with the names of the chosen records."""
    from guanxi.core.models import Department, Team
    from guanxi.sales.models import Product
    from guanxi.service.models import CaseCategory, Channel, Kind

    def name(model: Any, pk: int | None, label: Any = str) -> str:
        if pk is None:
            return _("All")
        obj = model.filter(pk=pk).first()
        return label(obj) if obj is not None else str(pk)

    return [
        [_("Period"), f"{filters.start:%Y-%m-%d} – {filters.end:%Y-%m-%d}"],
        [_("Kind"), str(dict(Kind.choices).get(filters.kind, _("All")))],
        [_("Category"), name(CaseCategory.objects, filters.category)],
        [_("Product"), name(Product.all_objects, filters.product,
                            lambda p: reads.product_label(p.name, p.model))],
        [_("Channel"), str(dict(Channel.choices).get(filters.channel, _("All")))],
        [_("Department"), name(Department.objects, filters.department)],
        [_("Team"), name(Team.objects, filters.team)],
    ]


def _count_rows(rows: list[reads.Row], heading: str) -> list[list[Any]]:
    return [[heading, _("Cases"), _("Share (%)")], *([r.label, r.count, _pct(r.share)] for r in rows)]


def _stat_cells(stat: reads.Stat) -> list[Any]:
    return [stat.count, _pct(stat.mean_hours), _pct(stat.median_hours)]


def report_sheets(report: reads.Report) -> list[Sheet]:
    from guanxi.service.models import Kind

    sla, times = report.sla, report.times
    summary: list[list[Any]] = [
        [_("Service report")], *report_filter_rows(report.filters), [],
        [_("Figure"), _("Value")],
        [_("Cases received"), report.total],
        [_("First response on time (%)"), _pct(sla.response.rate)],
        [_("Resolved on time (%)"), _pct(sla.resolution.rate)],
        [_("SLA met (%)"), _pct(sla.overall.rate)],
        [_("Cases with an SLA"), sla.cases],
        [_("Mean time to first response (business hours)"), _pct(times.response.mean_hours)],
        [_("Median time to first response (business hours)"), _pct(times.response.median_hours)],
        [_("Mean time to resolution (business hours)"), _pct(times.resolution.mean_hours)],
        [_("Median time to resolution (business hours)"), _pct(times.resolution.median_hours)],
        [_("Reopen rate (%)"), _pct(report.reopen.rate)],
        [_("Cases reopened"), report.reopen.reopened],
        [_("Cases resolved"), report.reopen.resolved],
        [_("Open backlog now"), report.backlog.total],
        [_("Open and past the resolution time"), report.backlog.overdue],
    ]
    kinds = list(Kind.choices)
    months: list[list[Any]] = [[_("Month"), _("Cases"), *(str(label) for _code, label in kinds)],
              *([m.label, m.count, *(m.by_kind.get(code, 0) for code, _label in kinds)] for m in report.by_month)]
    compliance: list[list[Any]] = [
        [_("Timer"), _("On time"), _("Late"), _("Pending"), _("On time (%)")],
        *([label, c.on_time, c.late, c.pending, _pct(c.rate)] for label, c in (
            (_("First response"), sla.response), (_("Resolution"), sla.resolution), (_("Both (SLA met)"), sla.overall))),
        [],
        [_("Category"), _("Cases with an SLA"), _("First response late"), _("Resolution late"), _("SLA met"),
         _("SLA missed"), _("SLA met (%)")],
        *([r.label, r.cases, r.response_late, r.resolution_late, r.met, r.missed, _pct(r.rate)]
          for r in sla.by_category),
    ]
    time_head = [_("First responses"), _("Mean (business hours)"), _("Median (business hours)"), _("Resolutions"),
                 _("Mean (business hours)"), _("Median (business hours)")]
    time_rows: list[list[Any]] = [
        [_("All"), *time_head],
        [_("All"), *_stat_cells(times.response), *_stat_cells(times.resolution)], [],
        [_("Month"), *time_head],
        *([r.label, *_stat_cells(r.response), *_stat_cells(r.resolution)] for r in times.by_month), [],
        [_("Category"), *time_head],
        *([r.label, *_stat_cells(r.response), *_stat_cells(r.resolution)] for r in times.by_category),
    ]
    backlog: list[list[Any]] = [[_("Age"), _("Open cases")], *([b.label, b.count] for b in report.backlog.buckets),
               [_("Total"), report.backlog.total], [_("Past the resolution time"), report.backlog.overdue]]
    return [
        (_("Summary"), summary),
        (_("By month"), months),
        (_("By channel"), _count_rows(report.by_channel, _("Channel"))),
        (_("By category"), _count_rows(report.by_category, _("Category"))),
        (_("By product"), _count_rows(report.by_product, _("Product"))),
        (_("By kind"), _count_rows(report.by_kind, _("Kind"))),
        (_("SLA compliance"), compliance),
        (_("Response and resolution"), time_rows),
        (_("Open backlog"), backlog),
    ]


def report_export(*, actor: Any, filters: reads.Filters) -> bytes:
    """The service report as an Excel workbook (``service.report``; scoped; audited). Read
    before the audit's transaction: from the read replica when the view is marked for it."""
    report = reads.service_report(actor, filters)  # checks the right
    content = workbook(report_sheets(report))
    with transaction.atomic():
        audit.record(actor=actor, action="export", obj=None, object_repr=f"service report ({report.total})",
                     changes={"what": "service report", "filters": filters.as_query(), "format": "xlsx",
                              "cases": report.total})
    return content


# --- The satisfaction dashboard --------------------------------------------------------------
def dashboard_filter_rows(filters: board_reads.Filters) -> list[list[Any]]:
    from guanxi.core.models import Department, Team
    from guanxi.loyalty.models import Touchpoint

    def name(model: Any, pk: int | None) -> str:
        if pk is None:
            return _("All")
        obj = model.filter(pk=pk).first()
        return str(obj) if obj is not None else str(pk)

    return [
        [_("Period"), f"{filters.start:%Y-%m-%d} – {filters.end:%Y-%m-%d}"],
        [_("Touchpoint"), str(dict(Touchpoint.choices).get(filters.touchpoint, _("All")))],
        [_("Department"), name(Department.objects, filters.department)],
        [_("Team"), name(Team.objects, filters.team)],
    ]


def score_heading(first: str) -> list[Any]:
    return [first, _("Responses"), *(str(label) for _code, label in Dimension.choices), _("NPS"), _("Promoters"),
            _("Passives"), _("Detractors"), _("CSAT (average)"), _("CSAT answers"), _("Satisfied (%)"),
            _("Invitations sent"), _("Answered"), _("Response rate (%)")]


def score_cells(s: board_reads.Scores) -> list[Any]:
    return [s.label, s.responses, *(_pct(s.rater[d]) for d in Dimension.values), _pct(s.nps), s.promoters,
            s.passives, s.detractors, _pct(s.csat_average), s.csat_count, _pct(s.satisfied_pct), s.sent, s.answered,
            _pct(s.response_rate)]


def dashboard_sheets(board: board_reads.Dashboard) -> list[Sheet]:
    summary: list[list[Any]] = [[_("Satisfaction dashboard")], *dashboard_filter_rows(board.filters), [],
               score_heading(""), score_cells(board.overall)]
    return [
        (_("Summary"), summary),
        (_("By touchpoint"), [score_heading(_("Touchpoint")), *(score_cells(s) for s in board.by_touchpoint)]),
        (_("By department"), [score_heading(_("Department")), *(score_cells(s) for s in board.by_department)]),
        (_("By team"), [score_heading(_("Team")), *(score_cells(s) for s in board.by_team)]),
        (_("By month"), [score_heading(_("Month")), *(score_cells(s) for s in board.by_month)]),
    ]


def dashboard_export(*, actor: Any, filters: board_reads.Filters) -> bytes:
    """The satisfaction dashboard as an Excel workbook (``survey.view``; scoped; audited). Read
    before the audit's transaction: from the read replica when the view is marked for it."""
    board = board_reads.dashboard(actor, filters)  # checks the right
    content = workbook(dashboard_sheets(board))
    with transaction.atomic():
        audit.record(actor=actor, action="export", obj=None,
                     object_repr=f"survey dashboard ({board.overall.responses})",
                     changes={"what": "survey dashboard", "filters": board.filters.as_query(), "format": "xlsx",
                              "responses": board.overall.responses})
    return content
