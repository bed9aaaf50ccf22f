"""Contract pages: list scoping, new and from an order, the contract page with steps, plan and
receipts, state, receivables with sums and filters, exports."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from guanxi.core.models import Job, User
from guanxi.sales.models import Contract, ContractStep, Order, Payment, PaymentPlan
from guanxi.sales.tests.orders_helpers import (
    contract_factory,
    days,
    order_factory,
    receive,
)

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture(autouse=True)
def english(org):
    User.objects.update(language="en")
    with translation.override("en"):
        yield


@pytest.fixture
def account(org, account_factory):
    return account_factory(org.salesperson, name="华东机械有限公司", province="江苏")


def test_the_list_is_scoped(org, login, account, account_factory):
    mine = contract_factory(org.salesperson, account)
    theirs = contract_factory(org.outsider, account_factory(org.outsider))
    page = login(org.salesperson).get("/sales/contracts/")
    assert {c.pk for c in page.context["page"]} == {mine.pk}
    assert {c.pk for c in login(org.gm).get("/sales/contracts/").context["page"]} == {mine.pk, theirs.pk}
    assert login(org.salesperson).get(f"/sales/contracts/{theirs.pk}/").status_code == 404
    assert login(org.marketing).get("/sales/contracts/").status_code == 403


def test_a_new_contract_from_the_form_and_a_clear_refusal(org, login, account):
    client = login(org.salesperson)
    assert client.get(f"/sales/contracts/new/?account={account.pk}").status_code == 200
    response = client.post("/sales/contracts/new/", {
        "account": account.pk, "title": "设备采购合同", "amount": "50000", "currency": "CNY", "remind_days": "30",
        "starts_on": "2026-01-01", "ends_on": "2026-12-31"})
    contract = Contract.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/sales/contracts/{contract.pk}/"
    assert contract.code.startswith("HT-") and contract.party_a == "华东机械有限公司"
    bad = client.post("/sales/contracts/new/", {
        "account": account.pk, "code": contract.code, "amount": "1", "currency": "CNY", "remind_days": "30"})
    assert bad.status_code == 422 and "This contract number is already used." in bad.content.decode()
    assert Contract.objects.count() == 1


def test_from_an_order_then_plan_activation_and_a_receipt(org, login, account):
    order = order_factory(org.salesperson, account, state=Order.State.CONFIRMED)  # 350.00
    client = login(org.salesperson)
    response = client.post(f"/sales/orders/{order.pk}/contract/")
    contract = Contract.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/sales/contracts/{contract.pk}/"
    base = f"/sales/contracts/{contract.pk}"
    client.post(f"{base}/plan/new/", {"description": "预付款", "due_on": str(days(-3)), "amount": "200"})
    over = client.post(f"{base}/plan/new/", {"description": "尾款", "due_on": str(days(30)), "amount": "200"},
                       follow=True)
    assert "more than the contract amount" in over.content.decode()
    client.post(f"{base}/plan/new/", {"description": "尾款", "due_on": str(days(30)), "amount": "150"})
    client.post(f"{base}/state/", {"action": "activate", "signed_on": str(days(-5)), "version": 1})
    contract.refresh_from_db()
    assert contract.state == "active"
    client.post(f"{base}/payments/new/", {"amount": "120", "received_on": str(days(0)), "method": "transfer",
                                          "reference": "工行0001"})
    page = client.get(f"{base}/")
    body = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="contract-outstanding">¥230.00' in body
    assert 'data-testid="plan-overdue"' in body  # 200 due three days ago, 120 received
    assert 'data-testid="fig-receivable">¥230.00' in body and 'data-testid="fig-overdue">¥80.00' in body
    assert [p.received for p in PaymentPlan.objects.filter(contract=contract).order_by("due_on")] == [D("120.00"),
                                                                                                      D("0.00")]


def test_an_over_receipt_is_refused_with_a_message(org, login, account):
    contract = contract_factory(org.salesperson, account, amount="100")
    response = login(org.salesperson).post(f"/sales/contracts/{contract.pk}/payments/new/", {
        "amount": "100.01", "received_on": str(days(0)), "method": "transfer"}, follow=True)
    assert "more than the 100.00 still outstanding" in response.content.decode()
    assert not Payment.objects.exists()


def test_steps_from_the_page(org, login, account):
    contract = contract_factory(org.salesperson, account)
    client = login(org.salesperson)
    client.post(f"/sales/contracts/{contract.pk}/steps/new/", {"name": "发货", "state": "pending"})
    client.post(f"/sales/contracts/{contract.pk}/steps/new/", {"name": "验收", "state": "pending"})
    first, second = ContractStep.objects.filter(contract=contract).order_by("position")
    client.post(f"/sales/contract-steps/{second.pk}/action/", {"action": "up"})
    client.post(f"/sales/contract-steps/{first.pk}/action/", {"action": "done", "version": first.version})
    first.refresh_from_db()
    assert (first.position, first.state) == (2, "done")
    edit = client.post(f"/sales/contract-steps/{first.pk}/edit/", {
        "name": "发货", "state": "done", "done_on": "2026-01-05", "version": first.version - 1})
    assert edit.status_code == 409
    assert login(org.outsider).post(f"/sales/contract-steps/{first.pk}/action/", {"action": "up"}).status_code == 404


def test_edit_with_a_stale_version_is_refused(org, login, account):
    contract = contract_factory(org.salesperson, account)
    data = {"code": contract.code, "title": "新标题", "party_a": "甲", "party_b": "乙", "amount": "10000",
            "currency": "CNY", "remind_days": "30", "signed_on": str(contract.signed_on)}
    assert login(org.salesperson).post(f"/sales/contracts/{contract.pk}/edit/",
                                       {**data, "version": contract.version}).status_code == 302
    stale = login(org.manager).post(f"/sales/contracts/{contract.pk}/edit/",
                                    {**data, "title": "旧", "version": contract.version})
    assert stale.status_code == 409
    contract.refresh_from_db()
    assert contract.title == "新标题"


def test_reversing_a_receipt_needs_the_right(org, login, account):
    contract = contract_factory(org.salesperson, account, amount="100")
    payment = receive(org.salesperson, contract, "40")
    assert login(org.salesperson).post(f"/sales/payments/{payment.pk}/delete/").status_code == 403
    assert login(org.manager).post(f"/sales/payments/{payment.pk}/delete/", {"version": 1}).status_code == 302
    contract.refresh_from_db()
    assert contract.received == 0


def test_receivables_sums_filters_and_the_customers_totals(org, login, account, account_factory):
    late = contract_factory(org.salesperson, account, amount="1000", plan=[(-10, "600"), (20, "400")])
    receive(org.salesperson, late, "100")
    other = account_factory(org.teammate, name="同事客户")
    fine = contract_factory(org.teammate, other, amount="500", plan=[(10, "500")])
    paid = contract_factory(org.salesperson, account, amount="50")
    receive(org.salesperson, paid, "50")
    contract_factory(org.salesperson, account, amount="70", active=False)  # a draft is no receivable
    page = login(org.manager).get("/sales/receivables/")
    rows = list(page.context["page"])
    assert [c.pk for c in rows] == [late.pk, fine.pk]
    assert page.context["sums"] == {"outstanding": D("1400.00"), "overdue": D("500.00")}
    assert [c.pk for c in login(org.manager).get("/sales/receivables/?overdue=1").context["page"]] == [late.pk]
    assert [c.pk for c in login(org.manager).get(f"/sales/receivables/?owner={org.teammate.pk}")
            .context["page"]] == [fine.pk]
    mine = login(org.salesperson).get(f"/sales/receivables/?account={account.pk}")
    body = mine.content.decode()
    assert [c.pk for c in mine.context["page"]] == [late.pk]
    assert 'data-testid="fig-received">¥150.00' in body and 'data-testid="fig-receivable">¥900.00' in body
    assert login(org.outsider).get("/sales/receivables/").context["page"].object_list.count() == 0


def test_receivables_export_is_scoped_and_neutralised(org, login, account, run_queue, settings,
                                                      tmp_path, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path
    contract_factory(org.salesperson, account, amount="100", title="=HYPERLINK(\"http://x\")")
    assert login(org.salesperson).post("/sales/receivables/export/", {"format": "xlsx"}).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        login(org.manager).post("/sales/receivables/export/", {"format": "xlsx", "query": ""})
    run_queue()
    job = Job.objects.get()
    from django.core.files.storage import default_storage
    from openpyxl import load_workbook

    sheet = load_workbook(default_storage.open(job.result["file"])).active
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert job.result["rows"] == 1
    assert all(cell.data_type != "f" for cell in cells)
    assert any(cell.value == "'=HYPERLINK(\"http://x\")" for cell in cells)
