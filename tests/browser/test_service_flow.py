"""Issue 6 acceptance in a real browser: a complaint from the public form to the survey dashboard.

An anonymous customer on a phone sends the public form; the form's first responder (赵静) sees
the case on her desk and offers it to a colleague (郑爽), who accepts it in another browser.
The clock moves past the first-response due time (``sla.sweep(now=…)``): the case shows its
escalation and the service manager (黄蓉) is notified. 郑爽 works the case to resolved with a
reply; the customer confirms from their personal link; 郑爽 closes the case; the survey sent on
closing is answered by the customer on their phone from the link 郑爽 passes on; the scores show
on the survey dashboard. No console errors and no CSP violations on the staff pages.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from tests.browser.helpers import clean, expect

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def test_from_the_public_form_to_the_survey_dashboard(browser_org: Any, session_factory: Any, settings: Any) -> None:
    from guanxi.core.models import Notification
    from guanxi.loyalty.models import Invitation, Response
    from guanxi.service.models import Case, CaseEvent, FeedbackForm, Handover
    from guanxi.service.services import sla

    org = browser_org
    settings.GUANXI_FEEDBACK_MIN_SECONDS = 0  # the customer types faster than a robot check expects
    FeedbackForm.objects.create(slug="main", title="意见与投诉", intro="请告诉我们您遇到的问题。", responder=org.service,
                                is_default=True)

    # 1. The customer, on a phone, without an account.
    customer = session_factory(viewport=PHONE, is_mobile=True, has_touch=True)
    page = customer.page
    customer.goto("/feedback/")
    page.fill("input[name=title]", "空压机运行噪音大")
    page.fill("textarea[name=description]", "上周买的空压机运行时噪音很大，车间里都听得到。")
    page.fill("input[name=name]", "韩梅梅")
    page.fill("input[name=phone]", "13800138000")
    page.fill("input[name=email]", "han.meimei@example.cn")
    customer.submit("[data-testid=feedback-submit]")
    code = page.locator("[data-testid=case-code]").inner_text().strip()
    case = Case.objects.get(code=code)
    assert (case.owner_id, case.channel, case.state) == (org.service.pk, "web", Case.State.NEW)
    assert case.first_response_due is not None, "no SLA applied to a public case (default policies missing?)"

    # 2. The first responder sees it on her desk and offers it to a colleague.
    agent = session_factory()
    agent.login("service")
    agent.goto("/")
    expect(agent.page.locator("[data-testid=desk-case]", has_text=code)).to_have_count(1)
    agent.page.locator("[data-testid=desk-case]", has_text=code).locator("a").first.click()
    expect(agent.page.locator("[data-testid=case-code]")).to_have_text(code)
    form = agent.page.locator("[data-testid=handover-form]")
    form.locator("select[name=to_user]").select_option(str(org.service2.pk))
    form.locator("textarea[name=note]").fill("客户在苏州，郑爽负责华东片区。")
    agent.submit("[data-testid=handover-offer]")
    expect(agent.page.locator("[data-testid=handover-open]")).to_contain_text("郑爽")
    clean(agent)

    # 3. The colleague accepts it from her desk, in another browser.
    colleague = session_factory()
    colleague.login("service2")
    colleague.goto("/")
    offer = colleague.page.locator("[data-testid=desk-handover]", has_text=code)
    expect(offer).to_have_count(1)
    colleague.submit(offer.locator("[data-testid=desk-handover-accept]"))
    case.refresh_from_db()
    assert case.owner_id == org.service2.pk
    assert Handover.objects.get(case=case).state == Handover.State.ACCEPTED
    clean(colleague)

    # 4. The clock moves past the first response's due time: breach and escalation.
    done = sla.sweep(now=case.first_response_due + dt.timedelta(minutes=1))
    assert done["response_breached"] == 1 and done["escalated"] >= 1, done
    colleague.goto(f"/service/cases/{case.pk}/")
    expect(colleague.page.locator("[data-testid=sla-escalation]")).to_be_visible()
    assert CaseEvent.objects.filter(case=case, type=CaseEvent.Type.ESCALATED).count() == 1
    assert Notification.objects.filter(user=org.service_manager, title__contains=code).exists()
    manager = session_factory()
    manager.login("service_mgr")
    manager.goto("/notifications/")
    expect(manager.page.locator("body")).to_contain_text(code)
    clean(manager)

    # 5. The owner works the case to resolved with a reply.
    colleague.submit("[data-testid=move-acknowledged]")
    colleague.submit("[data-testid=move-investigating]")
    colleague.page.click("[data-testid=case-reply-edit]")
    reply_form = colleague.page.locator("[data-testid=reply-form]")
    reply_form.locator("textarea[name=proposal]").fill("上门更换减震垫并检查电机。")
    reply_form.locator("textarea[name=reply]").fill("韩女士您好，工程师已为您更换减震垫，噪音问题已解决。")
    colleague.submit("[data-testid=reply-save]")
    colleague.submit("[data-testid=move-proposed]")
    colleague.submit("[data-testid=move-resolved]")
    confirm_url = colleague.page.locator("[data-testid=confirm-url]").input_value()
    assert "/feedback/confirm/" in confirm_url
    case.refresh_from_db()
    assert case.state == Case.State.RESOLVED
    clean(colleague)

    # 6. The customer confirms from the link, on the phone.
    customer.goto(_path(confirm_url))
    expect(page.locator("[data-testid=confirm-reply]")).to_contain_text("噪音问题已解决")
    customer.submit("[data-testid=confirm-accept]")
    case.refresh_from_db()
    assert case.state == Case.State.CONFIRMED

    # 7. The owner closes it: the survey for closed cases goes out.
    colleague.goto(f"/service/cases/{case.pk}/")
    colleague.submit("[data-testid=move-closed]")
    case.refresh_from_db()
    assert case.state == Case.State.CLOSED
    invitation = Invitation.objects.get(source=f"service.case:{case.pk}")
    assert invitation.email == "han.meimei@example.cn"
    # The customer asks for the link by WeChat: the owner makes one to pass on.
    colleague.goto(f"/surveys/invitations/{invitation.pk}/")
    colleague.submit("[data-testid=invitation-renew] button[type=submit]")
    survey_url = colleague.page.locator("[data-testid=invitation-link]").input_value()
    assert "/survey/" in survey_url
    clean(colleague)

    # 8. The customer answers the survey on the phone.
    customer.goto(_path(survey_url))
    questions = page.locator("[data-testid=survey-question]")
    assert questions.count() >= 7
    for i in range(questions.count()):
        question = questions.nth(i)
        field = question.get_attribute("id")
        if question.locator("input[type=radio]").count():
            top = question.locator("input[type=radio]").last.get_attribute("value")
            question.locator(f"label[for='{field}-{top}']").click()
        else:
            question.locator("textarea").fill("工程师很专业，谢谢！")
    customer.submit("[data-testid=survey-submit]")
    expect(page.locator("[data-testid=survey-thanks]")).to_be_visible()
    response = Response.objects.get(invitation=invitation)
    assert (response.nps, response.csat, response.owner_id) == (10, 5, org.service2.pk)

    # 9. The scores on the survey dashboard.
    manager.goto("/surveys/dashboard/")
    expect(manager.page.locator("[data-testid=fig-responses]")).to_have_text("1")
    expect(manager.page.locator("[data-testid=fig-nps]")).to_contain_text("100")
    expect(manager.page.locator("[data-testid=fig-csat]")).to_contain_text("5")
    clean(manager)
