"""The one place that decides which owned records a user sees.

Every selector of an owned record (accounts now; contacts, deals, cases later) passes its
queryset through :func:`visible`. Hidden records are then simply absent, so detail views
answer 404 for them exactly as for missing ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from django.db.models import F, IntegerField, Model, Q, QuerySet, Value
from django.utils import timezone

from guanxi.core.models import AccessGrant, Department, Team, User
from guanxi.core.permissions import ROLE_SCOPE, Scope

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Visibility:
    everything: bool
    owner_ids: frozenset[int]
    department_ids: frozenset[int]

    def allows(self, owner_id: int | None, department_id: int | None) -> bool:
        if self.everything:
            return True
        return (owner_id is not None and owner_id in self.owner_ids) or (
            department_id is not None and department_id in self.department_ids
        )


NOTHING = Visibility(False, frozenset(), frozenset())


def subtree_ids(department_ids: set[int], *, tree: list[tuple[int, str]] | None = None) -> set[int]:
    """The given departments and every department below them (one query: the tree is small;
    none when the caller already read ``tree``, the (id, path) of every live department)."""
    if not department_ids:
        return set()
    if tree is None:
        tree = list(Department.objects.values_list("id", "path"))
    roots = tuple(path for pk, path in tree if pk in department_ids)
    return {pk for pk, path in tree if roots and path.startswith(roots)}


def active_grants(user: User) -> QuerySet[AccessGrant]:
    now = timezone.now()
    return AccessGrant.objects.filter(
        grantee=user, state=AccessGrant.State.APPROVED, starts_at__lte=now, expires_at__gt=now
    )


def _reach(owners: dict[int, int | None], departments: set[int]) -> Visibility:
    # Owners inside a visible department are already covered by the department clause (a
    # record's department follows its owner's); dropping them lets the database answer
    # "department_id IN (…)" from its index instead of an OR scan.
    kept = {pk for pk, dept in owners.items() if not (departments and dept in departments)}
    return Visibility(False, frozenset(kept), frozenset(departments))


# Kinds of row in the one query of :func:`_reach_rows`.
_MEMBER, _GRANT, _DEPARTMENT = 1, 2, 3


def _reach_rows(user: Any, scope: Scope, *, include_grants: bool) -> tuple[
        dict[int, int | None], list[tuple[int | None, int | None, int | None]], list[tuple[int, str]] | None]:
    """What a role short of everything needs, read in one statement (UNION ALL): the members of
    the teams ``user`` leads with their departments, the active grants' targets (with
    ``include_grants``) and, from department scope on, the department tree.

    Every request of every page asks this once, so one round trip instead of three matters.
    Returns (member id → department id, grant rows (department, user, user's department),
    the tree's (id, path) or None when it was not read)."""
    none = Value(None, output_field=IntegerField())
    memberships: QuerySet[Any] = Team.members.through.objects.filter(team__in=Team.objects.filter(leader=user))
    parts: list[QuerySet[Any]] = [
        memberships.order_by()
        .annotate(k=Value(_MEMBER), a=F("user_id"), b=F("user__department_id"), c=none, p=Value(""))
        .values_list("k", "a", "b", "c", "p"),
    ]
    if include_grants:
        parts.append(active_grants(user).order_by()
                     .annotate(k=Value(_GRANT), a=F("target_department_id"), b=F("target_user_id"),
                               c=F("target_user__department_id"), p=Value(""))
                     .values_list("k", "a", "b", "c", "p"))
    want_tree = scope >= Scope.DEPARTMENT and bool(user.department_id)
    if want_tree:
        parts.append(Department.objects.order_by()
                     .annotate(k=Value(_DEPARTMENT), a=F("id"), b=none, c=none, p=F("path"))
                     .values_list("k", "a", "b", "c", "p"))
    rows = list(parts[0].union(*parts[1:], all=True)) if len(parts) > 1 else list(parts[0])
    members = {a: b for k, a, b, _c, _p in rows if k == _MEMBER}
    grants = [(a, b, c) for k, a, b, c, _p in rows if k == _GRANT]
    tree = [(a, p) for k, a, _b, _c, p in rows if k == _DEPARTMENT] if want_tree else None
    return members, grants, tree


def visibility_for(user: Any, *, include_grants: bool = True) -> Visibility:
    """Return what ``user`` may see, computed once per request and kept on the user object.

    ``include_grants=False`` gives the role's own reach: what the user manages. Deciding
    grants or assigning owners uses that, so a grant never widens what one may grant.
    Both are worked out from one query (team members and grant targets come with their
    department, see :func:`_reach_rows`), so a page that asks for both pays once.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return NOTHING
    cache_attr = "_guanxi_visibility" if include_grants else "_guanxi_role_visibility"
    cached = getattr(user, cache_attr, None)
    if cached is not None:
        return cached
    scope = max((ROLE_SCOPE.get(code, Scope.OWN) for code in user.role_codes()), default=Scope.OWN)
    if scope == Scope.EVERYTHING:
        role = full = Visibility(True, frozenset(), frozenset())
    else:
        # A salesperson who leads a team sees it as a team leader does; a team without members
        # adds no one, so "leads a team" needs no question of its own.
        members, grants, tree = _reach_rows(user, scope, include_grants=include_grants)
        # owner id → that owner's department (to drop owners a visible department covers)
        owners: dict[int, int | None] = {user.id: user.department_id}
        owners.update(members)
        departments: set[int] = set()
        if scope >= Scope.DEPARTMENT and user.department_id:
            departments |= subtree_ids({user.department_id}, tree=tree)
        role = _reach(owners, departments)
        full = role
        if include_grants:
            granted_owners = dict(owners)
            granted_departments: set[int] = set()
            for dept_id, target_user_id, target_dept_id in grants:
                if dept_id:
                    granted_departments.add(dept_id)
                if target_user_id:
                    granted_owners[target_user_id] = target_dept_id
            if granted_owners != owners or granted_departments:
                full = _reach(granted_owners, departments | subtree_ids(granted_departments, tree=tree))
    user._guanxi_role_visibility = role
    if include_grants:
        user._guanxi_visibility = full
    return full if include_grants else role


def forget(user: Any) -> None:
    """Drop the cached visibility (after a grant or role change within one request)."""
    for attr in ("_guanxi_visibility", "_guanxi_role_visibility"):
        if hasattr(user, attr):
            delattr(user, attr)


def visible(user: Any, queryset: QuerySet[M], *, owner_field: str = "owner",
            department_field: str = "department") -> QuerySet[M]:
    """Scope ``queryset`` of owned records to what ``user`` may see. Apply before filtering."""
    vis = visibility_for(user)
    if vis.everything:
        return queryset
    q = Q()
    if vis.owner_ids:
        q |= Q(**{f"{owner_field}_id__in": vis.owner_ids})
    if vis.department_ids:
        q |= Q(**{f"{department_field}_id__in": vis.department_ids})
    return queryset.filter(q) if q else queryset.none()


def can_see(user: Any, obj: Any, *, owner_field: str = "owner", department_field: str = "department") -> bool:
    # Note: relies on the invariant that an owned record's department is its owner's.
    return visibility_for(user).allows(
        getattr(obj, f"{owner_field}_id", None), getattr(obj, f"{department_field}_id", None)
    )


def manages_user(actor: Any, other: User) -> bool:
    """True when ``actor`` sees ``other``'s records by role (not by a grant)."""
    vis = visibility_for(actor, include_grants=False)
    return vis.everything or other.id == actor.id or other.id in vis.owner_ids or (
        other.department_id is not None and other.department_id in vis.department_ids
    )
