"""Customer-file reads: merge, always scoped by the access engine first.

Duplicate finding (R12.2). Three signs that two accounts are one company:

* the same credit code — among live accounts the database already forbids it (a partial
  unique index), so this only catches what that index cannot: it is kept for clarity;
* the same short name — :func:`guanxi.core.search.short_name`: normalised (full-width,
  case, spaces) and without 有限公司/集团/… at the end;
* the same phone digits.

The name key is computed *in SQL* from the first part of ``search_text`` (which is the
normalised name, core/search.py) with the legal-form suffixes cut off by a CASE, so the
duplicates page is one GROUP BY over the scoped accounts, no rows travel to Python; the
phone key likewise strips the usual separators with REPLACE. Both are capped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, CharField, Count, Exists, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Concat, Left, Length, Replace, StrIndex, Substr

from guanxi.core import search
from guanxi.core.errors import NotFound
from guanxi.core.permissions import has_perm
from guanxi.customers.models import Account, Contact, MergeRecord
from guanxi.customers.selectors import account_scope, contact_scope, search_matches

NON_DIGIT = re.compile(r"\D")
MIN_PHONE_DIGITS = 7
PHONE_SEPARATORS = ("-", " ", "(", ")", "+", "（", "）", "－")


def account_panel(user: Any, account: Account) -> dict[str, Any]:
    """Context for this area's part of the account 360 page (customers/_panel_merge.html)."""
    if not has_perm(user, "account.view"):
        return {}
    rows = list(merges_for(user, target="account", record_id=account.pk)[:20])
    for row in rows:
        row.undo_safe = row.undone_at is None and row.before.get("version") == account.version  # type: ignore[attr-defined]
    return {"merge_history": rows}


# --- Merge history ---------------------------------------------------------------------------------
def merges_for(user: Any, *, target: str = "account", record_id: int | None = None) -> QuerySet[MergeRecord]:
    """Merges whose kept record the user can see (the merged one is in the recycle bin)."""
    qs = MergeRecord.objects.filter(target=target).select_related("actor", "undone_by")
    if record_id is not None:
        qs = qs.filter(Q(kept_id=record_id) | Q(merged_id=record_id))
    # A correlated EXISTS looks up each merge's kept record; "kept_id IN (every visible
    # account)" would first list a manager's tens of thousands of accounts.
    visible: QuerySet[Any]
    if target == "account":
        visible = account_scope(user, Account.all_objects.filter(pk=OuterRef("kept_id")))
    else:
        visible = contact_scope(user, Contact.all_objects.filter(pk=OuterRef("kept_id")))
    return qs.filter(Exists(visible)).order_by("-at", "-id")


def merge_get_for(user: Any, pk: Any) -> MergeRecord:
    try:
        record = MergeRecord.objects.get(pk=pk)
    except (MergeRecord.DoesNotExist, ValueError, TypeError):
        raise NotFound()
    if not merges_for(user, target=record.target).filter(pk=record.pk).exists():
        raise NotFound()
    return record


# --- Duplicate candidates of one account -----------------------------------------------------------
@dataclass
class Candidate:
    account: Any  # an Account (or a Contact on the contact merge page)
    reasons: list[str] = field(default_factory=list)


def phone_digits(phone: str) -> str:
    return NON_DIGIT.sub("", phone or "")


def name_variants(name: str) -> list[str]:
    """Every normalised full name whose short name equals ``name``'s."""
    short = search.short_name(name)
    return [short, *(short + suffix for suffix in search.COMPANY_SUFFIXES)]


