"""Organisation writes: departments, users, teams, roles. Administrators only."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit, registry
from guanxi.core.errors import Forbidden, Invalid
from guanxi.core.models import ApiToken, Department, Role, Team, User
from guanxi.core.permissions import has_perm
from guanxi.core.services.records import apply_update


def _require_admin(actor: Any) -> None:
    if not has_perm(actor, "org.manage"):
        raise Forbidden()


def _clean_name(value: str, field: str = "name", max_length: int = 100) -> str:
    value = (value or "").strip()
    if not value:
        raise Invalid(errors={field: [_("This field is required.")]})
    if len(value) > max_length:
        raise Invalid(errors={field: [_("At most %(n)d characters.") % {"n": max_length}]})
    return value


# --- Departments -----------------------------------------------------------------------------
def _set_path(department: Department) -> None:
    prefix = department.parent.path if department.parent else "/"
    department.path = f"{prefix}{department.pk}/"
    Department.all_objects.filter(pk=department.pk).update(path=department.path)


@transaction.atomic
def department_create(*, actor: Any, name: str, parent: Department | None = None) -> Department:
    _require_admin(actor)
    department = Department.objects.create(name=_clean_name(name), parent=parent)
    _set_path(department)
    audit.record(actor=actor, action="create", obj=department,
                 changes=audit.creation_changes(department, ["name", "parent"]))
    return department


@transaction.atomic
def department_update(*, actor: Any, department: Department, expected_version: int | None,
                      name: str | None = None, parent: Department | Any | None = ...) -> Department:
    _require_admin(actor)
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = _clean_name(name)
    old_path = department.path
    if parent is not ...:
        if parent is not None and parent.path.startswith(department.path):
            raise Invalid(errors={"parent": [_("A department cannot be placed under itself or its own sub-department.")]})
        changes["parent"] = parent
    apply_update(actor=actor, obj=department, changes=changes, expected_version=expected_version)
    if "parent" in changes:
        _set_path(department)
        # Move the whole subtree: every descendant's path starts with the old prefix.
        for child in Department.all_objects.filter(path__startswith=old_path).exclude(pk=department.pk):
            child.path = department.path + child.path[len(old_path):]
            Department.all_objects.filter(pk=child.pk).update(path=child.path)
    return department


# --- Users -----------------------------------------------------------------------------------
def _roles_from_codes(codes: list[str]) -> list[Role]:
    valid = {c.value for c in Role.Code}
    bad = [c for c in codes if c not in valid]
    if bad:
        raise Invalid(errors={"roles": [_("Unknown role: %(code)s") % {"code": ", ".join(bad)}]})
    roles = []
    for code in codes:
        role, _created = Role.objects.get_or_create(code=code)
        roles.append(role)
    return roles


@transaction.atomic
def user_create(*, actor: Any, username: str, password: str, name: str = "", department: Department | None = None,
                roles: list[str] | None = None, email: str = "", language: str = "zh-hans") -> User:
    _require_admin(actor)
    username = _clean_name(username, "username", 150)
    if User.objects.filter(username__iexact=username).exists():
        raise Invalid(errors={"username": [_("This username is already taken.")]})
    role_objs = _roles_from_codes(roles or [])
    user = User(username=username, name=(name or "").strip()[:100], department=department, email=email,
                language=language if language in User.Language.values else User.Language.ZH_HANS)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise Invalid(errors={"password": [str(m) for m in exc.messages]})
    user.set_password(password)
    try:
        user.save()
    except IntegrityError:
        raise Invalid(errors={"username": [_("This username is already taken.")]})
    user.roles.set(role_objs)
    audit.record(actor=actor, action="create", obj=user, changes={
        **audit.creation_changes(user, ["username", "name", "department", "email"]),
        "roles": [[], sorted(r.code for r in role_objs)],
    })
    return user


@transaction.atomic
def user_update(*, actor: Any, user: User, expected_version: int | None, **changes: Any) -> User:
    """Change a user's profile, department or roles (roles and department: administrators)."""
    allowed_self = {"name", "email", "language", "phone"}
    is_self = actor.pk == user.pk
    if not has_perm(actor, "org.manage") and not (is_self and set(changes) <= allowed_self):
        raise Forbidden()
    roles = changes.pop("roles", None)
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()[:100]
    if "language" in changes and changes["language"] not in User.Language.values:
        raise Invalid(errors={"language": [_("Unknown language.")]})
    delta = apply_update(actor=actor, obj=user, changes=changes, expected_version=expected_version)
    if "department" in delta:
        _follow_owner_department(actor, user)
    if roles is not None:
        role_objs = _roles_from_codes(roles)
        before = sorted(user.role_codes())
        after = sorted(r.code for r in role_objs)
        if before != after:
            user.roles.set(role_objs)
            user._role_codes = frozenset(after)
            audit.record(actor=actor, action="permission", obj=user, changes={"roles": [before, after]})
    return user


