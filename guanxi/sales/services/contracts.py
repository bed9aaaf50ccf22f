"""Contracts (R4.4): number, parties, amount, dates, execution steps and the payment plan.

A contract is a ``draft`` until it is signed; activating it needs the signing date. An
``active`` contract counts in the customer's contracted amount and receivable (R11.4)
until it is ``completed``, ``terminated`` or ``expired`` — states the owner sets; the
hourly reminder only tells them (``payments.receivables_notify``). The plan's
instalments may not add up to more than the contract amount, and nothing may bring the
amount below what was already received. Receipts are in ``services.payments``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit, registry
from guanxi.core.errors import Conflict, Invalid, NotFound
from guanxi.core.models import User
from guanxi.core.services import records
from guanxi.customers.models import Account
from guanxi.customers.services.merge import register_relation
from guanxi.sales.models import CNY, Contract, ContractStep, Order, Payment, PaymentPlan
from guanxi.sales.selectors.scope import contract_scope
from guanxi.sales.services import totals
from guanxi.sales.services.common import ZERO, decimal_field, money, next_code, owner_department, raise_if, require
from guanxi.sales.services.orders import _contact, _currency, _date, _visible_account, delete_locked, lock_account
from guanxi.sales.services.payments import recompute

CONTRACT_EDITABLE = ("code", "title", "party_a", "party_b", "amount", "currency", "signed_on", "starts_on", "ends_on",
                     "remind_days", "terms", "contact")
STEP_EDITABLE = ("name", "due_on", "done_on", "state", "owner", "notes")
PLAN_EDITABLE = ("description", "due_on", "amount")
# What the owner may move a contract to, and from where.
MOVES: dict[str, tuple[str, ...]] = {
    Contract.State.ACTIVE: (Contract.State.DRAFT,),
    Contract.State.COMPLETED: (Contract.State.ACTIVE,),
    Contract.State.TERMINATED: (Contract.State.DRAFT, Contract.State.ACTIVE),
    Contract.State.EXPIRED: (Contract.State.ACTIVE,),
}
# The plan changes while the contract is being agreed or carried out, not after.
PLAN_OPEN = (Contract.State.DRAFT, Contract.State.ACTIVE)
MAX_AMOUNT = Decimal("99999999999999")


def our_name() -> str:
    """Party B on a new contract: the company's name from the settings."""
    return (getattr(settings, "GUANXI_COMPANY_NAME", "") or "").strip() or _("our company")


def _code(value: Any, contract: Contract | None, errors: dict[str, list[str]]) -> str:
    code = str(value or "").strip()
    if not code:
        errors.setdefault("code", []).append(_("Enter the contract number."))
    elif len(code) > 40:
        errors.setdefault("code", []).append(_("At most 40 characters."))
    elif Contract.all_objects.filter(code=code).exclude(pk=contract.pk if contract else 0).exists():
        errors.setdefault("code", []).append(_("This contract number is already used."))
    return code


