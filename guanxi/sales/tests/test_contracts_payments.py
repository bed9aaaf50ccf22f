"""Receipts (回款) against the plan, their reversal and restore, and the customer's cumulative
figures (R11.4): after any sequence of writes the stored row equals a recount and the
numbers worked out by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.core.errors import Forbidden, Invalid
from guanxi.core.models import AuditEvent
from guanxi.core.services import records
from guanxi.sales.models import AccountSales, Contract, Order, Payment, PaymentPlan
from guanxi.sales.services import contracts as contract_services
from guanxi.sales.services import orders as order_services
from guanxi.sales.services import payments as services
from guanxi.sales.tests.orders_helpers import (
    assert_figures,
    contract_factory,
    days,
    order_factory,
    receive,
)

D = Decimal


@pytest.fixture
def account(org, account_factory):
    return account_factory(org.salesperson, name="华东机械有限公司", province="江苏")


def received(contract: Contract) -> list[Decimal]:
    return list(PaymentPlan.objects.filter(contract=contract).order_by("due_on").values_list("received", flat=True))


# --- Allocation (a pure function) -----------------------------------------------------------
def test_allocation_fills_named_instalments_then_the_oldest_open_ones():
    plans = [(1, D("100")), (2, D("50")), (3, D("80"))]
    assert services.allocate(plans, [(None, D("120"))]) == {1: D("100"), 2: D("20"), 3: D("0")}
    assert services.allocate(plans, [(3, D("30")), (None, D("120"))]) == {1: D("100"), 2: D("20"), 3: D("30")}
    # What an instalment cannot take spills over in order; beyond the plan it stays on the contract.
    assert services.allocate(plans, [(2, D("70")), (None, D("200"))]) == {1: D("100"), 2: D("50"), 3: D("80")}


amounts = st.decimals(min_value=D("0.01"), max_value=D("10000"), places=2)


@given(plan=st.lists(amounts, min_size=0, max_size=5),
       receipts=st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 4)), amounts), max_size=8))
def test_allocation_never_overfills_and_loses_nothing(plan, receipts):
    plans = [(n, amount) for n, amount in enumerate(plan)]
    got = services.allocate(plans, receipts)
    total_in = sum((a for _p, a in receipts), D("0"))
    assert all(D("0") <= got[n] <= amount for n, amount in plans)
    assert sum(got.values(), D("0")) == min(total_in, sum(plan, D("0")))


# --- Recording receipts --------------------------------------------------------------------
@pytest.mark.django_db
def test_a_receipt_without_an_instalment_fills_the_oldest_first(org, account):
    contract = contract_factory(org.salesperson, account, amount="10000", plan=[(30, "3000"), (-10, "5000"),
                                                                                (60, "2000")])
    payment = receive(org.salesperson, contract, "6000", reference="工行 0001")
    contract.refresh_from_db()
    assert received(contract) == [D("5000.00"), D("1000.00"), D("0.00")]
    assert (contract.received, contract.outstanding, payment.account_id) == (D("6000.00"), D("4000.00"), account.pk)
    assert_figures(account, contracts_total="10000.00", received_total="6000.00", receivable_total="4000.00",
                   overdue_total="0.00")
    event = AuditEvent.objects.get(action="create", object_id=str(payment.pk),
                                   content_type=ContentType.objects.get_for_model(Payment))
    assert event.note == contract.code and event.actor == org.salesperson


@pytest.mark.django_db
def test_a_receipt_for_an_instalment_goes_there(org, account):
    contract = contract_factory(org.salesperson, account, amount="10000", plan=[(-10, "5000"), (30, "5000")])
    later = PaymentPlan.objects.get(contract=contract, due_on=days(30))
    receive(org.salesperson, contract, "5000", plan=later)
    assert received(contract) == [D("0.00"), D("5000.00")]
    assert_figures(account, received_total="5000.00", overdue_total="5000.00")


@pytest.mark.django_db
def test_over_receipts_and_bad_input_are_refused_with_a_message(org, account):
    contract = contract_factory(org.salesperson, account, amount="1000", plan=[(10, "1000")])
    other = contract_factory(org.salesperson, account, amount="50", plan=[(10, "50")])
    receive(org.salesperson, contract, "600")
    with pytest.raises(Invalid) as caught:
        receive(org.salesperson, contract, "400.01", received_on=days(1), method="gold",
                plan=PaymentPlan.objects.get(contract=other))
    assert caught.value.errors["amount"] == [
        "This receipt of 400.01 is more than the 400.00 still outstanding on the contract."]
    assert set(caught.value.errors) == {"amount", "received_on", "method", "plan"}
    assert Payment.objects.count() == 1
    receive(org.salesperson, contract, "400")
    contract.refresh_from_db()
    assert contract.outstanding == 0


@pytest.mark.django_db
def test_draft_and_terminated_contracts_take_no_receipts(org, account):
    draft = contract_factory(org.salesperson, account, active=False)
    with pytest.raises(Invalid, match="Activate"):
        receive(org.salesperson, draft, "1")
    ended = contract_factory(org.salesperson, account)
    contract_services.contract_move(actor=org.salesperson, contract=ended, to="terminated")
    with pytest.raises(Invalid):
        receive(org.salesperson, ended, "1")
    with pytest.raises(Forbidden):
        receive(org.service, contract_factory(org.salesperson, account), "1")
    assert not Payment.all_objects.exists()


@pytest.mark.django_db
def test_reversing_and_restoring_a_receipt(org, account):
    contract = contract_factory(org.salesperson, account, amount="1000", plan=[(-1, "1000")])
    first = receive(org.salesperson, contract, "700")
    with pytest.raises(Forbidden):
        services.payment_delete(actor=org.salesperson, payment=first)
    services.payment_delete(actor=org.manager, payment=first)
    assert received(contract) == [D("0.00")]
    assert_figures(account, received_total="0.00", receivable_total="1000.00", overdue_total="1000.00")
    records.record_restore(actor=org.manager, obj=Payment.all_objects.get(pk=first.pk))
    assert received(contract) == [D("700.00")]
    assert_figures(account, received_total="700.00", overdue_total="300.00")
    # Restoring refuses to take the receipts above the amount, and changes nothing.
    services.payment_delete(actor=org.manager, payment=Payment.objects.get(pk=first.pk))
    receive(org.salesperson, contract, "500")
    with pytest.raises(Invalid, match="above the contract amount"):
        records.record_restore(actor=org.manager, obj=Payment.all_objects.get(pk=first.pk))
    assert Payment.all_objects.get(pk=first.pk).deleted_at is not None
    assert_figures(account, received_total="500.00")


@pytest.mark.django_db
def test_a_deleted_contract_leaves_the_figures_until_restored(org, account):
    contract = contract_factory(org.salesperson, account, amount="1000")
    receive(org.salesperson, contract, "100")
    contract_services.contract_delete(actor=org.manager, contract=contract)
    assert_figures(account, contracts_total="0.00", received_total="0.00", receivable_total="0.00")
    records.record_restore(actor=org.manager, obj=Contract.all_objects.get(pk=contract.pk))
    assert_figures(account, contracts_total="1000.00", received_total="100.00", receivable_total="900.00")


@pytest.mark.django_db
def test_foreign_currency_figures_are_in_cny_at_the_contracts_rate(org, account):
    from guanxi.sales.models import ExchangeRate

    ExchangeRate.objects.create(currency="USD", rate=D("7.000000"), valid_from=days(-30))
    contract = contract_factory(org.salesperson, account, amount="1000", currency="USD")
    receive(org.salesperson, contract, "100")
    ExchangeRate.objects.create(currency="USD", rate=D("8.000000"), valid_from=days(-1))  # later rates move nothing
    assert_figures(account, contracts_total="7000.00", received_total="700.00", receivable_total="6300.00")


# --- The figures after any sequence of writes (R11.4) --------------------------------------
@pytest.mark.django_db
def test_cumulative_figures_after_a_mixed_sequence_match_hand_computed_numbers(org, account):
    o1 = order_factory(org.salesperson, account, state=Order.State.CONFIRMED)  # 350
    o2 = order_factory(org.salesperson, account, state=Order.State.SHIPPED)  # 350
    order_factory(org.salesperson, account)  # a draft counts nothing
    c1 = contract_services.contract_from_order(actor=org.salesperson, order=o1)  # 350, draft
    contract_services.plan_add(actor=org.salesperson, contract=c1, due_on=days(-5), amount="200")
    contract_services.plan_add(actor=org.salesperson, contract=c1, due_on=days(20), amount="150")
    c1.refresh_from_db()
    contract_services.contract_move(actor=org.salesperson, contract=c1, to="active", signed_on=days(-6))
    assert_figures(account, orders_count=2, orders_total="700.00", contracts_total="350.00",
                   receivable_total="350.00", overdue_total="200.00")
    p1 = receive(org.salesperson, c1, "120")
    c2 = contract_factory(org.salesperson, account, amount="1000", plan=[(-1, "1000")])
    receive(org.salesperson, c2, "1000")
    assert_figures(account, contracts_total="1350.00", received_total="1120.00", receivable_total="230.00",
                   overdue_total="80.00")
    order_services.order_cancel(actor=org.salesperson, order=o2)
    services.payment_delete(actor=org.manager, payment=p1)
    assert_figures(account, orders_count=1, orders_total="350.00", received_total="1000.00",
                   receivable_total="350.00", overdue_total="200.00")
    contract_services.contract_delete(actor=org.manager, contract=c2)
    records.record_restore(actor=org.manager, obj=Payment.all_objects.get(pk=p1.pk))
    assert_figures(account, contracts_total="350.00", received_total="120.00", receivable_total="230.00",
                   overdue_total="80.00")
    order_services.order_delete(actor=org.manager, order=o1)
    records.record_restore(actor=org.manager, obj=Contract.all_objects.get(pk=c2.pk))
    assert_figures(account, orders_count=0, orders_total="0.00", contracts_total="1350.00",
                   received_total="1120.00", receivable_total="230.00", overdue_total="80.00")


def counted(payment: Payment) -> bool:
    """A receipt counts in the customer's figures while its contract is not in the recycle bin."""
    return Contract.objects.filter(pk=payment.contract_id).exists()


