"""Survey templates (R6.1): create, edit, activate, copy as a new version, recycle bin; their questions.

* **One active survey per automatic touchpoint** (a case closed, a visit done, an order
  delivered; the database holds the same rule). Activating a second one is refused with a
  message naming the active one, unless the caller asks to ``replace`` it: then the other is
  deactivated in the same transaction. Surveys sent by hand (``manual``) may be active together.
* **Questions are fixed once answered.** While a survey has no responses its questions may be
  added, edited, reordered and removed; after the first answer they stay as they were, so the
  answers (and the dashboard's figures) remain comparable. To change them, copy the survey as
  a new version (:func:`survey_copy`, inactive) and activate the copy in the old one's place.
* A survey has at most one NPS and one CSAT question (the response keeps one figure of each);
  each RATER question names its dimension.
* Deleting moves a survey to the recycle bin (deactivated: its links stop working, see
  ``responses.invitation_for_token``); restoring brings it back inactive.

Every write: ``survey.manage`` first, one transaction, validated completely before writing,
audited on the survey (question changes as the question list before and after).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit, registry
from guanxi.core.errors import Conflict, Invalid, NotFound
from guanxi.core.services import records
from guanxi.loyalty.models import Dimension, Question, Response, Survey, Touchpoint
from guanxi.loyalty.selectors.scope import survey_scope
from guanxi.sales.services.common import raise_if, require

MANAGE = "survey.manage"
SURVEY_FIELDS = ("name", "touchpoint", "active", "intro", "thanks", "expires_days")
QUESTION_FIELDS = ("type", "dimension", "text", "required", "position")
NAME_MAX = 200
TEXT_MAX = 4000
QUESTION_MAX = 300
MAX_QUESTIONS = 40
MAX_DAYS = 365
# The question types of which a survey holds at most one (the response keeps one figure each).
SINGLE = (Question.Type.NPS, Question.Type.CSAT)
AUTOMATIC = tuple(t for t in Touchpoint.values if t != Touchpoint.MANUAL)


def survey_url(survey: Survey) -> str:
    return reverse("loyalty:survey-detail", args=[survey.pk])


def has_responses(survey: Survey) -> bool:
    return Response.objects.filter(survey_id=survey.pk).exists()


def fixed_message() -> str:
    return _("This survey already has answers, so its questions are fixed: the answers must stay comparable. "
             "Copy it as a new version to change the questions, then activate the copy in its place.")


def question_label(question: Question) -> str:
    """One line per question as the audit keeps it: "3. [RATER · reliability] text *"."""
    kind = question.type.upper()
    if question.type == Question.Type.RATER and question.dimension:
        kind += f" · {question.dimension}"
    return f"{question.position}. [{kind}] {question.text}" + (" *" if question.required else "")


def question_list(survey: Survey) -> list[str]:
    return [question_label(q) for q in Question.objects.filter(survey_id=survey.pk).order_by("position", "id")]


# --- Validation --------------------------------------------------------------------------------
def _text(value: Any, field: str, errors: dict[str, list[str]], *, limit: int, required: bool = False) -> str:
    text = str(value if value is not None else "").strip()
    if required and not text:
        errors.setdefault(field, []).append(_("This field is required."))
    elif len(text) > limit:
        errors.setdefault(field, []).append(_("At most %(max)d characters.") % {"max": limit})
    return text


def _days(value: Any, errors: dict[str, list[str]]) -> int | None:
    try:
        days = int(str(value).strip()) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        days = None
    if days is None or not 1 <= days <= MAX_DAYS:
        errors.setdefault("expires_days", []).append(
            _("Enter a number of days from 1 to %(max)d.") % {"max": MAX_DAYS})
        return None
    return days


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "on", "yes")
    return bool(value)


def clean_survey(data: dict[str, Any], survey: Survey | None = None) -> dict[str, Any]:
    """Validate the given survey fields (all at once); unknown fields are refused."""
    unknown = set(data) - set(SURVEY_FIELDS)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if "name" in data:
        cleaned["name"] = _text(data["name"], "name", errors, limit=NAME_MAX, required=True)
    if "touchpoint" in data:
        touchpoint = str(data["touchpoint"] or "")
        if touchpoint not in Touchpoint.values:
            errors.setdefault("touchpoint", []).append(_("Choose a valid touchpoint."))
        cleaned["touchpoint"] = touchpoint
    for name in ("intro", "thanks"):
        if name in data:
            cleaned[name] = _text(data[name], name, errors, limit=TEXT_MAX)
    if "expires_days" in data:
        cleaned["expires_days"] = _days(data["expires_days"], errors)
    if "active" in data:
        cleaned["active"] = _flag(data["active"])
    raise_if(errors)
    return cleaned


def active_conflict(touchpoint: str, exclude_pk: int | None) -> Survey | None:
    """The other survey active for ``touchpoint`` (automatic touchpoints only)."""
    if touchpoint not in AUTOMATIC:
        return None
    qs = Survey.objects.filter(touchpoint=touchpoint, active=True)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.first()


def conflict_message(other: Survey) -> str:
    return _("“%(name)s” is already active for “%(touchpoint)s”: only one survey per touchpoint is sent "
             "automatically. Deactivate it first, or activate this survey in its place.") % {
        "name": other.name, "touchpoint": other.get_touchpoint_display()}


def _check_activation(survey: Survey | None, touchpoint: str, *, replace: bool, actor: Any,
                      questions: int | None = None) -> Survey | None:
    """Refuse (or, with ``replace``, return to deactivate) the other active survey of the touchpoint;
    an active survey needs at least one question."""
    count = questions if questions is not None else (
        Question.objects.filter(survey_id=survey.pk).count() if survey is not None and survey.pk else 0)
    if count == 0:
        raise Invalid(errors={"active": [_("Add at least one question before activating the survey.")]})
    other = active_conflict(touchpoint, survey.pk if survey is not None else None)
    if other is not None and not replace:
        raise Invalid(errors={"active": [conflict_message(other)]})
    return other


def _deactivate(actor: Any, other: Survey, because: Survey | None) -> None:
    note = _("replaced by “%(name)s”") % {"name": because.name} if because is not None else ""
    records.apply_update(actor=actor, obj=other, changes={"active": False}, expected_version=None, note=note)


def _save(actor: Any, survey: Survey, changes: dict[str, Any], expected_version: int | None, note: str = "") -> None:
    try:
        with transaction.atomic():
            records.apply_update(actor=actor, obj=survey, changes=changes, expected_version=expected_version,
                                 note=note)
    except Invalid:
        # The one-active constraint caught a survey activated at the same moment.
        other = active_conflict(changes.get("touchpoint", survey.touchpoint), survey.pk)
        raise Invalid(errors={"active": [conflict_message(other)]} if other else {}) from None


def _lock(survey: Survey, expected_version: int | None) -> Survey:
    """Lock the survey's row; a deleted one is NotFound, a stale version Conflict."""
    fresh = Survey.all_objects.select_for_update().filter(pk=survey.pk).values("version", "deleted_at").first()
    if fresh is None or fresh["deleted_at"] is not None:
        raise NotFound()
    if expected_version is not None and int(expected_version) != fresh["version"]:
        raise Conflict()
    if fresh["version"] != survey.version:
        survey.refresh_from_db()
    return survey


