"""REST API of the surveys: /surveys (templates and their questions), /survey-invitations (list,
send by hand) and /survey-responses (the answers).

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.pagination import CursorPagination, paginate

from guanxi.core.api import ErrorOut, Strict
from guanxi.core.errors import Invalid, NotFound
from guanxi.core.permissions import declare as requires
from guanxi.core.services import records
from guanxi.customers.models import Account, Contact
from guanxi.loyalty.models import Answer, Invitation, Question, Response, Survey, Touchpoint
from guanxi.loyalty.selectors import surveys as reads
from guanxi.loyalty.selectors.scope import invitation_scope, response_scope, survey_scope
from guanxi.loyalty.services import invitations as invitation_services
from guanxi.loyalty.services import surveys as services
from guanxi.service.selectors.scope import case_scope, get_one

router = Router(tags=["surveys"])


# --- Schemas -----------------------------------------------------------------------------------
class QuestionOut(Schema):
    id: int
    position: int
    type: str
    dimension: str
    text: str
    required: bool


class SurveyOut(Schema):
    id: int
    name: str
    touchpoint: str
    active: bool
    intro: str
    thanks: str
    expires_days: int
    has_responses: bool
    questions: list[QuestionOut]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_questions(obj: Survey) -> list[Any]:
        return sorted(obj.questions.all(), key=lambda q: (q.position, q.pk))  # prefetched by the list

    @staticmethod
    def resolve_has_responses(obj: Survey) -> bool:
        return services.has_responses(obj)


class QuestionIn(Strict):
    type: str
    text: str
    dimension: str = ""
    required: bool = True


class QuestionAddIn(QuestionIn):
    position: int | None = None


class QuestionPatch(Strict):
    type: str | None = None
    text: str | None = None
    dimension: str | None = None
    required: bool | None = None
    position: int | None = None


class SurveyIn(Strict):
    name: str
    touchpoint: str = Touchpoint.MANUAL
    intro: str = ""
    thanks: str = ""
    expires_days: int = 14
    active: bool = False
    replace: bool = False
    questions: list[QuestionIn] = []


class SurveyPatch(Strict):
    version: int
    name: str | None = None
    touchpoint: str | None = None
    intro: str | None = None
    thanks: str | None = None
    expires_days: int | None = None
    active: bool | None = None
    replace: bool = False


class InvitationOut(Schema):
    id: int
    survey: int = Field(..., alias="survey_id")
    survey_name: str
    touchpoint: str
    source: str
    account: int | None = Field(None, alias="account_id")
    contact: int | None = Field(None, alias="contact_id")
    recipient_name: str
    email: str
    phone: str
    owner: int | None = Field(None, alias="owner_id")
    department: int | None = Field(None, alias="department_id")
    status: str
    created_at: dt.datetime
    expires_at: dt.datetime
    answered_at: dt.datetime | None
    mailed_at: dt.datetime | None
    sent_by: int | None = Field(None, alias="sent_by_id")
    response: int | None

    @staticmethod
    def resolve_survey_name(obj: Invitation) -> str:
        return obj.survey.name

    @staticmethod
    def resolve_status(obj: Invitation) -> str:
        return invitation_services.status(obj)

    @staticmethod
    def resolve_response(obj: Invitation) -> int | None:
        response = getattr(obj, "response", None) if obj.answered_at else None
        return response.pk if response is not None else None


class InvitationSentOut(InvitationOut):
    link: str


class InvitationIn(Strict):
    survey: int
    account: int | None = None
    contact: int | None = None
    case: int | None = None
    recipient_name: str = ""
    email: str = ""
    phone: str = ""


class AnswerOut(Schema):
    question: int = Field(..., alias="question_id")
    position: int
    type: str
    dimension: str
    text: str
    score: int | None
    answer: str

    @staticmethod
    def resolve_position(obj: Answer) -> int:
        return obj.question.position

    @staticmethod
    def resolve_type(obj: Answer) -> str:
        return obj.question.type

    @staticmethod
    def resolve_dimension(obj: Answer) -> str:
        return obj.question.dimension

    @staticmethod
    def resolve_text(obj: Answer) -> str:
        return obj.question.text

    @staticmethod
    def resolve_answer(obj: Answer) -> str:
        return obj.text


class ResponseOut(Schema):
    id: int
    invitation: int = Field(..., alias="invitation_id")
    survey: int = Field(..., alias="survey_id")
    survey_name: str
    touchpoint: str
    account: int | None = Field(None, alias="account_id")
    account_name: str
    owner: int | None = Field(None, alias="owner_id")
    department: int | None = Field(None, alias="department_id")
    submitted_at: dt.datetime
    nps: int | None
    csat: int | None
    reliability: Decimal | None
    assurance: Decimal | None
    tangibles: Decimal | None
    empathy: Decimal | None
    responsiveness: Decimal | None
    comment: str

    @staticmethod
    def resolve_survey_name(obj: Response) -> str:
        return obj.survey.name

    @staticmethod
    def resolve_account_name(obj: Response) -> str:
        return obj.account.name if obj.account is not None else ""


class ResponseDetailOut(ResponseOut):
    answers: list[AnswerOut]

    @staticmethod
    def resolve_answers(obj: Response) -> list[Any]:
        return reads.answers_of(obj)


# --- Surveys -----------------------------------------------------------------------------------
def _survey(request: HttpRequest, pk: int) -> Survey:
    return get_one(survey_scope, request.user, pk)  # type: ignore[no-any-return]


def _fresh(request: HttpRequest, pk: int) -> Survey:
    return survey_scope(request.user).prefetch_related("questions").get(pk=pk)


def _question(survey: Survey, question_pk: int) -> Question:
    question = Question.objects.filter(pk=question_pk, survey_id=survey.pk).first()
    if question is None:
        raise NotFound()
    return question


@router.get("/surveys", response=list[SurveyOut])
@requires("survey.view")
@paginate(CursorPagination, ordering=("-id",))
def survey_list(request: HttpRequest, touchpoint: str = "", active: bool | None = None) -> Any:
    """The company's surveys, newest first, with their questions: ``touchpoint``, ``active``."""
    qs = survey_scope(request.user).prefetch_related("questions")
    if touchpoint:
        qs = qs.filter(touchpoint=touchpoint)
    if active is not None:
        qs = qs.filter(active=active)
    return qs