# Each step: (what, amount index). Hypothesis drives random sequences of the writes above and
# checks after each one that the stored row equals the recount and that received and
# receivable equal a ledger kept here by hand.
steps = st.lists(st.tuples(st.sampled_from(["order", "cancel", "contract", "receive", "reverse", "restore",
                                            "delete_contract", "restore_contract"]),
                           st.integers(min_value=1, max_value=9)), min_size=1, max_size=10)


@pytest.mark.django_db
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(sequence=steps)
def test_any_sequence_keeps_the_figures_right(org, account_factory, sequence):
    account = account_factory(org.salesperson, province="浙江")
    ledger = {"orders": D("0"), "contracted": D("0"), "received": D("0")}
    orders: list[Order] = []
    contracts: list[Contract] = []
    payments: list[Payment] = []
    for what, n in sequence:
        amount = D(n * 100)
        if what == "order":
            order = order_services.order_create(actor=org.salesperson, account=account, lines=[
                {"name": "件", "quantity": "1", "unit_price": str(amount)}])
            order_services.order_confirm(actor=org.salesperson, order=order)
            orders.append(order)
            ledger["orders"] += amount
        elif what == "cancel" and orders:
            order = orders.pop()
            order.refresh_from_db()
            order_services.order_cancel(actor=org.salesperson, order=order)
            ledger["orders"] -= order.total
        elif what == "contract":
            contract = contract_services.contract_create(actor=org.salesperson, account=account, amount=amount)
            contract_services.contract_move(actor=org.salesperson, contract=contract, to="active",
                                            signed_on=days(-1))
            contracts.append(contract)
            ledger["contracted"] += amount
        elif what == "receive" and contracts:
            contract = contracts[-1]
            contract.refresh_from_db()
            if contract.outstanding >= n:
                payments.append(services.payment_record(actor=org.salesperson, contract=contract, amount=n))
                ledger["received"] += n
        elif what == "reverse" and payments:
            payment = payments[-1]
            if Payment.objects.filter(pk=payment.pk).exists():
                services.payment_delete(actor=org.manager, payment=payment)
                if counted(payment):
                    ledger["received"] -= payment.amount
        elif what == "restore" and payments:
            payment = Payment.all_objects.get(pk=payments[-1].pk)
            if payment.deleted_at is not None:
                try:
                    records.record_restore(actor=org.manager, obj=payment)
                except Invalid:
                    pass  # it would take the receipts above the amount: refused, nothing changed
                else:
                    if counted(payment):
                        ledger["received"] += payment.amount
        elif what == "delete_contract" and contracts:
            contract = contracts.pop()
            contract.refresh_from_db()
            contract_services.contract_delete(actor=org.manager, contract=contract)
            ledger["contracted"] -= contract.amount
            ledger["received"] -= contract.received
        elif what == "restore_contract":
            gone = Contract.all_objects.filter(account=account, deleted_at__isnull=False).order_by("-id").first()
            if gone is not None:
                records.record_restore(actor=org.manager, obj=gone)
                contracts.append(gone)
                ledger["contracted"] += gone.amount
                ledger["received"] += gone.received
        if AccountSales.objects.filter(account=account).exists():
            assert_figures(account, orders_total=ledger["orders"].quantize(D("0.01")),
                           contracts_total=ledger["contracted"].quantize(D("0.01")),
                           received_total=ledger["received"].quantize(D("0.01")),
                           receivable_total=max(ledger["contracted"] - ledger["received"], D("0")).quantize(D("0.01")))
