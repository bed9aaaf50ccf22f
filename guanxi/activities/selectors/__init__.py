"""Reads of interactions, follow-ups, care and projects: always scoped by their account first.

A record here is visible exactly when its account is (the account's owner and department
decide, see core/access.py), so reassigning an account moves its history with it.
When an account changes hands its open follow-ups go with it (services: owner listener).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from guanxi.activities.models import CarePlan, CostChange, FollowUp, Interaction, Phase, Project, Support
from guanxi.core import access
from guanxi.core.errors import NotFound

M = TypeVar("M", bound=Model)


def by_account(user: Any, queryset: QuerySet[M], *, prefix: str = "account") -> QuerySet[M]:
    """Scope any queryset of records that hang off an account to what ``user`` sees."""
    return access.visible(user, queryset, owner_field=f"{prefix}__owner", department_field=f"{prefix}__department")


def _live(model: type[M], queryset: QuerySet[M] | None, prefix: str = "account") -> QuerySet[M]:
    if queryset is not None:
        return queryset
    return model._default_manager.filter(**{f"{prefix}__deleted_at__isnull": True})


def interaction_scope(user: Any, queryset: QuerySet[Interaction] | None = None) -> QuerySet[Interaction]:
    return by_account(user, _live(Interaction, queryset))


def followup_scope(user: Any, queryset: QuerySet[FollowUp] | None = None) -> QuerySet[FollowUp]:
    """Follow-ups of visible accounts. A follow-up handed to a colleague is planned only for one
    who sees the account; one who no longer does (the account moved on) no longer sees it."""
    return by_account(user, _live(FollowUp, queryset))


def care_scope(user: Any, queryset: QuerySet[CarePlan] | None = None) -> QuerySet[CarePlan]:
    return by_account(user, _live(CarePlan, queryset))


def support_scope(user: Any, queryset: QuerySet[Support] | None = None) -> QuerySet[Support]:
    return by_account(user, _live(Support, queryset))


def project_scope(user: Any, queryset: QuerySet[Project] | None = None) -> QuerySet[Project]:
    return by_account(user, _live(Project, queryset))


def phase_scope(user: Any, queryset: QuerySet[Phase] | None = None) -> QuerySet[Phase]:
    qs = Phase.objects.filter(project__deleted_at__isnull=True, project__account__deleted_at__isnull=True) \
        if queryset is None else queryset
    return by_account(user, qs, prefix="project__account")


def cost_change_scope(user: Any, queryset: QuerySet[CostChange] | None = None) -> QuerySet[CostChange]:
    qs = CostChange.objects.filter(phase__project__deleted_at__isnull=True,
                                   phase__project__account__deleted_at__isnull=True) \
        if queryset is None else queryset
    return by_account(user, qs, prefix="phase__project__account")


def get_one(scope: Any, user: Any, pk: Any, *related: str) -> Any:
    """One record through ``scope`` (hidden = missing → NotFound)."""
    qs = scope(user)
    try:
        return (qs.select_related(*related) if related else qs).get(pk=pk)
    except (ObjectDoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def interactions_of(user: Any, account_id: int, *, limit: int = 50) -> list[Interaction]:
    return list(interaction_scope(user).filter(account_id=account_id).select_related("owner")
                .prefetch_related("their_people").order_by("-occurred_at", "-id")[:limit])


def open_followups_of(user: Any, account_id: int) -> list[FollowUp]:
    return list(followup_scope(user).filter(account_id=account_id, state=FollowUp.State.OPEN)
                .select_related("owner", "contact").order_by("due_at", "id")[:50])


def my_open_followups(user: Any, *, until: dt.datetime | None = None, limit: int = 50) -> list[FollowUp]:
    """The caller's open follow-ups due before ``until`` (default: the end of today), oldest first."""
    if until is None:
        until = end_of_today()
    return list(followup_scope(user).filter(owner=user, state=FollowUp.State.OPEN, due_at__lt=until)
                .select_related("account", "contact").order_by("due_at", "id")[:limit])


def end_of_today() -> dt.datetime:
    today = timezone.localdate()
    return timezone.make_aware(dt.datetime.combine(today + dt.timedelta(days=1), dt.time.min))


# --- Lists, the account page and choices (interactions, follow-ups, cadence) ----------------
PAGE_INTERACTIONS = 50  # what the account timeline shows; the page's panel shows the newest of them


def page_interactions(account: Any) -> list[Interaction]:
    """The account's newest interactions, read once for its 360 page (the contact tab and the
    timeline show the same rows; see customers.selectors.page_read)."""
    from guanxi.customers.selectors import page_read

    return page_read(account, "activities.interactions", lambda: list(
        Interaction.objects.filter(account_id=account.pk).select_related("owner")
        .order_by("-occurred_at", "-id")[:PAGE_INTERACTIONS]))


