"""Distributor rebates (R4.5): rules, deductions for violations, and the yearly statement.

A rule's volume tiers (``[{"from": amount, "rate": percent}]``, ascending) give one rate: the
highest tier the year's volume reached applies to the *whole* volume. Reaching the rule's
target adds ``target_rate``. Points are ``volume / 10,000 × points_per_10k``. Deductions
recorded for the year (e.g. for cross-territory selling, 窜货) come off the rebate and the
points; the net never goes below zero, and the statement says when it was cut there.

A statement is a draft until a manager confirms it: computing again replaces the draft,
a confirmed statement is frozen (and so is the year's list of deductions for that
distributor). Amounts are CNY, rounded half-up to the fen.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import access, audit, registry
from guanxi.core.errors import Conflict, Invalid, NotFound
from guanxi.core.models import AuditEvent
from guanxi.core.services import records
from guanxi.customers.models import Account, Grade
from guanxi.sales.models import RebateDeduction, RebateRule, RebateStatement
from guanxi.sales.selectors.rebates import (
    deduction_scope,
    deductions_of,
    distributor_scope,
    rule_for,
    rules_for_year,
    volumes,
    year_bounds,
    year_value,
)
from guanxi.sales.services.common import HUNDRED, ZERO, decimal_field, money, parse_day, raise_if, require

TEN_THOUSAND = Decimal("10000")
MAX_TIERS = 20
RULE_FIELDS = ("name", "year", "basis", "tiers", "target", "target_rate", "points_per_10k", "grade", "active")
DEDUCTION_EDITABLE = ("amount", "points", "reason", "occurred_on")


# --- Rules ---------------------------------------------------------------------------------
def _plain(value: Decimal) -> str:
    return f"{value:f}"


def parse_tiers(value: Any, errors: dict[str, list[str]]) -> list[dict[str, str]]:
    """Tiers from the API (``[{"from": …, "rate": …}]``) or the form (``[(from, rate)]``).

    Rows with both cells empty are skipped; the rest must ascend strictly by ``from`` (the
    first may start at 0), with rates between 0 and 100 %. Stored with two decimals as text.
    """
    if value in (None, ""):
        return []
    if not isinstance(value, list | tuple):
        errors.setdefault("tiers", []).append(_("Enter the tiers as rows of a volume and a rate."))
        return []
    rows: list[tuple[Any, Any]] = []
    for item in value:
        if isinstance(item, dict):
            unknown = set(item) - {"from", "rate"}
            if unknown:
                errors.setdefault("tiers", []).append(_("A tier has a volume (from) and a rate, nothing else."))
                return []
            rows.append((item.get("from"), item.get("rate")))
        elif isinstance(item, list | tuple) and len(item) == 2:
            rows.append((item[0], item[1]))
        else:
            errors.setdefault("tiers", []).append(_("Enter the tiers as rows of a volume and a rate."))
            return []
    tiers: list[dict[str, str]] = []
    previous: Decimal | None = None
    for number, (start, rate) in enumerate(rows, 1):
        if str(start if start is not None else "").strip() == "" and str(rate if rate is not None else "").strip() == "":
            continue
        row_errors: dict[str, list[str]] = {}
        amount = decimal_field(start, "from", row_errors)
        percent = decimal_field(rate, "rate", row_errors, maximum=HUNDRED)
        for name, messages in row_errors.items():
            label = _("starting volume") if name == "from" else _("rate")
            for message in messages:
                errors.setdefault("tiers", []).append(_("Tier %(number)s, %(field)s: %(message)s") % {
                    "number": number, "field": label, "message": message})
        if amount is None or percent is None:
            continue
        if previous is not None and amount <= previous:
            errors.setdefault("tiers", []).append(
                _("Tier %(number)s must start above the tier before it (%(previous)s).") % {
                    "number": number, "previous": f"{previous:,.2f}"})
        previous = amount if previous is None or amount > previous else previous
        tiers.append({"from": _plain(money(amount)), "rate": _plain(money(percent))})
    if len(tiers) > MAX_TIERS:
        errors.setdefault("tiers", []).append(_("Enter at most %(max)s tiers.") % {"max": MAX_TIERS})
    return tiers


def _clean_rule(rule: RebateRule | None, data: dict[str, Any]) -> dict[str, Any]:
    """Every field of a rule cleaned (``data`` holds the changed ones); all messages at once."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    if "name" in data:
        name = str(data["name"] or "").strip()
        if not name:
            errors["name"] = [_("Name the rule.")]
        elif len(name) > 100:
            errors["name"] = [_("Use at most 100 characters.")]
        out["name"] = name
    if "year" in data:
        out["year"] = year_value(data["year"], errors)
    if "basis" in data:
        if data["basis"] not in RebateRule.Basis.values:
            errors["basis"] = [_("Choose receipts or orders.")]
        out["basis"] = data["basis"]
    if "tiers" in data:
        out["tiers"] = parse_tiers(data["tiers"], errors)
    if "target" in data:
        out["target"] = decimal_field(data["target"], "target", errors, required=False)
        if out["target"] is not None:
            out["target"] = money(out["target"])
    if "target_rate" in data:
        rate = decimal_field(data["target_rate"] if data["target_rate"] not in (None, "") else "0", "target_rate",
                             errors, maximum=HUNDRED)
        out["target_rate"] = money(rate) if rate is not None else ZERO
    if "points_per_10k" in data:
        points = decimal_field(data["points_per_10k"] if data["points_per_10k"] not in (None, "") else "0",
                               "points_per_10k", errors, maximum=Decimal("10000"))
        out["points_per_10k"] = money(points) if points is not None else ZERO
    if "grade" in data:
        grade = str(data["grade"] or "").strip()
        if grade and not Grade.objects.filter(code=grade).exists():
            errors["grade"] = [_("Choose one of the customer grades, or leave it empty for every grade.")]
        out["grade"] = grade
    if "active" in data:
        out["active"] = bool(data["active"])
    merged = {name: getattr(rule, name) for name in RULE_FIELDS} if rule is not None else {}
    merged.update(out)
    if not {"target", "target_rate"} & set(errors) and merged.get("target_rate") and \
            merged.get("target") in (None, ZERO):
        errors["target"] = [_("Set the target volume that earns the extra rate.")]
    if not {"tiers", "target_rate", "points_per_10k"} & set(errors) and \
            not (merged.get("tiers") or merged.get("target_rate") or merged.get("points_per_10k")):
        errors["tiers"] = [_("A rule needs volume tiers, a target with an extra rate, or points.")]
    raise_if(errors)
    return out


