"""The account list's pages, laid out from ``.values()`` rows (B1, B8).

``GET /api/v1/accounts`` is the API's busiest call. Validating 50 account instances through
``AccountOut`` (django-ninja wraps each one in a getter and asks it for every field in
Python, the tags manager included) took more CPU than the queries. Here the page is read as plain
rows (one query; tags in one more), laid out in ``AccountOut``'s field order with the same
values its validation gives, and rendered by the API's own renderer: the JSON is the same,
byte for byte (``guanxi/customers/tests/test_api_pages.py`` compares it with the schema's serialisation of
the same accounts). The field list comes from ``AccountOut`` itself, so a field added there
is in the rows too; a field only a resolver can compute needs an entry in ``_COMPUTED``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from functools import partial, wraps
from typing import Any

from django.db import connections, router
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Schema
from ninja.pagination import CursorPagination, make_response_paginated
from ninja.utils import contribute_operation_args, contribute_operation_callback

from guanxi.core.api import api
from guanxi.customers.models import Account, Tag


class RowCursorPagination(CursorPagination):
    """ninja's cursor pagination over ``.values()`` rows: a row's position is read by key."""

    def _get_position(self, item: Any) -> str:
        if isinstance(item, dict):
            return str(item[self._order_attribute])
        return super()._get_position(item)


class OrderedCursorPagination(CursorPagination):
    """Cursor pagination that follows the request's whitelisted ``ordering``: :meth:`pager`
    gives a fresh paginator per request, so concurrent requests never share state."""

    orderings: frozenset[str] = frozenset()

    def pager(self, request: HttpRequest) -> RowCursorPagination:
        ordering = request.GET.get("ordering") or "-id"
        if ordering not in self.orderings:
            ordering = "-id"
        keys = (ordering,) if ordering.lstrip("-") == "id" else (ordering, "-id")
        if request.GET.get("q", "").strip() and not request.GET.get("ordering"):
            keys = ("rank", "-id")  # a search comes back best match first (selectors.ranked)
        return RowCursorPagination(ordering=keys, page_size=self.page_size, max_page_size=self.max_page_size)


class AccountRows:
    """Read accounts as ``AccountOut`` rows: the columns to ask ``.values()`` for, and the
    layout of each row with the two fields a resolver computes (owner's name, tags)."""

    def __init__(self, schema: type[Schema]) -> None:
        # (output name, column) in the schema's order; None for a computed field.
        self.layout: list[tuple[str, str | None]] = [
            (name, None if name in _COMPUTED else (field.alias or name)) for name, field in schema.model_fields.items()
        ]
        self.columns = [column for _name, column in self.layout if column is not None]
        self.columns += [c for c in ("owner__name", "owner__username") if c not in self.columns]

    def values(self, queryset: QuerySet[Account], position: str) -> QuerySet[Any]:
        """``queryset`` as rows; ``position`` (the cursor's column, e.g. a search's rank) is read too."""
        extra = [position] if position not in self.columns else []
        return queryset.values(*self.columns, *extra)

    def layout_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        tags = tag_names([row["id"] for row in rows])
        return [{name: row[column] if column is not None else _COMPUTED[name](row, tags)
                 for name, column in self.layout} for row in rows]


def _owner_name(row: dict[str, Any], _tags: dict[int, list[str]]) -> str | None:
    # str(owner), as AccountOut.resolve_owner_name gives it (User.__str__: name, else username)
    return (row["owner__name"] or row["owner__username"]) if row["owner_id"] else None


def _tags(row: dict[str, Any], tags: dict[int, list[str]]) -> list[str]:
    return tags.get(row["id"], [])


# The fields of AccountOut that a resolver computes: (row, tag names by account) → value.
_COMPUTED: dict[str, Callable[[dict[str, Any], dict[int, list[str]]], Any]] = {
    "owner_name": _owner_name,
    "tags": _tags,
}


def tag_names(account_ids: list[int]) -> dict[int, list[str]]:
    """Each account's tag names in the tags' order (by name), in one plain statement (the ORM's
    building of this join cost more than running it)."""
    names: dict[int, list[str]] = defaultdict(list)
    if not account_ids:
        return names
    through = Account.tags.through
    db = router.db_for_read(Account)
    qn = connections[db].ops.quote_name
    account_col = qn(through._meta.get_field("account").column)
    tag_col = qn(through._meta.get_field("tag").column)
    marks = ", ".join(["%s"] * len(account_ids))
    with connections[db].cursor() as cursor:
        cursor.execute(f"SELECT at.{account_col}, t.name FROM {qn(through._meta.db_table)} at "  # noqa: S608 (model names)
                       f"JOIN {qn(Tag._meta.db_table)} t ON t.id = at.{tag_col} "
                       f"WHERE at.{account_col} IN ({marks}) ORDER BY t.name", account_ids)
        for account_id, name in cursor.fetchall():
            names[account_id].append(name)
    return names


def paginate_rows(paginator_class: type[OrderedCursorPagination], rows: AccountRows,
                  **paginator_params: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``@paginate(paginator_class)`` for a list answered from ``rows``: the same query
    parameters, the same ``Paged…`` schema in OpenAPI, the same JSON; the view returns the
    scoped, filtered queryset and the page is answered without the response validation."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        paginator = paginator_class(**paginator_params)

        @wraps(view)
        def view_with_pagination(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            pagination = kwargs.pop("ninja_pagination", None) or paginator.Input()
            queryset = view(request, **kwargs)
            pager = paginator.pager(request)
            page = pager.paginate_queryset(rows.values(queryset, pager._order_attribute), pagination, request)
            page[pager.items_attribute] = rows.layout_rows(page[pager.items_attribute])
            # In the order of the Paged… schema's fields, as its serialisation writes them.
            return api.create_response(request, {name: page[name] for name in paginator.Output.model_fields},
                                       status=200)

        contribute_operation_args(view_with_pagination, "ninja_pagination", paginator.Input, paginator.InputSource)
        contribute_operation_callback(view_with_pagination, partial(make_response_paginated, paginator))
        view_with_pagination._ninja_is_paginated = True  # type: ignore[attr-defined]
        return view_with_pagination

    return decorate