def _follow_owner_department(actor: Any, user: User) -> None:
    """Keep every owned record's department equal to its owner's (what access filters on)."""
    for entry in registry.entries():
        names = {f.name for f in entry.model._meta.get_fields()}
        if {"owner", "department"} <= names:
            moved = entry.model._base_manager.filter(owner=user).exclude(department=user.department_id).update(
                department=user.department_id)
            if moved:
                audit.record(actor=actor, action="update", obj=user, note=f"{moved} {entry.label} moved with their owner",
                             changes={"department": ["*", audit.serialise(user.department)]})


def end_sessions(user: User) -> int:
    """Delete every stored session of ``user`` (database sessions; cache sessions are checked per request)."""
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            session.delete()
            ended += 1
    return ended


@transaction.atomic
def user_set_active(*, actor: Any, user: User, active: bool) -> User:
    """Activate or deactivate; deactivation ends sessions and API tokens at once (S7)."""
    _require_admin(actor)
    if user.pk == actor.pk and not active:
        raise Invalid(_("You cannot deactivate yourself."))
    if user.is_active == active:
        return user
    apply_update(actor=actor, obj=user, changes={"is_active": active}, expected_version=None, action="permission")
    if not active:
        ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
        transaction.on_commit(lambda: end_sessions(user))
    return user


@transaction.atomic
def user_set_password(*, actor: Any, user: User, password: str) -> User:
    if actor.pk != user.pk and not has_perm(actor, "org.manage"):
        raise Forbidden()
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise Invalid(errors={"password": [str(m) for m in exc.messages]})
    user.set_password(password)
    user.save(update_fields=["password"])
    audit.record(actor=actor, action="permission", obj=user, changes={"password": ["***", "***"]})
    return user


# --- Teams -----------------------------------------------------------------------------------
@transaction.atomic
def team_create(*, actor: Any, name: str, department: Department, leader: User | None = None,
                members: list[User] | None = None) -> Team:
    _require_admin(actor)
    team = Team.objects.create(name=_clean_name(name), department=department, leader=leader)
    team.members.set(members or [])
    audit.record(actor=actor, action="create", obj=team, changes={
        "name": [None, team.name], "department": [None, audit.serialise(department)],
        "leader": [None, audit.serialise(leader)],
        "members": [[], [audit.serialise(m) for m in members or []]],
    })
    return team


@transaction.atomic
def team_set_members(*, actor: Any, team: Team, members: list[User]) -> Team:
    _require_admin(actor)
    before = sorted(team.members.values_list("id", flat=True))
    team.members.set(members)
    after = sorted(m.pk for m in members)
    if before != after:
        audit.record(actor=actor, action="permission", obj=team, changes={"members": [before, after]})
    return team


registry.register(registry.Entry(model=Department, perm="department", scope=lambda user, qs: qs,
                                 editable=("name", "parent"), detail_url=lambda obj: "/org/departments/"))
registry.register(registry.Entry(model=Team, perm="team", scope=lambda user, qs: qs,
                                 editable=("name", "leader", "department"), detail_url=lambda obj: "/org/teams/"))