# --- Surveys -----------------------------------------------------------------------------------
@transaction.atomic
def survey_create(*, actor: Any, name: str, touchpoint: str = Touchpoint.MANUAL, intro: str = "", thanks: str = "",
                  expires_days: Any = 14, active: bool = False, replace: bool = False,
                  questions: Iterable[dict[str, Any]] = ()) -> Survey:
    """A new survey with its ``questions`` (each a dict of type, dimension, text, required).
    Inactive unless ``active`` (then it needs a question, and the touchpoint a free slot or
    ``replace``)."""
    require(actor, MANAGE)
    errors: dict[str, list[str]] = {}
    try:
        data = clean_survey({"name": name, "touchpoint": touchpoint, "intro": intro, "thanks": thanks,
                             "expires_days": expires_days, "active": active})
    except Invalid as exc:
        errors.update(exc.errors)
        data = {}
    rows = list(questions)
    cleaned_questions: list[dict[str, Any]] = []
    for n, row in enumerate(rows, start=1):
        try:
            cleaned_questions.append(clean_question(row, existing=cleaned_questions))
        except Invalid as exc:
            for field, msgs in exc.errors.items():
                errors.setdefault(f"questions.{n}.{field}", []).extend(msgs)
            if not exc.errors:
                errors.setdefault(f"questions.{n}", []).append(exc.message)
    if len(rows) > MAX_QUESTIONS:
        errors.setdefault("questions", []).append(_("A survey has at most %(max)d questions.") % {"max": MAX_QUESTIONS})
    raise_if(errors)
    other = _check_activation(None, data["touchpoint"], replace=replace, actor=actor,
                              questions=len(cleaned_questions)) if data["active"] else None
    if other is not None:
        _deactivate(actor, other, None)
    survey = Survey.objects.create(**data)
    Question.objects.bulk_create([Question(survey=survey, position=n, **{k: v for k, v in q.items() if k != "position"})
                                  for n, q in enumerate(cleaned_questions, start=1)])
    changes = audit.creation_changes(survey, list(SURVEY_FIELDS), skip_empty=True)
    if cleaned_questions:
        changes["questions"] = [None, question_list(survey)]
    audit.record(actor=actor, action="create", obj=survey, changes=changes)
    return survey


