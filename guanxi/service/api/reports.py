"""REST API of the service reports and the satisfaction dashboard (read only).

``GET /api/v1/service-reports`` (``service.report``) gives the figures of /service/reports/ and
``GET /api/v1/survey-dashboard`` (``survey.view``) those of /surveys/dashboard/, with the same
filters, over what the caller sees. Definitions: ``selectors/reports.py`` and
``loyalty/selectors/dashboard.py`` (and docs/api.md).

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema

from guanxi.core.api import ErrorOut
from guanxi.core.dbrouter import replica_reads
from guanxi.core.permissions import declare as requires
from guanxi.loyalty.selectors import dashboard as board_reads
from guanxi.service.selectors import reports as reads

router = Router(tags=["service reports"])


# --- Service report ------------------------------------------------------------------------
class ReportQuery(Schema):
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    kind: str = ""
    category: int | None = None
    product: int | None = None
    channel: str = ""
    department: int | None = None
    team: int | None = None


class ReportFiltersOut(Schema):
    date_from: dt.date
    date_to: dt.date
    kind: str
    category: int | None
    product: int | None
    channel: str
    department: int | None
    team: int | None


class CountRowOut(Schema):
    key: str
    label: str
    count: int
    share: float | None


class MonthCountOut(Schema):
    month: str
    count: int
    by_kind: dict[str, int]


class VolumeOut(Schema):
    by_channel: list[CountRowOut]
    by_category: list[CountRowOut]
    by_product: list[CountRowOut]
    by_kind: list[CountRowOut]
    by_month: list[MonthCountOut]


class ComplianceOut(Schema):
    on_time: int
    late: int
    pending: int
    rate: float | None


class OverallOut(Schema):
    met: int
    missed: int
    pending: int
    rate: float | None


class SlaCategoryOut(Schema):
    key: str
    label: str
    cases: int
    response_late: int
    resolution_late: int
    met: int
    missed: int
    rate: float | None


class SlaOut(Schema):
    cases: int
    response: ComplianceOut
    resolution: ComplianceOut
    overall: OverallOut
    by_category: list[SlaCategoryOut]


class StatOut(Schema):
    count: int
    mean_minutes: float | None
    median_minutes: float | None
    mean_hours: float | None
    median_hours: float | None


class TimeRowOut(Schema):
    key: str
    label: str
    response: StatOut
    resolution: StatOut


class TimesOut(Schema):
    unit: str
    response: StatOut
    resolution: StatOut
    by_month: list[TimeRowOut]
    by_category: list[TimeRowOut]


class ReopenOut(Schema):
    resolved: int
    reopened: int
    rate: float | None


class AgeBucketOut(Schema):
    key: str
    label: str
    min_days: int
    max_days: int | None
    count: int


class BacklogOut(Schema):
    total: int
    overdue: int
    by_age: list[AgeBucketOut]


class ReportOut(Schema):
    filters: ReportFiltersOut
    total: int
    volume: VolumeOut
    sla: SlaOut
    times: TimesOut
    reopen: ReopenOut
    backlog: BacklogOut


@router.get("/service-reports", response={200: ReportOut, 403: ErrorOut, 422: ErrorOut})
@requires(reads.RIGHT)
@replica_reads
def service_report(request: HttpRequest, filters: Query[ReportQuery]) -> Any:
    """The service report over the cases the caller sees, received from ``date_from`` to
    ``date_to`` (inclusive; default the last 12 months, at most 5 years), optionally of one
    ``kind``, ``category``, ``product``, ``channel``, or the owner's ``department`` (with those
    below it) or ``team``: volume, SLA compliance, time to first response and to resolution
    (business minutes and hours, mean and median), reopen rate, and the open backlog by age
    (open now, whatever the period)."""
    parsed = reads.parse_filters(filters.dict())
    return reads.report_as_dict(reads.service_report(request.user, parsed))


# --- Survey dashboard -----------------------------------------------------------------------
class DashboardQuery(Schema):
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    touchpoint: str = ""
    department: int | None = None
    team: int | None = None


class DashboardFiltersOut(Schema):
    date_from: dt.date
    date_to: dt.date
    touchpoint: str
    department: int | None
    team: int | None


class DimensionOut(Schema):
    key: str
    label: str


class NpsOut(Schema):
    score: float | None
    count: int
    promoters: int
    passives: int
    detractors: int
    promoters_pct: float | None
    detractors_pct: float | None


class CsatOut(Schema):
    average: float | None
    count: int
    satisfied: int
    satisfied_pct: float | None


class InvitationsOut(Schema):
    sent: int
    answered: int
    response_rate: float | None


class ScoresOut(Schema):
    key: str
    label: str
    responses: int
    rater: dict[str, float | None]
    nps: NpsOut
    csat: CsatOut
    invitations: InvitationsOut


class DashboardOut(Schema):
    filters: DashboardFiltersOut
    dimensions: list[DimensionOut]
    overall: ScoresOut
    by_touchpoint: list[ScoresOut]
    by_department: list[ScoresOut]
    by_team: list[ScoresOut]
    by_month: list[ScoresOut]


@router.get("/survey-dashboard", response={200: DashboardOut, 403: ErrorOut, 422: ErrorOut})
@requires(board_reads.RIGHT)
@replica_reads
def survey_dashboard(request: HttpRequest, filters: Query[DashboardQuery]) -> Any:
    """The satisfaction dashboard over the answers the caller sees: RATER averages per
    dimension, NPS with its counts, CSAT average and % satisfied, response rate — overall and
    by touchpoint, department, team and month — for responses submitted (and invitations sent)
    from ``date_from`` to ``date_to`` (default the last 12 months), optionally of one
    ``touchpoint`` or the responsible person's ``department`` or ``team``."""
    parsed = board_reads.parse_filters(filters.dict())
    return board_reads.dashboard_as_dict(board_reads.dashboard(request.user, parsed))
