"""Reads of the survey pages and the API: surveys with their counts, invitations and responses
with their filters. Everything goes through ``selectors.scope`` first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date

from guanxi.loyalty.models import Answer, Invitation, Question, Response, Survey, Touchpoint
from guanxi.loyalty.selectors.scope import invitation_scope, response_scope, survey_scope
from guanxi.loyalty.services.invitations import ANSWERED, EXPIRED, PENDING

STATUSES = (PENDING, ANSWERED, EXPIRED)


def _day(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return parse_date(str(value or "").strip())
    except ValueError:
        return None


def _id(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and len(text) <= 18 else None


def _start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def parse_filters(params: Mapping[str, Any]) -> dict[str, Any]:
    """The list filters from a query string or API parameters; anything unreadable is dropped."""
    touchpoint = str(params.get("touchpoint") or "")
    status = str(params.get("status") or "")
    return {
        "touchpoint": touchpoint if touchpoint in Touchpoint.values else "",
        "status": status if status in STATUSES else "",
        "survey": _id(params.get("survey")),
        "account": _id(params.get("account")),
        "date_from": _day(params.get("date_from")),
        "date_to": _day(params.get("date_to")),
        "low": str(params.get("low") or "").lower() in ("1", "true", "on"),
    }


# --- Surveys -------------------------------------------------------------------------------------
def survey_list_for(user: Any, *, deleted: bool = False) -> QuerySet[Survey]:
    """The company's surveys with their question and invitation counts (the bin with ``deleted``)."""
    base = Survey.all_objects.filter(deleted_at__isnull=not deleted)
    return survey_scope(user, base).annotate(
        question_count=Count("questions", distinct=True),
    ).order_by("-active", "touchpoint", "-id")


@dataclass(frozen=True)
class Counts:
    sent: int
    answered: int
    pending: int
    expired: int
    mailed: int

    @property
    def rate(self) -> float | None:
        return 100.0 * self.answered / self.sent if self.sent else None


def counts(user: Any, survey: Survey) -> Counts:
    """Invitations sent, answered, pending, expired and mailed for ``survey``, among those the user sees."""
    now = timezone.now()
    row = invitation_scope(user).filter(survey_id=survey.pk).aggregate(
        sent=Count("id"), answered=Count("id", filter=Q(answered_at__isnull=False)),
        pending=Count("id", filter=Q(answered_at__isnull=True, expires_at__gt=now)),
        expired=Count("id", filter=Q(answered_at__isnull=True, expires_at__lte=now)),
        mailed=Count("id", filter=Q(mailed_at__isnull=False)))
    return Counts(**{k: v or 0 for k, v in row.items()})


def questions_of(survey: Survey) -> list[Question]:
    return list(Question.objects.filter(survey_id=survey.pk).order_by("position", "id"))


def active_surveys() -> list[Survey]:
    return list(Survey.objects.filter(active=True).order_by("touchpoint", "name"))


# --- Invitations ---------------------------------------------------------------------------------
def invitation_list_for(user: Any, **filters: Any) -> QuerySet[Invitation]:
    qs = invitation_scope(user).select_related("survey", "account", "owner")
    now = timezone.now()
    if filters.get("touchpoint"):
        qs = qs.filter(touchpoint=filters["touchpoint"])
    status = filters.get("status")
    if status == ANSWERED:
        qs = qs.filter(answered_at__isnull=False)
    elif status == EXPIRED:
        qs = qs.filter(answered_at__isnull=True, expires_at__lte=now)
    elif status == PENDING:
        qs = qs.filter(answered_at__isnull=True, expires_at__gt=now)
    if filters.get("survey"):
        qs = qs.filter(survey_id=filters["survey"])
    if filters.get("account"):
        qs = qs.filter(account_id=filters["account"])
    if filters.get("date_from"):
        qs = qs.filter(created_at__gte=_start(filters["date_from"]))
    if filters.get("date_to"):
        qs = qs.filter(created_at__lt=_start(filters["date_to"] + dt.timedelta(days=1)))
    return qs.order_by("-id")


# --- Responses -----------------------------------------------------------------------------------
def response_list_for(user: Any, **filters: Any) -> QuerySet[Response]:
    qs = response_scope(user).select_related("survey", "account", "owner", "invitation")
    if filters.get("touchpoint"):
        qs = qs.filter(touchpoint=filters["touchpoint"])
    if filters.get("survey"):
        qs = qs.filter(survey_id=filters["survey"])
    if filters.get("account"):
        qs = qs.filter(account_id=filters["account"])
    if filters.get("date_from"):
        qs = qs.filter(submitted_at__gte=_start(filters["date_from"]))
    if filters.get("date_to"):
        qs = qs.filter(submitted_at__lt=_start(filters["date_to"] + dt.timedelta(days=1)))
    if filters.get("low"):
        qs = qs.filter(Q(nps__lte=6) | Q(csat__lte=2))
    return qs.order_by("-submitted_at", "-id")


def answers_of(response: Response) -> list[Answer]:
    return list(Answer.objects.filter(response_id=response.pk).select_related("question")
                .order_by("question__position", "question_id"))
