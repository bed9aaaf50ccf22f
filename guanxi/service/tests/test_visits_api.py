"""`/api/v1/visits` and `/api/v1/improvements`: scoped lists with filters, schedule (overlap 422),
PATCH with version (stale → 409), report, confirm, cancel; improvements from creation to shipping;
messages in English and Chinese."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from guanxi.service.models import Case, Improvement, Visit
from guanxi.service.services import visits
from guanxi.service.tests.visits_helpers import ADDRESS, CUSTOMER, days_ahead, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(org: Any, account_factory: Any) -> Case:
    account_factory(org.salesperson, name=CUSTOMER, address=ADDRESS)
    return receive(org.service)


def english(client: Any) -> Any:
    client.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def body(case: Case, technician: Any, start: dt.datetime, hours: int = 2, **extra: Any) -> dict[str, Any]:
    return {"case": case.pk, "purpose": "repair", "technician": technician.pk, "start": start.isoformat(),
            "end": (start + dt.timedelta(hours=hours)).isoformat(), **extra}


# --- Visits ----------------------------------------------------------------------------------------
def test_schedule_returns_201_and_an_overlap_is_422(org: Any, api: Any, ticket: Case) -> None:
    client = english(api(org.service))
    created = client.post("/api/v1/visits", body(ticket, org.service2, days_ahead(1, 9)), HTTP_IDEMPOTENCY_KEY="v-1")
    assert created.status_code == 201, created.content
    data = created.json()
    assert (data["case_code"], data["technician_name"], data["state"], data["address"]) == (
        ticket.code, "郑爽", "scheduled", ADDRESS)
    again = client.post("/api/v1/visits", body(ticket, org.service2, days_ahead(1, 9)), HTTP_IDEMPOTENCY_KEY="v-1")
    assert again.status_code == 201 and again.json()["id"] == data["id"] and Visit.objects.count() == 1
    clash = client.post("/api/v1/visits", body(ticket, org.service2, days_ahead(1, 10)))
    assert clash.status_code == 422 and "already has a visit at that time" in clash.json()["errors"]["start"][0]
    unknown = client.post("/api/v1/visits", body(ticket, org.service2, days_ahead(2, 9), state="done"))
    assert unknown.status_code == 422 and "state" in unknown.json()["errors"]
    assert english(api(org.outsider)).post("/api/v1/visits", body(ticket, org.service, days_ahead(3, 9))).status_code == 403
    assert english(api(org.service2)).post("/api/v1/visits", body(ticket, org.service, days_ahead(3, 9))).status_code == 404
    assert Visit.objects.count() == 1


def test_list_is_scoped_and_filtered(org: Any, api: Any, ticket: Case) -> None:
    a = visits.visit_schedule(actor=org.service, case=ticket, purpose="repair", technician=org.service2,
                              start=days_ahead(1, 9), end=days_ahead(1, 11))
    b = visits.visit_schedule(actor=org.service, case=ticket, purpose="inspection", technician=org.service,
                              start=days_ahead(5, 9), end=days_ahead(5, 11))
    ids = lambda response: [row["id"] for row in response.json()["results"]]  # noqa: E731
    manager = api(org.service_manager)
    assert ids(manager.get("/api/v1/visits")) == [a.pk, b.pk]
    assert ids(api(org.service2).get("/api/v1/visits", {"technician": "me"})) == [a.pk]
    day = days_ahead(5, 0).date().isoformat()
    assert ids(manager.get("/api/v1/visits", {"date_from": day, "date_to": day})) == [b.pk]
    assert ids(manager.get("/api/v1/visits", {"case": ticket.pk, "state": "scheduled"})) == [a.pk, b.pk]
    assert ids(api(org.salesperson).get("/api/v1/visits")) == [a.pk, b.pk]  # the customer's salesperson
    assert ids(api(org.outsider).get("/api/v1/visits")) == []
    bad = english(manager).get("/api/v1/visits", {"date_from": "yesterday", "state": "lost"})
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"date_from", "state"}
    assert api(org.outsider).get(f"/api/v1/visits/{a.pk}").status_code == 404
    assert api(org.marketing).get("/api/v1/visits").status_code == 403


def test_patch_with_a_stale_version_is_409(org: Any, api: Any, ticket: Case) -> None:
    visit = visits.visit_schedule(actor=org.service, case=ticket, purpose="repair", technician=org.service2,
                                  start=days_ahead(1, 9), end=days_ahead(1, 11))
    client = english(api(org.service))
    moved = client.patch(f"/api/v1/visits/{visit.pk}", {"version": 1, "start": days_ahead(2, 9).isoformat(),
                                                        "end": days_ahead(2, 10).isoformat(),
                                                        "technician": org.service.pk})
    assert moved.status_code == 200, moved.content
    assert moved.json()["version"] == 2 and moved.json()["technician"] == org.service.pk
    stale = english(api(org.service_manager)).patch(f"/api/v1/visits/{visit.pk}", {"version": 1, "address": "覆盖"})
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"
    assert stale.json()["message"].startswith("Someone else changed this record")
    assert Visit.objects.get().address == ADDRESS
    readonly = api(org.salesperson).patch(f"/api/v1/visits/{visit.pk}", {"version": 2, "address": "x"})
    assert readonly.status_code == 403


def test_report_confirm_and_cancel(org: Any, api: Any, ticket: Case) -> None:
    visit = visits.visit_schedule(actor=org.service, case=ticket, purpose="repair", technician=org.service2,
                                  start=days_ahead(0, 0), end=days_ahead(0, 1))
    tech = english(api(org.service2))
    now = timezone.now()
    done = tech.post(f"/api/v1/visits/{visit.pk}/report", {
        "version": 1, "report": "更换密封圈", "arrived_at": (now - dt.timedelta(hours=1)).isoformat(),
        "finished_at": now.isoformat()})
    assert done.status_code == 200, done.content
    assert done.json()["state"] == "done" and "/feedback/visit/" in done.json()["confirm_link"]
    assert done.json()["confirm_mailed"] is True
    assert "confirm_link" not in tech.get(f"/api/v1/visits/{visit.pk}").json()
    missing = tech.post(f"/api/v1/visits/{visit.pk}/confirm", {"signed_by": ""})
    assert missing.status_code == 422 and missing.json()["errors"] == {"signed_by": ["Enter the customer's name."]}
    signed = tech.post(f"/api/v1/visits/{visit.pk}/confirm", {"signed_by": "王军", "comment": "好"})
    assert signed.status_code == 200 and signed.json()["state"] == "confirmed"
    other = visits.visit_schedule(actor=org.service, case=ticket, purpose="repair", technician=org.service2,
                                  start=days_ahead(4, 9), end=days_ahead(4, 11))
    no_reason = english(api(org.service)).post(f"/api/v1/visits/{other.pk}/cancel", {})
    assert no_reason.status_code == 422 and no_reason.json()["errors"] == {"reason": ["This field is required."]}
    cancelled = api(org.service).post(f"/api/v1/visits/{other.pk}/cancel", {"reason": "客户改期", "version": 1})
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"


def test_messages_follow_the_callers_language(org: Any, api: Any, ticket: Case) -> None:
    client = api(org.service)
    client.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    start = days_ahead(1, 9)
    bad = client.post("/api/v1/visits", body(ticket, org.service2, start, hours=0))
    assert bad.status_code == 422 and bad.json()["message"] == "请更正以下错误。"
    assert bad.json()["errors"]["end"] == ["上门结束时间必须晚于开始时间。"]
    visit = visits.visit_schedule(actor=org.service, case=ticket, purpose="repair", technician=org.service2,
                                  start=start, end=start + dt.timedelta(hours=1))
    stale = client.patch(f"/api/v1/visits/{visit.pk}", {"version": 5, "address": "x"})
    assert stale.status_code == 409 and stale.json()["message"] == "您打开这条记录后，其他人已修改了它。请刷新后重试。"
    clash = client.post("/api/v1/visits", body(ticket, org.service2, start))
    assert clash.json()["errors"]["start"][0].startswith("郑爽 在该时段已有上门安排：")


# --- Improvements -----------------------------------------------------------------------------------
def test_improvements_from_creation_to_shipping(org: Any, api: Any, ticket: Case) -> None:
    suggestion = receive(org.service, kind="suggestion", title="希望增加油温报警")
    manager = english(api(org.service_manager))
    created = manager.post("/api/v1/improvements", {"title": "油温报警", "description": "客户建议"})
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["code"].startswith("GJ-") and created.json()["state"] == "proposed"
    assert english(api(org.service)).post("/api/v1/improvements", {"title": "x"}).status_code == 403
    linked = manager.post(f"/api/v1/improvements/{pk}/cases", {"case": suggestion.code})
    assert linked.status_code == 201 and linked.json()["code"] == suggestion.code
    ticket_link = manager.post(f"/api/v1/improvements/{pk}/cases", {"case": ticket.pk})
    assert ticket_link.status_code == 422
    assert manager.get(f"/api/v1/improvements/{pk}").json()["case_count"] == 1
    assert [c["id"] for c in manager.get(f"/api/v1/improvements/{pk}/cases").json()] == [suggestion.pk]
    assert [row["id"] for row in manager.get("/api/v1/improvements", {"state": "proposed"}).json()["results"]] == [pk]
    planned = manager.patch(f"/api/v1/improvements/{pk}", {"version": 1, "state": "planned", "title": "油温声光报警"})
    assert planned.status_code == 200 and planned.json()["state"] == "planned"
    assert planned.json()["title"] == "油温声光报警" and planned.json()["version"] == 3
    stale = manager.patch(f"/api/v1/improvements/{pk}", {"version": 1, "title": "覆盖"})
    assert stale.status_code == 409
    no_change_stale = manager.patch(f"/api/v1/improvements/{pk}", {"version": 1})
    assert no_change_stale.status_code == 409
    shipped = manager.post(f"/api/v1/improvements/{pk}/ship", {"release_note": "新控制器已支持油温报警",
                                                              "shipped_on": timezone.localdate().isoformat()})
    assert shipped.status_code == 200 and shipped.json()["state"] == "shipped"
    assert english(api(org.salesperson)).get(f"/api/v1/improvements/{pk}").status_code == 200
    assert english(api(org.marketing)).get(f"/api/v1/improvements/{pk}").status_code == 403
    unlinked = manager.delete(f"/api/v1/improvements/{pk}/cases/{suggestion.pk}")
    assert unlinked.status_code == 204
    gone = manager.delete(f"/api/v1/improvements/{pk}?version=4")
    assert gone.status_code == 204, gone.content
    assert manager.get(f"/api/v1/improvements/{pk}").status_code == 404
    assert Improvement.all_objects.get(pk=pk).deleted_at is not None
