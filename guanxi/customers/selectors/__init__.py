"""Reads of accounts, always scoped by the access engine first."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from guanxi.core import access, search
from guanxi.customers.models import Account, Contact

ORDERINGS = {"-id", "id", "name", "-name", "code", "-code", "-updated_at", "updated_at"}


def _fts_table_exists() -> bool:
    global _FTS
    if _FTS is None or _FTS[0] != connection.alias + connection.settings_dict["NAME"]:
        exists = connection.vendor == "sqlite" and FTS_TABLE in connection.introspection.table_names()
        _FTS = (connection.alias + connection.settings_dict["NAME"], exists)
    return _FTS[1]


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


def account_list_for(user: Any, *, q: str = "", owner: int | None = None, approval_state: str = "",
                     ordering: str = "-id") -> QuerySet[Account]:
    qs = account_scope(user).select_related("owner")
    if q:
        # One substring match on the normalised search text finds 中石化, zsh, zhongshihua,
        # phone digits and codes alike (core/search.py).
        qs = qs.filter(search_matches(search.normalise(q)))
    if owner:
        qs = qs.filter(owner_id=owner)
    if approval_state:
        qs = qs.filter(approval_state=approval_state)
    if ordering not in ORDERINGS:
        ordering = "-id"
    return qs.order_by(ordering, "-id") if ordering.lstrip("-") != "id" else qs.order_by(ordering)


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


def contact_list_for(user: Any, *, account: int | None = None, q: str = "") -> QuerySet[Contact]:
    qs = contact_scope(user).select_related("account")
    if account:
        qs = qs.filter(account_id=account)
    if q:
        qs = qs.filter(name__icontains=q) | qs.filter(mobile__contains=q)
    return qs.order_by("-id")
