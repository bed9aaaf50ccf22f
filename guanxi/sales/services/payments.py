"""Receipts (回款) against a contract's payment plan, and the reminders about receivables.

``Contract.received`` and every ``PaymentPlan.received`` are derived: :func:`recompute`
counts them again from the live receipts in the writing transaction, never increments.
A receipt booked against an instalment fills that instalment first; a receipt without one
(and whatever an instalment cannot take) fills the oldest open instalments in order of
their due date. Reversing a receipt moves it to the recycle bin; restoring it applies it
again (refused when the contract no longer has that much outstanding).

Reminders (:func:`receivables_notify`, run by the queue every hour) tell a contract's owner
once per instalment that became overdue and once per contract that reaches its
``remind_days`` before ``ends_on``. A contract's state never changes by itself: the owner
decides whether it is completed, expired or renewed (the notice says so).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guanxi.core import audit, context, registry
from guanxi.core.errors import Invalid, NotFound
from guanxi.core.models import Notification, User
from guanxi.customers.services.merge import register_relation
from guanxi.sales.models import Contract, Payment, PaymentPlan
from guanxi.sales.selectors.scope import payment_scope
from guanxi.sales.services import totals
from guanxi.sales.services.common import ZERO, decimal_field, money, raise_if, require
from guanxi.sales.services.orders import delete_locked, lock_account

# A contract in one of these states takes receipts; a draft is not yet agreed and a
# terminated one is closed.
RECEIVING = (Contract.State.ACTIVE, Contract.State.COMPLETED, Contract.State.EXPIRED)
PAYMENT_EDITABLE = ("reference", "notes")


def allocate(plans: Iterable[tuple[int, Decimal]], receipts: Iterable[tuple[int | None, Decimal]]) -> dict[int, Decimal]:
    """How much of the receipts each instalment holds.

    ``plans``: (id, amount) in the order they fall due; ``receipts``: (instalment id or
    None, amount). A receipt for an instalment goes there up to its amount; the rest, and
    every receipt without an instalment, fills the open instalments in order. What no
    instalment can take stays on the contract (it still counts as received).
    """
    plans = list(plans)
    room = {pk: amount for pk, amount in plans}
    got = {pk: ZERO for pk, _amount in plans}
    pool = ZERO
    for plan_id, amount in receipts:
        if plan_id in room:
            taken = min(amount, room[plan_id] - got[plan_id])
            got[plan_id] += max(taken, ZERO)
            pool += amount - max(taken, ZERO)
        else:
            pool += amount
    for pk, amount in plans:
        if pool <= 0:
            break
        taken = min(pool, amount - got[pk])
        if taken > 0:
            got[pk] += taken
            pool -= taken
    return got


def recompute(contract_id: int) -> Decimal:
    """Count the contract's and its instalments' received amounts from the live receipts.

    Derived columns: written without a version bump, so a form opened before a receipt
    is not refused for it. An instalment paid in full forgets its overdue notice (it is
    told again if a reversed receipt makes it overdue again). Returns the contract's total.
    """
    plans = list(PaymentPlan.objects.filter(contract_id=contract_id).order_by("due_on", "position", "id")
                 .values_list("pk", "amount", "received"))
    receipts = list(Payment.objects.filter(contract_id=contract_id, deleted_at__isnull=True)
                    .order_by("received_on", "id").values_list("plan_id", "amount"))
    got = allocate([(pk, amount) for pk, amount, _received in plans], receipts)
    for pk, amount, received in plans:
        if received != got[pk]:
            fields: dict[str, Any] = {"received": got[pk]}
            if got[pk] >= amount:
                fields["overdue_notified_at"] = None
            PaymentPlan.objects.filter(pk=pk).update(**fields)
    total = sum((amount for _plan, amount in receipts), ZERO)
    Contract.all_objects.filter(pk=contract_id).update(received=total)
    return total


def _date(value: Any, errors: dict[str, list[str]]) -> dt.date | None:
    if value in (None, ""):
        return timezone.localdate()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        errors["received_on"] = [_("Enter a valid date (YYYY-MM-DD).")]
        return None


@transaction.atomic
def payment_record(*, actor: Any, contract: Contract, amount: Any, received_on: Any = None,
                   method: str = Payment.Method.TRANSFER, reference: str = "", plan: PaymentPlan | int | None = None,
                   notes: str = "") -> Payment:
    """Record a receipt against a visible contract in force (optionally one instalment).

    Refused: a draft or terminated contract, a date in the future, an instalment of
    another contract, and more than the contract still has outstanding.
    """
    require(actor, "payment.add")
    lock_account(contract.account_id)
    fresh = Contract.all_objects.select_for_update().filter(pk=contract.pk, deleted_at__isnull=True).first()
    if fresh is None:
        raise NotFound()
    errors: dict[str, list[str]] = {}
    if fresh.state == Contract.State.DRAFT:
        raise Invalid(_("Activate the contract (it needs its signing date) before recording receipts."))
    if fresh.state not in RECEIVING:
        raise Invalid(_("A %(state)s contract takes no more receipts.") % {"state": str(fresh.get_state_display()).lower()})
    value = decimal_field(amount, "amount", errors, minimum=Decimal("0.01"), maximum=Decimal("99999999999999"))
    day = _date(received_on, errors)
    if day and day > timezone.localdate():
        errors["received_on"] = [_("A receipt cannot be dated in the future.")]
    if method not in Payment.Method.values:
        errors["method"] = [_("Choose how the money was received.")]
    instalment = None
    if plan not in (None, ""):
        plan_id: Any = getattr(plan, "pk", plan)
        instalment = PaymentPlan.objects.filter(pk=plan_id, contract=fresh).first() if str(plan_id).isdigit() \
            else None
        if instalment is None:
            errors["plan"] = [_("Choose an instalment of this contract.")]
    if value is not None:
        value = money(value)
        outstanding = fresh.amount - fresh.received
        if value > outstanding:
            errors["amount"] = [_("This receipt of %(amount)s is more than the %(outstanding)s still outstanding "
                                  "on the contract.") % {"amount": value, "outstanding": money(outstanding)}]
    if len(reference or "") > 100:
        errors["reference"] = [_("At most 100 characters.")]
    raise_if(errors)
    assert value is not None and day is not None
    payment = Payment.objects.create(contract=fresh, plan=instalment, account_id=fresh.account_id, received_on=day,
                                     amount=value, method=method, reference=(reference or "").strip(),
                                     notes=(notes or "").strip(), recorded_by=actor)
    recompute(fresh.pk)
    totals.refresh([fresh.account_id])
    audit.record(actor=actor, action="create", obj=payment, changes=audit.creation_changes(payment, skip_empty=True),
                 note=fresh.code)
    return payment


@transaction.atomic
def payment_delete(*, actor: Any, payment: Payment, expected_version: int | None = None) -> Payment:
    """Reverse a receipt: it goes to the recycle bin and the contract's figures follow."""
    return delete_locked(actor=actor, obj=payment, perm="payment.delete", expected_version=expected_version)


