"""REST endpoints of deals and pipelines: `/api/v1/opportunities` (with `/move`),
`/api/v1/pipelines` with their stages, and `/api/v1/loss-reasons`.

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
from guanxi.core.errors import Forbidden, Invalid, NotFound
from guanxi.core.permissions import AUTHENTICATED, has_perm
from guanxi.core.permissions import declare as requires
from guanxi.customers.models import Account
from guanxi.sales.models import LossReason, Opportunity, Pipeline, Stage
from guanxi.sales.selectors import pipeline as reads
from guanxi.sales.selectors.scope import get_one, opportunity_scope
from guanxi.sales.services import pipeline as services
from guanxi.sales.services import pipeline_setup as setup

router = Router(tags=["opportunities"])
RELATED = ("account", "owner", "stage", "pipeline", "loss_reason")


# --- Schemas -----------------------------------------------------------------------------------
class OpportunityOut(Schema):
    id: int
    code: str
    name: str
    account: int = Field(..., alias="account_id")
    account_name: str
    contact: int | None = Field(None, alias="contact_id")
    pipeline: int = Field(..., alias="pipeline_id")
    pipeline_name: str
    stage: int = Field(..., alias="stage_id")
    stage_name: str
    state: str
    probability: int
    amount: Decimal
    currency: str
    rate_to_cny: Decimal
    amount_cny: Decimal
    weighted_amount: Decimal
    expected_close: dt.date | None
    closed_on: dt.date | None
    competitors: str
    loss_reason: int | None = Field(None, alias="loss_reason_id")
    loss_reason_name: str
    loss_note: str
    description: str
    next_step: str
    products: list[int]
    owner: int = Field(..., alias="owner_id")
    owner_name: str
    lead: int | None = Field(None, alias="lead_id")
    stage_changed_at: dt.datetime
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_account_name(obj: Opportunity) -> str:
        return obj.account.name

    @staticmethod
    def resolve_pipeline_name(obj: Opportunity) -> str:
        return obj.pipeline.name

    @staticmethod
    def resolve_stage_name(obj: Opportunity) -> str:
        return obj.stage.name

    @staticmethod
    def resolve_owner_name(obj: Opportunity) -> str:
        return str(obj.owner)

    @staticmethod
    def resolve_loss_reason_name(obj: Opportunity) -> str:
        return obj.loss_reason.name if obj.loss_reason else ""

    @staticmethod
    def resolve_amount_cny(obj: Opportunity) -> Decimal:
        return (obj.amount * obj.rate_to_cny).quantize(Decimal("0.01"))

    @staticmethod
    def resolve_products(obj: Opportunity) -> list[int]:
        return [p.pk for p in obj.products.all()]


class OpportunityIn(Strict):
    account: int
    name: str
    amount: Decimal = Decimal("0")
    currency: str = "CNY"
    expected_close: dt.date | None = None
    pipeline: int | None = None
    stage: int | None = None
    probability: int | None = None
    contact: int | None = None
    owner: int | None = None
    competitors: str = ""
    description: str = ""
    next_step: str = ""
    products: list[int] = []


class OpportunityPatch(Strict):
    version: int
    name: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    expected_close: dt.date | None = None
    probability: int | None = None
    contact: int | None = None
    owner: int | None = None
    competitors: str | None = None
    description: str | None = None
    next_step: str | None = None
    products: list[int] | None = None


class MoveIn(Strict):
    stage: int
    version: int | None = None
    rank_after: int | None = None
    loss_reason: int | None = None
    loss_note: str = ""
    probability: int | None = None


class StageOut(Schema):
    id: int
    name: str
    probability: int
    kind: str
    position: int
    active: bool
    version: int


class PipelineOut(Schema):
    id: int
    name: str
    is_default: bool
    active: bool
    sort_order: int
    version: int
    stages: list[StageOut]

    @staticmethod
    def resolve_stages(obj: Pipeline) -> list[Stage]:
        return list(obj.stages.all())


class StageIn(Strict):
    name: str
    probability: int | None = None
    kind: str = Stage.Kind.OPEN
    position: int | None = None
    active: bool = True


class NewStageIn(Strict):
    name: str
    probability: int | None = None
    kind: str = Stage.Kind.OPEN


class PipelineIn(Strict):
    name: str
    is_default: bool = False
    active: bool = True
    sort_order: int = 0
    stages: list[NewStageIn] | None = None


class PipelinePatch(Strict):
    version: int
    name: str | None = None
    is_default: bool | None = None
    active: bool | None = None
    sort_order: int | None = None


class StagePatch(Strict):
    version: int
    name: str | None = None
    probability: int | None = None
    kind: str | None = None
    position: int | None = None
    active: bool | None = None


class LossReasonOut(Schema):
    id: int
    name: str
    active: bool
    sort_order: int
    version: int


class LossReasonIn(Strict):
    name: str
    active: bool = True
    sort_order: int | None = None


class LossReasonPatch(Strict):
    version: int
    name: str | None = None
    active: bool | None = None
    sort_order: int | None = None


# --- Deals -------------------------------------------------------------------------------------
def _deal(request: HttpRequest, pk: int) -> Opportunity:
    return get_one(opportunity_scope, request.user, pk, *RELATED)  # type: ignore[no-any-return]


@router.get("/opportunities", response=list[OpportunityOut])
@requires("opportunity.view")
@paginate(CursorPagination, ordering=("-id",))
def opportunity_list(request: HttpRequest, pipeline: str = "", stage: str = "", state: str = "", owner: str = "",
                     account: str = "", close_from: str = "", close_to: str = "", q: str = "") -> Any:
    """The deals the caller sees, newest first: ``pipeline``, ``stage``, ``state`` (``open``,
    ``won``, ``lost``), ``owner`` (``me`` or a colleague's id), ``account``, ``close_from`` /
    ``close_to`` (expected close date range), ``q`` (deal name, number or account name)."""
    filters = reads.parse_filters(request.GET, request.user)
    if filters.errors:
        raise Invalid(errors=filters.errors)
    return reads.opportunity_list_for(request.user, filters).prefetch_related("products").select_related(
        "loss_reason")


@router.post("/opportunities", response={201: OpportunityOut, 422: ErrorOut})
@requires("opportunity.add")
def opportunity_create(request: HttpRequest, payload: OpportunityIn) -> Any:
    """Open a deal on a visible account (else 422 on ``account``), in the default pipeline's
    first stage unless ``pipeline`` / ``stage`` say otherwise; the owner defaults to the caller."""
    data = payload.model_dump()
    account = Account.objects.filter(pk=data.pop("account")).first()
    if account is None:
        raise Invalid(errors={"account": [_("Choose an account you can see.")]})
    deal = services.opportunity_create(actor=request.user, account=account, **data)
    return Status(201, _deal(request, deal.pk))


@router.get("/opportunities/{int:pk}", response=OpportunityOut)
@requires("opportunity.view")
def opportunity_get(request: HttpRequest, pk: int) -> Any:
    return _deal(request, pk)


@router.patch("/opportunities/{int:pk}", response={200: OpportunityOut, 409: ErrorOut, 422: ErrorOut})
@requires("opportunity.change")
def opportunity_update(request: HttpRequest, pk: int, payload: OpportunityPatch) -> Any:
    """Change the deal's fields (``products`` replaces the list); the stage changes by ``/move``."""
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    services.opportunity_update(actor=request.user, opportunity=_deal(request, pk), changes=data,
                                expected_version=version)
    return _deal(request, pk)


@router.delete("/opportunities/{int:pk}", response={204: None, 409: ErrorOut})
@requires("opportunity.delete")
def opportunity_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    services.opportunity_delete(actor=request.user, opportunity=_deal(request, pk), expected_version=version)
    return Status(204, None)


@router.post("/opportunities/{int:pk}/move", response={200: OpportunityOut, 409: ErrorOut, 422: ErrorOut})
@requires("opportunity.change")
def opportunity_move(request: HttpRequest, pk: int, payload: MoveIn) -> Any:
    """To ``stage`` (a lost stage needs ``loss_reason``), placed after card ``rank_after``."""
    services.opportunity_move(actor=request.user, opportunity=_deal(request, pk), stage=payload.stage,
                              expected_version=payload.version, rank_after=payload.rank_after,
                              loss_reason=payload.loss_reason, loss_note=payload.loss_note,
                              probability=payload.probability)
    return _deal(request, pk)


# --- Pipelines, stages, loss reasons ----------------------------------------------------------
def _may_read_setup(request: HttpRequest) -> None:
    if not (has_perm(request.user, "opportunity.view") or has_perm(request.user, "pipeline.manage")):
        raise Forbidden()


@router.get("/pipelines", response=list[PipelineOut])
@requires(AUTHENTICATED)
def pipeline_list(request: HttpRequest, active: bool | None = None) -> Any:
    """Every pipeline with its stages in order (who works on deals or configures them)."""
    _may_read_setup(request)
    setup.ensure_defaults()
    qs = Pipeline.objects.prefetch_related("stages")
    return list(qs.filter(active=active) if active is not None else qs)


@router.post("/pipelines", response={201: PipelineOut, 422: ErrorOut})
@requires("pipeline.manage")
def pipeline_create(request: HttpRequest, payload: PipelineIn) -> Any:
    data = payload.model_dump()
    pipeline = setup.pipeline_create(actor=request.user, **data)
    return Status(201, Pipeline.objects.prefetch_related("stages").get(pk=pipeline.pk))


def _pipeline(pk: int) -> Pipeline:
    found = Pipeline.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found


@router.patch("/pipelines/{int:pk}", response={200: PipelineOut, 409: ErrorOut, 422: ErrorOut})
@requires("pipeline.manage")
def pipeline_update(request: HttpRequest, pk: int, payload: PipelinePatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    setup.pipeline_update(actor=request.user, pipeline=_pipeline(pk), changes=data, expected_version=version)
    return Pipeline.objects.prefetch_related("stages").get(pk=pk)


@router.post("/pipelines/{int:pk}/stages", response={201: StageOut, 422: ErrorOut})
@requires("pipeline.manage")
def stage_create(request: HttpRequest, pk: int, payload: StageIn) -> Any:
    return Status(201, setup.stage_create(actor=request.user, pipeline=_pipeline(pk), **payload.model_dump()))


def _stage(pk: int) -> Stage:
    found = Stage.objects.filter(pk=pk).select_related("pipeline").first()
    if found is None:
        raise NotFound()
    return found


@router.patch("/pipeline-stages/{int:pk}", response={200: StageOut, 409: ErrorOut, 422: ErrorOut})
@requires("pipeline.manage")
def stage_update(request: HttpRequest, pk: int, payload: StagePatch) -> Any:
    """Rename, re-weigh, reorder or (de)activate; ``kind`` only while no deal uses the stage."""
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    return setup.stage_update(actor=request.user, stage=_stage(pk), changes=data, expected_version=version)


@router.delete("/pipeline-stages/{int:pk}", response={204: None, 409: ErrorOut, 422: ErrorOut})
@requires("pipeline.manage")
def stage_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    """Only a stage nothing uses (else 422 ``stage_in_use``: deactivate it instead)."""
    setup.stage_delete(actor=request.user, stage=_stage(pk), expected_version=version)
    return Status(204, None)


@router.get("/loss-reasons", response=list[LossReasonOut])
@requires(AUTHENTICATED)
def loss_reason_list(request: HttpRequest) -> Any:
    _may_read_setup(request)
    setup.ensure_defaults()
    return list(LossReason.objects.all())


@router.post("/loss-reasons", response={201: LossReasonOut, 422: ErrorOut})
@requires("pipeline.manage")
def loss_reason_create(request: HttpRequest, payload: LossReasonIn) -> Any:
    return Status(201, setup.loss_reason_create(actor=request.user, **payload.model_dump()))


def _reason(pk: int) -> LossReason:
    found = LossReason.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found


@router.patch("/loss-reasons/{int:pk}", response={200: LossReasonOut, 409: ErrorOut, 422: ErrorOut})
@requires("pipeline.manage")
def loss_reason_update(request: HttpRequest, pk: int, payload: LossReasonPatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    return setup.loss_reason_update(actor=request.user, reason=_reason(pk), changes=data, expected_version=version)


@router.delete("/loss-reasons/{int:pk}", response={204: None, 409: ErrorOut, 422: ErrorOut})
@requires("pipeline.manage")
def loss_reason_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    setup.loss_reason_delete(actor=request.user, reason=_reason(pk), expected_version=version)
    return Status(204, None)