@router.post("/surveys", response={201: SurveyOut, 422: ErrorOut})
@requires("survey.manage")
def survey_create(request: HttpRequest, payload: SurveyIn) -> Any:
    """A survey with its ``questions``; inactive unless ``active`` (one active survey per automatic
    touchpoint: another active one is refused with 422, or deactivated with ``replace``)."""
    data = payload.model_dump()
    questions = data.pop("questions")
    survey = services.survey_create(actor=request.user, questions=questions, **data)
    return Status(201, _fresh(request, survey.pk))


@router.get("/surveys/{int:pk}", response=SurveyOut)
@requires("survey.view")
def survey_get(request: HttpRequest, pk: int) -> Any:
    return _fresh(request, _survey(request, pk).pk)


@router.patch("/surveys/{int:pk}", response={200: SurveyOut, 409: ErrorOut, 422: ErrorOut})
@requires("survey.manage")
def survey_update(request: HttpRequest, pk: int, payload: SurveyPatch) -> Any:
    """Change the name, touchpoint, texts, link validity or ``active`` flag; ``version`` is the one
    read (stale → 409, nothing changes). ``replace`` activates in place of the touchpoint's active one."""
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    replace = data.pop("replace", False)
    survey = _survey(request, pk)
    services.survey_update(actor=request.user, survey=survey, changes=data, expected_version=version,
                           replace=replace)
    return _fresh(request, pk)


@router.delete("/surveys/{int:pk}", response={204: None, 409: ErrorOut})
@requires("survey.manage")
def survey_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    """To the recycle bin (deactivated; its open links stop working)."""
    services.survey_delete(actor=request.user, survey=_survey(request, pk), expected_version=version)
    return Status(204, None)


@router.post("/surveys/{int:pk}/copy", response={201: SurveyOut})
@requires("survey.manage")
def survey_copy(request: HttpRequest, pk: int) -> Any:
    """A new, inactive version with the same questions (to change a survey that has answers)."""
    copy = services.survey_copy(actor=request.user, survey=_survey(request, pk))
    return Status(201, _fresh(request, copy.pk))


@router.get("/surveys/{int:pk}/questions", response=list[QuestionOut])
@requires("survey.view")
def question_list(request: HttpRequest, pk: int) -> Any:
    return reads.questions_of(_survey(request, pk))