def _after_change(payment: Payment) -> None:
    """Registry hook after a generic update, delete or restore: recount, refuse an over-receipt."""
    lock_account(payment.account_id)
    received = recompute(payment.contract_id)
    amount = Contract.all_objects.filter(pk=payment.contract_id).values_list("amount", flat=True).first()
    if amount is not None and received > amount:
        raise Invalid(_("Restoring this receipt would take the receipts (%(received)s) above the contract amount "
                        "(%(amount)s).") % {"received": money(received), "amount": amount})
    totals.refresh([payment.account_id])


register_relation("account", "payments", Payment, "account")  # with their contracts
registry.register(registry.Entry(
    model=Payment, perm="payment", scope=lambda user, qs: payment_scope(user, qs), editable=PAYMENT_EDITABLE,
    detail_url=lambda obj: f"/sales/contracts/{obj.contract_id}/#receipts", after_change=_after_change,
))


# --- Reminders -----------------------------------------------------------------------------
def _contract_url(contract_id: int) -> str:
    return reverse("sales:contract-detail", args=[contract_id])


def _tell(owner: User, title: str, body: str, url: str) -> None:
    Notification.objects.create(user=owner, title=title[:200], body=body, url=url)


def _notify_overdue(now: dt.datetime, today: dt.date) -> int:
    told = 0
    due = (PaymentPlan.objects.filter(overdue_notified_at__isnull=True, due_on__lt=today, amount__gt=F("received"),
                                      contract__state=Contract.State.ACTIVE, contract__deleted_at__isnull=True,
                                      contract__account__deleted_at__isnull=True)
           .select_related("contract", "contract__owner", "contract__account").order_by("due_on", "id"))
    for plan in due.iterator(chunk_size=500):
        contract = plan.contract
        with transaction.atomic():
            lock_account(contract.account_id)
            # Exactly once, even when two runs overlap: only the run whose UPDATE wins tells.
            if not PaymentPlan.objects.filter(pk=plan.pk, overdue_notified_at__isnull=True).update(
                    overdue_notified_at=now):
                continue
            totals.refresh([contract.account_id])  # the overdue figure moves today, not at the next write
            owner = contract.owner
            if owner.is_active:
                with translation.override(owner.language or None):
                    _tell(owner, _("Receivable overdue: %(account)s, %(code)s") % {
                        "account": contract.account.name, "code": contract.code},
                        _("%(instalment)s was due on %(due)s; %(outstanding)s %(currency)s is still outstanding.") % {
                            "instalment": plan.description or _("Instalment %(n)d") % {"n": plan.position},
                            "due": plan.due_on.isoformat(), "outstanding": money(plan.amount - plan.received),
                            "currency": contract.currency},
                        _contract_url(contract.pk))
            told += 1
    return told


