"""Accounts in a real browser: a salesperson creates an account with every section filled,
adds two contacts, finds it on the list by pinyin initials, saves the view and filters by
lifecycle — without console errors or CSP violations."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.helpers import expect

pytestmark = pytest.mark.browser

VALID_CREDIT = "91350100M000100Y43"


def test_salesperson_creates_finds_and_saves_a_view(browser_org: Any, session: Any) -> None:
    from guanxi.customers.models import Account, CustomField, SavedView

    CustomField.objects.create(key="channel", label="渠道", type="choice", choices=["线上", "线下"])
    page = session.page
    session.login("sales")
    session.goto("/accounts/new/")
    form = page.locator("[data-testid=account-form]")
    # Basics
    page.fill("input[name=name]", "中石化")
    page.fill("input[name=credit_code]", VALID_CREDIT)
    page.fill("input[name=phone]", "021-12345678")
    page.fill("input[name=email]", "info@example.cn")
    page.fill("input[name=website]", "https://example.cn")
    # Roles
    page.check("input[name=is_supplier]")
    page.check("input[name=is_partner]")
    # Region
    page.fill("input[name=province]", "上海市")
    page.fill("input[name=city]", "上海市")
    page.fill("input[name=district]", "浦东新区")
    page.fill("input[name=address]", "世纪大道 1 号")
    # Company profile
    page.select_option("select[name=size]", "large")
    page.select_option("select[name=operating_status]", "operating")
    page.fill("input[name=founded_on]", "2000-02-25")
    page.fill("input[name=industry]", "石油化工")
    page.select_option("select[name=credit_standing]", "excellent")
    page.select_option("select[name=importance]", "key")
    page.fill("textarea[name=business_scope]", "炼油、化工")
    page.fill("textarea[name=development_strategy]", "转型升级")
    # Classification and custom fields
    page.select_option("select[name=lifecycle]", "intent")
    page.select_option("select[name=relationship_type]", "strategic")
    page.select_option("select[name=value_segment]", "value")
    page.select_option("select[name=urgency]", "soon")
    page.fill("input[name=tags]", "重点, 央企")
    page.select_option("select[name=cf_channel]", "线下")
    session.submit(form.locator("button[type=submit]"))

    account = Account.objects.get(name="中石化")
    assert account.region == "上海市 上海市 浦东新区"
    assert (account.is_supplier, account.is_partner, account.lifecycle) == (True, True, "intent")
    assert account.custom == {"channel": "线下"}
    expect(page.locator("[data-testid=account-profile]")).to_contain_text("石油化工")
    expect(page.locator("[data-testid=tags]")).to_contain_text("央企")

    for name, mobile in (("王经理", "13812345678"), ("李总", "13987654321")):
        session.goto(f"/accounts/{account.pk}/contacts/new/")
        page.fill("input[name=name]", name)
        page.fill("input[name=mobile]", mobile)
        session.submit("form.guanxi-form button[type=submit]")
    assert account.contacts.count() == 2

    # A second account that the filters must leave out.
    session.goto("/accounts/new/")
    page.fill("input[name=name]", "张三商店")
    page.select_option("select[name=kind]", "individual")
    session.submit("[data-testid=account-form] button[type=submit]")

    session.goto("/accounts/")
    page.fill("#account-filters input[name=q]", "zsh")
    rows = page.locator("[data-testid=account-row]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("中石化")

    page.fill("[data-testid=save-view-form] input[name=name]", "石化")
    session.submit("[data-testid=save-view-form] button[type=submit]")
    assert SavedView.objects.get(user__username="sales", name="石化").params == {"q": "zsh"}
    expect(page.locator("[data-testid=saved-views]")).to_contain_text("石化")

    session.goto("/accounts/")
    expect(page.locator("[data-testid=account-row]")).to_have_count(2)
    page.select_option("#account-filters select[name=lifecycle]", "intent")
    expect(page.locator("[data-testid=account-row]")).to_have_count(1)
    expect(page.locator("[data-testid=account-row]").first).to_contain_text("中石化")

    # Inline edit of the urgency from the list.
    page.click(f"[data-testid=inline-urgency-{account.pk}]")
    page.select_option(f"#cell-{account.pk}-urgency select[name=value]", "urgent")
    page.click(f"#cell-{account.pk}-urgency button[type=submit]")
    expect(page.locator("[data-testid=inline-form]")).to_have_count(0)
    expect(page.locator(f"#cell-{account.pk}-urgency")).to_contain_text(re.compile("Urgent|紧急|一周内"))
    account.refresh_from_db()
    assert account.urgency == "urgent"

    # The navbar search box finds people's companies too.
    page.fill("[data-testid=global-search] input[name=q]", "李总")
    page.press("[data-testid=global-search] input[name=q]", "Enter")
    page.wait_for_url("**/accounts/?q=*")
    expect(page.locator("[data-testid=account-row]")).to_have_count(1)

    assert session.console_errors == [], session.console_errors
    assert session.csp_violations() == []
