"""Written confirmation and weekly report in a real browser on a phone-sized screen (R3.4):
from the account page's Reports tab to this week's report, on to a meeting's confirmation,
and the PDF and e-mail draft downloaded — no CSP violation, no console error."""

from __future__ import annotations

import email
import io
from email import policy
from typing import Any

import pytest

from tests.browser.helpers import expect

pytestmark = pytest.mark.browser


def test_from_the_account_page_to_the_minutes_pdf_and_draft(browser_org: Any, session_factory: Any,
                                                              account_factory: Any) -> None:
    from pypdf import PdfReader

    from guanxi.activities import services
    from guanxi.customers.models import Contact

    org = browser_org
    account = account_factory(org.salesperson, name="常州恒立液压有限公司")
    person = Contact.objects.create(account=account, name="周海涛", title="设备部长", email="zhou@hengli.example")
    services.interaction_create(actor=org.salesperson, account=account, kind="meeting", subject="油缸试装方案",
                                summary="双方确认了试装计划。", agreements="下周三前提供试装油缸两套",
                                their_people=[person.pk])
    staff = session_factory(viewport={"width": 390, "height": 844}, accept_downloads=True)
    page = staff.page
    staff.login("sales")

    staff.goto(f"/accounts/{account.pk}/")
    page.click("[data-testid=reports-tab]")
    staff.submit("[data-testid=weekly-open]")  # no week chosen: this week
    expect(page.locator("[data-testid=weekly-interactions]")).to_contain_text("油缸试装方案")

    staff.submit(page.locator("[data-testid=weekly-confirmation]").first)
    expect(page.locator("[data-testid=confirm-title]")).to_contain_text("常州恒立液压有限公司")
    expect(page.locator("[data-testid=confirm-agreements]")).to_contain_text("下周三前提供试装油缸两套")
    mailto = page.get_attribute("[data-testid=confirm-mailto]", "href") or ""
    assert mailto.startswith("mailto:zhou@hengli.example?subject=")

    with page.expect_download() as pdf_download:
        page.click("[data-testid=confirm-pdf]")
    pdf = open(pdf_download.value.path(), "rb").read()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).replace("\n", "")
    assert "下周三前提供试装油缸两套" in text and "周海涛" in text
    assert pdf_download.value.suggested_filename.endswith(".pdf")

    with page.expect_download() as eml_download:
        page.click("[data-testid=confirm-eml]")
    message = email.message_from_bytes(open(eml_download.value.path(), "rb").read(), policy=policy.default)
    assert "油缸试装方案" in message["Subject"]
    assert [a.get_content_type() for a in message.iter_attachments()] == ["application/pdf"]

    assert staff.csp_violations() == []
    assert staff.console_errors == [], staff.console_errors
