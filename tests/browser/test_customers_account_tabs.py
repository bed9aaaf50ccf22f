"""The account 360 page's tabs that load after it (Timeline, Rating, Ownership, Files, History) in
a real browser: each fills in when opened, by mouse or keyboard, with no console error, no CSP
violation and no failed request; without JavaScript every tab is a link to a page of its own."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.helpers import expect

pytestmark = pytest.mark.browser


def _story(org: Any, account_factory: Any) -> Any:
    from guanxi.activities import services as activities
    from guanxi.customers import services
    from guanxi.customers.models import AccountRating

    account = account_factory(owner=org.salesperson, name="杭州西湖茶叶有限公司")
    activities.interaction_create(actor=org.salesperson, account=account, kind="visit", summary="拜访王总，谈秋季订货")
    AccountRating.objects.create(account=account, score=72, grade="B", note="年度评审")
    services.contact_create(actor=org.salesperson, account=account, name="王总", mobile="13800001234")
    return account


def test_each_later_tab_fills_in_when_opened_by_mouse_or_keyboard(browser_org: Any, session: Any,
                                                                  account_factory: Any) -> None:
    account = _story(browser_org, account_factory)
    page = session.page
    session.login("manager")
    session.goto(f"/accounts/{account.pk}/")
    expect(page.locator("[data-testid=account-profile]")).to_be_visible()
    assert page.locator("[data-testid=timeline]").count() == 0  # not part of the page itself

    page.locator("[data-testid=timeline-tab]").click()
    expect(page.locator("#tab-timeline [data-testid=timeline]")).to_contain_text("拜访王总")
    assert page.url.endswith(f"/accounts/{account.pk}/"), page.url  # the tab opened in place

    page.locator("[data-testid=history-tab]").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#tab-history [data-testid=history] tbody tr").first).to_be_visible()
    page.locator("[data-testid=ownership-tab]").click()
    expect(page.locator("#tab-ownership [data-testid=reassign-form]")).to_be_visible()
    page.locator("[data-testid=files-tab]").click()
    expect(page.locator("#tab-files [data-testid=attachment-form]")).to_be_visible()
    page.locator("[data-testid=rating-tab]").click()
    expect(page.locator("#tab-rating [data-testid=ratings]")).to_contain_text("年度评审")
    expect(page.locator("#relationship-curve.js-plotly-plot")).to_be_visible()

    assert session.console_errors == [], session.console_errors
    assert session.csp_violations() == []
    assert session.failed_requests == [], session.failed_requests


def test_without_javascript_every_later_tab_is_a_page_of_its_own(browser_org: Any, session_factory: Any,
                                                                 account_factory: Any) -> None:
    account = _story(browser_org, account_factory)
    session = session_factory(java_script_enabled=False)
    page = session.page
    page.goto("/login/")
    page.fill("input[name=username]", "manager")
    from conftest import PASSWORD

    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("form:has(input[name=password]) button[type=submit]")
    page.goto(f"/accounts/{account.pk}/")
    expect(page.locator("[data-testid=contacts]")).to_contain_text("王总")  # every pane shows, one below the other
    with page.expect_navigation():
        page.locator("[data-testid=timeline-tab]").click()
    assert page.url.endswith(f"/accounts/{account.pk}/timeline/"), page.url
    expect(page.locator("[data-testid=timeline]")).to_contain_text("拜访王总")
    with page.expect_navigation():
        page.locator("[data-testid=back-to-account]").click()
    # The plain link in the pane leads to the same page.
    with page.expect_navigation():
        page.locator("#tab-history a[href$='/history/']").click()
    expect(page.locator("[data-testid=history]")).to_be_visible()
    assert session.failed_requests == [], session.failed_requests
