"""Reads of accounts, always scoped by the access engine first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.db import connection
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL

from guanxi.core import access, search
from guanxi.core.errors import NotFound
from guanxi.customers.models import Account, Contact


def _fts_table_exists() -> bool:
    global _FTS
    if _FTS is None or _FTS[0] != connection.alias + connection.settings_dict["NAME"]:
        exists = connection.vendor == "sqlite" and FTS_TABLE in connection.introspection.table_names()
        _FTS = (connection.alias + connection.settings_dict["NAME"], exists)
    return _FTS[1]


T = TypeVar("T")
FTS_TABLE = "customers_account_search"
_FTS: tuple[str, bool] | None = None


def search_matches(needle: str) -> Q:
    """Accounts whose search text contains ``needle`` (already normalised).

    On SQLite with the FTS5 trigram table (migration 0004) a needle of three or more
    characters is answered from that index; shorter ones, and PostgreSQL (pg_trgm index
    on the column), use the plain substring match.
    """
    if len(needle) >= 3 and _fts_table_exists():
        phrase = '"' + needle.replace('"', '""') + '"'
        return Q(id__in=RawSQL(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s", [phrase]))  # noqa: S608, S611 (constant table; the needle is a parameter)
    return Q(search_text__contains=needle)


def account_scope(user: Any, queryset: QuerySet[Account] | None = None) -> QuerySet[Account]:
    return access.visible(user, Account.objects.all() if queryset is None else queryset)


def account_for_page(user: Any, pk: Any) -> Account:
    """One visible account for its 360 page, with what every tab shows of it (owner,
    category and two levels above it, tags) loaded in two queries; hidden or missing: NotFound."""
    try:
        return (account_scope(user).select_related("owner", "category__parent__parent").prefetch_related("tags")
                .get(pk=pk))
    except (Account.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def page_read(account: Account, key: str, read: Callable[[], T]) -> T:
    """``read()`` once per account instance. The 360 page's panels and timeline show the same
    rows (ratings, ownership moves, grades) and share them through this; the instance lives
    for one request, so nothing is kept across requests or seen stale by a write."""
    reads = account.__dict__.setdefault("_page_reads", {})
    if key not in reads:
        reads[key] = read()
    return cast(T, reads[key])


def ranked(qs: QuerySet[Account], q: str) -> QuerySet[Account]:
    """Annotate ``rank`` for a search: 0 the name as typed, 1 a name that starts with it or a
    whole part of the search text (pinyin, initials, phone, code) equal to it, 2 a name
    that starts with it once normalised, 3 any other match. Lower is better."""
    typed, needle = q.strip(), search.normalise(q)
    sep = search.SEPARATOR
    return qs.annotate(rank=Case(
        When(name=typed, then=Value(0)),
        When(Q(name__startswith=typed) | Q(search_text__contains=f"{sep}{needle}{sep}")
             | Q(search_text__endswith=f"{sep}{needle}"), then=Value(1)),
        When(search_text__startswith=needle, then=Value(2)),
        default=Value(3), output_field=IntegerField()))


def account_list_for(user: Any, *, q: str = "", owner: int | str | None = None, approval_state: str = "",
                     ordering: str = "", **filters: Any) -> QuerySet[Account]:
    """Scoped first, then filtered (``selectors/lists.py``: the filter bar's parsed values).

    A search without a chosen sort comes back best match first (see :func:`ranked`).
    """
    from guanxi.customers.selectors.lists import apply_filters, ordering_of

    qs = account_scope(user).select_related("owner")
    # One substring match on the normalised search text finds 中石化, zsh, zhongshihua,
    # phone digits and codes alike (core/search.py).
    qs = apply_filters(qs, {**filters, "q": q, "owner": owner, "approval_state": approval_state})
    if q.strip() and not ordering:
        # "rank" is an annotation, which django-stubs cannot see.
        return ranked(qs, q).order_by("rank", "-id")  # type: ignore[misc]
    return qs.order_by(*ordering_of({"ordering": ordering}))


def account_deleted_for(user: Any) -> QuerySet[Account]:
    return access.visible(user, Account.all_objects.filter(deleted_at__isnull=False)).select_related("deleted_by")


def contact_scope(user: Any, queryset: QuerySet[Contact] | None = None) -> QuerySet[Contact]:
    """Contacts are visible exactly when their account is.

    Without a queryset: live people at live accounts. A queryset that includes the recycle
    bin (history, restore) keeps people whose account went to the bin with them, so whoever
    could see the account can still read their history, as for the account itself.
    """
    qs = Contact.objects.filter(account__deleted_at__isnull=True) if queryset is None else queryset
    return access.visible(user, qs, owner_field="account__owner", department_field="account__department")


CONTACT_ORDERINGS = frozenset({"-id", "id", "name", "-name", "-updated_at", "updated_at"})


def contact_list_for(user: Any, *, account: int | None = None, q: str = "", depth: str = "", role: str = "",
                     ordering: str = "-id") -> QuerySet[Contact]:
    qs = contact_scope(user).select_related("account")
    if account:
        qs = qs.filter(account_id=account)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(mobile__contains=q))
    if depth:
        qs = qs.filter(depth=depth)
    if role:
        qs = qs.filter(role=role)
    if ordering not in CONTACT_ORDERINGS:
        ordering = "-id"
    return qs.order_by(ordering, "-id") if ordering.lstrip("-") != "id" else qs.order_by(ordering)
