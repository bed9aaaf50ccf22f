"""Projects in a real browser (R3.7): staff start a project with a phase and ask the customer
to approve a cost change; the customer opens the link in a fresh browser without signing in
and approves; the phase shows the new cost and can move on. A tampered link and an expired
link show the refusal page and change nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.helpers import expect

pytestmark = pytest.mark.browser


def test_customer_approves_a_cost_change_through_the_link(browser_org: Any, session_factory: Any,
                                                          account_factory: Any) -> None:
    from django.utils import timezone

    from guanxi.activities.models import CostChange, Phase, Project
    from guanxi.activities.services import projects as services

    org = browser_org
    account = account_factory(org.salesperson, name="华东重工有限公司")
    staff = session_factory()
    page = staff.page
    staff.login("sales")

    # A project with one phase.
    staff.goto(f"/activities/projects/new/?account={account.pk}")
    page.fill("input[name=name]", "车间改造")
    page.fill("input[name=budget]", "100000")
    staff.submit("form.guanxi-form button[type=submit]")
    project = Project.objects.get(name="车间改造")
    assert project.account == account and project.owner == org.salesperson
    page.click("[data-testid=phase-new]")
    page.fill("input[name=name]", "设备安装")
    page.fill("input[name=cost]", "20000")
    staff.submit("form.guanxi-form button[type=submit]")
    phase = Phase.objects.get(project=project)
    expect(page.locator("[data-testid=phase-cost]")).to_have_text("20000.00")

    # Ask the customer: the link is shown once.
    page.click("[data-testid=cost-change-new]")
    page.fill("input[name=amount]", "5000")
    page.fill("textarea[name=reason]", "客户要求增加一台备用泵")
    staff.submit("form.guanxi-form button[type=submit]")
    url = page.input_value("[data-testid=approval-url]")
    assert "/activities/cost-approval/" in url
    page.click("[data-testid=back-to-project]")
    expect(page.locator("[data-testid=pending-change]")).to_contain_text("客户要求增加一台备用泵")
    expect(page.locator("[data-testid=phase-start]")).to_be_disabled()

    # The customer, in a browser of their own, without an account.
    customer = session_factory(viewport={"width": 390, "height": 844})  # a phone
    path = urlsplit(url).path
    customer.goto(path)
    expect(customer.page.locator("[data-testid=approval-project]")).to_have_text("车间改造")
    expect(customer.page.locator("[data-testid=approval-amount]")).to_have_text("+5000.00")
    expect(customer.page.locator("[data-testid=approval-reason]")).to_contain_text("备用泵")
    customer.page.fill("input[name=customer_name]", "赵总")
    customer.page.fill("textarea[name=note]", "同意，请尽快安装")
    customer.submit("[data-testid=approve]")
    expect(customer.page.locator("[data-testid=decision-done]")).to_contain_text("赵总")
    change = CostChange.objects.get(phase=phase)
    assert (change.state, change.decided_via, change.customer_name) == ("approved", "link", "赵总")
    assert customer.csp_violations() == []
    assert customer.console_errors == [], customer.console_errors

    # Back at the office: the new cost, and the phase moves on.
    staff.goto(f"/activities/projects/{project.pk}/")
    expect(page.locator("[data-testid=phase-cost]")).to_have_text("25000.00")
    expect(page.locator("[data-testid=agreed-cost]")).to_have_text("25000.00")
    expect(page.locator("[data-testid=cost-changes]")).to_contain_text("赵总")
    staff.submit("[data-testid=phase-start]")
    expect(page.locator("[data-testid=phase-complete]")).to_be_enabled()
    assert Phase.objects.get(pk=phase.pk).state == "active"
    assert staff.csp_violations() == []

    # Progress on the account: the Projects tab and the timeline.
    staff.goto(f"/accounts/{account.pk}/")
    page.click("[data-testid=projects-tab]")
    row = page.locator("[data-testid=account-project-row]")
    expect(row).to_contain_text("车间改造")
    expect(row).to_contain_text("25000.00")
    page.click("[data-testid=timeline-tab]")
    expect(page.locator("[data-testid=timeline]")).to_contain_text("赵总")
    assert staff.console_errors == [], staff.console_errors

    # The used link, again: refused (already decided).
    response = customer.page.goto(path)
    assert response is not None and response.status == 410
    expect(customer.page.locator("[data-testid=link-refused]")).to_be_visible()

    # A second change: a tampered link and an expired one are refused, and nothing changes.
    second, token = services.cost_change_request(actor=org.salesperson, phase=Phase.objects.get(pk=phase.pk),
                                                 amount="-1000", reason="减少一项")
    stranger = session_factory()
    body, stamp, signature = token.split(":")
    tampered = f"{body}:{stamp}:{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}"
    response = stranger.page.goto(f"/activities/cost-approval/{tampered}/")
    assert response is not None and response.status == 400
    expect(stranger.page.locator("[data-testid=link-refused]")).to_be_visible()
    expect(stranger.page.locator("[data-testid=approve]")).to_have_count(0)

    response = stranger.page.goto(f"/activities/cost-approval/{token}/")
    assert response is not None and response.status == 200  # the genuine link works …
    CostChange.objects.filter(pk=second.pk).update(link_expires_at=timezone.now() - dt.timedelta(minutes=1))
    stranger.page.fill("input[name=customer_name]", "赵总")
    with stranger.page.expect_navigation() as navigation:
        stranger.page.click("[data-testid=approve]")
    assert navigation.value is not None and navigation.value.status == 410  # … until it expires
    expect(stranger.page.locator("[data-testid=link-refused]")).to_have_attribute("data-code", "link_expired")
    response = stranger.page.goto(f"/activities/cost-approval/{token}/")
    assert response is not None and response.status == 410
    second.refresh_from_db()
    assert second.state == "pending" and Phase.objects.get(pk=phase.pk).cost == Decimal("25000")