@transaction.atomic
def rebate_rule_create(*, actor: Any, name: str, year: Any, basis: str = RebateRule.Basis.RECEIVED,
                       tiers: Sequence[Any] = (), target: Any = None, target_rate: Any = 0, points_per_10k: Any = 0,
                       grade: str = "", active: bool = True) -> RebateRule:
    require(actor, "rebate.manage")
    cleaned = _clean_rule(None, {"name": name, "year": year, "basis": basis, "tiers": list(tiers), "target": target,
                                 "target_rate": target_rate, "points_per_10k": points_per_10k, "grade": grade,
                                 "active": active})
    rule = RebateRule.objects.create(**cleaned)
    audit.record(actor=actor, action=AuditEvent.Action.CREATE, obj=rule, changes=audit.creation_changes(rule))
    return rule


@transaction.atomic
def rebate_rule_update(*, actor: Any, rule: RebateRule, changes: dict[str, Any],
                       expected_version: int | None) -> RebateRule:
    """Change a rule. Confirmed statements keep the working they were confirmed with."""
    require(actor, "rebate.manage")
    unknown = set(changes) - set(RULE_FIELDS)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    records.apply_update(actor=actor, obj=rule, changes=_clean_rule(rule, changes), expected_version=expected_version)
    return rule


@transaction.atomic
def rebate_rule_delete(*, actor: Any, rule: RebateRule, expected_version: int | None = None) -> None:
    """Remove a rule no statement was computed with (else switch it off: ``active=False``)."""
    require(actor, "rebate.manage")
    if expected_version is not None and int(expected_version) != rule.version:
        raise Conflict()
    if RebateStatement.objects.filter(rule=rule).exists():
        raise Invalid(_("Statements were computed with this rule: switch it off instead of deleting it."))
    audit.record(actor=actor, action=AuditEvent.Action.DELETE, obj=rule, changes=audit.creation_changes(rule))
    rule.delete()


