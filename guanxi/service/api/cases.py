"""REST API of the service app: cases (`/api/v1/cases`) — complaints, suggestions and service
tickets — their workflow, handling steps, reply and review, hand-overs, events and files.

Every read goes through ``scope.case_scope`` (a hidden case is 404); every write calls the
same service as the pages (only the owner moves a case: others get 403 with the owner's
name). No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from typing import Any

from django.http import FileResponse, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, File, Router, Schema, Status, UploadedFile
from ninja.pagination import CursorPagination, paginate

from guanxi.core.api import ErrorOut, Strict
from guanxi.core.errors import Invalid, NotFound
from guanxi.core.permissions import declare as requires
from guanxi.customers.models import Contact
from guanxi.customers.selectors import account_scope
from guanxi.service.models import Case, CaseAttachment, CaseEvent, Channel, HandlingStep, Handover
from guanxi.service.selectors import cases as reads
from guanxi.service.services import attachments as attachment_services
from guanxi.service.services import calendar as calendars
from guanxi.service.services import cases as services
from guanxi.service.services import handovers, intake
from guanxi.service.services import sla as sla_services

router = Router(tags=["service"])

# The channels a caller may name when it records a case through the API (the public form and
# mail have their own doors).
API_CHANNELS = (Channel.STAFF, Channel.HOTLINE, Channel.VISIT, Channel.CARD, Channel.API)


class CaseOut(Schema):
    id: int
    code: str
    kind: str
    ticket_type: str
    title: str
    description: str
    channel: str
    category: int | None = Field(None, alias="category_id")
    category_name: str
    severity: str
    product: int | None = Field(None, alias="product_id")
    order: int | None = Field(None, alias="order_id")
    account: int | None = Field(None, alias="account_id")
    account_name: str
    contact: int | None = Field(None, alias="contact_id")
    sender_name: str
    sender_company: str
    sender_phone: str
    sender_email: str
    wants_reply: bool
    state: str
    owner: int = Field(..., alias="owner_id")
    owner_name: str
    department: int | None = Field(None, alias="department_id")
    received_by: int | None = Field(None, alias="received_by_id")
    received_at: dt.datetime
    proposal: str
    reply: str
    review_state: str
    reviewed_by: int | None = Field(None, alias="reviewed_by_id")
    review_note: str
    resolution: str
    reopen_count: int
    first_response_due: dt.datetime | None
    resolution_due: dt.datetime | None
    first_responded_at: dt.datetime | None
    resolved_at: dt.datetime | None
    confirmed_at: dt.datetime | None
    closed_at: dt.datetime | None
    response_breached: bool
    resolution_breached: bool
    escalation_level: int
    sla: dict[str, Any]
    confirm_url: str | None = None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_category_name(obj: Case) -> str:
        return obj.category.name if obj.category_id and obj.category else ""

    @staticmethod
    def resolve_account_name(obj: Case) -> str:
        return obj.account.name if obj.account_id and obj.account else ""

    @staticmethod
    def resolve_owner_name(obj: Case) -> str:
        return str(obj.owner)

    @staticmethod
    def resolve_confirm_url(obj: Case) -> str | None:
        return getattr(obj, "confirm_link", None)

    @staticmethod
    def resolve_sla(obj: Case, context: Any) -> dict[str, Any]:
        """The SLA as the page shows it (one calendar per request); due times as ISO text."""
        request = context["request"] if context else None
        cal = getattr(request, "_service_calendar", None)
        if cal is None:
            cal = calendars.current()
            if request is not None:
                request._service_calendar = cal
        status = sla_services.status(obj, timezone.now(), calendar=cal)
        timers = {}
        for name in ("response", "resolution"):
            timer = status.get(name)
            timers[name] = None if timer is None else {
                "due": timer["due"].isoformat() if timer["due"] else None, "running": timer["running"],
                "state": timer["state"], "minutes_left": timer["minutes_left"],
                "overdue_minutes": timer["overdue_minutes"]}
        return {"state": status["state"], "escalation_level": status["escalation_level"], **timers}


class CaseIn(Strict):
    kind: str = "complaint"
    title: str
    description: str
    channel: str = Channel.API
    category: int | None = None
    severity: str = "normal"
    ticket_type: str = ""
    product: int | None = None
    order: int | None = None
    account: int | None = None
    contact: int | None = None
    sender_name: str = ""
    sender_company: str = ""
    sender_phone: str = ""
    sender_email: str = ""
    wants_reply: bool = True
    received_at: dt.datetime | None = None


class CasePatch(Strict):
    version: int
    kind: str | None = None
    title: str | None = None
    description: str | None = None
    category: int | None = None
    severity: str | None = None
    ticket_type: str | None = None
    product: int | None = None
    order: int | None = None
    sender_name: str | None = None
    sender_company: str | None = None
    sender_phone: str | None = None
    sender_email: str | None = None
    wants_reply: bool | None = None


class MoveIn(Strict):
    to: str
    note: str = ""
    version: int | None = None


class StepIn(Strict):
    step: str
    note: str


class StepOut(Schema):
    id: int
    step: str
    note: str
    actor: int = Field(..., alias="actor_id")
    at: dt.datetime


class ReplyIn(Strict):
    proposal: str = ""
    reply: str
    version: int


class ReviewIn(Strict):
    approve: bool
    note: str = ""
    version: int | None = None


class MatchIn(Strict):
    account: int
    contact: int | None = None
    version: int | None = None


class HandoverIn(Strict):
    to_user: int
    note: str = ""


class HandoverOut(Schema):
    id: int
    case: int = Field(..., alias="case_id")
    from_user: int = Field(..., alias="from_user_id")
    to_user: int = Field(..., alias="to_user_id")
    note: str
    state: str
    answer: str
    decided_at: dt.datetime | None
    created_at: dt.datetime
    version: int


class AnswerIn(Strict):
    answer: str = ""
    version: int | None = None


class WithdrawIn(Strict):
    note: str = ""
    version: int | None = None


class EventOut(Schema):
    id: int
    type: str
    at: dt.datetime
    actor: int | None = Field(None, alias="actor_id")
    from_state: str
    to_state: str
    to_user: int | None = Field(None, alias="to_user_id")
    note: str


class AttachmentOut(Schema):
    id: int
    original_name: str
    content_type: str
    size: int
    uploaded_by: int | None = Field(None, alias="uploaded_by_id")
    created_at: dt.datetime
    download: str

    @staticmethod
    def resolve_download(obj: CaseAttachment) -> str:
        return f"/api/v1/cases/{obj.case_id}/attachments/{obj.pk}/download"


class LinkOut(Schema):
    url: str
    mailed: bool


def _case(request: HttpRequest, pk: int) -> Case:
    return reads.get_case(request.user, pk)


# --- Cases ------------------------------------------------------------------------------------
@router.get("/cases", response=list[CaseOut])
@requires("case.view")
@paginate(CursorPagination, ordering=("-id",))
def case_list(request: HttpRequest, kind: str = "", state: str = "", status: str = "", mine: str = "",
              team: str = "", owner: str = "", category: str = "", severity: str = "", channel: str = "",
              sla: str = "", unmatched: str = "", account: str = "", q: str = "", received_from: str = "",
              received_to: str = "") -> Any:
    """The cases the caller sees, newest first, with the list page's filters: ``kind``
    (complaint/suggestion/ticket), ``state``, ``status`` (open/closed), ``mine``/``team``/
    ``unmatched`` (1), ``owner``/``category``/``account`` (ids), ``severity``, ``channel``,
    ``sla`` (overdue/at_risk), ``q`` (number, subject, sender, phone), ``received_from``/
    ``received_to`` (ISO dates). Bad values are ignored."""
    filters = reads.parse_filters(request.user, request.GET)
    filters.pop("sort", None)
    return reads.case_list_for(request.user, **filters).select_related("owner")


@router.post("/cases", response={201: CaseOut, 404: ErrorOut, 422: ErrorOut})
@requires("case.add")
def case_create(request: HttpRequest, payload: CaseIn) -> Any:
    """Record a case taken by the caller, who becomes its owner (first responder). ``channel``:
    staff, hotline, visit, card or api (the default). Without ``account`` the sender is matched
    to an account and contact when that is unambiguous. Honours ``Idempotency-Key``."""
    data = payload.model_dump()
    if data["channel"] not in API_CHANNELS:
        raise Invalid(errors={"channel": [_("Choose one of: %(channels)s.") % {"channels": ", ".join(API_CHANNELS)}]})
    if data["account"] is not None and not account_scope(request.user).filter(pk=data["account"]).exists():
        raise NotFound()
    case = intake.case_receive(actor=request.user, **data)
    return Status(201, _case(request, case.pk))


@router.get("/cases/{int:pk}", response=CaseOut)
@requires("case.view")
def case_get(request: HttpRequest, pk: int) -> Any:
    return _case(request, pk)


@router.patch("/cases/{int:pk}", response={200: CaseOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut})
@requires("case.change")
def case_update(request: HttpRequest, pk: int, payload: CasePatch) -> Any:
    """Change the subject, description, kind, category, severity, ticket type, product, order or
    sender (owner only). ``version`` is required: stale → 409 and nothing changes."""
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    services.case_update(actor=request.user, case=_case(request, pk), changes=data, expected_version=version)
    return _case(request, pk)


@router.delete("/cases/{int:pk}", response={204: None, 403: ErrorOut, 409: ErrorOut})
@requires("case.delete")
def case_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    """Move the case to the recycle bin (restore: ``POST /recycle-bin/service.case/{id}/restore``)."""
    services.case_delete(actor=request.user, case=_case(request, pk), expected_version=version)
    return Status(204, None)


# --- The workflow -------------------------------------------------------------------------------
@router.post("/cases/{int:pk}/move", response={200: CaseOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut})
@requires("case.change")
def case_move(request: HttpRequest, pk: int, payload: MoveIn) -> Any:
    """Move the case ``to`` acknowledged, investigating (from resolved: reopen, with a ``note``),
    proposed, resolved, confirmed (the customer confirmed by phone: ``note``) or closed. Owner
    only. Resolving answers the customer's link once in ``confirm_url``."""
    case = _case(request, pk)
    services.case_move(actor=request.user, case=case, to=payload.to, note=payload.note,
                       expected_version=payload.version)
    fresh = _case(request, pk)
    fresh.confirm_link = getattr(case, "confirm_link", None)  # type: ignore[attr-defined]
    return fresh


