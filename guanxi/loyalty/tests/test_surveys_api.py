"""`/api/v1/surveys`, `/survey-invitations`, `/survey-responses`: rights, create with questions, PATCH with
version (stale → 409), the one-active rule, questions fixed once answered, delete, sending by hand with an
Idempotency-Key, scoped and filtered lists, one response with its answers, messages in both languages."""

from __future__ import annotations

import pytest

from guanxi.loyalty.models import Invitation, Survey, Touchpoint
from guanxi.loyalty.tests.helpers import answered, customer, seeded

pytestmark = pytest.mark.django_db

BODY = {"name": "安装回访", "touchpoint": "manual", "active": True, "questions": [
    {"type": "rater", "dimension": "reliability", "text": "按时安装"}, {"type": "nps", "text": "推荐？"},
    {"type": "csat", "text": "满意？"}, {"type": "text", "text": "意见", "required": False}]}


def test_create_returns_201_with_questions_and_rights_are_checked(org, api):
    created = api(org.marketing).post("/api/v1/surveys", BODY)
    assert created.status_code == 201, created.content
    data = created.json()
    assert (data["name"], data["active"], data["has_responses"], data["version"]) == ("安装回访", True, False, 1)
    assert [(q["position"], q["type"]) for q in data["questions"]] == [(1, "rater"), (2, "nps"), (3, "csat"),
                                                                        (4, "text")]
    assert api(org.salesperson).post("/api/v1/surveys", BODY).status_code == 403
    assert api(org.admin).get("/api/v1/surveys").status_code == 403
    listed = api(org.salesperson).get("/api/v1/surveys", {"touchpoint": "case_closed"}).json()["results"]
    assert [row["name"] for row in listed] == ["服务处理满意度调查"]
    unknown = api(org.gm).post("/api/v1/surveys", {**BODY, "owner": 1})
    assert unknown.status_code == 422 and "owner" in unknown.json()["errors"]


def test_patch_is_versioned_and_the_one_active_rule_answers_422(org, api):
    client = api(org.gm)
    client.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    draft = client.post("/api/v1/surveys", {**BODY, "touchpoint": "visit_done", "active": False}).json()
    ok = client.patch(f"/api/v1/surveys/{draft['id']}", {"version": 1, "name": "上门回访 v2"})
    assert ok.status_code == 200 and ok.json()["version"] == 2
    stale = client.patch(f"/api/v1/surveys/{draft['id']}", {"version": 1, "intro": "覆盖"})
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"
    taken = client.patch(f"/api/v1/surveys/{draft['id']}", {"version": 2, "active": True})
    assert taken.status_code == 422
    assert taken.json()["errors"]["active"][0].startswith("“上门服务满意度调查” is already active for “Field visit done”")
    replaced = client.patch(f"/api/v1/surveys/{draft['id']}", {"version": 2, "active": True, "replace": True})
    assert replaced.status_code == 200 and replaced.json()["active"] is True
    assert Survey.objects.get(touchpoint=Touchpoint.VISIT_DONE, active=True).pk == draft["id"]