def _notify_expiring(now: dt.datetime, today: dt.date) -> int:
    told = 0
    pending = Contract.objects.filter(state=Contract.State.ACTIVE, expiry_notified_at__isnull=True,
                                      ends_on__isnull=False, account__deleted_at__isnull=True)
    longest = pending.aggregate(days=Max("remind_days"))["days"]
    if longest is None:
        return 0
    for contract in pending.filter(ends_on__lte=today + dt.timedelta(days=longest)) \
            .select_related("owner", "account").order_by("ends_on", "id").iterator(chunk_size=500):
        assert contract.ends_on is not None
        if contract.ends_on - dt.timedelta(days=contract.remind_days) > today:
            continue
        if not Contract.objects.filter(pk=contract.pk, expiry_notified_at__isnull=True).update(
                expiry_notified_at=now):
            continue
        owner = contract.owner
        if owner.is_active:
            with translation.override(owner.language or None):
                if contract.ends_on < today:
                    title = _("Contract ended: %(code)s %(account)s") % {
                        "code": contract.code, "account": contract.account.name}
                    body = _("It ended on %(day)s. Mark it completed or expired, or renew it.") % {
                        "day": contract.ends_on.isoformat()}
                else:
                    title = _("Contract ends soon: %(code)s %(account)s") % {
                        "code": contract.code, "account": contract.account.name}
                    body = _("It ends on %(day)s. Plan the renewal with the customer.") % {
                        "day": contract.ends_on.isoformat()}
            _tell(owner, title, body, _contract_url(contract.pk))
        told += 1
    return told


def receivables_notify(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Tell owners, once each, about instalments that became overdue and contracts about to end."""
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    return {"overdue": _notify_overdue(now, today), "expiring": _notify_expiring(now, today)}


@db_periodic_task(crontab(minute="7"))
def notify_receivables() -> dict[str, int]:
    """Every hour: overdue instalments and contracts about to end, told once to their owner."""
    with context.origin(None, "job"):
        return receivables_notify()
