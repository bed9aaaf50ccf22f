"""HTML views of the answers: the responses list and one response (/surveys/responses/), and the
public page a customer answers from (/survey/<token>/, no login).

The public page is made for a phone: one column, the 0–10 and 1–5 scales as big buttons (radio
inputs styled as buttons, so they work without JavaScript), Chinese by default and otherwise the
visitor's language (their choice, else the browser's), like the public feedback form. It is rate
limited per client address in the cache (``GUANXI_SURVEY_RATE``, "30/10m" by default). An unknown
link is 404; an expired or withdrawn one 410; an answered one shows the thank-you text.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from guanxi.core.errors import Invalid, NotFound
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import PUBLIC
from guanxi.core.permissions import declare as requires
from guanxi.core.public import activate_visitor_language, company_name, over_rate, rate_setting
from guanxi.customers.selectors import account_scope
from guanxi.loyalty.models import Dimension, Invitation, Question, Touchpoint
from guanxi.loyalty.selectors import surveys as reads
from guanxi.loyalty.selectors.scope import response_scope, survey_scope
from guanxi.loyalty.services import responses as services
from guanxi.service.selectors.scope import get_one

PAGE_SIZE = 50
DEFAULT_RATE = "30/10m"


# --- Staff: the responses ----------------------------------------------------------------------
@requires("survey.view")
def response_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    filters = reads.parse_filters(request.GET)
    page = CappedPaginator(reads.response_list_for(user, **filters), PAGE_SIZE).get_page(request.GET.get("page"))
    for response in page:
        response.figures = services.figures_text(response)  # type: ignore[attr-defined]
        response.low = services.is_detractor(response)  # type: ignore[attr-defined]
    account = account_scope(user).filter(pk=filters["account"]).only("id", "name").first() \
        if filters.get("account") else None
    return render(request, "loyalty/responses_list.html", {
        "page": page, "filters": filters, "touchpoints": Touchpoint.choices, "account": account,
        "surveys": survey_scope(user).order_by("name").only("id", "name")})


@requires("survey.view")
def response_detail(request: HttpRequest, pk: int) -> HttpResponse:
    response = get_one(response_scope, request.user, pk, "survey", "account", "owner", "invitation",
                       "invitation__contact", "department")
    dimensions = [(label, getattr(response, code)) for code, label in Dimension.choices]
    return render(request, "loyalty/responses_detail.html", {
        "response": response, "answers": reads.answers_of(response), "dimensions": dimensions,
        "figures": services.figures_text(response), "low": services.is_detractor(response)})


# --- The public page ---------------------------------------------------------------------------
def survey_rate() -> tuple[int, int]:
    """(requests, seconds) from ``GUANXI_SURVEY_RATE`` ("30/10m": thirty per ten minutes)."""
    return rate_setting("GUANXI_SURVEY_RATE", DEFAULT_RATE)


def over_the_limit(request: HttpRequest) -> bool:
    """Count this request against the client address's allowance."""
    return over_rate(request, "guanxi:survey:rate", survey_rate())


def _private(response: HttpResponse) -> HttpResponse:
    # The link is the credential: never sent to another site as a referrer, never indexed. (Not
    # "no-referrer": browsers then post the form with "Origin: null", which CSRF refuses.)
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return _private(render(request, template, {"company": company_name(), **context}, status=status))


SCALES: dict[str, list[int]] = {
    Question.Type.NPS: list(range(0, 11)),
    Question.Type.CSAT: list(range(1, 6)),
    Question.Type.RATER: list(range(1, 6)),
}


def _rows(questions: list[Question], posted: dict[str, str], errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Each question with its scale, what was chosen or written, and its messages."""
    rows = []
    for question in questions:
        field = f"q{question.pk}"
        rows.append({"question": question, "field": field, "scale": SCALES.get(question.type, []),
                     "value": posted.get(field, ""), "errors": errors.get(field, [])})
    return rows


def _gone(request: HttpRequest, exc: services.Gone, invitation: Invitation | None = None) -> HttpResponse:
    if exc.code == "answered":
        survey = invitation.survey if invitation is not None else None
        return _page(request, "loyalty/public_thanks.html", {"survey": survey, "again": True})
    return _page(request, "loyalty/public_gone.html", {"message": exc.message, "code": exc.code}, status=410)


def _answered_invitation(token: str) -> Invitation | None:
    from guanxi.core.tokens import TOKEN_MAX, hash_token

    return Invitation.objects.select_related("survey").filter(
        token_hash=hash_token(token), answered_at__isnull=False).first() if len(token) <= TOKEN_MAX else None


@requires(PUBLIC)
@never_cache
def answer_page(request: HttpRequest, token: str) -> HttpResponse:
    """``/survey/<token>/``: the questions (GET), the answers (POST → the thank-you page)."""
    activate_visitor_language(request)
    if over_the_limit(request):
        return _page(request, "loyalty/public_gone.html", {"code": "limited", "message": _(
            "We have received many requests from your connection in a short time. Please wait a few minutes and "
            "try again.")}, status=429)
    try:
        invitation = services.invitation_for_token(token)
    except NotFound:
        return _page(request, "loyalty/public_missing.html", {}, status=404)
    except services.Gone as exc:
        return _gone(request, exc, _answered_invitation(token) if exc.code == "answered" else None)
    questions = services.questions_of(invitation.survey_id)
    posted: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        posted = {f"q{q.pk}": request.POST.get(f"q{q.pk}", "") for q in questions}
        posted["comment"] = request.POST.get("comment", "")
        try:
            services.answer(token=token, answers={k: v for k, v in posted.items() if k != "comment"},
                            comment=posted["comment"])
        except Invalid as exc:
            errors = exc.errors or {"answers": [exc.message]}
            status = 422
        except services.Gone as exc:
            return _gone(request, exc, _answered_invitation(token) if exc.code == "answered" else None)
        except NotFound:
            return _page(request, "loyalty/public_missing.html", {}, status=404)
        else:
            return _private(redirect(reverse("survey:answer", args=[token]), permanent=False))
    has_text = any(q.type == Question.Type.TEXT for q in questions)
    return _page(request, "loyalty/public_survey.html", {
        "invitation": invitation, "survey": invitation.survey, "rows": _rows(questions, posted, errors),
        "comment": posted.get("comment", ""), "comment_errors": errors.get("comment", []),
        "general_errors": errors.get("answers", []), "has_errors": bool(errors), "ask_comment": not has_text},
        status=status)


urlpatterns: list[URLPattern] = [
    path("responses/", response_list, name="response-list"),
    path("responses/<int:pk>/", response_detail, name="response-detail"),
]
# Routes that need no login (served below /survey/).
public_urlpatterns: list[URLPattern] = [
    path("<str:token>/", answer_page, name="answer"),
]