def _clean(contract: Contract | None, account: Account, changes: dict[str, Any]) -> dict[str, Any]:
    """Validate contract fields (a new contract's, or a change of ``contract``), all errors at once."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if "code" in changes:
        cleaned["code"] = _code(changes["code"], contract, errors)
    for name, limit in (("title", 300), ("party_a", 200), ("party_b", 200)):
        if name in changes:
            cleaned[name] = str(changes[name] or "").strip()
            if not cleaned[name]:
                errors.setdefault(name, []).append(_("This field is required."))
            elif len(cleaned[name]) > limit:
                errors.setdefault(name, []).append(_("At most %(n)d characters.") % {"n": limit})
    if "terms" in changes:
        cleaned["terms"] = str(changes["terms"] or "").strip()
    for name in ("signed_on", "starts_on", "ends_on"):
        if name in changes:
            cleaned[name] = _date(changes[name], name, errors)
    if "remind_days" in changes:
        days = decimal_field(changes["remind_days"], "remind_days", errors, maximum=Decimal("365"))
        if days is not None and days != days.to_integral_value():
            errors.setdefault("remind_days", []).append(_("Enter a whole number of days."))
        elif days is not None:
            cleaned["remind_days"] = int(days)
    if "amount" in changes:
        amount = decimal_field(changes["amount"], "amount", errors, minimum=Decimal("0.01"), maximum=MAX_AMOUNT)
        if amount is not None:
            cleaned["amount"] = money(amount)
    if "contact" in changes:
        cleaned["contact"] = _contact(changes["contact"], account, errors)
    signed = cleaned.get("signed_on", contract.signed_on if contract else None)
    if "currency" in changes:
        cleaned["currency"], cleaned["rate_to_cny"] = _currency(changes["currency"], signed, errors)
        if contract is not None and cleaned["currency"] == contract.currency:
            del cleaned["rate_to_cny"]
    starts = cleaned.get("starts_on", contract.starts_on if contract else None)
    ends = cleaned.get("ends_on", contract.ends_on if contract else None)
    if starts and ends and ends < starts:
        errors.setdefault("ends_on", []).append(_("The end date cannot be before the start date."))
    if signed and signed > timezone.localdate():
        errors.setdefault("signed_on", []).append(_("The signing date cannot be in the future."))
    if contract is not None:
        if contract.state != Contract.State.DRAFT and cleaned.get("currency", contract.currency) != contract.currency:
            errors.setdefault("currency", []).append(_("Only a draft contract's currency can change."))
        if contract.state != Contract.State.DRAFT and "signed_on" in cleaned and cleaned["signed_on"] is None:
            errors.setdefault("signed_on", []).append(_("A signed contract keeps its signing date."))
        amount = cleaned.get("amount")
        if amount is not None:
            if amount < contract.received:
                errors.setdefault("amount", []).append(
                    _("The amount cannot be less than the %(received)s already received.") % {
                        "received": contract.received})
            planned = PaymentPlan.objects.filter(contract=contract).aggregate(s=Sum("amount"))["s"] or ZERO
            if amount < planned:
                errors.setdefault("amount", []).append(
                    _("The payment plan adds up to %(plan)s; the amount cannot be less.") % {"plan": planned})
    raise_if(errors)
    return cleaned


def _validate(contract: Contract, changes: dict[str, Any]) -> dict[str, Any]:
    """The registry's validator for generic edits (history, change requests)."""
    unknown = set(changes) - set(CONTRACT_EDITABLE)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    cleaned = _clean(contract, Account.all_objects.get(pk=contract.account_id), changes)
    if ("ends_on" in cleaned and cleaned["ends_on"] != contract.ends_on) or \
            ("remind_days" in cleaned and cleaned["remind_days"] != contract.remind_days):
        cleaned["expiry_notified_at"] = None  # a new end date is reminded again
    return cleaned


# --- Create and edit -----------------------------------------------------------------------
@transaction.atomic
def contract_create(*, actor: Any, account: Account, amount: Any, title: str = "", code: str = "",
                    party_a: str = "", party_b: str = "", currency: str = CNY, signed_on: Any = None,
                    starts_on: Any = None, ends_on: Any = None, remind_days: Any = 30, terms: str = "",
                    contact: Any = None, order: Order | None = None, rate: Decimal | None = None) -> Contract:
    """A draft contract with a visible account, owned by the actor.

    ``code`` empty: the next number (HT-<year>-<n>); typed: it must be unused. ``order``
    links the contract to an order of the same account (``rate`` then keeps its rate).
    """
    require(actor, "contract.add")
    if not _visible_account(actor, account):
        raise NotFound()
    lock_account(account.pk)
    fields = {"title": title or _("Contract with %(account)s") % {"account": account.name},
              "party_a": party_a or account.name, "party_b": party_b or our_name(), "amount": amount,
              "currency": currency, "signed_on": signed_on, "starts_on": starts_on, "ends_on": ends_on,
              "remind_days": remind_days if remind_days not in (None, "") else 30, "terms": terms,
              "contact": contact}
    typed = str(code or "").strip()
    if typed:
        fields["code"] = typed
    cleaned = _clean(None, account, fields)
    if order is not None:
        if order.account_id != account.pk:
            raise Invalid(errors={"order": [_("Choose an order of this account.")]})
        cleaned.update(quote=order.quote, opportunity=order.opportunity)
        if rate is not None and cleaned["currency"] == order.currency:
            cleaned["rate_to_cny"] = rate
    try:
        with transaction.atomic():
            contract = Contract.objects.create(
                code=cleaned.pop("code", None) or next_code("contract", "HT"), account=account, order=order,
                owner=actor, department_id=owner_department(actor), **cleaned)
    except IntegrityError:
        raise Invalid(errors={"code": [_("This contract number is already used.")]}) from None
    audit.record(actor=actor, action="create", obj=contract, changes=audit.creation_changes(contract, skip_empty=True))
    return contract


