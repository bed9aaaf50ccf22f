"""REST endpoints of contact and follow-up: interactions (`/api/v1/interactions`).

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import CursorPagination, paginate

from guanxi.activities import selectors, services
from guanxi.activities.models import Interaction
from guanxi.core.api import ErrorOut, Strict
from guanxi.core.errors import Invalid
from guanxi.core.models import User
from guanxi.core.permissions import declare as requires
from guanxi.core.services import records
from guanxi.customers.models import Account

router = Router(tags=["interactions"])


class FollowUpRef(Schema):
    id: int
    title: str
    due_at: dt.datetime
    owner: int = Field(..., alias="owner_id")
    state: str


class InteractionOut(Schema):
    id: int
    account: int = Field(..., alias="account_id")
    account_name: str
    kind: str
    purpose: str
    occurred_at: dt.datetime
    subject: str
    summary: str
    outcome: str
    agreements: str
    owner: int = Field(..., alias="owner_id")
    owner_name: str
    their_people: list[int]
    our_people: list[int]
    attachments: list[int]
    gift: str
    gift_value: Decimal | None
    next_steps: list[FollowUpRef]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_account_name(obj: Interaction) -> str:
        return obj.account.name

    @staticmethod
    def resolve_owner_name(obj: Interaction) -> str:
        return str(obj.owner)

    @staticmethod
    def resolve_their_people(obj: Interaction) -> list[int]:
        return sorted(c.pk for c in obj.their_people.all())

    @staticmethod
    def resolve_our_people(obj: Interaction) -> list[int]:
        return sorted(u.pk for u in obj.our_people.all())

    @staticmethod
    def resolve_attachments(obj: Interaction) -> list[int]:
        return sorted(a.pk for a in obj.attachments.all())

    @staticmethod
    def resolve_next_steps(obj: Interaction) -> list[Any]:
        return [f for f in obj.followups.all() if f.deleted_at is None]


class NextStepIn(Strict):
    title: str
    due_at: dt.datetime
    owner: int | None = None


class InteractionIn(Strict):
    account: int
    kind: str
    summary: str
    purpose: str = Interaction.Purpose.INFORMATION
    occurred_at: dt.datetime | None = None
    subject: str = ""
    outcome: str = ""
    agreements: str = ""
    their_people: list[int] = []
    our_people: list[int] = []
    attachments: list[int] = []
    gift: str = ""
    gift_value: Decimal | None = None
    next_step: NextStepIn | None = None


class InteractionPatch(Strict):
    version: int
    kind: str | None = None
    purpose: str | None = None
    occurred_at: dt.datetime | None = None
    subject: str | None = None
    summary: str | None = None
    outcome: str | None = None
    agreements: str | None = None
    their_people: list[int] | None = None
    our_people: list[int] | None = None
    attachments: list[int] | None = None
    gift: str | None = None
    gift_value: Decimal | None = None


RELATED = ("account", "owner")
PREFETCH = ("their_people", "our_people", "attachments", "followups")


def _interaction(request: HttpRequest, pk: int) -> Interaction:
    obj = selectors.get_one(selectors.interaction_scope, request.user, pk, *RELATED)
    return obj  # type: ignore[no-any-return]


def _fresh(request: HttpRequest, pk: int) -> Interaction:
    return selectors.interaction_scope(request.user).select_related(*RELATED).prefetch_related(*PREFETCH).get(pk=pk)


@router.get("/interactions", response=list[InteractionOut])
@requires("interaction.view")
@paginate(CursorPagination, ordering=("-occurred_at", "-id"))
def interaction_list(request: HttpRequest, account: int | None = None, owner: str = "", kind: str = "",
                     purpose: str = "", from_: str = Query("", alias="from"), to: str = "") -> Any:
    """The interactions the caller sees, newest first: ``account``, ``owner`` (``me`` or a
    colleague the caller manages), ``kind``, ``purpose``, ``from``/``to`` (a date or a date-time)."""
    return selectors.interaction_list_for(request.user, request.GET).select_related(*RELATED) \
        .prefetch_related(*PREFETCH)


@router.post("/interactions", response={201: InteractionOut, 422: ErrorOut})
@requires("interaction.add")
def interaction_create(request: HttpRequest, payload: InteractionIn) -> Any:
    """Log a contact. ``occurred_at`` defaults to now; ``next_step`` plans a follow-up agreed in
    it; the account's cadence rule moves its next follow-up on. A hidden account answers 404."""
    data = payload.model_dump(exclude_unset=True)
    account: Account = records.get_visible(request.user, Account, data.pop("account"))
    next_step = data.pop("next_step", None)
    if next_step is not None and next_step.get("owner") is not None:
        owner = User.objects.filter(pk=next_step["owner"]).first()
        if owner is None:
            raise Invalid(errors={"next_step.owner": [_("No such person.")]})
        next_step["owner"] = owner
    elif next_step is not None:
        next_step.pop("owner", None)
    if data.get("gift_value") is None:
        data.pop("gift_value", None)
    interaction = services.interaction_create(actor=request.user, account=account, next_step=next_step, **data)
    return Status(201, _fresh(request, interaction.pk))


@router.get("/interactions/{int:pk}", response=InteractionOut)
@requires("interaction.view")
def interaction_get(request: HttpRequest, pk: int) -> Any:
    _interaction(request, pk)
    return _fresh(request, pk)


@router.patch("/interactions/{int:pk}", response={200: InteractionOut, 409: ErrorOut, 422: ErrorOut})
@requires("interaction.change")
def interaction_update(request: HttpRequest, pk: int, payload: InteractionPatch) -> Any:
    """Change fields and, as lists of ids, who was present and the files; ``version`` is the
    one read (stale → 409, nothing changes)."""
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    services.interaction_edit(actor=request.user, interaction=_interaction(request, pk), changes=data,
                              expected_version=version)
    return _fresh(request, pk)


@router.delete("/interactions/{int:pk}", response={204: None})
@requires("interaction.delete")
def interaction_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    """To the recycle bin."""
    services.interaction_delete(actor=request.user, interaction=_interaction(request, pk), expected_version=version)
    return Status(204, None)
