"""`/api/v1/followups` (R3.2) and `/api/v1/cadence-rules`: plan, filter, read, change, delete,
and the actions complete / reschedule / reassign / cancel; hidden = 404, stale = 409, bad
input = 422 with messages; cadence rules for the general manager and the administrator."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.utils import timezone

from guanxi.activities import services
from guanxi.activities.models import CadenceRule, FollowUp
from guanxi.core.models import AuditEvent
from guanxi.customers.models import Account, Contact

pytestmark = pytest.mark.django_db
URL = "/api/v1/followups"


def body(response: Any) -> Any:
    return json.loads(response.content.decode())


def iso(days: float) -> str:
    return (timezone.now() + dt.timedelta(days=days)).isoformat()


def plan(actor: Any, account: Account, title: str, days: float = 1, **fields: Any) -> FollowUp:
    return services.followup_create(actor=actor, account=account, title=title,
                                    due_at=timezone.now() + dt.timedelta(days=days), **fields)


def test_plan_a_follow_up(org: Any, api: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    boss = Contact.objects.create(account=account, name="张总")
    sales = api(org.salesperson)
    response = sales.post(URL, {"account": account.pk, "title": "送样品", "due_at": iso(2), "contact": boss.pk,
                                "notes": "两箱"})
    assert response.status_code == 201, response.content
    data = body(response)
    assert (data["title"], data["owner"], data["contact"], data["state"], data["source"]) == (
        "送样品", org.salesperson.pk, boss.pk, "open", "manual")
    assert data["overdue"] is False and data["version"] == 1 and data["account_name"] == account.name
    handed = sales.post(URL, {"account": account.pk, "title": "经理拜访", "due_at": iso(3), "owner": org.manager.pk})
    assert body(handed)["owner"] == org.manager.pk


@pytest.mark.parametrize(("change", "field", "text"), [
    ({"title": " "}, "title", "Write the next step."),
    ({"due_at": "soon"}, "due_at", "valid"),
    ({"owner": "TEAMMATE"}, "owner", "cannot see the account"),
    ({"owner": 999999}, "owner", "No such person."),
    ({"contact": 0}, "contact", "works at this account"),
    ({"state": "done"}, "state", "cannot be set here"),
])
def test_bad_input_is_422_with_a_message_and_plans_nothing(org: Any, api: Any, account_factory: Any,
                                                           change: dict[str, Any], field: str, text: str) -> None:
    account = account_factory(org.salesperson)
    if change.get("owner") == "TEAMMATE":
        change = {"owner": org.teammate.pk}
    payload = {"account": account.pk, "title": "回访", "due_at": iso(1), **change}
    response = api(org.salesperson).post(URL, payload, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422, response.content
    errors = body(response)["errors"]
    assert field in errors and text in " ".join(errors[field]), errors
    assert not FollowUp.objects.exists()


def test_hidden_follow_ups_and_accounts_answer_404(org: Any, api: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    step = plan(org.salesperson, account, "秘密回访")
    outsider = api(org.outsider)
    assert outsider.post(URL, {"account": account.pk, "title": "x", "due_at": iso(1)}).status_code == 404
    assert outsider.get(f"{URL}/{step.pk}").status_code == 404
    assert outsider.patch(f"{URL}/{step.pk}", {"version": 1, "title": "改"}).status_code == 404
    for action, payload in (("complete", {}), ("reschedule", {"due_at": iso(5)}), ("reassign", {"owner": 1}),
                            ("cancel", {})):
        assert outsider.post(f"{URL}/{step.pk}/{action}", payload).status_code == 404, action
    assert api(org.south_manager).delete(f"{URL}/{step.pk}").status_code == 404
    assert body(outsider.get(URL))["results"] == []
    step.refresh_from_db()
    assert (step.title, step.state, step.version) == ("秘密回访", "open", 1)


def test_marketing_reads_but_does_not_plan(org: Any, api: Any, account_factory: Any) -> None:
    account = account_factory(org.marketing)
    marketing = api(org.marketing)
    assert marketing.post(URL, {"account": account.pk, "title": "x", "due_at": iso(1)}).status_code == 403
    assert marketing.get(URL).status_code == 200
    assert not FollowUp.objects.exists()


def test_filters_by_account_owner_due_range_state_and_overdue(org: Any, api: Any, account_factory: Any) -> None:
    first, second = account_factory(org.salesperson), account_factory(org.teammate)
    late = plan(org.salesperson, first, "逾期", days=-2)
    soon = plan(org.salesperson, first, "明天", days=1)
    later = plan(org.teammate, second, "下周", days=7)
    done = plan(org.salesperson, first, "已完成", days=3)
    services.followup_complete(actor=org.salesperson, followup=done)
    manager = api(org.manager)

    def ids(client: Any = manager, **params: Any) -> list[int]:
        response = client.get(URL, params)
        assert response.status_code == 200, response.content
        return [row["id"] for row in body(response)["results"]]

    assert ids() == [late.pk, soon.pk, done.pk, later.pk]  # soonest due first, every state
    assert ids(state="open") == [late.pk, soon.pk, later.pk]
    assert ids(state="done") == [done.pk]
    assert ids(account=second.pk) == [later.pk]
    assert ids(owner=org.teammate.pk) == [later.pk]
    assert ids(overdue="true") == [late.pk]
    assert ids(due_from=iso(0), due_to=iso(5), state="open") == [soon.pk]
    assert ids(due_to=(timezone.localdate() + dt.timedelta(days=1)).isoformat()) == [late.pk, soon.pk]
    assert ids(api(org.salesperson)) == [late.pk, soon.pk, done.pk]
    assert ids(api(org.salesperson), owner="me", state="open") == [late.pk, soon.pk]
    assert body(manager.get(URL))["results"][0]["overdue"] is True
    page = body(manager.get(URL, {"page_size": 3}))
    assert len(page["results"]) == 3 and [r["id"] for r in body(manager.get(page["next"]))["results"]] == [later.pk]
    for bad in ({"state": "someday"}, {"due_from": "next week"}, {"overdue": "maybe"}):
        response = manager.get(URL, bad)
        assert response.status_code == 400 and body(response)["code"] == "bad_filter", bad
    assert api(org.salesperson).get(URL, {"owner": org.teammate.pk}).status_code == 400


def test_a_follow_up_is_seen_with_its_account_not_by_ownership_alone(
        org: Any, api: Any, account_factory: Any) -> None:
    """Owning a follow-up on an account one does not see (rows written behind the services'
    back, a department change) shows neither it nor the account's name."""
    account = account_factory(org.salesperson)
    step = plan(org.salesperson, account, "协助拜访")
    FollowUp.objects.filter(pk=step.pk).update(owner=org.outsider)
    outsider = api(org.outsider)
    assert body(outsider.get(URL))["results"] == []
    assert outsider.get(f"{URL}/{step.pk}").status_code == 404
    assert [r["id"] for r in body(api(org.salesperson).get(URL, {"owner": "all"}))["results"]] == [step.pk]