# --- The arithmetic ------------------------------------------------------------------------
@dataclass(frozen=True)
class Figures:
    """One distributor's year under one rule, and the working behind it (``details``)."""

    volume: Decimal
    rate: Decimal
    rebate: Decimal
    points: Decimal
    deducted: Decimal
    points_deducted: Decimal
    net: Decimal
    net_points: Decimal
    details: dict[str, Any] = field(default_factory=dict)


def figures(rule: RebateRule, volume: Decimal, deductions: Iterable[RebateDeduction], *, count: int = 0) -> Figures:
    """The statement of ``volume`` (CNY) under ``rule`` less ``deductions`` (pure arithmetic)."""
    volume = money(volume)
    tiers = [{"from": money(t["from"]), "rate": money(t["rate"])} for t in rule.tiers or []]
    applied = None
    for tier in tiers:
        if volume >= tier["from"]:
            applied = tier  # ascending: the last one reached is the highest
    tier_rate = applied["rate"] if applied is not None else ZERO
    target = rule.target
    target_reached = target is not None and target > 0 and volume >= target
    rate = money(tier_rate + (rule.target_rate if target_reached else ZERO))
    rebate = money(volume * rate / HUNDRED)
    points = money(volume / TEN_THOUSAND * rule.points_per_10k)
    items = list(deductions)
    deducted = money(sum((d.amount for d in items), ZERO))
    points_deducted = money(sum((d.points for d in items), ZERO))
    net = money(max(rebate - deducted, ZERO))
    net_points = money(max(points - points_deducted, ZERO))
    first, last = year_bounds(rule.year)
    details = {
        "rule": {"id": rule.pk, "name": rule.name, "year": rule.year, "version": rule.version},
        "basis": rule.basis,
        "period": {"from": first.isoformat(), "to": last.isoformat()},
        "volume": _plain(volume),
        "count": count,
        "tiers": [{"from": _plain(t["from"]), "rate": _plain(t["rate"]), "reached": volume >= t["from"],
                   "applied": t is applied} for t in tiers],
        "tier_rate": _plain(tier_rate),
        "target": _plain(money(target)) if target is not None else None,
        "target_reached": target_reached,
        "target_rate": _plain(money(rule.target_rate)),
        "rate": _plain(rate),
        "rebate": _plain(rebate),
        "points_per_10k": _plain(money(rule.points_per_10k)),
        "points": _plain(points),
        "deductions": [{"id": d.pk, "occurred_on": d.occurred_on.isoformat(), "amount": _plain(d.amount),
                        "points": _plain(d.points), "reason": d.reason} for d in items],
        "deducted": _plain(deducted),
        "points_deducted": _plain(points_deducted),
        "net": _plain(net),
        "net_points": _plain(net_points),
        # The net stops at zero: what the deductions exceed it by is not carried anywhere.
        "floored": deducted > rebate,
        "shortfall": _plain(max(deducted - rebate, ZERO)),
        "points_floored": points_deducted > points,
        "points_shortfall": _plain(max(points_deducted - points, ZERO)),
    }
    return Figures(volume=volume, rate=rate, rebate=rebate, points=points, deducted=deducted,
                   points_deducted=points_deducted, net=net, net_points=net_points, details=details)


