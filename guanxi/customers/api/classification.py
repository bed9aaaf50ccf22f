"""REST endpoints: classification — categories, grades, rating factors, an account's ratings
(the relationship curve), hand scores and re-rating.

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from guanxi.core.api import ErrorOut, Strict
from guanxi.core.errors import Invalid, NotFound
from guanxi.core.permissions import declare as requires
from guanxi.core.services import records
from guanxi.customers.models import Account, AccountRating, Category, Grade, RatingFactor
from guanxi.customers.selectors import classification as reads
from guanxi.customers.services import classification as services

router = Router(tags=["classification"])


# --- Categories ----------------------------------------------------------------------------------
class CategoryOut(Schema):
    id: int
    name: str
    parent: int | None = Field(None, alias="parent_id")
    path: str
    sort_order: int
    description: str
    active: bool
    version: int


class CategoryIn(Strict):
    name: str
    parent: int | None = None
    description: str = ""
    sort_order: int = 0


class CategoryPatch(Strict):
    version: int
    name: str | None = None
    parent: int | None = None
    description: str | None = None
    sort_order: int | None = None
    active: bool | None = None


def _category(pk: int | None, field: str = "parent") -> Category | None:
    if pk is None:
        return None
    found = Category.objects.filter(pk=pk).first()
    if found is None:
        raise Invalid(errors={field: [_("No such category.")]})
    return found


@router.get("/categories", response=list[CategoryOut])
@requires("account.view")
def category_list(request: HttpRequest, active: bool | None = None) -> Any:
    tree = reads.category_tree()
    return [c for c in tree if active is None or c.active == active]


@router.post("/categories", response={201: CategoryOut, 422: ErrorOut})
@requires("category.manage")
def category_create(request: HttpRequest, payload: CategoryIn) -> Any:
    return Status(201, services.category_create(actor=request.user, name=payload.name,
                                                parent=_category(payload.parent), description=payload.description,
                                                sort_order=payload.sort_order))


@router.patch("/categories/{int:pk}", response={200: CategoryOut, 422: ErrorOut})
@requires("category.manage")
def category_update(request: HttpRequest, pk: int, payload: CategoryPatch) -> Any:
    category = Category.objects.filter(pk=pk).first()
    if category is None:
        raise NotFound()
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    if "parent" in data:
        data["parent"] = _category(data["parent"])
    return services.category_update(actor=request.user, category=category, expected_version=version, **data)


# --- Grades --------------------------------------------------------------------------------------
class GradeOut(Schema):
    id: int
    code: str
    name: str
    min_score: Decimal
    service_policy: str
    pool_return_days: int | None
    sort_order: int
    version: int


class GradePatch(Strict):
    version: int
    name: str | None = None
    min_score: Decimal | None = None
    service_policy: str | None = None
    pool_return_days: int | None = None
    sort_order: int | None = None


@router.get("/grades", response=list[GradeOut])
@requires("account.view")
def grade_list(request: HttpRequest) -> Any:
    return list(reads.grade_list())


@router.patch("/grades/{int:pk}", response={200: GradeOut, 422: ErrorOut})
@requires("rating.manage")
def grade_update(request: HttpRequest, pk: int, payload: GradePatch) -> Any:
    grade = Grade.objects.filter(pk=pk).first()
    if grade is None:
        raise NotFound()
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    return services.grade_update(actor=request.user, grade=grade, expected_version=version, **data)


# --- Rating factors --------------------------------------------------------------------------------
class FactorOut(Schema):
    id: int
    key: str
    name: str
    weight: Decimal
    method: str
    rule: str
    description: str
    active: bool
    sort_order: int
    version: int


class FactorPatch(Strict):
    version: int
    name: str | None = None
    weight: Decimal | None = None
    method: str | None = None
    rule: str | None = None
    description: str | None = None
    active: bool | None = None
    sort_order: int | None = None


@router.get("/rating-factors", response=list[FactorOut])
@requires("account.view")
def factor_list(request: HttpRequest) -> Any:
    return list(reads.factor_list())


@router.patch("/rating-factors/{int:pk}", response={200: FactorOut, 422: ErrorOut})
@requires("rating.manage")
def factor_update(request: HttpRequest, pk: int, payload: FactorPatch) -> Any:
    factor = RatingFactor.objects.filter(pk=pk).first()
    if factor is None:
        raise NotFound()
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    return services.factor_update(actor=request.user, factor=factor, expected_version=version, **data)


# --- An account's ratings ----------------------------------------------------------------------------
class RatingOut(Schema):
    id: int
    account: int = Field(..., alias="account_id")
    score: Decimal
    grade: str
    previous_grade: str
    kind: str
    factors: dict[str, float | None]
    note: str
    rated_by: int | None = Field(None, alias="rated_by_id")
    rated_by_name: str | None
    rated_at: dt.datetime

    @staticmethod
    def resolve_rated_by_name(obj: AccountRating) -> str | None:
        return str(obj.rated_by) if obj.rated_by_id else None


class RateIn(Strict):
    note: str = ""


class FactorScoreIn(Strict):
    score: Decimal


class FactorScoreOut(Schema):
    account: int = Field(..., alias="account_id")
    factor: str
    score: Decimal
    scored_at: dt.datetime

    @staticmethod
    def resolve_factor(obj: Any) -> str:
        return str(obj.factor.key)


class NoteIn(Strict):
    note: str = ""


def _account(request: HttpRequest, pk: int) -> Account:
    return records.get_visible(request.user, Account, pk)


@router.get("/accounts/{int:pk}/ratings", response=list[RatingOut])
@requires("account.view")
def rating_list(request: HttpRequest, pk: int) -> Any:
    """The relationship curve: every rating of the account, oldest first (at most the last 120)."""
    return reads.rating_series(_account(request, pk))


@router.post("/accounts/{int:pk}/ratings", response={201: RatingOut, 422: ErrorOut})
@requires("account.rate")
def rating_create(request: HttpRequest, pk: int, payload: RateIn) -> Any:
    return Status(201, services.account_rate(actor=request.user, account=_account(request, pk), note=payload.note))


@router.put("/accounts/{int:pk}/factor-scores/{factor_key}", response={200: FactorScoreOut, 422: ErrorOut})
@requires("account.rate")
def factor_score_set(request: HttpRequest, pk: int, factor_key: str, payload: FactorScoreIn) -> Any:
    account = _account(request, pk)
    factor = RatingFactor.objects.filter(key=factor_key).first()
    if factor is None:
        raise NotFound()
    return services.account_score_factor(actor=request.user, account=account, factor=factor, score=payload.score)


@router.post("/ratings/rerate-all", response={202: dict})
@requires("rating.manage")
def rerate_all(request: HttpRequest, payload: NoteIn) -> Any:
    job = services.rerate_all_start(actor=request.user, note=payload.note)
    return Status(202, {"job": str(job.pk), "url": f"/api/v1/jobs/{job.pk}"})
