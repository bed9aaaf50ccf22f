"""REST API: contracts (`/api/v1/contracts`) with their execution steps and payment plan,
and receipts (`/api/v1/payments`).

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
from guanxi.core.errors import Conflict, Invalid, NotFound
from guanxi.core.permissions import declare as requires
from guanxi.core.services import records
from guanxi.customers.models import Account
from guanxi.sales.models import Contract, ContractStep, Payment, PaymentPlan
from guanxi.sales.selectors import contracts as reads
from guanxi.sales.selectors.scope import contract_scope, get_one, order_scope, payment_scope, plan_scope
from guanxi.sales.services import contracts as services
from guanxi.sales.services import payments as payment_services
from guanxi.sales.services.orders_export import export_start

router = Router(tags=["contracts"])


class ContractOut(Schema):
    id: int
    code: str
    title: str
    account: int = Field(..., alias="account_id")
    account_name: str
    contact: int | None = Field(None, alias="contact_id")
    order: int | None = Field(None, alias="order_id")
    quote: int | None = Field(None, alias="quote_id")
    opportunity: int | None = Field(None, alias="opportunity_id")
    party_a: str
    party_b: str
    state: str
    amount: Decimal
    currency: str
    rate_to_cny: Decimal
    received: Decimal
    outstanding: Decimal
    signed_on: dt.date | None
    starts_on: dt.date | None
    ends_on: dt.date | None
    remind_days: int
    terms: str
    owner: int = Field(..., alias="owner_id")
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_account_name(obj: Contract) -> str:
        return obj.account.name


class ContractIn(Strict):
    account: int | None = None
    order: int | None = None
    amount: Decimal | None = None
    code: str = ""
    title: str = ""
    party_a: str = ""
    party_b: str = ""
    currency: str = "CNY"
    contact: int | None = None
    signed_on: dt.date | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    remind_days: int = 30
    terms: str = ""


class ContractPatch(Strict):
    version: int
    code: str | None = None
    title: str | None = None
    party_a: str | None = None
    party_b: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    contact: int | None = None
    signed_on: dt.date | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    remind_days: int | None = None
    terms: str | None = None


class StateIn(Strict):
    state: str
    version: int | None = None
    signed_on: dt.date | None = None


class StepOut(Schema):
    id: int
    contract: int = Field(..., alias="contract_id")
    position: int
    name: str
    due_on: dt.date | None
    done_on: dt.date | None
    state: str
    owner: int | None = Field(None, alias="owner_id")
    notes: str
    version: int


class StepIn(Strict):
    name: str
    due_on: dt.date | None = None
    owner: int | None = None
    notes: str = ""
    state: str = ContractStep.State.PENDING


class StepPatch(Strict):
    version: int
    name: str | None = None
    due_on: dt.date | None = None
    done_on: dt.date | None = None
    state: str | None = None
    owner: int | None = None
    notes: str | None = None
    position: int | None = None


class PlanOut(Schema):
    id: int
    contract: int = Field(..., alias="contract_id")
    position: int
    description: str
    due_on: dt.date
    amount: Decimal
    received: Decimal
    outstanding: Decimal
    overdue: bool
    version: int

    @staticmethod
    def resolve_overdue(obj: PaymentPlan) -> bool:
        return bool(getattr(obj, "overdue", obj.is_overdue and obj.contract.state == Contract.State.ACTIVE))


class PlanIn(Strict):
    due_on: dt.date
    amount: Decimal
    description: str = ""


class PlanPatch(Strict):
    version: int
    due_on: dt.date | None = None
    amount: Decimal | None = None
    description: str | None = None


class PaymentOut(Schema):
    id: int
    contract: int = Field(..., alias="contract_id")
    contract_code: str
    plan: int | None = Field(None, alias="plan_id")
    account: int = Field(..., alias="account_id")
    received_on: dt.date
    amount: Decimal
    method: str
    reference: str
    notes: str
    recorded_by: int | None = Field(None, alias="recorded_by_id")
    version: int
    created_at: dt.datetime

    @staticmethod
    def resolve_contract_code(obj: Payment) -> str:
        return obj.contract.code


class PaymentIn(Strict):
    contract: int
    amount: Decimal
    received_on: dt.date | None = None
    method: str = Payment.Method.TRANSFER
    reference: str = ""
    plan: int | None = None
    notes: str = ""


class ExportIn(Strict):
    format: str = "csv"
    filters: dict[str, str] = {}


def _contract(request: HttpRequest, pk: int) -> Contract:
    return get_one(contract_scope, request.user, pk, "account")  # type: ignore[no-any-return]


# --- Contracts -------------------------------------------------------------------------------
@router.get("/contracts", response=list[ContractOut])
@requires("contract.view")
@paginate(CursorPagination, ordering=("-id",))
def contract_list(request: HttpRequest, q: str = "", state: str = "", account: int | None = None,
                  owner: str = "") -> Any:
    """The contracts the caller sees, newest first: ``q`` (number, title, account), ``state``,
    ``account``, ``owner`` (``me`` or an id)."""
    filters = reads.parse_filters(request.user, request.GET)
    filters.pop("overdue", None)
    return reads.contract_list_for(request.user, **filters)


@router.post("/contracts", response={201: ContractOut, 404: ErrorOut, 422: ErrorOut})
@requires("contract.add")
def contract_create(request: HttpRequest, payload: ContractIn) -> Any:
    """A draft contract for a visible ``account`` (``amount`` required; ``code`` empty: the next
    number), or, with ``order``, one prefilled from that order (parties, amount, currency)."""
    data = payload.model_dump(exclude_unset=True)
    if payload.order is not None:
        extra = set(data) - {"order"}
        if extra:
            raise Invalid(errors={name: [_("A contract from an order takes its data from the order; edit it after.")]
                                  for name in sorted(extra)})
        contract = services.contract_from_order(actor=request.user,
                                                order=get_one(order_scope, request.user, payload.order))
        return Status(201, _contract(request, contract.pk))
    missing = [name for name in ("account", "amount") if data.get(name) is None]
    if missing:
        raise Invalid(errors={name: [_("This field is required.")] for name in missing})
    account: Account = records.get_visible(request.user, Account, data.pop("account"))
    contract = services.contract_create(actor=request.user, account=account, **data)
    return Status(201, _contract(request, contract.pk))


@router.get("/contracts/{int:pk}", response=ContractOut)
@requires("contract.view")
def contract_get(request: HttpRequest, pk: int) -> Any:
    return _contract(request, pk)


@router.patch("/contracts/{int:pk}", response={200: ContractOut, 409: ErrorOut, 422: ErrorOut})
@requires("contract.change")
def contract_update(request: HttpRequest, pk: int, payload: ContractPatch) -> Any:
    """Change fields (stale ``version`` → 409). The amount never goes below the plan or the receipts."""
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    services.contract_update(actor=request.user, contract=_contract(request, pk), changes=data,
                             expected_version=version)
    return _contract(request, pk)


@router.post("/contracts/{int:pk}/state", response={200: ContractOut, 409: ErrorOut, 422: ErrorOut})
@requires("contract.change")
def contract_state(request: HttpRequest, pk: int, payload: StateIn) -> Any:
    """``state``: ``active`` (needs ``signed_on`` unless set), ``completed``, ``terminated``, ``expired``."""
    services.contract_move(actor=request.user, contract=_contract(request, pk), to=payload.state,
                           signed_on=payload.signed_on, expected_version=payload.version)
    return _contract(request, pk)


@router.delete("/contracts/{int:pk}", response={204: None, 409: ErrorOut})
@requires("contract.delete")
def contract_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    services.contract_delete(actor=request.user, contract=_contract(request, pk), expected_version=version)
    return Status(204, None)


@router.post("/contracts/export", response={202: dict, 422: ErrorOut})
@requires("sales.export")
def contract_export(request: HttpRequest, payload: ExportIn) -> Any:
    filters = reads.parse_filters(request.user, payload.filters)
    filters.pop("overdue", None)
    job = export_start(actor=request.user, what="contracts", filters=filters, format=payload.format)
    return Status(202, {"job": str(job.pk), "url": f"/api/v1/jobs/{job.pk}"})


# --- Execution steps -------------------------------------------------------------------------
def _step(request: HttpRequest, pk: int, step_pk: int) -> ContractStep:
    contract = _contract(request, pk)
    step = ContractStep.objects.filter(pk=step_pk, contract=contract).select_related("contract").first()
    if step is None:
        raise NotFound()
    return step


@router.get("/contracts/{int:pk}/steps", response=list[StepOut])
@requires("contract.view")
def step_list(request: HttpRequest, pk: int) -> Any:
    return reads.steps_of(_contract(request, pk))


@router.post("/contracts/{int:pk}/steps", response={201: StepOut, 422: ErrorOut})
@requires("contract.change")
def step_create(request: HttpRequest, pk: int, payload: StepIn) -> Any:
    return Status(201, services.step_add(actor=request.user, contract=_contract(request, pk), **payload.model_dump()))


@router.patch("/contracts/{int:pk}/steps/{int:step_pk}", response={200: StepOut, 409: ErrorOut, 422: ErrorOut})
@requires("contract.change")
def step_update(request: HttpRequest, pk: int, step_pk: int, payload: StepPatch) -> Any:
    """Change a step; ``position`` moves it (1 = first)."""
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    position = data.pop("position", None)
    step = _step(request, pk, step_pk)
    if data:
        services.step_update(actor=request.user, step=step, changes=data, expected_version=version)
    elif version != step.version:
        raise Conflict()
    if position is not None:
        services.step_move(actor=request.user, step=step, position=position)
    step.refresh_from_db()
    return step


# --- Payment plan ----------------------------------------------------------------------------
def _plan(request: HttpRequest, pk: int, plan_pk: int) -> PaymentPlan:
    contract = _contract(request, pk)
    plan = plan_scope(request.user).filter(pk=plan_pk, contract=contract).select_related("contract").first()
    if plan is None:
        raise NotFound()
    return plan


@router.get("/contracts/{int:pk}/plan", response=list[PlanOut])
@requires("contract.view")
def plan_list(request: HttpRequest, pk: int) -> Any:
    """The instalments in due order with what each received and whether it is overdue."""
    return reads.plan_of(_contract(request, pk))


@router.post("/contracts/{int:pk}/plan", response={201: PlanOut, 422: ErrorOut})
@requires("contract.change")
def plan_create(request: HttpRequest, pk: int, payload: PlanIn) -> Any:
    """Add an instalment; the plan may not add up to more than the contract amount (422)."""
    plan = services.plan_add(actor=request.user, contract=_contract(request, pk), **payload.model_dump())
    return Status(201, _plan(request, pk, plan.pk))


@router.patch("/contracts/{int:pk}/plan/{int:plan_pk}", response={200: PlanOut, 409: ErrorOut, 422: ErrorOut})
@requires("contract.change")
def plan_update(request: HttpRequest, pk: int, plan_pk: int, payload: PlanPatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    services.plan_update(actor=request.user, plan=_plan(request, pk, plan_pk), changes=data, expected_version=version)
    return _plan(request, pk, plan_pk)


@router.delete("/contracts/{int:pk}/plan/{int:plan_pk}", response={204: None, 422: ErrorOut})
@requires("contract.change")
def plan_delete(request: HttpRequest, pk: int, plan_pk: int) -> Any:
    """Remove an instalment nothing was received against (else 422)."""
    services.plan_delete(actor=request.user, plan=_plan(request, pk, plan_pk))
    return Status(204, None)


# --- Receipts --------------------------------------------------------------------------------
def _payment(request: HttpRequest, pk: int) -> Payment:
    return get_one(payment_scope, request.user, pk, "contract")  # type: ignore[no-any-return]


@router.get("/payments", response=list[PaymentOut])
@requires("payment.view")
@paginate(CursorPagination, ordering=("-id",))
def payment_list(request: HttpRequest, contract: int | None = None, account: int | None = None) -> Any:
    """The receipts the caller sees (those of visible contracts), newest first."""
    return reads.payment_list_for(request.user, contract=contract, account=account)


@router.post("/payments", response={201: PaymentOut, 404: ErrorOut, 422: ErrorOut})
@requires("payment.add")
def payment_create(request: HttpRequest, payload: PaymentIn) -> Any:
    """Record a receipt against a visible contract in force; without ``plan`` it fills the oldest
    open instalments. More than the contract's outstanding amount → 422. Send an
    ``Idempotency-Key``: a retried request is answered from the first, never recorded twice."""
    data = payload.model_dump()
    contract = _contract(request, data.pop("contract"))
    payment = payment_services.payment_record(actor=request.user, contract=contract, **data)
    return Status(201, _payment(request, payment.pk))


@router.get("/payments/{int:pk}", response=PaymentOut)
@requires("payment.view")
def payment_get(request: HttpRequest, pk: int) -> Any:
    return _payment(request, pk)


@router.delete("/payments/{int:pk}", response={204: None, 409: ErrorOut})
@requires("payment.delete")
def payment_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    """Reverse a receipt (to the recycle bin); the contract's figures follow."""
    payment_services.payment_delete(actor=request.user, payment=_payment(request, pk), expected_version=version)
    return Status(204, None)
