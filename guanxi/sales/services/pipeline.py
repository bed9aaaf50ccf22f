"""Opportunities (商机) and their moves through a pipeline's stages (R4.1, R13.2).

A deal is an owned record: it belongs to a salesperson (``owner``) and their department,
on an account the owner can see. It sits in one stage of one pipeline; the stage's kind
decides the deal's ``state`` (open, won, lost). Every move writes a ``StageChange`` row
(the stage history), is audited, and recounts the account's open-deal total
(``totals.refresh``) in the same transaction.

Probability: a deal takes its stage's default probability, and keeps following the stage
defaults as it moves — unless someone set it by hand (it then differs from its stage's
default, and a move keeps it). A won deal is always 100 %, a lost one 0 %.

Writes lock the account row first, then the deal (``_lock``), in that order everywhere, so
two writers never wait on each other crosswise and the account's figures row is created
once (see ``services.totals``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Min, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import access, audit, registry
from guanxi.core.errors import Conflict, Invalid
from guanxi.core.models import User
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.customers.models import Account, Contact
from guanxi.customers.services import clean_fields
from guanxi.sales.models import CNY, Lead, LossReason, Opportunity, Pipeline, Product, Stage, StageChange
from guanxi.sales.selectors.scope import opportunity_scope
from guanxi.sales.services import board, totals
from guanxi.sales.services.common import decimal_field, next_code, raise_if, rate_to_cny, require
from guanxi.sales.services.pipeline_setup import KIND_PROBABILITY, ensure_defaults

OPPORTUNITY_EDITABLE = ("name", "amount", "currency", "expected_close", "probability", "contact", "competitors",
                        "description", "next_step", "owner")
CODE_PREFIX = "SJ"  # 商机
RANK_STEP = 1024  # gap between neighbouring cards, so a drop between two rarely renumbers a column
STATE_OF_KIND = {Stage.Kind.OPEN: Opportunity.State.OPEN, Stage.Kind.WON: Opportunity.State.WON,
                 Stage.Kind.LOST: Opportunity.State.LOST}


# --- Pipelines and stages as the deals see them ------------------------------------------------
def default_pipeline() -> Pipeline:
    """The pipeline new deals go to: the one marked default (else the first active one).

    The canonical helper for every door that creates deals (lead conversion included); on a
    fresh database it creates the standard pipeline first.
    """
    found = Pipeline.objects.filter(active=True).order_by("-is_default", "sort_order", "id").first()
    if found is None:
        ensure_defaults()
        found = Pipeline.objects.filter(active=True).order_by("-is_default", "sort_order", "id").first()
        if found is None:  # every pipeline was deactivated: the default comes back to life
            found = Pipeline.objects.order_by("-is_default", "sort_order", "id").first()
    assert found is not None
    return found


def first_stage(pipeline: Pipeline, kind: str = Stage.Kind.OPEN) -> Stage | None:
    """The first active stage of a kind in a pipeline (where new deals start, where "won" goes)."""
    return Stage.objects.filter(pipeline=pipeline, kind=kind, active=True).order_by("position", "id").first()


def _by_pk(model: Any, value: Any, field: str, errors: dict[str, list[str]], message: str, **filters: Any) -> Any:
    if value in (None, ""):
        return None
    if isinstance(value, model) and not filters:
        return value
    try:
        found = model.objects.filter(pk=int(getattr(value, "pk", value)), **filters).first()
    except (TypeError, ValueError):
        found = None
    if found is None:
        errors.setdefault(field, []).append(message)
    return found


# --- Validation ----------------------------------------------------------------------------
def _check_owner(actor: Any, owner: Any, account: Account, errors: dict[str, list[str]]) -> User | None:
    """The owner is an active colleague who works on deals and sees the account; the actor may
    only hand a deal to someone they manage (or keep it)."""
    user = _by_pk(User, owner, "owner", errors, _("Choose an active colleague."))
    if user is None:
        return None
    if not user.is_active:
        errors.setdefault("owner", []).append(_("Choose an active colleague."))
    elif not has_perm(user, "opportunity.view"):
        errors.setdefault("owner", []).append(_("This colleague does not work on deals."))
    elif not access.can_see(user, account):
        errors.setdefault("owner", []).append(_("This colleague cannot see the account; ask a manager to share it "
                                                "first."))
    elif actor is not None and not access.manages_user(actor, user):
        errors.setdefault("owner", []).append(_("You can give a deal only to yourself or to a colleague you "
                                                "manage."))
    return user


def _validate(obj: Opportunity | None, changes: dict[str, Any], *, actor: Any = None,
              account: Account | None = None) -> dict[str, Any]:
    """Clean the editable fields of a deal; raise Invalid with every message at once."""
    changes = dict(changes)
    account = account or (obj.account if obj is not None else None)
    assert account is not None
    errors: dict[str, list[str]] = {}
    owner = changes.pop("owner", ...)
    contact = changes.pop("contact", ...)
    amount = changes.pop("amount", ...)
    probability = changes.pop("probability", ...)
    currency = changes.pop("currency", ...)
    cleaned, more = clean_fields(Opportunity, obj, changes, required={"name": _("Enter the deal's name.")})
    errors.update(more)
    if owner is not ...:
        user = _check_owner(actor, owner, account, errors)
        if user is not None and "owner" not in errors:
            cleaned["owner"] = user
            cleaned["department"] = user.department
    if contact is not ...:
        cleaned["contact"] = _by_pk(Contact, contact, "contact", errors,
                                    _("Choose a contact who works at this account."), account=account)
    if amount is not ...:
        value = decimal_field(amount, "amount", errors, maximum=Decimal(10) ** 13)
        if value is not None:
            cleaned["amount"] = value.quantize(Decimal("0.01"))
    if probability is not ...:
        value = decimal_field(probability, "probability", errors, maximum=Decimal(100), required=False)
        if value is not None:
            if value != value.to_integral_value():
                errors.setdefault("probability", []).append(_("Enter a whole number from 0 to 100."))
            elif obj is not None and obj.state != Opportunity.State.OPEN and int(value) != obj.probability:
                errors.setdefault("probability", []).append(_("A won or lost deal keeps its probability; reopen it "
                                                              "first."))
            else:
                cleaned["probability"] = int(value)
    if currency is not ...:
        code = str(currency or CNY).strip().upper()
        if len(code) != 3 or not code.isalpha():
            errors.setdefault("currency", []).append(_("Enter a three-letter currency code, e.g. CNY or USD."))
        elif obj is not None and code == obj.currency:
            pass  # unchanged: the rate fixed when the currency was set stays
        else:
            try:
                cleaned["rate_to_cny"] = rate_to_cny(code, timezone.localdate())
                cleaned["currency"] = code
            except Invalid as exc:
                errors.update(exc.errors)
    raise_if(errors)
    return cleaned


def _products(value: Iterable[Any]) -> list[Product]:
    ids = {int(getattr(p, "pk", p)) for p in value if str(getattr(p, "pk", p)).isdigit()}
    found = list(Product.objects.filter(pk__in=ids, deleted_at__isnull=True))
    if len(found) != len(ids):
        raise Invalid(errors={"products": [_("Choose products from the catalogue.")]})
    return found


# --- Locks and ranks -----------------------------------------------------------------------
def _lock(opportunity: Opportunity) -> Opportunity:
    """Lock the account, then the deal, and work on the deal as it is now."""
    Account.all_objects.select_for_update().filter(pk=opportunity.account_id).values_list("pk", flat=True).first()
    fresh = Opportunity.all_objects.select_for_update().get(pk=opportunity.pk)
    for f in Opportunity._meta.concrete_fields:
        setattr(opportunity, f.attname, getattr(fresh, f.attname))
    opportunity.board_loaded = fresh.board_loaded  # where it is now: its board figures are recounted after
    for name in ("stage", "pipeline", "loss_reason", "owner", "contact"):
        cached = opportunity._state.fields_cache.get(name)
        if cached is not None and cached.pk != getattr(opportunity, f"{name}_id"):
            del opportunity._state.fields_cache[name]
    return opportunity


def _column(pipeline_id: int, stage_id: int, exclude: int | None = None) -> Any:
    qs = Opportunity.all_objects.filter(pipeline_id=pipeline_id, stage_id=stage_id, deleted_at__isnull=True)
    return qs.exclude(pk=exclude) if exclude else qs


def _rank_for(pipeline_id: int, stage_id: int, *, after: Any = None, moving: int | None = None) -> int:
    """The rank that puts a card at the top of a column, or right after card ``after``."""
    column = _column(pipeline_id, stage_id, moving)
    anchor = column.filter(pk=after).values_list("rank", "id").first() if str(after or "").isdigit() else None
    if anchor is None:
        top = column.aggregate(m=Min("rank"))["m"]
        return (top if top is not None else RANK_STEP) - RANK_STEP
    rank, pk = anchor
    following = (column.filter(Q(rank__gt=rank) | Q(rank=rank, id__gt=pk)).order_by("rank", "id")
                 .values_list("rank", flat=True).first())
    if following is None:
        return rank + RANK_STEP
    if following - rank >= 2:
        return (rank + following) // 2
    # No room between the two: space the whole column out again, leaving a gap after the anchor.
    ids = list(column.order_by("rank", "id").values_list("id", flat=True))
    new: list[Opportunity] = []
    target = 0
    for n, other in enumerate(ids, start=1):
        new.append(Opportunity(pk=other, rank=n * 2 * RANK_STEP))
        if other == pk:
            target = n * 2 * RANK_STEP + RANK_STEP
    Opportunity.all_objects.bulk_update(new, ["rank"], batch_size=500)
    return target


# --- Create, edit, delete ------------------------------------------------------------------
@transaction.atomic
def opportunity_create(*, actor: Any, account: Account, name: str, amount: Any = 0, currency: str = CNY,
                       expected_close: dt.date | str | None = None, pipeline: Any = None, stage: Any = None,
                       probability: Any = None, contact: Any = None, owner: Any = None, competitors: str = "",
                       description: str = "", next_step: str = "", products: Iterable[Any] = (),
                       lead: Any = None) -> Opportunity:
    """Open a deal on an account the actor sees, in an open stage of an active pipeline
    (default: the default pipeline's first stage); the owner defaults to the actor."""
    require(actor, "opportunity.add")
    if account is None or account.deleted_at is not None or not access.can_see(actor, account):
        raise Invalid(errors={"account": [_("Choose an account you can see.")]})
    errors: dict[str, list[str]] = {}
    chosen_pipeline = (_by_pk(Pipeline, pipeline, "pipeline", errors, _("Choose an active pipeline."), active=True)
                       if pipeline not in (None, "") else default_pipeline())
    chosen_stage = None
    if chosen_pipeline is not None:
        if stage in (None, ""):
            chosen_stage = first_stage(chosen_pipeline)
            if chosen_stage is None:
                errors["stage"] = [_("This pipeline has no open stage.")]
        else:
            chosen_stage = _by_pk(Stage, stage, "stage", errors, _("Choose a stage of the pipeline."),
                                  pipeline=chosen_pipeline, active=True)
            if chosen_stage is not None and chosen_stage.kind != Stage.Kind.OPEN:
                errors["stage"] = [_("A new deal starts in an open stage; win or lose it afterwards.")]
    try:
        cleaned = _validate(None, {"name": name, "amount": amount if amount not in (None, "") else 0,
                                   "currency": currency or CNY, "expected_close": expected_close,
                                   "probability": probability, "contact": contact, "owner": owner or actor,
                                   "competitors": competitors or "", "description": description or "",
                                   "next_step": next_step or ""}, actor=actor, account=account)
    except Invalid as exc:
        errors.update(exc.errors)
        cleaned = {}
    try:
        chosen_products = _products(products or ())
    except Invalid as exc:
        errors.update(exc.errors)
    raise_if(errors)
    assert chosen_pipeline is not None and chosen_stage is not None
    cleaned.setdefault("probability", chosen_stage.probability)
    Account.all_objects.select_for_update().filter(pk=account.pk).values_list("pk", flat=True).first()
    opportunity = Opportunity.objects.create(
        code=next_code("opportunity", CODE_PREFIX), account=account, pipeline=chosen_pipeline, stage=chosen_stage,
        state=Opportunity.State.OPEN, lead=lead if isinstance(lead, Lead) else None,
        rank=_rank_for(chosen_pipeline.pk, chosen_stage.pk), stage_changed_at=timezone.now(), **cleaned)
    if chosen_products:
        opportunity.products.set(chosen_products)
    StageChange.objects.create(opportunity=opportunity, from_stage=None, to_stage=chosen_stage,
                               probability=opportunity.probability, amount=opportunity.amount, changed_by=actor)
    changes = audit.creation_changes(opportunity, skip_empty=True)
    changes.pop("rank", None)
    changes.pop("stage_changed_at", None)
    if chosen_products:
        changes["products"] = [None, [str(p) for p in chosen_products]]
    audit.record(actor=actor, action="create", obj=opportunity, changes=changes)
    totals.refresh([account.pk])
    board.refresh_deal(opportunity)
    return opportunity


@transaction.atomic
def opportunity_update(*, actor: Any, opportunity: Opportunity, changes: dict[str, Any],
                       expected_version: int | None) -> Opportunity:
    """Change a deal's fields (not its stage: that is a move). ``products`` replaces the list.
    A stale ``expected_version`` → Conflict and nothing changes."""
    require(actor, "opportunity.change")
    changes = dict(changes)
    product_list = changes.pop("products", ...)
    unknown = set(changes) - set(OPPORTUNITY_EDITABLE)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    if expected_version is not None and int(expected_version) != opportunity.version:
        raise Conflict()
    _lock(opportunity)
    cleaned = _validate(opportunity, changes, actor=actor)
    chosen = _products(product_list) if product_list is not ... else None
    records.apply_update(actor=actor, obj=opportunity, changes=cleaned, expected_version=expected_version)
    if chosen is not None:
        before = sorted(str(p) for p in opportunity.products.all())
        after = sorted(str(p) for p in chosen)
        if before != after:
            opportunity.products.set(chosen)
            Opportunity.all_objects.filter(pk=opportunity.pk).update(version=F("version") + 1,
                                                                     updated_at=timezone.now())
            opportunity.version += 1
            audit.record(actor=actor, action="update", obj=opportunity, changes={"products": [before, after]})
    return opportunity


@transaction.atomic
def opportunity_delete(*, actor: Any, opportunity: Opportunity, expected_version: int | None = None) -> Opportunity:
    """To the recycle bin (managers); the account's open-deal total drops with it."""
    require(actor, "opportunity.delete")
    Account.all_objects.select_for_update().filter(pk=opportunity.account_id).values_list("pk", flat=True).first()
    records.record_delete(actor=actor, obj=opportunity, expected_version=expected_version)
    return opportunity


# --- Moving through the stages -------------------------------------------------------------
@transaction.atomic
def opportunity_move(*, actor: Any, opportunity: Opportunity, stage: Any, expected_version: int | None = None,
                     rank_after: Any = None, loss_reason: Any = None, loss_note: str = "",
                     probability: Any = None) -> Opportunity:
    """Move a deal to ``stage`` (of its pipeline, or of another active one).

    The state follows the stage's kind; won and lost set ``closed_on`` (today), reopening
    clears it. Moving to a lost stage needs a ``loss_reason``. The probability becomes the
    stage's default unless it was set by hand (or ``probability`` is given). ``rank_after``
    places the card right after that card of the target column (none: at the top). A move
    to the stage the deal is in only reorders the card. Stale version → Conflict.
    """
    require(actor, "opportunity.change")
    if expected_version is not None and int(expected_version) != opportunity.version:
        raise Conflict()
    _lock(opportunity)
    if expected_version is not None and int(expected_version) != opportunity.version:
        raise Conflict()
    errors: dict[str, list[str]] = {}
    target = _by_pk(Stage, stage, "stage", errors, _("Choose a stage."))
    if target is None and "stage" not in errors:
        errors["stage"] = [_("Choose a stage.")]
    raise_if(errors)
    assert target is not None
    old_stage = opportunity.stage
    if not target.active:
        errors["stage"] = [_("This stage is no longer used; choose another one.")]
    elif target.pipeline_id != opportunity.pipeline_id and not target.pipeline.active:
        errors["stage"] = [_("Choose a stage of an active pipeline.")]
    same = target.pk == opportunity.stage_id
    reason = None
    if target.kind == Stage.Kind.LOST and not same:
        reason = _by_pk(LossReason, loss_reason, "loss_reason", errors, _("Choose a reason from the list."),
                        active=True)
        if reason is None and "loss_reason" not in errors:
            errors["loss_reason"] = [_("Say why the deal was lost.")]
    chosen_probability = None
    if probability not in (None, "") and target.kind == Stage.Kind.OPEN:
        value = decimal_field(probability, "probability", errors, maximum=Decimal(100))
        if value is not None:
            chosen_probability = int(value)
    raise_if(errors)
    if same and chosen_probability is None:
        Opportunity.all_objects.filter(pk=opportunity.pk).update(
            rank=_rank_for(opportunity.pipeline_id, target.pk, after=rank_after, moving=opportunity.pk))
        return opportunity
    if chosen_probability is not None:
        new_probability = chosen_probability
    elif target.kind in KIND_PROBABILITY:
        new_probability = KIND_PROBABILITY[target.kind]
    elif opportunity.probability != old_stage.probability:
        new_probability = opportunity.probability  # set by hand: kept
    else:
        new_probability = target.probability
    state = STATE_OF_KIND[target.kind]
    if state == Opportunity.State.OPEN:
        closed_on = None
    elif state == opportunity.state and opportunity.closed_on:
        closed_on = opportunity.closed_on  # from one won stage to another: still won on that day
    else:
        closed_on = timezone.localdate()
    changes: dict[str, Any] = {
        "stage": target, "pipeline": target.pipeline, "state": state, "probability": new_probability,
        "closed_on": closed_on,
        "loss_reason": reason, "loss_note": str(loss_note or "").strip() if reason else "",
    }
    if same:  # only the probability changes
        changes = {"probability": new_probability}
    records.apply_update(actor=actor, obj=opportunity, changes=changes, expected_version=None,
                         note=f"{old_stage} → {target}")
    if target.pk != old_stage.pk:
        now = timezone.now()
        Opportunity.all_objects.filter(pk=opportunity.pk).update(
            stage_changed_at=now, rank=_rank_for(target.pipeline_id, target.pk, after=rank_after,
                                                 moving=opportunity.pk))
        opportunity.stage_changed_at = now
        StageChange.objects.create(opportunity=opportunity, from_stage=old_stage, to_stage=target,
                                   probability=new_probability, amount=opportunity.amount, changed_by=actor,
                                   changed_at=now)
    return opportunity


def _closing_stage(opportunity: Opportunity, kind: str) -> Stage:
    stage = first_stage(opportunity.pipeline, kind)
    if stage is None:
        raise Invalid(_("This pipeline has no active stage for it; ask an administrator."), code="stage_kinds")
    return stage


def opportunity_mark_won(*, actor: Any, opportunity: Opportunity, expected_version: int | None = None) -> Opportunity:
    """Move the deal to its pipeline's won stage."""
    require(actor, "opportunity.change")
    return opportunity_move(actor=actor, opportunity=opportunity, stage=_closing_stage(opportunity, Stage.Kind.WON),
                            expected_version=expected_version)


def opportunity_mark_lost(*, actor: Any, opportunity: Opportunity, loss_reason: Any, loss_note: str = "",
                          expected_version: int | None = None) -> Opportunity:
    """Move the deal to its pipeline's lost stage, with the reason."""
    require(actor, "opportunity.change")
    return opportunity_move(actor=actor, opportunity=opportunity, stage=_closing_stage(opportunity, Stage.Kind.LOST),
                            expected_version=expected_version, loss_reason=loss_reason, loss_note=loss_note)


# --- Generic machinery: recycle bin, history, the account's figures ------------------------
def _after_change(obj: Opportunity) -> None:
    """Every change, delete or restore of a deal recounts its account's open-deal total and
    the board figures of where it was and where it is."""
    Account.all_objects.select_for_update().filter(pk=obj.account_id).values_list("pk", flat=True).first()
    totals.refresh([obj.account_id])
    board.refresh_deal(obj)


registry.register(registry.Entry(
    model=Opportunity, perm="opportunity", scope=lambda user, qs: opportunity_scope(user, qs),
    editable=OPPORTUNITY_EDITABLE, detail_url=lambda obj: reverse("sales:opportunity-detail", args=[obj.pk]),
    validate=lambda obj, changes: _validate(obj, changes), after_change=_after_change,
))
