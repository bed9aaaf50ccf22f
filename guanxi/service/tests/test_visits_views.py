"""Field-visit pages: the agenda (my visits, everyone's), planning from a case, the report and the
customer's signature on the phone, the public confirmation page, scope, both languages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from guanxi.core.models import User
from guanxi.service.models import Case, Visit
from guanxi.service.services import visits
from guanxi.service.tests.visits_helpers import ADDRESS, CUSTOMER, days_ahead, receive

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(org: Any) -> None:
    User.objects.update(language="en")


@pytest.fixture
def ticket(org: Any, account_factory: Any) -> Case:
    account_factory(org.salesperson, name=CUSTOMER, address=ADDRESS)
    return receive(org.service)


def plan(case: Case, technician: Any, start: dt.datetime, hours: int = 2) -> Visit:
    return visits.visit_schedule(actor=case.owner, case=case, purpose="repair", technician=technician, start=start,
                                 end=start + dt.timedelta(hours=hours))


def now_slot() -> dt.datetime:
    """A slot today that has begun (so a report may be written), within the local day."""
    now = timezone.localtime()
    return now.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(hours=max(0, now.hour - 1))


# --- The agenda ----------------------------------------------------------------------------------
def test_a_technician_opens_todays_visit_from_my_visits(org: Any, login: Any, ticket: Case) -> None:
    today = plan(ticket, org.service2, now_slot(), hours=1)
    other_day = plan(ticket, org.service2, days_ahead(8, 9))
    page = login(org.service2).get("/service/visits/")
    assert page.status_code == 200 and page.context["agenda"].mine
    body = page.content.decode()
    assert 'data-testid="today-visit"' in body and f"/service/visits/{today.pk}/" in body
    assert "Open to write the report" in body
    listed = {v.pk for _day, vs in page.context["agenda"].by_day for v in vs}
    assert today.pk in listed and other_day.pk not in listed
    nxt = login(org.service2).get("/service/visits/", {"day": (timezone.localdate() + dt.timedelta(days=8)).isoformat()})
    assert other_day.pk in {v.pk for _d, vs in nxt.context["agenda"].by_day for v in vs}


def test_the_manager_sees_everyones_week_per_technician(org: Any, login: Any, ticket: Case) -> None:
    a = plan(ticket, org.service2, days_ahead(1, 9))
    b = plan(ticket, org.service, days_ahead(1, 9))
    page = login(org.service_manager).get("/service/visits/", {"day": days_ahead(1, 9).date().isoformat()})
    agenda = page.context["agenda"]
    assert not agenda.mine and agenda.span == "week" and len(agenda.days) == 7
    assert {row.technician.pk for row in agenda.rows} == {org.service.pk, org.service2.pk}
    assert 'data-testid="agenda-grid"' in page.content.decode()
    one = login(org.service_manager).get("/service/visits/", {"day": days_ahead(1, 9).date().isoformat(),
                                                              "technician": org.service2.pk, "span": "day"})
    assert [v.pk for _d, vs in one.context["agenda"].by_day for v in vs] == [a.pk]
    assert b.pk not in [v.pk for _d, vs in one.context["agenda"].by_day for v in vs]


def test_the_customers_salesperson_reads_visits_and_an_outsider_gets_404(org: Any, login: Any, ticket: Case) -> None:
    visit = plan(ticket, org.service2, days_ahead(1, 9))
    page = login(org.salesperson).get(f"/service/visits/{visit.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'data-testid="visit-edit"' not in body and 'data-testid="visit-report"' not in body
    assert login(org.salesperson).get(f"/service/visits/{visit.pk}/edit/").status_code == 403
    assert login(org.outsider).get(f"/service/visits/{visit.pk}/").status_code == 404
    assert login(org.marketing).get("/service/visits/").status_code == 403
    week = login(org.salesperson).get("/service/visits/", {"day": days_ahead(1, 9).date().isoformat()})
    assert visit.pk in {v.pk for _d, vs in week.context["agenda"].by_day for v in vs}


# --- Planning from a case ------------------------------------------------------------------------
def test_plan_a_visit_from_the_case(org: Any, login: Any, ticket: Case) -> None:
    client = login(org.service)
    form = client.get(f"/service/cases/{ticket.pk}/visits/new/")
    assert form.status_code == 200 and form.context["form"].initial["address"] == ADDRESS
    day = days_ahead(2, 9).date()
    response = client.post(f"/service/cases/{ticket.pk}/visits/new/", {
        "purpose": "repair", "technician": org.service2.pk, "start": f"{day}T09:00", "end": f"{day}T11:00",
        "address": ""})
    assert response.status_code == 302
    visit = Visit.objects.get()
    assert (visit.technician, visit.address) == (org.service2, ADDRESS)
    clash = client.post(f"/service/cases/{ticket.pk}/visits/new/", {
        "purpose": "repair", "technician": org.service2.pk, "start": f"{day}T10:00", "end": f"{day}T12:00"})
    assert clash.status_code == 422 and "already has a visit at that time" in clash.content.decode()
    refused = login(org.service_lead).get(f"/service/cases/{ticket.pk}/visits/new/")
    assert refused.status_code == 302 and Visit.objects.count() == 1
    assert login(org.service2).get(f"/service/cases/{ticket.pk}/visits/new/").status_code == 404


def test_the_case_page_shows_the_visits_block(org: Any, login: Any, ticket: Case) -> None:
    visit = plan(ticket, org.service2, days_ahead(1, 9))
    page = login(org.service).get(f"/service/cases/{ticket.pk}/")
    if page.status_code != 200:  # the cases area's page is not there yet
        pytest.skip("the case page is not available")
    body = page.content.decode()
    assert 'data-testid="visits-block"' in body and f"/service/visits/{visit.pk}/" in body
    assert f"/service/cases/{ticket.pk}/visits/new/" in body


def test_reschedule_and_cancel_from_the_page(org: Any, login: Any, ticket: Case) -> None:
    visit = plan(ticket, org.service2, days_ahead(1, 9))
    client = login(org.service)
    day = days_ahead(3, 14).date()
    saved = client.post(f"/service/visits/{visit.pk}/edit/", {
        "purpose": "maintenance", "technician": org.service2.pk, "start": f"{day}T14:00", "end": f"{day}T15:00",
        "address": ADDRESS, "version": 1})
    assert saved.status_code == 302
    visit.refresh_from_db()
    assert visit.purpose == "maintenance" and timezone.localtime(visit.scheduled_start).hour == 14
    stale = client.post(f"/service/visits/{visit.pk}/edit/", {
        "purpose": "repair", "technician": org.service2.pk, "start": f"{day}T14:00", "end": f"{day}T15:00",
        "version": 1})
    assert stale.status_code == 409
    client.post(f"/service/visits/{visit.pk}/cancel/", {"reason": "客户改期", "version": visit.version})
    visit.refresh_from_db()
    assert visit.state == "cancelled"


# --- On site: report and signature ------------------------------------------------------------------
def test_report_then_the_customer_signs_on_the_phone(org: Any, login: Any, ticket: Case) -> None:
    visit = plan(ticket, org.service2, now_slot(), hours=1)
    client = login(org.service2)
    form = client.get(f"/service/visits/{visit.pk}/report/")
    assert form.status_code == 200
    now = timezone.localtime()
    response = client.post(f"/service/visits/{visit.pk}/report/", {
        "report": "更换密封圈，试机正常。", "parts": "密封圈 ×2",
        "arrived_at": f"{now - dt.timedelta(hours=1):%Y-%m-%dT%H:%M}", "finished_at": f"{now:%Y-%m-%dT%H:%M}",
        "version": 1})
    assert response.status_code == 302
    detail = client.get(f"/service/visits/{visit.pk}/")
    body = detail.content.decode()
    assert 'data-testid="visit-qr"' in body and "data:image/svg+xml" in body and "/feedback/visit/" in body
    assert "/feedback/visit/" not in client.get(f"/service/visits/{visit.pk}/").content.decode()  # shown once
    signed = client.post(f"/service/visits/{visit.pk}/confirm/", {"signed_by": "王军", "comment": "满意",
                                                                 "version": Visit.objects.get().version})
    assert signed.status_code == 302
    visit.refresh_from_db()
    assert (visit.state, visit.customer_signature) == ("confirmed", "王军")
    assert 'data-testid="visit-confirmation"' in client.get(f"/service/visits/{visit.pk}/").content.decode()


def test_an_empty_report_is_422(org: Any, login: Any, ticket: Case) -> None:
    visit = plan(ticket, org.service2, now_slot(), hours=1)
    response = login(org.service2).post(f"/service/visits/{visit.pk}/report/", {"report": "", "version": 1})
    assert response.status_code == 422
    assert Visit.objects.get().state == "scheduled"


# --- The customer's page -------------------------------------------------------------------------
def test_the_customer_confirms_from_the_link_once(org: Any, client: Any, ticket: Case) -> None:
    visit = plan(ticket, org.service2, now_slot(), hours=1)
    now = timezone.now()
    done = visits.visit_report(actor=org.service2, visit=visit, report="更换密封圈，试机正常。", parts="",
                               arrived_at=now - dt.timedelta(hours=1), finished_at=now, expected_version=1)
    url = done.confirm_link.removeprefix("http://testserver").split("//", 1)[-1]  # type: ignore[attr-defined]
    url = url[url.index("/feedback/"):]
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    body = page.content.decode()
    assert "更换密封圈，试机正常。" in body and "郑爽" in body and f"{timezone.localtime(visit.scheduled_start):%Y-%m-%d}" in body
    assert client.post(url, {"signed_by": ""}).status_code == 422
    confirmed = client.post(url, {"signed_by": "王军", "comment": "谢谢"})
    assert confirmed.status_code == 200 and 'data-testid="public-visit-done"' in confirmed.content.decode()
    assert Visit.objects.get().state == "confirmed"
    again = client.get(url)
    assert again.status_code == 404 and 'data-testid="public-visit-gone"' in again.content.decode()
    assert client.get("/feedback/visit/unknown-token/").status_code == 404


# --- Chinese --------------------------------------------------------------------------------------
def test_the_pages_speak_chinese(org: Any, login: Any, ticket: Case) -> None:
    User.objects.filter(pk=org.service2.pk).update(language="zh-hans")
    visit = plan(ticket, org.service2, now_slot(), hours=1)
    body = login(org.service2).get("/service/visits/").content.decode()
    assert "我的上门服务" in body and "今天" in body
    detail = login(org.service2).get(f"/service/visits/{visit.pk}/").content.decode()
    assert "填写服务报告" in detail


def test_the_desk_shows_todays_visits_to_the_technician(org: Any, login: Any, ticket: Case) -> None:
    visit = plan(ticket, org.service2, now_slot(), hours=1)
    desk = login(org.service2).get("/").content.decode()
    assert 'data-testid="desk-visit"' in desk and f"/service/visits/{visit.pk}/" in desk
    assert 'data-testid="desk-visit"' not in login(org.service_lead).get("/").content.decode()
