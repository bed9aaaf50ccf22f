"""REST endpoints: merge.

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.pagination import CursorPagination, paginate

from guanxi.core.api import ErrorOut, Strict
from guanxi.core.permissions import declare as requires
from guanxi.core.services import records
from guanxi.customers.api import AccountOut, ContactOut
from guanxi.customers.models import Account, Contact
from guanxi.customers.selectors import merge as reads
from guanxi.customers.services import merge as services

router = Router(tags=["merge"])


class MergeIn(Strict):
    other: int  # the record merged into (and removed in favour of) the one in the path
    choices: dict[str, str] = {}  # {field: "kept" | "merged"}; fields not named keep the kept value
    kept_version: int | None = None
    merged_version: int | None = None


class MergeOut(Schema):
    id: int
    target: str
    kept_id: int
    merged_id: int
    merged_name: str
    choices: dict[str, str]
    moved: dict[str, list[int]]
    actor: str | None
    at: dt.datetime
    undone_at: dt.datetime | None
    undone_by: str | None

    @staticmethod
    def resolve_merged_name(obj: Any) -> str:
        return str(obj.before.get("name", ""))

    @staticmethod
    def resolve_actor(obj: Any) -> str | None:
        return str(obj.actor) if obj.actor_id else None

    @staticmethod
    def resolve_undone_by(obj: Any) -> str | None:
        return str(obj.undone_by) if obj.undone_by_id else None


class DuplicateOut(Schema):
    id: int
    code: str
    name: str
    phone: str
    credit_code: str
    owner: int | None
    reasons: list[str]


@router.post("/accounts/{int:pk}/merge", response={200: AccountOut, 422: ErrorOut})
@requires("account.merge")
def account_merge(request: HttpRequest, pk: int, payload: MergeIn) -> Any:
    kept = records.get_visible(request.user, Account, pk)
    merged = records.get_visible(request.user, Account, payload.other)
    services.account_merge(actor=request.user, kept=kept, merged=merged, choices=payload.choices,
                           expected_versions={"kept": payload.kept_version, "merged": payload.merged_version})
    return Account.objects.select_related("owner").get(pk=kept.pk)


@router.post("/contacts/{int:pk}/merge", response={200: ContactOut, 422: ErrorOut})
@requires("account.merge")
def contact_merge(request: HttpRequest, pk: int, payload: MergeIn) -> Any:
    kept = records.get_visible(request.user, Contact, pk)
    merged = records.get_visible(request.user, Contact, payload.other)
    services.contact_merge(actor=request.user, kept=kept, merged=merged, choices=payload.choices,
                           expected_versions={"kept": payload.kept_version, "merged": payload.merged_version})
    return Contact.objects.select_related("account").get(pk=kept.pk)


@router.get("/merges", response=list[MergeOut])
@requires("account.view")
@paginate(CursorPagination, ordering=("-id",))
def merge_list(request: HttpRequest, account: int | None = None, contact: int | None = None) -> Any:
    if contact is not None:
        return reads.merges_for(request.user, target="contact", record_id=contact)
    return reads.merges_for(request.user, target="account", record_id=account)


@router.post("/merges/{int:pk}/undo", response=MergeOut)
@requires("account.merge")
def merge_undo(request: HttpRequest, pk: int) -> Any:
    record = reads.merge_get_for(request.user, pk)
    return services.merge_undo(actor=request.user, record=record)


@router.get("/accounts/{int:pk}/duplicates", response=list[DuplicateOut])
@requires("account.view")
def account_duplicates(request: HttpRequest, pk: int) -> Any:
    account = records.get_visible(request.user, Account, pk)
    return [{"id": c.account.pk, "code": c.account.code, "name": c.account.name, "phone": c.account.phone,
             "credit_code": c.account.credit_code, "owner": c.account.owner_id, "reasons": c.reasons}
            for c in reads.duplicate_candidates_for(request.user, account)]
