"""The customer's answers (R6.1): validated, kept, summed up, and fed to the account.

:func:`answer` is the one write of the public page ``/survey/<token>/``. It validates every
answer (scores in range per question type, required questions answered, texts bounded) before
writing anything, then keeps the **response** with its **answers** and, beside them, the
figures the dashboard sums: the NPS score, the CSAT score and the average of each RATER
dimension. The invitation is marked answered, so the link works once. An unknown token is
NotFound (404); an expired, answered or withdrawn one is :class:`Gone` (410) with a message the
page shows.

The response feeds the account: its timeline (``selectors.account``) and the rule
``satisfaction`` of the customer rating (below): 0–100 points from the account's responses of
the last 12 months — the mean of the CSAT and RATER averages on 1–5, scaled so 1 is 0 points
and 5 is 100. An account without responses gets the neutral 50, as the other rules give a
middle value to what is not known.

A detractor (NPS 0–6 or CSAT 1–2) is told to the responsible person at once, so they can call
the customer back (closing the loop).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Avg
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.core import audit
from guanxi.core.errors import NotFound, ServiceError
from guanxi.core.models import User
from guanxi.core.services.notifications import notify
from guanxi.core.tokens import token_lookup_hash
from guanxi.customers.models import Account
from guanxi.customers.services.classification import rule
from guanxi.customers.services.merge import register_relation
from guanxi.loyalty.models import Answer, Dimension, Invitation, Question, Response
from guanxi.sales.services.common import raise_if

TEXT_MAX = 2000
CENT = Decimal("0.01")
RANGES: dict[str, tuple[int, int]] = {
    Question.Type.RATER: (1, 5),
    Question.Type.CSAT: (1, 5),
    Question.Type.NPS: (0, 10),
}
DIMENSIONS = tuple(Dimension.values)
RATING_MONTHS = 12
NEUTRAL_POINTS = 50.0


class Gone(ServiceError):
    """The link worked once but not any more: expired, already answered or withdrawn."""

    status = 410
    code = "gone"
    default_message = gettext_lazy("This survey link is no longer valid.")


def gone_message(code: str) -> str:
    return {
        "expired": _("This survey link has expired. Thank you all the same — if you would still like to tell us "
                     "something, please contact us."),
        "answered": _("This survey has already been answered. Thank you for your feedback!"),
        "withdrawn": _("This survey is no longer available."),
    }.get(code, _("This survey link is no longer valid."))


def invitation_for_token(token: Any, *, for_update: bool = False) -> Invitation:
    """The invitation behind a link: unknown → NotFound; answered, expired or withdrawn (its survey
    deleted) → Gone with ``code`` answered / expired / withdrawn."""
    digest = token_lookup_hash(token)
    qs = Invitation.objects.select_related("survey", "account")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    invitation = qs.filter(token_hash=digest).first()
    # An account in the recycle bin takes its open links with it, as the case and visit links do.
    if invitation is None or (invitation.account is not None and invitation.account.deleted_at is not None):
        raise NotFound()
    if invitation.answered_at is not None:
        raise Gone(gone_message("answered"), code="answered")
    if invitation.survey.deleted_at is not None:
        raise Gone(gone_message("withdrawn"), code="withdrawn")
    if invitation.expires_at <= timezone.now():
        raise Gone(gone_message("expired"), code="expired")
    return invitation


def questions_of(survey_id: int) -> list[Question]:
    return list(Question.objects.filter(survey_id=survey_id).order_by("position", "id"))


def _score(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.lstrip("-").isdigit() and len(text) <= 4:
        return int(text)
    return None


def _key(raw: Any) -> int | None:
    text = str(raw).strip()
    if text.startswith("q"):
        text = text[1:]
    return int(text) if text.isdigit() and len(text) <= 18 else None


def clean_answers(questions: list[Question], answers: dict[Any, Any], comment: Any
                  ) -> tuple[dict[int, tuple[int | None, str]], str]:
    """Validate every answer at once: {question id: (score, text)} and the comment. Errors are keyed
    ``q<id>`` (a question), ``answers`` (unknown questions) and ``comment``."""
    errors: dict[str, list[str]] = {}
    by_id = {q.pk: q for q in questions}
    given: dict[int, Any] = {}
    for raw_key, value in (answers or {}).items():
        key = _key(raw_key)
        if key is None or key not in by_id:
            errors["answers"] = [_("The answers name a question that is not in this survey.")]
            continue
        given[key] = value
    cleaned: dict[int, tuple[int | None, str]] = {}
    for question in questions:
        field = f"q{question.pk}"
        value = given.get(question.pk)
        if question.type == Question.Type.TEXT:
            text = str(value if value is not None else "").strip()
            if not text:
                if question.required:
                    errors[field] = [_("Please answer this question.")]
                continue
            if len(text) > TEXT_MAX:
                errors[field] = [_("At most %(max)d characters.") % {"max": TEXT_MAX}]
                continue
            cleaned[question.pk] = (None, text)
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            if question.required:
                errors[field] = [_("Please choose a score.")]
            continue
        low, high = RANGES[question.type]
        score = _score(value)
        if score is None or not low <= score <= high:
            errors[field] = [_("Choose a score from %(low)d to %(high)d.") % {"low": low, "high": high}]
            continue
        cleaned[question.pk] = (score, "")
    text = str(comment if comment is not None else "").strip()
    if len(text) > TEXT_MAX:
        errors["comment"] = [_("At most %(max)d characters.") % {"max": TEXT_MAX}]
    raise_if(errors)
    return cleaned, text


def figures(questions: list[Question], cleaned: dict[int, tuple[int | None, str]]) -> dict[str, Any]:
    """The response's denormalised figures: nps, csat and each dimension's average (2 places)."""
    out: dict[str, Any] = {"nps": None, "csat": None, **{d: None for d in DIMENSIONS}}
    scores: dict[str, list[int]] = defaultdict(list)
    for question in questions:
        score = cleaned.get(question.pk, (None, ""))[0]
        if score is None:
            continue
        if question.type == Question.Type.NPS and out["nps"] is None:
            out["nps"] = score
        elif question.type == Question.Type.CSAT and out["csat"] is None:
            out["csat"] = score
        elif question.type == Question.Type.RATER and question.dimension in DIMENSIONS:
            scores[question.dimension].append(score)
    for dimension, values in scores.items():
        out[dimension] = (Decimal(sum(values)) / len(values)).quantize(CENT, rounding=ROUND_HALF_UP)
    return out


def is_detractor(response: Response) -> bool:
    return (response.nps is not None and response.nps <= 6) or (response.csat is not None and response.csat <= 2)


def rater_average(response: Response) -> Decimal | None:
    values = [getattr(response, d) for d in DIMENSIONS if getattr(response, d) is not None]
    if not values:
        return None
    return (sum(values, Decimal(0)) / len(values)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def figures_text(response: Response) -> str:
    """"NPS 9, CSAT 5, RATER 4.2": what the timeline and lists show of a response."""
    parts = []
    if response.nps is not None:
        parts.append(f"NPS {response.nps}")
    if response.csat is not None:
        parts.append(f"CSAT {response.csat}")
    average = rater_average(response)
    if average is not None:
        parts.append(f"RATER {average}")
    return ", ".join(parts) or "—"


def response_url(response: Response) -> str:
    return reverse("loyalty:response-detail", args=[response.pk])


@transaction.atomic
def answer(*, token: str, answers: dict[Any, Any], comment: str = "") -> Response:
    """Keep the customer's answers to the survey behind ``token`` (see the module docstring).

    ``answers`` maps question ids (``12`` or ``"q12"``) to a score or a text. The comment is kept
    on the response; without one, the free-text answers are.
    """
    invitation = invitation_for_token(token, for_update=True)
    questions = questions_of(invitation.survey_id)
    cleaned, text = clean_answers(questions, answers, comment)
    if not text:
        text = "\n".join(t for q in questions for s, t in [cleaned.get(q.pk, (None, ""))] if t)
    now = timezone.now()
    response = Response.objects.create(
        invitation=invitation, survey_id=invitation.survey_id, touchpoint=invitation.touchpoint,
        account_id=invitation.account_id, owner_id=invitation.owner_id, department_id=invitation.department_id,
        submitted_at=now, comment=text[:TEXT_MAX], **figures(questions, cleaned))
    Answer.objects.bulk_create([Answer(response=response, question_id=pk, score=score, text=answer_text)
                                for pk, (score, answer_text) in cleaned.items()])
    Invitation.objects.filter(pk=invitation.pk).update(answered_at=now)
    invitation.answered_at = now
    audit.record(actor=None, action="create", obj=response, changes={
        "invitation": [None, invitation.pk], "survey": [None, invitation.survey_id],
        "account": [None, invitation.account_id], "figures": [None, figures_text(response)]})
    if is_detractor(response):
        _tell_owner(invitation, response)
    return response


def _tell_owner(invitation: Invitation, response: Response) -> None:
    owner = User.objects.filter(pk=invitation.owner_id, is_active=True).first() if invitation.owner_id else None
    if owner is None:
        return
    account = Account.all_objects.filter(pk=invitation.account_id).first() if invitation.account_id else None
    who = invitation.recipient_name or (account.name if account is not None else "") or "—"
    with translation.override(owner.language or settings.LANGUAGE_CODE):
        notify(owner, title=_("Low satisfaction score from %(who)s: %(figures)s") % {
            "who": who, "figures": figures_text(response)}, body=response.comment[:500], url=response_url(response))


# --- The customer rating's rule ------------------------------------------------------------------
def _since() -> dt.datetime:
    return timezone.now() - dt.timedelta(days=365)


AVERAGES = {"csat": Avg("csat"), **{d: Avg(d) for d in DIMENSIONS}}


def points_from(averages: dict[str, Any]) -> float:
    """0–100 from the averages (1–5) of CSAT and each RATER dimension; none → the neutral 50."""
    values = [float(v) for v in averages.values() if v is not None]
    if not values:
        return NEUTRAL_POINTS
    mean = sum(values) / len(values)
    return max(0.0, min(100.0, (mean - 1.0) / 4.0 * 100.0))


def _prefetch_satisfaction(accounts: list[Account]) -> None:
    ids = [a.pk for a in accounts]
    rows = (Response.objects.filter(account_id__gte=min(ids), account_id__lte=max(ids), submitted_at__gte=_since())
            .values("account_id").annotate(**{f"avg_{k}": v for k, v in AVERAGES.items()}).order_by())
    found: dict[int, dict[str, Any]] = {}
    for row in rows:
        values: dict[str, Any] = dict(row)
        found[values["account_id"]] = {k: values[f"avg_{k}"] for k in AVERAGES}
    for account in accounts:
        account._satisfaction_averages = found.get(account.pk, {})  # type: ignore[attr-defined]


@rule("satisfaction", gettext_lazy("Satisfaction surveys of the last 12 months (CSAT and RATER averages; "
                                   "none: neutral 50)"), prefetch=_prefetch_satisfaction)
def satisfaction(account: Account) -> float:
    averages = getattr(account, "_satisfaction_averages", None)
    if averages is None:
        averages = Response.objects.filter(account_id=account.pk, submitted_at__gte=_since()).aggregate(**AVERAGES)
    return points_from(averages)


# A merged customer's responses move to the account kept.
register_relation("account", "survey_responses", Response, "account", audited=True)