@router.post("/surveys/{int:pk}/questions", response={201: QuestionOut, 422: ErrorOut})
@requires("survey.manage")
def question_add(request: HttpRequest, pk: int, payload: QuestionAddIn) -> Any:
    """Add a question (at the end, or at ``position``); refused (422, code ``fixed``) once the survey
    has answers — copy it as a new version instead."""
    question = services.question_add(actor=request.user, survey=_survey(request, pk), **payload.model_dump())
    return Status(201, question)


@router.patch("/surveys/{int:pk}/questions/{int:question_pk}", response={200: QuestionOut, 422: ErrorOut})
@requires("survey.manage")
def question_update(request: HttpRequest, pk: int, question_pk: int, payload: QuestionPatch) -> Any:
    """Change a question's text, type, dimension, required flag or ``position`` (no answers yet)."""
    survey = _survey(request, pk)
    question = services.question_update(actor=request.user, question=_question(survey, question_pk),
                                        changes=payload.model_dump(exclude_unset=True))
    question.refresh_from_db()
    return question


@router.delete("/surveys/{int:pk}/questions/{int:question_pk}", response={204: None, 422: ErrorOut})
@requires("survey.manage")
def question_delete(request: HttpRequest, pk: int, question_pk: int) -> Any:
    survey = _survey(request, pk)
    services.question_remove(actor=request.user, question=_question(survey, question_pk))
    return Status(204, None)


# --- Invitations -------------------------------------------------------------------------------
@router.get("/survey-invitations", response=list[InvitationOut])
@requires("survey.view")
@paginate(CursorPagination, ordering=("-id",))
def invitation_list(request: HttpRequest, touchpoint: str = "", status: str = "", survey: int | None = None,
                    account: int | None = None, date_from: str = "", date_to: str = "") -> Any:
    """The invitations the caller sees, newest first: ``touchpoint``, ``status`` (pending, answered,
    expired), ``survey``, ``account``, ``date_from``/``date_to`` (sent)."""
    return reads.invitation_list_for(request.user, **reads.parse_filters(request.GET)) \
        .select_related("response")


@router.post("/survey-invitations", response={200: InvitationSentOut, 201: InvitationSentOut, 404: ErrorOut,
                                              422: ErrorOut})
@requires("survey.send")
def invitation_send(request: HttpRequest, payload: InvitationIn) -> Any:
    """Send an active survey by hand to an ``account`` (and ``contact``), a ``case``'s sender, or an
    address. 201 with the ``link`` (shown once; e-mailed when there is an address). For a case the
    survey is sent once: a second call answers 200 with the existing invitation and an empty link.
    Send an ``Idempotency-Key`` to retry safely."""
    user: Any = request.user
    survey = _survey(request, payload.survey)
    account = records.get_visible(user, Account, payload.account) if payload.account is not None else None
    contact = None
    if payload.contact is not None:
        contact = Contact.objects.filter(pk=payload.contact).first()
        if contact is None or not records.get_visible(user, Account, contact.account_id):
            raise NotFound()
        if account is not None and contact.account_id != account.pk:
            raise Invalid(errors={"contact": [_("Choose a contact of this account.")]})
    case = get_one(case_scope, user, payload.case) if payload.case is not None else None
    with transaction.atomic():
        invitation, raw = invitation_services.invitation_send(
            actor=user, survey=survey, account=account, contact=contact, case=case, email=payload.email,
            phone=payload.phone, recipient_name=payload.recipient_name)
    fresh = invitation_scope(user).select_related("survey").get(pk=invitation.pk)
    fresh.link = invitation_services.link(raw) if raw else ""  # type: ignore[attr-defined]
    return Status(201 if raw else 200, fresh)


# --- Responses ---------------------------------------------------------------------------------
@router.get("/survey-responses", response=list[ResponseOut])
@requires("survey.view")
@paginate(CursorPagination, ordering=("-id",))
def response_list(request: HttpRequest, touchpoint: str = "", survey: int | None = None, account: int | None = None,
                  date_from: str = "", date_to: str = "", low: bool = False) -> Any:
    """The responses the caller sees, newest first: ``touchpoint``, ``survey``, ``account``,
    ``date_from``/``date_to`` (answered), ``low`` (detractors: NPS 0–6 or CSAT 1–2)."""
    return reads.response_list_for(request.user, **reads.parse_filters(request.GET))


@router.get("/survey-responses/{int:pk}", response=ResponseDetailOut)
@requires("survey.view")
def response_get(request: HttpRequest, pk: int) -> Any:
    """One response with its answers (each with its question)."""
    return get_one(response_scope, request.user, pk, "survey", "account")