@transaction.atomic
def contract_from_order(*, actor: Any, order: Order) -> Contract:
    """A draft contract filled from a (visible, not cancelled) order: parties, amount, currency, rate."""
    require(actor, "contract.add")
    if order.state == Order.State.CANCELLED:
        raise Invalid(_("A cancelled order cannot become a contract."))
    existing = Contract.objects.filter(order=order).exclude(state=Contract.State.TERMINATED).first()
    if existing is not None:
        raise Invalid(_("Contract %(code)s was already made from this order.") % {"code": existing.code})
    if order.total <= 0:
        raise Invalid(_("Add the order's lines first: a contract needs an amount."))
    account = Account.all_objects.get(pk=order.account_id)
    return contract_create(
        actor=actor, account=account, order=order, amount=order.total, currency=order.currency,
        rate=order.rate_to_cny, contact=order.contact_id,
        title=_("%(account)s – order %(order)s") % {"account": account.name, "order": order.code},
        terms=order.remarks)


@transaction.atomic
def contract_update(*, actor: Any, contract: Contract, changes: dict[str, Any],
                    expected_version: int | None) -> Contract:
    """Change a contract's fields (stale ``expected_version`` → Conflict)."""
    require(actor, "contract.change")
    lock_account(contract.account_id)
    if expected_version is not None and int(expected_version) != contract.version:
        raise Conflict()
    if contract.state == Contract.State.TERMINATED:
        raise Invalid(_("A terminated contract cannot change."))
    cleaned = _validate(contract, changes)
    records.apply_update(actor=actor, obj=contract, changes=cleaned, expected_version=expected_version)
    return contract


@transaction.atomic
def contract_move(*, actor: Any, contract: Contract, to: str, signed_on: Any = None,
                  expected_version: int | None = None) -> Contract:
    """Activate (needs the signing date), complete, terminate or mark a contract expired."""
    require(actor, "contract.change")
    if to not in MOVES:
        raise Invalid(errors={"state": [_("Choose a valid state.")]})
    lock_account(contract.account_id)
    if expected_version is not None and int(expected_version) != contract.version:
        raise Conflict()
    if contract.state not in MOVES[to]:
        raise Invalid(_("A contract that is %(state)s cannot become %(to)s.") % {
            "state": str(contract.get_state_display()).lower(), "to": str(Contract.State(to).label).lower()})
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {"state": to}
    if to == Contract.State.ACTIVE:
        day = _date(signed_on, "signed_on", errors) if signed_on not in (None, "") else contract.signed_on
        if day is None and "signed_on" not in errors:
            errors["signed_on"] = [_("Enter the date the contract was signed.")]
        elif day is not None and day > timezone.localdate():
            errors["signed_on"] = [_("The signing date cannot be in the future.")]
        changes["signed_on"] = day
    raise_if(errors)
    records.apply_update(actor=actor, obj=contract, changes=changes, expected_version=contract.version)
    return contract


@transaction.atomic
def contract_delete(*, actor: Any, contract: Contract, expected_version: int | None = None) -> Contract:
    """Move a contract to the recycle bin; the customer's figures leave it out until restored."""
    return delete_locked(actor=actor, obj=contract, perm="contract.delete", expected_version=expected_version)


def _after_change(contract: Contract) -> None:
    """Registry hook after any update, delete or restore: the customer's figures follow."""
    lock_account(contract.account_id)
    totals.refresh([contract.account_id])


# --- Execution steps -----------------------------------------------------------------------
def _person(value: Any, errors: dict[str, list[str]]) -> User | None:
    if value in (None, ""):
        return None
    found = User.objects.filter(pk=getattr(value, "pk", value), is_active=True).first() \
        if str(getattr(value, "pk", value)).isdigit() else None
    if found is None:
        errors["owner"] = [_("Choose an active colleague.")]
    return found


