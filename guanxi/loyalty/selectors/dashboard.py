"""The satisfaction dashboard (R6.1): RATER, NPS, CSAT and response rate by touchpoint, team,
department and month, over the responses and invitations the user sees (``survey.view``).

Every figure is a grouped aggregate in SQL over the per-response figures each ``Response``
keeps (one average per RATER dimension, the NPS score, the CSAT score); no answer row is read.

Definitions (the user guide repeats them):

* **RATER**: per dimension, the mean of the responses' averages for it (1–5); a response that
  did not score a dimension does not count for it.
* **NPS** = % promoters (9–10) − % detractors (0–6) among the responses with an NPS score,
  from −100 to 100, with the counts (passives 7–8).
* **CSAT**: the mean score (1–5) and % satisfied (4 or 5) among the responses with one.
* **Response rate** = invitations answered / invitations sent, for the invitations *sent* in
  the period (answered whenever); the scores are of the responses *submitted* in the period.
* **Team / department** are those of the responsible person (the case owner, the technician,
  the order's salesperson): the department stored on the invitation and response, the teams
  the person belongs to now (a person in two teams counts in both; "No team" otherwise).

Filters: the period (default the last 12 months), touchpoint, the department (with those
below it) and the team of the responsible person.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.db.models import Avg, Count, FilteredRelation, Q, QuerySet
from django.utils.translation import gettext as _

from guanxi.core import access
from guanxi.core.errors import Forbidden, Invalid
from guanxi.core.models import Department, Team
from guanxi.core.permissions import has_perm
from guanxi.loyalty.models import Dimension, Invitation, Response, Touchpoint
from guanxi.loyalty.selectors.scope import invitation_scope, response_scope
from guanxi.service.selectors.reports import (
    PeriodFilters,
    key_month,
    month_key,
    parse_id,
    parse_period,
    percent,
)

RIGHT = "survey.view"
DIMENSIONS = tuple(Dimension.values)
GROUPINGS = ("touchpoint", "department", "team", "month")


def require_dashboard(user: Any) -> None:
    if not has_perm(user, RIGHT):
        raise Forbidden()


@dataclass(frozen=True)
class Filters(PeriodFilters):
    touchpoint: str = ""
    department: int | None = None
    team: int | None = None
    QUERY: ClassVar[tuple[str, ...]] = ("touchpoint", "department", "team")


def parse_filters(params: Mapping[str, Any], *, today: dt.date | None = None) -> Filters:
    """Filters from a query string or API call; ``Invalid`` with a message per field on bad input."""
    errors: dict[str, list[str]] = {}
    first, last = parse_period(params, errors, today=today)
    touchpoint = str(params.get("touchpoint") or "").strip()
    if touchpoint and touchpoint not in Touchpoint.values:
        errors.setdefault("touchpoint", []).append(_("Select a valid choice."))
    ids = {name: parse_id(params.get(name), name, errors) for name in ("department", "team")}
    for name, model in (("department", Department.objects), ("team", Team.objects)):
        pk = ids[name]
        if pk is not None and not model.filter(pk=pk).exists():
            errors.setdefault(name, []).append(_("Select a valid choice."))
    if errors:
        raise Invalid(errors=errors)
    return Filters(start=first, end=last, touchpoint=touchpoint, **ids)


def _filtered(qs: QuerySet[Any], filters: Filters, stamp: str) -> QuerySet[Any]:
    qs = qs.filter(**{f"{stamp}__gte": filters.start_at, f"{stamp}__lt": filters.end_at})
    if filters.touchpoint:
        qs = qs.filter(touchpoint=filters.touchpoint)
    if filters.department is not None:
        qs = qs.filter(department_id__in=access.subtree_ids({filters.department}))
    if filters.team is not None:
        qs = qs.filter(owner__teams__id=filters.team)
    return qs.order_by()


def responses_for(user: Any, filters: Filters) -> QuerySet[Response]:
    return _filtered(response_scope(user), filters, "submitted_at")


def invitations_for(user: Any, filters: Filters) -> QuerySet[Invitation]:
    return _filtered(invitation_scope(user), filters, "created_at")


# --- Results ---------------------------------------------------------------------------------
def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


@dataclass
class Scores:
    key: str
    label: str
    responses: int = 0
    rater: dict[str, float | None] = field(default_factory=lambda: dict.fromkeys(DIMENSIONS))
    nps_count: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    csat_count: int = 0
    csat_average: float | None = None
    satisfied: int = 0
    sent: int = 0
    answered: int = 0

    @property
    def nps(self) -> float | None:
        if not self.nps_count:
            return None
        return round(100.0 * (self.promoters - self.detractors) / self.nps_count, 1)

    @property
    def promoters_pct(self) -> float | None:
        return percent(self.promoters, self.nps_count)

    @property
    def detractors_pct(self) -> float | None:
        return percent(self.detractors, self.nps_count)

    @property
    def satisfied_pct(self) -> float | None:
        return percent(self.satisfied, self.csat_count)

    @property
    def response_rate(self) -> float | None:
        return percent(self.answered, self.sent)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "label": self.label, "responses": self.responses, "rater": dict(self.rater),
            "nps": {"score": self.nps, "count": self.nps_count, "promoters": self.promoters,
                    "passives": self.passives, "detractors": self.detractors,
                    "promoters_pct": self.promoters_pct, "detractors_pct": self.detractors_pct},
            "csat": {"average": self.csat_average, "count": self.csat_count, "satisfied": self.satisfied,
                     "satisfied_pct": self.satisfied_pct},
            "invitations": {"sent": self.sent, "answered": self.answered, "response_rate": self.response_rate},
        }


@dataclass
class Dashboard:
    filters: Filters
    overall: Scores
    by_touchpoint: list[Scores]
    by_department: list[Scores]
    by_team: list[Scores]
    by_month: list[Scores]


SCORE_AGGREGATES: dict[str, Any] = {
    "n": Count("id"),
    **{f"d_{d}": Avg(d) for d in DIMENSIONS},
    "nps_n": Count("id", filter=Q(nps__isnull=False)),
    "promoters": Count("id", filter=Q(nps__gte=9)),
    "passives": Count("id", filter=Q(nps__gte=7, nps__lte=8)),
    "detractors": Count("id", filter=Q(nps__lte=6)),
    "csat_n": Count("id", filter=Q(csat__isnull=False)),
    "csat_avg": Avg("csat"),
    "satisfied": Count("id", filter=Q(csat__gte=4)),
}
INVITATION_AGGREGATES: dict[str, Any] = {"sent": Count("id"), "answered": Count("id", filter=Q(answered_at__isnull=False))}


def _fill_scores(scores: Scores, row: Mapping[str, Any]) -> None:
    scores.responses = row["n"]
    scores.rater = {d: _round(row[f"d_{d}"]) for d in DIMENSIONS}
    scores.nps_count, scores.promoters = row["nps_n"], row["promoters"]
    scores.passives, scores.detractors = row["passives"], row["detractors"]
    scores.csat_count, scores.csat_average, scores.satisfied = row["csat_n"], _round(row["csat_avg"]), row["satisfied"]


def _grouped(qs: QuerySet[Any], grouping: str, stamp: str) -> tuple[QuerySet[Any], tuple[str, ...]]:
    """``qs`` with the grouping's key columns: (key, label) column names."""
    if grouping == "touchpoint":
        return qs, ("touchpoint",)
    if grouping == "department":
        return qs, ("department_id", "department__name")
    if grouping == "team":
        qs = qs.annotate(live_team=FilteredRelation("owner__teams", condition=Q(owner__teams__deleted_at__isnull=True)))
        return qs, ("live_team__id", "live_team__name")
    return qs.annotate(mk=month_key(stamp)), ("mk",)