def duplicate_candidates_for(user: Any, account: Account, *, limit: int = 20) -> list[Candidate]:
    """Accounts the user sees that look like the same company as ``account``."""
    scoped = account_scope(user).exclude(pk=account.pk).select_related("owner")
    found: dict[int, Candidate] = {}

    def add(rows: Any, reason: str) -> None:
        for row in rows:
            found.setdefault(row.pk, Candidate(row)).reasons.append(reason)

    if account.credit_code:
        add(scoped.filter(credit_code=account.credit_code)[:limit], "credit_code")
    short = search.short_name(account.name)
    if short:
        # The first part of the search text is the normalised name (core/search.py).
        q = Q()
        for variant in name_variants(account.name):
            q |= Q(search_text__startswith=variant + search.SEPARATOR) | Q(search_text=variant)
        add([a for a in scoped.filter(q)[:limit * 5] if search.short_name(a.name) == short][:limit], "name")
    digits = phone_digits(account.phone)
    if len(digits) >= MIN_PHONE_DIGITS:
        rows = scoped.filter(search_matches(digits))[:limit * 5]
        add([a for a in rows if phone_digits(a.phone) == digits][:limit], "phone")
    return sorted(found.values(), key=lambda c: (-len(c.reasons), -c.account.pk))[:limit]


# --- Duplicate groups among everything the user sees -------------------------------------------------
def _with_keys(qs: QuerySet[Account]) -> QuerySet[Account]:
    sep = Value(search.SEPARATOR)
    text = CharField()
    qs = qs.annotate(dup_full=Substr("search_text", 1, StrIndex(Concat("search_text", sep, output_field=text), sep) - 1,
                                     output_field=text))
    qs = qs.annotate(dup_len=Length("dup_full"))
    whens = [When(Q(dup_full__endswith=suffix) & Q(dup_len__gt=len(suffix) + 1),
                  then=Left("dup_full", Length("dup_full") - len(suffix)))
             for suffix in search.COMPANY_SUFFIXES]
    qs = qs.annotate(dup_name=Case(*whens, default="dup_full", output_field=text))
    phone: Any = "phone"
    for char in PHONE_SEPARATORS:
        phone = Replace(phone, Value(char), Value(""), output_field=text)
    return qs.annotate(dup_phone=phone)


@dataclass
class DuplicateGroup:
    reason: str  # "name" | "phone"
    key: str
    accounts: list[Account]


def duplicate_groups_for(user: Any, *, cap: int = 100, per_group: int = 20) -> list[DuplicateGroup]:
    """Groups of visible accounts sharing a name key or phone digits, largest groups first."""
    base = _with_keys(account_scope(user))
    groups: list[DuplicateGroup] = []
    for reason, column, extra in (
        ("name", "dup_name", Q(dup_name__gt="")),
        ("phone", "dup_phone", Q(phone__gt="")),
    ):
        keys = list(base.filter(extra).values(column).annotate(n=Count("id")).filter(n__gt=1)
                    .order_by("-n", column).values_list(column, flat=True)[:cap])
        if reason == "phone":
            keys = [k for k in keys if len(k) >= MIN_PHONE_DIGITS and k.isdigit()]
        if not keys:
            continue
        members: dict[str, list[Account]] = {k: [] for k in keys}
        rows = (base.filter(**{f"{column}__in": keys}).select_related("owner")
                .only("id", "code", "name", "phone", "credit_code", "region", "owner", "search_text")
                .order_by("id")[:cap * per_group])
        for account in rows:
            bucket = members[getattr(account, column)]
            if len(bucket) < per_group:
                bucket.append(account)
        groups += [DuplicateGroup(reason, k, v) for k, v in members.items() if len(v) > 1]
    return groups


# --- Contacts ------------------------------------------------------------------------------------------
def contact_candidates_for(user: Any, contact: Contact, *, limit: int = 20) -> list[Contact]:
    """Visible people with the same name or mobile number."""
    q = Q(name=contact.name)
    if contact.mobile:
        q |= Q(mobile=contact.mobile)
    if contact.email:
        q |= Q(email__iexact=contact.email)
    return list(contact_scope(user).filter(q).exclude(pk=contact.pk).select_related("account")[:limit])


def contact_search_for(user: Any, contact: Contact, q: str, *, limit: int = 20) -> list[Contact]:
    qs = contact_scope(user).exclude(pk=contact.pk).select_related("account")
    return list((qs.filter(name__icontains=q) | qs.filter(mobile__contains=q))[:limit])
