"""Configuration of the sales process (R4.1, R13.2): pipelines, their stages, loss reasons.

Only holders of ``pipeline.manage`` write here. Two rules keep every pipeline usable: it
always keeps at least one active *open*, one *won* and one *lost* stage (so a deal can be
worked, won and lost), and a stage that deals or their history point to is never deleted —
it is deactivated instead. A won stage's probability is always 100 %, a lost stage's 0 %.

A fresh database has nothing configured; :func:`ensure_defaults` creates the standard
Chinese pipeline and a starter list of loss reasons the first time anything asks for them
(called lazily by ``services.pipeline.default_pipeline`` and the pages), so nothing has to
be seeded and tests pay nothing for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from guanxi.core import audit, registry
from guanxi.core.errors import Conflict, Invalid
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.customers.services import clean_fields
from guanxi.sales.models import LossReason, Opportunity, Pipeline, Stage, StageChange
from guanxi.sales.services.common import raise_if, require

DEFAULT_PIPELINE = "标准销售流程"
# (name, default probability %, kind): the standard B2B process of a Chinese SME.
DEFAULT_STAGES: tuple[tuple[str, int, str], ...] = (
    ("初步接洽", 10, Stage.Kind.OPEN),
    ("需求确认", 25, Stage.Kind.OPEN),
    ("方案报价", 50, Stage.Kind.OPEN),
    ("谈判审批", 75, Stage.Kind.OPEN),
    ("赢单", 100, Stage.Kind.WON),
    ("输单", 0, Stage.Kind.LOST),
)
DEFAULT_LOSS_REASONS = ("价格", "竞争对手", "需求取消", "无预算", "决策延期", "其他")

PIPELINE_EDITABLE = ("name", "is_default", "active", "sort_order")
STAGE_EDITABLE = ("name", "probability", "kind", "position", "active")
LOSS_REASON_EDITABLE = ("name", "active", "sort_order")
KIND_PROBABILITY = {Stage.Kind.WON: 100, Stage.Kind.LOST: 0}


# --- The defaults ---------------------------------------------------------------------------
def ensure_defaults() -> None:
    """Create the standard pipeline and loss reasons if none exist yet (idempotent).

    Two requests racing on an empty database both try; the unique names let exactly one
    win and the other simply finds the rows there.
    """
    if not Pipeline.objects.exists():
        try:
            with transaction.atomic():
                pipeline = Pipeline.objects.create(name=DEFAULT_PIPELINE, is_default=True, active=True)
                Stage.objects.bulk_create([Stage(pipeline=pipeline, name=name, probability=probability, kind=kind,
                                                 position=n) for n, (name, probability, kind)
                                           in enumerate(DEFAULT_STAGES, start=1)])
                audit.record(actor=None, action="create", obj=pipeline, note="default pipeline",
                             changes={"stages": [None, [name for name, _p, _k in DEFAULT_STAGES]]})
        except IntegrityError:
            pass
    if not LossReason.objects.exists():
        try:
            with transaction.atomic():
                LossReason.objects.bulk_create([LossReason(name=name, sort_order=n)
                                                for n, name in enumerate(DEFAULT_LOSS_REASONS, start=1)])
        except IntegrityError:
            pass


# --- Pipelines ------------------------------------------------------------------------------
def _text(value: Any) -> str:
    return str(value or "").strip()


def _validate_pipeline(obj: Pipeline | None, changes: dict[str, Any]) -> dict[str, Any]:
    cleaned, errors = clean_fields(Pipeline, obj, changes, required={"name": _("Enter the pipeline's name.")})
    name = cleaned.get("name")
    if name and Pipeline.objects.filter(name=name).exclude(pk=obj.pk if obj else 0).exists():
        errors["name"] = [_("Another pipeline already has this name.")]
    is_default = cleaned.get("is_default", getattr(obj, "is_default", False))
    active = cleaned.get("active", getattr(obj, "active", True))
    if is_default and not active:
        errors.setdefault("active", []).append(_("The default pipeline must stay active; make another one the "
                                                 "default first."))
    if obj is not None and obj.is_default and cleaned.get("is_default") is False:
        errors.setdefault("is_default", []).append(_("There is always one default pipeline: make another one the "
                                                     "default instead."))
    raise_if(errors)
    return cleaned


def _stage_rows(stages: Iterable[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The stages a new pipeline starts with: as given, else a copy of the default pipeline's."""
    if stages is None:
        template = Pipeline.objects.filter(is_default=True).first()
        source = ([dict(row) for row in template.stages.filter(active=True).values("name", "probability", "kind")]
                  if template else [])
        if not source:
            source = [{"name": n, "probability": p, "kind": k} for n, p, k in DEFAULT_STAGES]
        return source
    return [dict(s) for s in stages]


