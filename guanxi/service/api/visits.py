"""REST API of the service app: field visits (`/api/v1/visits`) and improvements (`/api/v1/improvements`).

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.pagination import CursorPagination, paginate

from guanxi.core.api import ErrorOut, Strict
from guanxi.core.errors import Conflict, Invalid
from guanxi.core.permissions import declare as requires
from guanxi.service.models import Case, Improvement, Visit
from guanxi.service.selectors import visits as reads
from guanxi.service.selectors.scope import case_scope, get_one, visit_scope
from guanxi.service.services import improvements as improvement_services
from guanxi.service.services import visits as services

router = Router(tags=["service"])


# --- Visits ---------------------------------------------------------------------------------------------
class VisitOut(Schema):
    id: int
    case: int = Field(..., alias="case_id")
    case_code: str
    purpose: str
    technician: int = Field(..., alias="technician_id")
    technician_name: str
    start: dt.datetime = Field(..., alias="scheduled_start")
    end: dt.datetime = Field(..., alias="scheduled_end")
    address: str
    state: str
    arrived_at: dt.datetime | None
    finished_at: dt.datetime | None
    report: str
    parts: str
    customer_signature: str
    customer_confirmed_at: dt.datetime | None
    customer_comment: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_case_code(obj: Visit) -> str:
        return obj.case.code

    @staticmethod
    def resolve_technician_name(obj: Visit) -> str:
        return obj.technician.name or obj.technician.username


class VisitReportOut(VisitOut):
    confirm_link: str = ""
    confirm_mailed: bool = False


class VisitIn(Strict):
    case: int
    purpose: str = ""
    technician: int
    start: dt.datetime
    end: dt.datetime
    address: str = ""


class VisitPatch(Strict):
    version: int
    purpose: str | None = None
    technician: int | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    address: str | None = None


class ReportIn(Strict):
    version: int
    report: str
    parts: str = ""
    arrived_at: dt.datetime
    finished_at: dt.datetime


class ConfirmIn(Strict):
    version: int | None = None
    signed_by: str
    comment: str = ""


class CancelIn(Strict):
    version: int | None = None
    reason: str


def _visit(request: HttpRequest, pk: int) -> Visit:
    return get_one(visit_scope, request.user, pk, "case", "technician")  # type: ignore[no-any-return]


@router.get("/visits", response=list[VisitOut])
@requires("visit.view")
@paginate(CursorPagination, ordering=("scheduled_start", "id"))
def visit_list(request: HttpRequest, technician: str = "", state: str = "", case: str = "", date_from: str = "",
               date_to: str = "") -> Any:
    """The visits the caller sees, by planned start: ``technician`` (``me`` or an id), ``state``,
    ``case`` (an id), ``date_from``/``date_to`` (dates; visits overlapping the range). A bad
    filter value → 422 naming it."""
    filters, errors = reads.parse_filters(request.user, request.GET)
    if errors:
        raise Invalid(errors=errors)
    return reads.visit_list_for(request.user, **filters)


@router.post("/visits", response={201: VisitOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut})
@requires("visit.add")
def visit_create(request: HttpRequest, payload: VisitIn) -> Any:
    """Schedule a visit on a case the caller sees (its owner, or a service manager in reach)."""
    case: Case = get_one(case_scope, request.user, payload.case, "account")
    visit = services.visit_schedule(actor=request.user, case=case, purpose=payload.purpose,
                                    technician=payload.technician, start=payload.start, end=payload.end,
                                    address=payload.address)
    return Status(201, _visit(request, visit.pk))


@router.get("/visits/{int:pk}", response=VisitOut)
@requires("visit.view")
def visit_get(request: HttpRequest, pk: int) -> Any:
    return _visit(request, pk)


@router.patch("/visits/{int:pk}", response={200: VisitOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut})
@requires("visit.change")
def visit_update(request: HttpRequest, pk: int, payload: VisitPatch) -> Any:
    """Reschedule or reassign a scheduled visit (``purpose``, ``technician``, ``start``, ``end``,
    ``address``) with the ``version`` read: stale → 409 and nothing changes."""
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    services.visit_update(actor=request.user, visit=_visit(request, pk), changes=data, expected_version=version)
    return _visit(request, pk)


@router.post("/visits/{int:pk}/report", response={200: VisitReportOut, 403: ErrorOut, 409: ErrorOut,
                                                   422: ErrorOut})
@requires("visit.change")
def visit_report(request: HttpRequest, pk: int, payload: ReportIn) -> Any:
    """The technician's (or the case owner's) report: the visit is done. The answer carries the
    customer's confirmation link once (``confirm_link``) and whether it was e-mailed."""
    visit = _visit(request, pk)
    services.visit_report(actor=request.user, visit=visit, report=payload.report, parts=payload.parts,
                          arrived_at=payload.arrived_at, finished_at=payload.finished_at,
                          expected_version=payload.version)
    out = _visit(request, pk)
    out.confirm_link = visit.confirm_link  # type: ignore[attr-defined]
    out.confirm_mailed = visit.confirm_mailed  # type: ignore[attr-defined]
    return out


