"""The business check in a real browser: a manager opens it from the menu, picks a salesperson
and a period, and sees the figures and both charts (plotly, no CDN) with no console error and no
CSP violation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from tests.browser.helpers import expect

pytestmark = pytest.mark.browser


def test_manager_checks_a_salesperson_over_a_period_and_sees_the_charts(browser_org: Any, session: Any,
                                                                        account_factory: Any) -> None:
    from guanxi.activities.models import FollowUp, Interaction
    from guanxi.customers.models import AccountRating

    org = browser_org
    now = timezone.now()
    tea = account_factory(org.salesperson, name="杭州西湖茶叶有限公司", grade="A")
    port = account_factory(org.salesperson, name="宁波港通物流有限公司", grade="B")
    account_factory(org.teammate, name="无锡华盛电气有限公司", grade="C")
    for days, kind, account in ((1, "visit", tea), (2, "call", tea), (3, "call", port), (20, "meeting", port)):
        Interaction.objects.create(account=account, owner=org.salesperson, kind=kind, summary="谈了下季度订单",
                                   occurred_at=now - dt.timedelta(days=days))
    FollowUp.objects.create(account=port, owner=org.salesperson, title="发送报价单", source="cadence",
                            due_at=now - dt.timedelta(days=2))
    AccountRating.objects.create(account=tea, grade="A", previous_grade="B", score=88, note="签订年度协议",
                                 rated_at=now - dt.timedelta(days=4))

    page = session.page
    session.login("manager")
    session.goto("/accounts/")
    with page.expect_navigation():
        page.locator("[data-testid=main-nav] a[href='/activities/check/']").click()
    # The team first: one row per salesperson.
    expect(page.locator("[data-testid=people-table] tbody tr")).to_have_count(2)

    page.select_option("[data-testid=check-who]", f"u{org.salesperson.pk}")
    session.submit("[data-testid=preset-7]")
    expect(page.locator("[data-testid=check-subject]")).to_have_text(org.salesperson.name)
    expect(page.locator("[data-testid=preset-7]")).to_have_class("btn btn-outline-secondary active")
    expect(page.locator("[data-testid=fig-accounts]")).to_have_text("2")
    expect(page.locator("[data-testid=fig-contacts]")).to_have_text("3")
    expect(page.locator("[data-testid=fig-overdue]")).to_have_text("1")
    expect(page.locator("[data-testid=fig-up]")).to_contain_text("1")
    expect(page.locator("[data-testid=overdue-table]")).to_contain_text("宁波港通物流有限公司")
    expect(page.locator("[data-testid=rating-moves]")).to_contain_text("签订年度协议")
    expect(page.locator("[data-testid=people-table]")).to_have_count(0)

    chart = page.locator("#check-contacts-chart.js-plotly-plot")
    expect(chart).to_be_visible()
    # Seven days, one stacked bar trace per kind: what plotly drew adds up to the contacts made.
    expect(chart.locator(".barlayer .trace")).to_have_count(6)
    drawn = page.evaluate("Object.fromEntries(document.getElementById('check-contacts-chart').data"
                          ".map(t => [t.name, t.y.reduce((a, b) => a + b, 0)]))")
    assert sum(drawn.values()) == 3 and sorted(n for n in drawn.values() if n) == [1, 2], drawn
    assert len(page.evaluate("document.getElementById('check-contacts-chart').data[0].x")) == 7
    expect(page.locator("#check-grades-chart.js-plotly-plot")).to_be_visible()

    # A custom period that reaches the meeting twenty days ago.
    start = (timezone.localdate() - dt.timedelta(days=29)).isoformat()
    page.fill("[data-testid=check-start]", start)
    page.fill("[data-testid=check-end]", timezone.localdate().isoformat())
    session.submit("[data-testid=check-show]")
    expect(page.locator("[data-testid=fig-contacts]")).to_have_text("4")
    expect(page.locator("[data-testid=check-period]")).to_contain_text(start)
    expect(page.locator("#check-contacts-chart.js-plotly-plot")).to_be_visible()

    assert session.console_errors == [], session.console_errors
    assert session.csp_violations() == []
    assert session.failed_requests == [], session.failed_requests
