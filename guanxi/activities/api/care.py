"""REST endpoints of contact and follow-up: care (R3.5), support given (R3.6), greeting
templates and the private calendar feed (R13.4).

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.pagination import CursorPagination, paginate

from guanxi.activities.models import CalendarFeed, CarePlan, GreetingTemplate, Interaction, Support
from guanxi.activities.selectors import care as reads
from guanxi.activities.selectors import care_scope, get_one, support_scope
from guanxi.activities.services import care as services
from guanxi.core.api import ErrorOut, Strict
from guanxi.core.errors import Invalid, NotFound
from guanxi.core.permissions import AUTHENTICATED
from guanxi.core.permissions import declare as requires
from guanxi.customers.models import Account
from guanxi.customers.selectors import account_scope

router = Router(tags=["care"])


def _account(request: HttpRequest, pk: int) -> Account:
    account = account_scope(request.user).filter(pk=pk).first()
    if account is None:
        raise Invalid(errors={"account": [_("No such account.")]})
    return account


# --- Care events (computed) ------------------------------------------------------------------------
class CareEventOut(Schema):
    date: dt.date
    kind: str
    occasion: str
    occasion_label: str
    title: str
    account: int | None
    account_name: str
    contact: int | None
    contact_name: str
    depth: str
    greeting: str
    plan: int | None
    plan_state: str
    url: str


@router.get("/care-events", response={200: list[CareEventOut], 422: ErrorOut})
@requires("care.view")
def care_event_list(request: HttpRequest, start: dt.date | None = None, end: dt.date | None = None,
                    mine: bool = False) -> Any:
    """Festivals, birthdays of the contacts the caller sees and care plans from ``start``
    (default today) to ``end`` (default 30 days later), both included, at most 366 days;
    ``mine``: only the caller's own accounts and plans."""
    start = start or timezone.localdate()
    end = end or start + dt.timedelta(days=30)
    if end < start:
        raise Invalid(errors={"end": [_("The end must not be before the start.")]})
    if (end - start).days >= reads.MAX_SPAN_DAYS:
        raise Invalid(errors={"end": [_("Ask for at most %(days)d days at a time.") % {"days": reads.MAX_SPAN_DAYS}]})
    return [{"date": e.date, "kind": e.kind, "occasion": e.occasion, "occasion_label": e.occasion_label,
             "title": e.title, "account": e.account_id, "account_name": e.account_name, "contact": e.contact_id,
             "contact_name": e.contact_name, "depth": e.depth, "greeting": e.greeting, "plan": e.plan_id,
             "plan_state": e.plan_state, "url": e.url}
            for e in reads.care_events(request.user, start, end, mine=mine)]


# --- Care plans --------------------------------------------------------------------------------------
class CarePlanOut(Schema):
    id: int
    account: int = Field(..., alias="account_id")
    account_name: str
    contact: int | None = Field(None, alias="contact_id")
    contact_name: str | None
    occasion: str
    date: dt.date
    message: str
    gift: str
    gift_value: Decimal | None
    owner: int = Field(..., alias="owner_id")
    state: str
    interaction: int | None = Field(None, alias="interaction_id")
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_account_name(obj: CarePlan) -> str:
        return obj.account.name

    @staticmethod
    def resolve_contact_name(obj: CarePlan) -> str | None:
        return obj.contact.name if obj.contact_id and obj.contact else None


class CarePlanIn(Strict):
    account: int
    contact: int | None = None
    occasion: str
    date: dt.date
    message: str = ""
    gift: str = ""
    gift_value: Decimal | None = None
    owner: int | None = None


class CarePlanPatch(Strict):
    version: int
    occasion: str | None = None
    date: dt.date | None = None
    contact: int | None = None
    message: str | None = None
    gift: str | None = None
    gift_value: Decimal | None = None


class SentIn(Strict):
    kind: str = Interaction.Kind.MESSAGE
    occurred_at: dt.datetime | None = None
    message: str | None = None
    gift: str | None = None
    gift_value: Decimal | None = None
    summary: str = ""
    version: int | None = None


