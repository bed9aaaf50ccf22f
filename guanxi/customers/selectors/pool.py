"""Customer-file reads: the pool, ownership history, books to reassign. Always scoped first.

Pool accounts have no owner and no department, so the ordinary account scope shows them
only to those who see everything (general manager, administrator). Everyone with
``pool.view`` reaches them through :func:`pool_scope` instead.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from guanxi.core import access, search
from guanxi.core.errors import NotFound
from guanxi.core.models import User
from guanxi.core.permissions import has_perm
from guanxi.customers.models import Account, Grade, OwnershipChange, PoolSettings
from guanxi.customers.selectors import account_scope, page_read, search_matches

POOL_ORDERINGS = {"-pool_entered_at", "pool_entered_at", "name", "-name", "-id", "id"}


def pool_scope(user: Any) -> QuerySet[Account]:
    if not has_perm(user, "pool.view"):
        return Account.objects.none()
    return Account.objects.filter(owner__isnull=True)


def _latest_change(field: str) -> Subquery:
    return Subquery(OwnershipChange.objects.filter(account=OuterRef("pk")).order_by("-at", "-id").values(field)[:1])


def pool_list_for(user: Any, *, q: str = "", region: str = "", grade: str = "",
                  ordering: str = "-pool_entered_at") -> QuerySet[Account]:
    """Pool accounts with ``last_owner_id`` (who held each last) annotated."""
    qs = pool_scope(user).select_related("category")
    if q:
        qs = qs.filter(search_matches(search.normalise(q)))
    if region:
        qs = qs.filter(Q(province=region) | Q(city=region) | Q(region__contains=region))
    if grade:
        qs = qs.filter(grade=grade)
    if ordering not in POOL_ORDERINGS:
        ordering = "-pool_entered_at"
    return qs.annotate(last_owner_id=_latest_change("from_user")).order_by(ordering, "-id")


def with_last_owners(accounts: list[Account]) -> list[Account]:
    """Attach ``last_owner`` (a User or None) and ``days_in_pool`` to a page of pool accounts: one query."""
    ids: set[int] = {a.last_owner_id for a in accounts if getattr(a, "last_owner_id", None)}  # type: ignore[attr-defined]
    users = {u.pk: u for u in User.objects.filter(pk__in=ids)}
    now = timezone.now()
    for a in accounts:
        a.last_owner = users.get(getattr(a, "last_owner_id", None) or 0)  # type: ignore[attr-defined]
        a.days_in_pool = (now - a.pool_entered_at).days if a.pool_entered_at else None  # type: ignore[attr-defined]
    return accounts


def pool_get(user: Any, pk: Any) -> Account:
    try:
        return pool_scope(user).get(pk=pk)
    except (Account.DoesNotExist, ValueError, TypeError):
        raise NotFound()


def pool_regions() -> list[str]:
    return list(Account.objects.filter(owner__isnull=True).exclude(province="").order_by("province")
                .values_list("province", flat=True).distinct()[:100])


def claimed_accounts(user: Any) -> QuerySet[Account]:
    """Accounts ``user`` owns because they claimed them: the latest ownership move is their claim."""
    if not getattr(user, "pk", None):
        return Account.objects.none()
    return Account.objects.filter(owner_id=user.pk).annotate(
        last_kind=_latest_change("kind"), last_to=_latest_change("to_user")
    ).filter(last_kind=OwnershipChange.Kind.CLAIMED, last_to=user.pk)


def can_release(actor: Any, account: Account) -> bool:
    """The owner, or a manager who sees the account, may put it back into the pool."""
    if account.owner_id is None or not has_perm(actor, "pool.release"):
        return False
    return account.owner_id == actor.pk or (has_perm(actor, "account.reassign") and access.can_see(actor, account))


def ownership_history(account: Account) -> QuerySet[OwnershipChange]:
    return account.ownership_changes.select_related("from_user", "to_user", "actor")


def return_days_for(account: Account, settings: PoolSettings | None = None) -> int:
    settings = settings or PoolSettings.current()
    if account.grade:
        days = Grade.objects.filter(code=account.grade).values_list("pool_return_days", flat=True).first()
        if days:
            return int(days)
    return settings.default_return_days


def return_due(account: Account, settings: PoolSettings | None = None, *,
               days: int | None = None) -> dt.datetime | None:
    """When the account would return to the pool if nobody follows up (None: it would not).
    ``days``: the return period when the caller already knows it (else read from the grade)."""
    settings = settings or PoolSettings.current()
    if account.owner_id is None or not settings.auto_return:
        return None
    idle_since = account.last_activity_at or account.created_at
    due = idle_since + dt.timedelta(days=days if days is not None else return_days_for(account, settings))
    if account.pool_notice_at and account.pool_notice_at >= idle_since:
        due = max(due, account.pool_notice_at + dt.timedelta(days=settings.notice_days))
    return due


# --- People and books ------------------------------------------------------------------------
def managed_users(actor: Any, *, active_only: bool = True) -> QuerySet[User]:
    """The people ``actor`` manages by role (not by grant): who may receive or give up a book."""
    vis = access.visibility_for(actor, include_grants=False)
    qs = User.objects.select_related("department")
    if not vis.everything:
        qs = qs.filter(Q(pk=actor.pk) | Q(pk__in=vis.owner_ids) | Q(department_id__in=vis.department_ids))
    if active_only:
        qs = qs.filter(is_active=True)
    return qs.order_by("-is_active", "department__name", "name", "username")


def book_accounts(actor: Any, from_user: User, *, include_deleted: bool = False) -> QuerySet[Account]:
    """The accounts of ``from_user`` that ``actor`` sees (optionally with those in the recycle bin)."""
    base = Account.all_objects.all() if include_deleted else Account.objects.all()
    return account_scope(actor, base.filter(owner=from_user))


OWNERSHIP_SHOWN = 100


def page_ownership(account: Account) -> list[OwnershipChange]:
    """The account's newest ownership moves, newest first, read once for its 360 page (the
    Ownership tab and the timeline show the same rows)."""
    people = [f"{who}__{field}" for who in ("from_user", "to_user", "actor") for field in ("name", "username")]
    # Only what the page prints of the three people (their names): a third of the columns.
    return page_read(account, "ownership", lambda: list(
        ownership_history(account).only("id", "account_id", "kind", "reason", "at", *people)[:OWNERSHIP_SHOWN]))


def colleague_choices(actor: Any, *, exclude: int | None = None) -> list[tuple[int, str]]:
    """``(pk, "name · department")`` of the active people ``actor`` manages: whom a book can go to."""
    rows = managed_users(actor).exclude(pk=exclude or 0).values_list("id", "username", "name", "department__name")
    return [(pk, (name or username) + (f" · {department}" if department else ""))
            for pk, username, name, department in rows]


def account_panel(user: Any, account: Account) -> dict[str, Any]:
    """Context for the Ownership tab of the account 360 page (customers/_panel_pool.html)."""
    from guanxi.customers.selectors.classification import page_grades

    settings = PoolSettings.current()
    grade_days = next((g.pool_return_days for g in page_grades(account) if g.code == account.grade), None)
    due = return_due(account, settings, days=grade_days or settings.default_return_days)
    can_reassign = has_perm(user, "account.reassign")
    return {
        "ownership": page_ownership(account),
        "pool_return_due": due,
        "pool_return_days_left": max(0, (due - timezone.now()).days) if due else None,
        "pool_can_release": can_release(user, account),
        "pool_can_reassign": can_reassign,
        "pool_colleagues": colleague_choices(user, exclude=account.owner_id) if can_reassign else [],
    }
