"""Care in a real browser on a phone-sized screen (R3.5, R3.6, R13.4): a birthday on the care
calendar, planned and marked sent (a care contact on the account), support recorded from the
account page's tab, and a private calendar feed created and copied — no CSP violation, no
console error."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest
from django.utils import timezone

from tests.browser.helpers import expect

pytestmark = pytest.mark.browser


def shot(page: Any, name: str) -> None:
    """Keep a screenshot when GUANXI_SCREENSHOTS names a directory (for reviewing the layout)."""
    folder = os.environ.get("GUANXI_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"care-{name}.png"), full_page=True)


def test_birthday_planned_sent_support_and_calendar_feed(browser_org: Any, session_factory: Any,
                                                        account_factory: Any) -> None:
    from guanxi.activities.models import CarePlan, Interaction, Support
    from guanxi.customers.models import Contact

    org = browser_org
    account = account_factory(org.salesperson, name="无锡华光机电有限公司")
    soon = timezone.localdate() + dt.timedelta(days=3)
    Contact.objects.create(account=account, name="钱经理", title="采购部经理", depth="friend",
                           birthday=dt.date(1978, soon.month, min(soon.day, 28)))
    staff = session_factory(viewport={"width": 390, "height": 844})
    page = staff.page
    staff.login("sales")

    staff.goto("/activities/care/?month=" + f"{soon:%Y-%m}")
    birthday = page.locator("[data-testid=care-event][data-kind=birthday]")
    expect(birthday).to_contain_text("钱经理")
    expect(birthday).to_contain_text("无锡华光机电有限公司")
    expect(birthday.locator("[data-testid=care-greeting]")).to_contain_text("钱经理")
    shot(page, "calendar")
    staff.submit(birthday.locator("[data-testid=care-plan]"))
    page.fill("input[name=gift]", "紫砂壶")
    page.fill("input[name=gift_value]", "680")
    staff.submit("[data-testid=care-plan-form] button[type=submit]")
    expect(page.locator("[data-testid=care-event][data-kind=birthday] [data-testid=care-plan-state]")).to_be_visible()
    staff.submit("[data-testid=care-event][data-kind=birthday] [data-testid=care-sent]")
    page.select_option("select[name=kind]", "visit")
    shot(page, "sent")
    staff.submit("[data-testid=care-sent-form] button[type=submit]")
    plan = CarePlan.objects.get()
    assert plan.state == "sent" and plan.gift == "紫砂壶"
    assert Interaction.objects.get(pk=plan.interaction_id).purpose == "care"

    # The account page: the care tab loads when opened; support is recorded from it.
    staff.goto(f"/accounts/{account.pk}/")
    page.click("[data-testid=care-tab]")
    expect(page.locator("[data-testid=care-plans]")).to_contain_text("紫砂壶")
    staff.submit("[data-testid=support-open]")
    page.select_option("select[name=kind]", "training")
    page.fill("textarea[name=description]", "为其维修班组做两天液压培训")
    page.fill("input[name=value]", "12000")
    staff.submit("[data-testid=support-form] button[type=submit]")
    expect(page.locator("[data-testid=support]")).to_contain_text("为其维修班组做两天液压培训")
    assert Support.objects.get().owner == org.salesperson
    shot(page, "support")

    staff.goto("/activities/calendar/")
    staff.submit("[data-testid=feed-create]")
    url = page.input_value("[data-testid=feed-url]")
    assert url.endswith(".ics")
    page.click("[data-copy]")
    expect(page.locator("[data-copy]")).not_to_have_text("")
    shot(page, "feed")
    feed = page.request.get(url)
    assert feed.ok and "钱经理" in feed.text() and feed.headers["content-type"].startswith("text/calendar")

    assert staff.csp_violations() == []
    assert staff.console_errors == [], staff.console_errors
