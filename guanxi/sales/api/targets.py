"""REST API of sales targets and performance (R11.2): `/api/v1/targets` (with what was achieved)
and `/api/v1/performance`.

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.pagination import CursorPagination, paginate

from guanxi.core.api import ErrorOut, Strict
from guanxi.core.dbrouter import replica_reads
from guanxi.core.errors import Invalid, NotFound
from guanxi.core.models import Department, Team, User
from guanxi.core.permissions import declare as requires
from guanxi.sales.models import SalesTarget
from guanxi.sales.selectors import performance as performance_reads
from guanxi.sales.selectors import targets as reads
from guanxi.sales.services import targets as services

router = Router(tags=["targets"])


class TargetOut(Schema):
    id: int
    metric: str
    period_start: dt.date
    period_end: dt.date
    user: int | None = Field(None, alias="user_id")
    team: int | None = Field(None, alias="team_id")
    department: int | None = Field(None, alias="department_id")
    holder: str
    amount: Decimal
    actual: Decimal | None = None
    attainment: Decimal | None = None
    notes: str
    version: int
    updated_at: dt.datetime

    @staticmethod
    def resolve_holder(obj: SalesTarget) -> str:
        return reads.holder_label(obj)


class TargetIn(Strict):
    metric: str
    period_start: dt.date
    period_end: dt.date
    amount: Decimal
    user: int | None = None
    team: int | None = None
    department: int | None = None
    notes: str = ""


class TargetPatch(Strict):
    version: int
    metric: str | None = None
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    amount: Decimal | None = None
    notes: str | None = None


class TargetPagination(CursorPagination):
    """Cursor pagination that works out each page's actual figures in a few grouped queries."""

    def paginate_queryset(self, queryset: Any, pagination: Any, request: HttpRequest, **params: Any) -> Any:
        page = super().paginate_queryset(queryset, pagination, request, **params)
        reads.attach_actuals(page[self.items_attribute])
        return page


def _target(request: HttpRequest, pk: int) -> SalesTarget:
    target = reads.target_scope(request.user).select_related("user", "team", "department").filter(pk=pk).first()
    if target is None:
        raise NotFound()
    return reads.attach_actuals([target])[0]


def _holder(payload: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, model in (("user", User), ("team", Team), ("department", Department)):
        pk = payload.pop(name)
        if pk is not None:
            holder = model.objects.filter(pk=pk).first()  # type: ignore[attr-defined]
            if holder is None:
                raise Invalid(errors={name: [_("No such salesperson, team or department.")]})
            out[name] = holder
    return out


@router.get("/targets", response=list[TargetOut])
@requires("target.view")
@paginate(TargetPagination, ordering=("-period_start", "-id"))
def target_list(request: HttpRequest, metric: str = "", user: int | None = None, team: int | None = None,
                department: int | None = None, start: dt.date | None = None, end: dt.date | None = None) -> Any:
    """Targets the caller may see (their own, their teams' and department's; a manager's
    people, teams and departments), each with ``actual`` and ``attainment`` (%). Filters:
    ``metric``, ``user``, ``team``, ``department``, ``start``/``end`` (periods overlapping these dates)."""
    return reads.target_list_for(request.user, {"metric": metric, "user": user or "", "team": team or "",
                                                "department": department or "", "from": start or "", "to": end or ""})


@router.post("/targets", response={201: TargetOut, 422: ErrorOut})
@requires("target.manage")
def target_create(request: HttpRequest, payload: TargetIn) -> Any:
    """Exactly one of ``user``, ``team``, ``department``; ``metric`` is ``orders``,
    ``receipts``, ``contracts`` or ``new_accounts``; no overlap with the holder's other
    target of the same measure."""
    data = payload.model_dump()
    target = services.target_create(actor=request.user, **_holder(data), **data)
    return Status(201, _target(request, target.pk))


@router.get("/targets/{int:pk}", response=TargetOut)
@requires("target.view")
def target_get(request: HttpRequest, pk: int) -> Any:
    return _target(request, pk)


@router.patch("/targets/{int:pk}", response={200: TargetOut, 409: ErrorOut, 422: ErrorOut})
@requires("target.manage")
def target_update(request: HttpRequest, pk: int, payload: TargetPatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    services.target_update(actor=request.user, target=_target(request, pk), changes=data, expected_version=version)
    return _target(request, pk)


@router.delete("/targets/{int:pk}", response={204: None, 409: ErrorOut, 422: ErrorOut})
@requires("target.manage")
def target_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    services.target_delete(actor=request.user, target=_target(request, pk), expected_version=version)
    return Status(204, None)


# --- Performance ---------------------------------------------------------------------------
class MeasureOut(Schema):
    target: Decimal | None
    actual: Decimal
    attainment: Decimal | None


class ContactsOut(Schema):
    total: int
    by_kind: dict[str, int]


class FollowUpsOut(Schema):
    on_time: int
    late: int
    open: int


class DealsOut(Schema):
    won: int
    won_amount: Decimal
    lost: int


class PersonOut(Schema):
    user: int
    name: str
    department: str
    targets: dict[str, MeasureOut]
    contacts: ContactsOut
    followups: FollowUpsOut
    grades_improved: int
    deals: DealsOut


class PeriodOut(Schema):
    start: dt.date
    end: dt.date


class PerformanceOut(Schema):
    period: PeriodOut
    people: list[PersonOut]


@router.get("/performance", response={200: PerformanceOut, 404: ErrorOut, 422: ErrorOut})
@requires("performance.view")
@replica_reads
def performance(request: HttpRequest, start: dt.date | None = None, end: dt.date | None = None,
                period: str = "", user: int | None = None) -> Any:
    """Per person the caller may appraise (themselves; a manager the people they manage by
    role): targets and attainment per measure (``orders``, ``receipts``, ``contracts``,
    ``new_accounts``; targets covering part of the period pro rata), contacts made by kind,
    follow-ups due in the period (on time, late, still open), accounts whose grade improved,
    deals won and lost. ``period`` (``month``, ``last_month``, ``quarter``, ``year``) or
    ``start``/``end`` (default this month); ``user`` for one person (404 if not theirs)."""
    params = {"start": start or "", "end": end or "", "period": period}
    the_period, _preset = performance_reads.period_from(params)
    return performance_reads.as_dict(performance_reads.performance_for(request.user, the_period, user=user))
