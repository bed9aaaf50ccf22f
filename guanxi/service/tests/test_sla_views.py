"""The service settings pages (service.configure) and the "SLA at risk" desk panel."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import translation
from django.utils.translation import gettext

from guanxi.core.models import AuditEvent, User
from guanxi.service.models import CaseCategory, Holiday, ServiceCalendar, SlaPolicy
from guanxi.service.services import sla
from guanxi.service.tests.sla_helpers import at, make_case

pytestmark = pytest.mark.django_db
RECEIVED = at(2026, 3, 2, 9, 0)


def chinese(msgid: str, expected: str) -> str:
    """The catalogue's Chinese for ``msgid``, which must be ``expected``."""
    with translation.override("zh-hans"):
        translated = gettext(msgid)
    assert translated == expected
    return translated


@pytest.fixture
def english(org: Any) -> None:
    User.objects.update(language="en")


# --- Rights -------------------------------------------------------------------------------
PAGES = ["/service/settings/", "/service/settings/categories/", "/service/settings/categories/new/",
         "/service/settings/sla/", "/service/settings/sla/new/", "/service/settings/hours/",
         "/service/settings/holidays/?year=2026", "/service/settings/holidays/new/"]


def test_configurers_open_every_page(org: Any, login: Any, english: None) -> None:
    for user in (org.service_manager, org.admin, org.gm):
        client = login(user)
        for page in PAGES:
            assert client.get(page).status_code == 200, (user, page)


def test_an_agent_cannot_configure(org: Any, login: Any) -> None:
    client = login(org.service)
    for page in PAGES:
        assert client.get(page).status_code == 403, page
    policy = SlaPolicy.objects.get(category__isnull=True, severity="normal")
    response = client.post(f"/service/settings/sla/{policy.pk}/edit/", {
        "severity": "normal", "response_hours": 1, "response_minutes": 0, "resolution_hours": 9,
        "resolution_minutes": 0, "warn_percent": 50, "active": "on", "version": policy.version})
    assert response.status_code == 403
    assert client.post("/service/settings/holidays/load/", {"year": "2026"}).status_code == 403
    policy.refresh_from_db()
    assert policy.first_response_minutes == 240


def test_anonymous_is_sent_to_sign_in(db: Any, client: Any) -> None:
    response = client.get("/service/settings/sla/")
    assert response.status_code == 302 and "/login" in response["Location"]


# --- Categories ---------------------------------------------------------------------------
def test_add_and_edit_a_category(org: Any, login: Any, english: None) -> None:
    client = login(org.service_manager)
    response = client.post("/service/settings/categories/new/", {
        "name": "物流破损", "kind": "complaint", "needs_review": "on", "responder": org.service.pk, "active": "on"})
    assert response.status_code == 302
    category = CaseCategory.objects.get(name="物流破损")
    assert (category.kind, category.needs_review, category.responder, category.position) == (
        "complaint", True, org.service, 8)
    page = client.get("/service/settings/categories/").content.decode()
    assert "物流破损" in page and "赵静" in page
    response = client.post(f"/service/settings/categories/{category.pk}/edit/", {
        "name": "物流破损", "kind": "", "position": 3, "version": category.version})
    assert response.status_code == 302
    category.refresh_from_db()
    assert (category.kind, category.needs_review, category.active, category.position) == ("", False, False, 3)


def test_category_name_must_be_unique_in_both_languages(org: Any, login: Any) -> None:
    client = login(org.service_manager)  # zh-hans, the default
    response = client.post("/service/settings/categories/new/", {"name": "产品质量", "active": "on"})
    assert response.status_code == 422
    assert chinese("Another category already has this name.", "已有同名的类别。") in response.content.decode()
    User.objects.filter(pk=org.service_manager.pk).update(language="en")
    response = login(User.objects.get(pk=org.service_manager.pk)).post(
        "/service/settings/categories/new/", {"name": "产品质量", "active": "on"})
    assert "Another category already has this name." in response.content.decode()