def _plan(request: HttpRequest, pk: int) -> CarePlan:
    plan: CarePlan = get_one(care_scope, request.user, pk, "account", "contact")
    return plan


@router.get("/care-plans", response=list[CarePlanOut])
@requires("care.view")
@paginate(CursorPagination, ordering=("-id",))
def care_plan_list(request: HttpRequest, account: int | None = None, contact: int | None = None, state: str = "",
                   occasion: str = "", owner: int | None = None, start: dt.date | None = None,
                   end: dt.date | None = None) -> Any:
    """Care plans of the accounts the caller sees, filtered by ``account``, ``contact``,
    ``state``, ``occasion``, ``owner`` and date range ``start``–``end``."""
    qs = care_scope(request.user).select_related("account", "contact")
    filters = {"account_id": account, "contact_id": contact, "state": state or None, "occasion": occasion or None,
               "owner_id": owner, "date__gte": start, "date__lte": end}
    return qs.filter(**{k: v for k, v in filters.items() if v is not None})


@router.post("/care-plans", response={201: CarePlanOut, 422: ErrorOut})
@requires("care.add")
def care_plan_create(request: HttpRequest, payload: CarePlanIn) -> Any:
    data = payload.model_dump()
    account = _account(request, data.pop("account"))
    plan = services.care_plan_create(actor=request.user, account=account, **data)
    return Status(201, plan)


@router.get("/care-plans/{int:pk}", response=CarePlanOut)
@requires("care.view")
def care_plan_get(request: HttpRequest, pk: int) -> Any:
    return _plan(request, pk)


