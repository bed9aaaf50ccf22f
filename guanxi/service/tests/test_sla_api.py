"""REST API of the service configuration: categories, SLA policies, holidays, business hours."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from guanxi.service.models import CaseCategory, Holiday, ServiceCalendar, SlaPolicy

pytestmark = pytest.mark.django_db


def chinese_text(msgid: str, expected: str) -> str:
    """The catalogue's Chinese for ``msgid``, which must be ``expected``."""
    from django.utils import translation

    with translation.override("zh-hans"):
        translated = translation.gettext(msgid)
    assert translated == expected
    return translated


def english(client: Any) -> Any:
    client.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


# --- Reading ------------------------------------------------------------------------------
def test_agents_read_the_configuration(org: Any, api: Any) -> None:
    agent = api(org.service)
    categories = agent.get("/api/v1/case-categories").json()
    assert [c["name"] for c in categories][:3] == ["产品质量", "交付延误", "服务态度"]
    assert categories[0]["needs_review"] is True
    policies = agent.get("/api/v1/sla-policies", {"category": "default"}).json()
    assert {p["severity"]: p["first_response_minutes"] for p in policies} == {
        "critical": 30, "high": 120, "normal": 240, "low": 540}
    holidays = agent.get("/api/v1/holidays", {"year": 2026}).json()
    spring = next(h for h in holidays if h["day"] == "2026-02-16")
    assert (spring["type"], spring["name"]) == ("holiday", "春节")
    assert any(h["day"] == "2026-02-14" and h["type"] == "workday" for h in holidays)
    hours = agent.get("/api/v1/business-hours").json()
    assert hours == {"day_start": "09:00", "day_end": "18:00", "weekdays": [1, 2, 3, 4, 5], "day_minutes": 540,
                     "version": hours["version"]}


def test_a_salesperson_reads_too_but_marketing_does_not(org: Any, api: Any) -> None:
    assert api(org.salesperson).get("/api/v1/case-categories").status_code == 200
    assert api(org.admin).get("/api/v1/business-hours").status_code == 200  # configures, reads
    for path in ("/api/v1/case-categories", "/api/v1/sla-policies", "/api/v1/holidays", "/api/v1/business-hours"):
        assert api(org.marketing).get(path).status_code == 403, path


def test_category_filters(org: Any, api: Any) -> None:
    CaseCategory.objects.create(name="安装预约", kind="ticket", position=20)
    CaseCategory.objects.filter(name="其他").update(active=False)
    names = [c["name"] for c in api(org.service).get("/api/v1/case-categories", {"kind": "complaint",
                                                                                 "active": "true"}).json()]
    assert "安装预约" not in names and "其他" not in names and "产品质量" in names


# --- Writing ------------------------------------------------------------------------------
def test_configure_a_category(org: Any, api: Any) -> None:
    manager = english(api(org.service_manager))
    response = manager.post("/api/v1/case-categories", {"name": "物流破损", "kind": "complaint",
                                                        "responder": org.service.pk})
    assert response.status_code == 201
    made = response.json()
    assert (made["responder"], made["position"], made["active"]) == (org.service.pk, 8, True)
    response = manager.patch(f"/api/v1/case-categories/{made['id']}", {"version": made["version"],
                                                                      "needs_review": True, "responder": None})
    assert response.status_code == 200
    assert (response.json()["needs_review"], response.json()["responder"]) == (True, None)
    stale = manager.patch(f"/api/v1/case-categories/{made['id']}", {"version": made["version"], "name": "x"})
    assert stale.status_code == 409
    assert manager.delete(f"/api/v1/case-categories/{made['id']}").status_code == 204


def test_category_validation_in_english_and_chinese(org: Any, api: Any) -> None:
    response = english(api(org.service_manager)).post("/api/v1/case-categories", {"name": "产品质量"})
    assert response.status_code == 422
    assert response.json()["errors"] == {"name": ["Another category already has this name."]}
    response = english(api(org.service_manager)).post("/api/v1/case-categories", {"name": "x", "colour": "red"})
    assert response.json()["errors"] == {"colour": ["This field cannot be set here."]}
    chinese = api(org.service_manager)
    chinese.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    response = chinese.post("/api/v1/case-categories", {"name": "   "})
    assert response.status_code == 422
    assert response.json()["message"] == "请更正以下错误。"
    assert response.json()["errors"] == {"name": [chinese_text("Enter the category's name.", "请输入类别名称。")]}