def test_a_category_in_use_cannot_be_deleted(org: Any, login: Any, english: None) -> None:
    client = login(org.service_manager)
    quality = CaseCategory.objects.get(name="产品质量")
    make_case(org.service, received_at=RECEIVED, category=quality)
    response = client.post(f"/service/settings/categories/{quality.pk}/delete/", {"version": quality.version},
                           follow=True)
    assert "cannot be deleted" in response.content.decode()
    assert CaseCategory.objects.filter(pk=quality.pk).exists()
    spare = CaseCategory.objects.create(name="临时类别", position=99)
    response = client.post(f"/service/settings/categories/{spare.pk}/delete/", {"version": spare.version})
    assert response.status_code == 302 and not CaseCategory.objects.filter(pk=spare.pk).exists()


# --- SLA policies -------------------------------------------------------------------------
def test_the_policy_matrix_shows_hours_and_days(org: Any, login: Any, english: None) -> None:
    page = login(org.service_manager).get("/service/settings/sla/").content.decode()
    assert "30 min" in page and "9 h (1 business day)" in page  # critical
    assert "4 h" in page and "45 h (5 business days)" in page  # normal
    assert page.count('data-testid="policy-row"') == 1 + CaseCategory.objects.count()


def test_add_a_category_policy_in_hours_and_minutes(org: Any, login: Any, english: None) -> None:
    quality = CaseCategory.objects.get(name="产品质量")
    response = login(org.service_manager).post("/service/settings/sla/new/", {
        "category": quality.pk, "severity": "high", "response_hours": 1, "response_minutes": 30,
        "resolution_hours": 18, "resolution_minutes": 0, "warn_percent": 80, "active": "on"})
    assert response.status_code == 302
    policy = SlaPolicy.objects.get(category=quality, severity="high")
    assert (policy.first_response_minutes, policy.resolution_minutes, policy.warn_percent) == (90, 1080, 80)
    assert AuditEvent.objects.filter(action="create", object_id=str(policy.pk), actor=org.service_manager).exists()


def test_policy_validation_on_the_page(org: Any, login: Any, english: None) -> None:
    client = login(org.service_manager)
    response = client.post("/service/settings/sla/new/", {
        "severity": "normal", "response_hours": 0, "response_minutes": 0, "resolution_hours": 1,
        "resolution_minutes": 0, "warn_percent": 75, "active": "on"})
    assert response.status_code == 422
    page = response.content.decode()
    assert 'data-testid="error-response_hours"' in page
    assert "Enter a time of at least one minute (and at most a year)." in page
    assert "There is already a default policy for this severity; change it instead." in page
    response = client.post("/service/settings/sla/new/", {
        "severity": "low", "response_hours": 5, "response_minutes": 75, "resolution_hours": 1,
        "resolution_minutes": 0, "warn_percent": 120})
    assert response.status_code == 422  # minutes over 59, warn over 99: the form refuses
    assert SlaPolicy.objects.count() == 4


def test_policy_validation_in_chinese(org: Any, login: Any) -> None:
    policy = SlaPolicy.objects.get(category__isnull=True, severity="high")
    response = login(org.service_manager).post(f"/service/settings/sla/{policy.pk}/edit/", {
        "severity": "high", "response_hours": 10, "response_minutes": 0, "resolution_hours": 2,
        "resolution_minutes": 0, "warn_percent": 75, "active": "on", "version": policy.version})
    assert response.status_code == 422
    assert chinese("The resolution cannot be due before the first response.",
                   "解决时限不能早于首次响应时限。") in response.content.decode()
    policy.refresh_from_db()
    assert policy.first_response_minutes == 120


def test_a_stale_policy_form_is_refused(org: Any, login: Any, english: None) -> None:
    policy = SlaPolicy.objects.get(category__isnull=True, severity="low")
    SlaPolicy.objects.filter(pk=policy.pk).update(version=policy.version + 1)
    response = login(org.service_manager).post(f"/service/settings/sla/{policy.pk}/edit/", {
        "severity": "low", "response_hours": 8, "response_minutes": 0, "resolution_hours": 90,
        "resolution_minutes": 0, "warn_percent": 75, "active": "on", "version": policy.version})
    assert response.status_code == 409
    assert SlaPolicy.objects.get(pk=policy.pk).first_response_minutes == 540