@router.post("/cases/{int:pk}/confirm-link", response={201: LinkOut, 403: ErrorOut, 422: ErrorOut})
@requires("case.change")
def case_confirm_link(request: HttpRequest, pk: int) -> Any:
    """A new link for the customer of a resolved case (the previous one stops working)."""
    case = _case(request, pk)
    url = services.case_confirm_link(actor=request.user, case=case)
    return Status(201, {"url": url, "mailed": bool(case.wants_reply and case.sender_email)})


@router.get("/cases/{int:pk}/steps", response=list[StepOut])
@requires("case.view")
def step_list(request: HttpRequest, pk: int) -> Any:
    return reads.steps_of(_case(request, pk))


@router.post("/cases/{int:pk}/steps", response={201: StepOut, 403: ErrorOut, 422: ErrorOut})
@requires("case.change")
def step_create(request: HttpRequest, pk: int, payload: StepIn) -> Any:
    """Record a handling step: ``step`` listen, clarify, propose, apologise or follow_up."""
    row: HandlingStep = services.step_add(actor=request.user, case=_case(request, pk), step=payload.step,
                                          note=payload.note)
    return Status(201, row)


@router.post("/cases/{int:pk}/reply", response={200: CaseOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut})
@requires("case.change")
def case_reply(request: HttpRequest, pk: int, payload: ReplyIn) -> Any:
    """Set the proposed solution and the reply to the customer (owner only); when the category
    needs a review the reply waits for a supervisor (``review_state`` pending)."""
    services.reply_set(actor=request.user, case=_case(request, pk), proposal=payload.proposal, reply=payload.reply,
                       expected_version=payload.version)
    return _case(request, pk)


