"""Sales reads: orders, scoped first (``scope.order_scope``), then filtered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Q, QuerySet

from guanxi.sales.models import Order
from guanxi.sales.selectors.common import filter_list, parse_list_filters
from guanxi.sales.selectors.scope import order_scope

ORDER_FILTERS = ("q", "state", "account", "owner", "date_from", "date_to")


def parse_filters(user: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """The list's filters from a query string (bad values are ignored, never an error).

    ``owner``: ``me`` or a colleague's id; ``state``: one of the order states;
    ``account``: an id; ``date_from``/``date_to``: ISO dates of the order date; ``q``: the
    order number or the account's name.
    """
    import datetime as dt

    out = parse_list_filters(user, params, Order.State.values)
    for name in ("date_from", "date_to"):
        try:
            out[name] = dt.date.fromisoformat(str(params.get(name) or "")).isoformat()
        except ValueError:
            pass
    return out


def order_list_for(user: Any, **filters: Any) -> QuerySet[Order]:
    """The orders ``user`` sees, newest first, with the given (parsed) filters."""
    qs = order_scope(user).select_related("account", "owner")
    if filters.get("q"):
        q = filters["q"]
        qs = qs.filter(Q(code__icontains=q) | Q(account__name__icontains=q) | Q(account__code__icontains=q))
    qs = filter_list(qs, filters)
    if filters.get("date_from"):
        qs = qs.filter(order_date__gte=filters["date_from"])
    if filters.get("date_to"):
        qs = qs.filter(order_date__lte=filters["date_to"])
    return qs.order_by("-order_date", "-id")


def lines_of(order: Order) -> list[Any]:
    return list(order.lines.select_related("product").order_by("position", "id"))


def contracts_of(user: Any, order: Order) -> list[Any]:
    from guanxi.sales.selectors.scope import contract_scope

    return list(contract_scope(user).filter(order=order).order_by("-id")[:20])
