"""Intake by staff in a real browser: a hotline call taken with the keyboard alone (the phone
first: the caller is found among the agent's customers while they talk; Enter saves), and a
batch of paper comment cards typed into the grid. No console errors, no CSP violations."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from tests.browser.helpers import clean, expect

pytestmark = pytest.mark.browser


def _tab_to(page: Any, name: str, limit: int = 25) -> int:
    """Press Tab until the field ``name`` has the focus; how many presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.name") == name:
            return presses
    raise AssertionError(f"{name} is not reachable with Tab")


def test_a_hotline_call_is_entered_with_the_keyboard_alone(browser_org: Any, session: Any,
                                                            account_factory: Any) -> None:
    """About sixty keys (most of them the caller's words): at an agent's typing speed well under
    a minute. The mouse is never used."""
    from guanxi.customers.models import Contact
    from guanxi.service.models import Case

    org = browser_org
    account = account_factory(org.service, name="无锡华光机械有限公司")
    contact = Contact.objects.create(account=account, name="周立", mobile="13912345678", created_by=org.service)
    session.login("service")
    page = session.page
    session.goto("/service/cases/new/")
    keys = 0
    assert page.evaluate("document.activeElement.name") == "sender_phone"  # the phone has the focus at once
    page.keyboard.type("13912345678")
    keys += 11
    expect(page.locator("[data-testid=caller-result] input[name=caller]")).to_have_count(3)
    keys += _tab_to(page, "caller")  # the caller panel: "not sure" is chosen; up to the contact
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    keys += 2
    assert page.evaluate("document.querySelector('input[name=caller]:checked').value") == f"{account.pk}-{contact.pk}"
    keys += _tab_to(page, "title")
    page.keyboard.type("设备漏油")
    keys += 4
    keys += _tab_to(page, "description")
    page.keyboard.type("客户来电：二号机液压站漏油，希望明天上门。")
    keys += 21
    keys += _tab_to(page, "channel")
    page.keyboard.press("Tab")  # the save button
    with page.expect_navigation():
        page.keyboard.press("Enter")
    keys += 2
    case = Case.objects.get(title="设备漏油")
    assert (case.owner_id, case.account_id, case.contact_id, case.channel) == (
        org.service.pk, account.pk, contact.pk, "hotline")
    assert page.url.endswith(f"/service/cases/{case.pk}/")
    expect(page.locator("[data-testid=case-code]")).to_have_text(case.code)
    assert keys < 80, f"{keys} keys for one call"
    clean(session)


def test_a_batch_of_comment_cards(browser_org: Any, session: Any) -> None:
    from guanxi.service.models import Case, CaseCategory

    org = browser_org
    assert CaseCategory.objects.filter(name="服务态度", active=True).exists()  # one of the seeded categories
    session.login("service")
    page = session.page
    session.goto("/service/cards/")
    rows = page.locator("[data-testid=card-row]")
    expect(rows).to_have_count(10)
    today = timezone.localdate().isoformat()
    cards = [("suggestion", "", "王先生", "13800001111", "希望延长周末营业时间", "4"),
             ("complaint", "服务态度", "李女士", "", "前台接待态度冷淡", "2"),
             ("suggestion", "", "", "", "停车位太少", "")]
    for i, (kind, category, name, phone, text, rating) in enumerate(cards):
        row = rows.nth(i)
        row.locator("input[name^=received_on]").fill(today)
        row.locator("select[name^=kind]").select_option(kind)
        if category:
            row.locator("select[name^=category]").select_option(label=category)
        row.locator("input[name^=name]").fill(name)
        row.locator("input[name^=phone]").fill(phone)
        row.locator("textarea[name^=text]").fill(text)
        row.locator("input[name^=rating]").fill(rating)
    session.submit("[data-testid=save-cards]")
    received = Case.objects.filter(channel="card").order_by("pk")
    assert [c.kind for c in received] == ["suggestion", "complaint", "suggestion"]
    assert all(c.owner_id == org.service.pk for c in received)
    assert received[1].category is not None and received[1].category.name == "服务态度"
    assert "前台接待态度冷淡" in received[1].description
    clean(session)
