"""The customer pool and reassignment in a real browser: a manager hands a salesperson's book to a
colleague (preview, then confirm); a salesperson claims an account from the pool and finds it in
their list. No console errors, no CSP violations."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.utils import timezone

from tests.browser.helpers import clean, expect

pytestmark = pytest.mark.browser


def test_manager_reassigns_a_salespersons_book_to_a_colleague(browser_org: Any, session: Any,
                                                             account_factory: Any) -> None:
    from guanxi.customers.models import Account, OwnershipChange

    for i in range(3):
        account_factory(browser_org.salesperson, name=f"移交客户{i}有限公司")
    session.login("manager")
    page = session.page
    session.goto("/accounts/")
    session.submit(page.locator("a[href='/accounts/reassign/']"))
    page.select_option("#from-user", str(browser_org.salesperson.pk))
    session.submit("[data-testid=show-book]")
    expect(page.locator("[data-testid=total-accounts]")).to_have_text("3")
    page.check(f"#to-{browser_org.teammate.pk}")
    page.fill("#reason", "离职交接")
    session.submit("[data-testid=preview]")
    split = page.locator("[data-testid=book-split] tbody tr")
    expect(split).to_have_count(1)
    expect(split.first).to_contain_text(str(browser_org.teammate))
    expect(split.first).to_contain_text("3")
    assert Account.objects.filter(owner=browser_org.salesperson).count() == 3  # a preview moves nothing
    session.submit("[data-testid=confirm]")
    expect(page.locator(".alert-success")).to_be_visible()
    assert Account.objects.filter(owner=browser_org.teammate).count() == 3
    assert OwnershipChange.objects.filter(kind="reassigned").count() == 3
    clean(session)


def test_salesperson_claims_an_account_from_the_pool_and_sees_it_in_their_list(browser_org: Any, session: Any,
                                                                              account_factory: Any) -> None:
    account = account_factory(None, name="公海宁波港务有限公司", province="浙江", pool_entered_at=timezone.now())
    session.login("sales")
    page = session.page
    session.goto("/")
    session.submit(page.locator("[data-testid=main-nav] a[href='/accounts/pool/']"))
    row = page.locator("[data-testid=pool-rows] tbody tr").filter(has_text="公海宁波港务有限公司")
    expect(row).to_have_count(1)
    session.submit(row.locator(f"[data-testid=claim-{account.pk}]"))
    assert re.search(rf"/accounts/{account.pk}/$", page.url), page.url
    page.locator("[data-testid=ownership-tab]").click()
    expect(page.locator("[data-testid=ownership-history] tbody tr")).to_have_count(1)
    session.goto("/accounts/")
    expect(page.locator("#account-rows")).to_contain_text("公海宁波港务有限公司")
    clean(session)
