"""REST API: leads (`/api/v1/leads`) — list, get, capture (Idempotency-Key honoured), edit
with ``version``, delete to the recycle bin, and the actions: assign, working, qualify,
disqualify, convert (with the existing accounts that look the same).

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import CursorPagination, paginate

from guanxi.core.api import ErrorOut, Strict
from guanxi.core.errors import NotFound
from guanxi.core.permissions import declare as requires
from guanxi.customers.selectors import account_scope
from guanxi.sales.models import Lead
from guanxi.sales.selectors import leads as reads
from guanxi.sales.services import lead_convert as converting
from guanxi.sales.services import leads as service

router = Router(tags=["leads"])


class LeadOut(Schema):
    id: int
    code: str
    company: str
    person_name: str
    title: str
    mobile: str
    phone: str
    email: str
    wechat: str
    province: str
    city: str
    credit_code: str
    interest: str
    products: list[int]
    estimated_amount: Decimal | None
    source: str
    source_detail: str
    state: str
    disqualify_reason: str
    notes: str
    owner: int | None = Field(None, alias="owner_id")
    owner_name: str | None
    department: int | None = Field(None, alias="department_id")
    created_by: int | None = Field(None, alias="created_by_id")
    assigned_at: dt.datetime | None
    converted_at: dt.datetime | None
    account: int | None = Field(None, alias="account_id")
    contact: int | None = Field(None, alias="contact_id")
    opportunity: int | None = Field(None, alias="opportunity_id")
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_owner_name(obj: Lead) -> str | None:
        return str(obj.owner) if obj.owner_id else None

    @staticmethod
    def resolve_products(obj: Lead) -> list[int]:
        return [p.pk for p in obj.products.all()]


class LeadIn(Strict):
    source: str = Lead.Source.API
    company: str = ""
    person_name: str = ""
    title: str = ""
    mobile: str = ""
    phone: str = ""
    email: str = ""
    wechat: str = ""
    province: str = ""
    city: str = ""
    credit_code: str = ""
    interest: str = ""
    products: list[int] = []
    estimated_amount: Decimal | None = None
    source_detail: str = ""
    notes: str = ""
    # Absent: the caller; null: unassigned; an id: a salesperson the caller manages (lead.assign).
    owner: int | None = None


class LeadPatch(Strict):
    version: int
    company: str | None = None
    person_name: str | None = None
    title: str | None = None
    mobile: str | None = None
    phone: str | None = None
    email: str | None = None
    wechat: str | None = None
    province: str | None = None
    city: str | None = None
    credit_code: str | None = None
    interest: str | None = None
    estimated_amount: Decimal | None = None
    source: str | None = None
    source_detail: str | None = None
    notes: str | None = None


class VersionIn(Strict):
    version: int | None = None


class AssignIn(Strict):
    owner: int
    version: int | None = None
    note: str = ""


class DisqualifyIn(Strict):
    reason: str
    version: int | None = None


class NewAccountIn(Strict):
    name: str | None = None
    credit_code: str | None = None
    phone: str | None = None
    email: str | None = None
    province: str | None = None
    city: str | None = None


class ContactIn(Strict):
    name: str | None = None
    title: str | None = None
    mobile: str | None = None
    phone: str | None = None
    email: str | None = None
    wechat: str | None = None


class OpportunityIn(Strict):
    name: str | None = None
    amount: Decimal | None = None
    expected_close: dt.date | None = None
    pipeline: int | None = None
    description: str | None = None


class ConvertIn(Strict):
    version: int | None = None
    # An existing account the caller sees; absent or null: a new account from the lead.
    account: int | None = None
    new_account: NewAccountIn | None = None
    confirm_new_account: bool = False
    create_contact: bool = True
    contact: ContactIn | None = None
    opportunity: OpportunityIn | None = None


class ConvertOut(Schema):
    lead: LeadOut
    account: int
    account_created: bool
    contact: int | None
    contact_created: bool
    opportunity: int
    opportunity_code: str


class CandidateOut(Schema):
    id: int
    code: str
    name: str
    owner_name: str | None
    reasons: list[str]


class CandidatesOut(Schema):
    accounts: list[CandidateOut]
    hidden: list[str]
    blocks_new_account: bool


def _lead(request: HttpRequest, pk: int) -> Lead:
    return reads.lead_for(request.user, pk)


def _fresh(request: HttpRequest, pk: int) -> Lead:
    return _lead(request, pk)


def _fresh_or_created(request: HttpRequest, lead: Lead) -> Lead:
    """The lead as the caller now sees it; one that just left the caller's sight (handed to
    nobody the caller sees) is answered as it was written."""
    try:
        return _fresh(request, lead.pk)
    except NotFound:
        return lead


@router.get("/leads", response=list[LeadOut])
@requires("lead.view")
@paginate(CursorPagination, ordering=("-id",))
def lead_list(request: HttpRequest, state: str = "", source: str = "", owner: str = "", unassigned: str = "",
              q: str = "") -> Any:
    """The leads the caller sees, newest first: ``state`` (a state or ``open``), ``source``,
    ``owner`` (``me`` or an id), ``unassigned`` (``true``), ``q`` (company, person, pinyin,
    phone digits, e-mail, lead number)."""
    return reads.lead_list_for(request.user, request.GET).prefetch_related("products")


@router.post("/leads", response={201: LeadOut, 422: ErrorOut})
@requires("lead.add")
def lead_create(request: HttpRequest, payload: LeadIn) -> Any:
    """Capture a lead (the same rules as the form and the import). Send an Idempotency-Key:
    a retry with the same key returns the first answer instead of a second lead."""
    data = payload.model_dump(exclude_unset=True)
    source = data.pop("source", Lead.Source.API)
    lead = service.lead_capture(actor=request.user, source=source, data=data)
    return Status(201, _fresh_or_created(request, lead))


@router.get("/leads/{int:pk}", response=LeadOut)
@requires("lead.view")
def lead_get(request: HttpRequest, pk: int) -> Any:
    return _lead(request, pk)


@router.patch("/leads/{int:pk}", response={200: LeadOut, 409: ErrorOut, 422: ErrorOut})
@requires("lead.change")
def lead_update(request: HttpRequest, pk: int, payload: LeadPatch) -> Any:
    """Change the typed fields; a stale ``version`` → 409. Owner and state change through
    the actions."""
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    service.lead_update(actor=request.user, lead=_lead(request, pk), changes=data, expected_version=version)
    return _fresh(request, pk)


@router.delete("/leads/{int:pk}", response={204: None, 409: ErrorOut})
@requires("lead.delete")
def lead_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    """To the recycle bin (restorable)."""
    service.lead_delete(actor=request.user, lead=_lead(request, pk), expected_version=version)
    return Status(204, None)


@router.post("/leads/{int:pk}/assign", response={200: LeadOut, 409: ErrorOut, 422: ErrorOut})
@requires("lead.assign")
def lead_assign(request: HttpRequest, pk: int, payload: AssignIn) -> Any:
    """To a salesperson the caller manages (else 422); the new owner is notified."""
    lead = service.lead_assign(actor=request.user, lead=_lead(request, pk), owner=payload.owner,
                               expected_version=payload.version, note=payload.note)
    return _fresh_or_created(request, lead)


@router.post("/leads/{int:pk}/working", response={200: LeadOut, 409: ErrorOut, 422: ErrorOut})
@requires("lead.change")
def lead_working(request: HttpRequest, pk: int, payload: VersionIn) -> Any:
    """Someone works on it (also reopens a disqualified lead)."""
    service.lead_start_working(actor=request.user, lead=_lead(request, pk), expected_version=payload.version)
    return _fresh(request, pk)


@router.post("/leads/{int:pk}/qualify", response={200: LeadOut, 409: ErrorOut, 422: ErrorOut})
@requires("lead.change")
def lead_qualify(request: HttpRequest, pk: int, payload: VersionIn) -> Any:
    service.lead_qualify(actor=request.user, lead=_lead(request, pk), expected_version=payload.version)
    return _fresh(request, pk)


@router.post("/leads/{int:pk}/disqualify", response={200: LeadOut, 409: ErrorOut, 422: ErrorOut})
@requires("lead.change")
def lead_disqualify(request: HttpRequest, pk: int, payload: DisqualifyIn) -> Any:
    """Not a prospect; ``reason`` is required."""
    service.lead_disqualify(actor=request.user, lead=_lead(request, pk), reason=payload.reason,
                            expected_version=payload.version)
    return _fresh(request, pk)


@router.get("/leads/{int:pk}/account-candidates", response=CandidatesOut)
@requires("lead.convert")
def lead_account_candidates(request: HttpRequest, pk: int) -> Any:
    """Existing accounts that look like the lead's company (credit code, name, phone, a
    contact's mobile) among those the caller sees; ``hidden`` says, without names, that
    matching accounts exist elsewhere."""
    matches = reads.lead_account_candidates(request.user, _lead(request, pk))
    return {"accounts": [{"id": c.account.pk, "code": c.account.code, "name": c.account.name,
                          "owner_name": str(c.account.owner) if c.account.owner_id else None, "reasons": c.reasons}
                         for c in matches.visible],
            "hidden": matches.hidden_messages(), "blocks_new_account": matches.blocks_new}


@router.post("/leads/{int:pk}/convert", response={200: ConvertOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut})
@requires("lead.convert")
def lead_convert(request: HttpRequest, pk: int, payload: ConvertIn) -> Any:
    """Make the account (or use ``account``), the contact and the opportunity from the lead.
    Accounts that look the same → 422 (code ``duplicate``) unless ``confirm_new_account``;
    a credit code an account already holds always → 422."""
    lead = _lead(request, pk)
    account = None
    if payload.account is not None:
        account = account_scope(request.user).filter(pk=payload.account).first()
        if account is None:
            raise NotFound()
    data = payload.model_dump(exclude_unset=True)
    result = converting.lead_convert(
        actor=request.user, lead=lead, account=account, new_account=data.get("new_account"),
        create_contact=payload.create_contact, contact=data.get("contact"), opportunity=data.get("opportunity"),
        new_account_confirmed=payload.confirm_new_account, expected_version=payload.version)
    return {"lead": _fresh(request, pk), "account": result.account.pk, "account_created": result.account_created,
            "contact": result.contact.pk if result.contact else None, "contact_created": result.contact_created,
            "opportunity": result.opportunity.pk, "opportunity_code": result.opportunity.code}
