"""My desk (R3.3): the panels contact and follow-up puts on the home page, and the
one-click actions on them (done, snooze, the morning digest switch).

The panels are registered with core's desk (core/desk.py); the home view at "/" renders
them. Each reads one or two small indexed queries (selectors/desk.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.activities import services
from guanxi.activities.selectors import desk as reads
from guanxi.activities.selectors import followup_scope, get_one
from guanxi.activities.services import desk as desk_services
from guanxi.core import desk
from guanxi.core.errors import ServiceError
from guanxi.core.permissions import AUTHENTICATED, has_perm
from guanxi.core.permissions import declare as requires

SNOOZE_HOUR = 9
CARE_DAYS = 7


# --- Panels ----------------------------------------------------------------------------------
@desk.fact("activities")
def desk_facts(user: Any, now: dt.datetime) -> dict[str, Any]:
    """The panels' counts and flags, read with every other panel's in one statement."""
    found: dict[str, Any] = {"digest": reads.digest_fact(user)}
    if has_perm(user, "followup.view"):
        found.update(reads.due_counts(user, now))
    if has_perm(user, "account.view"):
        found.update(reads.pool_facts(user))
    return found


def _pk_url(name: str) -> Callable[[int], str]:
    """The URL of route ``name`` for any pk: reversed once per panel, then joined per row."""
    prefix, suffix = reverse(name, args=[0]).rsplit("/0/", 1)
    return lambda pk: f"{prefix}/{pk}/{suffix}"


def _rows(due: reads.DueFollowUps) -> list[Any]:
    """The panel's rows (overdue first), each with its links; the last overdue row says whether
    more are overdue than shown."""
    account_url, detail_url = _pk_url("customers:account-detail"), _pk_url("activities:followup-detail")
    done_url, snooze_url = _pk_url("activities:desk-followup-done"), _pk_url("activities:desk-followup-snooze")
    rows: list[Any] = [*due.overdue, *due.today]
    for i, f in enumerate(rows):
        f.overdue_row = i < len(due.overdue)
        f.more_overdue = False
        f.account_url, f.detail_url = account_url(f.account_id), detail_url(f.pk)
        f.done_url, f.snooze_url = done_url(f.pk), snooze_url(f.pk)
    if due.overdue and due.overdue_count[0] > len(due.overdue):
        due.overdue[-1].more_overdue = True  # type: ignore[attr-defined]
    return rows


@desk.register("activities.followups", template="activities/desk_followups.html", order=10, width="wide")
def followups_panel(user: Any, now: dt.datetime) -> dict[str, Any] | None:
    if not has_perm(user, "followup.view"):
        return None
    due = reads.due_followups(user, now, counts=desk.facts(user, now, "activities"))
    return {
        "due": due,
        "rows": _rows(due),
        "log_url": reverse("activities:interaction-create"),
        "overdue_url": desk_services.overdue_list_url(),
        "list_url": reverse("activities:followup-list"),
    }


@desk.register("activities.new-accounts", template="activities/desk_new_accounts.html", order=30)
def new_accounts_panel(user: Any, now: dt.datetime) -> dict[str, Any] | None:
    if not has_perm(user, "account.view"):
        return None
    return {"changes": reads.new_accounts(user, now), "days": reads.NEW_ACCOUNT_DAYS}


@desk.register("activities.pool", template="activities/desk_pool.html", order=40)
def pool_panel(user: Any, now: dt.datetime) -> dict[str, Any] | None:
    returning = (reads.pool_returning(user, now, known=desk.facts(user, now, "activities"))
                 if has_perm(user, "account.view") else [])
    back = reads.back_in_pool(now) if has_perm(user, "pool.view") else []
    if not returning and not back and not has_perm(user, "pool.view"):
        return None
    return {"returning": returning, "back": back}


@desk.register("activities.digest", template="activities/desk_digest.html", order=95)
def digest_panel(user: Any, now: dt.datetime) -> dict[str, Any]:
    value = (desk.facts(user, now, "activities") or {}).get("digest")  # NULL: never switched off
    return {"on": value is None or bool(value), "has_email": bool(user.email)}


# Lazy: matching birthdays by month and day reads every contact of one's accounts (about
# 70 ms for a book of 5,000 accounts at size M), so the panel loads after the desk.
@desk.register("activities.care", template="activities/desk_care.html", order=20, lazy=True,
               visible=lambda user: has_perm(user, "care.view"))
def care_panel(user: Any, now: dt.datetime) -> dict[str, Any] | None:
    """Care of the next 7 days: festivals, birthdays at my accounts, my care plans."""
    if not has_perm(user, "care.view"):
        return None
    today = timezone.localtime(now).date()
    return {"events": reads.care_events(user, today, today + dt.timedelta(days=CARE_DAYS - 1)), "today": today,
            "calendar_url": reverse("activities:care-calendar")}


# --- Actions -----------------------------------------------------------------------------------
def _version(request: HttpRequest) -> int | None:
    try:
        return int(request.POST["version"])
    except (KeyError, ValueError):
        return None


def _answer(request: HttpRequest, text: str, ok: bool) -> HttpResponse:
    """htmx: the follow-up panel again, with the outcome; otherwise back to the desk."""
    if request.htmx:  # type: ignore[attr-defined]
        context = followups_panel(request.user, timezone.now()) or {}
        context["flash"], context["flash_ok"] = text, ok
        return render(request, "activities/desk_followups.html", {"panel": context})
    (messages.success if ok else messages.error)(request, text)
    return redirect("core:home")


@requires("followup.change")
@require_POST
def followup_done(request: HttpRequest, pk: int) -> HttpResponse:
    followup = get_one(followup_scope, request.user, pk)
    try:
        services.followup_complete(actor=request.user, followup=followup, expected_version=_version(request))
    except ServiceError as exc:
        return _answer(request, exc.message, ok=False)
    return _answer(request, _("Done: %(title)s") % {"title": followup.title}, ok=True)


@requires("followup.change")
@require_POST
def followup_snooze(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a follow-up to tomorrow or a week from today, at nine in the morning.

    ``to`` comes in the form, or in the URL when the desk's shared form posts the row's button."""
    followup = get_one(followup_scope, request.user, pk)
    days = {"tomorrow": 1, "week": 7}.get(request.POST.get("to") or request.GET.get("to", ""))
    if days is None:
        return _answer(request, _("Choose when to do it."), ok=False)
    day = timezone.localdate() + dt.timedelta(days=days)
    due = timezone.make_aware(dt.datetime.combine(day, dt.time(SNOOZE_HOUR)))
    try:
        services.followup_reschedule(actor=request.user, followup=followup, due_at=due,
                                     expected_version=_version(request), note=_("Moved from my desk"))
    except ServiceError as exc:
        return _answer(request, exc.message, ok=False)
    return _answer(request, _("%(title)s moved to %(day)s") % {"title": followup.title, "day": f"{day:%Y-%m-%d}"},
                   ok=True)


@requires(AUTHENTICATED)
@require_POST
def digest_switch(request: HttpRequest) -> HttpResponse:
    on = request.POST.get("morning_digest") == "1"
    try:
        desk_services.desk_preference_set(actor=request.user, morning_digest=on)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The morning digest is on.") if on else _("The morning digest is off."))
    return redirect("core:home")


urlpatterns: list[URLPattern] = [
    path("desk/followups/<int:pk>/done/", followup_done, name="desk-followup-done"),
    path("desk/followups/<int:pk>/snooze/", followup_snooze, name="desk-followup-snooze"),
    path("desk/digest/", digest_switch, name="desk-digest"),
]
