"""`/api/v1/cases`: scoped list and get, create through intake with Idempotency-Key, PATCH with
version (stale → 409), the workflow, steps, reply and review, matching, hand-overs, events,
attachments, delete; hidden cases are 404, others' cases 403 to act on."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from guanxi.service.models import Case, Handover
from guanxi.service.tests.cases_support import S, advance, category, fresh, make_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(org, account_factory):
    return account_factory(org.salesperson, name="华东机械有限公司")


def body(**extra):
    return {"kind": "complaint", "title": "发货延误", "description": "订单晚了一周", "channel": "hotline",
            "sender_name": "王先生", "sender_phone": "13900001111", **extra}


def test_create_makes_the_caller_the_owner(org, api):
    response = api(org.service).post("/api/v1/cases", body())
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["owner"] == org.service.pk and data["state"] == "new" and data["channel"] == "hotline"
    assert data["sla"]["state"] in ("ok", "warning", "breached") and data["first_response_due"]
    assert Case.objects.get(pk=data["id"]).received_by_id == org.service.pk


def test_a_retried_create_with_the_same_key_makes_one_case(org, api):
    client = api(org.service)
    first = client.post("/api/v1/cases", body(), HTTP_IDEMPOTENCY_KEY="case-1")
    again = client.post("/api/v1/cases", body(), HTTP_IDEMPOTENCY_KEY="case-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert Case.objects.count() == 1
    other = client.post("/api/v1/cases", body(title="别的"), HTTP_IDEMPOTENCY_KEY="case-1")
    assert other.status_code == 422 and Case.objects.count() == 1


def test_create_refuses_bad_input_and_other_channels(org, api, account):
    client = api(org.service)
    web = client.post("/api/v1/cases", body(channel="web"))
    assert web.status_code == 422 and "channel" in web.json()["errors"]
    bad = client.post("/api/v1/cases", body(title="", severity="urgent"))
    assert bad.status_code == 422 and {"title", "severity"} <= set(bad.json()["errors"])
    unknown = client.post("/api/v1/cases", body(owner=org.service2.pk))
    assert unknown.status_code == 422
    hidden = client.post("/api/v1/cases", body(account=account.pk))  # the agent does not see that account
    assert hidden.status_code == 404
    assert api(org.marketing).post("/api/v1/cases", body()).status_code == 403
    assert not Case.all_objects.exists()


def test_list_and_get_are_scoped(org, api, account, account_factory):
    theirs = make_case(org.service, account=account, title="客户的")
    south = make_case(org.outsider, account=account_factory(org.outsider), title="华南的")
    ticket = make_case(org.service, account=account, kind="ticket", title="工单")
    ids = {row["id"] for row in api(org.salesperson).get("/api/v1/cases").json()["results"]}
    assert ids == {theirs.pk, ticket.pk}
    assert [r["id"] for r in api(org.salesperson).get("/api/v1/cases", {"kind": "ticket"}).json()["results"]] == \
        [ticket.pk]
    assert api(org.salesperson).get(f"/api/v1/cases/{south.pk}").status_code == 404
    assert api(org.gm).get(f"/api/v1/cases/{south.pk}").status_code == 200
    assert api(org.admin).get("/api/v1/cases").status_code == 403
    got = api(org.salesperson).get(f"/api/v1/cases/{theirs.pk}").json()
    assert got["account_name"] == "华东机械有限公司" and got["owner_name"] == "赵静"


def test_the_list_reads_a_fixed_number_of_queries(org, api, account, django_assert_max_num_queries):
    for n in range(6):
        make_case(org.service, account=account, title=f"投诉{n}")
    client = api(org.service)
    with django_assert_max_num_queries(14):
        rows = client.get("/api/v1/cases").json()["results"]
    assert len(rows) == 6


def test_patch_with_a_stale_version_is_409_and_changes_nothing(org, api):
    case = make_case(org.service)
    client = api(org.service)
    ok = client.patch(f"/api/v1/cases/{case.pk}", {"version": case.version, "title": "发货延误两周",
                                                    "severity": "high"})
    assert ok.status_code == 200, ok.content
    assert ok.json()["severity"] == "high" and ok.json()["version"] == case.version + 1
    stale = client.patch(f"/api/v1/cases/{case.pk}", {"version": case.version, "title": "覆盖"})
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"
    assert fresh(case).title == "发货延误两周"
    assert client.patch(f"/api/v1/cases/{case.pk}", {"title": "x"}).status_code == 422  # version required
    assert client.patch(f"/api/v1/cases/{case.pk}", {"version": 2, "owner": 1}).status_code == 422


def test_the_workflow_and_who_may_move(org, api, account):
    case = make_case(org.service, account=account)
    owner = api(org.service)
    sales = api(org.salesperson)
    sales.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    refused = sales.post(f"/api/v1/cases/{case.pk}/move", {"to": "acknowledged"})
    assert refused.status_code == 403 and "Only the owner (赵静)" in refused.json()["message"]
    assert api(org.outsider).post(f"/api/v1/cases/{case.pk}/move", {"to": "acknowledged"}).status_code == 404
    moved = owner.post(f"/api/v1/cases/{case.pk}/move", {"to": "acknowledged", "version": case.version})
    assert moved.status_code == 200 and moved.json()["state"] == "acknowledged" and moved.json()["first_responded_at"]
    assert owner.post(f"/api/v1/cases/{case.pk}/move", {"to": "acknowledged", "version": 1}).status_code == 409
    wrong = owner.post(f"/api/v1/cases/{case.pk}/move", {"to": "closed"})
    assert wrong.status_code == 422
    owner.post(f"/api/v1/cases/{case.pk}/move", {"to": "investigating"})
    step = owner.post(f"/api/v1/cases/{case.pk}/steps", {"step": "clarify", "note": "核对了订单号"})
    assert step.status_code == 201 and step.json()["step"] == "clarify"
    assert [s["note"] for s in sales.get(f"/api/v1/cases/{case.pk}/steps").json()] == ["核对了订单号"]
    assert sales.post(f"/api/v1/cases/{case.pk}/steps", {"step": "listen", "note": "x"}).status_code == 403
    reply = owner.post(f"/api/v1/cases/{case.pk}/reply", {"proposal": "补发", "reply": "今天补发。",
                                                         "version": fresh(case).version})
    assert reply.status_code == 200 and reply.json()["reply"] == "今天补发。"
    owner.post(f"/api/v1/cases/{case.pk}/move", {"to": "proposed"})
    resolved = owner.post(f"/api/v1/cases/{case.pk}/move", {"to": "resolved", "note": "已补发"})
    assert resolved.status_code == 200 and "/feedback/confirm/" in resolved.json()["confirm_url"]
    assert owner.get(f"/api/v1/cases/{case.pk}").json()["confirm_url"] is None  # shown once
    link = owner.post(f"/api/v1/cases/{case.pk}/confirm-link")
    assert link.status_code == 201 and link.json()["url"] != resolved.json()["confirm_url"]
    events = [e["type"] for e in sales.get(f"/api/v1/cases/{case.pk}/events").json()]
    assert events[:3] == ["received", "state", "state"] and "reply" in events


def test_review_through_the_api(org, api):
    quality = category("产品质量", needs_review=True)
    case = advance(make_case(org.service, category=quality), org.service, S.INVESTIGATING)
    api(org.service).post(f"/api/v1/cases/{case.pk}/reply", {"reply": "抱歉", "version": fresh(case).version})
    assert fresh(case).review_state == "pending"
    assert api(org.service).post(f"/api/v1/cases/{case.pk}/review", {"approve": True}).status_code == 403
    returned = api(org.service_manager).post(f"/api/v1/cases/{case.pk}/review", {"approve": False})
    assert returned.status_code == 422 and "note" in returned.json()["errors"]
    approved = api(org.service_manager).post(f"/api/v1/cases/{case.pk}/review", {"approve": True, "note": "可以"})
    assert approved.status_code == 200 and approved.json()["review_state"] == "approved"


def test_matching_through_the_api(org, api, account):
    case = make_case(org.service_manager)
    hidden = api(org.service_manager).post(f"/api/v1/cases/{case.pk}/match", {"account": account.pk})
    assert hidden.status_code == 422
    done = api(org.gm).post(f"/api/v1/cases/{case.pk}/match", {"account": account.pk})
    assert done.status_code == 200 and done.json()["account"] == account.pk


def test_handovers_through_the_api(org, api):
    case = make_case(org.service)
    offered = api(org.service).post(f"/api/v1/cases/{case.pk}/handovers", {"to_user": org.service2.pk, "note": "请接"})
    assert offered.status_code == 201
    handover_id = offered.json()["id"]
    assert api(org.service2).post(f"/api/v1/cases/{case.pk}/handovers", {"to_user": org.service2.pk}).status_code \
        == 403
    assert api(org.service2).get(f"/api/v1/cases/{case.pk}/handovers").json()[0]["state"] == "offered"
    assert api(org.service_lead).post(f"/api/v1/case-handovers/{handover_id}/decline", {"answer": "x"}).status_code \
        == 404  # an unmatched case the team leader does not see
    assert api(org.service2).post(f"/api/v1/case-handovers/{handover_id}/decline", {}).status_code == 422
    accepted = api(org.service2).post(f"/api/v1/case-handovers/{handover_id}/accept", {"version": 1})
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
    assert fresh(case).owner_id == org.service2.pk
    again = api(org.service2).post(f"/api/v1/cases/{case.pk}/handovers", {"to_user": org.service.pk})
    withdrawn = api(org.service2).post(f"/api/v1/case-handovers/{again.json()['id']}/withdraw", {"note": "算了"})
    assert withdrawn.json()["state"] == "withdrawn"
    assert Handover.objects.filter(case=case).count() == 2


def test_attachments_through_the_api(org, api, account):
    case = make_case(org.service, account=account)
    client = api(org.service)
    upload = client.client.post(f"/api/v1/cases/{case.pk}/attachments",
                                {"file": SimpleUploadedFile("发票.pdf", b"%PDF-1.4 x", content_type="application/pdf")})
    assert upload.status_code == 201, upload.content
    listed = api(org.salesperson).get(f"/api/v1/cases/{case.pk}/attachments").json()
    assert [a["original_name"] for a in listed] == ["发票.pdf"]
    download = api(org.salesperson).get(listed[0]["download"])
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")
    svg = client.client.post(f"/api/v1/cases/{case.pk}/attachments",
                             {"file": SimpleUploadedFile("x.png", b"<svg onload=alert(1)>", content_type="image/png")})
    assert svg.status_code == 422
    sales = api(org.salesperson).client.post(
        f"/api/v1/cases/{case.pk}/attachments", {"file": SimpleUploadedFile("a.pdf", b"%PDF-1.4 y")})
    assert sales.status_code == 403 and case.attachments.count() == 1


def test_delete_is_for_managers(org, api):
    case = make_case(org.service)
    assert api(org.service).delete(f"/api/v1/cases/{case.pk}").status_code == 403
    assert api(org.service_manager).delete(f"/api/v1/cases/{case.pk}").status_code == 204
    assert api(org.service_manager).get(f"/api/v1/cases/{case.pk}").status_code == 404
    restored = api(org.service_manager).post(f"/api/v1/recycle-bin/service.case/{case.pk}/restore")
    assert restored.status_code == 200, restored.content
    assert api(org.service_manager).get(f"/api/v1/cases/{case.pk}").status_code == 200


def test_api_messages_in_both_languages(org, api, account):
    case = make_case(org.service, account=account)
    client = api(org.salesperson)
    client.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    english = client.post(f"/api/v1/cases/{case.pk}/move", {"to": "acknowledged"}).json()["message"]
    assert english.startswith("Only the owner (赵静) can move this case on")
    client.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    chinese = client.post(f"/api/v1/cases/{case.pk}/move", {"to": "acknowledged"}).json()["message"]
    assert chinese.startswith("只有负责人（赵静）")