PAGE_FOLLOWUPS = 50  # done follow-ups on the account timeline; open ones on the contact tab


def page_followups(account: Any) -> tuple[list[FollowUp], list[FollowUp]]:
    """The account's open follow-ups (soonest due first) and its newest done ones (newest
    first), read once and in one query for its 360 page: the contact tab shows the first,
    the timeline the second. The account is already visible, so are all its follow-ups."""
    from django.db.models import DateTimeField, OuterRef, Subquery, Value
    from django.db.models.functions import Coalesce

    from guanxi.customers.selectors import page_read

    def read() -> tuple[list[FollowUp], list[FollowUp]]:
        # The done_at of the PAGE_FOLLOWUPS-th newest done one: older ones are not read.
        floor = Subquery(FollowUp.objects.filter(account_id=OuterRef("account_id"), state=FollowUp.State.DONE)
                         .order_by("-done_at", "-id").values("done_at")[PAGE_FOLLOWUPS - 1:PAGE_FOLLOWUPS])
        epoch = Value(dt.datetime(1970, 1, 1, tzinfo=dt.UTC), output_field=DateTimeField())
        rows = list(FollowUp.objects.filter(account_id=account.pk)
                    .filter(Q(state=FollowUp.State.OPEN)
                            | Q(state=FollowUp.State.DONE, done_at__gte=Coalesce(floor, epoch)))
                    .select_related("owner", "contact", "done_by").order_by("due_at", "id")[:4 * PAGE_FOLLOWUPS])
        open_ones = [f for f in rows if f.state == FollowUp.State.OPEN][:PAGE_FOLLOWUPS]
        done = sorted((f for f in rows if f.state == FollowUp.State.DONE),
                      key=lambda f: (f.done_at, f.pk), reverse=True)[:PAGE_FOLLOWUPS]
        return open_ones, done

    return page_read(account, "activities.followups", read)


def _bad(errors: dict[str, list[str]]) -> None:
    if errors:
        from django.utils.translation import gettext as _

        from guanxi.customers.selectors.lists import BadFilter

        raise BadFilter(_("Some filters cannot be applied."), errors=errors)


def _param(params: Any, key: str) -> str:
    value = params.get(key, "") if params is not None else ""
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else ""
    return str(value if value is not None else "").strip()


def _day_or_time(value: str, key: str, errors: dict[str, list[str]], *, end: bool = False) -> dt.datetime | None:
    """A filter bound: a date (the whole day) or a date and time, aware in the local zone."""
    from django.utils.dateparse import parse_date, parse_datetime
    from django.utils.translation import gettext as _

    if not value:
        return None
    try:
        # A bare date is a whole day (Python's ISO parser would read it as its midnight).
        day = parse_date(value) if len(value) == 10 else None
        when = None if day else parse_datetime(value)
    except ValueError:
        when, day = None, None
    if when is None and day is None:
        errors[key] = [_("Enter a valid date, e.g. 2026-03-01.")]
        return None
    if when is None:
        assert day is not None
        when = dt.datetime.combine(day + dt.timedelta(days=1) if end else day, dt.time.min)
    return timezone.make_aware(when) if timezone.is_naive(when) else when


def managed_owner(user: Any, value: str, errors: dict[str, list[str]], key: str = "owner") -> int | None:
    """An owner filter value (``me`` or a user id) checked against the people ``user`` manages:
    filtering on a colleague one does not manage would reveal their work (S4) → 400."""
    from django.utils.translation import gettext as _

    from guanxi.core.access import manages_user
    from guanxi.core.models import User

    if value == "me":
        return int(user.pk)
    other = User.objects.filter(pk=int(value)).first() if value.isdigit() else None
    if other is None or not manages_user(user, other):
        errors[key] = [_("Unknown value “%(value)s”.") % {"value": value}]
        return None
    return int(other.pk)


def interaction_list_for(user: Any, params: Any = None) -> QuerySet[Interaction]:
    """The interactions ``user`` sees, filtered by ``kind``, ``purpose``, ``owner`` (me or a
    colleague one manages), ``account``, ``from``/``to`` (dates or date-times): newest first.
    Raises BadFilter (400) for a value it cannot apply."""
    from django.utils.translation import gettext as _

    errors: dict[str, list[str]] = {}
    qs = interaction_scope(user).select_related("account", "owner")
    kind, purpose = _param(params, "kind"), _param(params, "purpose")
    if kind:
        if kind not in Interaction.Kind.values:
            errors["kind"] = [_("Unknown value “%(value)s”.") % {"value": kind}]
        qs = qs.filter(kind=kind)
    if purpose:
        if purpose not in Interaction.Purpose.values:
            errors["purpose"] = [_("Unknown value “%(value)s”.") % {"value": purpose}]
        qs = qs.filter(purpose=purpose)
    owner = _param(params, "owner")
    if owner:
        owner_id = managed_owner(user, owner, errors)
        qs = qs.filter(owner_id=owner_id)
    qs = _account_and_range(qs, params, errors, field="occurred_at", start_key="from", end_key="to")
    _bad(errors)
    return qs.order_by("-occurred_at", "-id")


