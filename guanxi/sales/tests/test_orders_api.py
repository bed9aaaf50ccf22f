"""`/api/v1/orders`: scoped list and get, create with lines and Idempotency-Key, PATCH with
version (stale → 409, S18), status actions, delete, from a quote."""

from __future__ import annotations

import pytest

from guanxi.sales.models import Order, Quote
from guanxi.sales.tests.orders_helpers import (
    order_factory,
    product,
    quote_factory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(org, account_factory):
    return account_factory(org.salesperson, name="华东机械有限公司", province="江苏")


def body(account, **extra):
    return {"account": account.pk, "lines": [{"name": "配件", "quantity": "3", "unit_price": "10"}], **extra}


def test_create_returns_201_with_lines_and_totals(org, api, account):
    p = product("P-1", "99.50")
    response = api(org.salesperson).post("/api/v1/orders", body(account, lines=[
        {"product": p.pk, "quantity": "2"}, {"name": "运费", "unit_price": "20", "tax_rate": "9"}]))
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["state"] == "draft" and data["total"] == "219.00" and data["account_name"] == "华东机械有限公司"
    assert [(line["name"], line["unit_price"]) for line in data["lines"]] == [(p.name, "99.50"), ("运费", "20.00")]


def test_a_retried_create_with_the_same_key_makes_one_order(org, api, account):
    client = api(org.salesperson)
    first = client.post("/api/v1/orders", body(account), HTTP_IDEMPOTENCY_KEY="order-1")
    again = client.post("/api/v1/orders", body(account), HTTP_IDEMPOTENCY_KEY="order-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert Order.objects.count() == 1


def test_hidden_account_is_404_and_bad_lines_are_422(org, api, account):
    assert api(org.outsider).post("/api/v1/orders", body(account)).status_code == 404
    bad = api(org.salesperson).post("/api/v1/orders", body(account, lines=[{"name": "x", "quantity": "0",
                                                                            "unit_price": "1"}]))
    assert bad.status_code == 422 and "lines.1.quantity" in bad.json()["errors"]
    unknown = api(org.salesperson).post("/api/v1/orders", body(account, owner=1))
    assert unknown.status_code == 422
    assert not Order.all_objects.exists()


def test_list_and_get_are_scoped(org, api, account, account_factory):
    mine = order_factory(org.salesperson, account)
    theirs = order_factory(org.outsider, account_factory(org.outsider))
    ids = {row["id"] for row in api(org.salesperson).get("/api/v1/orders").json()["results"]}
    assert ids == {mine.pk}
    assert api(org.salesperson).get(f"/api/v1/orders/{theirs.pk}").status_code == 404
    assert api(org.gm).get(f"/api/v1/orders/{theirs.pk}").status_code == 200
    filtered = api(org.gm).get("/api/v1/orders", {"state": "draft", "account": account.pk}).json()["results"]
    assert [row["id"] for row in filtered] == [mine.pk]
    assert api(org.service).get("/api/v1/orders").status_code == 403


def test_patch_with_a_stale_version_is_409_and_changes_nothing(org, api, account):
    order = order_factory(org.salesperson, account)
    client = api(org.salesperson)
    ok = client.patch(f"/api/v1/orders/{order.pk}", {"version": 1, "remarks": "周五前发货",
                                                      "lines": [{"name": "A", "unit_price": "5", "quantity": "2"}]})
    assert ok.status_code == 200, ok.content
    assert ok.json()["version"] == 3 and ok.json()["total"] == "10.00"
    stale = api(org.manager).patch(f"/api/v1/orders/{order.pk}", {"version": 1, "remarks": "覆盖"})
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"
    order.refresh_from_db()
    assert (order.remarks, order.total) == ("周五前发货", 10)


def test_status_actions_and_their_refusals(org, api, account):
    order = order_factory(org.salesperson, account)
    client = api(org.salesperson)
    confirmed = client.post(f"/api/v1/orders/{order.pk}/confirm", {"version": 1})
    assert confirmed.status_code == 200 and confirmed.json()["state"] == "confirmed"
    assert client.post(f"/api/v1/orders/{order.pk}/deliver", {}).status_code == 422
    assert client.post(f"/api/v1/orders/{order.pk}/ship", {"version": 1}).status_code == 409
    shipped = client.post(f"/api/v1/orders/{order.pk}/ship", {"on": str(order.order_date)})
    assert shipped.json()["ship_date"] == str(order.order_date)
    assert client.post(f"/api/v1/orders/{order.pk}/deliver", {}).json()["state"] == "delivered"
    assert client.post(f"/api/v1/orders/{order.pk}/cancel", {}).status_code == 422


def test_delete_is_for_managers(org, api, account):
    order = order_factory(org.salesperson, account)
    assert api(org.salesperson).delete(f"/api/v1/orders/{order.pk}").status_code == 403
    assert api(org.manager).delete(f"/api/v1/orders/{order.pk}").status_code == 204
    assert api(org.manager).get(f"/api/v1/orders/{order.pk}").status_code == 404


def test_an_order_from_a_quote_through_the_api(org, api, account):
    quote = quote_factory(org.salesperson, account)
    client = api(org.salesperson)
    assert client.post("/api/v1/orders", {"quote": quote.pk, "remarks": "x"}).status_code == 422
    made = client.post("/api/v1/orders", {"quote": quote.pk})
    assert made.status_code == 201 and made.json()["quote"] == quote.pk and len(made.json()["lines"]) == 2
    quote.refresh_from_db()
    assert quote.state == Quote.State.ACCEPTED
    assert api(org.outsider).post("/api/v1/orders", {"quote": quote.pk}).status_code == 404


def test_the_list_reads_a_fixed_number_of_queries(org, api, account, django_assert_max_num_queries):
    for _ in range(6):
        order_factory(org.salesperson, account)
    client = api(org.salesperson)
    with django_assert_max_num_queries(10):  # 7 today; one per order would be 13
        rows = client.get("/api/v1/orders").json()["results"]
    assert len(rows) == 6 and all(len(row["lines"]) == 2 for row in rows)
