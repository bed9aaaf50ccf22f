"""REST endpoints of contact and follow-up: follow-ups (`/api/v1/followups`) and cadence rules
(`/api/v1/cadence-rules`).

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.pagination import CursorPagination, paginate

from guanxi.activities import selectors, services
from guanxi.activities.models import CadenceRule, FollowUp
from guanxi.core.api import ErrorOut, Strict
from guanxi.core.errors import Invalid, NotFound
from guanxi.core.models import User
from guanxi.core.permissions import declare as requires
from guanxi.core.services import records
from guanxi.customers.models import Account

router = Router(tags=["followups"])


class FollowUpOut(Schema):
    id: int
    account: int = Field(..., alias="account_id")
    account_name: str
    contact: int | None = Field(None, alias="contact_id")
    owner: int = Field(..., alias="owner_id")
    owner_name: str
    title: str
    notes: str
    due_at: dt.datetime
    overdue: bool
    state: str
    source: str
    interaction: int | None = Field(None, alias="interaction_id")
    done_at: dt.datetime | None
    done_by: int | None = Field(None, alias="done_by_id")
    outcome: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_account_name(obj: FollowUp) -> str:
        return obj.account.name

    @staticmethod
    def resolve_owner_name(obj: FollowUp) -> str:
        return str(obj.owner)

    @staticmethod
    def resolve_overdue(obj: FollowUp) -> bool:
        return obj.is_overdue


class NextStepIn(Strict):
    title: str
    due_at: dt.datetime
    owner: int | None = None


class FollowUpIn(Strict):
    account: int
    title: str
    due_at: dt.datetime
    owner: int | None = None
    contact: int | None = None
    notes: str = ""


class FollowUpPatch(Strict):
    version: int
    title: str | None = None
    notes: str | None = None
    contact: int | None = None


class CompleteIn(Strict):
    version: int | None = None
    outcome: str = ""
    next_step: NextStepIn | None = None


class RescheduleIn(Strict):
    due_at: dt.datetime
    version: int | None = None
    note: str = ""


class ReassignIn(Strict):
    owner: int
    version: int | None = None
    note: str = ""


class CancelIn(Strict):
    version: int | None = None
    note: str = ""


RELATED = ("account", "owner")


def _followup(request: HttpRequest, pk: int) -> FollowUp:
    return selectors.get_one(selectors.followup_scope, request.user, pk, *RELATED)  # type: ignore[no-any-return]


def _person(pk: int | None, field: str) -> User | None:
    if pk is None:
        return None
    person = User.objects.filter(pk=pk).first()
    if person is None:
        raise Invalid(errors={field: [_("No such person.")]})
    return person


def _next_step(data: dict[str, Any] | None) -> dict[str, Any] | None:
    if not data:
        return None
    step = dict(data)
    owner = _person(step.pop("owner", None), "next_step.owner")
    if owner is not None:
        step["owner"] = owner
    return step


@router.get("/followups", response=list[FollowUpOut])
@requires("followup.view")
@paginate(CursorPagination, ordering=("due_at", "id"))
def followup_list(request: HttpRequest, account: int | None = None, owner: str = "", state: str = "",
                  due_from: str = "", due_to: str = "", overdue: str = "") -> Any:
    """The follow-ups the caller sees, soonest due first: ``account``, ``owner`` (``me`` or a
    colleague the caller manages), ``state`` (``open``, ``done``, ``cancelled``; all when
    absent), ``due_from``/``due_to`` (a date or a date-time), ``overdue`` (``true``)."""
    return selectors.followup_list_for(request.user, request.GET, default_owner="all", default_state="all")


@router.post("/followups", response={201: FollowUpOut, 422: ErrorOut})
@requires("followup.add")
def followup_create(request: HttpRequest, payload: FollowUpIn) -> Any:
    """Plan a next step on a visible account (hidden → 404); the owner defaults to the
    account's owner and must see the account."""
    data = payload.model_dump()
    account: Account = records.get_visible(request.user, Account, data.pop("account"))
    owner = _person(data.pop("owner"), "owner")
    followup = services.followup_create(actor=request.user, account=account, owner=owner, **data)
    return Status(201, _followup(request, followup.pk))


@router.get("/followups/{int:pk}", response=FollowUpOut)
@requires("followup.view")
def followup_get(request: HttpRequest, pk: int) -> Any:
    return _followup(request, pk)