def test_the_messages_follow_the_browsers_language(org, api):
    survey = seeded(Touchpoint.CASE_CLOSED)
    answered(survey)
    english = api(org.gm).post(f"/api/v1/surveys/{survey.pk}/questions", {"type": "text", "text": "?"},
                               HTTP_ACCEPT_LANGUAGE="en")
    assert english.status_code == 422 and english.json()["code"] == "fixed"
    assert "Copy it as a new version" in english.json()["message"]
    chinese = api(org.gm).post(f"/api/v1/surveys/{survey.pk}/questions", {"type": "text", "text": "?"},
                               HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert chinese.status_code == 422 and chinese["Content-Language"] == "zh-hans"


def test_questions_are_listed_added_changed_and_removed_until_answered(org, api):
    client = api(org.marketing)
    survey = client.post("/api/v1/surveys", {**BODY, "active": False}).json()
    url = f"/api/v1/surveys/{survey['id']}/questions"
    added = client.post(url, {"type": "rater", "dimension": "empathy", "text": "体贴", "position": 1})
    assert added.status_code == 201 and added.json()["position"] == 1
    moved = client.patch(f"{url}/{added.json()['id']}", {"position": 5, "required": False})
    assert moved.status_code == 200 and (moved.json()["position"], moved.json()["required"]) == (5, False)
    assert [q["text"] for q in client.get(url).json()][-1] == "体贴"
    assert client.delete(f"{url}/{added.json()['id']}").status_code == 204
    assert len(client.get(url).json()) == 4
    copy = client.post(f"/api/v1/surveys/{survey['id']}/copy")
    assert copy.status_code == 201 and copy.json()["active"] is False and len(copy.json()["questions"]) == 4
    other = seeded(Touchpoint.CASE_CLOSED).questions.first()
    assert client.delete(f"{url}/{other.pk}").status_code == 404  # not this survey's


def test_delete_moves_to_the_recycle_bin_and_checks_the_version(org, api):
    survey = seeded(Touchpoint.ORDER_DELIVERED)
    assert api(org.gm).delete(f"/api/v1/surveys/{survey.pk}?version=7").status_code == 409
    assert api(org.gm).delete(f"/api/v1/surveys/{survey.pk}?version=1").status_code == 204
    assert api(org.gm).get(f"/api/v1/surveys/{survey.pk}").status_code == 404
    assert Survey.all_objects.get(pk=survey.pk).deleted_at is not None


def test_sending_by_hand_returns_the_link_once_and_a_retry_with_the_key_sends_once(org, api, account_factory):
    account, contact = customer(account_factory, org.service)
    survey = api(org.gm).post("/api/v1/surveys", BODY).json()
    client = api(org.service)
    payload = {"survey": survey["id"], "account": account.pk, "contact": contact.pk}
    first = client.post("/api/v1/survey-invitations", payload, HTTP_IDEMPOTENCY_KEY="send-1")
    again = client.post("/api/v1/survey-invitations", payload, HTTP_IDEMPOTENCY_KEY="send-1")
    assert first.status_code == again.status_code == 201, first.content
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    data = first.json()
    assert "/survey/" in data["link"] and (data["status"], data["email"], data["touchpoint"]) == (
        "pending", "li.lei@example.cn", "manual")
    assert Invitation.objects.filter(survey_id=survey["id"]).count() == 1
    hidden = account_factory(org.outsider)
    assert client.post("/api/v1/survey-invitations", {"survey": survey["id"], "account": hidden.pk}).status_code == 404
    assert api(org.salesperson).post("/api/v1/survey-invitations", payload).status_code == 403
    listed = client.get("/api/v1/survey-invitations", {"status": "pending"}).json()["results"]
    assert [row["id"] for row in listed] == [data["id"]] and "link" not in listed[0]


def test_responses_are_scoped_filtered_and_one_comes_with_its_answers(org, api, account_factory):
    account, contact = customer(account_factory, org.salesperson)
    mine = answered(seeded(Touchpoint.CASE_CLOSED), account=account, contact=contact, owner=org.salesperson,
                    nps=4, csat=2, rater=3, text="<b>太慢</b>")
    other = answered(seeded(Touchpoint.ORDER_DELIVERED), account=account_factory(org.outsider),
                     owner=org.outsider, touchpoint=Touchpoint.ORDER_DELIVERED, source="sales.order:5")
    client = api(org.salesperson)
    rows = client.get("/api/v1/survey-responses").json()["results"]
    assert [row["id"] for row in rows] == [mine.pk]
    assert (rows[0]["nps"], rows[0]["csat"], rows[0]["reliability"], rows[0]["comment"]) == (4, 2, "3.00",
                                                                                           "<b>太慢</b>")
    assert client.get("/api/v1/survey-responses", {"touchpoint": "order_delivered"}).json()["results"] == []
    assert len(api(org.gm).get("/api/v1/survey-responses", {"low": True}).json()["results"]) == 1
    assert len(api(org.gm).get("/api/v1/survey-responses", {"account": account.pk}).json()["results"]) == 1
    assert len(api(org.gm).get("/api/v1/survey-responses", {"survey": other.survey_id}).json()["results"]) == 1
    detail = client.get(f"/api/v1/survey-responses/{mine.pk}").json()
    assert len(detail["answers"]) == 8 and detail["answers"][5]["type"] == "nps" and detail["answers"][5]["score"] == 4
    assert detail["answers"][7]["answer"] == "<b>太慢</b>" and detail["answers"][0]["dimension"] == "reliability"
    assert client.get(f"/api/v1/survey-responses/{other.pk}").status_code == 404
    assert api(org.outsider).get("/api/v1/survey-invitations").json()["results"][0]["id"] == other.invitation_id
