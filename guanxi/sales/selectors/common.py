"""What the sales list reads share: the common filters of a list's query string and their query."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)


def id_of(value: Any) -> int | None:
    """A positive whole number from a form or query value; ``None`` for anything else."""
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


def parse_list_filters(user: Any, params: Mapping[str, Any], states: Iterable[str]) -> dict[str, Any]:
    """``q`` (trimmed, at most 100 characters), ``state`` (one of ``states``), ``account`` (an id) and
    ``owner`` (``me`` or a colleague's id) from a query string; bad values are ignored, never an error."""
    out: dict[str, Any] = {}
    q = str(params.get("q") or "").strip()
    if q:
        out["q"] = q[:100]
    state = str(params.get("state") or "")
    if state in states:
        out["state"] = state
    if (account := id_of(params.get("account"))) is not None:
        out["account"] = account
    owner = str(params.get("owner") or "")
    if owner == "me":
        out["owner"] = user.pk
    elif (owner_id := id_of(owner)) is not None:
        out["owner"] = owner_id
    return out


def filter_list(qs: QuerySet[M], filters: Mapping[str, Any]) -> QuerySet[M]:
    """``qs`` narrowed by the parsed ``state``, ``account`` and ``owner`` filters that are set."""
    if filters.get("state"):
        qs = qs.filter(state=filters["state"])
    if filters.get("account"):
        qs = qs.filter(account_id=filters["account"])
    if filters.get("owner"):
        qs = qs.filter(owner_id=filters["owner"])
    return qs