@router.patch("/followups/{int:pk}", response={200: FollowUpOut, 409: ErrorOut, 422: ErrorOut})
@requires("followup.change")
def followup_update(request: HttpRequest, pk: int, payload: FollowUpPatch) -> Any:
    """Change ``title``, ``notes``, ``contact``; the due time, owner and state change through
    the actions below."""
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    followup = _followup(request, pk)
    services.followup_update(actor=request.user, followup=followup, changes=data, expected_version=version)
    return _followup(request, pk)


@router.delete("/followups/{int:pk}", response={204: None})
@requires("followup.delete")
def followup_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    records.record_delete(actor=request.user, obj=_followup(request, pk), expected_version=version)
    return Status(204, None)


@router.post("/followups/{int:pk}/complete", response={200: FollowUpOut, 409: ErrorOut, 422: ErrorOut})
@requires("followup.change")
def followup_complete(request: HttpRequest, pk: int, payload: CompleteIn) -> Any:
    """Done, with the ``outcome``; ``next_step`` plans the next one, else the cadence rule does
    when nothing else is open on the account."""
    services.followup_complete(actor=request.user, followup=_followup(request, pk), outcome=payload.outcome,
                               expected_version=payload.version,
                               next_step=_next_step(payload.model_dump()["next_step"]))
    return _followup(request, pk)


@router.post("/followups/{int:pk}/reschedule", response={200: FollowUpOut, 409: ErrorOut, 422: ErrorOut})
@requires("followup.change")
def followup_reschedule(request: HttpRequest, pk: int, payload: RescheduleIn) -> Any:
    services.followup_reschedule(actor=request.user, followup=_followup(request, pk), due_at=payload.due_at,
                                 expected_version=payload.version, note=payload.note)
    return _followup(request, pk)


@router.post("/followups/{int:pk}/reassign", response={200: FollowUpOut, 409: ErrorOut, 422: ErrorOut})
@requires("followup.change")
def followup_reassign(request: HttpRequest, pk: int, payload: ReassignIn) -> Any:
    """To a colleague who sees the account (else 422)."""
    services.followup_reassign(actor=request.user, followup=_followup(request, pk),
                               owner=_person(payload.owner, "owner"), expected_version=payload.version,
                               note=payload.note)
    return _followup(request, pk)


@router.post("/followups/{int:pk}/cancel", response={200: FollowUpOut, 409: ErrorOut, 422: ErrorOut})
@requires("followup.change")
def followup_cancel(request: HttpRequest, pk: int, payload: CancelIn) -> Any:
    services.followup_cancel(actor=request.user, followup=_followup(request, pk), expected_version=payload.version,
                             note=payload.note)
    return _followup(request, pk)


# --- Cadence rules ------------------------------------------------------------------------------
class CadenceRuleOut(Schema):
    id: int
    grade: str
    urgency: str
    interval_days: int
    title: str
    active: bool
    version: int
    updated_at: dt.datetime


class CadenceRuleIn(Strict):
    interval_days: int
    grade: str = ""
    urgency: str = ""
    title: str = ""
    active: bool = True


class CadenceRulePatch(Strict):
    version: int
    interval_days: int | None = None
    title: str | None = None
    active: bool | None = None


@router.get("/cadence-rules", response=list[CadenceRuleOut])
@requires("cadence.manage")
def cadence_rule_list(request: HttpRequest) -> Any:
    """Every rule: grade (empty: any) × urgency (empty: any) → every ``interval_days`` days."""
    return list(CadenceRule.objects.all())


@router.post("/cadence-rules", response={201: CadenceRuleOut, 422: ErrorOut})
@requires("cadence.manage")
def cadence_rule_create(request: HttpRequest, payload: CadenceRuleIn) -> Any:
    return Status(201, services.cadence_rule_create(actor=request.user, **payload.model_dump()))


@router.patch("/cadence-rules/{int:pk}", response={200: CadenceRuleOut, 409: ErrorOut, 422: ErrorOut})
@requires("cadence.manage")
def cadence_rule_update(request: HttpRequest, pk: int, payload: CadenceRulePatch) -> Any:
    rule = CadenceRule.objects.filter(pk=pk).first()
    if rule is None:
        raise NotFound()
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    return services.cadence_rule_update(actor=request.user, rule=rule, changes=data, expected_version=version)