@router.post("/visits/{int:pk}/confirm", response={200: VisitOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut})
@requires("visit.change")
def visit_confirm(request: HttpRequest, pk: int, payload: ConfirmIn) -> Any:
    """The customer signed on site (``signed_by``, ``comment``): a done visit is confirmed."""
    services.visit_confirm_on_site(actor=request.user, visit=_visit(request, pk), signed_by=payload.signed_by,
                                   comment=payload.comment, expected_version=payload.version)
    return _visit(request, pk)


@router.post("/visits/{int:pk}/cancel", response={200: VisitOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut})
@requires("visit.change")
def visit_cancel(request: HttpRequest, pk: int, payload: CancelIn) -> Any:
    """Cancel a scheduled visit with a ``reason``; the technician is told."""
    services.visit_cancel(actor=request.user, visit=_visit(request, pk), reason=payload.reason,
                          expected_version=payload.version)
    return _visit(request, pk)


# --- Improvements ------------------------------------------------------------------------------------------
class ImprovementOut(Schema):
    id: int
    code: str
    title: str
    description: str
    product: int | None = Field(None, alias="product_id")
    state: str
    release_note: str
    shipped_on: dt.date | None
    owner: int = Field(..., alias="owner_id")
    case_count: int = 0
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class ImprovementIn(Strict):
    title: str
    description: str = ""
    product: int | None = None
    owner: int | None = None


class ImprovementPatch(Strict):
    version: int
    title: str | None = None
    description: str | None = None
    product: int | None = None
    owner: int | None = None
    state: str | None = None
    note: str = ""


class CaseOut(Schema):
    id: int
    code: str
    kind: str
    title: str
    state: str
    account: int | None = Field(None, alias="account_id")
    owner: int = Field(..., alias="owner_id")
    wants_reply: bool


class LinkIn(Strict):
    case: int | str


class ShipIn(Strict):
    version: int | None = None
    release_note: str
    shipped_on: dt.date | None = None


def _improvement(request: HttpRequest, pk: int) -> Improvement:
    return get_one(lambda user: improvement_services.improvement_list_for(user), request.user,  # type: ignore[no-any-return]
                   pk)


@router.get("/improvements", response=list[ImprovementOut])
@requires("improvement.view")
@paginate(CursorPagination, ordering=("-id",))
def improvement_list(request: HttpRequest, state: str = "", q: str = "", product: str = "") -> Any:
    """Improvements, newest first, with their linked case count: ``state``, ``q`` (number, title or
    description), ``product`` (an id)."""
    return improvement_services.improvement_list_for(request.user, state=state, q=q.strip()[:100], product=product)


@router.post("/improvements", response={201: ImprovementOut, 403: ErrorOut, 422: ErrorOut})
@requires("improvement.manage")
def improvement_create(request: HttpRequest, payload: ImprovementIn) -> Any:
    """A proposed improvement (numbered GJ-…), owned by ``owner`` or the caller."""
    improvement = improvement_services.improvement_create(actor=request.user, **payload.model_dump())
    return Status(201, _improvement(request, improvement.pk))