@transaction.atomic
def pipeline_create(*, actor: Any, name: str, is_default: bool = False, active: bool = True, sort_order: int = 0,
                    stages: Iterable[dict[str, Any]] | None = None) -> Pipeline:
    """A new pipeline with its stages (``[{name, probability, kind}]``; default: a copy of the
    default pipeline's). It must have at least one open, one won and one lost stage."""
    require(actor, "pipeline.manage")
    cleaned = _validate_pipeline(None, {"name": name, "is_default": bool(is_default), "active": bool(active),
                                        "sort_order": sort_order or 0})
    rows = _stage_rows(stages)
    errors: dict[str, list[str]] = {}
    built: list[Stage] = []
    names: set[str] = set()
    for n, row in enumerate(rows, start=1):
        try:
            values = _validate_stage(None, {"name": row.get("name", ""), "kind": row.get("kind") or Stage.Kind.OPEN,
                                            "probability": row.get("probability"), "active": True})
        except Invalid as exc:
            for field, msgs in exc.errors.items():
                errors.setdefault(f"stages.{n}.{field}", []).extend(msgs)
            continue
        if values["name"] in names:
            errors.setdefault(f"stages.{n}.name", []).append(_("Two stages cannot have the same name."))
        names.add(values["name"])
        built.append(Stage(position=n, **values))
    kinds = {s.kind for s in built}
    if not errors and not {Stage.Kind.OPEN, Stage.Kind.WON, Stage.Kind.LOST} <= kinds:
        errors["stages"] = [_("A pipeline needs at least one open, one won and one lost stage.")]
    raise_if(errors)
    if cleaned["is_default"]:
        Pipeline.objects.filter(is_default=True).update(is_default=False)
    pipeline = Pipeline.objects.create(**cleaned)
    for stage in built:
        stage.pipeline = pipeline
    Stage.objects.bulk_create(built)
    audit.record(actor=actor, action="create", obj=pipeline,
                 changes={**audit.creation_changes(pipeline), "stages": [None, [s.name for s in built]]})
    return pipeline


@transaction.atomic
def pipeline_update(*, actor: Any, pipeline: Pipeline, changes: dict[str, Any],
                    expected_version: int | None) -> Pipeline:
    """Rename, reorder, (de)activate or make the default; the default is always active and unique."""
    require(actor, "pipeline.manage")
    unknown = set(changes) - set(PIPELINE_EDITABLE)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    cleaned = _validate_pipeline(pipeline, changes)
    becomes_default = cleaned.get("is_default") and not pipeline.is_default
    records.apply_update(actor=actor, obj=pipeline, changes=cleaned, expected_version=expected_version)
    if becomes_default:
        for other in Pipeline.objects.filter(is_default=True).exclude(pk=pipeline.pk):
            records.apply_update(actor=actor, obj=other, changes={"is_default": False}, expected_version=None)
    return pipeline


