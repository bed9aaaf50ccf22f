"""REST endpoints for accounts (`/api/v1/accounts`).

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""


import datetime as dt
from decimal import Decimal
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
from guanxi.customers.api.pages import AccountRows, OrderedCursorPagination, paginate_rows
from guanxi.customers.models import Account, Contact
from guanxi.customers.selectors import lists as lists_reads
from guanxi.customers.selectors.lists import BadFilter

router = Router(tags=["accounts"])


class AccountOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    credit_code: str
    phone: str
    email: str
    website: str
    region: str
    province: str
    city: str
    district: str
    address: str
    notes: str
    is_customer: bool
    is_distributor: bool
    is_supplier: bool
    is_partner: bool
    is_foreign: bool
    size: str
    operating_status: str
    founded_on: dt.date | None
    industry: str
    business_scope: str
    organisation_traits: str
    philosophy: str
    culture: str
    industry_position: str
    prospects: str
    development_strategy: str
    credit_standing: str
    importance: str
    category: int | None = Field(None, alias="category_id")
    lifecycle: str
    relationship_type: str
    value_segment: str
    urgency: str
    tags: list[str]
    custom: dict[str, Any]
    # Read-only: written by the rating and pool services.
    grade: str
    score: Decimal | None
    rated_at: dt.datetime | None
    last_activity_at: dt.datetime | None
    pool_entered_at: dt.datetime | None
    pool_notice_at: dt.datetime | None
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

    @staticmethod
    def resolve_tags(obj: Account) -> list[str]:
        return [t.name for t in obj.tags.all()]


class AccountIn(Strict):
    name: str
    kind: str = Account.Kind.ENTERPRISE
    credit_code: str = ""
    phone: str = ""
    email: str = ""
    website: str = ""
    region: str = ""
    province: str = ""
    city: str = ""
    district: str = ""
    address: str = ""
    notes: str = ""
    is_customer: bool = True
    is_distributor: bool = False
    is_supplier: bool = False
    is_partner: bool = False
    is_foreign: bool = False
    size: str = ""
    operating_status: str = ""
    founded_on: dt.date | None = None
    industry: str = ""
    business_scope: str = ""
    organisation_traits: str = ""
    philosophy: str = ""
    culture: str = ""
    industry_position: str = ""
    prospects: str = ""
    development_strategy: str = ""
    credit_standing: str = ""
    importance: str = ""
    category: int | None = None
    lifecycle: str = Account.Lifecycle.POTENTIAL
    relationship_type: str = ""
    value_segment: str = ""
    urgency: str = ""
    tags: list[str] = []
    custom: dict[str, Any] = {}
    owner: int | None = None


class AccountPatch(Strict):
    version: int
    name: str | None = None
    kind: str | None = None
    credit_code: str | None = None
    phone: str | None = None
    email: str | None = None
    website: str | None = None
    region: str | None = None
    province: str | None = None
    city: str | None = None
    district: str | None = None
    address: str | None = None
    notes: str | None = None
    is_customer: bool | None = None
    is_distributor: bool | None = None
    is_supplier: bool | None = None
    is_partner: bool | None = None
    is_foreign: bool | None = None
    size: str | None = None
    operating_status: str | None = None
    founded_on: dt.date | None = None
    industry: str | None = None
    business_scope: str | None = None
    organisation_traits: str | None = None
    philosophy: str | None = None
    culture: str | None = None
    industry_position: str | None = None
    prospects: str | None = None
    development_strategy: str | None = None
    credit_standing: str | None = None
    importance: str | None = None
    category: int | None = None
    lifecycle: str | None = None
    relationship_type: str | None = None
    value_segment: str | None = None
    urgency: str | None = None
    tags: list[str] | None = None
    custom: dict[str, Any] | None = None
    reason: str = ""


class PendingOut(Schema):
    change_request: int
    state: str
    message: str


class VersionIn(Strict):
    version: int | None = None


class ExportIn(Strict):
    format: str = "csv"
    q: str = ""
    # Any list filter, as on GET /accounts (kind, lifecycle, role, tag, cf_<key> …).
    filters: dict[str, Any] = {}


def _account(request: HttpRequest, pk: int) -> Account:
    return records.get_visible(request.user, Account, pk)


# Orderings the API accepts: non-null columns only (a cursor is a column value).
API_ORDERINGS = frozenset({"id", "-id", "name", "-name", "code", "-code", "grade", "-grade", "updated_at",
                           "-updated_at", "created_at", "-created_at"})


class AccountPagination(OrderedCursorPagination):
    orderings = API_ORDERINGS


ACCOUNT_ROWS = AccountRows(AccountOut)


@router.get("/accounts", response=list[AccountOut])
@requires("account.view")
@paginate_rows(AccountPagination, ACCOUNT_ROWS, ordering=("-id",))
def account_list(request: HttpRequest, q: str = "", owner: str = "", approval_state: str = "", ordering: str = "",
                 kind: str = "", lifecycle: str = "", relationship_type: str = "", value_segment: str = "",
                 urgency: str = "", grade: str = "", province: str = "", city: str = "", district: str = "",
                 category: int | None = None, role: str = "", tag: str = "", foreign: str = "") -> Any:
    """The account list: ``q`` runs the same search as the page; every filter of the page
    (also ``cf_<key>`` for custom fields; ``role`` and ``tag`` comma-separated); ``ordering``
    one of id, name, code, grade, updated_at, created_at (``-`` for descending)."""
    if ordering and ordering not in API_ORDERINGS:
        raise BadFilter(errors={"ordering": [_("The list cannot be sorted by “%(value)s”.") % {"value": ordering}]})
    filters = lists_reads.parse_filters(request.user, request.GET)
    filters.pop("ordering", None)
    return selectors.account_list_for(request.user, **filters)


@router.post("/accounts", response={201: AccountOut, 422: ErrorOut})
@requires("account.add")
def account_create(request: HttpRequest, payload: AccountIn) -> Any:
    data = payload.model_dump(exclude_unset=True)
    if data.get("category") is None:
        data.pop("category", None)
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
    params: dict[str, Any] = {**payload.filters}
    if payload.q:
        params["q"] = payload.q
    filters = lists_reads.parse_filters(request.user, params, strict_ordering=True)
    job = services.account_export_start(actor=request.user, filters=filters, format=payload.format)
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
    custom: dict[str, Any]
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
    custom: dict[str, Any] = {}


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
    custom: dict[str, Any] | None = None


CONTACT_API_ORDERINGS = frozenset({"id", "-id", "name", "-name", "updated_at", "-updated_at"})


class OrderedContactPagination(CursorPagination):
    def paginate_queryset(self, queryset: Any, pagination: Any, request: HttpRequest, **params: Any) -> Any:
        ordering = request.GET.get("ordering") or "-id"
        if ordering not in CONTACT_API_ORDERINGS:
            ordering = "-id"
        keys = (ordering,) if ordering.lstrip("-") == "id" else (ordering, "-id")
        pager = CursorPagination(ordering=keys, page_size=self.page_size, max_page_size=self.max_page_size)
        return pager.paginate_queryset(queryset, pagination, request, **params)


def _contact(request: HttpRequest, pk: int) -> Contact:
    return records.get_visible(request.user, Contact, pk)


@router.get("/contacts", response=list[ContactOut])
@requires("contact.view")
@paginate(OrderedContactPagination, ordering=("-id",))
def contact_list(request: HttpRequest, account: int | None = None, q: str = "", depth: str = "", role: str = "",
                 ordering: str = "") -> Any:
    """Contacts the caller sees: ``q`` (name or mobile), ``account``, ``depth``, ``role``;
    ``ordering`` one of id, name, updated_at (``-`` for descending)."""
    if ordering and ordering not in CONTACT_API_ORDERINGS:
        raise BadFilter(errors={"ordering": [_("The list cannot be sorted by “%(value)s”.") % {"value": ordering}]})
    return lists_reads.contact_list_filtered(request.user, request.GET)


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
