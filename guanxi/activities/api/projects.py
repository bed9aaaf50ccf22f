"""REST endpoints of contact and follow-up: projects, phases and cost changes (R3.7).

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Router, Schema, Status, UploadedFile
from ninja.pagination import CursorPagination, paginate

from guanxi.activities.models import CostChange, Phase, Project
from guanxi.activities.selectors import cost_change_scope, get_one, phase_scope, project_scope
from guanxi.activities.selectors import projects as reads
from guanxi.activities.services import projects as services
from guanxi.core.api import ErrorOut, Strict
from guanxi.core.errors import Conflict, Invalid
from guanxi.core.permissions import declare as requires
from guanxi.customers.selectors import account_scope

router = Router(tags=["projects"])


# --- Schemas -----------------------------------------------------------------------------------
class ProjectOut(Schema):
    id: int
    account: int = Field(..., alias="account_id")
    account_name: str
    name: str
    goal: str
    owner: int = Field(..., alias="owner_id")
    owner_name: str
    starts_on: dt.date | None
    ends_on: dt.date | None
    budget: Decimal
    state: str
    phases_total: int
    phases_done: int
    agreed_cost: Decimal
    waiting_for_customer: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_account_name(obj: Project) -> str:
        return obj.account.name

    @staticmethod
    def resolve_owner_name(obj: Project) -> str:
        return str(obj.owner)

    @staticmethod
    def resolve_agreed_cost(obj: Project) -> Decimal:
        return (getattr(obj, "agreed_cost", None) or Decimal("0")).quantize(Decimal("0.01"))

    @staticmethod
    def resolve_waiting_for_customer(obj: Project) -> bool:
        return bool(getattr(obj, "has_pending", False))


class ProjectIn(Strict):
    account: int
    name: str
    goal: str = ""
    owner: int | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    budget: Decimal = Decimal("0")


class ProjectPatch(Strict):
    version: int
    name: str | None = None
    goal: str | None = None
    owner: int | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    budget: Decimal | None = None
    state: str | None = None


class PhaseOut(Schema):
    id: int
    project: int = Field(..., alias="project_id")
    position: int
    name: str
    goal: str
    owner: int = Field(..., alias="owner_id")
    starts_on: dt.date | None
    ends_on: dt.date | None
    cost: Decimal
    state: str
    pending_cost_change: int | None
    version: int

    @staticmethod
    def resolve_pending_cost_change(obj: Phase) -> int | None:
        pending = getattr(obj, "pending_id", ...)
        if pending is ...:
            found = reads.pending_of(obj)
            return found.pk if found else None
        return pending  # type: ignore[no-any-return]


class PhaseIn(Strict):
    name: str
    goal: str = ""
    owner: int | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    cost: Decimal = Decimal("0")


class PhasePatch(Strict):
    version: int
    name: str | None = None
    goal: str | None = None
    owner: int | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    # 1 = first; the other phases keep their order.
    position: int | None = None


class VersionIn(Strict):
    version: int | None = None


class CostChangeOut(Schema):
    id: int
    phase: int = Field(..., alias="phase_id")
    amount: Decimal
    reason: str
    state: str
    requested_by: int = Field(..., alias="requested_by_id")
    link_expires_at: dt.datetime | None
    decided_at: dt.datetime | None
    decided_via: str
    customer_name: str
    recorded_by: int | None = Field(None, alias="recorded_by_id")
    evidence: int | None = Field(None, alias="evidence_id")
    decision_note: str
    version: int
    created_at: dt.datetime


class CostChangeLinkOut(CostChangeOut):
    # The customer's signed link: returned once, when it is issued.
    approval_url: str


class CostChangeIn(Strict):
    amount: Decimal
    reason: str


class WithdrawIn(Strict):
    note: str = ""
    version: int | None = None


# --- Helpers -----------------------------------------------------------------------------------
def _project(request: HttpRequest, pk: int) -> Project:
    return get_one(lambda user: reads.with_progress(project_scope(user)), request.user, pk, "account", "owner")


def _phase(request: HttpRequest, pk: int) -> Phase:
    return get_one(phase_scope, request.user, pk, "project", "project__account")


def _change(request: HttpRequest, pk: int) -> CostChange:
    return get_one(cost_change_scope, request.user, pk, "phase", "phase__project")


def _with_link(request: HttpRequest, change: CostChange, token: str) -> CostChange:
    change.refresh_from_db()
    change.approval_url = request.build_absolute_uri(  # type: ignore[attr-defined]
        reverse("activities:cost-approval", args=[token]))
    return change


# --- Projects ----------------------------------------------------------------------------------
@router.get("/projects", response=list[ProjectOut])
@requires("project.view")
@paginate(CursorPagination, ordering=("-id",))
def project_list(request: HttpRequest, account: int | None = None, owner: int | None = None, state: str = "",
                 q: str = "", waiting: bool = False) -> Any:
    """Projects the caller sees, newest first: ``account``, ``owner``, ``state`` (active,
    done, cancelled), ``q`` (project or account name), ``waiting`` (a cost change waits)."""
    if state and state not in Project.State.values:
        raise Invalid(errors={"state": [_("Choose one of: %(values)s.") % {"values": ", ".join(Project.State.values)}]})
    return reads.project_list_for(request.user, account=account, owner=owner, state=state, q=q, waiting=waiting)


@router.post("/projects", response={201: ProjectOut, 422: ErrorOut})
@requires("project.add")
def project_create(request: HttpRequest, payload: ProjectIn) -> Any:
    data = payload.model_dump()
    account = account_scope(request.user).filter(pk=data.pop("account")).first()
    if account is None:
        raise Invalid(errors={"account": [_("No such account.")]})
    project = services.project_create(actor=request.user, account=account, **data)
    return Status(201, _project(request, project.pk))


@router.get("/projects/{int:pk}", response=ProjectOut)
@requires("project.view")
def project_get(request: HttpRequest, pk: int) -> Any:
    return _project(request, pk)


@router.patch("/projects/{int:pk}", response={200: ProjectOut, 422: ErrorOut})
@requires("project.change")
def project_update(request: HttpRequest, pk: int, payload: ProjectPatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    services.project_update(actor=request.user, project=_project(request, pk), changes=data,
                            expected_version=version)
    return _project(request, pk)


@router.delete("/projects/{int:pk}", response={204: None})
@requires("project.delete")
def project_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    services.project_delete(actor=request.user, project=_project(request, pk), expected_version=version)
    return Status(204, None)


# --- Phases ------------------------------------------------------------------------------------
@router.get("/projects/{int:pk}/phases", response=list[PhaseOut])
@requires("project.view")
def phase_list(request: HttpRequest, pk: int) -> Any:
    project = _project(request, pk)
    rows = reads.phases_of(project)
    for row in rows:
        row.phase.pending_id = row.pending.pk if row.pending else None  # type: ignore[attr-defined]
    return [row.phase for row in rows]


@router.post("/projects/{int:pk}/phases", response={201: PhaseOut, 422: ErrorOut})
@requires("project.change")
def phase_create(request: HttpRequest, pk: int, payload: PhaseIn) -> Any:
    phase = services.phase_add(actor=request.user, project=_project(request, pk), **payload.model_dump())
    return Status(201, phase)


@router.patch("/phases/{int:pk}", response={200: PhaseOut, 422: ErrorOut})
@requires("project.change")
def phase_update(request: HttpRequest, pk: int, payload: PhasePatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    position = data.pop("position", None)
    phase = _phase(request, pk)
    if data:
        services.phase_update(actor=request.user, phase=phase, changes=data, expected_version=version)
    elif version != phase.version:
        raise Conflict()
    if position is not None:
        services.phase_move(actor=request.user, phase=phase, position=position)
    return _phase(request, pk)


@router.post("/phases/{int:pk}/start", response={200: PhaseOut, 422: ErrorOut})
@requires("project.change")
def phase_start(request: HttpRequest, pk: int, payload: VersionIn) -> Any:
    """planned → active; 422 ``cost_change_pending`` while a cost change waits for the customer."""
    return services.phase_start(actor=request.user, phase=_phase(request, pk), expected_version=payload.version)


@router.post("/phases/{int:pk}/complete", response={200: PhaseOut, 422: ErrorOut})
@requires("project.change")
def phase_complete(request: HttpRequest, pk: int, payload: VersionIn) -> Any:
    """active → done; 422 ``cost_change_pending`` while a cost change waits for the customer."""
    return services.phase_complete(actor=request.user, phase=_phase(request, pk), expected_version=payload.version)


# --- Cost changes ------------------------------------------------------------------------------
@router.get("/phases/{int:pk}/cost-changes", response=list[CostChangeOut])
@requires("project.view")
def cost_change_list(request: HttpRequest, pk: int) -> Any:
    phase = _phase(request, pk)
    return list(CostChange.objects.filter(phase=phase).order_by("-id"))


@router.post("/phases/{int:pk}/cost-changes", response={201: CostChangeLinkOut, 422: ErrorOut})
@requires("project.change")
def cost_change_create(request: HttpRequest, pk: int, payload: CostChangeIn) -> Any:
    """Ask the customer; the answer carries ``approval_url``, the customer's link (shown once)."""
    change, token = services.cost_change_request(actor=request.user, phase=_phase(request, pk),
                                                 amount=payload.amount, reason=payload.reason)
    return Status(201, _with_link(request, change, token))


