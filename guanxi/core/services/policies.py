"""Approval policies: per record type, whether approved records change only by change request."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.core import audit, registry
from guanxi.core.errors import Forbidden, Invalid
from guanxi.core.models import Approvable, ApprovalPolicy, Role
from guanxi.core.permissions import has_perm
from guanxi.core.services.records import apply_update


def approvable_types() -> list[registry.Entry]:
    return [e for e in registry.entries() if issubclass(e.model, Approvable)]


def policy_list() -> list[ApprovalPolicy]:
    """One policy per approvable record type (a type without a row is shown disabled)."""
    existing = {p.model: p for p in ApprovalPolicy.objects.all()}
    return [existing.get(e.label) or ApprovalPolicy(model=e.label, enabled=False) for e in approvable_types()]


@transaction.atomic
def policy_set(*, actor: Any, model: str, enabled: bool, approver_role: str,
               expected_version: int | None = None) -> ApprovalPolicy:
    if not has_perm(actor, "approvalpolicy.manage"):
        raise Forbidden()
    if model not in {e.label for e in approvable_types()}:
        raise Invalid(errors={"model": [_("This record type has no approvals.")]})
    if approver_role not in Role.Code.values:
        raise Invalid(errors={"approver_role": [_("Unknown role: %(code)s") % {"code": approver_role}]})
    policy = ApprovalPolicy.objects.filter(model=model).first()
    if policy is None:
        policy = ApprovalPolicy.objects.create(model=model, enabled=enabled, approver_role=approver_role)
        audit.record(actor=actor, action="permission", obj=policy, changes={
            "enabled": [None, enabled], "approver_role": [None, approver_role]})
        return policy
    apply_update(actor=actor, obj=policy, changes={"enabled": enabled, "approver_role": approver_role},
                 expected_version=expected_version, action="permission")
    return policy
