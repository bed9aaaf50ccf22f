"""Overdue follow-ups in a real browser (R3.2, R3.3, R13.10): a follow-up due later becomes
overdue when the clock moves, the quarter-hourly job on the real queue raises the
notification, the salesperson sees it in the top bar and on the desk, acts on the row with
one click, and the morning digest reaches a local SMTP server. No console errors, no CSP
violations."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from tests.browser.helpers import clean, expect

pytestmark = pytest.mark.browser


def test_overdue_follow_up_raises_a_notification_and_reaches_the_morning_digest(
        browser_org: Any, session: Any, account_factory: Any, run_queue: Any, settings: Any) -> None:
    from guanxi.activities import tasks
    from guanxi.activities.models import DigestSent, FollowUp
    from guanxi.activities.tests.smtp import parts, smtp_server
    from guanxi.core.models import Notification

    sales = browser_org.salesperson
    sales.email = "wangwei@example.com"
    sales.save(update_fields=["email"])
    settings.GUANXI_BASE_URL = "https://crm.example.com"
    account = account_factory(sales, name="宁波港务有限公司")
    item = FollowUp.objects.create(account=account, owner=sales, title="催回款并确认发货",
                                   due_at=timezone.now() + dt.timedelta(days=2))
    other = FollowUp.objects.create(account=account, owner=sales, title="寄送样品",
                                    due_at=timezone.now() + dt.timedelta(days=2))

    session.login("sales")
    page = session.page
    session.goto("/")
    expect(page.locator("[data-testid=desk-followups-empty]")).to_be_visible()  # nothing due yet
    expect(page.locator("[data-testid=desk-care]")).to_be_visible()  # the lazy panel came after the page
    expect(page.locator("[data-testid=unread-count]")).to_have_count(0)

    # The clock moves: both are now a day overdue. The scheduler's job runs on the real queue.
    FollowUp.objects.filter(pk__in=[item.pk, other.pk]).update(due_at=timezone.now() - dt.timedelta(days=1))
    tasks.notify_overdue_followups()
    assert run_queue() == 1
    notice = Notification.objects.get(user=sales)

    page.reload()
    expect(page.locator("[data-testid=unread-count]")).to_have_text("1")
    expect(page.locator("[data-testid=desk-notifications]")).to_contain_text(notice.title)
    expect(page.locator("[data-testid=overdue-count]")).to_contain_text("2")
    row = page.locator(f"[data-testid=desk-followup-{item.pk}]")
    expect(row).to_contain_text("催回款并确认发货")
    expect(row).to_contain_text("宁波港务有限公司")
    expect(row.locator(f"[data-testid=log-{item.pk}]")).to_have_attribute(
        "href", f"/activities/interactions/new/?account={account.pk}")

    # One click from the desk (htmx swaps the panel in place): the other one is done.
    page.locator(f"[data-testid=done-{other.pk}]").click()
    expect(page.locator("[data-testid=desk-flash]")).to_contain_text("寄送样品")
    expect(page.locator(f"[data-testid=desk-followup-{other.pk}]")).to_have_count(0)
    expect(row).to_be_visible()
    assert FollowUp.objects.get(pk=other.pk).state == FollowUp.State.DONE

    # The notification links to the overdue list of follow-ups.
    assert notice.url.endswith("?overdue=1")
    expect(page.locator("[data-testid=desk-notifications] a").first).to_have_attribute("href", notice.url)
    clean(session)

    # The morning digest reaches a real SMTP server, once, however often the job runs.
    with smtp_server(settings) as box:
        tasks.send_morning_digest()
        tasks.send_morning_digest()
        assert run_queue() == 3  # the two runs, and the outbox's delivery of the one mail
    [message] = box.messages
    assert message["To"] == "wangwei@example.com" and "王伟" in str(message["Subject"])
    text, html = parts(message)
    assert "宁波港务有限公司" in text and "催回款并确认发货" in text and "寄送样品" not in text
    assert "催回款并确认发货" in html and notice.title in text
    assert DigestSent.objects.filter(user=sales).count() == 1

    # Switching the digest off from the desk.
    session.submit("[data-testid=digest-off]")
    expect(page.locator("[data-testid=digest-on]")).to_be_visible()
    clean(session)


def test_the_desk_fits_a_phone(browser_org: Any, session_factory: Any, account_factory: Any) -> None:
    from guanxi.activities.models import FollowUp

    account = account_factory(browser_org.salesperson, name="内蒙古鄂尔多斯市某某能源化工集团有限责任公司")
    item = FollowUp.objects.create(account=account, owner=browser_org.salesperson, title="当面确认年度框架协议的付款条件",
                                   due_at=timezone.now() - dt.timedelta(hours=3))
    phone = session_factory(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.login("sales")
    phone.goto("/")
    page = phone.page
    expect(page.locator(f"[data-testid=done-{item.pk}]")).to_be_visible()
    expect(page.locator(f"[data-testid=log-{item.pk}]")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.locator(f"[data-testid=tomorrow-{item.pk}]").tap()
    expect(page.locator("[data-testid=desk-flash]")).to_be_visible()
    item.refresh_from_db()
    assert item.due_at > timezone.now()
    clean(phone)
