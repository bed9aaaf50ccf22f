"""Target pages and `/api/v1/targets`, `/api/v1/performance` (R11.2): list with attainment, set,
change, remove; rights (403), hidden (404), bad input (422, nothing changed), stale (409),
Idempotency-Key."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation

from guanxi.core.models import User
from guanxi.sales.models import SalesTarget
from guanxi.sales.services import targets as services
from guanxi.sales.tests.rebates_targets_helpers import order

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture(autouse=True)
def english(org: Any) -> Any:
    User.objects.update(language="en")
    with translation.override("en"):
        yield


def body(response: Any) -> Any:
    return json.loads(response.content.decode())


def make(actor: Any, holder: dict[str, Any], amount: str = "500000", metric: str = "orders") -> SalesTarget:
    return services.target_create(actor=actor, metric=metric, period_start="2025-03-01", period_end="2025-03-31",
                                  amount=amount, **holder)


# --- Pages -----------------------------------------------------------------------------------------
def test_the_list_shows_attainment_to_managers_only(org: Any, login: Any, account_factory: Any) -> None:
    order(account_factory(org.salesperson), org.salesperson, "370000", dt.date(2025, 3, 3))
    goal = make(org.manager, {"user": org.salesperson})
    assert login(org.salesperson).get("/sales/targets/").status_code == 403
    page = login(org.manager).get("/sales/targets/?metric=orders").content.decode()
    assert f'data-testid="target-{goal.pk}"' in page and "¥370,000.00" in page and "74.0%" in page
    assert f'data-testid="target-{goal.pk}"' not in login(org.south_manager).get("/sales/targets/").content.decode()


def test_a_manager_sets_a_target_from_the_form(org: Any, login: Any) -> None:
    client = login(org.manager)
    form = client.get("/sales/targets/new/").content.decode()
    assert f'value="u:{org.salesperson.pk}"' in form and f'value="u:{org.outsider.pk}"' not in form
    assert f'value="t:{org.team.pk}"' in form and f'value="d:{org.east_sub.pk}"' in form
    response = client.post("/sales/targets/new/", {"holder": f"u:{org.salesperson.pk}", "metric": "receipts",
                                                   "period_start": "2025-01-01", "period_end": "2025-03-31",
                                                   "amount": "900,000", "notes": "一季度"})
    assert response.status_code == 302
    made = SalesTarget.objects.get()
    assert (made.user, made.metric, made.amount) == (org.salesperson, "receipts", D("900000.00"))


def test_an_overlapping_target_is_a_message_and_nothing_saved(org: Any, login: Any) -> None:
    make(org.manager, {"user": org.salesperson})
    response = login(org.manager).post("/sales/targets/new/", {
        "holder": f"u:{org.salesperson.pk}", "metric": "orders", "period_start": "2025-03-15",
        "period_end": "2025-04-15", "amount": "1"})
    assert response.status_code == 422 and "may not overlap" in response.content.decode()
    hidden = login(org.manager).post("/sales/targets/new/", {
        "holder": f"u:{org.outsider.pk}", "metric": "orders", "period_start": "2025-03-01",
        "period_end": "2025-03-31", "amount": "1"})
    assert hidden.status_code == 422
    assert SalesTarget.objects.count() == 1


def test_edit_and_remove_from_the_pages(org: Any, login: Any) -> None:
    goal = make(org.manager, {"user": org.salesperson})
    client = login(org.manager)
    assert login(org.south_manager).get(f"/sales/targets/{goal.pk}/edit/").status_code == 404
    stale = client.post(f"/sales/targets/{goal.pk}/edit/", {"version": "0", "metric": "orders",
                                                             "period_start": "2025-03-01",
                                                             "period_end": "2025-03-31", "amount": "1"})
    assert stale.status_code == 409
    saved = client.post(f"/sales/targets/{goal.pk}/edit/", {"version": "1", "metric": "orders",
                                                             "period_start": "2025-03-01",
                                                             "period_end": "2025-03-31", "amount": "650000"})
    assert saved.status_code == 302
    goal.refresh_from_db()
    assert goal.amount == D("650000.00")
    assert client.post(f"/sales/targets/{goal.pk}/delete/", {"version": "2"}).status_code == 302
    assert not SalesTarget.objects.exists()


# --- API -------------------------------------------------------------------------------------------
def test_targets_api(org: Any, api: Any, account_factory: Any) -> None:
    order(account_factory(org.salesperson), org.salesperson, "250000", dt.date(2025, 3, 3))
    manager = api(org.manager)
    payload = {"user": org.salesperson.pk, "metric": "orders", "period_start": "2025-03-01",
               "period_end": "2025-03-31", "amount": "500000"}
    first = manager.post("/api/v1/targets", payload, HTTP_IDEMPOTENCY_KEY="target-1")
    again = manager.post("/api/v1/targets", payload, HTTP_IDEMPOTENCY_KEY="target-1")
    assert first.status_code == 201 and again.status_code == 201 and SalesTarget.objects.count() == 1
    data = body(first)
    assert (data["actual"], data["attainment"], data["holder"]) == ("250000.00", "50.0", "王伟")
    overlap = manager.post("/api/v1/targets", {**payload, "period_start": "2025-03-31", "period_end": "2025-04-30"})
    assert overlap.status_code == 422 and "period_start" in body(overlap)["errors"]
    assert manager.post("/api/v1/targets", {**payload, "user": None}).status_code == 422
    assert api(org.salesperson).post("/api/v1/targets", payload).status_code == 403
    mine = body(api(org.salesperson).get("/api/v1/targets"))["results"]
    assert [(t["id"], t["attainment"]) for t in mine] == [(data["id"], "50.0")]
    assert body(api(org.outsider).get("/api/v1/targets"))["results"] == []
    assert api(org.outsider).get(f"/api/v1/targets/{data['id']}").status_code == 404
    pk = data["id"]
    assert manager.patch(f"/api/v1/targets/{pk}", {"version": 1, "amount": "400000"}).status_code == 200
    assert body(manager.get(f"/api/v1/targets/{pk}"))["attainment"] == "62.5"
    assert manager.patch(f"/api/v1/targets/{pk}", {"version": 1, "amount": "1"}).status_code == 409
    assert manager.patch(f"/api/v1/targets/{pk}", {"version": 2, "user": org.teammate.pk}).status_code == 422
    assert manager.delete(f"/api/v1/targets/{pk}?version=2").status_code == 204
    assert not SalesTarget.objects.exists()


def test_performance_api(org: Any, api: Any, account_factory: Any) -> None:
    order(account_factory(org.teammate), org.teammate, "120000", dt.date(2025, 3, 3))
    data = body(api(org.manager).get("/api/v1/performance?start=2025-03-01&end=2025-03-31"))
    people = {p["user"]: p for p in data["people"]}
    assert set(people) == {org.salesperson.pk, org.teammate.pk, org.sub_sales.pk, org.manager.pk}
    assert people[org.teammate.pk]["targets"]["orders"] == {"target": None, "actual": "120000.00",
                                                             "attainment": None}
    assert data["period"] == {"start": "2025-03-01", "end": "2025-03-31"}
    sales = api(org.salesperson)
    assert [p["user"] for p in body(sales.get("/api/v1/performance?period=year"))["people"]] == [org.salesperson.pk]
    assert sales.get(f"/api/v1/performance?user={org.teammate.pk}").status_code == 404
    assert sales.get("/api/v1/performance?start=2025-03-31&end=2025-03-01").status_code == 422
    assert api(org.service).get("/api/v1/performance").status_code == 403