@router.post("/cases/{int:pk}/review", response={200: CaseOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut})
@requires("case.review")
def case_review(request: HttpRequest, pk: int, payload: ReviewIn) -> Any:
    """Approve the pending reply, or return it (``approve`` false) with a ``note``."""
    services.reply_review(actor=request.user, case=_case(request, pk), approve=payload.approve, note=payload.note,
                          expected_version=payload.version)
    return _case(request, pk)


@router.post("/cases/{int:pk}/match", response={200: CaseOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut})
@requires("case.change")
def case_match(request: HttpRequest, pk: int, payload: MatchIn) -> Any:
    """Link the case to an ``account`` the caller sees (and one of its ``contact``s): the owner,
    or whoever sees unmatched senders."""
    case = _case(request, pk)
    account = account_scope(request.user).filter(pk=payload.account).first()
    contact = Contact.objects.filter(pk=payload.contact).first() if payload.contact is not None else None
    if payload.contact is not None and contact is None:
        raise Invalid(errors={"contact": [_("Choose a contact of this account.")]})
    services.case_match(actor=request.user, case=case, account=account, contact=contact,
                        expected_version=payload.version)
    return _case(request, pk)


# --- Hand-overs ---------------------------------------------------------------------------------
@router.get("/cases/{int:pk}/handovers", response=list[HandoverOut])
@requires("case.view")
def handover_list(request: HttpRequest, pk: int) -> Any:
    return reads.handovers_of(_case(request, pk))


