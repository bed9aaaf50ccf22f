"""REST API of the service desk's configuration: `/api/v1/case-categories`,
`/api/v1/sla-policies`, `/api/v1/holidays` (with `/holidays/load`) and
`/api/v1/business-hours`. Everyone who works cases (``case.view``) reads them; only
``service.configure`` holders write.

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema, Status

from guanxi.core.api import ErrorOut, Strict
from guanxi.core.errors import Forbidden, NotFound
from guanxi.core.permissions import AUTHENTICATED, has_perm
from guanxi.core.permissions import declare as requires
from guanxi.service.models import CaseCategory, Holiday, SlaPolicy
from guanxi.service.services import calendar as calendars
from guanxi.service.services import sla_setup as setup

router = Router(tags=["service"])
CONFIGURE = "service.configure"


def _may_read(request: HttpRequest) -> None:
    """Agents need the categories and times; the configurers (the administrator) too."""
    if not (has_perm(request.user, "case.view") or has_perm(request.user, CONFIGURE)):
        raise Forbidden()


def _one(model: Any, pk: int) -> Any:
    found = model.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found


# --- Case categories ----------------------------------------------------------------------
class CategoryOut(Schema):
    id: int
    name: str
    kind: str
    needs_review: bool
    responder: int | None = Field(None, alias="responder_id")
    active: bool
    position: int
    version: int


class CategoryIn(Strict):
    name: str
    kind: str = ""
    needs_review: bool = False
    responder: int | None = None
    active: bool = True
    position: int | None = None


class CategoryPatch(Strict):
    version: int
    name: str | None = None
    kind: str | None = None
    needs_review: bool | None = None
    responder: int | None = None
    active: bool | None = None
    position: int | None = None


@router.get("/case-categories", response=list[CategoryOut])
@requires(AUTHENTICATED)
def category_list(request: HttpRequest, active: bool | None = None, kind: str = "") -> Any:
    """Every category in order; ``active`` and ``kind`` (a category for any kind matches
    every kind) narrow the list."""
    _may_read(request)
    qs = CaseCategory.objects.order_by("position", "id")
    if active is not None:
        qs = qs.filter(active=active)
    if kind:
        qs = qs.filter(kind__in=["", kind])
    return list(qs)


@router.post("/case-categories", response={201: CategoryOut, 422: ErrorOut})
@requires(CONFIGURE)
def category_create(request: HttpRequest, payload: CategoryIn) -> Any:
    return Status(201, setup.category_create(actor=request.user, **payload.model_dump()))


@router.patch("/case-categories/{int:pk}", response={200: CategoryOut, 409: ErrorOut, 422: ErrorOut})
@requires(CONFIGURE)
def category_update(request: HttpRequest, pk: int, payload: CategoryPatch) -> Any:
    """Change any field (``responder`` null: none); stale ``version`` → 409."""
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    return setup.category_update(actor=request.user, category=_one(CaseCategory, pk), changes=data,
                                 expected_version=version)


@router.delete("/case-categories/{int:pk}", response={204: None, 409: ErrorOut, 422: ErrorOut})
@requires(CONFIGURE)
def category_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    """Only a category nothing uses (else 422 ``category_in_use``: deactivate it instead)."""
    setup.category_delete(actor=request.user, category=_one(CaseCategory, pk), expected_version=version)
    return Status(204, None)


# --- SLA policies -------------------------------------------------------------------------
class PolicyOut(Schema):
    id: int
    category: int | None = Field(None, alias="category_id")
    severity: str
    first_response_minutes: int
    resolution_minutes: int
    warn_percent: int
    active: bool
    version: int


class PolicyIn(Strict):
    category: int | None = None
    severity: str
    first_response_minutes: int
    resolution_minutes: int
    warn_percent: int = 75
    active: bool = True


class PolicyPatch(Strict):
    version: int
    category: int | None = None
    severity: str | None = None
    first_response_minutes: int | None = None
    resolution_minutes: int | None = None
    warn_percent: int | None = None
    active: bool | None = None


@router.get("/sla-policies", response=list[PolicyOut])
@requires(AUTHENTICATED)
def policy_list(request: HttpRequest, category: str = "", active: bool | None = None) -> Any:
    """Every policy; ``category`` an id or ``default`` (the policies without a category)."""
    _may_read(request)
    qs = SlaPolicy.objects.order_by("category_id", "severity", "id")
    if category == "default":
        qs = qs.filter(category__isnull=True)
    elif category.isdigit():
        qs = qs.filter(category_id=int(category))
    if active is not None:
        qs = qs.filter(active=active)
    return list(qs)


@router.post("/sla-policies", response={201: PolicyOut, 422: ErrorOut})
@requires(CONFIGURE)
def policy_create(request: HttpRequest, payload: PolicyIn) -> Any:
    """Times in business minutes; ``category`` null: the default for the severity."""
    return Status(201, setup.policy_create(actor=request.user, **payload.model_dump()))


@router.patch("/sla-policies/{int:pk}", response={200: PolicyOut, 409: ErrorOut, 422: ErrorOut})
@requires(CONFIGURE)
def policy_update(request: HttpRequest, pk: int, payload: PolicyPatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    return setup.policy_update(actor=request.user, policy=_one(SlaPolicy, pk), changes=data,
                               expected_version=version)


@router.delete("/sla-policies/{int:pk}", response={204: None, 409: ErrorOut})
@requires(CONFIGURE)
def policy_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    setup.policy_delete(actor=request.user, policy=_one(SlaPolicy, pk), expected_version=version)
    return Status(204, None)


# --- Holidays -----------------------------------------------------------------------------
class HolidayOut(Schema):
    id: int
    day: dt.date
    type: str
    name: str
    version: int


class HolidayIn(Strict):
    day: str
    type: str = Holiday.Type.HOLIDAY
    name: str = ""


class HolidayPatch(Strict):
    version: int
    day: str | None = None
    type: str | None = None
    name: str | None = None


class LoadIn(Strict):
    year: int


class LoadOut(Schema):
    year: int
    created: int
    updated: int


@router.get("/holidays", response={200: list[HolidayOut], 422: ErrorOut})
@requires(AUTHENTICATED)
def holiday_list(request: HttpRequest, year: int | None = None) -> Any:
    """The days of ``year`` (this year by default) that change the weekday rule, by day."""
    _may_read(request)
    return calendars.holidays_of(year or timezone.localdate().year)


@router.post("/holidays", response={201: HolidayOut, 422: ErrorOut})
@requires(CONFIGURE)
def holiday_create(request: HttpRequest, payload: HolidayIn) -> Any:
    """One day (``YYYY-MM-DD``): ``holiday`` (a day off) or ``workday`` (a weekend day worked, 调休)."""
    return Status(201, calendars.holiday_create(actor=request.user, **payload.model_dump()))


@router.post("/holidays/load", response={200: LoadOut, 422: ErrorOut})
@requires(CONFIGURE)
def holidays_load(request: HttpRequest, payload: LoadIn) -> Any:
    """Fill ``year`` with China's official holidays and adjusted working days (422 for a year
    the installed calendar package does not know)."""
    return calendars.holidays_load(actor=request.user, year=payload.year)


@router.patch("/holidays/{int:pk}", response={200: HolidayOut, 409: ErrorOut, 422: ErrorOut})
@requires(CONFIGURE)
def holiday_update(request: HttpRequest, pk: int, payload: HolidayPatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    return calendars.holiday_update(actor=request.user, holiday=_one(Holiday, pk), changes=data,
                                    expected_version=version)


@router.delete("/holidays/{int:pk}", response={204: None, 409: ErrorOut})
@requires(CONFIGURE)
def holiday_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    calendars.holiday_delete(actor=request.user, holiday=_one(Holiday, pk), expected_version=version)
    return Status(204, None)


# --- Business hours -----------------------------------------------------------------------
class HoursOut(Schema):
    day_start: str
    day_end: str
    weekdays: list[int]
    day_minutes: int
    version: int

    @staticmethod
    def resolve_day_start(obj: Any) -> str:
        return f"{obj.day_start:%H:%M}"

    @staticmethod
    def resolve_day_end(obj: Any) -> str:
        return f"{obj.day_end:%H:%M}"

    @staticmethod
    def resolve_weekdays(obj: Any) -> list[int]:
        return [int(d) for d in obj.weekdays]

    @staticmethod
    def resolve_day_minutes(obj: Any) -> int:
        start, end = obj.day_start, obj.day_end
        return (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)


class HoursIn(Strict):
    version: int | None = None
    day_start: str | None = None
    day_end: str | None = None
    weekdays: list[int] | None = None


@router.get("/business-hours", response=HoursOut)
@requires(AUTHENTICATED)
def hours_get(request: HttpRequest) -> Any:
    """The working hours (HH:MM) and working ISO weekdays (1 = Monday) of the SLA clock."""
    _may_read(request)
    return calendars.calendar_row()


@router.put("/business-hours", response={200: HoursOut, 409: ErrorOut, 422: ErrorOut})
@requires(CONFIGURE)
def hours_put(request: HttpRequest, payload: HoursIn) -> Any:
    """Set ``day_start``, ``day_end`` (HH:MM, the end after the start) and ``weekdays`` (at
    least one of 1–7); ``version`` as read (stale → 409)."""
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version", None)
    return calendars.hours_update(actor=request.user, changes=data, expected_version=version)