# --- Stages ---------------------------------------------------------------------------------
def _validate_stage(obj: Stage | None, changes: dict[str, Any]) -> dict[str, Any]:
    changes = dict(changes)
    if changes.get("probability") in (None, ""):
        changes.pop("probability", None)
    cleaned, errors = clean_fields(Stage, obj, changes, required={"name": _("Enter the stage's name.")})
    if "kind" in cleaned and cleaned["kind"] not in Stage.Kind.values:
        errors["kind"] = [_("Choose open, won or lost.")]
    probability = cleaned.get("probability")
    if probability is not None and not 0 <= probability <= 100 and "probability" not in errors:
        errors["probability"] = [_("Enter a probability from 0 to 100.")]
    raise_if(errors)
    kind = cleaned.get("kind", getattr(obj, "kind", Stage.Kind.OPEN))
    if kind in KIND_PROBABILITY:
        cleaned["probability"] = KIND_PROBABILITY[kind]
    elif "probability" not in cleaned and obj is None:
        cleaned["probability"] = 10
    return cleaned


def stage_in_use(stage: Stage) -> bool:
    """A deal (even one in the recycle bin) or a line of stage history points to it."""
    return (Opportunity.all_objects.filter(stage=stage).exists()
            or StageChange.objects.filter(to_stage=stage).exists()
            or StageChange.objects.filter(from_stage=stage).exists())


def _check_kinds_kept(pipeline: Pipeline, *, without: Stage | None = None, replaced: Stage | None = None) -> None:
    """At least one active stage of every kind remains after the change (``replaced`` is the
    stage as it will be; ``without`` one that goes away)."""
    stages = {s.pk: s for s in Stage.objects.filter(pipeline=pipeline, active=True)}
    if without is not None:
        stages.pop(without.pk, None)
    if replaced is not None:
        stages.pop(replaced.pk, None)
        if replaced.active:
            stages[replaced.pk] = replaced
    missing = [k for k in (Stage.Kind.OPEN, Stage.Kind.WON, Stage.Kind.LOST)
               if not any(s.kind == k for s in stages.values())]
    if missing:
        labels = ", ".join(str(Stage.Kind(k).label) for k in missing)
        raise Invalid(_("A pipeline needs at least one active open, one won and one lost stage (missing: "
                        "%(kinds)s).") % {"kinds": labels}, code="stage_kinds")


@transaction.atomic
def stage_create(*, actor: Any, pipeline: Pipeline, name: str, probability: Any = None, kind: str = Stage.Kind.OPEN,
                 position: int | None = None, active: bool = True) -> Stage:
    """Add a stage to a pipeline (at the end unless ``position`` says where)."""
    require(actor, "pipeline.manage")
    cleaned = _validate_stage(None, {"name": name, "probability": probability, "kind": kind or Stage.Kind.OPEN,
                                     "active": bool(active)})
    if Stage.objects.filter(pipeline=pipeline, name=cleaned["name"]).exists():
        raise Invalid(errors={"name": [_("This pipeline already has a stage with this name.")]})
    Pipeline.objects.select_for_update().filter(pk=pipeline.pk).first()  # positions are handed out one at a time
    last = Stage.objects.filter(pipeline=pipeline).aggregate(m=Max("position"))["m"] or 0
    stage = Stage.objects.create(pipeline=pipeline, position=position or last + 1, **cleaned)
    audit.record(actor=actor, action="create", obj=stage, changes=audit.creation_changes(stage))
    return stage


@transaction.atomic
def stage_update(*, actor: Any, stage: Stage, changes: dict[str, Any], expected_version: int | None) -> Stage:
    """Rename, re-weigh, reorder or (de)activate a stage. Its kind changes only while no deal
    uses it (a won deal cannot silently become an open one); every pipeline keeps one active
    stage of each kind."""
    require(actor, "pipeline.manage")
    unknown = set(changes) - set(STAGE_EDITABLE)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    cleaned = _validate_stage(stage, changes)
    name = cleaned.get("name")
    if name and Stage.objects.filter(pipeline_id=stage.pipeline_id, name=name).exclude(pk=stage.pk).exists():
        raise Invalid(errors={"name": [_("This pipeline already has a stage with this name.")]})
    if "kind" in cleaned and cleaned["kind"] != stage.kind and stage_in_use(stage):
        raise Invalid(errors={"kind": [_("Deals use this stage: its kind cannot change. Add a new stage instead.")]})
    after = Stage(pk=stage.pk, kind=cleaned.get("kind", stage.kind), active=cleaned.get("active", stage.active))
    _check_kinds_kept(stage.pipeline, replaced=after)
    records.apply_update(actor=actor, obj=stage, changes=cleaned, expected_version=expected_version)
    return stage