def _key_label(grouping: str, row: Mapping[str, Any]) -> tuple[str, str]:
    touchpoints = dict(Touchpoint.choices)
    if grouping == "touchpoint":
        return row["touchpoint"], str(touchpoints.get(row["touchpoint"], row["touchpoint"]))
    if grouping == "department":
        return str(row["department_id"] or ""), row["department__name"] or _("No department")
    if grouping == "team":
        return str(row["live_team__id"] or ""), row["live_team__name"] or _("No team")
    month = key_month(row["mk"])
    return f"{month:%Y-%m}", f"{month:%Y-%m}"


def _groups(responses: QuerySet[Response], invitations: QuerySet[Invitation], grouping: str,
            filters: Filters) -> list[Scores]:
    groups: dict[str, Scores] = {}
    if grouping == "month":
        for month in filters.months:
            groups[f"{month:%Y-%m}"] = Scores(f"{month:%Y-%m}", f"{month:%Y-%m}")
    elif grouping == "touchpoint":
        for code, name in Touchpoint.choices:
            groups[code] = Scores(code, str(name))
    qs, columns = _grouped(responses, grouping, "submitted_at")
    for row in qs.values(*columns).annotate(**SCORE_AGGREGATES):
        key, label = _key_label(grouping, row)
        if grouping == "month" and key not in groups:
            continue
        _fill_scores(groups.setdefault(key, Scores(key, label)), row)
    qs, columns = _grouped(invitations, grouping, "created_at")
    for row in qs.values(*columns).annotate(**INVITATION_AGGREGATES):
        key, label = _key_label(grouping, row)
        if grouping == "month" and key not in groups:
            continue
        scores = groups.setdefault(key, Scores(key, label))
        scores.sent, scores.answered = row["sent"], row["answered"]
    out = list(groups.values())
    if grouping in ("department", "team"):
        out.sort(key=lambda s: (s.key == "", -(s.responses + s.sent), s.label))
    return out


def dashboard(user: Any, filters: Filters) -> Dashboard:
    """Every figure of the dashboard for ``user`` (``survey.view``, else Forbidden): ten grouped
    queries (responses and invitations, overall and by touchpoint, department, team, month)."""
    require_dashboard(user)
    responses, invitations = responses_for(user, filters), invitations_for(user, filters)
    overall = Scores("", _("All"))
    _fill_scores(overall, responses.aggregate(**SCORE_AGGREGATES))
    sent = invitations.aggregate(**INVITATION_AGGREGATES)
    overall.sent, overall.answered = sent["sent"], sent["answered"]
    return Dashboard(filters=filters, overall=overall,
                     **{f"by_{g}": _groups(responses, invitations, g, filters) for g in GROUPINGS})


def dashboard_as_dict(board: Dashboard) -> dict[str, Any]:
    f = board.filters
    return {
        "filters": {"date_from": f.start, "date_to": f.end, "touchpoint": f.touchpoint, "department": f.department,
                    "team": f.team},
        "dimensions": [{"key": code, "label": str(label)} for code, label in Dimension.choices],
        "overall": board.overall.as_dict(),
        **{f"by_{g}": [s.as_dict() for s in getattr(board, f"by_{g}")] for g in GROUPINGS},
    }


def options() -> dict[str, list[tuple[str, str]]]:
    return {
        "touchpoints": [(code, str(label)) for code, label in Touchpoint.choices],
        "departments": [(str(pk), name) for pk, name in Department.objects.order_by("path").values_list("pk", "name")],
        "teams": [(str(pk), name) for pk, name in Team.objects.order_by("name").values_list("pk", "name")],
    }
