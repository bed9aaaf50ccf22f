"""REST endpoints of contact and follow-up: the written confirmation of an interaction and the
weekly status report of an account or a project (R3.4).

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Router, Schema

from guanxi.activities.models import FollowUp
from guanxi.activities.selectors import get_one, interaction_scope
from guanxi.activities.selectors import reports as reads
from guanxi.activities.services import documents
from guanxi.activities.views.confirm import download
from guanxi.core.api import ErrorOut
from guanxi.core.errors import Invalid
from guanxi.core.permissions import declare as requires
from guanxi.core.services import records
from guanxi.customers.models import Account

router = Router(tags=["confirm"])


class Ref(Schema):
    id: int
    name: str


class InteractionItem(Schema):
    id: int
    kind: str
    purpose: str
    occurred_at: dt.datetime
    subject: str
    summary: str
    outcome: str
    agreements: list[str]
    owner: Ref
    their_people: list[Ref]


class FollowUpItem(Schema):
    id: int
    title: str
    state: str
    due_at: dt.datetime
    done_at: dt.datetime | None
    overdue: bool
    owner: Ref
    contact: Ref | None
    outcome: str


class CareItem(Schema):
    id: int
    occasion: str
    date: dt.date
    contact: Ref | None
    message: str
    gift: str


class SupportItem(Schema):
    id: int
    kind: str
    description: str
    value: Decimal | None
    given_on: dt.date
    outcome: str


class PhaseItem(Schema):
    id: int
    position: int
    name: str
    state: str
    owner: Ref
    starts_on: dt.date | None
    ends_on: dt.date | None
    cost: Decimal


class CostChangeItem(Schema):
    id: int
    phase: int
    amount: Decimal
    reason: str
    state: str
    decided_at: dt.datetime | None


class ProjectItem(Schema):
    id: int
    name: str
    state: str
    goal: str
    phases: list[PhaseItem]
    cost_changes_pending: list[CostChangeItem]
    cost_changes_decided: list[CostChangeItem]


class WeeklyReportOut(Schema):
    week: str
    starts_on: dt.date
    ends_on: dt.date
    title: str
    account: Ref
    project: Ref | None
    interactions: list[InteractionItem]
    followups_done: list[FollowUpItem]
    followups_open: list[FollowUpItem]
    followups_next_week: list[FollowUpItem]
    care: list[CareItem]
    support: list[SupportItem]
    projects: list[ProjectItem]


def _ref(obj: Any) -> dict[str, Any] | None:
    return {"id": obj.pk, "name": str(obj)} if obj is not None else None


def _followup(f: FollowUp) -> dict[str, Any]:
    return {"id": f.pk, "title": f.title, "state": f.state, "due_at": f.due_at, "done_at": f.done_at,
            "overdue": f.is_overdue, "owner": _ref(f.owner), "contact": _ref(f.contact), "outcome": f.outcome}


def _change(c: Any) -> dict[str, Any]:
    return {"id": c.pk, "phase": c.phase_id, "amount": c.amount, "reason": c.reason, "state": c.state,
            "decided_at": c.decided_at}


def report_data(report: reads.WeeklyReport) -> dict[str, Any]:
    """The weekly report as plain data (the JSON answer)."""
    return {
        "week": report.week.label, "starts_on": report.week.monday, "ends_on": report.week.sunday,
        "title": report.title, "account": _ref(report.account), "project": _ref(report.project),
        "interactions": [{
            "id": i.pk, "kind": i.kind, "purpose": i.purpose, "occurred_at": i.occurred_at, "subject": i.subject,
            "summary": i.summary, "outcome": i.outcome,
            "agreements": [line.strip() for line in i.agreements.splitlines() if line.strip()],
            "owner": _ref(i.owner), "their_people": [_ref(c) for c in i.their_people.all()],
        } for i in report.interactions],
        "followups_done": [_followup(f) for f in report.followups_done],
        "followups_open": [_followup(f) for f in report.followups_open],
        "followups_next_week": [_followup(f) for f in report.followups_next_week],
        "care": [{"id": c.pk, "occasion": c.occasion, "date": c.date, "contact": _ref(c.contact),
                  "message": c.message, "gift": c.gift} for c in report.care],
        "support": [{"id": s.pk, "kind": s.kind, "description": s.description, "value": s.value,
                     "given_on": s.given_on, "outcome": s.outcome} for s in report.support],
        "projects": [{
            "id": p.project.pk, "name": p.project.name, "state": p.project.state, "goal": p.project.goal,
            "phases": [{"id": ph.pk, "position": ph.position, "name": ph.name, "state": ph.state,
                        "owner": _ref(ph.owner), "starts_on": ph.starts_on, "ends_on": ph.ends_on, "cost": ph.cost}
                       for ph in p.phases],
            "cost_changes_pending": [_change(c) for c in p.pending],
            "cost_changes_decided": [_change(c) for c in p.decided],
        } for p in report.projects],
    }


def _binary(content_type: str, description: str) -> dict[str, Any]:
    """The OpenAPI description of a 200 answer that is a file, not JSON."""
    return {"responses": {200: {"description": description,
                                "content": {content_type: {"schema": {"type": "string", "format": "binary"}}}}}}


def _format(value: str) -> str:
    if value not in {"json", "pdf"}:
        raise Invalid(errors={"format": [_("Choose json or pdf.")]})
    return value


def _answer(request: HttpRequest, report: reads.WeeklyReport, fmt: str) -> Any:
    if fmt == "pdf":
        return download(*documents.weekly_report_export(actor=request.user, report=report))
    return report_data(report)


@router.get("/interactions/{int:pk}/confirmation.pdf", response={200: None, 404: ErrorOut},
            openapi_extra=_binary("application/pdf", "The confirmation as a PDF."))
@requires("interaction.view")
def confirmation_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The written confirmation (minutes) of an interaction as a PDF (``application/pdf``)."""
    interaction = get_one(interaction_scope, request.user, pk, "account", "owner")
    return download(*documents.confirmation_export(actor=request.user, interaction=interaction, fmt="pdf"))