@router.get("/improvements/{int:pk}", response=ImprovementOut)
@requires("improvement.view")
def improvement_get(request: HttpRequest, pk: int) -> Any:
    return _improvement(request, pk)


@router.patch("/improvements/{int:pk}", response={200: ImprovementOut, 409: ErrorOut, 422: ErrorOut})
@requires("improvement.manage")
def improvement_update(request: HttpRequest, pk: int, payload: ImprovementPatch) -> Any:
    """Change ``title``, ``description``, ``product``, ``owner`` and/or move the ``state``
    (``planned``, ``in_progress``, ``rejected`` with a ``note``, back to ``proposed``; shipping is
    POST …/ship). One ``version`` for both: stale → 409 and nothing changes."""
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    to = data.pop("state", None)
    note = data.pop("note", "")
    improvement = _improvement(request, pk)
    if to == Improvement.State.SHIPPED:
        raise Invalid(errors={"state": [_("Ship it with POST /api/v1/improvements/{id}/ship and a release note.")]})
    with transaction.atomic():
        if data:
            improvement_services.improvement_update(actor=request.user, improvement=improvement, changes=data,
                                                    expected_version=version)
            version = improvement.version
        if to is not None and to != improvement.state:
            improvement_services.improvement_move(actor=request.user, improvement=improvement, to=to, note=note,
                                                  expected_version=version)
        elif not data and int(version) != improvement.version:
            raise Conflict()
    return _improvement(request, pk)


@router.delete("/improvements/{int:pk}", response={204: None, 409: ErrorOut})
@requires("improvement.manage")
def improvement_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    """To the recycle bin (its linked cases stay linked for a restore)."""
    improvement_services.improvement_delete(actor=request.user, improvement=_improvement(request, pk),
                                            expected_version=version)
    return Status(204, None)


@router.get("/improvements/{int:pk}/cases", response=list[CaseOut])
@requires("improvement.view")
def improvement_cases(request: HttpRequest, pk: int) -> Any:
    """The linked cases the caller sees."""
    return list(improvement_services.linked_cases(request.user, _improvement(request, pk))[:1000])


@router.post("/improvements/{int:pk}/cases", response={201: CaseOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut})
@requires("improvement.view")
def improvement_link(request: HttpRequest, pk: int, payload: LinkIn) -> Any:
    """Link a suggestion or complaint the caller sees (``case``: its id or number); whoever
    manages improvements, or the case's owner."""
    improvement = _improvement(request, pk)
    case = improvement_services.case_by_code(request.user, payload.case)
    linked = improvement_services.improvement_link(actor=request.user, improvement=improvement, case=case)
    return Status(201, linked)


@router.delete("/improvements/{int:pk}/cases/{int:case_pk}", response={204: None, 403: ErrorOut, 404: ErrorOut})
@requires("improvement.view")
def improvement_unlink(request: HttpRequest, pk: int, case_pk: int) -> Any:
    improvement = _improvement(request, pk)
    case = get_one(case_scope, request.user, case_pk)
    improvement_services.improvement_unlink(actor=request.user, improvement=improvement, case=case)
    return Status(204, None)


@router.post("/improvements/{int:pk}/ship", response={200: ImprovementOut, 409: ErrorOut, 422: ErrorOut})
@requires("improvement.manage")
def improvement_ship(request: HttpRequest, pk: int, payload: ShipIn) -> Any:
    """Shipped on ``shipped_on`` (today by default) with the ``release_note`` the customers are
    told: every linked case's owner is notified, every sender who wanted a reply e-mailed once."""
    improvement_services.improvement_ship(actor=request.user, improvement=_improvement(request, pk),
                                          release_note=payload.release_note, shipped_on=payload.shipped_on,
                                          expected_version=payload.version)
    return _improvement(request, pk)
