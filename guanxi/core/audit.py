"""Audit rows: written by services inside their transaction, never altered afterwards."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from guanxi.core import context
from guanxi.core.models import AuditEvent


def serialise(value: Any) -> Any:
    """Return a JSON-safe form of a field value; related records keep id and label."""
    if isinstance(value, models.Model):
        return {"id": value.pk, "repr": str(value)[:200]}
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [serialise(v) for v in value]
    return value


def snapshot(obj: models.Model, fields: list[str] | None = None) -> dict[str, Any]:
    """Return {field: serialised value} for the concrete, editable fields of ``obj``."""
    data: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        if field.name in {"password", "deletion_batch"}:
            continue
        data[field.name] = serialise(getattr(obj, field.name))
    return data


BOOKKEEPING_FIELDS = frozenset({"version", "created_at", "updated_at"})


def creation_changes(obj: models.Model, fields: list[str] | None = None, *,
                     skip_empty: bool = False) -> dict[str, list[Any]]:
    """The ``changes`` of a create row: every field from nothing to its first value.

    ``skip_empty`` leaves out fields that were left blank, so a create row of a wide
    record lists only what the user entered.
    """
    return {k: [None, v] for k, v in snapshot(obj, fields).items()
            if k not in BOOKKEEPING_FIELDS and not (skip_empty and v in (None, ""))}


def record(*, actor: Any, action: str, obj: models.Model | None = None, changes: dict[str, Any] | None = None,
           note: str = "", object_repr: str | None = None) -> AuditEvent:
    origin = context.current()
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        actor=actor if is_user else None,
        actor_name=(actor.get_username() if is_user else "system")[:150],
        ip=origin.ip,
        channel=origin.channel,
        action=action,
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=True) if obj is not None else None,
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=(object_repr if object_repr is not None else str(obj) if obj is not None else "")[:200],
        changes=changes or {},
        note=note,
    )
