"""The rating tab in a real browser: a manager scores the hand factors, re-rates twice, and the
relationship curve (plotly) draws both ratings, with no console error and no CSP violation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.helpers import expect

pytestmark = pytest.mark.browser


def test_manager_scores_factors_rerates_twice_and_sees_the_curve(browser_org: Any, session: Any,
                                                               account_factory: Any) -> None:
    from guanxi.customers.models import AccountRating, RatingFactor

    account = account_factory(owner=browser_org.salesperson, name="杭州西湖茶叶有限公司")
    RatingFactor.objects.filter(method="rule").update(active=False)  # the hand scores decide the grade
    page = session.page
    session.login("manager")
    session.goto(f"/accounts/{account.pk}/")
    page.locator("[data-testid=rating-tab]").click()
    expect(page.locator("[data-testid=rating-grade-none]")).to_be_visible()

    for key in ("contribution", "law_abiding", "integrity", "influence"):
        page.fill(f"#factor-{key}", "95")
    session.submit("[data-testid=save-factors]")
    # Back on the Rating tab (?tab=rating), which opened by itself.
    expect(page.locator("#factor-integrity")).to_be_visible()
    page.fill("[data-testid=rerate-form] input[name=note]", "年度评审")
    session.submit("[data-testid=rerate-now]")
    expect(page.locator("[data-testid=rating-grade]")).to_have_text("A")
    expect(page.locator("[data-testid=service-policy]")).to_contain_text("重点客户")
    expect(page.locator("[data-testid=header-grade]")).to_have_text("A")

    for key in ("contribution", "law_abiding", "integrity", "influence"):
        page.fill(f"#factor-{key}", "55")
    session.submit("[data-testid=save-factors]")
    page.fill("[data-testid=rerate-form] input[name=note]", "拖欠货款")
    session.submit("[data-testid=rerate-now]")
    expect(page.locator("[data-testid=rating-grade]")).to_have_text("C")

    expect(page.locator("[data-testid=ratings] tbody tr")).to_have_count(2)
    expect(page.locator("[data-testid=ratings] tbody tr").first).to_contain_text("拖欠货款")
    curve = page.locator("#relationship-curve.js-plotly-plot")
    expect(curve).to_be_visible()
    # The score line holds one point per rating.
    expect(curve.locator(".scatterlayer .trace").first.locator(".point")).to_have_count(2)
    assert AccountRating.objects.filter(account=account).count() == 2

    assert session.console_errors == [], session.console_errors
    assert session.csp_violations() == []
    assert session.failed_requests == [], session.failed_requests
