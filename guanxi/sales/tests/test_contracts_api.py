"""`/api/v1/contracts` (with `/steps` and `/plan`) and `/api/v1/payments`: scoping, 201/404/409/422,
a retried receipt recorded once (Idempotency-Key)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from guanxi.sales.models import Contract, Order, Payment
from guanxi.sales.tests.orders_helpers import (
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


def test_create_get_list_and_scoping(org, api, account, account_factory):
    client = api(org.salesperson)
    made = client.post("/api/v1/contracts", {"account": account.pk, "amount": "8000", "title": "年度合同",
                                             "ends_on": str(days(200))})
    assert made.status_code == 201, made.content
    data = made.json()
    assert (data["state"], data["amount"], data["outstanding"], data["party_a"]) == ("draft", "8000.00", "8000.00",
                                                                                     "华东机械有限公司")
    assert client.post("/api/v1/contracts", {"account": account.pk}).status_code == 422
    assert api(org.outsider).post("/api/v1/contracts", {"account": account.pk, "amount": "1"}).status_code == 404
    assert api(org.outsider).get(f"/api/v1/contracts/{data['id']}").status_code == 404
    assert [row["id"] for row in client.get("/api/v1/contracts").json()["results"]] == [data["id"]]
    assert api(org.south_manager).get("/api/v1/contracts").json()["results"] == []


def test_from_an_order(org, api, account):
    order = order_factory(org.salesperson, account, state=Order.State.CONFIRMED)
    made = api(org.salesperson).post("/api/v1/contracts", {"order": order.pk})
    assert made.status_code == 201 and made.json()["order"] == order.pk and made.json()["amount"] == "350.00"
    assert api(org.salesperson).post("/api/v1/contracts", {"order": order.pk, "amount": "1"}).status_code == 422
    assert api(org.outsider).post("/api/v1/contracts", {"order": order.pk}).status_code == 404


def test_patch_with_a_stale_version_is_409(org, api, account):
    contract = contract_factory(org.salesperson, account)
    client = api(org.salesperson)
    ok = client.patch(f"/api/v1/contracts/{contract.pk}", {"version": contract.version, "title": "改名"})
    assert ok.status_code == 200 and ok.json()["title"] == "改名"
    stale = api(org.manager).patch(f"/api/v1/contracts/{contract.pk}", {"version": contract.version,
                                                                         "title": "覆盖"})
    assert stale.status_code == 409
    assert Contract.objects.get(pk=contract.pk).title == "改名"
    assert client.patch(f"/api/v1/contracts/{contract.pk}", {"version": ok.json()["version"],
                                                             "received": "1"}).status_code == 422


def test_state_steps_and_plan(org, api, account):
    contract = contract_factory(org.salesperson, account, amount="1000", active=False)
    client = api(org.salesperson)
    base = f"/api/v1/contracts/{contract.pk}"
    assert client.post(f"{base}/state", {"state": "active"}).status_code == 422  # no signing date
    step = client.post(f"{base}/steps", {"name": "发货"})
    assert step.status_code == 201
    client.post(f"{base}/steps", {"name": "验收"})
    moved = client.patch(f"{base}/steps/{step.json()['id']}", {"version": 1, "position": 2, "state": "done"})
    assert moved.status_code == 200 and moved.json()["position"] == 2 and moved.json()["done_on"]
    assert [s["name"] for s in client.get(f"{base}/steps").json()] == ["验收", "发货"]
    first = client.post(f"{base}/plan", {"due_on": str(days(-2)), "amount": "600", "description": "预付"})
    assert first.status_code == 201
    over = client.post(f"{base}/plan", {"due_on": str(days(9)), "amount": "500"})
    assert over.status_code == 422 and "amount" in over.json()["errors"]
    second = client.post(f"{base}/plan", {"due_on": str(days(9)), "amount": "400"}).json()
    active = client.post(f"{base}/state", {"state": "active", "signed_on": str(days(-3))})
    assert active.status_code == 200 and active.json()["state"] == "active"
    plan = client.get(f"{base}/plan").json()
    assert [(p["amount"], p["overdue"]) for p in plan] == [("600.00", True), ("400.00", False)]
    assert client.patch(f"{base}/plan/{second['id']}", {"version": 9, "amount": "1"}).status_code == 409
    assert client.delete(f"{base}/plan/{second['id']}").status_code == 204
    assert api(org.outsider).get(f"{base}/plan").status_code == 404


def test_a_retried_receipt_is_recorded_once(org, api, account):
    contract = contract_factory(org.salesperson, account, amount="1000", plan=[(5, "1000")])
    client = api(org.salesperson)
    payload = {"contract": contract.pk, "amount": "300", "reference": "BOC-778"}
    first = client.post("/api/v1/payments", payload, HTTP_IDEMPOTENCY_KEY="pay-778")
    again = client.post("/api/v1/payments", payload, HTTP_IDEMPOTENCY_KEY="pay-778")
    assert first.status_code == again.status_code == 201, first.content
    assert again.json()["id"] == first.json()["id"] and again["Idempotent-Replayed"] == "true"
    assert Payment.objects.count() == 1
    contract.refresh_from_db()
    assert contract.received == D("300.00")
    other = client.post("/api/v1/payments", {**payload, "amount": "301"}, HTTP_IDEMPOTENCY_KEY="pay-778")
    assert other.status_code == 422 and Payment.objects.count() == 1


def test_payments_list_create_refusals_and_delete(org, api, account, account_factory):
    contract = contract_factory(org.salesperson, account, amount="1000")
    elsewhere = contract_factory(org.outsider, account_factory(org.outsider), amount="10")
    receive(org.outsider, elsewhere, "10")
    client = api(org.salesperson)
    too_much = client.post("/api/v1/payments", {"contract": contract.pk, "amount": "1000.01"})
    assert too_much.status_code == 422 and "amount" in too_much.json()["errors"]
    assert client.post("/api/v1/payments", {"contract": elsewhere.pk, "amount": "1"}).status_code == 404
    made = client.post("/api/v1/payments", {"contract": contract.pk, "amount": "250", "method": "acceptance"})
    assert made.status_code == 201 and made.json()["contract_code"] == contract.code
    listed = client.get("/api/v1/payments", {"contract": contract.pk}).json()["results"]
    assert [p["id"] for p in listed] == [made.json()["id"]]
    assert client.get("/api/v1/payments").json()["results"] == listed  # the outsider's receipt is hidden
    assert client.delete(f"/api/v1/payments/{made.json()['id']}").status_code == 403
    assert api(org.manager).delete(f"/api/v1/payments/{made.json()['id']}").status_code == 204
    contract.refresh_from_db()
    assert contract.received == 0
