"""Contact and follow-up in a real browser (issue 4 acceptance): with a cadence rule of 7 days for
grade A × urgent, a salesperson logs a visit from an A/urgent account's page in two clicks (plus
the summary) and sees the next follow-up on the page, due 7 days later; then marks a follow-up
done from the same page. The quick-log form also works on a phone. No console errors, no CSP
violations."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.utils import timezone

from tests.browser.helpers import clean, expect

pytestmark = pytest.mark.browser


def shown(value: dt.datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def test_log_a_visit_from_the_account_page_and_the_cadence_plans_the_next_follow_up(
        browser_org: Any, session: Any, account_factory: Any) -> None:
    from guanxi.activities.models import CadenceRule, FollowUp, Interaction

    CadenceRule.objects.create(grade="A", urgency="urgent", interval_days=7)
    account = account_factory(browser_org.salesperson, name="杭州西湖茶业有限公司", grade="A", urgency="urgent")
    session.login("sales")
    page = session.page
    session.goto(f"/accounts/{account.pk}/")
    session.submit("[data-testid=log-contact]")  # click one
    page.fill("textarea[name=summary]", "拜访王总，确认下季度订单意向")
    session.submit("[data-testid=save-contact]")  # click two
    assert re.search(rf"/accounts/{account.pk}/#tab-activities$", page.url), page.url
    visit = Interaction.objects.get(account=account)
    assert (visit.kind, visit.owner_id) == ("visit", browser_org.salesperson.pk)
    planned = FollowUp.objects.get(account=account, state="open")
    assert planned.due_at == visit.occurred_at + dt.timedelta(days=7)
    # The tab the form came back to is open, with the contact and the follow-up it planned.
    panel = page.locator("[data-testid=activities-panel]")
    expect(panel).to_be_visible()
    expect(panel.locator("[data-testid=recent-interactions]")).to_contain_text("确认下季度订单意向")
    row = panel.locator(f"[data-testid=followup-{planned.pk}]")
    expect(row.locator("[data-testid=followup-due]")).to_have_text(shown(visit.occurred_at + dt.timedelta(days=7)))

    # Done, from the same page: the outcome, then the cadence plans the next contact.
    row.locator(f"[data-testid=done-{planned.pk}]").click()
    row.locator("textarea[name=outcome]").fill("王总已下单")
    session.submit(row.locator(f"[data-testid=confirm-done-{planned.pk}]"))
    expect(page.locator(".alert-success")).to_be_visible()
    planned.refresh_from_db()
    assert (planned.state, planned.outcome, planned.done_by_id) == ("done", "王总已下单", browser_org.salesperson.pk)
    nxt = FollowUp.objects.get(account=account, state="open")
    assert nxt.source == "cadence" and nxt.pk != planned.pk
    panel = page.locator("[data-testid=activities-panel]")
    expect(panel.locator(f"[data-testid=followup-{planned.pk}]")).to_have_count(0)
    expect(panel.locator(f"[data-testid=followup-{nxt.pk}] [data-testid=followup-due]")).to_have_text(shown(nxt.due_at))
    # The timeline shows both: the visit and the follow-up done.
    page.locator("[data-testid=timeline-tab]").click()
    expect(page.locator("[data-testid=timeline]")).to_contain_text("王总已下单")
    clean(session)


def test_the_quick_log_form_works_on_a_phone(browser_org: Any, session_factory: Any, account_factory: Any) -> None:
    from guanxi.activities.models import Interaction
    from guanxi.customers.models import Contact

    account = account_factory(browser_org.salesperson, name="宁波港口物流有限公司")
    boss = Contact.objects.create(account=account, name="陈经理")
    phone = session_factory(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.login("sales")
    page = phone.page
    phone.goto(f"/activities/interactions/new/?account={account.pk}")
    save = page.locator("[data-testid=save-contact]")
    call = page.locator("[data-testid=kind-call]")
    # Big touch targets, nothing wider than the screen.
    for target in (save, call, page.locator("textarea[name=summary]")):
        box = target.bounding_box()
        assert box is not None and box["height"] >= 44, box
    assert save.bounding_box()["width"] >= 300  # type: ignore[index]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    call.tap()
    page.locator("[data-testid=purpose-care]").tap()
    page.locator("[data-testid=more-people]").tap()
    page.locator(f"[data-testid=their_people-{boss.pk}]").tap()
    page.fill("textarea[name=summary]", "电话问候陈经理")
    phone.submit(save)
    logged = Interaction.objects.get(account=account)
    assert (logged.kind, logged.purpose, logged.summary) == ("call", "care", "电话问候陈经理")
    assert list(logged.their_people.all()) == [boss]
    clean(phone)
