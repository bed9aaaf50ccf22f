"""Reminders about receivables (R4.4): the owner is told once per overdue instalment and once
per contract reaching its reminder window; the desk panel lists both."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from guanxi.core import desk
from guanxi.core.models import Notification, User
from guanxi.sales.models import Contract, PaymentPlan
from guanxi.sales.services import payments as services
from guanxi.sales.tests.orders_helpers import (
    contract_factory,
    days,
    receive,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(org, account_factory):
    return account_factory(org.salesperson, name="华东机械有限公司", province="江苏")


def test_overdue_instalments_are_told_once_each(org, account):
    User.objects.update(language="en")
    contract = contract_factory(org.salesperson, account, amount="1000",
                                plan=[(-3, "400"), (-1, "300"), (10, "300")])
    receive(org.salesperson, contract, "400")  # pays the first in full
    assert services.receivables_notify() == {"overdue": 1, "expiring": 0}
    note = Notification.objects.get(user=org.salesperson)
    assert note.title == f"Receivable overdue: 华东机械有限公司, {contract.code}"
    assert "300.00 CNY is still outstanding" in note.body and note.url == f"/sales/contracts/{contract.pk}/"
    assert services.receivables_notify() == {"overdue": 0, "expiring": 0}
    assert Notification.objects.count() == 1


def test_drafts_deleted_and_paid_contracts_tell_nobody(org, account):
    contract_factory(org.salesperson, account, amount="100", plan=[(-3, "100")], active=False)
    gone = contract_factory(org.salesperson, account, amount="100", plan=[(-3, "100")])
    Contract.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())
    paid = contract_factory(org.salesperson, account, amount="100", plan=[(-3, "100")])
    receive(org.salesperson, paid, "100")
    assert services.receivables_notify()["overdue"] == 0
    assert not Notification.objects.exists()


def test_a_reversed_receipt_makes_a_paid_instalment_overdue_again(org, account):
    from guanxi.sales.services.payments import payment_delete

    contract = contract_factory(org.salesperson, account, amount="100", plan=[(-3, "100")])
    services.receivables_notify()
    payment = receive(org.salesperson, contract, "100")
    assert PaymentPlan.objects.get(contract=contract).overdue_notified_at is None
    payment_delete(actor=org.manager, payment=payment)
    assert services.receivables_notify()["overdue"] == 1
    assert Notification.objects.count() == 2


def test_contracts_reaching_their_reminder_window_are_told_once(org, account):
    User.objects.update(language="en")
    soon = contract_factory(org.salesperson, account, ends_on=days(20), remind_days=30)
    contract_factory(org.salesperson, account, ends_on=days(40), remind_days=30)  # not yet
    ended = contract_factory(org.salesperson, account, starts_on=days(-100), ends_on=days(-1), remind_days=0)
    done = contract_factory(org.salesperson, account, ends_on=days(5))
    from guanxi.sales.services.contracts import contract_move

    contract_move(actor=org.salesperson, contract=done, to="completed")
    assert services.receivables_notify() == {"overdue": 0, "expiring": 2}
    titles = sorted(Notification.objects.values_list("title", flat=True))
    assert titles == sorted([f"Contract ends soon: {soon.code} 华东机械有限公司",
                             f"Contract ended: {ended.code} 华东机械有限公司"])
    assert services.receivables_notify()["expiring"] == 0
    ended.refresh_from_db()
    assert ended.state == "active"  # the owner decides; the reminder never changes the state


def test_an_inactive_owner_is_marked_but_not_told(org, account):
    contract_factory(org.salesperson, account, amount="10", plan=[(-2, "10")])
    User.objects.filter(pk=org.salesperson.pk).update(is_active=False)
    assert services.receivables_notify()["overdue"] == 1
    assert not Notification.objects.exists()


def test_the_overdue_figure_moves_when_the_instalment_falls_due(org, account):
    contract = contract_factory(org.salesperson, account, amount="500", plan=[(1, "500")])
    assert contract.account.sales.overdue_total == 0
    PaymentPlan.objects.filter(contract=contract).update(due_on=days(-1))  # time passes
    services.receivables_notify()
    account.sales.refresh_from_db()
    assert account.sales.overdue_total == 500


def test_the_periodic_task_runs_on_the_real_queue(org, account, run_queue):
    contract_factory(org.salesperson, account, amount="10", plan=[(-2, "10")])
    services.notify_receivables()  # enqueue, as the scheduler does
    assert run_queue() == 1
    assert Notification.objects.filter(user=org.salesperson).count() == 1


def test_the_desk_panel_lists_my_overdue_instalments_and_expiring_contracts(org, account, account_factory, login):
    User.objects.update(language="en")
    late = contract_factory(org.salesperson, account, amount="100", plan=[(-4, "100")], ends_on=days(10))
    contract_factory(org.teammate, account_factory(org.teammate), amount="100", plan=[(-4, "100")])
    panel = desk.get("sales.receivables")
    assert panel is not None and panel.lazy
    context = panel.provide(org.salesperson, timezone.now())
    assert [p.contract_id for p in context["overdue"]] == [late.pk]
    assert [c.pk for c in context["expiring"]] == [late.pk]
    assert panel.provide(org.marketing, timezone.now()) is None
    response = login(org.salesperson).get("/desk/sales.receivables/")
    assert response.status_code == 200
    html = response.content.decode()
    assert late.code in html and "overdue since " + (timezone.localdate() - dt.timedelta(days=4)).isoformat() in html
    assert 'data-testid="panel-sales.receivables"' in login(org.salesperson).get("/").content.decode()
    assert 'data-testid="panel-sales.receivables"' not in login(org.marketing).get("/").content.decode()