@transaction.atomic
def stage_delete(*, actor: Any, stage: Stage, expected_version: int | None = None) -> None:
    """Remove a stage nothing uses; a stage in use can only be deactivated."""
    require(actor, "pipeline.manage")
    if expected_version is not None and expected_version != stage.version:
        raise Conflict()
    if stage_in_use(stage):
        raise Invalid(_("Deals use this stage (or did): it cannot be deleted. Deactivate it instead."),
                      code="stage_in_use")
    _check_kinds_kept(stage.pipeline, without=stage)
    audit.record(actor=actor, action="delete", obj=stage, changes=audit.creation_changes(stage))
    stage.delete()


# --- Loss reasons ---------------------------------------------------------------------------
def _validate_loss_reason(obj: LossReason | None, changes: dict[str, Any]) -> dict[str, Any]:
    cleaned, errors = clean_fields(LossReason, obj, changes, required={"name": _("Enter the reason.")})
    name = cleaned.get("name")
    if name and LossReason.objects.filter(name=name).exclude(pk=obj.pk if obj else 0).exists():
        errors["name"] = [_("This reason already exists.")]
    raise_if(errors)
    return cleaned


@transaction.atomic
def loss_reason_create(*, actor: Any, name: str, active: bool = True, sort_order: int | None = None) -> LossReason:
    require(actor, "pipeline.manage")
    if sort_order is None:
        sort_order = (LossReason.objects.aggregate(m=Max("sort_order"))["m"] or 0) + 1
    cleaned = _validate_loss_reason(None, {"name": name, "active": bool(active), "sort_order": sort_order})
    reason = LossReason.objects.create(**cleaned)
    audit.record(actor=actor, action="create", obj=reason, changes=audit.creation_changes(reason))
    return reason


@transaction.atomic
def loss_reason_update(*, actor: Any, reason: LossReason, changes: dict[str, Any],
                       expected_version: int | None) -> LossReason:
    require(actor, "pipeline.manage")
    unknown = set(changes) - set(LOSS_REASON_EDITABLE)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    records.apply_update(actor=actor, obj=reason, changes=_validate_loss_reason(reason, changes),
                         expected_version=expected_version)
    return reason


def loss_reason_in_use(reason: LossReason) -> bool:
    return Opportunity.all_objects.filter(loss_reason=reason).exists()


@transaction.atomic
def loss_reason_delete(*, actor: Any, reason: LossReason, expected_version: int | None = None) -> None:
    """Remove a reason no deal gives; one in use can only be deactivated."""
    require(actor, "pipeline.manage")
    if expected_version is not None and expected_version != reason.version:
        raise Conflict()
    if loss_reason_in_use(reason):
        raise Invalid(_("Lost deals give this reason: it cannot be deleted. Deactivate it instead."),
                      code="loss_reason_in_use")
    audit.record(actor=actor, action="delete", obj=reason, changes=audit.creation_changes(reason))
    reason.delete()


def _config_scope(user: Any, qs: Any) -> Any:
    return qs if has_perm(user, "pipeline.manage") else qs.none()


# The history page of a pipeline, a stage or a loss reason (configuration: its managers only).
for _model, _editable in ((Pipeline, PIPELINE_EDITABLE), (Stage, STAGE_EDITABLE), (LossReason, LOSS_REASON_EDITABLE)):
    registry.register(registry.Entry(model=_model, perm="pipeline", scope=_config_scope, editable=_editable,
                                     detail_url=lambda obj: "/sales/pipelines/"))