@transaction.atomic
def survey_update(*, actor: Any, survey: Survey, changes: dict[str, Any], expected_version: int | None,
                  replace: bool = False) -> Survey:
    """Change a survey's name, touchpoint, texts, link validity or active flag (stale version → 409).
    Activating (or moving an active survey to a touchpoint) follows the one-active rule."""
    require(actor, MANAGE)
    _lock(survey, expected_version)
    cleaned = clean_survey(changes, survey)
    becomes_active = cleaned.get("active", survey.active)
    touchpoint = cleaned.get("touchpoint", survey.touchpoint)
    if becomes_active and (not survey.active or touchpoint != survey.touchpoint):
        other = _check_activation(survey, touchpoint, replace=replace, actor=actor)
        if other is not None:
            _deactivate(actor, other, survey)
    _save(actor, survey, cleaned, expected_version)
    return survey


@transaction.atomic
def survey_set_active(*, actor: Any, survey: Survey, active: bool, replace: bool = False,
                      expected_version: int | None = None) -> Survey:
    """Activate (one per automatic touchpoint; ``replace`` deactivates the other) or deactivate."""
    return survey_update(actor=actor, survey=survey, changes={"active": active}, expected_version=expected_version,
                         replace=replace)


@transaction.atomic
def survey_copy(*, actor: Any, survey: Survey) -> Survey:
    """A new version of ``survey``: the same texts and questions, inactive, ready to be changed."""
    require(actor, MANAGE)
    _lock(survey, None)
    name = (_("%(name)s (new version)") % {"name": survey.name})[:NAME_MAX]
    copy = Survey.objects.create(name=name, touchpoint=survey.touchpoint, active=False, intro=survey.intro,
                                 thanks=survey.thanks, expires_days=survey.expires_days)
    Question.objects.bulk_create([
        Question(survey=copy, position=q.position, type=q.type, dimension=q.dimension, text=q.text,
                 required=q.required) for q in Question.objects.filter(survey_id=survey.pk).order_by("position", "id")])
    changes = audit.creation_changes(copy, list(SURVEY_FIELDS), skip_empty=True)
    changes["questions"] = [None, question_list(copy)]
    audit.record(actor=actor, action="create", obj=copy, changes=changes,
                 note=_("copy of “%(name)s” (#%(id)d)") % {"name": survey.name, "id": survey.pk})
    return copy


