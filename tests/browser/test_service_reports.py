"""The service reports and the survey dashboard in a real browser: every chart draws (Plotly,
loaded with the page's CSP nonce), the figures match the cases received, the filters apply,
and there is no console error or CSP violation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.helpers import clean, expect

pytestmark = pytest.mark.browser


def test_the_reports_and_the_dashboard_draw_their_charts(browser_org: Any, session: Any,
                                                          account_factory: Any) -> None:
    from guanxi.loyalty.models import Survey
    from guanxi.loyalty.services import invitations, responses
    from guanxi.service.models import CaseCategory
    from guanxi.service.services import intake

    org = browser_org
    quality = CaseCategory.objects.get(name="产品质量")  # one of the seeded categories
    account = account_factory(org.service, name="南通海纳机电有限公司")
    for n, (kind, channel) in enumerate([("complaint", "hotline"), ("complaint", "staff"), ("suggestion", "card"),
                                         ("ticket", "hotline")]):
        intake.case_receive(actor=org.service, kind=kind, title=f"报表样本{n}", description="样本", channel=channel,
                            category=quality if kind == "complaint" else None, account=account,
                            ticket_type="repair" if kind == "ticket" else "", sender_phone="13800001111")
    survey = Survey.objects.get(touchpoint="case_closed", active=True, deleted_at__isnull=True)
    for n, score in enumerate((10, 6)):
        _invitation, raw = invitations.invite(actor=None, survey=survey, touchpoint="case_closed",
                                              source=f"report:{n}", account=account, owner=org.service)
        responses.answer(token=raw, answers={q.pk: {"rater": 4, "nps": score, "csat": 4}.get(q.type, "")
                                             for q in survey.questions.all()})
    session.login("service_mgr")
    page = session.page
    session.goto("/service/reports/")
    expect(page.locator("[data-testid=fig-total]")).to_have_text("4")
    charts = page.locator("[id^=chart-]")
    assert charts.count() >= 6
    for i in range(charts.count()):
        expect(charts.nth(i).locator(".main-svg").first).to_be_attached()
    expect(page.locator("#chart-category")).to_contain_text("产品质量")
    clean(session)
    session.goto("/service/reports/?kind=complaint")
    expect(page.locator("[data-testid=fig-total]")).to_have_text("2")
    clean(session)

    session.goto("/surveys/dashboard/")
    expect(page.locator("[data-testid=fig-responses]")).to_have_text("2")
    expect(page.locator("[data-testid=fig-nps]")).to_contain_text("0")  # one promoter, one detractor
    charts = page.locator("[id^=chart-]")
    assert charts.count() >= 1
    for i in range(charts.count()):
        expect(charts.nth(i).locator(".main-svg").first).to_be_attached()
    clean(session)
