"""Access grants (R10.3): request to look into another department's or person's customers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import access, audit
from guanxi.core.errors import Forbidden, Invalid
from guanxi.core.models import AccessGrant, Department, Role, User
from guanxi.core.permissions import has_perm
from guanxi.core.services.notifications import notify, notify_role

MAX_GRANT_DAYS = 90


def can_decide(actor: Any, grant: AccessGrant) -> bool:
    """A general manager or admin decides any grant; a sales manager one into their own subtree."""
    if actor.pk == grant.grantee_id or not has_perm(actor, "grant.decide"):
        return False
    vis = access.visibility_for(actor, include_grants=False)
    if vis.everything:
        return True
    if grant.target_department_id:
        return grant.target_department_id in vis.department_ids
    target = grant.target_user
    return target is not None and access.manages_user(actor, target)


@transaction.atomic
def grant_request(*, actor: Any, reason: str, days: int, department: Department | None = None,
                  user: User | None = None) -> AccessGrant:
    if not has_perm(actor, "grant.request"):
        raise Forbidden()
    errors: dict[str, list[str]] = {}
    if (department is None) == (user is None):
        errors["target"] = [_("Choose either a department or a person to look into.")]
    if not (reason or "").strip():
        errors["reason"] = [_("Say why you need to look into these customers.")]
    if not 1 <= int(days) <= MAX_GRANT_DAYS:
        errors["days"] = [_("A grant lasts from 1 to %(n)d days.") % {"n": MAX_GRANT_DAYS}]
    if errors:
        raise Invalid(errors=errors)
    now = timezone.now()
    grant = AccessGrant.objects.create(grantee=actor, target_department=department, target_user=user,
                                       reason=reason.strip(), starts_at=now, expires_at=now + dt.timedelta(days=int(days)))
    audit.record(actor=actor, action="request", obj=grant, changes={
        "target": [None, str(grant.target)], "expires_at": [None, audit.serialise(grant.expires_at)]})
    notify_role(Role.Code.GENERAL_MANAGER, title=_("Access grant requested by %(user)s") % {"user": actor},
                url="/grants/", exclude=actor)
    return grant


@transaction.atomic
def grant_decide(*, actor: Any, grant: AccessGrant, approve: bool, note: str = "") -> AccessGrant:
    grant = AccessGrant.objects.select_for_update().get(pk=grant.pk)
    if grant.grantee_id == actor.pk:
        raise Forbidden(_("Nobody can approve their own access grant."))
    if not can_decide(actor, grant):
        raise Forbidden()
    if grant.state != AccessGrant.State.REQUESTED:
        raise Invalid(_("This request has already been decided."))
    before = grant.state
    grant.state = AccessGrant.State.APPROVED if approve else AccessGrant.State.REJECTED
    grant.decided_by = actor
    grant.decided_at = timezone.now()
    if approve:
        # The granted time runs from the decision, not from the request.
        length = grant.expires_at - grant.starts_at
        grant.starts_at = grant.decided_at
        grant.expires_at = grant.decided_at + length
    grant.version += 1
    grant.save()
    audit.record(actor=actor, action="permission", obj=grant, changes={"state": [before, grant.state]}, note=note)
    notify(grant.grantee, title=_("Your access grant was %(state)s") % {"state": grant.get_state_display()},
           url="/grants/")
    return grant


@transaction.atomic
def grant_revoke(*, actor: Any, grant: AccessGrant) -> AccessGrant:
    if grant.grantee_id != actor.pk and not can_decide(actor, grant):
        raise Forbidden()
    if grant.state not in {AccessGrant.State.APPROVED, AccessGrant.State.REQUESTED}:
        raise Invalid(_("This grant is no longer active."))
    before = grant.state
    grant.state = AccessGrant.State.REVOKED
    grant.version += 1
    grant.save()
    audit.record(actor=actor, action="permission", obj=grant, changes={"state": [before, grant.state]})
    return grant