def _account_and_range(qs: QuerySet[M], params: Any, errors: dict[str, list[str]], *, field: str,
                       start_key: str, end_key: str) -> QuerySet[M]:
    """The ``account`` filter and a ``start_key``/``end_key`` range (dates or date-times) on ``field``."""
    from django.utils.translation import gettext as _

    account = _param(params, "account")
    if account:
        if not account.isdigit():
            errors["account"] = [_("Unknown value “%(value)s”.") % {"value": account}]
        else:
            qs = qs.filter(account_id=int(account))
    start = _day_or_time(_param(params, start_key), start_key, errors)
    end = _day_or_time(_param(params, end_key), end_key, errors, end=True)
    if start is not None:
        qs = qs.filter(**{f"{field}__gte": start})
    if end is not None:
        qs = qs.filter(**{f"{field}__lt": end})
    return qs


FOLLOWUP_STATES = ("open", "done", "cancelled", "all")


def followup_list_for(user: Any, params: Any = None, *, default_owner: str = "me",
                      default_state: str = "open") -> QuerySet[FollowUp]:
    """The follow-ups ``user`` sees: ``owner`` (``me``, ``all``, or a colleague one manages;
    ``default_owner`` when absent), ``state`` (``open``, ``done``, ``cancelled`` or ``all``;
    ``default_state`` when absent), ``account``, ``due_from``/``due_to``
    (dates or date-times), ``overdue`` (1: open and past due). Soonest due first."""
    from django.utils.translation import gettext as _

    errors: dict[str, list[str]] = {}
    qs = followup_scope(user).select_related("account", "owner", "contact")
    owner = _param(params, "owner") or default_owner
    if owner != "all":
        qs = qs.filter(owner_id=managed_owner(user, owner, errors))
    state = _param(params, "state") or default_state
    if state not in FOLLOWUP_STATES:
        errors["state"] = [_("Unknown value “%(value)s”.") % {"value": state}]
    elif state != "all":
        qs = qs.filter(state=state)
    qs = _account_and_range(qs, params, errors, field="due_at", start_key="due_from", end_key="due_to")
    overdue = _param(params, "overdue").lower()
    if overdue in ("1", "true", "yes", "on"):
        qs = qs.filter(state=FollowUp.State.OPEN, due_at__lt=timezone.now())
    elif overdue not in ("", "0", "false", "no", "off"):
        errors["overdue"] = [_("Unknown value “%(value)s”.") % {"value": overdue}]
    _bad(errors)
    return qs.order_by("due_at", "id")


def people_i_manage(user: Any) -> list[tuple[int, str]]:
    """``(pk, label)`` of the active people ``user`` manages, the caller first (owner filters)."""
    from guanxi.customers.selectors.pool import managed_users

    rows = managed_users(user).values_list("id", "username", "name")[:500]
    people = [(pk, name or username) for pk, username, name in rows]
    return sorted(people, key=lambda p: p[0] != user.pk)


def assignee_choices(account: Any, *, exclude: int | None = None) -> list[tuple[int, str]]:
    """``(pk, label)`` of the active colleagues who may own a follow-up on ``account``: they
    hold ``followup.view`` and see the account (the service checks the chosen one again).

    Candidates are the people of the account's department and the departments above it,
    the leaders of its owner's teams, those who see everything and those granted access;
    each is then checked with the one visibility rule (core/access.py)."""
    from guanxi.core.models import AccessGrant, Department, Team, User
    from guanxi.core.permissions import has_perm

    departments: set[int] = set()
    if account.department_id:
        path = Department.objects.filter(pk=account.department_id).values_list("path", flat=True).first() or ""
        departments = {int(p) for p in path.strip("/").split("/") if p.isdigit()} | {account.department_id}
    now = timezone.now()
    granted = AccessGrant.objects.filter(state=AccessGrant.State.APPROVED, starts_at__lte=now, expires_at__gt=now) \
        .filter(Q(target_department_id__in=departments) | Q(target_user_id=account.owner_id)).values("grantee_id")
    leaders = Team.objects.filter(members=account.owner_id).values("leader_id") if account.owner_id else []
    candidates = (User.objects.filter(is_active=True)
                  .filter(Q(department_id__in=departments) | Q(roles__code__in=("general_manager", "admin"))
                          | Q(pk__in=granted) | Q(pk__in=leaders))
                  .exclude(pk=exclude or 0).distinct().order_by("department_id", "name", "username")[:200])
    out = []
    for person in candidates:
        if has_perm(person, "followup.view") and access.can_see(person, account):
            out.append((person.pk, person.name or person.username))
    return out
