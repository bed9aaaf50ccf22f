"""Generic writes shared by every registered record: update with optimistic locking and
the approval gate, delete to the recycle bin, restore, approve.

Each public function runs in one transaction, checks access before touching anything and
writes the audit row. App services wrap these with their own validation and rules.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit, registry
from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.models import ApprovalPolicy, ApprovalState, ChangeRequest, Role, SoftDeletable
from guanxi.core.permissions import has_perm


def get_visible(actor: Any, model: type[models.Model], pk: Any, *, include_deleted: bool = False) -> Any:
    """Fetch one record the actor may see, or raise NotFound (hidden = missing)."""
    entry = registry.get(model)
    manager = model._base_manager if include_deleted else model._default_manager
    try:
        return entry.scope(actor, manager.all()).get(pk=pk)
    except (model.DoesNotExist, ValueError, TypeError):  # type: ignore[attr-defined]
        raise NotFound()


def approval_policy(model: type[models.Model]) -> ApprovalPolicy | None:
    label = model._meta.label_lower
    return ApprovalPolicy.objects.filter(model=label, enabled=True).first()


def needs_change_request(obj: models.Model) -> bool:
    return bool(getattr(obj, "is_approved", False)) and approval_policy(obj._meta.model) is not None


def diff(obj: models.Model, changes: dict[str, Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for name, value in changes.items():
        before = getattr(obj, name)
        if before != value:
            out[name] = [audit.serialise(before), audit.serialise(value)]
    return out


def _check_version(obj: models.Model, expected_version: int | None) -> None:
    if expected_version is not None and int(expected_version) != obj.version:  # type: ignore[attr-defined]
        raise Conflict()


def apply_update(*, actor: Any, obj: models.Model, changes: dict[str, Any], expected_version: int | None,
                 note: str = "", action: str = "update") -> dict[str, list[Any]]:
    """Write ``changes`` (already validated) if nobody wrote since ``expected_version``.

    The UPDATE carries ``WHERE version = <read version>``, so of two concurrent writers
    exactly one wins and the other gets Conflict (409), on SQLite and PostgreSQL alike.
    """
    _check_version(obj, expected_version)
    delta = diff(obj, changes)
    if not delta:
        return {}
    model = obj._meta.model  # not type(obj): request.user arrives as a lazy wrapper
    values: dict[str, Any] = {}
    for name in delta:
        values[model._meta.get_field(name).attname] = (  # type: ignore[union-attr]
            changes[name].pk if isinstance(changes[name], models.Model) else changes[name]
        )
    if hasattr(obj, "derived_fields"):
        # Columns computed from others (e.g. the search text) change in the same UPDATE.
        preview = copy.copy(obj)
        for name in delta:
            setattr(preview, name, changes[name])
        derived = preview.derived_fields()
        values.update(derived)
    else:
        derived = {}
    now = timezone.now()
    try:
        with transaction.atomic():
            rows = model._base_manager.filter(pk=obj.pk, version=obj.version).update(  # type: ignore[attr-defined]
                **values, version=F("version") + 1, updated_at=now
            )
    except IntegrityError:
        raise Invalid(_("This value is already used by another record."))
    if rows != 1:
        raise Conflict()
    for name in delta:
        setattr(obj, name, changes[name])
    for name, value in derived.items():
        setattr(obj, name, value)
    obj.version += 1  # type: ignore[attr-defined]
    obj.updated_at = now  # type: ignore[attr-defined]
    audit.record(actor=actor, action=action, obj=obj, changes=delta, note=note)
    _after_change(obj)
    return delta


def _after_change(obj: models.Model, *, binned: bool = False) -> None:
    try:
        entry = registry.get(obj._meta.model)
    except KeyError:
        return
    if entry.after_change is not None:
        entry.after_change(obj)
    if binned and entry.after_bin is not None:
        entry.after_bin(obj)


@transaction.atomic
def record_update(*, actor: Any, obj: models.Model, changes: dict[str, Any], expected_version: int | None,
                  reason: str = "") -> models.Model | ChangeRequest:
    """Change a record directly, or, when it is approved under a policy, file a change request.

    Returns the updated record, or the ChangeRequest that now waits for the approver.
    """
    entry = registry.get(obj)
    if not has_perm(actor, f"{entry.perm}.change"):
        raise Forbidden()
    unknown = set(changes) - set(entry.editable)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    if entry.validate:
        changes = entry.validate(obj, changes)
    _check_version(obj, expected_version)
    if needs_change_request(obj):
        return change_request_create(actor=actor, obj=obj, changes=changes, reason=reason)
    apply_update(actor=actor, obj=obj, changes=changes, expected_version=expected_version)
    return obj


# --- Approval of a record (R10.1) ------------------------------------------------------------
@transaction.atomic
def record_approve(*, actor: Any, obj: models.Model, expected_version: int | None = None) -> models.Model:
    entry = registry.get(obj)
    if not has_perm(actor, f"{entry.perm}.approve"):
        raise Forbidden()
    if getattr(obj, "owner_id", None) == actor.id or getattr(obj, "created_by_id", None) == actor.id:
        raise Forbidden(_("You cannot approve a record you own or created; another manager must review it."))
    if getattr(obj, "is_approved", False):
        raise Invalid(_("This record is already approved."))
    _check_version(obj, expected_version)
    now = timezone.now()
    rows = obj._meta.model._base_manager.filter(pk=obj.pk, version=obj.version).update(  # type: ignore[attr-defined]
        approval_state=ApprovalState.APPROVED, approved_by=actor, approved_at=now,
        version=F("version") + 1, updated_at=now,
    )
    if rows != 1:
        raise Conflict()
    obj.refresh_from_db()
    audit.record(actor=actor, action="approve", obj=obj,
                 changes={"approval_state": [ApprovalState.DRAFT, ApprovalState.APPROVED]})
    return obj


# --- Change requests (R10.2) --------------------------------------------------------------
def change_request_create(*, actor: Any, obj: models.Model, changes: dict[str, Any], reason: str = "") -> ChangeRequest:
    delta = diff(obj, changes)
    if not delta:
        raise Invalid(_("Nothing was changed."))
    policy = approval_policy(obj._meta.model)
    request = ChangeRequest.objects.create(
        content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        changes=delta,
        reason=reason,
        approver_role=policy.approver_role if policy else Role.Code.GENERAL_MANAGER,
        target_version=obj.version,  # type: ignore[attr-defined]
        requested_by=actor,
    )
    audit.record(actor=actor, action="request", obj=obj, changes=delta, note=f"change request #{request.pk}")
    from guanxi.core.services.notifications import notify_role

    notify_role(request.approver_role, title=_("Change request waiting: %(record)s") % {"record": request.object_repr},
                url=f"/approvals/{request.pk}/", exclude=actor)
    return request


def _decoded_changes(obj: models.Model, request: ChangeRequest) -> dict[str, Any]:
    model = obj._meta.model
    out: dict[str, Any] = {}
    for name, (_before, after) in request.changes.items():
        field = model._meta.get_field(name)
        if field.is_relation:
            target_id = after["id"] if isinstance(after, dict) else after
            out[name] = field.related_model._base_manager.get(pk=target_id) if target_id is not None else None  # type: ignore[union-attr]
        else:
            out[name] = field.to_python(after)  # type: ignore[union-attr]
    return out


def can_decide(actor: Any, request: ChangeRequest) -> bool:
    return (
        actor.is_active
        and request.requested_by_id != actor.id
        and actor.has_role(request.approver_role)
    )


@transaction.atomic
def change_request_decide(*, actor: Any, request: ChangeRequest, approve: bool, note: str = "",
                          expected_version: int | None = None) -> ChangeRequest:
    """Approve or reject a pending request; approval applies it through ``apply_update``."""
    request = ChangeRequest.objects.select_for_update().get(pk=request.pk)
    if request.requested_by_id == actor.id:
        raise Forbidden(_("Nobody can decide their own change request."))
    if not actor.has_role(request.approver_role):
        raise Forbidden()
    if request.state != ChangeRequest.State.PENDING:
        raise Invalid(_("This change request has already been decided."))
    if expected_version is not None and expected_version != request.version:
        raise Conflict()
    obj = request.target()
    # The approver must be able to see the record, like anyone acting on it.
    get_visible(actor, obj._meta.model, obj.pk, include_deleted=True)
    if approve:
        if getattr(obj, "version", None) != request.target_version:
            raise Conflict(_("The record changed after this request was made; ask for a new request."))
        apply_update(actor=actor, obj=obj, changes=_decoded_changes(obj, request), expected_version=None,
                     note=f"change request #{request.pk} approved")
    request.state = ChangeRequest.State.APPROVED if approve else ChangeRequest.State.REJECTED
    request.decided_by = actor
    request.decided_at = timezone.now()
    request.decision_note = note
    request.version += 1
    request.save()
    audit.record(actor=actor, action="decide", obj=request,
                 changes={"state": [ChangeRequest.State.PENDING, request.state]}, note=note)
    from guanxi.core.services.notifications import notify

    notify(request.requested_by, title=_("Your change request for %(record)s was %(state)s") % {
        "record": request.object_repr, "state": request.get_state_display()}, url=f"/approvals/{request.pk}/")
    return request


@transaction.atomic
def change_request_cancel(*, actor: Any, request: ChangeRequest) -> ChangeRequest:
    if request.requested_by_id != actor.id:
        raise NotFound()
    if request.state != ChangeRequest.State.PENDING:
        raise Invalid(_("This change request has already been decided."))
    request.state = ChangeRequest.State.CANCELLED
    request.version += 1
    request.save()
    audit.record(actor=actor, action="decide", obj=request,
                 changes={"state": [ChangeRequest.State.PENDING, request.state]})
    return request


# --- Recycle bin -----------------------------------------------------------------------------
@transaction.atomic
def record_delete(*, actor: Any, obj: SoftDeletable, expected_version: int | None = None) -> SoftDeletable:
    """Move a record (and its dependants) to the recycle bin. Nothing is ever hard-deleted."""
    entry = registry.get(obj)
    if not has_perm(actor, f"{entry.perm}.delete"):
        raise Forbidden()
    if needs_change_request(obj):
        raise Forbidden(_("An approved record can only be deleted after a change request is approved."))
    _check_version(obj, expected_version)
    batch = uuid.uuid4()
    now = timezone.now()
    for item in [obj, *obj.soft_delete_dependants()]:
        rows = item._meta.model._base_manager.filter(pk=item.pk, deleted_at__isnull=True).update(
            deleted_at=now, deleted_by=actor, deletion_batch=batch,
            **({"version": F("version") + 1} if hasattr(item, "version") else {}),
        )
        if rows:
            audit.record(actor=actor, action="delete", obj=item)
            _after_change(item, binned=True)
    obj.refresh_from_db()
    return obj


@transaction.atomic
def record_restore(*, actor: Any, obj: SoftDeletable) -> SoftDeletable:
    """Bring a record back from the recycle bin with everything deleted together with it."""
    entry = registry.get(obj)
    if not has_perm(actor, f"{entry.perm}.delete"):
        raise Forbidden()
    if obj.deleted_at is None:
        raise Invalid(_("This record is not in the recycle bin."))
    items: list[models.Model] = [obj]
    if obj.deletion_batch:
        # Everything deleted in the same batch (the record's dependants) comes back with it.
        for other in registry.entries():
            if issubclass(other.model, SoftDeletable):
                items += list(other.model._base_manager.filter(deletion_batch=obj.deletion_batch))
        items = list({(type(i), i.pk): i for i in items}.values())
    try:
        with transaction.atomic():
            for item in items:
                item._meta.model._base_manager.filter(pk=item.pk).update(
                    deleted_at=None, deleted_by=None, deletion_batch=None,
                    **({"version": F("version") + 1} if hasattr(item, "version") else {}),
                )
    except IntegrityError:
        raise Invalid(_("It cannot be restored: another record now uses the same unique value "
                        "(for example the credit code)."))
    for item in items:
        audit.record(actor=actor, action="restore", obj=item)
        _after_change(item, binned=True)
    obj.refresh_from_db()
    return obj
