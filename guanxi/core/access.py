"""The one place that decides which owned records a user sees.

Every selector of an owned record (accounts now; contacts, deals, cases later) passes its
queryset through :func:`visible`. Hidden records are then simply absent, so detail views
answer 404 for them exactly as for missing ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet
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


def subtree_ids(department_ids: set[int]) -> set[int]:
    if not department_ids:
        return set()
    paths = Department.objects.filter(id__in=department_ids).values_list("path", flat=True)
    q = Q()
    for path in paths:
        q |= Q(path__startswith=path)
    return set(Department.objects.filter(q).values_list("id", flat=True))


def active_grants(user: User) -> QuerySet[AccessGrant]:
    now = timezone.now()
    return AccessGrant.objects.filter(
        grantee=user, state=AccessGrant.State.APPROVED, starts_at__lte=now, expires_at__gt=now
    )


def visibility_for(user: Any, *, include_grants: bool = True) -> Visibility:
    """Return what ``user`` may see, computed once per request and kept on the user object.

    ``include_grants=False`` gives the role's own reach: what the user manages. Deciding
    grants or assigning owners uses that, so a grant never widens what one may grant.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return NOTHING
    cache_attr = "_guanxi_visibility" if include_grants else "_guanxi_role_visibility"
    cached = getattr(user, cache_attr, None)
    if cached is not None:
        return cached
    scope = max((ROLE_SCOPE.get(code, Scope.OWN) for code in user.role_codes()), default=Scope.OWN)
    led_teams = Team.objects.filter(leader=user)
    if scope < Scope.TEAM and led_teams.exists():
        scope = Scope.TEAM
    if scope == Scope.EVERYTHING:
        result = Visibility(True, frozenset(), frozenset())
    else:
        owners = {user.id}
        departments: set[int] = set()
        if scope >= Scope.TEAM:
            owners |= set(Team.members.through.objects.filter(team__in=led_teams).values_list("user_id", flat=True))
        if scope >= Scope.DEPARTMENT and user.department_id:
            departments |= subtree_ids({user.department_id})
        granted_departments: set[int] = set()
        grants = active_grants(user) if include_grants else AccessGrant.objects.none()
        for dept_id, target_user_id in grants.values_list("target_department_id", "target_user_id"):
            if dept_id:
                granted_departments.add(dept_id)
            if target_user_id:
                owners.add(target_user_id)
        departments |= subtree_ids(granted_departments)
        if departments and owners:
            # Owners inside a visible department are already covered by the department
            # clause (a record's department follows its owner's); dropping them lets the
            # database answer "department_id IN (…)" from its index instead of an OR scan.
            owners -= set(User.objects.filter(id__in=owners, department_id__in=departments).values_list("id", flat=True))
        result = Visibility(False, frozenset(owners), frozenset(departments))
    setattr(user, cache_attr, result)
    return result


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
