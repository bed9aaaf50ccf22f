"""REST endpoints: lists — saved views, attachments, custom field definitions, bulk edit.

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import File, Form, Router, Schema, Status, UploadedFile

from guanxi.core.api import ErrorOut, Strict
from guanxi.core.permissions import declare as requires
from guanxi.core.services import records
from guanxi.customers.models import Account, AccountAttachment, CustomField
from guanxi.customers.selectors import lists as reads
from guanxi.customers.services import lists as services

router = Router(tags=["lists"])


# --- Saved views (R13.6) -------------------------------------------------------------------------
class SavedViewOut(Schema):
    id: int
    name: str
    params: dict[str, Any]
    created_at: dt.datetime


class SavedViewIn(Strict):
    name: str
    params: dict[str, Any] = {}


@router.get("/saved-views", response=list[SavedViewOut])
@requires("account.view")
def saved_view_list(request: HttpRequest) -> Any:
    return list(reads.saved_views_for(request.user))


@router.post("/saved-views", response={201: SavedViewOut, 422: ErrorOut})
@requires("account.view")
def saved_view_create(request: HttpRequest, payload: SavedViewIn) -> Any:
    return Status(201, services.saved_view_create(actor=request.user, name=payload.name, params=payload.params))


@router.delete("/saved-views/{int:pk}", response={204: None})
@requires("account.view")
def saved_view_delete(request: HttpRequest, pk: int) -> Any:
    services.saved_view_delete(actor=request.user, view_id=pk)
    return Status(204, None)


# --- Bulk edit ----------------------------------------------------------------------------------
class BulkIn(Strict):
    ids: list[int]
    lifecycle: str | None = None
    relationship_type: str | None = None
    value_segment: str | None = None
    urgency: str | None = None
    category: int | None = None
    tags_add: list[str] = []
    tags_remove: list[str] = []


class BulkOut(Schema):
    updated: int
    unchanged: int
    skipped_approval: int
    missing: int


@router.post("/accounts/bulk-update", response={200: BulkOut, 422: ErrorOut})
@requires("account.change")
def account_bulk_update(request: HttpRequest, payload: BulkIn) -> Any:
    """Same change for many accounts; approved ones under an approval policy are skipped and counted."""
    data = payload.model_dump(exclude_unset=True)
    ids = data.pop("ids")
    return services.account_bulk_update(actor=request.user, ids=ids, changes=data)


# --- Custom field definitions (R13.7) ------------------------------------------------------------------
class CustomFieldOut(Schema):
    id: int
    target: str
    key: str
    label: str
    type: str
    choices: list[str]
    required: bool
    active: bool
    sort_order: int
    version: int


@router.get("/custom-fields", response=list[CustomFieldOut])
@requires("account.view")
def customfield_list(request: HttpRequest, target: str = "") -> Any:
    qs = CustomField.objects.order_by("target", "sort_order", "key")
    return list(qs.filter(target=target) if target else qs)


# --- Attachments (R1.7, S12) ----------------------------------------------------------------------
class AttachmentOut(Schema):
    id: int
    account: int
    kind: str
    original_name: str
    content_type: str
    size: int
    uploaded_by: int | None
    created_at: dt.datetime
    download_url: str

    @staticmethod
    def resolve_account(obj: AccountAttachment) -> int:
        return obj.account_id

    @staticmethod
    def resolve_uploaded_by(obj: AccountAttachment) -> int | None:
        return obj.uploaded_by_id

    @staticmethod
    def resolve_download_url(obj: AccountAttachment) -> str:
        return f"/api/v1/attachments/{obj.pk}/download"


@router.get("/accounts/{int:pk}/attachments", response=list[AttachmentOut])
@requires("account.view")
def attachment_list(request: HttpRequest, pk: int) -> Any:
    account = records.get_visible(request.user, Account, pk)
    return list(reads.account_attachments(request.user, account))


@router.post("/accounts/{int:pk}/attachments", response={201: AttachmentOut, 422: ErrorOut})
@requires("account.change")
def attachment_upload(request: HttpRequest, pk: int, file: File[UploadedFile],
                      kind: Form[str] = AccountAttachment.Kind.OTHER) -> Any:
    account = records.get_visible(request.user, Account, pk)
    return Status(201, services.attachment_upload(actor=request.user, account=account, upload=file, kind=kind))


@router.get("/attachments/{int:pk}/download")
@requires("account.view")
def attachment_download(request: HttpRequest, pk: int) -> Any:
    from guanxi.customers.views.lists import attachment_response

    return attachment_response(records.get_visible(request.user, AccountAttachment, pk))


@router.delete("/attachments/{int:pk}", response={204: None})
@requires("account.delete")
def attachment_delete(request: HttpRequest, pk: int) -> Any:
    services.attachment_delete(actor=request.user,
                               attachment=records.get_visible(request.user, AccountAttachment, pk))
    return Status(204, None)
