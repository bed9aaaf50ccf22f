"""`/api/v1/interactions` (R3.1): log, list with filters and cursor, read, change with the
version read (stale → 409), delete to the recycle bin; hidden = 404; bad input = 422 with
messages; a retried POST with the same Idempotency-Key logs one contact."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.utils import timezone, translation

from guanxi.activities import services
from guanxi.activities.models import CadenceRule, FollowUp, Interaction
from guanxi.core.errors import Invalid
from guanxi.core.models import AuditEvent
from guanxi.customers.models import Account, AccountAttachment, Contact

pytestmark = pytest.mark.django_db
URL = "/api/v1/interactions"


def body(response: Any) -> Any:
    return json.loads(response.content.decode())


def test_log_a_visit_with_only_the_essentials(org: Any, api: Any, account_factory: Any) -> None:
    CadenceRule.objects.create(interval_days=30)
    account = account_factory(org.salesperson)
    before = timezone.now()
    response = api(org.salesperson).post(URL, {"account": account.pk, "kind": "visit", "purpose": "deal",
                                               "summary": "拜访王总，谈年度框架协议"})
    assert response.status_code == 201, response.content
    data = body(response)
    assert (data["account"], data["kind"], data["purpose"], data["summary"]) == (account.pk, "visit", "deal",
                                                                                  "拜访王总，谈年度框架协议")
    assert data["owner"] == org.salesperson.pk and data["version"] == 1 and data["next_steps"] == []
    when = dt.datetime.fromisoformat(data["occurred_at"])
    assert before <= when <= timezone.now()  # occurred_at defaults to now
    account.refresh_from_db()
    assert abs(account.last_activity_at - when) < dt.timedelta(milliseconds=1)  # JSON keeps milliseconds
    assert FollowUp.objects.get(account=account).source == "cadence"
    assert AuditEvent.objects.filter(action="create", content_type__model="interaction",
                                     object_id=str(data["id"])).exists()


def test_log_a_meeting_with_people_files_a_gift_and_the_next_step(org: Any, api: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    boss = Contact.objects.create(account=account, name="张总")
    paper = AccountAttachment.objects.create(account=account, kind="other", file="attachments/x.pdf",
                                             original_name="纪要.pdf", content_type="application/pdf", size=1,
                                             uploaded_by=org.salesperson)
    when = timezone.now() - dt.timedelta(days=1)
    due = timezone.now() + dt.timedelta(days=3)
    response = api(org.salesperson).post(URL, {
        "account": account.pk, "kind": "meeting", "purpose": "information", "summary": "季度沟通",
        "occurred_at": when.isoformat(), "subject": "Q3", "outcome": "满意", "agreements": "一\n二",
        "their_people": [boss.pk], "our_people": [org.teammate.pk], "attachments": [paper.pk],
        "gift": "月饼", "gift_value": "188.50",
        "next_step": {"title": "发送纪要", "due_at": due.isoformat(), "owner": org.manager.pk}})
    assert response.status_code == 201, response.content
    data = body(response)
    assert data["their_people"] == [boss.pk] and data["our_people"] == [org.teammate.pk]
    assert data["attachments"] == [paper.pk] and data["gift"] == "月饼" and data["gift_value"] == "188.50"
    assert abs(dt.datetime.fromisoformat(data["occurred_at"]) - when) < dt.timedelta(milliseconds=1)
    [step] = data["next_steps"]
    assert (step["title"], step["owner"], step["state"]) == ("发送纪要", org.manager.pk, "open")


@pytest.mark.parametrize(("change", "field", "text"), [
    ({"kind": "telepathy"}, "kind", "not a valid choice"),
    ({"purpose": "gossip"}, "purpose", "not a valid choice"),
    ({"summary": "  "}, "summary", "Write what was said or done."),
    ({"occurred_at": "2099-01-01T00:00:00+08:00"}, "occurred_at", "future"),
    ({"occurred_at": "yesterday"}, "occurred_at", "valid"),
    ({"owner": 1}, "owner", "cannot be set here"),
    ({"their_people": [0]}, "their_people", "work at this account"),
    ({"attachments": [0]}, "attachments", "files of this account"),
    ({"our_people": [0]}, "our_people", "active colleagues"),
    ({"next_step": {"title": "", "due_at": "2030-01-01T00:00:00+08:00"}}, "title", "Write the next step."),
    ({"next_step": {"title": "x", "due_at": "2030-01-01T00:00:00+08:00", "owner": 999999}}, "next_step.owner",
     "No such person."),
])
def test_bad_input_is_422_with_a_message_and_logs_nothing(org: Any, api: Any, account_factory: Any,
                                                          change: dict[str, Any], field: str, text: str) -> None:
    account = account_factory(org.salesperson)
    payload = {"account": account.pk, "kind": "call", "summary": "x", **change}
    response = api(org.salesperson).post(URL, payload, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422, response.content
    errors = body(response)["errors"]
    assert field in errors and text in " ".join(errors[field]), errors
    assert not Interaction.objects.exists() and not FollowUp.objects.exists()


def test_messages_come_in_chinese_by_default(org: Any, api: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    response = api(org.salesperson).post(URL, {"account": account.pk, "kind": "call", "summary": ""},
                                         HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 422
    with translation.override("zh-hans"):
        expected = str(Invalid.default_message)
    assert body(response)["message"] == expected and expected != "Please correct the errors below."
    assert "summary" in body(response)["errors"]


def test_hidden_and_missing_accounts_answer_404_and_nothing_is_logged(org: Any, api: Any,
                                                                       account_factory: Any) -> None:
    theirs = account_factory(org.salesperson)
    visit = services.interaction_create(actor=org.salesperson, account=theirs, kind="visit", summary="秘密")
    outsider = api(org.outsider)
    for account_id in (theirs.pk, 999999):
        response = outsider.post(URL, {"account": account_id, "kind": "call", "summary": "x"})
        assert response.status_code == 404 and body(response)["code"] == "not_found"
    assert outsider.get(f"{URL}/{visit.pk}").status_code == 404
    assert outsider.patch(f"{URL}/{visit.pk}", {"version": 1, "summary": "改"}).status_code == 404
    assert api(org.south_manager).delete(f"{URL}/{visit.pk}").status_code == 404
    assert body(outsider.get(URL))["results"] == []
    assert body(outsider.get(URL, {"account": theirs.pk}))["results"] == []
    assert Interaction.objects.count() == 1 and Interaction.objects.get().summary == "秘密"


def test_marketing_may_read_but_not_log(org: Any, api: Any, account_factory: Any) -> None:
    account = account_factory(org.marketing)
    marketing = api(org.marketing)
    response = marketing.post(URL, {"account": account.pk, "kind": "call", "summary": "x"})
    assert response.status_code == 403 and body(response)["code"] == "forbidden"
    assert marketing.get(URL).status_code == 200
    assert not Interaction.objects.exists()


def test_list_filters_and_cursor(org: Any, api: Any, account_factory: Any) -> None:
    first, second = account_factory(org.salesperson), account_factory(org.teammate)
    now = timezone.now()
    old = services.interaction_create(actor=org.salesperson, account=first, kind="visit", purpose="deal",
                                      summary="旧", occurred_at=now - dt.timedelta(days=20))
    call = services.interaction_create(actor=org.salesperson, account=first, kind="call", purpose="care",
                                       summary="电话")
    theirs = services.interaction_create(actor=org.teammate, account=second, kind="email", purpose="care",
                                         summary="邮件")
    manager = api(org.manager)

    def ids(client: Any = manager, **params: Any) -> list[int]:
        response = client.get(URL, params)
        assert response.status_code == 200, response.content
        return [row["id"] for row in body(response)["results"]]

    assert ids() == [theirs.pk, call.pk, old.pk]  # newest first
    assert ids(account=first.pk) == [call.pk, old.pk]
    assert ids(owner=org.teammate.pk) == [theirs.pk]
    assert ids(kind="call") == [call.pk]
    assert ids(purpose="care") == [theirs.pk, call.pk]
    assert ids(**{"from": (now - dt.timedelta(days=2)).date().isoformat()}) == [theirs.pk, call.pk]
    assert ids(to=(now - dt.timedelta(days=10)).isoformat()) == [old.pk]
    assert ids(api(org.salesperson)) == [call.pk, old.pk]
    assert ids(api(org.salesperson), owner="me") == [call.pk, old.pk]
    page = body(manager.get(URL, {"page_size": 2}))
    assert [r["id"] for r in page["results"]] == [theirs.pk, call.pk] and page["next"]
    rest = body(manager.get(page["next"]))
    assert [r["id"] for r in rest["results"]] == [old.pk] and rest["next"] is None
    for bad in ({"kind": "telepathy"}, {"from": "last week"}, {"owner": "x"}):
        response = manager.get(URL, bad)
        assert response.status_code == 400 and body(response)["code"] == "bad_filter", bad
    # Filtering by a colleague one does not manage is refused, not answered empty (S4).
    assert api(org.salesperson).get(URL, {"owner": org.teammate.pk}).status_code == 400


def test_patch_with_the_version_read_and_a_stale_one_is_409(org: Any, api: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    boss = Contact.objects.create(account=account, name="张总")
    visit = services.interaction_create(actor=org.salesperson, account=account, kind="visit", summary="初稿")
    sales = api(org.salesperson)
    response = sales.patch(f"{URL}/{visit.pk}", {"version": 1, "summary": "定稿", "their_people": [boss.pk]})
    assert response.status_code == 200, response.content
    data = body(response)
    assert data["summary"] == "定稿" and data["their_people"] == [boss.pk] and data["version"] == 3
    stale = sales.patch(f"{URL}/{visit.pk}", {"version": 1, "summary": "过时"})
    assert stale.status_code == 409 and body(stale)["code"] == "conflict"
    stale_people = sales.patch(f"{URL}/{visit.pk}", {"version": 2, "their_people": []})
    assert stale_people.status_code == 409
    assert sales.patch(f"{URL}/{visit.pk}", {"version": 3, "account": 1}).status_code == 422
    assert sales.patch(f"{URL}/{visit.pk}", {"version": 3, "kind": "telepathy"}).status_code == 422
    visit.refresh_from_db()
    assert (visit.summary, visit.version, visit.kind) == ("定稿", 3, "visit")
    assert list(visit.their_people.all()) == [boss]
    assert body(sales.get(f"{URL}/{visit.pk}"))["summary"] == "定稿"


def test_delete_needs_the_delete_right_and_goes_to_the_recycle_bin(org: Any, api: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    visit = services.interaction_create(actor=org.salesperson, account=account, kind="visit", summary="拜访")
    assert api(org.salesperson).delete(f"{URL}/{visit.pk}").status_code == 403
    manager = api(org.manager)
    assert manager.delete(f"{URL}/{visit.pk}?version=7").status_code == 409
    assert manager.delete(f"{URL}/{visit.pk}?version=1").status_code == 204
    assert manager.get(f"{URL}/{visit.pk}").status_code == 404
    bin_rows = body(manager.get("/api/v1/recycle-bin"))
    assert any(r["record_type"] == "activities.interaction" and r["id"] == visit.pk for r in bin_rows)
    restored = manager.post(f"/api/v1/recycle-bin/activities.interaction/{visit.pk}/restore")
    assert restored.status_code == 200 and manager.get(f"{URL}/{visit.pk}").status_code == 200


def test_a_retried_post_with_the_same_idempotency_key_logs_one_contact(org: Any, api: Any,
                                                                       account_factory: Any) -> None:
    account: Account = account_factory(org.salesperson)
    sales = api(org.salesperson)
    payload = {"account": account.pk, "kind": "call", "summary": "网络不好，重发了一次"}
    first = sales.post(URL, payload, HTTP_IDEMPOTENCY_KEY="log-call-42")
    again = sales.post(URL, payload, HTTP_IDEMPOTENCY_KEY="log-call-42")
    assert first.status_code == again.status_code == 201
    assert body(first)["id"] == body(again)["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert Interaction.objects.count() == 1
    other = sales.post(URL, {**payload, "summary": "另一次"}, HTTP_IDEMPOTENCY_KEY="log-call-42")
    assert other.status_code == 422 and Interaction.objects.count() == 1
    assert sales.post(URL, payload, HTTP_IDEMPOTENCY_KEY="log-call-43").status_code == 201
    assert Interaction.objects.count() == 2
