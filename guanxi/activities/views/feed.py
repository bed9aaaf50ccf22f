"""The private calendar feed (R13.4): the page to create, copy and revoke one's feed, and the
iCalendar document itself, which calendar apps fetch without a session — the key in its
URL is the only credential, so an unknown, revoked or deactivated one is a plain 404."""

from __future__ import annotations

import datetime as dt
from typing import Any

import icalendar
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from guanxi.activities.models import CalendarFeed, FollowUp
from guanxi.activities.selectors import followup_scope
from guanxi.activities.selectors.care import care_events
from guanxi.activities.services import care as services
from guanxi.core.errors import NotFound
from guanxi.core.permissions import AUTHENTICATED, PUBLIC, has_perm
from guanxi.core.permissions import declare as requires

# What the feed covers around today: recent history for context, a quarter ahead.
PAST_DAYS = 30
FUTURE_DAYS = 90
FOLLOWUP_LIMIT = 500
FOLLOWUP_MINUTES = 30
UID_DOMAIN = "guanxi"


def feed_url(request: HttpRequest, raw: str) -> str:
    return request.build_absolute_uri(reverse("activities:calendar-feed-ics", args=[raw]))


@requires(AUTHENTICATED)
def calendar_feed(request: HttpRequest) -> HttpResponse:
    """The user's feed: when it was made and last fetched; create (shown once) or revoke it."""
    feed = CalendarFeed.objects.filter(user=request.user.pk, revoked_at__isnull=True).first()
    return render(request, "activities/feed_page.html", {"feed": feed, "new_url": None})


@requires(AUTHENTICATED)
@require_POST
def calendar_feed_create(request: HttpRequest) -> HttpResponse:
    feed, raw = services.calendar_feed_create(actor=request.user)
    messages.success(request, _("Your calendar feed was created. Copy its address now: it is shown only once."))
    return render(request, "activities/feed_page.html", {"feed": feed, "new_url": feed_url(request, raw)})


@requires(AUTHENTICATED)
@require_POST
def calendar_feed_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    feed = CalendarFeed.objects.filter(pk=pk, user=request.user.pk, revoked_at__isnull=True).first()
    if feed is None:
        raise NotFound()
    services.calendar_feed_revoke(actor=request.user, feed=feed)
    messages.success(request, _("The calendar feed was revoked; its address no longer works."))
    return redirect("activities:calendar-feed")


# --- The iCalendar document -----------------------------------------------------------------------
def _uid(name: str) -> str:
    return f"{name}@{UID_DOMAIN}"


def build_calendar(user: Any, *, base_url: str, now: dt.datetime | None = None) -> icalendar.Calendar:
    """The user's open follow-ups (timed events) and care events (all-day) around today, as
    the user sees them now, in the project's time zone (Asia/Shanghai by default)."""
    now = now or timezone.now()
    tz = timezone.get_default_timezone()
    today = timezone.localtime(now).date()
    start, end = today - dt.timedelta(days=PAST_DAYS), today + dt.timedelta(days=FUTURE_DAYS)
    cal = icalendar.Calendar()
    cal.add("prodid", "-//guanxi//guanxi CRM//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", _("guanxi: %(name)s") % {"name": str(user)})
    cal.add("x-wr-timezone", str(tz))
    window_start = timezone.make_aware(dt.datetime.combine(start, dt.time.min), tz)
    window_end = timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min), tz)
    if has_perm(user, "followup.view"):
        followups = (followup_scope(user).filter(owner_id=user.pk, state=FollowUp.State.OPEN,
                                                  due_at__gte=window_start, due_at__lt=window_end)
                     .select_related("account", "contact").order_by("due_at", "id")[:FOLLOWUP_LIMIT])
        for item in followups:
            event = icalendar.Event()
            event.add("uid", _uid(f"followup-{item.pk}"))
            event.add("dtstamp", item.updated_at)
            begins = timezone.localtime(item.due_at, tz)
            event.add("dtstart", begins)
            event.add("dtend", begins + dt.timedelta(minutes=FOLLOWUP_MINUTES))
            event.add("summary", _("Follow-up: %(title)s · %(account)s") % {"title": item.title,
                                                                          "account": item.account.name})
            url = f"{base_url}/activities/followups/{item.pk}/"
            lines = [_("Account: %(name)s") % {"name": item.account.name}]
            if item.contact_id and item.contact:
                lines.append(_("Person: %(name)s") % {"name": item.contact.name})
            if item.notes:
                lines.append(item.notes)
            lines.append(url)
            event.add("description", "\n".join(lines))
            event.add("url", url)
            event.add("categories", [_("Follow-up")])
            event.add("sequence", item.version)
            cal.add_component(event)
    if has_perm(user, "care.view"):
        for care in care_events(user, start, end, mine=True, greetings=False):
            event = icalendar.Event()
            event.add("uid", _uid(care.uid))
            event.add("dtstamp", now)
            event.add("dtstart", care.date)
            event.add("dtend", care.date + dt.timedelta(days=1))
            summary = care.title
            if care.account_name and care.kind != "festival":
                summary = f"{summary} · {care.account_name}"
            if care.plan_state:
                summary = f"{summary} ({care.plan_state_label})"
            event.add("summary", summary)
            event.add("transp", "TRANSPARENT")
            event.add("categories", [_("Care")])
            if care.url:
                event.add("url", base_url + care.url)
                event.add("description", base_url + care.url)
            cal.add_component(event)
    cal.add_missing_timezones(first_date=start, last_date=end + dt.timedelta(days=1))
    return cal


@requires(PUBLIC)
@require_safe
def calendar_feed_ics(request: HttpRequest, key: str) -> HttpResponse:
    feed = services.calendar_feed_use(key)
    if feed is None:
        # The same few bytes for an unknown, revoked or deactivated key: no hint which it was.
        return HttpResponseNotFound(b"Not found", content_type="text/plain; charset=utf-8")
    user = feed.user
    with translation.override(user.language or None):
        body = build_calendar(user, base_url=request.build_absolute_uri("/").rstrip("/")).to_ical()
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, no-cache"
    response["X-Robots-Tag"] = "noindex"
    response["Content-Disposition"] = 'inline; filename="guanxi.ics"'
    return response


urlpatterns: list[URLPattern] = [
    path("calendar/", calendar_feed, name="calendar-feed"),
    path("calendar/new/", calendar_feed_create, name="calendar-feed-create"),
    path("calendar/<int:pk>/revoke/", calendar_feed_revoke, name="calendar-feed-revoke"),
    path("calendar/<slug:key>.ics", calendar_feed_ics, name="calendar-feed-ics"),
]
