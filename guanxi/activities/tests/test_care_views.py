"""The care pages and the care API: what each persona sees, and hidden records answering 404."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from django.utils import timezone, translation

from guanxi.activities.models import CarePlan, GreetingTemplate, Interaction, Support
from guanxi.activities.services import care as services
from guanxi.core.models import AuditEvent, User
from guanxi.customers.models import Contact

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(org) -> Iterator[None]:
    User.objects.update(language="en")  # the pages follow each user's language
    with translation.override("en"):
        yield


@pytest.fixture
def book(org, account_factory):
    """The salesperson's account with a friend born on 12 March; an outsider's with a stranger."""
    mine = account_factory(org.salesperson, name="华东机械有限公司")
    theirs = account_factory(org.outsider, name="华南贸易有限公司")
    friend = Contact.objects.create(account=mine, name="李经理", depth="friend", birthday=dt.date(1980, 3, 12))
    stranger = Contact.objects.create(account=theirs, name="陈秘书", depth="confidant", birthday=dt.date(1985, 3, 14))
    return mine, theirs, friend, stranger


def test_care_calendar_shows_visible_birthdays_with_depth_greeting_and_festivals(org, login, book):
    _mine, _theirs, friend, _stranger = book
    client = login(org.salesperson)
    page = client.get("/activities/care/?month=2026-03")
    html = page.content.decode()
    assert page.status_code == 200
    assert "李经理" in html and "华东机械有限公司" in html and "Friend" in html
    assert "陈秘书" not in html and "华南贸易有限公司" not in html
    assert "Lantern Festival" in html  # 2026-03-03
    assert "happy birthday" in html  # the warm built-in greeting for a friend
    assert f"?contact={friend.pk}&amp;occasion=birthday&amp;date=2026-03-12" in html
    assert 'href="/activities/care/"' in client.get("/").content.decode()  # in the navigation
    assert "陈秘书" in login(org.gm).get("/activities/care/?month=2026-03").content.decode()
    assert login(org.gm).get("/activities/care/?month=junk").status_code == 200


def test_plan_then_mark_sent_from_the_pages(org, login, book):
    mine, _theirs, friend, _stranger = book
    client = login(org.salesperson)
    form = client.get(f"/activities/care/plans/new/?contact={friend.pk}&occasion=birthday&date=2026-03-12")
    assert form.status_code == 200 and "李经理" in form.content.decode()
    response = client.post(f"/activities/care/plans/new/?contact={friend.pk}&occasion=birthday&date=2026-03-12", {
        "occasion": "birthday", "date": "2026-03-12", "contact": str(friend.pk), "message": "李经理，生日快乐！",
        "gift": "鲜花", "gift_value": "200"})
    assert response.status_code == 302
    plan = CarePlan.objects.get()
    assert (plan.contact, plan.message, plan.owner) == (friend, "李经理，生日快乐！", org.salesperson)
    assert "Planned" in client.get("/activities/care/?month=2026-03").content.decode()
    response = client.post(f"/activities/care/plans/{plan.pk}/sent/", {
        "kind": "message", "occurred_at": "2026-03-12T09:30", "message": plan.message, "gift": "鲜花",
        "gift_value": "180", "version": "1"})
    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.state == "sent"
    interaction = Interaction.objects.get(pk=plan.interaction_id)
    assert (interaction.purpose, interaction.kind, str(interaction.gift_value)) == ("care", "message", "180.00")
    assert interaction.account == mine
    # Once sent it is shown, not edited.
    assert 'data-testid="care-plan-summary"' in client.get(f"/activities/care/plans/{plan.pk}/").content.decode()


def test_care_pages_answer_404_for_hidden_people_and_plans_and_nothing_changes(org, login, book):
    _mine, theirs, _friend, stranger = book
    plan = services.care_plan_create(actor=org.outsider, account=theirs, contact=stranger, occasion="birthday",
                                     date="2026-03-14")
    client = login(org.salesperson)
    assert client.get(f"/activities/care/plans/new/?contact={stranger.pk}").status_code == 404
    assert client.get(f"/activities/care/plans/new/?account={theirs.pk}").status_code == 404
    assert client.get(f"/activities/care/plans/{plan.pk}/").status_code == 404
    assert client.post(f"/activities/care/plans/{plan.pk}/sent/", {"kind": "message", "version": "1"}).status_code == 404
    assert client.post(f"/activities/care/plans/{plan.pk}/cancel/", {"version": "1"}).status_code == 404
    assert client.get(f"/activities/accounts/{theirs.pk}/support/").status_code == 404
    assert client.post(f"/activities/accounts/{theirs.pk}/support/", {
        "kind": "policy", "description": "x", "given_on": "2026-01-01"}).status_code == 404
    plan.refresh_from_db()
    assert plan.state == "planned" and not Support.objects.exists() and not Interaction.objects.exists()
    assert login(org.marketing).get("/activities/care/plans/new/?account=1").status_code == 403


def test_festival_page_plans_greetings_for_my_contacts(org, login, book):
    mine, _theirs, friend, _stranger = book
    other = Contact.objects.create(account=mine, name="王会计", depth="passer_by")
    client = login(org.salesperson)
    page = client.get("/activities/care/festival/?occasion=mid_autumn&date=2026-09-25")
    html = page.content.decode()
    assert page.status_code == 200 and "李经理" in html and "王会计" in html and "陈秘书" not in html
    assert client.get("/activities/care/festival/?occasion=mid_autumn&date=2026-09-26").status_code == 404
    response = client.post("/activities/care/festival/", {"occasion": "mid_autumn", "date": "2026-09-25",
                                                          "contacts": [str(friend.pk), str(other.pk), "999999"]})
    assert response.status_code == 302
    assert set(CarePlan.objects.values_list("contact__name", flat=True)) == {"李经理", "王会计"}


def test_greeting_template_pages_for_general_managers_only(org, login):
    assert login(org.salesperson).get("/activities/care/greetings/").status_code == 403
    client = login(org.gm)
    page = client.get("/activities/care/greetings/")
    assert page.status_code == 200 and "built-in" in page.content.decode()
    assert "Greeting templates" in client.get("/").content.decode()  # in the Administration menu
    prefilled = client.get("/activities/care/greetings/new/?occasion=spring_festival&depth=friend").content.decode()
    assert "happy Spring Festival" in prefilled
    response = client.post("/activities/care/greetings/new/", {"occasion": "spring_festival", "depth": "friend",
                                                                "body": "{name}，新春快乐！"})
    assert response.status_code == 302
    template = GreetingTemplate.objects.get()
    response = client.post(f"/activities/care/greetings/{template.pk}/", {
        "occasion": "spring_festival", "depth": "friend", "body": "{name}，过年好！", "version": "1"})
    assert response.status_code == 302
    assert GreetingTemplate.objects.get().body == "{name}，过年好！"
    stale = client.post(f"/activities/care/greetings/{template.pk}/", {
        "occasion": "spring_festival", "depth": "friend", "body": "旧的", "version": "1"})
    assert stale.status_code == 200 and GreetingTemplate.objects.get().body == "{name}，过年好！"
    assert client.post(f"/activities/care/greetings/{template.pk}/delete/").status_code == 302
    assert not GreetingTemplate.objects.exists()


def test_support_page_records_and_lists_support(org, login, book):
    mine, *_rest = book
    client = login(org.salesperson)
    response = client.post(f"/activities/accounts/{mine.pk}/support/", {
        "kind": "funding", "description": "帮助申请技改补贴", "value": "50000", "given_on": "2026-01-05",
        "outcome": "获批30万"})
    assert response.status_code == 302
    support = Support.objects.get()
    assert (support.kind, support.owner, str(support.value)) == ("funding", org.salesperson, "50000.00")
    html = client.get(f"/activities/accounts/{mine.pk}/support/").content.decode()
    assert "帮助申请技改补贴" in html and "获批30万" in html
    # The account page has the tab; its content loads when opened.
    detail = client.get(f"/accounts/{mine.pk}/").content.decode()
    assert 'id="tab-care"' in detail and f"/activities/accounts/{mine.pk}/care/" in detail
    panel = client.get(f"/activities/accounts/{mine.pk}/care/").content.decode()
    assert "帮助申请技改补贴" in panel
    edit = client.post(f"/activities/support/{support.pk}/", {
        "kind": "funding", "description": "帮助申请技改补贴", "value": "60000", "given_on": "2026-01-05",
        "outcome": "获批30万", "version": "1"})
    assert edit.status_code == 302 and str(Support.objects.get().value) == "60000.00"
    assert client.post(f"/activities/support/{support.pk}/delete/").status_code == 403
    assert login(org.manager).post(f"/activities/support/{support.pk}/delete/").status_code == 302
    assert not Support.objects.exists()


# --- API ------------------------------------------------------------------------------------------------
def body(response):
    return json.loads(response.content.decode())


def test_care_events_api(org, api, book):
    _mine, _theirs, friend, _stranger = book
    events = body(api(org.salesperson).get("/api/v1/care-events", {"start": "2026-03-01", "end": "2026-03-31"}))
    assert [(e["kind"], e["date"]) for e in events] == [("festival", "2026-03-03"), ("birthday", "2026-03-12")]
    birthday = events[1]
    assert (birthday["contact"], birthday["depth"], birthday["account_name"]) == (friend.pk, "friend", "华东机械有限公司")
    assert birthday["greeting"].startswith("李经理")
    assert api(org.salesperson).get("/api/v1/care-events", {"start": "2026-03-01", "end": "2026-02-01"}).status_code == 422
    assert api(org.salesperson).get("/api/v1/care-events", {"start": "2026-01-01", "end": "2027-06-01"}).status_code == 422
    assert api(org.salesperson).get("/api/v1/care-events").status_code == 200


def test_care_plan_api_crud_and_sent(org, api, book):
    mine, _theirs, friend, _stranger = book
    client = api(org.salesperson)
    created = client.post("/api/v1/care-plans", {"account": mine.pk, "contact": friend.pk, "occasion": "birthday",
                                                  "date": "2026-03-12", "gift": "茶叶", "gift_value": "300"})
    assert created.status_code == 201, created.content
    plan = body(created)
    assert plan["message"].startswith("李经理") and plan["state"] == "planned" and plan["version"] == 1
    patched = client.patch(f"/api/v1/care-plans/{plan['id']}", {"version": 1, "message": "生日快乐"})
    assert patched.status_code == 200 and body(patched)["version"] == 2
    assert client.patch(f"/api/v1/care-plans/{plan['id']}", {"version": 1, "message": "x"}).status_code == 409
    listed = body(client.get("/api/v1/care-plans", {"account": mine.pk}))
    assert [p["id"] for p in listed["results"]] == [plan["id"]]
    sent = client.post(f"/api/v1/care-plans/{plan['id']}/sent", {"kind": "visit", "version": 2})
    assert sent.status_code == 200, sent.content
    assert body(sent)["state"] == "sent" and body(sent)["interaction"] == Interaction.objects.get().pk
    assert client.post(f"/api/v1/care-plans/{plan['id']}/sent", {"kind": "visit"}).status_code == 422
    bad = client.post("/api/v1/care-plans", {"account": mine.pk, "occasion": "birthday", "date": "2026-03-12"})
    assert bad.status_code == 422 and "contact" in body(bad)["errors"]
    assert client.delete(f"/api/v1/care-plans/{plan['id']}").status_code == 403
    assert api(org.manager).delete(f"/api/v1/care-plans/{plan['id']}").status_code == 204


def test_care_api_answers_404_for_hidden_records_and_changes_nothing(org, api, book):
    _mine, theirs, _friend, stranger = book
    plan = services.care_plan_create(actor=org.outsider, account=theirs, contact=stranger, occasion="birthday",
                                     date="2026-03-14")
    support = services.support_create(actor=org.outsider, account=theirs, kind="people", description="派驻工程师")
    client, manager = api(org.salesperson), api(org.manager)
    before = AuditEvent.objects.count()  # (making the tokens is audited too)
    assert client.get(f"/api/v1/care-plans/{plan.pk}").status_code == 404
    assert client.patch(f"/api/v1/care-plans/{plan.pk}", {"version": 1, "gift": "x"}).status_code == 404
    assert client.post(f"/api/v1/care-plans/{plan.pk}/sent", {"kind": "message"}).status_code == 404
    assert manager.delete(f"/api/v1/care-plans/{plan.pk}").status_code == 404
    assert client.get(f"/api/v1/support/{support.pk}").status_code == 404
    assert client.patch(f"/api/v1/support/{support.pk}", {"version": 1, "outcome": "x"}).status_code == 404
    assert manager.delete(f"/api/v1/support/{support.pk}").status_code == 404
    assert body(client.get("/api/v1/care-plans"))["results"] == []
    assert body(client.get("/api/v1/support"))["results"] == []
    created = client.post("/api/v1/support", {"account": theirs.pk, "kind": "policy", "description": "x"})
    assert created.status_code == 422 and "account" in body(created)["errors"]
    assert AuditEvent.objects.count() == before
    plan.refresh_from_db()
    support.refresh_from_db()
    assert (plan.state, plan.version, support.version) == ("planned", 1, 1)


def test_support_and_greeting_template_api(org, api, book):
    mine, *_rest = book
    client = api(org.salesperson)
    created = client.post("/api/v1/support", {"account": mine.pk, "kind": "training", "description": "销售培训",
                                              "value": "8000", "given_on": str(timezone.localdate())})
    assert created.status_code == 201, created.content
    support = body(created)
    patched = client.patch(f"/api/v1/support/{support['id']}", {"version": 1, "outcome": "签约两家新店"})
    assert patched.status_code == 200 and body(patched)["outcome"] == "签约两家新店"
    assert [s["id"] for s in body(client.get("/api/v1/support", {"account": mine.pk}))["results"]] == [support["id"]]
    assert client.post("/api/v1/greeting-templates", {"occasion": "birthday", "body": "生日快乐"}).status_code == 403
    gm = api(org.gm)
    template = gm.post("/api/v1/greeting-templates", {"occasion": "birthday", "depth": "friend", "body": "{name}生日快乐"})
    assert template.status_code == 201
    tid = body(template)["id"]
    assert gm.patch(f"/api/v1/greeting-templates/{tid}", {"version": 1, "body": "{name}，生日快乐"}).status_code == 200
    assert gm.patch(f"/api/v1/greeting-templates/{tid}", {"version": 1, "body": "x"}).status_code == 409
    assert body(client.get("/api/v1/greeting-templates"))[0]["body"] == "{name}，生日快乐"
    assert gm.post("/api/v1/greeting-templates", {"occasion": "birthday", "body": "{oops}"}).status_code == 422