STORED = ("volume", "rate", "rebate", "points", "deductions", "points_deducted", "net")


def _stored(result: Figures) -> dict[str, Decimal]:
    return {"volume": result.volume, "rate": result.rate, "rebate": result.rebate, "points": result.points,
            "deductions": result.deducted, "points_deducted": result.points_deducted, "net": result.net}


# --- Statements ----------------------------------------------------------------------------
@dataclass
class Computed:
    statements: list[RebateStatement] = field(default_factory=list)
    skipped: list[tuple[Account, str]] = field(default_factory=list)


def _visible(actor: Any, account: Account) -> None:
    if not access.visible(actor, Account.objects.filter(pk=account.pk)).exists():
        raise NotFound()


@transaction.atomic
def rebate_compute(*, actor: Any, year: Any, account: Account | None = None,
                   rule: RebateRule | None = None) -> Computed:
    """Compute the draft statement of one distributor, or of every distributor ``actor`` sees.

    The rule is ``rule`` when given (it must be an active rule of the year that fits the
    distributor's grade), else the one :func:`rule_for` picks. A draft of the year is
    replaced; a confirmed statement is left as it is and reported as skipped. Anyone who
    sees a distributor may compute its draft; confirming needs ``rebate.manage``.
    """
    require(actor, "rebate.view")
    errors: dict[str, list[str]] = {}
    the_year = year_value(year, errors)
    raise_if(errors)
    assert the_year is not None
    if rule is not None and (rule.year != the_year or not rule.active):
        raise Invalid(errors={"rule": [_("Choose an active rule of %(year)s.") % {"year": the_year}]})
    if account is not None:
        _visible(actor, account)
        if not account.is_distributor:
            raise Invalid(errors={"account": [_("This account is not marked as a distributor.")]})
    qs = distributor_scope(actor).filter(pk=account.pk) if account is not None else distributor_scope(actor)
    # Two managers computing at once wait for each other distributor by distributor.
    accounts = list(qs.select_for_update().order_by("pk"))
    rules = [rule] if rule is not None else rules_for_year(the_year)
    result = Computed()
    chosen: dict[int, RebateRule] = {}
    for item in accounts:
        if rule is not None:
            if rule.grade and rule.grade != item.grade:
                result.skipped.append((item, _("The rule is for grade %(grade)s distributors.") % {
                    "grade": rule.grade}))
                continue
            chosen[item.pk] = rule
        else:
            picked, why = rule_for(item, rules)
            if picked is None:
                result.skipped.append((item, why))
                continue
            chosen[item.pk] = picked
    existing: dict[int, list[RebateStatement]] = {}
    for statement in RebateStatement.objects.filter(account_id__in=list(chosen), year=the_year).order_by("id"):
        existing.setdefault(statement.account_id, []).append(statement)
    frozen = {pk for pk, items in existing.items() if any(s.state == RebateStatement.State.CONFIRMED for s in items)}
    by_id = {a.pk: a for a in accounts}
    for pk in sorted(frozen):
        result.skipped.append((by_id[pk], _("The statement of %(year)s is confirmed and stays as it is.") % {
            "year": the_year}))
    todo = [pk for pk in chosen if pk not in frozen]
    volume_by_basis: dict[str, dict[int, tuple[Decimal, int]]] = {}
    for basis in {chosen[pk].basis for pk in todo}:
        volume_by_basis[basis] = volumes([pk for pk in todo if chosen[pk].basis == basis], the_year, basis)
    deductions = deductions_of(todo, the_year)
    now = timezone.now()
    for pk in todo:
        the_rule = chosen[pk]
        volume, count = volume_by_basis[the_rule.basis].get(pk, (ZERO, 0))
        result_figures = figures(the_rule, volume, deductions.get(pk, []), count=count)
        values = {**_stored(result_figures), "rule": the_rule, "details": result_figures.details, "computed_at": now}
        drafts = existing.get(pk, [])
        if drafts:
            statement = drafts[0]
            for extra in drafts[1:]:  # only one statement per distributor and year is kept
                audit.record(actor=actor, action=AuditEvent.Action.DELETE, obj=extra, note="rebate statement replaced")
                extra.delete()
            before = {name: getattr(statement, name) for name in (*STORED, "rule")}
            RebateStatement.objects.filter(pk=statement.pk).update(**values, version=F("version") + 1, updated_at=now)
            statement.refresh_from_db()
            changes = {name: [audit.serialise(before[name]), audit.serialise(getattr(statement, name))]
                       for name in before if before[name] != getattr(statement, name)}
            audit.record(actor=actor, action=AuditEvent.Action.UPDATE, obj=statement, changes=changes,
                         note="rebate statement recomputed")
        else:
            statement = RebateStatement.objects.create(account=by_id[pk], year=the_year, **values)
            audit.record(actor=actor, action=AuditEvent.Action.CREATE, obj=statement,
                         changes=audit.creation_changes(statement, [*STORED, "rule", "year", "account"]),
                         note="rebate statement computed")
        statement.account, statement.rule = by_id[pk], the_rule
        result.statements.append(statement)
    if account is not None and result.skipped:
        raise Invalid(errors={"rule" if rule is None else "account": [result.skipped[0][1]]})
    return result


