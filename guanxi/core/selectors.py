"""Reads of core records, each already scoped to who is asking."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, Q, QuerySet

from guanxi.core import access, registry
from guanxi.core.models import (
    AccessGrant,
    AuditEvent,
    ChangeRequest,
    Department,
    Job,
    SoftDeletable,
    Team,
    User,
)
from guanxi.core.permissions import has_perm


def department_list() -> QuerySet[Department]:
    return Department.objects.all()


def user_list(*, q: str = "", department: int | None = None, active: bool | None = None) -> QuerySet[User]:
    qs = User.objects.prefetch_related("roles").order_by("id")
    if q:
        qs = qs.filter(Q(username__icontains=q) | Q(name__icontains=q))
    if department:
        qs = qs.filter(department_id=department)
    if active is not None:
        qs = qs.filter(is_active=active)
    return qs


def team_list() -> QuerySet[Team]:
    return Team.objects.select_related("department", "leader").prefetch_related("members")


def grant_list_for(user: Any) -> QuerySet[AccessGrant]:
    """Own grants, plus those the user may decide (by role and subtree)."""
    qs = AccessGrant.objects.select_related("grantee", "target_department", "target_user", "decided_by")
    if not has_perm(user, "grant.decide"):
        return qs.filter(grantee=user)
    vis = access.visibility_for(user, include_grants=False)
    if vis.everything:
        return qs
    return qs.filter(
        Q(grantee=user) | Q(target_department_id__in=vis.department_ids) | Q(target_user__department_id__in=vis.department_ids)
        | Q(target_user_id__in=vis.owner_ids)
    )


def change_request_list_for(user: Any) -> QuerySet[ChangeRequest]:
    """Requests one made, requests one's roles decide, and (admins) all."""
    qs = ChangeRequest.objects.select_related("content_type", "requested_by", "decided_by")
    if has_perm(user, "audit.view_all"):
        return qs
    return qs.filter(Q(requested_by=user) | Q(approver_role__in=user.role_codes()))


def history_for(obj: Model) -> QuerySet[AuditEvent]:
    ct = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    return AuditEvent.objects.filter(content_type=ct, object_id=str(obj.pk)).select_related("content_type")


def audit_search(*, actor: int | None = None, action: str | None = None, record_type: str | None = None,
                 object_id: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None,
                 q: str | None = None) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.select_related("content_type")
    if actor:
        qs = qs.filter(actor_id=actor)
    if action:
        qs = qs.filter(action=action)
    if record_type and "." in record_type:
        app_label, model = record_type.split(".", 1)
        qs = qs.filter(content_type__app_label=app_label, content_type__model=model)
    if object_id:
        qs = qs.filter(object_id=object_id)
    if since:
        qs = qs.filter(at__gte=since)
    if until:
        qs = qs.filter(at__lt=until)
    if q:
        qs = qs.filter(Q(object_repr__icontains=q) | Q(actor_name__icontains=q))
    return qs


def recycle_bin_for(user: Any, limit: int = 500) -> list[dict[str, Any]]:
    """Deleted records of every registered type that the user may see and restore."""
    rows: list[dict[str, Any]] = []
    for entry in registry.entries():
        if not issubclass(entry.model, SoftDeletable) or not has_perm(user, f"{entry.perm}.delete"):
            continue
        qs = entry.scope(user, entry.model._base_manager.filter(deleted_at__isnull=False))
        for obj in qs.select_related("deleted_by").order_by("-deleted_at")[:limit]:
            rows.append({"record_type": entry.label, "id": obj.pk, "label": str(obj),
                         "deleted_at": obj.deleted_at, "deleted_by": str(obj.deleted_by or ""),
                         "type_name": str(entry.model._meta.verbose_name)})
    rows.sort(key=lambda r: r["deleted_at"], reverse=True)
    return rows[:limit]


def job_for(user: Any, job_id: str) -> Job | None:
    """The job if the user started it (administrators: any job); None for anything else."""
    try:
        job_uuid = uuid.UUID(str(job_id))
    except ValueError:
        return None  # a malformed id is a missing job
    qs = Job.objects.filter(pk=job_uuid)
    if not has_perm(user, "audit.view_all"):
        qs = qs.filter(created_by=user)
    return qs.first()
