"""Contract services (R4.4): numbers, parties, from an order, states, execution steps and the
payment plan (never more than the amount)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import override_settings

from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.models import AuditEvent
from guanxi.sales.models import Contract, ContractStep, Order, PaymentPlan
from guanxi.sales.services import contracts as services
from guanxi.sales.tests.orders_helpers import (
    assert_figures,
    contract_factory,
    days,
    order_factory,
    receive,
)

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def account(org, account_factory):
    return account_factory(org.salesperson, name="华东机械有限公司", province="江苏")


def test_a_new_contract_takes_the_next_number_and_default_parties(org, account):
    with override_settings(GUANXI_COMPANY_NAME="上海关系软件有限公司"):
        contract = services.contract_create(actor=org.salesperson, account=account, amount="120000")
    assert contract.code.startswith("HT-") and contract.state == "draft"
    assert (contract.party_a, contract.party_b, contract.amount) == ("华东机械有限公司", "上海关系软件有限公司",
                                                                     D("120000.00"))
    assert "华东机械有限公司" in contract.title
    with override_settings(GUANXI_COMPANY_NAME=""):
        other = services.contract_create(actor=org.salesperson, account=account, amount="1")
    assert other.party_b and other.code != contract.code


def test_a_typed_number_must_be_unused(org, account):
    services.contract_create(actor=org.salesperson, account=account, amount="1", code="HT-自编-001")
    with pytest.raises(Invalid) as caught:
        services.contract_create(actor=org.manager, account=account, amount="1", code="HT-自编-001")
    assert caught.value.errors["code"] == ["This contract number is already used."]
    assert Contract.objects.count() == 1


def test_dates_amount_and_reminder_are_checked(org, account):
    with pytest.raises(Invalid) as caught:
        services.contract_create(actor=org.salesperson, account=account, amount="0", starts_on=days(10),
                                 ends_on=days(5), signed_on=days(3), remind_days="-1", currency="??")
    assert set(caught.value.errors) == {"amount", "ends_on", "signed_on", "remind_days", "currency"}
    assert not Contract.all_objects.exists()


def test_hidden_accounts_and_missing_rights_are_refused(org, account):
    with pytest.raises(NotFound):
        services.contract_create(actor=org.outsider, account=account, amount="1")
    with pytest.raises(Forbidden):
        services.contract_create(actor=org.marketing, account=account, amount="1")


def test_a_contract_from_an_order_is_prefilled(org, account):
    order = order_factory(org.salesperson, account, state=Order.State.CONFIRMED, remarks="分两批发货")
    with override_settings(GUANXI_COMPANY_NAME="上海关系软件有限公司"):
        contract = services.contract_from_order(actor=org.salesperson, order=order)
    assert (contract.order, contract.account, contract.amount, contract.currency, contract.rate_to_cny) == (
        order, account, order.total, order.currency, order.rate_to_cny)
    assert (contract.party_a, contract.party_b, contract.terms) == ("华东机械有限公司", "上海关系软件有限公司",
                                                                    "分两批发货")
    assert order.code in contract.title and contract.state == "draft"
    with pytest.raises(Invalid, match=contract.code):
        services.contract_from_order(actor=org.salesperson, order=order)


def test_a_cancelled_or_empty_order_gives_no_contract(org, account):
    with pytest.raises(Invalid):
        services.contract_from_order(actor=org.salesperson,
                                     order=order_factory(org.salesperson, account, state=Order.State.CANCELLED))
    with pytest.raises(Invalid):
        services.contract_from_order(actor=org.salesperson, order=order_factory(org.salesperson, account, lines=[]))
    assert not Contract.all_objects.exists()


def test_activation_needs_the_signing_date_and_states_move_one_way(org, account):
    contract = contract_factory(org.salesperson, account, active=False)
    with pytest.raises(Invalid) as caught:
        services.contract_move(actor=org.salesperson, contract=contract, to="active")
    assert "signed_on" in caught.value.errors
    with pytest.raises(Invalid):
        services.contract_move(actor=org.salesperson, contract=contract, to="completed")
    services.contract_move(actor=org.salesperson, contract=contract, to="active", signed_on=days(-2))
    contract.refresh_from_db()
    assert (contract.state, contract.signed_on) == ("active", days(-2))
    assert_figures(account, contracts_total="10000.00", receivable_total="10000.00")
    services.contract_move(actor=org.salesperson, contract=contract, to="expired")
    assert_figures(account, contracts_total="10000.00")
    with pytest.raises(Invalid):
        services.contract_move(actor=org.salesperson, contract=contract, to="active")


def test_terminating_leaves_the_contracted_figures(org, account):
    contract = contract_factory(org.salesperson, account, amount="5000")
    services.contract_move(actor=org.salesperson, contract=contract, to="terminated")
    assert_figures(account, contracts_total="0.00", receivable_total="0.00")
    contract.refresh_from_db()
    with pytest.raises(Invalid):
        services.contract_update(actor=org.salesperson, contract=contract, changes={"title": "x"},
                                 expected_version=contract.version)


def test_an_edit_with_a_stale_version_is_refused(org, account):
    contract = contract_factory(org.salesperson, account)
    stale = contract.version
    services.contract_update(actor=org.salesperson, contract=contract, changes={"title": "年度框架合同"},
                             expected_version=stale)
    with pytest.raises(Conflict):
        services.contract_update(actor=org.manager, contract=Contract.objects.get(pk=contract.pk),
                                 changes={"title": "别的"}, expected_version=stale)
    contract.refresh_from_db()
    assert contract.title == "年度框架合同"


def test_the_amount_stays_above_the_plan_and_the_receipts(org, account):
    contract = contract_factory(org.salesperson, account, amount="10000", plan=[(10, "6000"), (40, "4000")])
    receive(org.salesperson, contract, "7000")
    contract.refresh_from_db()
    with pytest.raises(Invalid) as caught:
        services.contract_update(actor=org.salesperson, contract=contract, changes={"amount": "6500"},
                                 expected_version=contract.version)
    assert len(caught.value.errors["amount"]) == 2  # below the receipts and below the plan
    services.contract_update(actor=org.salesperson, contract=contract, changes={"amount": "12000"},
                             expected_version=contract.version)
    assert_figures(account, contracts_total="12000.00", received_total="7000.00", receivable_total="5000.00")


def test_a_new_end_date_is_reminded_again(org, account):
    from django.utils import timezone

    contract = contract_factory(org.salesperson, account, ends_on=days(10))
    Contract.objects.filter(pk=contract.pk).update(expiry_notified_at=timezone.now())
    contract.refresh_from_db()
    services.contract_update(actor=org.salesperson, contract=contract, changes={"ends_on": days(100)},
                             expected_version=contract.version)
    contract.refresh_from_db()
    assert contract.expiry_notified_at is None


# --- Execution steps -----------------------------------------------------------------------
def test_steps_are_added_reordered_and_finished(org, account):
    contract = contract_factory(org.salesperson, account)
    delivery = services.step_add(actor=org.salesperson, contract=contract, name="发货", due_on=days(5))
    install = services.step_add(actor=org.salesperson, contract=contract, name="安装", owner=org.teammate.pk)
    accept = services.step_add(actor=org.salesperson, contract=contract, name="验收")
    assert [delivery.position, install.position, accept.position] == [1, 2, 3]
    services.step_move(actor=org.salesperson, step=accept, position=1)
    assert list(ContractStep.objects.filter(contract=contract).order_by("position").values_list("name", flat=True)) \
        == ["验收", "发货", "安装"]
    services.step_update(actor=org.salesperson, step=delivery, changes={"state": "done"},
                         expected_version=delivery.version)
    delivery.refresh_from_db()
    assert delivery.state == "done" and delivery.done_on is not None
    services.step_update(actor=org.salesperson, step=delivery, changes={"state": "blocked"},
                         expected_version=delivery.version)
    delivery.refresh_from_db()
    assert delivery.done_on is None
    with pytest.raises(Conflict):
        services.step_update(actor=org.salesperson, step=install, changes={"name": "x"}, expected_version=99)
    with pytest.raises(Invalid):
        services.step_add(actor=org.salesperson, contract=contract, name=" ", owner=123456)


# --- Payment plan --------------------------------------------------------------------------
def test_the_plan_never_adds_up_to_more_than_the_amount(org, account):
    contract = contract_factory(org.salesperson, account, amount="10000", active=False)
    first = services.plan_add(actor=org.salesperson, contract=contract, due_on=days(30), amount="6000",
                              description="预付款")
    with pytest.raises(Invalid) as caught:
        services.plan_add(actor=org.salesperson, contract=contract, due_on=days(60), amount="4000.01")
    assert caught.value.errors["amount"] == [
        "The payment plan would add up to 10000.01, more than the contract amount 10000.00 (4000.00 is left to plan)."]
    services.plan_add(actor=org.salesperson, contract=contract, due_on=days(60), amount="4000")
    with pytest.raises(Invalid):
        services.plan_update(actor=org.salesperson, plan=first, changes={"amount": "6500"},
                             expected_version=first.version)
    services.plan_update(actor=org.salesperson, plan=first, changes={"amount": "5000", "description": "首付"},
                         expected_version=first.version)
    first.refresh_from_db()
    assert (first.amount, first.description, first.version) == (D("5000.00"), "首付", 2)
    with pytest.raises(Conflict):
        services.plan_update(actor=org.salesperson, plan=first, changes={"amount": "1"}, expected_version=1)


def test_an_instalment_with_receipts_cannot_go_or_shrink_below_them(org, account):
    contract = contract_factory(org.salesperson, account, amount="10000", plan=[(-5, "6000"), (40, "4000")])
    first, second = PaymentPlan.objects.filter(contract=contract).order_by("due_on")
    receive(org.salesperson, contract, "2000")
    first.refresh_from_db()
    with pytest.raises(Invalid):
        services.plan_delete(actor=org.salesperson, plan=first)
    with pytest.raises(Invalid):
        services.plan_update(actor=org.salesperson, plan=first, changes={"amount": "1000"},
                             expected_version=first.version)
    services.plan_delete(actor=org.salesperson, plan=second)
    assert list(PaymentPlan.objects.filter(contract=contract)) == [first]
    assert AuditEvent.objects.filter(action="delete", object_id=str(second.pk)).exists()
    # The overdue figure follows the plan: 6000 due five days ago, 2000 received.
    assert_figures(account, overdue_total="4000.00", receivable_total="8000.00")
    services.plan_update(actor=org.salesperson, plan=first, changes={"due_on": days(3)},
                         expected_version=first.version)
    assert_figures(account, overdue_total="0.00")


def test_a_closed_contracts_plan_does_not_change(org, account):
    contract = contract_factory(org.salesperson, account, amount="100")
    services.contract_move(actor=org.salesperson, contract=contract, to="completed")
    with pytest.raises(Invalid):
        services.plan_add(actor=org.salesperson, contract=contract, due_on=days(1), amount="10")


def test_a_merged_customers_orders_contracts_and_receipts_follow_the_kept_account(org, account, account_factory):
    from guanxi.customers.services.merge import account_merge, account_merge_undo
    from guanxi.sales.models import AccountSales, Payment

    duplicate = account_factory(org.salesperson, name="华东机械有限公司（重复）")
    order = order_factory(org.salesperson, duplicate, state=Order.State.CONFIRMED)
    contract = contract_factory(org.salesperson, duplicate, amount="500")
    payment = receive(org.salesperson, contract, "200")
    merge = account_merge(actor=org.manager, kept=account, merged=duplicate)
    for record in (order, contract, payment):
        record.refresh_from_db()
        assert record.account_id == account.pk
    assert Payment.objects.get(pk=payment.pk).contract_id == contract.pk
    # The figures follow in the merge's own transaction (a merge listener), not the next night.
    assert_figures(account, orders_total="350.00", contracts_total="500.00", received_total="200.00")
    assert AccountSales.objects.get(account=duplicate).orders_total == 0
    account_merge_undo(actor=org.manager, record=merge)
    assert AccountSales.objects.get(account=duplicate).orders_total == Decimal("350.00")