@transaction.atomic
def survey_delete(*, actor: Any, survey: Survey, expected_version: int | None = None) -> Survey:
    """Move a survey to the recycle bin, deactivated: its open links stop working."""
    require(actor, MANAGE)
    _lock(survey, expected_version)
    now = timezone.now()
    rows = Survey.all_objects.filter(pk=survey.pk, deleted_at__isnull=True).update(
        deleted_at=now, deleted_by=actor, deletion_batch=uuid.uuid4(), active=False, version=F("version") + 1,
        updated_at=now)
    if rows != 1:
        raise Conflict()
    was_active = survey.active
    survey.refresh_from_db()
    audit.record(actor=actor, action="delete", obj=survey,
                 changes={"active": [True, False]} if was_active else {})
    return survey


@transaction.atomic
def survey_restore(*, actor: Any, survey: Survey) -> Survey:
    """Bring a survey back from the recycle bin, inactive (activate it again when wanted)."""
    require(actor, MANAGE)
    fresh = Survey.all_objects.select_for_update().filter(pk=survey.pk).first()
    if fresh is None:
        raise NotFound()
    if fresh.deleted_at is None:
        raise Invalid(_("This record is not in the recycle bin."))
    Survey.all_objects.filter(pk=survey.pk).update(deleted_at=None, deleted_by=None, deletion_batch=None,
                                                   active=False, version=F("version") + 1,
                                                   updated_at=timezone.now())
    survey.refresh_from_db()
    audit.record(actor=actor, action="restore", obj=survey)
    return survey


# --- Questions ---------------------------------------------------------------------------------
def clean_question(data: dict[str, Any], *, existing: Iterable[Any] = (), question: Question | None = None
                   ) -> dict[str, Any]:
    """Validate a question (the whole of it: ``question``'s values fill what ``data`` leaves out).
    ``existing``: the survey's other questions (objects or cleaned dicts), for the one-NPS and
    one-CSAT rule."""
    unknown = set(data) - set(QUESTION_FIELDS)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be set here.")] for name in sorted(unknown)})
    merged = {name: getattr(question, name) for name in QUESTION_FIELDS} if question is not None else {}
    merged.update(data)
    errors: dict[str, list[str]] = {}
    kind = str(merged.get("type") or "")
    if kind not in Question.Type.values:
        errors["type"] = [_("Choose a valid question type.")]
    dimension = str(merged.get("dimension") or "")
    if kind == Question.Type.RATER:
        if dimension not in Dimension.values:
            errors["dimension"] = [_("Choose the RATER dimension this question scores.")]
    else:
        dimension = ""
    text = _text(merged.get("text"), "text", errors, limit=QUESTION_MAX, required=True)
    if kind in SINGLE:
        for other in existing:
            other_type = other["type"] if isinstance(other, dict) else other.type
            if other_type == kind:
                errors.setdefault("type", []).append(
                    _("A survey has one %(type)s question; this one already has it.") % {
                        "type": "NPS" if kind == Question.Type.NPS else "CSAT"})
                break
    raise_if(errors)
    cleaned = {"type": kind, "dimension": dimension, "text": text,
               "required": _flag(merged["required"]) if "required" in merged else True}
    return cleaned


def _editable(survey: Survey) -> None:
    if survey.deleted_at is not None:
        raise NotFound()
    if has_responses(survey):
        raise Invalid(fixed_message(), code="fixed")


def _record_questions(actor: Any, survey: Survey, before: list[str]) -> None:
    after = question_list(survey)
    if after != before:
        Survey.all_objects.filter(pk=survey.pk).update(updated_at=timezone.now())
        audit.record(actor=actor, action="update", obj=survey, changes={"questions": [before, after]})


def _renumber(survey: Survey, ordered: list[Question]) -> None:
    for n, q in enumerate(ordered, start=1):
        if q.position != n:
            q.position = n
            Question.objects.filter(pk=q.pk).update(position=n)


def _ordered(survey: Survey) -> list[Question]:
    return list(Question.objects.filter(survey_id=survey.pk).order_by("position", "id"))


