"""Sales targets (R11.2): set, change and remove the target of a person, a team or a department.

A target has exactly one holder and measures one thing (orders, receipts, contracts signed,
new customers) over one period of at most a year. Two targets of the same holder and
measure may not overlap in time, so "the target" for any day is never ambiguous; the
holder's row is locked while this is checked, so two managers cannot both slip one in.

Only a manager sets targets, for whom they manage by role: people in their reach (not
themselves), teams of their departments or that they lead, departments below their own.
The general manager sets any, their own included.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.core import access, audit
from guanxi.core.errors import Conflict, Invalid
from guanxi.core.models import AuditEvent, Department, Team, User
from guanxi.core.services import records
from guanxi.sales.models import SalesTarget
from guanxi.sales.selectors.targets import Metric, period_of
from guanxi.sales.services.common import decimal_field, money, raise_if, require

TARGET_EDITABLE = ("metric", "period_start", "period_end", "amount", "notes")


def may_set_for(actor: Any, *, user: User | None = None, team: Team | None = None,
                department: Department | None = None) -> bool:
    """Whether ``actor`` (holding ``target.manage``) may set targets for this holder."""
    reach = access.visibility_for(actor, include_grants=False)
    if reach.everything:
        return True
    if user is not None:
        return user.pk != actor.pk and access.manages_user(actor, user)
    if team is not None:
        return team.leader_id == actor.pk or team.department_id in reach.department_ids
    if department is not None:
        return department.pk in reach.department_ids and department.pk != actor.department_id
    return False


def _holder(target: SalesTarget) -> Any:
    return target.user or target.team or target.department


def _clean(actor: Any, target: SalesTarget | None, data: dict[str, Any]) -> dict[str, Any]:
    """Every field checked at once: the holder, the measure, the period, the amount, no overlap."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    if target is None:
        holders = [(name, data.get(name)) for name in ("user", "team", "department") if data.get(name) is not None]
        if len(holders) != 1:
            errors["holder"] = [_("Choose one salesperson, one team or one department.")]
        else:
            name, holder = holders[0]
            if not may_set_for(actor, **{name: holder}):
                errors["holder"] = [_("You can set targets only for the people, teams and departments you "
                                      "manage.")]
            out[name] = holder
    if "metric" in data:
        if data["metric"] not in Metric.values:
            errors["metric"] = [_("Choose what the target measures.")]
        out["metric"] = data["metric"]
    if "period_start" in data or "period_end" in data:
        try:
            period = period_of(data.get("period_start", getattr(target, "period_start", None)),
                               data.get("period_end", getattr(target, "period_end", None)))
        except Invalid as exc:
            errors.update(exc.errors)
        else:
            out["period_start"], out["period_end"] = period.start, period.end
    if "amount" in data:
        amount = decimal_field(data["amount"], "amount", errors, minimum=Decimal("0.01"),
                               maximum=Decimal("99999999999999"))
        if amount is not None:
            out["amount"] = money(amount)
    if "notes" in data:
        out["notes"] = str(data["notes"] or "").strip()
    metric = out.get("metric", getattr(target, "metric", None))
    amount = out.get("amount", getattr(target, "amount", None))
    if metric == Metric.NEW_ACCOUNTS and amount is not None and amount != amount.to_integral_value():
        errors.setdefault("amount", []).append(_("A target of new customers is a whole number."))
    raise_if(errors)
    return out


def _refuse_overlap(target: SalesTarget) -> None:
    holder = _holder(target)
    # Lock the holder: a second writer checking the same holder waits for this transaction.
    type(holder)._base_manager.select_for_update().filter(pk=holder.pk).first()
    same_holder = {f"{name}_id" if getattr(target, f"{name}_id") else f"{name}__isnull":
                   getattr(target, f"{name}_id") or True for name in ("user", "team", "department")}
    clash = (SalesTarget.objects.filter(metric=target.metric, period_start__lte=target.period_end,
                                        period_end__gte=target.period_start, **same_holder)
             .exclude(pk=target.pk).order_by("period_start").first())
    if clash is not None:
        raise Invalid(errors={"period_start": [
            _("%(holder)s already has a target for %(metric)s from %(start)s to %(end)s; periods of the same "
              "measure may not overlap.") % {"holder": holder, "metric": clash.get_metric_display(),
                                             "start": f"{clash.period_start:%Y-%m-%d}",
                                             "end": f"{clash.period_end:%Y-%m-%d}"}]})


@transaction.atomic
def target_create(*, actor: Any, metric: str, period_start: Any, period_end: Any, amount: Any,
                  user: User | None = None, team: Team | None = None, department: Department | None = None,
                  notes: str = "") -> SalesTarget:
    require(actor, "target.manage")
    cleaned = _clean(actor, None, {"user": user, "team": team, "department": department, "metric": metric,
                                   "period_start": period_start, "period_end": period_end, "amount": amount,
                                   "notes": notes})
    target = SalesTarget(**cleaned)
    _refuse_overlap(target)
    target.save()
    audit.record(actor=actor, action=AuditEvent.Action.CREATE, obj=target,
                 changes=audit.creation_changes(target, ["user", "team", "department", *TARGET_EDITABLE],
                                                skip_empty=True))
    return target


@transaction.atomic
def target_update(*, actor: Any, target: SalesTarget, changes: dict[str, Any],
                  expected_version: int | None) -> SalesTarget:
    """Change the measure, period, amount or notes (the holder stays: set a new target instead)."""
    require(actor, "target.manage")
    unknown = set(changes) - set(TARGET_EDITABLE)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    if not may_set_for(actor, user=target.user, team=target.team, department=target.department):
        raise Invalid(errors={"holder": [_("You can set targets only for the people, teams and departments you "
                                           "manage.")]})
    if expected_version is not None and int(expected_version) != target.version:
        raise Conflict()
    cleaned = _clean(actor, target, changes)
    preview = SalesTarget(pk=target.pk, user_id=target.user_id, team_id=target.team_id,
                          department_id=target.department_id,
                          **{name: cleaned.get(name, getattr(target, name)) for name in TARGET_EDITABLE})
    preview.user, preview.team, preview.department = target.user, target.team, target.department
    _refuse_overlap(preview)
    records.apply_update(actor=actor, obj=target, changes=cleaned, expected_version=expected_version)
    return target


@transaction.atomic
def target_delete(*, actor: Any, target: SalesTarget, expected_version: int | None = None) -> None:
    """Remove a target (kept in the audit log with every value it had)."""
    require(actor, "target.manage")
    if not may_set_for(actor, user=target.user, team=target.team, department=target.department):
        raise Invalid(errors={"holder": [_("You can set targets only for the people, teams and departments you "
                                           "manage.")]})
    if expected_version is not None and int(expected_version) != target.version:
        raise Conflict()
    audit.record(actor=actor, action=AuditEvent.Action.DELETE, obj=target, changes=audit.creation_changes(target))
    target.delete()