@router.patch("/care-plans/{int:pk}", response={200: CarePlanOut, 409: ErrorOut, 422: ErrorOut})
@requires("care.change")
def care_plan_update(request: HttpRequest, pk: int, payload: CarePlanPatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    plan = _plan(request, pk)
    services.care_plan_update(actor=request.user, plan=plan, changes=data, expected_version=version)
    return _plan(request, pk)


@router.delete("/care-plans/{int:pk}", response={204: None})
@requires("care.delete")
def care_plan_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    services.care_plan_delete(actor=request.user, plan=_plan(request, pk), expected_version=version)
    return Status(204, None)


@router.post("/care-plans/{int:pk}/sent", response={200: CarePlanOut, 409: ErrorOut, 422: ErrorOut})
@requires("care.change")
def care_plan_sent(request: HttpRequest, pk: int, payload: SentIn) -> Any:
    """Record the greeting or gift as sent: logs an interaction (purpose care) and links it."""
    data = payload.model_dump()
    version = data.pop("version")
    services.care_plan_mark_sent(actor=request.user, plan=_plan(request, pk), expected_version=version, **data)
    return _plan(request, pk)


# --- Support given ----------------------------------------------------------------------------------
class SupportOut(Schema):
    id: int
    account: int = Field(..., alias="account_id")
    kind: str
    description: str
    value: Decimal | None
    given_on: dt.date
    outcome: str
    owner: int = Field(..., alias="owner_id")
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class SupportIn(Strict):
    account: int
    kind: str
    description: str
    value: Decimal | None = None
    given_on: dt.date | None = None
    outcome: str = ""


class SupportPatch(Strict):
    version: int
    kind: str | None = None
    description: str | None = None
    value: Decimal | None = None
    given_on: dt.date | None = None
    outcome: str | None = None


def _support(request: HttpRequest, pk: int) -> Support:
    support: Support = get_one(support_scope, request.user, pk)
    return support


@router.get("/support", response=list[SupportOut])
@requires("care.view")
@paginate(CursorPagination, ordering=("-id",))
def support_list(request: HttpRequest, account: int | None = None, kind: str = "") -> Any:
    """Support given to the accounts the caller sees, filtered by ``account`` and ``kind``."""
    qs = support_scope(request.user)
    if account is not None:
        qs = qs.filter(account_id=account)
    return qs.filter(kind=kind) if kind else qs


@router.post("/support", response={201: SupportOut, 422: ErrorOut})
@requires("care.add")
def support_create(request: HttpRequest, payload: SupportIn) -> Any:
    data = payload.model_dump()
    account = _account(request, data.pop("account"))
    return Status(201, services.support_create(actor=request.user, account=account, **data))


@router.get("/support/{int:pk}", response=SupportOut)
@requires("care.view")
def support_get(request: HttpRequest, pk: int) -> Any:
    return _support(request, pk)


@router.patch("/support/{int:pk}", response={200: SupportOut, 409: ErrorOut, 422: ErrorOut})
@requires("care.change")
def support_update(request: HttpRequest, pk: int, payload: SupportPatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    support = _support(request, pk)
    services.support_update(actor=request.user, support=support, changes=data, expected_version=version)
    return support


@router.delete("/support/{int:pk}", response={204: None})
@requires("care.delete")
def support_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    services.support_delete(actor=request.user, support=_support(request, pk), expected_version=version)
    return Status(204, None)


# --- Greeting templates ---------------------------------------------------------------------------
class GreetingOut(Schema):
    id: int
    occasion: str
    depth: str
    body: str
    version: int


class GreetingIn(Strict):
    occasion: str
    depth: str = ""
    body: str


class GreetingPatch(Strict):
    version: int
    occasion: str | None = None
    depth: str | None = None
    body: str | None = None


@router.get("/greeting-templates", response=list[GreetingOut])
@requires("care.view")
def greeting_list(request: HttpRequest) -> Any:
    """The saved greeting templates (occasions and depths without one use the built-in wording)."""
    return list(GreetingTemplate.objects.order_by("occasion", "depth"))


@router.post("/greeting-templates", response={201: GreetingOut, 422: ErrorOut})
@requires("greeting.manage")
def greeting_create(request: HttpRequest, payload: GreetingIn) -> Any:
    return Status(201, services.greeting_template_create(actor=request.user, **payload.model_dump()))


@router.patch("/greeting-templates/{int:pk}", response={200: GreetingOut, 409: ErrorOut, 422: ErrorOut})
@requires("greeting.manage")
def greeting_update(request: HttpRequest, pk: int, payload: GreetingPatch) -> Any:
    template = GreetingTemplate.objects.filter(pk=pk).first()
    if template is None:
        raise NotFound()
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    return services.greeting_template_update(actor=request.user, template=template, changes=data,
                                             expected_version=version)


# --- Calendar feeds ---------------------------------------------------------------------------------
class CalendarFeedOut(Schema):
    id: int
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class CalendarFeedCreated(CalendarFeedOut):
    url: str


@router.get("/calendar-feeds", response=list[CalendarFeedOut])
@requires(AUTHENTICATED)
def calendar_feed_list(request: HttpRequest) -> Any:
    """The caller's own feeds, newest first (the live one has no ``revoked_at``)."""
    return list(CalendarFeed.objects.filter(user=request.user.pk).order_by("-created_at", "-id")[:20])


@router.post("/calendar-feeds", response={201: CalendarFeedCreated})
@requires(AUTHENTICATED)
def calendar_feed_create(request: HttpRequest) -> Any:
    """A new private feed; its ``url`` is returned only here. Any earlier feed stops working."""
    from guanxi.activities.views.feed import feed_url

    feed, raw = services.calendar_feed_create(actor=request.user)
    return Status(201, {"id": feed.pk, "created_at": feed.created_at, "last_used_at": None, "revoked_at": None,
                        "url": feed_url(request, raw)})


@router.delete("/calendar-feeds/{int:pk}", response={204: None})
@requires(AUTHENTICATED)
def calendar_feed_revoke(request: HttpRequest, pk: int) -> Any:
    feed = CalendarFeed.objects.filter(pk=pk, user=request.user.pk, revoked_at__isnull=True).first()
    if feed is None:
        raise NotFound()
    services.calendar_feed_revoke(actor=request.user, feed=feed)
    return Status(204, None)
