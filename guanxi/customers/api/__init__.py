"""REST endpoints for accounts (`/api/v1/accounts`).

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""


import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.pagination import CursorPagination, paginate

from guanxi.core.api import ErrorOut, Strict
from guanxi.core.errors import Invalid
from guanxi.core.models import ChangeRequest, User
from guanxi.core.permissions import declare as requires
from guanxi.core.services import records
from guanxi.customers import selectors, services
from guanxi.customers.models import Account, Contact

router = Router(tags=["accounts"])


class AccountOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    credit_code: str
    phone: str
    region: str
    address: str
    notes: str
    owner: int | None = Field(None, alias="owner_id")
    owner_name: str | None
    department: int | None = Field(None, alias="department_id")
    approval_state: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_owner_name(obj: Account) -> str | None:
        return str(obj.owner) if obj.owner_id else None


class AccountIn(Strict):
    name: str
    kind: str = Account.Kind.ENTERPRISE
    credit_code: str = ""
    phone: str = ""
    region: str = ""
    address: str = ""
    notes: str = ""
    owner: int | None = None


class AccountPatch(Strict):
    version: int
    name: str | None = None
    kind: str | None = None
    credit_code: str | None = None
    phone: str | None = None
    region: str | None = None
    address: str | None = None
    notes: str | None = None
    reason: str = ""


class PendingOut(Schema):
    change_request: int
    state: str
    message: str


class VersionIn(Strict):
    version: int | None = None


class ExportIn(Strict):
    q: str = ""


def _account(request: HttpRequest, pk: int) -> Account:
    return records.get_visible(request.user, Account, pk)


@router.get("/accounts", response=list[AccountOut])
@requires("account.view")
@paginate(CursorPagination, ordering=("-id",))
def account_list(request: HttpRequest, q: str = "", owner: int | None = None, approval_state: str = "") -> Any:
    return selectors.account_list_for(request.user, q=q, owner=owner, approval_state=approval_state)


@router.post("/accounts", response={201: AccountOut, 422: ErrorOut})
@requires("account.add")
def account_create(request: HttpRequest, payload: AccountIn) -> Any:
    data = payload.model_dump(exclude_unset=True)
    owner_id = data.pop("owner", ...)
    owner: Any = ...
    if owner_id is not ...:
        owner = User.objects.filter(pk=owner_id).first() if owner_id is not None else None
        if owner_id is not None and owner is None:
            raise Invalid(errors={"owner": [_("No such person.")]})
    return Status(201, services.account_create(actor=request.user, owner=owner, **data))


@router.get("/accounts/{int:pk}", response=AccountOut)
@requires("account.view")
def account_get(request: HttpRequest, pk: int) -> Any:
    return _account(request, pk)


@router.patch("/accounts/{int:pk}", response={200: AccountOut, 202: PendingOut})
@requires("account.change")
def account_update(request: HttpRequest, pk: int, payload: AccountPatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    reason = data.pop("reason", "")
    result = services.account_update(actor=request.user, account=_account(request, pk), changes=data,
                                     expected_version=version, reason=reason)
    if isinstance(result, ChangeRequest):
        return Status(202, {"change_request": result.pk, "state": result.state,
                            "message": _("The account is approved; your change waits for the approver.")})
    return Status(200, result)


@router.delete("/accounts/{int:pk}", response={204: None})
@requires("account.delete")
def account_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    records.record_delete(actor=request.user, obj=_account(request, pk), expected_version=version)
    return Status(204, None)


@router.post("/accounts/{int:pk}/approve", response=AccountOut)
@requires("account.approve")
def account_approve(request: HttpRequest, pk: int, payload: VersionIn) -> Any:
    return records.record_approve(actor=request.user, obj=_account(request, pk), expected_version=payload.version)


@router.post("/accounts/export", response={202: dict})
@requires("account.export")
def account_export(request: HttpRequest, payload: ExportIn) -> Any:
    job = services.account_export_start(actor=request.user, filters=payload.model_dump())
    return Status(202, {"job": str(job.pk), "url": f"/api/v1/jobs/{job.pk}"})




# --- Contacts --------------------------------------------------------------------------------
class ContactOut(Schema):
    id: int
    account: int = Field(..., alias="account_id")
    account_name: str
    name: str
    title: str
    role: str
    depth: str
    mobile: str
    phone: str
    email: str
    wechat: str
    address: str
    birthday: dt.date | None
    personality: str
    interests: str
    experience: str
    background: str
    preferences: str
    taboos: str
    notes: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_account_name(obj: Contact) -> str:
        return obj.account.name


class ContactIn(Strict):
    account: int
    name: str
    title: str = ""
    role: str = Contact.Role.OTHER
    depth: str = Contact.Depth.PASSER_BY
    mobile: str = ""
    phone: str = ""
    email: str = ""
    wechat: str = ""
    address: str = ""
    birthday: dt.date | None = None
    personality: str = ""
    interests: str = ""
    experience: str = ""
    background: str = ""
    preferences: str = ""
    taboos: str = ""
    notes: str = ""


class ContactPatch(Strict):
    version: int
    name: str | None = None
    title: str | None = None
    role: str | None = None
    depth: str | None = None
    mobile: str | None = None
    phone: str | None = None
    email: str | None = None
    wechat: str | None = None
    address: str | None = None
    birthday: dt.date | None = None
    personality: str | None = None
    interests: str | None = None
    experience: str | None = None
    background: str | None = None
    preferences: str | None = None
    taboos: str | None = None
    notes: str | None = None


def _contact(request: HttpRequest, pk: int) -> Contact:
    return records.get_visible(request.user, Contact, pk)


@router.get("/contacts", response=list[ContactOut])
@requires("contact.view")
@paginate(CursorPagination, ordering=("-id",))
def contact_list(request: HttpRequest, account: int | None = None, q: str = "") -> Any:
    return selectors.contact_list_for(request.user, account=account, q=q)


@router.post("/contacts", response={201: ContactOut, 422: ErrorOut})
@requires("contact.add")
def contact_create(request: HttpRequest, payload: ContactIn) -> Any:
    data = payload.model_dump()
    account_id = data.pop("account")
    account = selectors.account_scope(request.user).filter(pk=account_id).first()
    if account is None:
        raise Invalid(errors={"account": [_("No such account.")]})
    return Status(201, services.contact_create(actor=request.user, account=account, **data))


@router.get("/contacts/{int:pk}", response=ContactOut)
@requires("contact.view")
def contact_get(request: HttpRequest, pk: int) -> Any:
    return _contact(request, pk)


@router.patch("/contacts/{int:pk}", response=ContactOut)
@requires("contact.change")
def contact_update(request: HttpRequest, pk: int, payload: ContactPatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    return services.contact_update(actor=request.user, contact=_contact(request, pk), changes=data,
                                   expected_version=version)


@router.delete("/contacts/{int:pk}", response={204: None})
@requires("contact.delete")
def contact_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    records.record_delete(actor=request.user, obj=_contact(request, pk), expected_version=version)
    return Status(204, None)
