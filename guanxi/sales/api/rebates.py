"""REST API of distributor rebates (R4.5): `/api/v1/rebate-rules`, `/api/v1/rebate-deductions`,
`/api/v1/rebate-statements` (list, get, compute, confirm, and the statement as Excel or PDF).

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.pagination import CursorPagination, paginate

from guanxi.activities.views.confirm import download
from guanxi.core import access
from guanxi.core.api import ErrorOut, Strict
from guanxi.core.errors import Invalid, NotFound
from guanxi.core.permissions import declare as requires
from guanxi.customers.models import Account
from guanxi.sales.models import RebateDeduction, RebateRule, RebateStatement
from guanxi.sales.selectors import rebates as reads
from guanxi.sales.selectors.scope import get_one
from guanxi.sales.services import rebates as services
from guanxi.sales.services.rebates_documents import FORMATS, rebate_statement_export

router = Router(tags=["rebates"])


# --- Rules ---------------------------------------------------------------------------------
class RuleOut(Schema):
    id: int
    name: str
    year: int
    basis: str
    tiers: list[dict[str, str]]
    target: Decimal | None
    target_rate: Decimal
    points_per_10k: Decimal
    grade: str
    active: bool
    version: int
    updated_at: dt.datetime


class RuleIn(Strict):
    name: str
    year: int
    basis: str = RebateRule.Basis.RECEIVED
    tiers: list[dict[str, Any]] = []
    target: Decimal | None = None
    target_rate: Decimal = Decimal("0")
    points_per_10k: Decimal = Decimal("0")
    grade: str = ""
    active: bool = True


class RulePatch(Strict):
    version: int
    name: str | None = None
    year: int | None = None
    basis: str | None = None
    tiers: list[dict[str, Any]] | None = None
    target: Decimal | None = None
    target_rate: Decimal | None = None
    points_per_10k: Decimal | None = None
    grade: str | None = None
    active: bool | None = None


def _rule(pk: int) -> RebateRule:
    rule = RebateRule.objects.filter(pk=pk).first()
    if rule is None:
        raise NotFound()
    return rule


@router.get("/rebate-rules", response=list[RuleOut])
@requires("rebate.view")
def rule_list(request: HttpRequest, year: int | None = None, active: bool | None = None) -> Any:
    """Every rule (the company's terms), newest year first; ``year``, ``active`` filter."""
    qs = RebateRule.objects.order_by("-year", "name", "id")
    if year is not None:
        qs = qs.filter(year=year)
    if active is not None:
        qs = qs.filter(active=active)
    return list(qs[:500])


@router.post("/rebate-rules", response={201: RuleOut, 422: ErrorOut})
@requires("rebate.manage")
def rule_create(request: HttpRequest, payload: RuleIn) -> Any:
    """``tiers``: ``[{"from": 1000000, "rate": 2}, …]`` ascending by ``from``; the highest tier
    reached applies to the whole volume."""
    return Status(201, services.rebate_rule_create(actor=request.user, **payload.model_dump()))


@router.get("/rebate-rules/{int:pk}", response=RuleOut)
@requires("rebate.view")
def rule_get(request: HttpRequest, pk: int) -> Any:
    return _rule(pk)


@router.patch("/rebate-rules/{int:pk}", response={200: RuleOut, 409: ErrorOut, 422: ErrorOut})
@requires("rebate.manage")
def rule_update(request: HttpRequest, pk: int, payload: RulePatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    rule = _rule(pk)
    return services.rebate_rule_update(actor=request.user, rule=rule, changes=data, expected_version=version)


@router.delete("/rebate-rules/{int:pk}", response={204: None, 409: ErrorOut, 422: ErrorOut})
@requires("rebate.manage")
def rule_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    """Only a rule no statement was computed with (else PATCH ``active: false``)."""
    services.rebate_rule_delete(actor=request.user, rule=_rule(pk), expected_version=version)
    return Status(204, None)


# --- Deductions ----------------------------------------------------------------------------
class DeductionOut(Schema):
    id: int
    account: int = Field(..., alias="account_id")
    account_name: str
    year: int
    amount: Decimal
    points: Decimal
    reason: str
    occurred_on: dt.date
    recorded_by: int | None = Field(None, alias="recorded_by_id")
    version: int
    created_at: dt.datetime

    @staticmethod
    def resolve_account_name(obj: RebateDeduction) -> str:
        return obj.account.name


class DeductionIn(Strict):
    account: int
    year: int
    reason: str
    amount: Decimal = Decimal("0")
    points: Decimal = Decimal("0")
    occurred_on: dt.date | None = None


class DeductionPatch(Strict):
    version: int
    amount: Decimal | None = None
    points: Decimal | None = None
    reason: str | None = None
    occurred_on: dt.date | None = None


def _deduction(request: HttpRequest, pk: int) -> RebateDeduction:
    return get_one(reads.deduction_scope, request.user, pk, "account")  # type: ignore[no-any-return]


def _distributor(request: HttpRequest, pk: int) -> Account:
    account = reads.distributor_scope(request.user).filter(pk=pk).first()
    if account is None:
        if Account.objects.filter(pk=pk, is_distributor=False).exists() and \
                access.visible(request.user, Account.objects.filter(pk=pk)).exists():
            raise Invalid(errors={"account": [_("This account is not marked as a distributor.")]})
        raise NotFound()
    return account


@router.get("/rebate-deductions", response=list[DeductionOut])
@requires("rebate.view")
@paginate(CursorPagination, ordering=("-id",))
def deduction_list(request: HttpRequest, account: int | None = None, year: int | None = None) -> Any:
    """Deductions of the distributors the caller sees; ``account``, ``year`` filter."""
    return reads.deduction_list_for(request.user, {"account": account or "", "year": year or ""})


@router.post("/rebate-deductions", response={201: DeductionOut, 404: ErrorOut, 422: ErrorOut})
@requires("rebate.manage")
def deduction_create(request: HttpRequest, payload: DeductionIn) -> Any:
    """Deduct ``amount`` (CNY) and/or ``points`` from a visible distributor's rebate for
    ``year`` (refused once that year's statement is confirmed)."""
    data = payload.model_dump()
    deduction = services.rebate_deduct(actor=request.user, account=_distributor(request, data.pop("account")), **data)
    return Status(201, _deduction(request, deduction.pk))


@router.get("/rebate-deductions/{int:pk}", response=DeductionOut)
@requires("rebate.view")
def deduction_get(request: HttpRequest, pk: int) -> Any:
    return _deduction(request, pk)


@router.patch("/rebate-deductions/{int:pk}", response={200: DeductionOut, 409: ErrorOut, 422: ErrorOut})
@requires("rebate.manage")
def deduction_update(request: HttpRequest, pk: int, payload: DeductionPatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    services.rebate_deduction_update(actor=request.user, deduction=_deduction(request, pk), changes=data,
                                     expected_version=version)
    return _deduction(request, pk)


@router.delete("/rebate-deductions/{int:pk}", response={204: None, 409: ErrorOut, 422: ErrorOut})
@requires("rebate.manage")
def deduction_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    """To the recycle bin (not once the year's statement is confirmed)."""
    services.rebate_deduction_delete(actor=request.user, deduction=_deduction(request, pk), expected_version=version)
    return Status(204, None)


# --- Statements ----------------------------------------------------------------------------
class StatementOut(Schema):
    id: int
    account: int = Field(..., alias="account_id")
    account_name: str
    year: int
    rule: int = Field(..., alias="rule_id")
    rule_name: str
    volume: Decimal
    rate: Decimal
    rebate: Decimal
    points: Decimal
    deductions: Decimal
    points_deducted: Decimal
    net: Decimal
    details: dict[str, Any]
    state: str
    computed_at: dt.datetime
    confirmed_by: int | None = Field(None, alias="confirmed_by_id")
    version: int

    @staticmethod
    def resolve_account_name(obj: RebateStatement) -> str:
        return obj.account.name

    @staticmethod
    def resolve_rule_name(obj: RebateStatement) -> str:
        return obj.rule.name


class ComputeIn(Strict):
    year: int
    account: int | None = None
    rule: int | None = None


class SkippedOut(Schema):
    account: int
    account_name: str
    reason: str


class ComputeOut(Schema):
    statements: list[StatementOut]
    skipped: list[SkippedOut]


class ConfirmIn(Strict):
    version: int | None = None


def _statement(request: HttpRequest, pk: int) -> RebateStatement:
    return get_one(reads.statement_scope, request.user, pk, "account", "rule")  # type: ignore[no-any-return]


@router.get("/rebate-statements", response=list[StatementOut])
@requires("rebate.view")
@paginate(CursorPagination, ordering=("-id",))
def statement_list(request: HttpRequest, year: int | None = None, account: int | None = None,
                   state: str = "") -> Any:
    """Statements of the distributors the caller sees; ``year``, ``account``, ``state``
    (``draft``, ``confirmed``) filter."""
    return reads.statement_list_for(request.user, {"year": year or "", "account": account or "", "state": state})


@router.get("/rebate-statements/{int:pk}", response=StatementOut)
@requires("rebate.view")
def statement_get(request: HttpRequest, pk: int) -> Any:
    """One statement; ``details`` holds the working (tiers reached, target, points, each
    deduction, and ``floored`` when the deductions exceed the rebate and the net stops at 0)."""
    return _statement(request, pk)


@router.post("/rebate-statements/compute", response={200: ComputeOut, 404: ErrorOut, 422: ErrorOut})
@requires("rebate.view")
def statement_compute(request: HttpRequest, payload: ComputeIn) -> Any:
    """Compute the drafts of ``year``: for ``account`` (a distributor the caller sees; 422 when
    it cannot be computed, with the reason) or every visible distributor (those that cannot
    are listed in ``skipped``), under ``rule`` or the rule that applies to each."""
    account = _distributor(request, payload.account) if payload.account is not None else None
    rule = None
    if payload.rule is not None:
        rule = RebateRule.objects.filter(pk=payload.rule).first()
        if rule is None:
            raise Invalid(errors={"rule": [_("Choose an active rule of the year.")]})
    result = services.rebate_compute(actor=request.user, year=payload.year, account=account, rule=rule)
    return {"statements": result.statements,
            "skipped": [{"account": a.pk, "account_name": a.name, "reason": why} for a, why in result.skipped]}


@router.post("/rebate-statements/{int:pk}/confirm", response={200: StatementOut, 409: ErrorOut, 422: ErrorOut})
@requires("rebate.manage")
def statement_confirm(request: HttpRequest, pk: int, payload: ConfirmIn) -> Any:
    """Freeze a draft (``version`` as read: stale → 409). Refused with 422 when the figures
    changed since it was computed."""
    services.rebate_confirm(actor=request.user, statement=_statement(request, pk), expected_version=payload.version)
    return _statement(request, pk)


def _binary(content_type: str, description: str) -> dict[str, Any]:
    """The OpenAPI description of a 200 answer that is a file, not JSON."""
    return {"responses": {200: {"description": description,
                                "content": {content_type: {"schema": {"type": "string", "format": "binary"}}}}}}


def _document(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    return download(*rebate_statement_export(actor=request.user, statement=_statement(request, pk), fmt=fmt))


@router.get("/rebate-statements/{int:pk}/xlsx", response={200: None, 404: ErrorOut},
            openapi_extra=_binary(FORMATS["xlsx"], "The statement as an Excel workbook."))
@requires("rebate.view")
def statement_xlsx(request: HttpRequest, pk: int) -> HttpResponse:
    return _document(request, pk, "xlsx")


@router.get("/rebate-statements/{int:pk}/pdf", response={200: None, 404: ErrorOut},
            openapi_extra=_binary(FORMATS["pdf"], "The statement as a PDF."))
@requires("rebate.view")
def statement_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    return _document(request, pk, "pdf")
