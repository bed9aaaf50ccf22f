"""HTML views of the survey templates (/surveys/): the list, one survey with its counts, create and
edit, activate and deactivate, copy as a new version, the recycle bin, and the question editor.
Thin: parse → scoped read → service → render."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.core import selectors as core_selectors
from guanxi.core.errors import NotFound, ServiceError
from guanxi.core.permissions import declare as requires
from guanxi.core.permissions import has_perm
from guanxi.core.views import error_text, form_errors, posted_version, style_form
from guanxi.loyalty.models import Dimension, Question, Survey, Touchpoint
from guanxi.loyalty.selectors import surveys as reads
from guanxi.loyalty.selectors.scope import survey_scope
from guanxi.loyalty.services import surveys as services
from guanxi.sales.views.common import act, save_edit
from guanxi.service.selectors.scope import get_one


# --- Forms -------------------------------------------------------------------------------------
class SurveyForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=services.NAME_MAX)
    touchpoint = forms.ChoiceField(label=gettext_lazy("Sent after"), choices=Touchpoint.choices,
                                   initial=Touchpoint.MANUAL,
                                   help_text=gettext_lazy("A survey for a touchpoint goes out automatically when it "
                                                          "is active (one active survey per touchpoint); “Sent by "
                                                          "hand” surveys are sent from an account or a case."))
    expires_days = forms.IntegerField(label=gettext_lazy("Link valid for (days)"), min_value=1,
                                      max_value=services.MAX_DAYS, initial=14)
    intro = forms.CharField(label=gettext_lazy("Introduction"), required=False, max_length=services.TEXT_MAX,
                            widget=forms.Textarea(attrs={"rows": 3}),
                            help_text=gettext_lazy("Shown to the customer above the questions."))
    thanks = forms.CharField(label=gettext_lazy("Thank-you text"), required=False, max_length=services.TEXT_MAX,
                             widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=gettext_lazy("Shown after the customer has answered."))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_form(self)


class SurveyEditForm(SurveyForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


class QuestionForm(forms.Form):
    type = forms.ChoiceField(label=gettext_lazy("Type"), choices=Question.Type.choices)
    dimension = forms.ChoiceField(label=gettext_lazy("RATER dimension"), required=False,
                                  choices=[("", "—"), *Dimension.choices],
                                  help_text=gettext_lazy("Only for RATER questions: which dimension the score "
                                                         "counts for."))
    text = forms.CharField(label=gettext_lazy("Question"), max_length=services.QUESTION_MAX,
                           widget=forms.Textarea(attrs={"rows": 2}))
    required = forms.BooleanField(label=gettext_lazy("An answer is required"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_form(self)


def _survey(request: HttpRequest, pk: int) -> Survey:
    return get_one(survey_scope, request.user, pk)  # type: ignore[no-any-return]


def _question(request: HttpRequest, pk: int) -> Question:
    question = Question.objects.filter(pk=pk, survey__deleted_at__isnull=True).first()
    if question is None or not survey_scope(request.user).filter(pk=question.survey_id).exists():
        raise NotFound()
    return question


# --- The list and one survey -------------------------------------------------------------------
@requires("survey.view")
def survey_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    can_manage = has_perm(user, services.MANAGE)
    deleted = request.GET.get("deleted") == "1" and can_manage
    rows = list(reads.survey_list_for(user, deleted=deleted))
    return render(request, "loyalty/surveys_list.html", {
        "surveys": rows, "deleted": deleted, "can_manage": can_manage,
        "can_send": has_perm(user, "survey.send")})


@requires("survey.view")
def survey_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    survey = _survey(request, pk)
    other = services.active_conflict(survey.touchpoint, survey.pk) if not survey.active else None
    return render(request, "loyalty/surveys_detail.html", {
        "survey": survey, "questions": reads.questions_of(survey), "counts": reads.counts(user, survey),
        "fixed": services.has_responses(survey), "other_active": other,
        "automatic": survey.touchpoint in services.AUTOMATIC,
        "can_manage": has_perm(user, services.MANAGE), "can_send": has_perm(user, "survey.send") and survey.active,
        "history": core_selectors.history_for(survey)[:50]})


@requires("survey.manage")
def survey_create(request: HttpRequest) -> HttpResponse:
    form = SurveyForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                survey = services.survey_create(actor=request.user, **form.cleaned_data)
            except ServiceError as exc:
                form_errors(form, exc)
            else:
                messages.success(request, _("Survey “%(name)s” created. Add its questions, then activate it.") % {
                    "name": survey.name})
                return redirect("loyalty:survey-questions", pk=survey.pk)
        status = 422
    return render(request, "loyalty/surveys_form.html", {"form": form, "title": _("New survey")}, status=status)


@requires("survey.manage")
def survey_edit(request: HttpRequest, pk: int) -> HttpResponse:
    survey = _survey(request, pk)
    initial = {name: getattr(survey, name) for name in ("name", "touchpoint", "expires_days", "intro", "thanks")}
    form = SurveyEditForm(request.POST or None, initial={**initial, "version": survey.version})
    status = save_edit(request, form, lambda changes, version: services.survey_update(
        actor=request.user, survey=survey, changes=changes, expected_version=version))
    if status is None:
        return redirect("loyalty:survey-detail", pk=pk)
    return render(request, "loyalty/surveys_form.html", {
        "form": form, "survey": survey, "title": _("Edit survey “%(name)s”") % {"name": survey.name}}, status=status)


@requires("survey.manage")
@require_POST
def survey_state(request: HttpRequest, pk: int) -> HttpResponse:
    """Activate (``replace=1``: in place of the touchpoint's active survey) or deactivate."""
    survey = _survey(request, pk)
    action = request.POST.get("action", "")
    if action not in ("activate", "deactivate"):
        raise NotFound()
    active = action == "activate"
    return act(request, lambda: services.survey_set_active(
        actor=request.user, survey=survey, active=active, replace=request.POST.get("replace") == "1",
        expected_version=posted_version(request)),
        lambda: (_("“%(name)s” is active: it is sent from now on.") if active
                 else _("“%(name)s” is inactive: it is no longer sent.")) % {"name": survey.name},
        reverse("loyalty:survey-detail", args=[pk]))


@requires("survey.manage")
@require_POST
def survey_copy(request: HttpRequest, pk: int) -> HttpResponse:
    survey = _survey(request, pk)
    try:
        copy = services.survey_copy(actor=request.user, survey=survey)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        return redirect("loyalty:survey-detail", pk=pk)
    messages.success(request, _("A new version was made (inactive). Change its questions, then activate it in "
                                "place of the old one."))
    return redirect("loyalty:survey-questions", pk=copy.pk)


@requires("survey.manage")
@require_POST
def survey_delete(request: HttpRequest, pk: int) -> HttpResponse:
    survey = _survey(request, pk)
    return act(request, lambda: services.survey_delete(actor=request.user, survey=survey,
                                                       expected_version=posted_version(request)),
               lambda: _("“%(name)s” was moved to the recycle bin; its open links no longer work.") % {
                   "name": survey.name},
               "loyalty:survey-list", failed_to=reverse("loyalty:survey-detail", args=[pk]))


@requires("survey.manage")
@require_POST
def survey_restore(request: HttpRequest, pk: int) -> HttpResponse:
    survey = Survey.all_objects.filter(pk=pk, deleted_at__isnull=False).first()
    if survey is None:
        raise NotFound()
    return act(request, lambda: services.survey_restore(actor=request.user, survey=survey),
               lambda: _("“%(name)s” was restored (inactive).") % {"name": survey.name},
               reverse("loyalty:survey-detail", args=[pk]), failed_to=reverse("loyalty:survey-list") + "?deleted=1")


# --- The question editor -----------------------------------------------------------------------
@requires("survey.manage")
def survey_questions(request: HttpRequest, pk: int) -> HttpResponse:
    """The questions in order with their actions, and the form adding one (POST adds)."""
    survey = _survey(request, pk)
    form = QuestionForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.question_add(actor=request.user, survey=survey, **form.cleaned_data)
            except ServiceError as exc:
                form_errors(form, exc)
            else:
                messages.success(request, _("Question added."))
                return redirect("loyalty:survey-questions", pk=pk)
        status = 422
    return render(request, "loyalty/surveys_questions.html", {
        "survey": survey, "questions": reads.questions_of(survey), "form": form,
        "fixed": services.has_responses(survey), "fixed_message": services.fixed_message()}, status=status)


@requires("survey.manage")
def question_edit(request: HttpRequest, pk: int) -> HttpResponse:
    question = _question(request, pk)
    survey = Survey.objects.get(pk=question.survey_id)
    form = QuestionForm(request.POST or None, initial={
        "type": question.type, "dimension": question.dimension, "text": question.text,
        "required": question.required})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.question_update(actor=request.user, question=question, changes=form.cleaned_data)
            except ServiceError as exc:
                form_errors(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect("loyalty:survey-questions", pk=survey.pk)
        status = 422
    return render(request, "loyalty/surveys_question_form.html", {
        "form": form, "survey": survey, "question": question,
        "title": _("Question %(n)d of “%(name)s”") % {"n": question.position, "name": survey.name}}, status=status)


@requires("survey.manage")
@require_POST
def question_move(request: HttpRequest, pk: int) -> HttpResponse:
    question = _question(request, pk)
    return act(request, lambda: services.question_move(actor=request.user, question=question,
                                                       direction=request.POST.get("direction", "")),
               _("The order was saved."), reverse("loyalty:survey-questions", args=[question.survey_id]))


@requires("survey.manage")
@require_POST
def question_delete(request: HttpRequest, pk: int) -> HttpResponse:
    question = _question(request, pk)
    return act(request, lambda: services.question_remove(actor=request.user, question=question),
               _("Question removed."), reverse("loyalty:survey-questions", args=[question.survey_id]))


urlpatterns: list[URLPattern] = [
    path("", survey_list, name="survey-list"),
    path("new/", survey_create, name="survey-create"),
    path("<int:pk>/", survey_detail, name="survey-detail"),
    path("<int:pk>/edit/", survey_edit, name="survey-edit"),
    path("<int:pk>/state/", survey_state, name="survey-state"),
    path("<int:pk>/copy/", survey_copy, name="survey-copy"),
    path("<int:pk>/delete/", survey_delete, name="survey-delete"),
    path("<int:pk>/restore/", survey_restore, name="survey-restore"),
    path("<int:pk>/questions/", survey_questions, name="survey-questions"),
    path("questions/<int:pk>/edit/", question_edit, name="question-edit"),
    path("questions/<int:pk>/move/", question_move, name="question-move"),
    path("questions/<int:pk>/delete/", question_delete, name="question-delete"),
]
# Routes that need no login (served below /survey/): see ``views.answers``.
public_urlpatterns: list[URLPattern] = []