# --- Business hours -----------------------------------------------------------------------
def test_save_business_hours(org: Any, login: Any, english: None) -> None:
    row = ServiceCalendar.objects.get()
    response = login(org.service_manager).post("/service/settings/hours/", {
        "day_start": "08:30", "day_end": "17:30", "weekdays": ["1", "2", "3", "4", "5", "6"], "version": row.version})
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.day_start, row.day_end, row.weekdays) == (dt.time(8, 30), dt.time(17, 30), "123456")


def test_business_hours_validation_in_both_languages(org: Any, login: Any) -> None:
    row = ServiceCalendar.objects.get()
    data = {"day_start": "18:00", "day_end": "09:00", "version": row.version}
    page = login(org.service_manager).post("/service/settings/hours/", data).content.decode()
    assert chinese("The working day must end after it starts.", "下班时间必须晚于上班时间。") in page
    assert chinese("Choose at least one working weekday.", "请至少选择一个工作日。") in page
    User.objects.filter(pk=org.service_manager.pk).update(language="en")
    response = login(User.objects.get(pk=org.service_manager.pk)).post("/service/settings/hours/", data)
    assert response.status_code == 422
    assert "The working day must end after it starts." in response.content.decode()
    assert "Choose at least one working weekday." in response.content.decode()
    assert ServiceCalendar.objects.get().day_start == dt.time(9)


# --- Holidays -----------------------------------------------------------------------------
def test_the_year_view_lists_holidays_and_adjusted_working_days(org: Any, login: Any, english: None) -> None:
    page = login(org.service_manager).get("/service/settings/holidays/?year=2026").content.decode()
    assert 'data-testid="holiday-2026-02-16"' in page and "春节" in page
    workdays = page.split('data-testid="workday-list"')[1]
    assert 'data-testid="holiday-2026-02-14"' in workdays
    assert "Load China&#x27;s public holidays for 2026" in page or "Load China's public holidays for 2026" in page


def test_an_unknown_year_offers_no_loading(org: Any, login: Any, english: None) -> None:
    page = login(org.service_manager).get("/service/settings/holidays/?year=2099").content.decode()
    assert 'data-testid="holidays-unknown"' in page and 'data-testid="holidays-load"' not in page


def test_load_a_year_from_the_page(org: Any, login: Any, english: None) -> None:
    Holiday.objects.filter(day__year=2025).delete()
    response = login(org.service_manager).post("/service/settings/holidays/load/", {"year": "2025"}, follow=True)
    assert "China&#x27;s public holidays for 2025 loaded" in response.content.decode()
    assert Holiday.objects.get(day=dt.date(2025, 10, 1)).name == "国庆节"
    response = login(org.service_manager).post("/service/settings/holidays/load/", {"year": "2099"}, follow=True)
    assert "are not known to this installation" in response.content.decode()


def test_add_edit_and_remove_a_day(org: Any, login: Any, english: None) -> None:
    client = login(org.service_manager)
    response = client.post("/service/settings/holidays/new/", {"day": "2026-03-09", "type": "holiday",
                                                                "name": "公司年会"})
    assert response.status_code == 302 and response["Location"].endswith("?year=2026")
    holiday = Holiday.objects.get(day=dt.date(2026, 3, 9))
    response = client.post(f"/service/settings/holidays/{holiday.pk}/edit/", {
        "day": "2026-03-10", "type": "holiday", "name": "公司年会", "version": holiday.version})
    assert response.status_code == 302
    holiday.refresh_from_db()
    assert holiday.day == dt.date(2026, 3, 10)
    response = client.post("/service/settings/holidays/new/", {"day": "2026-03-10", "type": "holiday"})
    assert response.status_code == 422
    assert "This day is already in the calendar; change it instead." in response.content.decode()
    response = client.post(f"/service/settings/holidays/{holiday.pk}/delete/", {"version": holiday.version})
    assert response.status_code == 302 and not Holiday.objects.filter(pk=holiday.pk).exists()


# --- The desk panel -----------------------------------------------------------------------
PANEL_URL = "/desk/service.sla-at-risk/"


