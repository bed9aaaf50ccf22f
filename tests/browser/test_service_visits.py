"""Field service in a real browser: the ticket's owner schedules a repair visit for a technician
from the ticket's page; the technician, on a phone, writes the report on site and the customer
signs on the technician's phone. The ticket shows the visit confirmed. No console errors, no CSP
violations."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from tests.browser.helpers import clean, expect

pytestmark = pytest.mark.browser


def _local(moment: dt.datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%dT%H:%M}"


def test_a_visit_is_scheduled_reported_and_confirmed_on_site(browser_org: Any, session_factory: Any,
                                                              account_factory: Any) -> None:
    from guanxi.service.models import Visit
    from guanxi.service.services import intake

    org = browser_org
    account = account_factory(org.service, name="常州精工设备有限公司", address="常州市武进区湖塘镇工业路8号")
    ticket = intake.case_receive(actor=org.service, kind="ticket", ticket_type="repair", title="二号机不能启动",
                                 description="按启动键无反应。", channel="hotline", account=account,
                                 sender_name="陈工", sender_phone="13912340000")
    owner = session_factory()
    owner.login("service")
    owner.goto(f"/service/cases/{ticket.pk}/")
    owner.page.click("[data-testid=visit-new]")
    form = owner.page.locator("[data-testid=visit-form]")
    form.locator("select[name=purpose]").select_option("repair")
    form.locator("select[name=technician]").select_option(str(org.service2.pk))
    start = (timezone.now() - dt.timedelta(hours=3)).replace(second=0, microsecond=0)
    form.locator("input[name=start]").fill(_local(start))
    form.locator("input[name=end]").fill(_local(start + dt.timedelta(hours=2)))
    owner.submit("[data-testid=visit-save]")
    visit = Visit.objects.get(case=ticket)
    assert (visit.technician_id, visit.state, visit.address) == (org.service2.pk, "scheduled", account.address)
    clean(owner)

    technician = session_factory(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    technician.login("service2")
    technician.goto(f"/service/visits/{visit.pk}/")
    technician.page.click("[data-testid=visit-report]")
    report = technician.page.locator("[data-testid=report-form]")
    report.locator("textarea[name=report]").fill("更换了启动继电器，试机三次正常。")
    report.locator("textarea[name=parts]").fill("启动继电器 ×1")
    report.locator("input[name=arrived_at]").fill(_local(start + dt.timedelta(minutes=10)))
    report.locator("input[name=finished_at]").fill(_local(start + dt.timedelta(minutes=70)))
    technician.submit("[data-testid=report-save]")
    visit.refresh_from_db()
    assert visit.state == "done"
    expect(technician.page.locator("[data-testid=visit-state]")).to_be_visible()
    technician.page.click("[data-testid=visit-sign]")
    sign = technician.page.locator("[data-testid=sign-form]")
    sign.locator("input[name=signed_by]").fill("陈工")
    sign.locator("textarea[name=comment]").fill("修好了，谢谢。")
    technician.submit("[data-testid=sign-save]")
    visit.refresh_from_db()
    assert (visit.state, visit.customer_signature) == ("confirmed", "陈工")
    expect(technician.page.locator("[data-testid=visit-confirmation]")).to_contain_text("陈工")
    clean(technician)

    owner.goto(f"/service/cases/{ticket.pk}/")
    expect(owner.page.locator("[data-testid=visit-row]")).to_have_count(1)
    expect(owner.page.locator("[data-testid=visit-row]")).to_contain_text("陈工")
    clean(owner)
