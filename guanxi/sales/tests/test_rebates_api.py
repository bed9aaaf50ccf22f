"""`/api/v1/rebate-rules`, `/api/v1/rebate-deductions`, `/api/v1/rebate-statements` (R4.5):
201/200/204, hidden = 404, no right = 403, stale = 409, bad input = 422, Idempotency-Key."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from guanxi.sales.models import RebateDeduction, RebateRule, RebateStatement
from guanxi.sales.services import rebates as services
from guanxi.sales.tests.rebates_targets_helpers import contract, payment, rule

pytestmark = pytest.mark.django_db
YEAR = 2025


def body(response: Any) -> Any:
    return json.loads(response.content.decode())


@pytest.fixture
def dealer(org: Any, account_factory: Any) -> Any:
    account = account_factory(org.salesperson, name="杭州顺达贸易有限公司", is_distributor=True)
    payment(contract(account, org.salesperson), "1234567.89", dt.date(YEAR, 6, 1))
    return account


def test_rules_are_created_once_per_idempotency_key(org: Any, api: Any) -> None:
    manager = api(org.manager)
    payload = {"name": "年度返利", "year": YEAR, "tiers": [{"from": 0, "rate": 1}, {"from": 1000000, "rate": 2}],
               "target": 2500000, "target_rate": 0.5, "points_per_10k": 1}
    first = manager.post("/api/v1/rebate-rules", payload, HTTP_IDEMPOTENCY_KEY="rule-1")
    again = manager.post("/api/v1/rebate-rules", payload, HTTP_IDEMPOTENCY_KEY="rule-1")
    assert first.status_code == 201 and again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert RebateRule.objects.count() == 1 and body(first)["tiers"][1] == {"from": "1000000.00", "rate": "2.00"}
    assert api(org.salesperson).post("/api/v1/rebate-rules", payload).status_code == 403
    assert body(api(org.salesperson).get("/api/v1/rebate-rules"))[0]["name"] == "年度返利"


def test_bad_rules_are_422_and_stale_edits_409(org: Any, api: Any) -> None:
    manager = api(org.manager)
    bad = manager.post("/api/v1/rebate-rules", {"name": "错", "year": YEAR, "tiers": [{"from": 5, "rate": 1},
                                                                                     {"from": 1, "rate": 2}]},
                       HTTP_ACCEPT_LANGUAGE="en")
    assert bad.status_code == 422 and "tiers" in body(bad)["errors"]
    odd = manager.post("/api/v1/rebate-rules", {"name": "错", "year": YEAR, "tiers": [{"from": 0, "pct": 1}]})
    assert odd.status_code == 422
    assert not RebateRule.objects.exists()
    made = rule(YEAR)
    assert manager.patch(f"/api/v1/rebate-rules/{made.pk}", {"version": 1, "active": False}).status_code == 200
    assert manager.patch(f"/api/v1/rebate-rules/{made.pk}", {"version": 1, "name": "晚了"}).status_code == 409
    assert manager.delete(f"/api/v1/rebate-rules/{made.pk}?version=2").status_code == 204


def test_deductions_through_the_api(org: Any, api: Any, dealer: Any, account_factory: Any) -> None:
    manager = api(org.manager)
    made = manager.post("/api/v1/rebate-deductions", {"account": dealer.pk, "year": YEAR, "amount": "500",
                                                      "reason": "窜货到苏州", "occurred_on": "2025-04-02"})
    assert made.status_code == 201 and body(made)["account_name"] == "杭州顺达贸易有限公司"
    assert api(org.south_manager).post("/api/v1/rebate-deductions", {
        "account": dealer.pk, "year": YEAR, "amount": "1", "reason": "x"}).status_code == 404
    plain = account_factory(org.salesperson)
    assert manager.post("/api/v1/rebate-deductions", {"account": plain.pk, "year": YEAR, "amount": "1",
                                                      "reason": "x"}).status_code == 422
    assert api(org.salesperson).post("/api/v1/rebate-deductions", {
        "account": dealer.pk, "year": YEAR, "amount": "1", "reason": "x"}).status_code == 403
    pk = body(made)["id"]
    assert [d["id"] for d in body(api(org.salesperson).get("/api/v1/rebate-deductions"))["results"]] == [pk]
    assert body(api(org.teammate).get("/api/v1/rebate-deductions"))["results"] == []
    assert api(org.outsider).get(f"/api/v1/rebate-deductions/{pk}").status_code == 404
    assert manager.patch(f"/api/v1/rebate-deductions/{pk}", {"version": 1, "amount": "600"}).status_code == 200
    assert manager.patch(f"/api/v1/rebate-deductions/{pk}", {"version": 1, "amount": "700"}).status_code == 409
    assert manager.delete(f"/api/v1/rebate-deductions/{pk}?version=2").status_code == 204
    assert not RebateDeduction.objects.exists()


def test_compute_get_and_confirm_statements(org: Any, api: Any, dealer: Any, account_factory: Any) -> None:
    rule(YEAR)
    account_factory(org.teammate, is_distributor=True)
    sales = api(org.salesperson)
    computed = sales.post("/api/v1/rebate-statements/compute", {"year": YEAR})
    assert computed.status_code == 200
    data = body(computed)
    assert [s["account"] for s in data["statements"]] == [dealer.pk] and data["skipped"] == []
    statement = data["statements"][0]
    assert (statement["volume"], statement["rebate"], statement["net"]) == ("1234567.89", "24691.36", "24691.36")
    assert statement["details"]["tiers"][1]["applied"] is True
    pk = statement["id"]
    assert body(sales.get("/api/v1/rebate-statements?year=2025"))["results"][0]["id"] == pk
    assert api(org.outsider).get(f"/api/v1/rebate-statements/{pk}").status_code == 404
    assert api(org.outsider).post("/api/v1/rebate-statements/compute", {"year": YEAR,
                                                                        "account": dealer.pk}).status_code == 404
    assert sales.post(f"/api/v1/rebate-statements/{pk}/confirm", {"version": 1}).status_code == 403
    manager = api(org.manager)
    assert manager.post(f"/api/v1/rebate-statements/{pk}/confirm", {"version": 0}).status_code == 409
    confirmed = manager.post(f"/api/v1/rebate-statements/{pk}/confirm", {"version": 1})
    assert confirmed.status_code == 200 and body(confirmed)["state"] == "confirmed"
    again = manager.post("/api/v1/rebate-statements/compute", {"year": YEAR, "account": dealer.pk},
                         HTTP_ACCEPT_LANGUAGE="en")
    assert again.status_code == 422 and "confirmed" in json.dumps(body(again)["errors"])
    assert RebateStatement.objects.get().state == RebateStatement.State.CONFIRMED


def test_statement_documents(org: Any, api: Any, dealer: Any) -> None:
    rule(YEAR)
    statement = services.rebate_compute(actor=org.manager, year=YEAR, account=dealer).statements[0]
    sales = api(org.salesperson)
    xlsx = sales.get(f"/api/v1/rebate-statements/{statement.pk}/xlsx")
    pdf = sales.get(f"/api/v1/rebate-statements/{statement.pk}/pdf")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert api(org.teammate).get(f"/api/v1/rebate-statements/{statement.pk}/pdf").status_code == 404