def desk_panel(client: Any) -> str:
    """The panel as the desk loads it (core:desk-panel renders one panel on its own)."""
    response = client.get(PANEL_URL)
    assert response.status_code == 200
    return str(response.content.decode())


def test_the_desk_shows_my_cases_at_risk_nearest_first(org: Any, login: Any, english: None) -> None:
    calm = make_case(org.service, received_at=at(2026, 3, 2, 11, 0), title="还早")
    soon = make_case(org.service, received_at=RECEIVED, title="快到期")
    late = make_case(org.service, received_at=at(2026, 3, 2, 9, 0), severity="high", title="已超时")
    other = make_case(org.service2, received_at=RECEIVED, severity="critical", title="同事的")
    sla.sweep(now=at(2026, 3, 2, 11, 30))  # high: breached (2 h); normal: not yet warned
    sla.sweep(now=at(2026, 3, 2, 12, 0))  # normal: warned at 75 %
    panel = desk_panel(login(org.service)).split('data-testid="desk-sla"')[1].split("</ul>")[0]
    assert f'sla-risk-{late.pk}' in panel and f'sla-risk-{soon.pk}' in panel
    assert f'sla-risk-{other.pk}' not in panel and f'sla-risk-{calm.pk}' not in panel
    assert panel.index(f"sla-risk-{late.pk}") < panel.index(f"sla-risk-{soon.pk}")  # 11:00 before 13:00
    assert "Overdue" in panel and "Due soon" in panel


def test_the_manager_sees_the_department_cases_at_risk(org: Any, login: Any, english: None) -> None:
    case = make_case(org.service2, received_at=RECEIVED, severity="critical")
    sla.sweep(now=at(2026, 3, 2, 10, 0))
    panel = desk_panel(login(org.service_manager))
    assert f"sla-risk-{case.pk}" in panel and "郑爽" in panel
    assert f"sla-risk-{case.pk}" not in desk_panel(login(org.service))


def test_the_first_response_takes_a_case_off_the_desk(org: Any, login: Any, english: None) -> None:
    case = make_case(org.service, received_at=RECEIVED)
    sla.sweep(now=at(2026, 3, 2, 12, 0))
    assert f"sla-risk-{case.pk}" in desk_panel(login(org.service))
    type(case).objects.filter(pk=case.pk).update(first_responded_at=at(2026, 3, 2, 12, 5))
    assert f"sla-risk-{case.pk}" not in desk_panel(login(org.service))


def test_no_panel_without_case_rights(org: Any, login: Any) -> None:
    assert login(org.marketing).get(PANEL_URL).status_code == 404
    assert "panel-service.sla-at-risk" not in login(org.marketing).get("/").content.decode()


def test_the_desk_panel_is_cheap(org: Any, login: Any, english: None, django_assert_max_num_queries: Any) -> None:
    from guanxi.core import desk

    for n in range(12):
        make_case(org.service, received_at=at(2026, 3, 2, 9, n), severity="critical")
    sla.sweep(now=at(2026, 3, 2, 10, 0))
    user = User.objects.get(pk=org.service_manager.pk)
    panel = desk.get("service.sla-at-risk")
    assert panel is not None
    with django_assert_max_num_queries(8):
        context = panel.provide(user, at(2026, 3, 2, 10, 0))
    assert context is not None and len(context["cases"]) == 10


# --- The status block for the case page ---------------------------------------------------
def test_the_status_block_shows_both_timers(org: Any, english: None) -> None:
    from django.template.loader import render_to_string

    case = make_case(org.service, received_at=RECEIVED)
    sla.sweep(now=at(2026, 3, 2, 13, 0))
    case.refresh_from_db()
    html = render_to_string("service/sla_status.html", {"sla": sla.status(case, at(2026, 3, 2, 14, 30))})
    assert 'data-testid="sla-status"' in html
    assert "1 h 30 min overdue" in html and "Overdue" in html
    assert "Escalated (level 1)" in html
    assert "2026-03-06 18:00" in html  # the resolution due
    sla.record_first_response(case, at(2026, 3, 2, 15, 0))
    html = render_to_string("service/sla_status.html", {"sla": sla.status(case, at(2026, 3, 2, 15, 30))})
    assert "answered 2026-03-02 15:00" in html