@router.post("/cost-changes/{int:pk}/link", response={200: CostChangeLinkOut, 422: ErrorOut})
@requires("project.change")
def cost_change_link(request: HttpRequest, pk: int) -> Any:
    """Issue a new link (new expiry); every earlier link of this cost change stops working."""
    change = _change(request, pk)
    token = services.cost_change_reissue(actor=request.user, change=change)
    return _with_link(request, change, token)


@router.post("/cost-changes/{int:pk}/withdraw", response={200: CostChangeOut, 422: ErrorOut})
@requires("project.change")
def cost_change_withdraw(request: HttpRequest, pk: int, payload: WithdrawIn) -> Any:
    return services.cost_change_withdraw(actor=request.user, change=_change(request, pk), note=payload.note,
                                         expected_version=payload.version)


@router.post("/cost-changes/{int:pk}/record-decision", response={200: CostChangeOut, 422: ErrorOut})
@requires("project.change")
def cost_change_record_decision(request: HttpRequest, pk: int, decision: Form[str], customer_name: Form[str],
                                note: Form[str] = "", evidence_id: Form[int | None] = None,
                                version: Form[int | None] = None, evidence: File[UploadedFile | None] = None) -> Any:
    """The customer's decision given in writing (multipart): ``decision`` approve or decline,
    ``customer_name``, ``note``, and the evidence — an ``evidence`` file or the
    ``evidence_id`` of a file already attached to the account (one is required)."""
    if decision not in ("approve", "decline"):
        raise Invalid(errors={"decision": [_("Choose approve or decline.")]})
    change = _change(request, pk)
    return services.cost_change_record_decision(actor=request.user, change=change, approve=decision == "approve",
                                                customer_name=customer_name, note=note, evidence=evidence,
                                                evidence_id=evidence_id, expected_version=version)