@transaction.atomic
def rebate_confirm(*, actor: Any, statement: RebateStatement, expected_version: int | None = None) -> RebateStatement:
    """Freeze a draft as it was shown. If the receipts, orders, deductions or the rule changed
    since it was computed, nothing is confirmed: recompute and check it first."""
    require(actor, "rebate.manage")
    _visible(actor, statement.account)
    current = RebateStatement.objects.select_for_update().select_related("rule").get(pk=statement.pk)
    if current.state == RebateStatement.State.CONFIRMED:
        raise Invalid(_("This statement is already confirmed."))
    if expected_version is not None and int(expected_version) != current.version:
        raise Conflict()
    volume, count = volumes([current.account_id], current.year, current.rule.basis).get(current.account_id, (ZERO, 0))
    fresh = _stored(figures(current.rule, volume, deductions_of([current.account_id], current.year).get(
        current.account_id, []), count=count))
    changed = [name for name in STORED if fresh[name] != getattr(current, name)]
    if changed:
        raise Invalid(_("The figures changed since the statement was computed (%(fields)s): compute it again and "
                        "check it before confirming.") % {
            "fields": "、".join(str(getattr(RebateStatement._meta.get_field(n), "verbose_name", n)) for n in changed)})
    now = timezone.now()
    RebateStatement.objects.filter(pk=current.pk).update(state=RebateStatement.State.CONFIRMED, confirmed_by=actor,
                                                         version=F("version") + 1, updated_at=now)
    audit.record(actor=actor, action=AuditEvent.Action.APPROVE, obj=current,
                 changes={"state": [RebateStatement.State.DRAFT, RebateStatement.State.CONFIRMED]},
                 note="rebate statement confirmed")
    statement.refresh_from_db()
    return statement