def test_patch_title_notes_contact_with_the_version_read(org: Any, api: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    boss = Contact.objects.create(account=account, name="张总")
    step = plan(org.salesperson, account, "回访")
    sales = api(org.salesperson)
    response = sales.patch(f"{URL}/{step.pk}", {"version": 1, "title": "上门回访", "contact": boss.pk})
    assert response.status_code == 200, response.content
    assert (body(response)["title"], body(response)["contact"], body(response)["version"]) == ("上门回访", boss.pk, 2)
    assert sales.patch(f"{URL}/{step.pk}", {"version": 1, "title": "过时"}).status_code == 409
    assert sales.patch(f"{URL}/{step.pk}", {"version": 2, "due_at": iso(3)}).status_code == 422
    assert sales.patch(f"{URL}/{step.pk}", {"version": 2, "title": ""}).status_code == 422
    step.refresh_from_db()
    assert (step.title, step.version) == ("上门回访", 2)


def test_complete_with_outcome_and_next_step_then_the_cadence_takes_over(org: Any, api: Any,
                                                                         account_factory: Any) -> None:
    CadenceRule.objects.create(grade="A", interval_days=14)
    account = account_factory(org.salesperson, grade="A")
    step = plan(org.salesperson, account, "送样品")
    sales = api(org.salesperson)
    assert sales.post(f"{URL}/{step.pk}/complete", {"version": 9}).status_code == 409
    response = sales.post(f"{URL}/{step.pk}/complete", {"version": 1, "outcome": "已签收",
                                                         "next_step": {"title": "电话确认", "due_at": iso(2)}})
    assert response.status_code == 200, response.content
    data = body(response)
    assert (data["state"], data["outcome"], data["done_by"]) == ("done", "已签收", org.salesperson.pk)
    nxt = FollowUp.objects.get(account=account, state="open")
    assert nxt.title == "电话确认" and nxt.source == "manual"
    again = sales.post(f"{URL}/{step.pk}/complete", {})
    assert again.status_code == 422
    response = sales.post(f"{URL}/{nxt.pk}/complete", {"outcome": "确认"})
    cadence = FollowUp.objects.get(account=account, state="open")
    assert cadence.source == "cadence" and (cadence.due_at - timezone.now()).days in (13, 14)


def test_reschedule_reassign_and_cancel(org: Any, api: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    step = plan(org.salesperson, account, "回访")
    sales = api(org.salesperson)
    later = timezone.now() + dt.timedelta(days=10)
    response = sales.post(f"{URL}/{step.pk}/reschedule", {"due_at": later.isoformat(), "version": 1,
                                                           "note": "客户出差"})
    assert response.status_code == 200 and body(response)["version"] == 2
    assert sales.post(f"{URL}/{step.pk}/reschedule", {"due_at": iso(1), "version": 1}).status_code == 409
    refused = sales.post(f"{URL}/{step.pk}/reassign", {"owner": org.teammate.pk, "version": 2},
                         HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 422 and "cannot see the account" in body(refused)["errors"]["owner"][0]
    handed = sales.post(f"{URL}/{step.pk}/reassign", {"owner": org.manager.pk, "version": 2})
    assert handed.status_code == 200 and body(handed)["owner"] == org.manager.pk
    # The salesperson still sees it (their account), and the manager now owns it.
    cancel = api(org.manager).post(f"{URL}/{step.pk}/cancel", {"version": 3, "note": "不需要了"})
    assert cancel.status_code == 200 and body(cancel)["state"] == "cancelled"
    assert sales.post(f"{URL}/{step.pk}/reschedule", {"due_at": iso(1)}).status_code == 422  # closed
    step.refresh_from_db()
    assert (step.state, step.owner, step.version) == ("cancelled", org.manager, 4)
    assert AuditEvent.objects.filter(object_id=str(step.pk), content_type__model="followup").count() == 4


def test_delete_needs_the_delete_right(org: Any, api: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    step = plan(org.salesperson, account, "回访")
    assert api(org.salesperson).delete(f"{URL}/{step.pk}").status_code == 403
    assert api(org.manager).delete(f"{URL}/{step.pk}?version=1").status_code == 204
    assert api(org.manager).get(f"{URL}/{step.pk}").status_code == 404
    assert FollowUp.all_objects.get(pk=step.pk).deleted_at is not None


def test_cadence_rules(org: Any, api: Any) -> None:
    gm = api(org.gm)
    response = gm.post("/api/v1/cadence-rules", {"grade": "A", "urgency": "urgent", "interval_days": 7})
    assert response.status_code == 201, response.content
    rule = body(response)
    assert (rule["grade"], rule["urgency"], rule["interval_days"], rule["active"]) == ("A", "urgent", 7, True)
    assert gm.post("/api/v1/cadence-rules", {"interval_days": 30}).status_code == 201  # the default rule
    for bad, field in (({"grade": "A", "urgency": "urgent", "interval_days": 9}, "grade"),
                       ({"grade": "Z", "interval_days": 9}, "grade"),
                       ({"urgency": "whenever", "interval_days": 9}, "urgency"),
                       ({"interval_days": 400}, "interval_days")):
        refused = gm.post("/api/v1/cadence-rules", bad)
        assert refused.status_code == 422 and field in body(refused)["errors"], (bad, refused.content)
    assert [r["interval_days"] for r in body(gm.get("/api/v1/cadence-rules"))] == [30, 7]
    path = f"/api/v1/cadence-rules/{rule['id']}"
    assert gm.patch(path, {"version": 1, "interval_days": 10, "active": False}).status_code == 200
    assert gm.patch(path, {"version": 1, "interval_days": 12}).status_code == 409
    assert gm.patch(path, {"version": 2, "grade": "B"}).status_code == 422
    assert api(org.admin).patch(path, {"version": 2, "title": "保持联系"}).status_code == 200
    assert gm.patch("/api/v1/cadence-rules/999999", {"version": 1, "interval_days": 3}).status_code == 404
    for who in (org.manager, org.salesperson):
        client = api(who)
        assert client.get("/api/v1/cadence-rules").status_code == 403
        assert client.post("/api/v1/cadence-rules", {"interval_days": 3}).status_code == 403
        assert client.patch(path, {"version": 3, "interval_days": 3}).status_code == 403
    saved = CadenceRule.objects.get(pk=rule["id"])
    assert (saved.interval_days, saved.active, saved.title, saved.version) == (10, False, "保持联系", 3)