@transaction.atomic
def question_add(*, actor: Any, survey: Survey, type: str, text: str, dimension: str = "", required: bool = True,
                 position: int | None = None) -> Question:
    """Add a question (at the end, or at ``position`` from 1) to a survey without answers."""
    require(actor, MANAGE)
    _lock(survey, None)
    _editable(survey)
    ordered = _ordered(survey)
    if len(ordered) >= MAX_QUESTIONS:
        raise Invalid(errors={"text": [_("A survey has at most %(max)d questions.") % {"max": MAX_QUESTIONS}]})
    cleaned = clean_question({"type": type, "text": text, "dimension": dimension, "required": required},
                             existing=ordered)
    before = question_list(survey)
    question = Question.objects.create(survey=survey, position=len(ordered) + 1, **cleaned)
    at = _position(position, len(ordered) + 1)
    ordered.insert(at - 1, question)
    _renumber(survey, ordered)
    _record_questions(actor, survey, before)
    return question


def _position(value: Any, last: int) -> int:
    if value in (None, ""):
        return last
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid(errors={"position": [_("Enter a whole number.")]}) from None
    return min(max(number, 1), last)


@transaction.atomic
def question_update(*, actor: Any, question: Question, changes: dict[str, Any]) -> Question:
    """Change a question's text, type, dimension, required flag or position (no answers yet)."""
    require(actor, MANAGE)
    survey = _lock(Survey.all_objects.get(pk=question.survey_id), None)
    _editable(survey)
    ordered = _ordered(survey)
    position = changes.get("position")
    data = {k: v for k, v in changes.items() if k != "position"}
    cleaned = clean_question(data, existing=[q for q in ordered if q.pk != question.pk], question=question)
    before = question_list(survey)
    Question.objects.filter(pk=question.pk).update(**cleaned)
    for name, value in cleaned.items():
        setattr(question, name, value)
    if "position" in changes:
        ordered = [q for q in ordered if q.pk != question.pk]
        ordered.insert(_position(position, len(ordered) + 1) - 1, question)
        _renumber(survey, ordered)
    _record_questions(actor, survey, before)
    return question


@transaction.atomic
def question_move(*, actor: Any, question: Question, direction: str) -> Question:
    """Move a question one place ``up`` or ``down``."""
    if direction not in ("up", "down"):
        raise Invalid(errors={"direction": [_("Choose up or down.")]})
    ordered = _ordered(Survey.all_objects.get(pk=question.survey_id))
    index = next((i for i, q in enumerate(ordered) if q.pk == question.pk), 0)
    target = index - 1 if direction == "up" else index + 1
    return question_update(actor=actor, question=question,
                           changes={"position": min(max(target, 0), len(ordered) - 1) + 1})


@transaction.atomic
def questions_reorder(*, actor: Any, survey: Survey, order: list[int]) -> Survey:
    """Put the survey's questions in the order of ``order`` (every question id once)."""
    require(actor, MANAGE)
    _lock(survey, None)
    _editable(survey)
    ordered = _ordered(survey)
    by_id = {q.pk: q for q in ordered}
    try:
        ids = [int(i) for i in order]
    except (TypeError, ValueError):
        ids = []
    if sorted(ids) != sorted(by_id):
        raise Invalid(errors={"order": [_("Give every question of the survey once.")]})
    before = question_list(survey)
    _renumber(survey, [by_id[i] for i in ids])
    _record_questions(actor, survey, before)
    return survey


@transaction.atomic
def question_remove(*, actor: Any, question: Question) -> Survey:
    """Remove a question from a survey without answers (the survey's history keeps it).
    An active survey keeps at least one question."""
    require(actor, MANAGE)
    survey = _lock(Survey.all_objects.get(pk=question.survey_id), None)
    _editable(survey)
    ordered = _ordered(survey)
    if survey.active and len(ordered) <= 1:
        raise Invalid(_("An active survey needs at least one question; deactivate it first."))
    before = question_list(survey)
    try:
        Question.objects.filter(pk=question.pk).delete()
    except IntegrityError:  # pragma: no cover - answers are checked above
        raise Invalid(fixed_message()) from None
    _renumber(survey, [q for q in ordered if q.pk != question.pk])
    _record_questions(actor, survey, before)
    return survey


# --- Registration with the generic machinery (history, recycle bin) ----------------------------
registry.register(registry.Entry(
    model=Survey, perm="survey", scope=lambda user, qs: survey_scope(user, qs), editable=(),
    detail_url=lambda obj: survey_url(obj),
))