# --- Deductions ----------------------------------------------------------------------------
def _clean_deduction(data: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
    """The given deduction fields cleaned; messages go to ``errors``."""
    out: dict[str, Any] = {}
    for name in ("amount", "points"):
        if name in data:
            value = decimal_field(data[name] if data[name] not in (None, "") else "0", name, errors,
                                  maximum=Decimal("99999999999999"))
            if value is not None:
                out[name] = money(value)
    if "reason" in data:
        out["reason"] = str(data["reason"] or "").strip()
        if not out["reason"]:
            errors["reason"] = [_("Say what the deduction is for.")]
    if "occurred_on" in data:
        out["occurred_on"] = parse_day(data["occurred_on"], "occurred_on", errors)
    return out


def _something(amount: Decimal | None, points: Decimal | None, errors: dict[str, list[str]]) -> None:
    if amount is not None and points is not None and not (amount or points) and "amount" not in errors:
        errors["amount"] = [_("Deduct an amount, points, or both.")]


def _require_open_year(account_id: int, year: int) -> None:
    if RebateStatement.objects.filter(account_id=account_id, year=year,
                                      state=RebateStatement.State.CONFIRMED).exists():
        raise Invalid(errors={"year": [_("The statement of %(year)s is confirmed: record the deduction against "
                                         "another year.") % {"year": year}]})


@transaction.atomic
def rebate_deduct(*, actor: Any, account: Account, year: Any, amount: Any = 0, points: Any = 0, reason: str,
                  occurred_on: Any = None) -> RebateDeduction:
    """Record a deduction from a distributor's rebate (and points) for a year, e.g. for a
    violation found by the channels app. Refused once that year's statement is confirmed."""
    require(actor, "rebate.manage")
    _visible(actor, account)
    errors: dict[str, list[str]] = {}
    the_year = year_value(year, errors)
    if not account.is_distributor:
        errors["account"] = [_("This account is not marked as a distributor.")]
    cleaned = _clean_deduction({"amount": amount, "points": points, "reason": reason,
                                "occurred_on": occurred_on or timezone.localdate()}, errors)
    _something(cleaned.get("amount"), cleaned.get("points"), errors)
    raise_if(errors)
    assert the_year is not None
    # Lock the distributor so a confirmation cannot slip in between the check and the write.
    Account.objects.select_for_update().filter(pk=account.pk).first()
    _require_open_year(account.pk, the_year)
    deduction = RebateDeduction.objects.create(account=account, year=the_year, recorded_by=actor, **cleaned)
    audit.record(actor=actor, action=AuditEvent.Action.CREATE, obj=deduction,
                 changes=audit.creation_changes(deduction, ["account", "year", *DEDUCTION_EDITABLE]))
    return deduction


@transaction.atomic
def rebate_deduction_update(*, actor: Any, deduction: RebateDeduction, changes: dict[str, Any],
                            expected_version: int | None) -> RebateDeduction:
    require(actor, "rebate.manage")
    unknown = set(changes) - set(DEDUCTION_EDITABLE)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    errors: dict[str, list[str]] = {}
    cleaned = _clean_deduction(changes, errors)
    _something(cleaned.get("amount", deduction.amount), cleaned.get("points", deduction.points), errors)
    raise_if(errors)
    Account.objects.select_for_update().filter(pk=deduction.account_id).first()
    _require_open_year(deduction.account_id, deduction.year)
    records.apply_update(actor=actor, obj=deduction, changes=cleaned, expected_version=expected_version)
    return deduction


@transaction.atomic
def rebate_deduction_delete(*, actor: Any, deduction: RebateDeduction, expected_version: int | None = None) -> None:
    """Move a deduction to the recycle bin (not once its year's statement is confirmed)."""
    require(actor, "rebate.manage")
    if expected_version is not None and int(expected_version) != deduction.version:
        raise Conflict()
    Account.objects.select_for_update().filter(pk=deduction.account_id).first()
    _require_open_year(deduction.account_id, deduction.year)
    rows = RebateDeduction.objects.filter(pk=deduction.pk, version=deduction.version).update(
        deleted_at=timezone.now(), deleted_by=actor, deletion_batch=uuid.uuid4(), version=F("version") + 1)
    if rows != 1:
        raise Conflict()
    audit.record(actor=actor, action=AuditEvent.Action.DELETE, obj=deduction)


registry.register(registry.Entry(
    model=RebateDeduction, perm="rebate", scope=lambda user, qs: deduction_scope(user, qs),
    editable=DEDUCTION_EDITABLE,
    detail_url=lambda obj: reverse("sales:rebatededuction-list") + f"?account={obj.account_id}",
))
