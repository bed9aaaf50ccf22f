"""Pagination for lists that may hold hundreds of thousands of rows.

An exact COUNT(*) over a manager's 40,000 accounts costs more than the page itself. Up to
COUNT_CAP rows the count is exact; beyond it the list says "more than 10,000" and counts
no further, so the first page and page 50 cost the same at any size.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.core.paginator import Paginator

COUNT_CAP = 10_000


class CappedPaginator(Paginator):
    def __init__(self, object_list: Any, per_page: int, *args: Any, cap: int = COUNT_CAP, **kwargs: Any) -> None:
        super().__init__(object_list, per_page, *args, **kwargs)
        self.cap = cap

    @cached_property
    def count(self) -> int:
        """Exact up to the cap, else cap + 1 (read ``capped`` to say "more than")."""
        return self.object_list.order_by()[: self.cap + 1].count()  # type: ignore[attr-defined]

    @property
    def capped(self) -> bool:
        return self.count > self.cap


def capped_count(queryset: Any, cap: int = COUNT_CAP) -> tuple[int, bool]:
    n = queryset.order_by()[: cap + 1].count()
    return min(n, cap), n > cap
