"""The forecast page and `/api/v1/forecast/*` (R11.3): the weighted pipeline by month, team and
person over the deals one sees; the forecast of orders by product and region for managers
only; the page's query budget."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone, translation

from guanxi.core.models import User
from guanxi.sales.models import Opportunity, Pipeline, Product, SalesMonth, Stage
from guanxi.sales.selectors import forecast as reads
from guanxi.sales.selectors.forecast_model import next_month
from guanxi.sales.tests.rebates_targets_helpers import code
from guanxi.sales.tests.test_forecast_model import seasonal

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture(autouse=True)
def english(org: Any) -> Any:
    cache.clear()
    User.objects.update(language="en")
    with translation.override("en"):
        yield


def body(response: Any) -> Any:
    return json.loads(response.content.decode())


def this_month(n: int = 0) -> dt.date:
    return next_month(timezone.localdate().replace(day=1), n)


@pytest.fixture
def deals(org: Any, account_factory: Any) -> dict[str, Opportunity]:
    """Open deals: the salesperson's 100,000 at 40 % next month and 50,000 at 10 % two months on;
    the teammate's 200,000 at 50 % next month; the outsider's 300,000 at 90 %; a won deal."""
    pipe = Pipeline.objects.create(name="项目", is_default=True)
    open_stage = Stage.objects.create(pipeline=pipe, name="方案", probability=40)
    won = Stage.objects.create(pipeline=pipe, name="赢单", kind="won", position=9)

    def deal(owner: Any, amount: str, probability: int, month: int, **fields: Any) -> Opportunity:
        return Opportunity.objects.create(
            code=code("SJ"), name=f"{owner.name}的项目", account=account_factory(owner), pipeline=pipe,
            stage=fields.pop("stage", open_stage), amount=D(amount), probability=probability,
            expected_close=this_month(month) + dt.timedelta(days=9), owner=owner, department=owner.department,
            **fields)

    return {"mine": deal(org.salesperson, "100000", 40, 1), "later": deal(org.salesperson, "50000", 10, 2),
            "theirs": deal(org.teammate, "200000", 50, 1), "south": deal(org.outsider, "300000", 90, 1),
            "won": deal(org.salesperson, "999999", 100, 1, stage=won, state="won")}


@pytest.fixture
def history(org: Any) -> dict[str, Product]:
    """Three years of monthly orders up to last month: a seasonal product in 浙江 and 江苏, and a
    young product with eight months only."""
    pump = Product.objects.create(code="BP-1", name="离心泵", model="IS80")
    valve = Product.objects.create(code="FM-2", name="闸阀", model="Z41H")
    last = this_month(-1)
    rows = []
    for month, amount in seasonal(36, start=next_month(last, -35)):
        rows.append(SalesMonth(month=month, product=pump, province="浙江", amount=amount, orders=3))
        rows.append(SalesMonth(month=month, product=pump, province="江苏", amount=amount / 2, orders=1))
    for n in range(8):
        rows.append(SalesMonth(month=next_month(last, -n), product=valve, province="", amount=D("1000"), orders=1))
    rows.append(SalesMonth(month=this_month(), product=pump, province="浙江", amount=D("1"), orders=1))
    SalesMonth.objects.bulk_create(rows)
    return {"pump": pump, "valve": valve}


def test_the_weighted_pipeline_by_month_person_and_team(org: Any, deals: Any) -> None:
    result = reads.pipeline_forecast(org.manager, months=6)
    assert result.months == [this_month(n) for n in range(6)]
    people = {line.key: line.cells for line in result.people}
    assert people[org.salesperson.pk][1:3] == [D("40000.00"), D("5000.00")]
    assert people[org.teammate.pk][1] == D("100000.00") and org.outsider.pk not in people
    teams = {line.label: line.weighted for line in result.teams}
    assert teams == {"华东一组": D("145000.00")}
    assert result.totals[1] == D("140000.00") and result.weighted == D("145000.00")
    mine = reads.pipeline_forecast(org.salesperson, months=6)
    assert [line.key for line in mine.people] == [org.salesperson.pk] and mine.weighted == D("45000.00")


def test_a_salesperson_sees_their_pipeline_and_no_company_orders(org: Any, login: Any, api: Any, deals: Any,
                                                                history: Any) -> None:
    page = login(org.salesperson).get("/sales/forecast/")
    text = page.content.decode()
    assert page.status_code == 200 and f'data-person="{org.salesperson.pk}"' in text
    assert f'data-person="{org.teammate.pk}"' not in text and "¥45,000.00" in text
    assert 'data-testid="orders-for-managers"' in text and 'data-testid="orders-chart"' not in text
    assert api(org.salesperson).get("/api/v1/forecast/orders").status_code == 403
    assert api(org.service).get("/api/v1/forecast/pipeline").status_code == 403
    assert login(org.service).get("/sales/forecast/").status_code == 403


def test_a_manager_sees_the_forecast_of_orders_by_product_and_region(org: Any, login: Any, deals: Any,
                                                                     history: Any,
                                                                     django_assert_max_num_queries: Any) -> None:
    client = login(org.manager)
    client.get("/sales/forecast/")  # fits and caches the models of the day, and the rollup's reads
    with django_assert_max_num_queries(10):  # the rollup's reads are one query (its generation) when warm
        page = client.get("/sales/forecast/")
    text = page.content.decode()
    assert page.status_code == 200 and 'data-testid="orders-chart"' in text
    assert "Holt-Winters: trend and yearly seasonality" in text
    assert "离心泵 IS80" in text and "闸阀 Z41H" in text and "浙江" in text and "No province" in text
    pump = client.get(f"/sales/forecast/?product={history['pump'].pk}&province=江苏").content.decode()
    assert 'data-testid="mae"' in pump
    young = client.get(f"/sales/forecast/?product={history['valve'].pk}").content.decode()
    assert "Not enough history" in young and 'data-testid="not-enough"' in young


def test_with_no_deals_and_no_orders_the_page_says_so(org: Any, login: Any, api: Any) -> None:
    text = login(org.manager).get("/sales/forecast/").content.decode()
    assert "No open deal is expected to close in these months." in text
    assert 'data-testid="not-enough"' in text and "No order history yet." in text
    data = body(api(org.manager).get("/api/v1/forecast/orders"))
    assert (data["method"], data["months"], data["forecast"], data["mae"]) == ("none", 0, [], None)


def test_the_orders_api(org: Any, api: Any, history: Any) -> None:
    manager = api(org.manager)
    everything = body(manager.get("/api/v1/forecast/orders"))
    assert everything["method"] == "holt_winters" and everything["months"] == 36
    assert len(everything["holdout"]) == 6 and len(everything["forecast"]) == 6
    assert everything["forecast"][0]["month"] == this_month().isoformat()
    assert everything["mae"] < everything["baseline_mae"]
    jiangsu = body(manager.get(f"/api/v1/forecast/orders?product={history['pump'].pk}&province=江苏"))
    assert jiangsu["history"][-1]["amount"] == pytest.approx((everything["history"][-1]["amount"] - 1000) / 3, abs=0.02)
    no_province = body(manager.get("/api/v1/forecast/orders?province=-"))
    assert (no_province["months"], no_province["method"]) == (8, "none")
    assert manager.get("/api/v1/forecast/orders?product=x").status_code == 422
    assert body(api(org.gm).get("/api/v1/forecast/orders"))["method"] == "holt_winters"


def test_the_pipeline_api(org: Any, api: Any, deals: Any) -> None:
    data = body(api(org.manager).get("/api/v1/forecast/pipeline?months=3"))
    assert len(data["months"]) == 3 and data["weighted"] == "145000.00" and data["count"] == 3
    person = next(p for p in data["by_person"] if p["id"] == org.salesperson.pk)
    assert [D(m["weighted"]) for m in person["months"]] == [D(0), D("40000"), D("5000")]
    assert [t["name"] for t in data["by_team"]] == ["华东一组"]
    assert body(api(org.outsider).get("/api/v1/forecast/pipeline"))["weighted"] == "270000.00"
