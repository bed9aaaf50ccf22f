"""The private calendar feed (R13.4): a key-only iCalendar URL per user, revocable, showing
the user's own follow-ups and care events as the user sees them now."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Iterator
from typing import Any

import icalendar
import pytest
from django.test import Client
from django.utils import timezone, translation

from guanxi.activities import services as activity_services
from guanxi.activities.models import CalendarFeed
from guanxi.activities.selectors.care import festivals
from guanxi.activities.services import care as services
from guanxi.activities.views.feed import build_calendar
from guanxi.customers.models import Account, Contact

pytestmark = pytest.mark.django_db
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def fetch(url: str) -> Any:
    """Fetch a feed as a calendar app does: no session, no cookies."""
    return Client().get(url)


def feed_path(url: str) -> str:
    return url[url.index("/activities/"):]


def events(response: Any) -> dict[str, Any]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(response.content)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


@pytest.fixture
def setup(org, account_factory):
    soon = timezone.localdate() + dt.timedelta(days=5)
    mine = account_factory(org.salesperson, name="华东机械有限公司")
    teammates = account_factory(org.teammate, name="同事的公司")
    due = timezone.now() + dt.timedelta(days=2)
    own = activity_services.followup_create(actor=org.salesperson, account=mine, title="送报价单", due_at=due)
    other = activity_services.followup_create(actor=org.teammate, account=teammates, title="同事的跟进", due_at=due)
    friend = Contact.objects.create(account=mine, name="李经理", birthday=soon.replace(year=1980), depth="friend")
    Contact.objects.create(account=teammates, name="同事的联系人", birthday=soon.replace(year=1981))
    return mine, own, other, friend, soon


def test_feed_holds_my_follow_ups_and_care_events_only(org, login, setup):
    _mine, own, other, friend, soon = setup
    client = login(org.salesperson)
    page = client.post("/activities/calendar/new/")
    assert page.status_code == 200
    url = page.context["new_url"]
    assert url.startswith("http://testserver/activities/calendar/") and url.endswith(".ics")
    feed = CalendarFeed.objects.get(user=org.salesperson)
    assert feed.key_hash not in url and len(feed.key_hash) == 64  # only a hash is stored
    first = events(fetch(feed_path(url)))
    assert f"followup-{own.pk}@guanxi" in first and f"followup-{other.pk}@guanxi" not in first
    followup = first[f"followup-{own.pk}@guanxi"]
    assert "送报价单" in str(followup["SUMMARY"]) and "华东机械有限公司" in str(followup["SUMMARY"])
    start = followup.decoded("DTSTART")
    assert start == own.due_at.replace(microsecond=0) and str(start.tzinfo) == "Asia/Shanghai"
    assert str(followup["URL"]).endswith(f"/activities/followups/{own.pk}/")
    birthday = first[f"birthday-{friend.pk}-{soon:%Y%m%d}@guanxi"]
    assert birthday.decoded("DTSTART") == soon and "李经理" in str(birthday["SUMMARY"])  # all day
    assert not any("同事的联系人" in str(e["SUMMARY"]) for e in first.values())
    today = timezone.localdate()
    for festival in festivals(today - dt.timedelta(days=30), today + dt.timedelta(days=90)):
        assert f"festival-{festival.occasion}-{festival.date:%Y}@guanxi" in first
    assert b"BEGIN:VTIMEZONE" in fetch(feed_path(url)).content and b"TZID:Asia/Shanghai" in fetch(feed_path(url)).content
    # Stable UIDs: the same items under the same names on the next fetch.
    assert set(events(fetch(feed_path(url)))) == set(first)
    feed.refresh_from_db()
    assert feed.last_used_at is not None
    shown = timezone.localtime(feed.last_used_at).strftime("%Y-%m-%d %H:%M")
    assert shown in client.get("/activities/calendar/").content.decode()


def test_wrong_revoked_and_rotated_keys_answer_404(org, login, setup):
    client = login(org.salesperson)
    old = feed_path(client.post("/activities/calendar/new/").context["new_url"])
    assert fetch(old).status_code == 200
    assert fetch("/activities/calendar/not-the-key.ics").status_code == 404
    assert fetch(old.replace(".ics", "x.ics")).status_code == 404
    new = feed_path(client.post("/activities/calendar/new/").context["new_url"])
    assert fetch(old).status_code == 404 and fetch(new).status_code == 200
    assert CalendarFeed.objects.filter(user=org.salesperson, revoked_at__isnull=True).count() == 1
    live = CalendarFeed.objects.get(user=org.salesperson, revoked_at__isnull=True)
    assert login(org.teammate).post(f"/activities/calendar/{live.pk}/revoke/").status_code == 404
    assert fetch(new).status_code == 200
    assert client.post(f"/activities/calendar/{live.pk}/revoke/").status_code == 302
    assert fetch(new).status_code == 404
    assert fetch(new).content == fetch("/activities/calendar/not-the-key.ics").content  # no hint which it was


def test_feed_follows_current_visibility_and_a_deactivated_user_loses_it(org, login, setup):
    mine, _own, _other, friend, soon = setup
    client = login(org.salesperson)
    path = feed_path(client.post("/activities/calendar/new/").context["new_url"])
    assert f"birthday-{friend.pk}-{soon:%Y%m%d}@guanxi" in events(fetch(path))
    # The account goes to a colleague: its people's birthdays leave my feed.
    Account.objects.filter(pk=mine.pk).update(owner=org.teammate)
    assert f"birthday-{friend.pk}-{soon:%Y%m%d}@guanxi" not in events(fetch(path))
    org.salesperson.is_active = False
    org.salesperson.save(update_fields=["is_active"])
    assert fetch(path).status_code == 404


def test_build_calendar_window_and_time_zone(org, setup):
    mine, _own, _other, _friend, _soon = setup
    now = dt.datetime(2026, 10, 5, 1, 0, tzinfo=dt.UTC)  # the window: 5 September – 3 January
    late = activity_services.followup_create(actor=org.salesperson, account=mine, title="年底回访",
                                             due_at=dt.datetime(2027, 1, 10, 10, 0, tzinfo=SHANGHAI))
    cal = build_calendar(org.salesperson, base_url="https://crm.example.com", now=now)
    uids = {str(e["UID"]) for e in cal.walk("VEVENT")}
    assert {"festival-mid_autumn-2026@guanxi", "festival-national_day-2026@guanxi",
            "festival-new_year-2027@guanxi"} <= uids
    assert "festival-dragon_boat-2026@guanxi" not in uids  # 19 June: more than 30 days back
    assert f"followup-{late.pk}@guanxi" not in uids  # more than 90 days ahead
    mid_autumn = next(e for e in cal.walk("VEVENT") if str(e["UID"]) == "festival-mid_autumn-2026@guanxi")
    assert mid_autumn.decoded("DTSTART") == dt.date(2026, 9, 25)
    assert mid_autumn.decoded("DTEND") == dt.date(2026, 9, 26)


def test_calendar_feed_api(org, api, setup):
    client = api(org.salesperson)
    created = client.post("/api/v1/calendar-feeds")
    assert created.status_code == 201
    data = json.loads(created.content)
    assert fetch(feed_path(data["url"])).status_code == 200
    listed = json.loads(client.get("/api/v1/calendar-feeds").content)
    assert [f["id"] for f in listed] == [data["id"]] and "url" not in listed[0]
    assert api(org.teammate).delete(f"/api/v1/calendar-feeds/{data['id']}").status_code == 404
    assert client.delete(f"/api/v1/calendar-feeds/{data['id']}").status_code == 204
    assert fetch(feed_path(data["url"])).status_code == 404
    assert client.delete(f"/api/v1/calendar-feeds/{data['id']}").status_code == 404
    assert services.calendar_feed_use("") is None