@router.post("/cases/{int:pk}/handovers", response={201: HandoverOut, 403: ErrorOut, 422: ErrorOut})
@requires("case.change")
def handover_create(request: HttpRequest, pk: int, payload: HandoverIn) -> Any:
    """Offer the case to a colleague (owner only); it stays the owner's until they accept."""
    return Status(201, handovers.handover_offer(actor=request.user, case=_case(request, pk), to_user=payload.to_user,
                                                note=payload.note))


def _handover(request: HttpRequest, pk: int) -> Handover:
    return reads.get_handover(request.user, pk)


@router.post("/case-handovers/{int:pk}/accept", response={200: HandoverOut, 403: ErrorOut, 409: ErrorOut,
                                                          422: ErrorOut})
@requires("case.change")
def handover_accept(request: HttpRequest, pk: int, payload: AnswerIn) -> Any:
    """Take the case over (only the person it is offered to)."""
    return handovers.handover_accept(actor=request.user, handover=_handover(request, pk), answer=payload.answer,
                                     expected_version=payload.version)


@router.post("/case-handovers/{int:pk}/decline", response={200: HandoverOut, 403: ErrorOut, 409: ErrorOut,
                                                           422: ErrorOut})
@requires("case.change")
def handover_decline(request: HttpRequest, pk: int, payload: AnswerIn) -> Any:
    """Decline the offer with an ``answer`` (required)."""
    return handovers.handover_decline(actor=request.user, handover=_handover(request, pk), answer=payload.answer,
                                      expected_version=payload.version)


@router.post("/case-handovers/{int:pk}/withdraw", response={200: HandoverOut, 403: ErrorOut, 409: ErrorOut,
                                                            422: ErrorOut})
@requires("case.change")
def handover_withdraw(request: HttpRequest, pk: int, payload: WithdrawIn) -> Any:
    """Take back an open offer (whoever made it)."""
    return handovers.handover_withdraw(actor=request.user, handover=_handover(request, pk), note=payload.note,
                                       expected_version=payload.version)


# --- The story and the files ------------------------------------------------------------------
@router.get("/cases/{int:pk}/events", response=list[EventOut])
@requires("case.view")
def event_list(request: HttpRequest, pk: int) -> Any:
    """The case's story, oldest first: receipt, state changes, hand-overs, replies, reviews,
    SLA warnings and escalations, the customer's answer."""
    return list(CaseEvent.objects.filter(case=_case(request, pk)).order_by("at", "id")[:500])


@router.get("/cases/{int:pk}/attachments", response=list[AttachmentOut])
@requires("case.view")
def attachment_list(request: HttpRequest, pk: int) -> Any:
    return reads.attachments_of(_case(request, pk))


@router.post("/cases/{int:pk}/attachments", response={201: AttachmentOut, 403: ErrorOut, 422: ErrorOut})
@requires("case.change")
def attachment_upload(request: HttpRequest, pk: int, file: File[UploadedFile]) -> Any:
    """Add a file (multipart ``file``; the owner or a supervisor; S12 checks and size limit)."""
    return Status(201, attachment_services.attach(actor=request.user, case=_case(request, pk), upload=file))


@router.get("/cases/{int:pk}/attachments/{int:attachment_pk}/download", response={200: None})
@requires("case.view")
def attachment_download(request: HttpRequest, pk: int, attachment_pk: int) -> Any:
    """The file, always as a download (never shown inline)."""
    case = _case(request, pk)
    found = CaseAttachment.objects.filter(case=case, pk=attachment_pk).first()
    if found is None:
        raise NotFound()
    response = FileResponse(found.file.open("rb"), as_attachment=True, filename=found.original_name,
                            content_type=found.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
