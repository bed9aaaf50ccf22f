"""Merging duplicates in a real browser: find the duplicate, compare, merge, then undo."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.test_shell import expect

pytestmark = pytest.mark.browser


def test_manager_merges_a_duplicate_choosing_fields_from_each_then_undoes_it(browser_org: Any, session: Any,
                                                                          account_factory: Any) -> None:
    from guanxi.customers.models import Account, Contact, MergeRecord
    from guanxi.customers.services import account_refresh_search

    org = browser_org
    kept = account_factory(org.salesperson, name="厦门海澄贸易有限公司", phone="0592-5551234", region="福建 厦门")
    merged = account_factory(org.teammate, name="厦门海澄贸易", phone="0592-5551234", address="湖滨南路 88 号",
                             notes="展会上认识的")
    Contact.objects.create(account=kept, name="陈经理")
    Contact.objects.create(account=merged, name="林总")
    account_refresh_search(kept)
    account_refresh_search(merged)

    page = session.page
    session.login("manager")
    session.goto("/accounts/")
    session.submit(page.locator("[data-testid=duplicates-link]"))
    group = page.locator("[data-testid=duplicate-group]").first
    expect(group).to_contain_text("厦门海澄贸易有限公司")
    session.submit(group.get_by_role("link", name="厦门海澄贸易有限公司", exact=True))

    page.locator("[data-testid=history-tab]").click()
    session.submit(page.locator("[data-testid=merge-with]"))
    candidates = page.locator("[data-testid=merge-candidates]")
    expect(candidates).to_contain_text("厦门海澄贸易")
    session.submit(candidates.locator("[data-testid=merge-compare]").first)

    fields = page.locator("[data-testid=merge-fields]")
    # One value from each side: the merged account's address, the kept account's region.
    fields.locator("tr[data-field=address] input[value=merged]").check()
    fields.locator("tr[data-field=region] input[value=kept]").check()
    fields.locator("tr[data-field=notes] input[value=merged]").check()
    expect(page.locator("[data-testid=merge-counts]")).to_contain_text("1")
    session.submit(page.locator("[data-testid=merge-confirm]"))

    assert re.search(rf"/accounts/{kept.pk}/$", page.url), page.url
    expect(page.locator(".alert-success, .alert-info").first).to_contain_text("厦门海澄贸易")
    page.locator("[data-testid=people-tab]").click()
    people = page.locator("[data-testid=contacts]")
    expect(people).to_contain_text("陈经理")
    expect(people).to_contain_text("林总")
    kept.refresh_from_db()
    assert (kept.address, kept.region, kept.notes) == ("湖滨南路 88 号", "福建 厦门", "展会上认识的")
    assert Account.all_objects.get(pk=merged.pk).deleted_at is not None

    page.locator("[data-testid=history-tab]").click()
    history = page.locator("[data-testid=merge-history]")
    expect(history).to_contain_text("厦门海澄贸易")
    session.submit(history.locator("[data-testid=merge-undo]"))
    page.locator("[data-testid=people-tab]").click()
    expect(page.locator("[data-testid=contacts]")).not_to_contain_text("林总")
    assert MergeRecord.objects.get().undone_at is not None
    assert Account.objects.filter(pk=merged.pk).exists()
    assert Account.objects.get(pk=kept.pk).address == ""

    assert session.console_errors == [], (session.console_errors, session.failed_requests)
    assert session.csp_violations() == []
