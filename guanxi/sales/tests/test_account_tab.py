"""The account 360 page's sales: the figures block, the lazy Sales tab, scoped per persona."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation

from guanxi.core.models import User
from guanxi.sales.models import (
    AccountSales,
    Contract,
    Opportunity,
    Order,
    Payment,
    PaymentPlan,
    Pipeline,
    Quote,
    Stage,
)
from guanxi.sales.services import totals

pytestmark = pytest.mark.django_db
_codes = itertools.count(1)


@pytest.fixture(autouse=True)
def english(org: Any) -> Any:
    User.objects.update(language="en")
    with translation.override("en"):
        yield


def code(prefix: str) -> str:
    return f"{prefix}-T-{next(_codes):06d}"


def pipeline() -> tuple[Pipeline, dict[str, Stage]]:
    pipe, _ = Pipeline.objects.get_or_create(name="标准销售流程", defaults={"is_default": True})
    stages = {}
    for position, (name, probability, kind) in enumerate(
            [("初步接洽", 10, "open"), ("方案报价", 50, "open"), ("赢单", 100, "won"), ("输单", 0, "lost")], 1):
        stages[name], _ = Stage.objects.get_or_create(pipeline=pipe, name=name, defaults={
            "probability": probability, "kind": kind, "position": position})
    return pipe, stages


def deal(account: Any, owner: Any, name: str, amount: str = "100000", stage: str = "方案报价",
         state: str = "open", **fields: Any) -> Opportunity:
    pipe, stages = pipeline()
    return Opportunity.objects.create(code=code("SJ"), name=name, account=account, pipeline=pipe,
                                      stage=stages[stage], state=state, amount=Decimal(amount),
                                      probability=stages[stage].probability, owner=owner,
                                      department=owner.department, **fields)


def quote(account: Any, owner: Any, title: str, total: str = "50000", **fields: Any) -> Quote:
    return Quote.objects.create(code=code("BJ"), title=title, subject=title, account=account, owner=owner,
                                department=owner.department, total=Decimal(total), **fields)


def order(account: Any, owner: Any, total: str = "30000", state: str = "confirmed", **fields: Any) -> Order:
    return Order.objects.create(code=code("DD"), account=account, owner=owner, department=owner.department,
                                total=Decimal(total), state=state, **fields)


def contract(account: Any, owner: Any, amount: str = "80000", **fields: Any) -> Contract:
    fields.setdefault("signed_on", timezone.localdate() - dt.timedelta(days=60))
    fields.setdefault("state", "active")
    return Contract.objects.create(code=code("HT"), title=fields.pop("title", "年度供货合同"), account=account,
                                   party_a=account.name, party_b="我方公司", amount=Decimal(amount), owner=owner,
                                   department=owner.department, **fields)


def receipt(plan: PaymentPlan, amount: str, on: dt.date | None = None) -> Payment:
    paid = Payment.objects.create(contract=plan.contract, plan=plan, account=plan.contract.account,
                                  amount=Decimal(amount), received_on=on or timezone.localdate())
    PaymentPlan.objects.filter(pk=plan.pk).update(received=plan.received + Decimal(amount))
    Contract.objects.filter(pk=plan.contract_id).update(received=plan.contract.received + Decimal(amount))
    return paid


def sales_story(org: Any, account: Any) -> dict[str, Any]:
    """The salesperson's and the teammate's deals, quotes, orders and a contract with an overdue plan."""
    today = timezone.localdate()
    mine = deal(account, org.salesperson, "我的数控机床项目", "120000", expected_close=today + dt.timedelta(days=20))
    theirs = deal(account, org.teammate, "同事的伺服电机项目", "90000")
    won = deal(account, org.salesperson, "去年的注塑机订单", "70000", stage="赢单", state="won",
               closed_on=today - dt.timedelta(days=5))
    q_mine = quote(account, org.salesperson, "我的报价单", sent_at=timezone.now() - dt.timedelta(days=3), state="sent")
    q_theirs = quote(account, org.teammate, "同事的报价单", sent_at=timezone.now() - dt.timedelta(days=2), state="sent")
    o_mine = order(account, org.salesperson, "30000", order_date=today - dt.timedelta(days=40), remarks="首批")
    o_theirs = order(account, org.teammate, "25000", order_date=today - dt.timedelta(days=10))
    order(account, org.salesperson, "999", state="draft")  # not counted, not on the timeline
    c_mine = contract(account, org.salesperson, "80000", order=o_mine, title="我的供货合同")
    plan_due = PaymentPlan.objects.create(contract=c_mine, position=1, description="预付款",
                                          due_on=today - dt.timedelta(days=30), amount=Decimal("30000"))
    PaymentPlan.objects.create(contract=c_mine, position=2, description="到货款",
                               due_on=today + dt.timedelta(days=30), amount=Decimal("50000"))
    paid = receipt(plan_due, "10000", today - dt.timedelta(days=25))
    c_theirs = contract(account, org.teammate, "20000", title="同事的合同")
    totals.refresh([account.pk])
    return {"mine": mine, "theirs": theirs, "won": won, "q_mine": q_mine, "q_theirs": q_theirs,
            "o_mine": o_mine, "o_theirs": o_theirs, "c_mine": c_mine, "c_theirs": c_theirs, "paid": paid}


def tab_url(account: Any) -> str:
    return reverse("sales:account-sales", args=[account.pk])


def count_ids(body: str, name: str) -> int:
    return body.count(f'data-testid="{name}"')


def test_salesperson_sees_only_own_records_on_the_tab(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    story = sales_story(org, account)
    body = login(org.salesperson).get(tab_url(account)).content.decode()
    assert "我的数控机床项目" in body and "同事的伺服电机项目" not in body
    assert "去年的注塑机订单" not in body  # the tab lists open deals only
    assert "我的报价单" in body and "同事的报价单" not in body
    assert story["o_mine"].code in body and story["o_theirs"].code not in body
    assert story["c_mine"].code in body and story["c_theirs"].code not in body
    assert count_ids(body, "account-deal-row") == 1 and count_ids(body, "account-quote-row") == 1
    assert count_ids(body, "account-order-row") == 2  # the confirmed one and the draft
    assert count_ids(body, "account-contract-row") == 1


def test_manager_and_gm_see_the_whole_team(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    story = sales_story(org, account)
    for who in (org.manager, org.gm):
        body = login(who).get(tab_url(account)).content.decode()
        assert "我的数控机床项目" in body and "同事的伺服电机项目" in body, who
        assert story["c_theirs"].code in body and story["o_theirs"].code in body
        assert count_ids(body, "account-deal-row") == 2 and count_ids(body, "account-quote-row") == 2


def test_the_south_manager_sees_the_account_through_a_deal_of_nobody_of_theirs(
        org: Any, login: Any, account_factory: Any) -> None:
    """A salesperson of another department who owns the account sees nothing of ours on it."""
    account = account_factory(org.outsider)
    deal(account, org.salesperson, "华东的项目")
    deal(account, org.outsider, "华南的项目")
    body = login(org.outsider).get(tab_url(account)).content.decode()
    assert "华南的项目" in body and "华东的项目" not in body
    body = login(org.south_manager).get(tab_url(account)).content.decode()
    assert "华南的项目" in body and "华东的项目" not in body


def test_hidden_account_is_404_and_no_right_is_403(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    sales_story(org, account)
    assert login(org.outsider).get(tab_url(account)).status_code == 404
    assert login(org.teammate).get(tab_url(account)).status_code == 404  # not shared with the teammate
    assert login(org.service).get(tab_url(account)).status_code == 403
    assert login(org.marketing).get(tab_url(account)).status_code == 403
    assert login(org.salesperson).get(reverse("sales:account-sales", args=[999_999])).status_code == 404


def test_contract_shows_received_outstanding_and_its_overdue_instalment(
        org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    story = sales_story(org, account)
    body = login(org.salesperson).get(tab_url(account)).content.decode()
    row = body[body.index(story["c_mine"].code):]
    row = row[:row.index("</tr>")]
    assert "¥10,000.00" in row  # received
    assert "¥70,000.00" in row  # outstanding
    assert 'data-testid="contract-overdue"' in row and "¥20,000.00" in row  # 30,000 due 30 days ago, 10,000 paid
    # A contract whose due instalments are paid is not flagged.
    PaymentPlan.objects.filter(contract=story["c_mine"]).update(received=Decimal("30000"))
    body = login(org.salesperson).get(tab_url(account)).content.decode()
    assert 'data-testid="contract-overdue"' not in body


FIGURE_IDS = {"fig-ordered": "orders_total", "fig-contracted": "contracts_total", "fig-received": "received_total",
              "fig-receivable": "receivable_total", "fig-overdue": "overdue_total",
              "fig-open-deals": "open_deals_total"}


def shown(body: str, testid: str) -> Decimal:
    match = re.search(rf'data-testid="{testid}">([^<]*)<', body)
    assert match, testid
    return Decimal(match.group(1).strip().lstrip("¥").replace(",", ""))


@pytest.mark.parametrize("who", ["salesperson", "manager", "gm"])
def test_page_figures_equal_the_recount(org: Any, login: Any, account_factory: Any, who: str) -> None:
    account = account_factory(org.salesperson)
    sales_story(org, account)
    expected = totals.figures(account.pk)
    assert expected["orders_total"] == Decimal("55000.00") and expected["overdue_total"] == Decimal("20000.00")
    body = login(getattr(org, who)).get(f"/accounts/{account.pk}/").content.decode()
    assert count_ids(body, "sales-figures") == 1 and count_ids(body, "sales-tab") == 1
    for testid, key in FIGURE_IDS.items():
        assert shown(body, testid) == expected[key], testid
    first, last = expected["first_order_on"], expected["last_order_on"]
    assert isinstance(first, dt.date) and isinstance(last, dt.date)
    assert f'data-testid="fig-first-order">{first:%Y-%m-%d}<' in body
    assert f'data-testid="fig-last-order">{last:%Y-%m-%d}<' in body
    assert "2 orders" in body


def test_figures_of_an_account_without_sales_are_zero_and_others_see_no_figures(
        org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    body = login(org.salesperson).get(f"/accounts/{account.pk}/").content.decode()
    assert not AccountSales.objects.filter(account=account).exists()
    for testid in FIGURE_IDS:
        assert shown(body, testid) == 0
    assert "fig-first-order" not in body
    # Service agents read their accounts but hold no sales rights: no tab, no figures.
    other = login(org.service).get(f"/accounts/{account_factory(org.service).pk}/")
    assert other.status_code == 200
    assert "sales-figures" not in other.content.decode() and "sales-tab" not in other.content.decode()


def test_tab_figures_equal_the_recount(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    sales_story(org, account)
    expected = totals.figures(account.pk)
    body = login(org.manager).get(tab_url(account)).content.decode()
    for key in ("orders_total", "contracts_total", "received_total", "receivable_total", "overdue_total",
                "open_deals_total"):
        assert f"¥{expected[key]:,.2f}" in body, key


def route(name: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


def test_create_links_follow_the_routes_and_rights(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    body = login(org.salesperson).get(tab_url(account)).content.decode()
    for testid, name in (("account-deal-new", "sales:opportunity-create"), ("account-quote-new", "sales:quote-create"),
                         ("account-order-new", "sales:order-create"),
                         ("account-contract-new", "sales:contract-create")):
        url = route(name)
        # Shown (with the account) exactly when the route exists: the salesperson holds every add right.
        assert (f'href="{url}?account={account.pk}" data-testid="{testid}"' in body) == bool(url), testid
        assert (testid in body) == bool(url), testid


def test_tab_costs_the_same_queries_however_many_records(org: Any, login: Any, account_factory: Any) -> None:
    quiet = account_factory(org.salesperson)
    busy = account_factory(org.salesperson)
    sales_story(org, busy)
    for i in range(25):  # more than a tab's rows of each kind
        order(busy, org.salesperson, str(1000 + i), order_date=timezone.localdate() - dt.timedelta(days=i))
        deal(busy, org.salesperson, f"项目{i}")
    client = login(org.manager)

    def count(account: Any) -> int:
        client.get(tab_url(account))
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(tab_url(account)).status_code == 200
        return len(ctx.captured_queries)

    assert count(busy) == count(quiet)
    body = client.get(tab_url(busy)).content.decode()
    assert count_ids(body, "account-order-row") == 20 and "Only the first rows are shown." in body


def test_page_pays_one_query_for_the_figures_and_its_timeline_one_for_the_sales_events(
        org: Any, login: Any, account_factory: Any) -> None:
    """The lists load with the tab; the page reads the figures row, its Timeline tab (loaded
    when opened) one UNION for the sales events."""
    account = account_factory(org.salesperson)
    sales_story(org, account)
    client = login(org.manager)
    client.get(f"/accounts/{account.pk}/")
    with CaptureQueriesContext(connection) as ctx:
        client.get(f"/accounts/{account.pk}/")
    sql = [q["sql"] for q in ctx.captured_queries]
    assert len([s for s in sql if 'FROM "sales_accountsales"' in s]) == 1
    assert not [s for s in sql if '"sales_' in s and 'FROM "sales_accountsales"' not in s]
    client.get(f"/accounts/{account.pk}/timeline/", HTTP_HX_REQUEST="true")
    with CaptureQueriesContext(connection) as ctx:
        client.get(f"/accounts/{account.pk}/timeline/", HTTP_HX_REQUEST="true")
    sales = [q["sql"] for q in ctx.captured_queries if '"sales_' in q["sql"]]
    assert len(sales) == 1 and "UNION" in sales[0], sales
