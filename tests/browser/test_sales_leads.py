"""Leads in a real browser (issue 5 acceptance: convert a lead). A salesperson opens a lead from the
list, converts it on one pre-filled screen, lands on the new account's page and sees the
opportunity made from it; a lead whose company is already a customer is converted into that
account, picked from the duplicates the screen offers. No console errors, no CSP violations."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.urls import NoReverseMatch, reverse

from tests.browser.helpers import clean, expect

pytestmark = pytest.mark.browser


def make_lead(owner: Any, **data: Any) -> Any:
    from guanxi.sales.services.leads import lead_capture

    data = {"company": "杭州西湖茶业有限公司", "person_name": "王建国", "title": "采购经理", "mobile": "13812345678",
            "email": "wang@xihutea.cn", "province": "浙江省", "city": "杭州市", "estimated_amount": "88000",
            "interest": "明前龙井礼盒", **data}
    return lead_capture(actor=owner, source="exhibition", data=data)


def test_a_salesperson_converts_a_lead_into_account_contact_and_opportunity(browser_org: Any, session: Any) -> None:
    from guanxi.customers.models import Account, Contact
    from guanxi.sales.models import Opportunity

    lead = make_lead(browser_org.salesperson)
    page = session.page
    session.login("sales")
    session.goto("/sales/leads/")
    session.submit(page.get_by_test_id(f"lead-row-{lead.pk}").get_by_role("link", name=lead.code))
    expect(page.get_by_test_id("lead-title")).to_contain_text("杭州西湖茶业有限公司")
    session.submit(page.get_by_test_id("lead-convert"))
    # Nothing to retype: the screen is filled in from the lead.
    expect(page.locator("input[name=account_name]")).to_have_value("杭州西湖茶业有限公司")
    expect(page.locator("input[name=contact_name]")).to_have_value("王建国")
    expect(page.locator("input[name=contact_mobile]")).to_have_value("13812345678")
    expect(page.locator("input[name=opportunity_amount]")).to_have_value("88000.00")
    expect(page.get_by_test_id("new-account")).to_be_checked()
    session.submit(page.get_by_test_id("convert-submit"))

    account = Account.objects.get()
    deal = Opportunity.objects.get()
    assert re.search(rf"/accounts/{account.pk}/$", page.url), page.url
    expect(page.locator("h1")).to_contain_text("杭州西湖茶业有限公司")
    expect(page.locator(".alert-success")).to_contain_text(deal.code)
    assert (deal.account, deal.amount, deal.owner) == (account, Decimal("88000.00"), browser_org.salesperson)
    assert Contact.objects.get(account=account).name == "王建国"
    clean(session)

    # The lead now points at all three, the opportunity with its stage and amount.
    session.goto(f"/sales/leads/{lead.pk}/")
    expect(page.get_by_test_id("lead-state")).to_have_attribute("data-state", "converted")
    expect(page.get_by_test_id("converted-account")).to_contain_text(account.code)
    expect(page.get_by_test_id("converted-contact")).to_have_text("王建国")
    shown = page.get_by_test_id("converted-opportunity")
    expect(shown).to_contain_text(deal.code)
    expect(shown).to_contain_text(deal.stage.name)
    expect(shown).to_contain_text("88,000.00")
    try:
        reverse("sales:opportunity-detail", args=[deal.pk])
    except NoReverseMatch:  # the opportunity pages come with the pipeline area
        pass
    else:
        session.submit(shown.get_by_role("link"))
        expect(page.locator("body")).to_contain_text(deal.name)
    clean(session)


def test_a_lead_of_an_existing_customer_is_converted_into_that_account(browser_org: Any, session: Any,
                                                                      account_factory: Any) -> None:
    from guanxi.customers.models import Account, Contact
    from guanxi.sales.models import Opportunity

    customer = account_factory(browser_org.salesperson, name="杭州西湖茶业股份有限公司")
    Contact.objects.create(account=customer, name="王总", mobile="138 1234 5678")
    lead = make_lead(browser_org.salesperson, company="杭州西湖茶业")
    page = session.page
    session.login("sales")
    session.goto(f"/sales/leads/{lead.pk}/convert/")
    candidates = page.get_by_test_id("account-candidates")
    expect(candidates).to_contain_text(customer.name)
    page.get_by_test_id(f"use-account-{customer.pk}").check()
    session.submit(page.get_by_test_id("convert-submit"))
    assert re.search(rf"/accounts/{customer.pk}/$", page.url), page.url
    assert Account.objects.count() == 1 and Contact.objects.count() == 1  # 王总 is the same person
    assert Opportunity.objects.get().account == customer
    clean(session)
