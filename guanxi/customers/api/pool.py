"""REST endpoints: reassignment, books, the customer pool and ownership history.

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from ninja.pagination import CursorPagination, paginate

from guanxi.core.api import Strict
from guanxi.core.errors import Invalid, NotFound
from guanxi.core.models import User
from guanxi.core.permissions import declare as requires
from guanxi.core.services import records
from guanxi.customers.api import AccountOut
from guanxi.customers.models import Account, OwnershipChange, PoolSettings
from guanxi.customers.selectors import pool as reads
from guanxi.customers.services import pool as services

router = Router(tags=["pool"])


class ReassignIn(Strict):
    to_user: int
    reason: str
    version: int | None = None


class BulkReassignIn(Strict):
    ids: list[int]
    to_user: int
    reason: str


class ReassignOut(Schema):
    moved: int
    skipped: int
    per_user: dict[int, int]
    extra: dict[str, int] = {}


class BookIn(Strict):
    to_users: list[int]
    reason: str
    strategy: str = "round_robin"


class BookPreviewQuery(Schema):
    to_users: list[int] = []
    strategy: str = "round_robin"


class SplitOut(Schema):
    user: int
    user_name: str
    counts: dict[str, int]


class BookPreviewOut(Schema):
    user: int
    totals: dict[str, int]
    split: list[SplitOut]


class PoolAccountOut(Schema):
    id: int
    code: str
    name: str
    region: str
    province: str
    city: str
    grade: str
    category: str | None
    pool_entered_at: dt.datetime | None
    last_owner: int | None

    @staticmethod
    def resolve_category(obj: Account) -> str | None:
        return str(obj.category) if obj.category_id else None

    @staticmethod
    def resolve_last_owner(obj: Account) -> int | None:
        return getattr(obj, "last_owner_id", None)


class ReleaseIn(Strict):
    reason: str
    version: int | None = None


class OwnershipOut(Schema):
    id: int
    kind: str
    from_user: int | None
    from_user_name: str | None
    to_user: int | None
    to_user_name: str | None
    actor: int | None
    reason: str
    at: dt.datetime

    @staticmethod
    def resolve_from_user(obj: OwnershipChange) -> int | None:
        return obj.from_user_id

    @staticmethod
    def resolve_to_user(obj: OwnershipChange) -> int | None:
        return obj.to_user_id

    @staticmethod
    def resolve_actor(obj: OwnershipChange) -> int | None:
        return obj.actor_id

    @staticmethod
    def resolve_from_user_name(obj: OwnershipChange) -> str | None:
        return str(obj.from_user) if obj.from_user_id else None

    @staticmethod
    def resolve_to_user_name(obj: OwnershipChange) -> str | None:
        return str(obj.to_user) if obj.to_user_id else None


class PoolSettingsOut(Schema):
    claim_cap: int
    default_return_days: int
    notice_days: int
    auto_return: bool
    version: int
    claimed_by_me: int = 0


class PoolSettingsIn(Strict):
    version: int
    claim_cap: int | None = None
    default_return_days: int | None = None
    notice_days: int | None = None
    auto_return: bool | None = None


def _colleague(request: HttpRequest, pk: int, *, active_only: bool = True, field: str = "to_user") -> User:
    user = reads.managed_users(request.user, active_only=active_only).filter(pk=pk).first()
    if user is None:
        raise Invalid(errors={field: [_("Choose an active colleague you manage.")]})
    return user


def _result(result: services.ReassignResult) -> dict[str, Any]:
    return {"moved": result.moved, "skipped": result.skipped, "per_user": result.per_user, "extra": result.extra}


@router.post("/accounts/{int:pk}/reassign", response=ReassignOut)
@requires("account.reassign")
def account_reassign(request: HttpRequest, pk: int, payload: ReassignIn) -> Any:
    account = records.get_visible(request.user, Account, pk)
    return _result(services.account_reassign(actor=request.user, accounts=[account],
                                             to_user=_colleague(request, payload.to_user), reason=payload.reason,
                                             expected_version=payload.version))


@router.post("/accounts/reassign", response=ReassignOut)
@requires("account.reassign")
def account_reassign_bulk(request: HttpRequest, payload: BulkReassignIn) -> Any:
    return _result(services.account_reassign(actor=request.user, accounts=payload.ids,
                                             to_user=_colleague(request, payload.to_user), reason=payload.reason))


def _book_owner(request: HttpRequest, user_id: int) -> User:
    user = reads.managed_users(request.user, active_only=False).filter(pk=user_id).first()
    if user is None:
        raise NotFound()
    return user


@router.get("/books/{int:user_id}/preview", response=BookPreviewOut)
@requires("account.reassign")
def book_preview(request: HttpRequest, user_id: int, filters: Query[BookPreviewQuery]) -> Any:
    from_user = _book_owner(request, user_id)
    targets = [_colleague(request, pk, field="to_users") for pk in filters.to_users]
    preview = services.book_reassign_preview(actor=request.user, from_user=from_user, to_users=targets,
                                             strategy=filters.strategy)
    return {"user": from_user.pk, "totals": preview["totals"],
            "split": [{"user": row["user"].pk, "user_name": str(row["user"]), "counts": row["counts"]}
                      for row in preview["split"]]}


@router.post("/books/{int:user_id}/reassign", response=ReassignOut)
@requires("account.reassign")
def book_reassign(request: HttpRequest, user_id: int, payload: BookIn) -> Any:
    from_user = _book_owner(request, user_id)
    targets = [_colleague(request, pk, field="to_users") for pk in payload.to_users]
    return _result(services.book_reassign(actor=request.user, from_user=from_user, to_users=targets,
                                          reason=payload.reason, strategy=payload.strategy))


@router.get("/pool", response=list[PoolAccountOut])
@requires("pool.view")
@paginate(CursorPagination, ordering=("-id",))
def pool_list(request: HttpRequest, q: str = "", region: str = "", grade: str = "") -> Any:
    return reads.pool_list_for(request.user, q=q, region=region, grade=grade).order_by("-id")


@router.post("/pool/{int:pk}/claim", response=AccountOut)
@requires("pool.claim")
def pool_claim(request: HttpRequest, pk: int) -> Any:
    return services.pool_claim(actor=request.user, account=reads.pool_get(request.user, pk))


@router.post("/accounts/{int:pk}/release", response=AccountOut)
@requires("pool.release")
def account_release(request: HttpRequest, pk: int, payload: ReleaseIn) -> Any:
    account = records.get_visible(request.user, Account, pk)
    return services.pool_release(actor=request.user, account=account, reason=payload.reason,
                                 expected_version=payload.version)


@router.get("/accounts/{int:pk}/ownership", response=list[OwnershipOut])
@requires("account.view")
def account_ownership(request: HttpRequest, pk: int) -> Any:
    return list(reads.ownership_history(records.get_visible(request.user, Account, pk))[:500])


def _settings_out(request: HttpRequest, obj: PoolSettings) -> dict[str, Any]:
    return {"claim_cap": obj.claim_cap, "default_return_days": obj.default_return_days,
            "notice_days": obj.notice_days, "auto_return": obj.auto_return, "version": obj.version,
            "claimed_by_me": services.claim_count(request.user)}


@router.get("/pool/settings", response=PoolSettingsOut)
@requires("pool.view")
def pool_settings_get(request: HttpRequest) -> Any:
    return _settings_out(request, PoolSettings.current())


@router.put("/pool/settings", response=PoolSettingsOut)
@requires("pool.manage")
def pool_settings_put(request: HttpRequest, payload: PoolSettingsIn) -> Any:
    data = payload.model_dump(exclude_none=True)
    version = data.pop("version")
    return _settings_out(request, services.pool_settings_update(actor=request.user, expected_version=version, **data))