def test_configure_a_policy(org: Any, api: Any) -> None:
    manager = english(api(org.service_manager))
    quality = CaseCategory.objects.get(name="产品质量")
    response = manager.post("/api/v1/sla-policies", {"category": quality.pk, "severity": "critical",
                                                     "first_response_minutes": 15, "resolution_minutes": 270,
                                                     "warn_percent": 60})
    assert response.status_code == 201
    policy = response.json()
    assert (policy["category"], policy["first_response_minutes"]) == (quality.pk, 15)
    duplicate = manager.post("/api/v1/sla-policies", {"category": quality.pk, "severity": "critical",
                                                      "first_response_minutes": 15, "resolution_minutes": 270})
    assert duplicate.status_code == 422
    assert duplicate.json()["errors"]["severity"] == [
        "There is already a policy for this category and severity; change it instead."]
    bad = manager.patch(f"/api/v1/sla-policies/{policy['id']}", {"version": policy["version"],
                                                                 "first_response_minutes": 0, "warn_percent": 0})
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"first_response_minutes", "warn_percent"}
    assert SlaPolicy.objects.get(pk=policy["id"]).first_response_minutes == 15
    assert manager.delete(f"/api/v1/sla-policies/{policy['id']}").status_code == 204


def test_holidays_by_api(org: Any, api: Any) -> None:
    manager = english(api(org.service_manager))
    response = manager.post("/api/v1/holidays", {"day": "2026-03-09", "name": "公司年会"})
    assert response.status_code == 201 and response.json()["type"] == "holiday"
    holiday = response.json()
    again = manager.post("/api/v1/holidays", {"day": "2026-03-09"})
    assert again.status_code == 422
    assert again.json()["errors"]["day"] == ["This day is already in the calendar; change it instead."]
    changed = manager.patch(f"/api/v1/holidays/{holiday['id']}", {"version": holiday["version"], "type": "workday"})
    assert changed.status_code == 200 and changed.json()["type"] == "workday"
    assert manager.delete(f"/api/v1/holidays/{holiday['id']}").status_code == 204
    assert not Holiday.objects.filter(day=dt.date(2026, 3, 9)).exists()


def test_load_holidays_by_api(org: Any, api: Any) -> None:
    Holiday.objects.filter(day__year=2026).delete()
    manager = english(api(org.service_manager))
    response = manager.post("/api/v1/holidays/load", {"year": 2026})
    assert response.status_code == 200
    assert response.json()["created"] > 20 and response.json()["updated"] == 0
    assert Holiday.objects.get(day=dt.date(2026, 2, 16)).name == "春节"
    refused = manager.post("/api/v1/holidays/load", {"year": 2099})
    assert refused.status_code == 422
    assert "2099" in refused.json()["errors"]["year"][0]


def test_business_hours_by_api(org: Any, api: Any) -> None:
    manager = english(api(org.service_manager))
    version = ServiceCalendar.objects.get().version
    response = manager.put("/api/v1/business-hours", {"version": version, "day_start": "08:30",
                                                      "day_end": "17:00", "weekdays": [1, 2, 3, 4, 5, 6]})
    assert response.status_code == 200
    assert response.json()["day_minutes"] == 510 and response.json()["weekdays"] == [1, 2, 3, 4, 5, 6]
    bad = manager.put("/api/v1/business-hours", {"day_start": "17:00", "day_end": "08:00", "weekdays": []})
    assert bad.status_code == 422
    assert bad.json()["errors"] == {"day_end": ["The working day must end after it starts."],
                                    "weekdays": ["Choose at least one working weekday."]}
    stale = manager.put("/api/v1/business-hours", {"version": version, "day_end": "19:00"})
    assert stale.status_code == 409
    assert ServiceCalendar.objects.get().day_end == dt.time(17)


def test_an_agent_cannot_configure_by_api(org: Any, api: Any) -> None:
    agent = api(org.service)
    policy = SlaPolicy.objects.get(category__isnull=True, severity="normal")
    quality = CaseCategory.objects.get(name="产品质量")
    holiday = Holiday.objects.get(day=dt.date(2026, 2, 16))
    assert agent.post("/api/v1/case-categories", {"name": "新"}).status_code == 403
    assert agent.patch(f"/api/v1/case-categories/{quality.pk}", {"version": 1, "name": "x"}).status_code == 403
    assert agent.patch(f"/api/v1/sla-policies/{policy.pk}", {"version": 1, "warn_percent": 10}).status_code == 403
    assert agent.post("/api/v1/sla-policies", {"severity": "low", "first_response_minutes": 1,
                                               "resolution_minutes": 2}).status_code == 403
    assert agent.post("/api/v1/holidays", {"day": "2026-03-09"}).status_code == 403
    assert agent.delete(f"/api/v1/holidays/{holiday.pk}").status_code == 403
    assert agent.post("/api/v1/holidays/load", {"year": 2026}).status_code == 403
    assert agent.put("/api/v1/business-hours", {"day_end": "20:00"}).status_code == 403
    assert not CaseCategory.objects.filter(name="新").exists()
    assert SlaPolicy.objects.get(pk=policy.pk).warn_percent == 75
    assert Holiday.objects.filter(pk=holiday.pk).exists()
    assert ServiceCalendar.objects.get().day_end == dt.time(18)


def test_missing_records_are_404(org: Any, api: Any) -> None:
    manager = api(org.service_manager)
    assert manager.patch("/api/v1/case-categories/999999", {"version": 1}).status_code == 404
    assert manager.delete("/api/v1/holidays/999999").status_code == 404
