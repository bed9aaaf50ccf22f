"""Sales events on the account timeline: which ones, what they say, and who sees them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from guanxi.customers.selectors.timeline import account_timeline
from guanxi.sales.models import Opportunity, PaymentPlan
from guanxi.sales.selectors.account import timeline_rows
from guanxi.sales.tests.test_account_tab import deal, english, order, sales_story  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def sales_items(user: Any, account: Any) -> list[Any]:
    return [i for i in account_timeline(user, account)
            if i.kind in {"deal", "quote", "order", "contract", "payment"}]


def titles(items: list[Any]) -> list[str]:
    return [i.title for i in items]


def test_timeline_shows_every_kind_of_sales_event_for_the_manager(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    story = sales_story(org, account)
    items = sales_items(org.manager, account)
    text = "\n".join(f"{i.title} | {i.detail}" for i in items)
    for expected in ("Deal created: 我的数控机床项目", "Deal created: 同事的伺服电机项目", "Deal won: 去年的注塑机订单",
                     "Quote sent: 我的报价单", "Quote sent: 同事的报价单",
                     f"Order {story['o_mine'].code} confirmed", f"Order {story['o_theirs'].code} confirmed",
                     f"Contract signed: {story['c_mine'].code} 我的供货合同", "Payment received: ¥10,000.00"):
        assert expected in text, expected
    assert "¥120,000.00" in text and "首批" in text
    # Draft orders are not events; unsigned contracts neither.
    assert sum(1 for i in items if i.kind == "order") == 2
    # The payment is dated on its day, newest first across the whole timeline.
    payment = next(i for i in items if i.kind == "payment")
    assert timezone.localtime(payment.at).date() == timezone.localdate() - dt.timedelta(days=25)
    everything = account_timeline(org.manager, account)
    assert [i.at for i in everything] == sorted((i.at for i in everything), reverse=True)


def test_salesperson_sees_only_own_sales_events(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    story = sales_story(org, account)
    text = "\n".join(titles(sales_items(org.salesperson, account)))
    assert "我的数控机床项目" in text and "我的报价单" in text and story["o_mine"].code in text
    assert "同事" not in text and story["o_theirs"].code not in text
    assert story["c_theirs"].code not in text


def test_lost_deal_says_why(org: Any, account_factory: Any) -> None:
    from guanxi.sales.models import LossReason

    account = account_factory(org.salesperson)
    reason = LossReason.objects.create(name="价格偏高")
    deal(account, org.salesperson, "丢掉的项目", stage="输单", state="lost", loss_reason=reason,
         closed_on=timezone.localdate())
    lost = [i for i in sales_items(org.salesperson, account) if i.title == "Deal lost: 丢掉的项目"]
    assert len(lost) == 1 and "价格偏高" in lost[0].detail


def test_deleted_records_and_other_accounts_stay_off(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    other = account_factory(org.salesperson)
    gone = deal(account, org.salesperson, "删除的项目")
    Opportunity.all_objects.filter(pk=gone.pk).update(deleted_at=timezone.now())
    order(other, org.salesperson, order_date=timezone.localdate())
    assert sales_items(org.salesperson, account) == []


def test_the_newest_events_of_all_kinds_come_in_one_query(org: Any, account_factory: Any,
                                                       django_assert_num_queries: Any) -> None:
    account = account_factory(org.salesperson)
    sales_story(org, account)
    for i in range(8):
        order(account, org.salesperson, order_date=timezone.localdate() - dt.timedelta(days=100 + i))
    timeline_rows(org.manager, account, 3)  # the manager's reach is worked out once per request
    with django_assert_num_queries(1):
        rows = timeline_rows(org.manager, account, 11)
    assert len(rows) == 11  # the story's eleven events; the old orders come after them
    moments = [row[2] for row in rows]
    assert moments == sorted(moments, reverse=True)
    kinds = [row[0] for row in rows]
    # The newest first across kinds: the deals created today and the latest quote, not the
    # orders of 100 days ago.
    assert kinds.count("deal_created") == 3 and kinds.count("quote_sent") == 2
    orders = [timezone.localtime(row[2]).date() for row in rows if row[0] == "order_confirmed"]
    assert timezone.localdate() - dt.timedelta(days=10) in orders
    assert timezone.localdate() - dt.timedelta(days=100) not in orders
    assert timeline_rows(org.manager, account, 12)[-1][0] == "order_confirmed"  # the newest old order
    # Each kind is read only up to the limit: one of each, newest.
    few = timeline_rows(org.manager, account, 1)
    assert len(few) == 1 and few[0][0] == "deal_created"


def test_timeline_links_to_the_records_when_their_pages_exist(org: Any, account_factory: Any) -> None:
    from django.urls import NoReverseMatch, reverse

    account = account_factory(org.salesperson)
    story = sales_story(org, account)
    items = sales_items(org.manager, account)
    try:
        expected = reverse("sales:contract-detail", args=[story["c_mine"].pk])
    except NoReverseMatch:
        expected = ""
    payment = next(i for i in items if i.kind == "payment")
    assert payment.url == expected
    assert PaymentPlan.objects.filter(contract=story["c_mine"]).count() == 2


def test_account_page_shows_the_sales_timeline(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    sales_story(org, account)
    # The Timeline tab, which the account page loads when it is opened.
    body = login(org.salesperson).get(f"/accounts/{account.pk}/timeline/", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-kind="contract"' in body and 'data-kind="payment"' in body and "Deal won: 去年的注塑机订单" in body
    assert "同事的报价单" not in body