def _clean_step(step: ContractStep | None, changes: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if "name" in changes:
        cleaned["name"] = str(changes["name"] or "").strip()[:200]
        if not cleaned["name"]:
            errors["name"] = [_("Name the step.")]
    for name in ("due_on", "done_on"):
        if name in changes:
            cleaned[name] = _date(changes[name], name, errors)
    if "state" in changes:
        if changes["state"] not in ContractStep.State.values:
            errors["state"] = [_("Choose a valid state.")]
        else:
            cleaned["state"] = changes["state"]
    if "owner" in changes:
        cleaned["owner"] = _person(changes["owner"], errors)
    if "notes" in changes:
        cleaned["notes"] = str(changes["notes"] or "").strip()
    raise_if(errors)
    state = cleaned.get("state", step.state if step else ContractStep.State.PENDING)
    if state == ContractStep.State.DONE:
        if not cleaned.get("done_on", step.done_on if step else None):
            cleaned["done_on"] = timezone.localdate()
    elif cleaned.get("done_on") or (step is not None and step.done_on):
        cleaned["done_on"] = None  # only a finished step has a done date
    return cleaned


def _open(contract: Contract) -> None:
    if contract.deleted_at is not None:
        raise NotFound()
    if contract.state == Contract.State.TERMINATED:
        raise Invalid(_("A terminated contract cannot change."))


@transaction.atomic
def step_add(*, actor: Any, contract: Contract, name: str, due_on: Any = None, owner: Any = None, notes: str = "",
             state: str = ContractStep.State.PENDING) -> ContractStep:
    require(actor, "contract.change")
    _open(contract)
    Contract.all_objects.select_for_update().filter(pk=contract.pk).first()
    cleaned = _clean_step(None, {"name": name, "due_on": due_on, "owner": owner, "notes": notes, "state": state})
    last = ContractStep.objects.filter(contract=contract).aggregate(n=Max("position"))["n"] or 0
    step = ContractStep.objects.create(contract=contract, position=last + 1, **cleaned)
    audit.record(actor=actor, action="create", obj=step, changes=audit.creation_changes(step, skip_empty=True),
                 note=contract.code)
    return step


@transaction.atomic
def step_update(*, actor: Any, step: ContractStep, changes: dict[str, Any],
                expected_version: int | None) -> ContractStep:
    """Change a step (``state`` done sets ``done_on`` to today unless given)."""
    require(actor, "contract.change")
    _open(step.contract)
    unknown = set(changes) - set(STEP_EDITABLE)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    if expected_version is not None and int(expected_version) != step.version:
        raise Conflict()
    records.apply_update(actor=actor, obj=step, changes=_clean_step(step, changes), expected_version=expected_version)
    return step


@transaction.atomic
def step_move(*, actor: Any, step: ContractStep, position: int) -> ContractStep:
    """Put a step at ``position`` (1 = first); the others close up."""
    require(actor, "contract.change")
    _open(step.contract)
    Contract.all_objects.select_for_update().filter(pk=step.contract_id).first()
    steps = list(ContractStep.objects.filter(contract_id=step.contract_id).order_by("position", "id"))
    ordered = [s for s in steps if s.pk != step.pk]
    at = min(max(int(position), 1), len(steps)) - 1
    ordered.insert(at, step)
    for n, item in enumerate(ordered, 1):
        if item.position != n:
            ContractStep.objects.filter(pk=item.pk).update(position=n)
            item.position = n
    audit.record(actor=actor, action="update", obj=step, changes={"position": [None, at + 1]}, note=step.contract.code)
    return step


# --- Payment plan --------------------------------------------------------------------------
def _plan_room(contract: Contract, amount: Decimal, plan: PaymentPlan | None, errors: dict[str, list[str]]) -> None:
    others = PaymentPlan.objects.filter(contract=contract).exclude(pk=plan.pk if plan else 0) \
        .aggregate(s=Sum("amount"))["s"] or ZERO
    if others + amount > contract.amount:
        errors.setdefault("amount", []).append(
            _("The payment plan would add up to %(plan)s, more than the contract amount %(amount)s "
              "(%(left)s is left to plan).") % {"plan": money(others + amount), "amount": contract.amount,
                                                "left": money(max(contract.amount - others, ZERO))})


def _plan_contract(contract: Contract) -> Contract:
    lock_account(contract.account_id)
    fresh = Contract.all_objects.select_for_update().get(pk=contract.pk)
    _open(fresh)
    if fresh.state not in PLAN_OPEN:
        raise Invalid(_("The payment plan of a %(state)s contract cannot change.") % {
            "state": str(fresh.get_state_display()).lower()})
    return fresh


@transaction.atomic
def plan_add(*, actor: Any, contract: Contract, due_on: Any, amount: Any, description: str = "") -> PaymentPlan:
    """Add an instalment; the plan may not add up to more than the contract amount."""
    require(actor, "contract.change")
    fresh = _plan_contract(contract)
    errors: dict[str, list[str]] = {}
    day = _date(due_on, "due_on", errors, required=True)
    value = decimal_field(amount, "amount", errors, minimum=Decimal("0.01"), maximum=MAX_AMOUNT)
    if value is not None:
        value = money(value)
        _plan_room(fresh, value, None, errors)
    if len(description or "") > 200:
        errors["description"] = [_("At most 200 characters.")]
    raise_if(errors)
    assert day is not None and value is not None
    last = PaymentPlan.objects.filter(contract=fresh).aggregate(n=Max("position"))["n"] or 0
    plan = PaymentPlan.objects.create(contract=fresh, position=last + 1, due_on=day, amount=value,
                                      description=(description or "").strip())
    recompute(fresh.pk)  # receipts without an instalment now have one to fill
    totals.refresh([fresh.account_id])
    audit.record(actor=actor, action="create", obj=plan, changes=audit.creation_changes(plan, skip_empty=True),
                 note=fresh.code)
    plan.refresh_from_db()
    return plan


@transaction.atomic
def plan_update(*, actor: Any, plan: PaymentPlan, changes: dict[str, Any],
                expected_version: int | None) -> PaymentPlan:
    """Change an instalment (not below what it already received; the plan within the amount)."""
    require(actor, "contract.change")
    fresh = _plan_contract(plan.contract)
    unknown = set(changes) - set(PLAN_EDITABLE)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    if expected_version is not None and int(expected_version) != plan.version:
        raise Conflict()
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if "due_on" in changes:
        cleaned["due_on"] = _date(changes["due_on"], "due_on", errors, required=True)
        if cleaned["due_on"] != plan.due_on:
            cleaned["overdue_notified_at"] = None  # a new due date is told again when it passes
    if "description" in changes:
        cleaned["description"] = str(changes["description"] or "").strip()[:200]
    if "amount" in changes:
        value = decimal_field(changes["amount"], "amount", errors, minimum=Decimal("0.01"), maximum=MAX_AMOUNT)
        if value is not None:
            cleaned["amount"] = money(value)
            if cleaned["amount"] < plan.received:
                errors.setdefault("amount", []).append(
                    _("The instalment has already received %(received)s; it cannot be less.") % {
                        "received": plan.received})
            _plan_room(fresh, cleaned["amount"], plan, errors)
    raise_if(errors)
    records.apply_update(actor=actor, obj=plan, changes=cleaned, expected_version=expected_version)
    recompute(fresh.pk)
    totals.refresh([fresh.account_id])
    plan.refresh_from_db()
    return plan


@transaction.atomic
def plan_delete(*, actor: Any, plan: PaymentPlan) -> None:
    """Remove an instalment nothing was received against (the audit row keeps what it was)."""
    require(actor, "contract.change")
    fresh = _plan_contract(plan.contract)
    plan = PaymentPlan.objects.select_for_update().get(pk=plan.pk)
    if plan.received > 0 or plan.payments.filter(deleted_at__isnull=True).exists():
        raise Invalid(_("Receipts were recorded against this instalment; reverse them first."))
    audit.record(actor=actor, action="delete", obj=plan, changes={
        k: [v, None] for k, v in audit.snapshot(plan, ["position", "description", "due_on", "amount"]).items()},
        note=fresh.code)
    # Receipts in the recycle bin that named it forget it (a restore then fills in order).
    Payment.all_objects.filter(plan=plan).update(plan=None)
    plan.delete()
    recompute(fresh.pk)
    totals.refresh([fresh.account_id])


# --- Registration with the generic machinery (recycle bin, history) --------------------------
register_relation("account", "contracts", Contract, "account", audited=True)
registry.register(registry.Entry(
    model=Contract, perm="contract", scope=lambda user, qs: contract_scope(user, qs), editable=CONTRACT_EDITABLE,
    detail_url=lambda obj: f"/sales/contracts/{obj.pk}/", validate=_validate, after_change=_after_change,
))


def days_left(contract: Contract, today: dt.date | None = None) -> int | None:
    """Days until the contract ends (negative once ended); None without an end date."""
    if contract.ends_on is None:
        return None
    return (contract.ends_on - (today or timezone.localdate())).days