@router.get("/interactions/{int:pk}/confirmation.eml", response={200: None, 404: ErrorOut},
            openapi_extra=_binary("message/rfc822", "The confirmation as an e-mail draft, the PDF attached."))
@requires("interaction.view")
def confirmation_eml(request: HttpRequest, pk: int) -> HttpResponse:
    """The confirmation as an e-mail draft (``message/rfc822``) to their people present, the PDF attached."""
    interaction = get_one(interaction_scope, request.user, pk, "account", "owner")
    return download(*documents.confirmation_export(actor=request.user, interaction=interaction, fmt="eml"))


@router.get("/accounts/{int:pk}/weekly-report", response={200: WeeklyReportOut, 404: ErrorOut, 422: ErrorOut})
@requires("interaction.view")
def account_weekly_report(request: HttpRequest, pk: int, week: str = "", format: str = "json") -> Any:
    """The weekly status report of an account for an ISO ``week`` (``2026-W48``; default this week);
    ``format=pdf`` answers the PDF instead of JSON."""
    account = records.get_visible(request.user, Account, pk)
    fmt, chosen = _format(format), reads.parse_week(week)
    return _answer(request, reads.weekly_report(request.user, account, chosen), fmt)


@router.get("/projects/{int:pk}/weekly-report", response={200: WeeklyReportOut, 404: ErrorOut, 422: ErrorOut})
@requires("project.view")
def project_weekly_report(request: HttpRequest, pk: int, week: str = "", format: str = "json") -> Any:
    """The weekly status report of one project (its phases and cost changes, and its account's week)."""
    project = reads.project_for_report(request.user, pk)
    fmt, chosen = _format(format), reads.parse_week(week)
    return _answer(request, reads.weekly_report(request.user, project.account, chosen, project=project), fmt)
