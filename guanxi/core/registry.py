"""Record types that share the generic machinery: recycle bin, approvals, history.

An app registers each such model once (in its ``apps.py``/``services.py``) with the
permission prefix and how to scope it; the recycle bin, change requests and history
then work for it without knowing the app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model, QuerySet


@dataclass(frozen=True)
class Entry:
    model: type[Model]
    perm: str  # permission prefix, e.g. "account" → account.change, account.delete
    scope: Callable[[Any, QuerySet[Any]], QuerySet[Any]]  # (user, queryset) → visible queryset
    editable: tuple[str, ...] = ()
    detail_url: Callable[[Any], str] | None = None
    validate: Callable[[Any, dict[str, Any]], dict[str, Any]] | None = None  # (obj, changes) → cleaned
    # Called in the same transaction after a record of this type was changed, deleted or
    # restored: keeps columns of other records that are derived from it up to date.
    after_change: Callable[[Any], None] | None = None
    # Called in the same transaction after a record of this type went to the recycle bin or came
    # back from it (after after_change): for figures that depend only on which records are alive.
    after_bin: Callable[[Any], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.model._meta.label_lower


_entries: dict[str, Entry] = {}


def register(entry: Entry) -> Entry:
    _entries[entry.label] = entry
    return entry


def get(model_or_label: type[Model] | Model | str) -> Entry:
    if isinstance(model_or_label, str):
        return _entries[model_or_label]
    return _entries[model_or_label._meta.label_lower]


def entries() -> list[Entry]:
    return list(_entries.values())
