"""Care (R3.5) and support given (R3.6) through their services and selectors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from guanxi.activities.models import CarePlan, GreetingTemplate, Interaction, Support
from guanxi.activities.selectors import care_scope
from guanxi.activities.selectors.care import (
    builtin_greeting,
    care_events,
    festival_date,
    festivals,
    fill_greeting,
    greeting_for,
    greeting_text,
)
from guanxi.activities.services import care as services
from guanxi.core.errors import Conflict, Forbidden, Invalid
from guanxi.core.models import AuditEvent
from guanxi.customers.models import Account, Contact
from guanxi.customers.selectors.timeline import account_timeline

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


# --- Festivals -------------------------------------------------------------------------------------
# Published dates (the State Council's holiday notices and any printed 农历 calendar).
KNOWN = {
    2024: {"spring_festival": "2024-02-10", "lantern": "2024-02-24", "dragon_boat": "2024-06-10",
           "mid_autumn": "2024-09-17"},
    2025: {"spring_festival": "2025-01-29", "lantern": "2025-02-12", "dragon_boat": "2025-05-31",
           "mid_autumn": "2025-10-06"},
    2026: {"spring_festival": "2026-02-17", "lantern": "2026-03-03", "dragon_boat": "2026-06-19",
           "mid_autumn": "2026-09-25"},
}


@pytest.mark.parametrize("year", sorted(KNOWN))
def test_lunar_festivals_fall_on_their_published_dates(year: int) -> None:
    for occasion, day in KNOWN[year].items():
        assert festival_date(occasion, year) == dt.date.fromisoformat(day), occasion
    assert festival_date("new_year", year) == dt.date(year, 1, 1)
    assert festival_date("national_day", year) == dt.date(year, 10, 1)
    assert festival_date("birthday", year) is None


def test_festivals_of_a_range_in_date_order_across_the_new_year() -> None:
    whole = festivals(dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert [(f.date.isoformat(), f.occasion) for f in whole] == [
        ("2026-01-01", "new_year"), ("2026-02-17", "spring_festival"), ("2026-03-03", "lantern"),
        ("2026-06-19", "dragon_boat"), ("2026-09-25", "mid_autumn"), ("2026-10-01", "national_day")]
    winter = festivals(dt.date(2025, 12, 20), dt.date(2026, 2, 17))
    assert [f.occasion for f in winter] == ["new_year", "spring_festival"]
    assert festivals(dt.date(2026, 2, 18), dt.date(2026, 3, 2)) == []
    assert festival_date("spring_festival", 2150) is None  # beyond the lunar tables: skipped, no error


# --- Birthdays in the care calendar -----------------------------------------------------------------
def person(account: Account, name: str, birthday: dt.date | None, depth: str = "passer_by", **fields: object) -> Contact:
    return Contact.objects.create(account=account, name=name, birthday=birthday, depth=depth, **fields)


def test_birthdays_are_those_of_contacts_the_user_sees(org, account_factory):
    mine = account_factory(org.salesperson, name="华东机械有限公司")
    teammates = account_factory(org.teammate)
    south = account_factory(org.outsider)
    gone = account_factory(org.salesperson)
    person(mine, "李经理", dt.date(1980, 12, 30), depth="friend", title="总经理")
    person(mine, "王主任", dt.date(1975, 1, 3))
    person(mine, "不在范围", dt.date(1975, 1, 20))
    person(mine, "没生日", None)
    deleted = person(mine, "已删除", dt.date(1970, 12, 31))
    Contact.all_objects.filter(pk=deleted.pk).update(deleted_at=timezone.now())
    person(teammates, "同事的客户", dt.date(1990, 12, 29))
    person(south, "华南客户", dt.date(1990, 1, 1))
    person(gone, "删了的公司的人", dt.date(1990, 1, 2))
    Account.all_objects.filter(pk=gone.pk).update(deleted_at=timezone.now())

    start, end = dt.date(2026, 12, 28), dt.date(2027, 1, 5)

    def birthdays(user, **kw):
        return [(e.date.isoformat(), e.contact_name) for e in care_events(user, start, end, **kw) if e.kind == "birthday"]

    # Over the New Year: December first, each on this range's date of the birthday.
    assert birthdays(org.salesperson) == [("2026-12-30", "李经理"), ("2027-01-03", "王主任")]
    assert ("2026-12-29", "同事的客户") in birthdays(org.manager)
    assert ("2027-01-01", "华南客户") not in birthdays(org.manager)
    assert ("2027-01-01", "华南客户") in birthdays(org.gm)
    assert birthdays(org.outsider) == [("2027-01-01", "华南客户")]
    # "Mine": the manager sees the team's, but only their own accounts on request (none).
    assert birthdays(org.manager, mine=True) == []
    event = next(e for e in care_events(org.salesperson, start, end) if e.kind == "birthday")
    assert (event.account_name, event.depth, event.depth_label) == ("华东机械有限公司", "friend", "Friend")
    assert event.greeting == builtin_greeting("birthday", "friend").replace("{name}", "李经理")
    festivals_seen = [e.occasion for e in care_events(org.outsider, start, end) if e.kind == "festival"]
    assert festivals_seen == ["new_year"]  # company-wide


def test_birthday_query_is_one_capped_query_and_leap_day_birthdays_are_kept(org, account_factory):
    account = account_factory(org.salesperson)
    person(account, "闰日", dt.date(1988, 2, 29))
    for i in range(30):
        person(account, f"三月{i}", dt.date(1980, 3, 1 + i % 28))
    leap = care_events(org.salesperson, dt.date(2027, 2, 26), dt.date(2027, 2, 28))
    assert [(e.date, e.contact_name) for e in leap if e.kind == "birthday"] == [(dt.date(2027, 2, 28), "闰日")]
    leap_year = care_events(org.salesperson, dt.date(2028, 2, 28), dt.date(2028, 2, 29))
    assert [(e.date, e.contact_name) for e in leap_year if e.kind == "birthday"] == [(dt.date(2028, 2, 29), "闰日")]
    care_events(org.salesperson, dt.date(2027, 3, 1), dt.date(2027, 3, 31), greetings=False)  # warm the caches
    with CaptureQueriesContext(connection) as ctx:
        capped = care_events(org.salesperson, dt.date(2027, 3, 1), dt.date(2027, 3, 31), greetings=False, limit=10)
    assert len([e for e in capped if e.kind == "birthday"]) == 10
    assert [e.date.day for e in capped if e.kind == "birthday"] == sorted(e.date.day for e in capped if e.kind == "birthday")
    assert len(ctx.captured_queries) <= 3  # care plans, birthdays (visibility cached on the user)
    # A whole year: every birthday once; more than a year is cut to 366 days.
    year = care_events(org.salesperson, dt.date(2027, 1, 1), dt.date(2027, 12, 31))
    assert len([e for e in year if e.kind == "birthday"]) == 31
    assert care_events(org.salesperson, dt.date(2027, 1, 2), dt.date(2027, 1, 1)) == []


# --- Greetings -------------------------------------------------------------------------------------------
def test_greeting_follows_the_relationship_depth_and_the_administrators_templates(org, account_factory):
    account = account_factory(org.salesperson, name="东方电气")
    stranger = person(account, "赵总", None, depth="passer_by", title="总经理")
    friend = person(account, "钱姐", None, depth="friend")
    # Built in: formal for people we know less well, warm for friends and confidants.
    assert greeting_text("mid_autumn", "passer_by", {}) == builtin_greeting("mid_autumn", "")
    assert greeting_text("mid_autumn", "confidant", {}) == builtin_greeting("mid_autumn", "friend")
    assert builtin_greeting("mid_autumn", "") != builtin_greeting("mid_autumn", "friend")
    assert greeting_for(stranger, "mid_autumn").startswith("Dear 赵总,")
    # The administrators' general wording replaces the built-in one for every depth …
    services.greeting_template_create(actor=org.gm, occasion="mid_autumn", body="{name}{title}（{company}）：中秋快乐！")
    assert greeting_for(stranger, "mid_autumn") == "赵总总经理（东方电气）：中秋快乐！"
    assert greeting_for(friend, "mid_autumn") == "钱姐（东方电气）：中秋快乐！"
    # … and one for a depth wins over it for that depth only.
    services.greeting_template_create(actor=org.admin, occasion="mid_autumn", depth="friend",
                                      body="{name}，中秋快乐！改天一起喝茶。—{me}")
    assert greeting_for(friend, "mid_autumn", me=org.salesperson) == "钱姐，中秋快乐！改天一起喝茶。—王伟"
    assert greeting_for(stranger, "mid_autumn").startswith("赵总总经理")
    # Only the four placeholders are filled; no format-string evaluation of stored text.
    assert fill_greeting("{name.__class__}{0}{name}", name="钱姐") == "{name.__class__}{0}钱姐"
    assert greeting_for(friend, "birthday") == builtin_greeting("birthday", "friend").replace("{name}", "钱姐")


def test_greeting_templates_are_configuration_for_general_managers(org):
    with pytest.raises(Forbidden):
        services.greeting_template_create(actor=org.manager, occasion="birthday", body="生日快乐")
    with pytest.raises(Invalid) as exc:
        services.greeting_template_create(actor=org.gm, occasion="birthday", body="{姓名}生日快乐")
    assert "body" in exc.value.errors
    with pytest.raises(Invalid) as exc:
        services.greeting_template_create(actor=org.gm, occasion="someday", depth="enemy", body="")
    assert {"occasion", "depth", "body"} <= set(exc.value.errors)
    assert not GreetingTemplate.objects.exists()
    template = services.greeting_template_create(actor=org.gm, occasion="birthday", body="{name}生日快乐")
    with pytest.raises(Invalid):
        services.greeting_template_create(actor=org.gm, occasion="birthday", body="again")
    services.greeting_template_update(actor=org.gm, template=template, changes={"body": "{name}，生日快乐！"},
                                      expected_version=1)
    with pytest.raises(Conflict):
        services.greeting_template_update(actor=org.gm, template=template, changes={"body": "x"}, expected_version=1)
    assert GreetingTemplate.objects.get().body == "{name}，生日快乐！"
    services.greeting_template_delete(actor=org.admin, template=template)
    assert not GreetingTemplate.objects.exists()
    assert AuditEvent.objects.filter(action="delete", object_repr__contains="Birthday").exists()


# --- Care plans -------------------------------------------------------------------------------------------
def test_marking_a_plan_sent_logs_a_care_interaction_and_touches_the_account(org, account_factory):
    account = account_factory(org.salesperson)
    friend = person(account, "孙总", dt.date(1970, 5, 6), depth="confidant")
    plan = services.care_plan_create(actor=org.salesperson, account=account, contact=friend.pk, occasion="birthday",
                                     date="2026-05-06", gift="茶叶", gift_value="300")
    assert plan.message == builtin_greeting("birthday", "confidant").replace("{name}", "孙总")
    assert (plan.state, plan.owner, plan.version) == ("planned", org.salesperson, 1)
    before = timezone.now()
    services.care_plan_mark_sent(actor=org.salesperson, plan=plan, kind="visit", gift="茶叶一盒",
                                 gift_value=Decimal("320.00"), expected_version=1)
    plan.refresh_from_db()
    assert plan.state == "sent" and plan.interaction is not None and plan.gift == "茶叶一盒"
    interaction = Interaction.objects.get()
    assert (interaction.purpose, interaction.kind, interaction.gift, interaction.gift_value) == (
        "care", "visit", "茶叶一盒", Decimal("320.00"))
    assert list(interaction.their_people.all()) == [friend]
    assert interaction.summary == plan.message and interaction.owner == org.salesperson
    account.refresh_from_db()
    assert account.last_activity_at is not None and account.last_activity_at >= before
    assert "interaction" in [item.kind for item in account_timeline(org.salesperson, account)]
    with pytest.raises(Invalid):
        services.care_plan_mark_sent(actor=org.salesperson, plan=plan)
    assert Interaction.objects.count() == 1


def test_a_stale_or_forbidden_send_changes_nothing(org, account_factory):
    account = account_factory(org.salesperson)
    plan = services.care_plan_create(actor=org.salesperson, account=account, occasion="national_day",
                                     date="2026-10-01", message="国庆快乐")
    services.care_plan_update(actor=org.salesperson, plan=plan, changes={"gift": "月饼"}, expected_version=1)
    audit_rows = AuditEvent.objects.count()
    with pytest.raises(Conflict):
        services.care_plan_mark_sent(actor=org.salesperson, plan=plan, expected_version=1)
    with pytest.raises(Forbidden):
        services.care_plan_mark_sent(actor=org.marketing, plan=plan)
    with pytest.raises(Invalid):
        services.care_plan_mark_sent(actor=org.salesperson, plan=plan, occurred_at=timezone.now() + dt.timedelta(days=3))
    plan.refresh_from_db()
    assert (plan.state, plan.version) == ("planned", 2)
    assert not Interaction.objects.exists() and AuditEvent.objects.count() == audit_rows
    account.refresh_from_db()
    assert account.last_activity_at is None


def test_care_plan_rules(org, account_factory):
    account = account_factory(org.salesperson)
    other = account_factory(org.outsider)
    stranger = person(other, "外人", None)
    with pytest.raises(Invalid) as exc:
        services.care_plan_create(actor=org.salesperson, account=account, occasion="birthday", date="2026-05-06")
    assert "contact" in exc.value.errors
    with pytest.raises(Invalid) as exc:
        services.care_plan_create(actor=org.salesperson, account=account, contact=stranger.pk, occasion="other",
                                  date="not a date", gift_value="-5")
    assert {"contact", "date", "gift_value"} <= set(exc.value.errors)
    with pytest.raises(Invalid) as exc:
        services.care_plan_create(actor=org.salesperson, account=account, occasion="other", date="2026-05-06",
                                  owner=org.outsider)
    assert "owner" in exc.value.errors
    with pytest.raises(Forbidden):
        services.care_plan_create(actor=org.marketing, account=account, occasion="other", date="2026-05-06")
    assert not CarePlan.objects.exists()
    plan = services.care_plan_create(actor=org.manager, account=account, occasion="other", date="2026-05-06",
                                     owner=org.salesperson)
    assert plan in care_scope(org.manager) and plan not in care_scope(org.outsider)
    services.care_plan_cancel(actor=org.salesperson, plan=plan, expected_version=1)
    with pytest.raises(Invalid):
        services.care_plan_update(actor=org.salesperson, plan=plan, changes={"gift": "x"}, expected_version=2)
    with pytest.raises(Forbidden):
        services.care_plan_delete(actor=org.salesperson, plan=plan)
    services.care_plan_delete(actor=org.manager, plan=plan)
    assert not CarePlan.objects.exists() and CarePlan.all_objects.count() == 1


def test_care_events_show_plans_and_put_a_birthday_plan_on_its_birthday(org, account_factory):
    account = account_factory(org.salesperson)
    boss = person(account, "周总", dt.date(1966, 8, 8))
    birthday = services.care_plan_create(actor=org.salesperson, account=account, contact=boss, occasion="birthday",
                                         date="2026-08-08")
    festival = services.care_plan_create(actor=org.salesperson, account=account, contact=boss, occasion="mid_autumn",
                                         date="2026-09-25", gift="月饼")
    cancelled = services.care_plan_create(actor=org.salesperson, account=account, occasion="other", date="2026-08-10")
    services.care_plan_cancel(actor=org.salesperson, plan=cancelled)
    events = care_events(org.salesperson, dt.date(2026, 8, 1), dt.date(2026, 9, 30))
    shown = [(e.kind, e.date.isoformat(), e.plan_id, e.plan_state) for e in events]
    assert shown == [("birthday", "2026-08-08", birthday.pk, "planned"),
                     ("festival", "2026-09-25", None, ""), ("plan", "2026-09-25", festival.pk, "planned")]
    assert care_events(org.outsider, dt.date(2026, 8, 1), dt.date(2026, 9, 30))[0].kind == "festival"
    assert all(e.kind == "festival" for e in care_events(org.outsider, dt.date(2026, 8, 1), dt.date(2026, 9, 30)))


def test_festival_greetings_for_many_contacts_are_worded_by_depth(org, account_factory):
    account = account_factory(org.salesperson)
    close = person(account, "好友", None, depth="confidant")
    formal = person(account, "客户", None, depth="acquaintance")
    created = services.care_plans_for_festival(actor=org.salesperson, occasion="spring_festival",
                                               date=dt.date(2027, 2, 6), contacts=[close, formal])
    messages = {p.contact_id: p.message for p in created}
    assert messages[close.pk] == builtin_greeting("spring_festival", "confidant").replace("{name}", "好友")
    assert messages[formal.pk] == builtin_greeting("spring_festival", "").replace("{name}", "客户")
    again = services.care_plans_for_festival(actor=org.salesperson, occasion="spring_festival",
                                             date=dt.date(2027, 2, 6), contacts=[close, formal])
    assert again == [] and CarePlan.objects.count() == 2
    with pytest.raises(Invalid):
        services.care_plans_for_festival(actor=org.salesperson, occasion="birthday", date=dt.date(2027, 2, 6),
                                         contacts=[close])


# --- Support given (R3.6) -------------------------------------------------------------------------------
def test_support_is_recorded_versioned_on_the_timeline_and_deleted_by_managers(org, account_factory):
    account = account_factory(org.salesperson)
    support = services.support_create(actor=org.salesperson, account=account, kind="training",
                                      description="为经销商培训20名技术员", value="15000",
                                      given_on=timezone.localdate() - dt.timedelta(days=3))
    assert support.owner == org.salesperson and support.value == Decimal("15000")
    items = [i for i in account_timeline(org.salesperson, account) if i.kind == "support"]
    assert len(items) == 1 and "20名技术员" in items[0].detail and items[0].title.startswith("Support given: Training")
    services.support_update(actor=org.salesperson, support=support, changes={"outcome": "次月订单增长30%"},
                            expected_version=1)
    support.refresh_from_db()
    assert (support.version, support.outcome) == (2, "次月订单增长30%")
    assert AuditEvent.objects.filter(action="update", object_id=str(support.pk)).exists()
    with pytest.raises(Conflict):
        services.support_update(actor=org.salesperson, support=support, changes={"outcome": "x"}, expected_version=1)
    with pytest.raises(Invalid) as exc:
        services.support_create(actor=org.salesperson, account=account, kind="money", description="",
                                value="-1", given_on=timezone.localdate() + dt.timedelta(days=2))
    assert {"kind", "description", "value", "given_on"} <= set(exc.value.errors)
    with pytest.raises(Forbidden):
        services.support_create(actor=org.marketing, account=account, kind="policy", description="x")
    with pytest.raises(Forbidden):
        services.support_delete(actor=org.salesperson, support=support)
    assert Support.objects.count() == 1
    services.support_delete(actor=org.manager, support=support)
    assert not Support.objects.exists()
    assert not [i for i in account_timeline(org.salesperson, account) if i.kind == "support"]
