"""Answers: every answer validated before anything is written, the response's figures (NPS, CSAT, each
RATER dimension's average), the account's timeline, the rating rule ``satisfaction``, a low score told to
the responsible person, and who sees which responses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from guanxi.core.errors import Invalid
from guanxi.core.models import Notification
from guanxi.customers.models import AccountRating, RatingFactor
from guanxi.customers.selectors.timeline import account_timeline
from guanxi.customers.services import classification
from guanxi.loyalty.models import Answer, Invitation, Question, Response, Touchpoint
from guanxi.loyalty.selectors.scope import invitation_scope, response_scope
from guanxi.loyalty.services import responses, surveys
from guanxi.loyalty.tests.helpers import answered, customer, full_answers, seeded, sent

pytestmark = pytest.mark.django_db


def questions(survey):
    return list(Question.objects.filter(survey=survey).order_by("position"))


def test_out_of_range_and_missing_answers_are_refused_all_at_once_and_nothing_is_written(org):
    survey = seeded(Touchpoint.CASE_CLOSED)
    invitation, raw = sent(survey)
    rater, nps, csat = questions(survey)[0], questions(survey)[5], questions(survey)[6]
    answers = full_answers(survey)
    answers[f"q{rater.pk}"] = 6
    answers[f"q{nps.pk}"] = "11"
    del answers[f"q{csat.pk}"]
    answers["q999999"] = 3
    with pytest.raises(Invalid) as exc:
        responses.answer(token=raw, answers=answers, comment="x" * 2001)
    errors = exc.value.errors
    assert set(errors) == {f"q{rater.pk}", f"q{nps.pk}", f"q{csat.pk}", "answers", "comment"}
    assert errors[f"q{rater.pk}"] == ["Choose a score from 1 to 5."]
    assert errors[f"q{nps.pk}"] == ["Choose a score from 0 to 10."]
    assert errors[f"q{csat.pk}"] == ["Please choose a score."]
    assert not Response.objects.exists() and not Answer.objects.exists()
    invitation.refresh_from_db()
    assert invitation.answered_at is None


@pytest.mark.parametrize("value", [0, -1, "4.5", "四", True, "", None, [3]])
def test_a_score_that_is_not_a_whole_number_in_range_is_refused(org, value):
    survey = seeded(Touchpoint.CASE_CLOSED)
    _invitation, raw = sent(survey)
    answers = full_answers(survey)
    first = questions(survey)[0]
    answers[f"q{first.pk}"] = value
    with pytest.raises(Invalid) as exc:
        responses.answer(token=raw, answers=answers)
    assert f"q{first.pk}" in exc.value.errors


def test_optional_questions_may_be_left_out_and_nps_zero_counts(org):
    survey = seeded(Touchpoint.CASE_CLOSED)
    _invitation, raw = sent(survey)
    answers = full_answers(survey, nps=0)
    text = questions(survey)[7]
    del answers[f"q{text.pk}"]
    response = responses.answer(token=raw, answers=answers)
    assert response.nps == 0 and response.comment == ""
    assert Answer.objects.filter(response=response).count() == 7


def test_the_figures_are_the_scores_and_each_dimensions_average(org, account_factory):
    account, contact = customer(account_factory, org.salesperson)
    survey = surveys.survey_create(actor=org.gm, name="两题可靠性", active=True, questions=[
        {"type": "rater", "dimension": "reliability", "text": "准时"},
        {"type": "rater", "dimension": "reliability", "text": "一次修好"},
        {"type": "rater", "dimension": "empathy", "text": "体贴"},
        {"type": "nps", "text": "推荐？"},
        {"type": "csat", "text": "满意？"},
        {"type": "text", "text": "意见", "required": False}])
    invitation, raw = sent(survey, account=account, contact=contact, owner=org.salesperson)
    q = questions(survey)
    response = responses.answer(token=raw, answers={
        q[0].pk: 4, str(q[1].pk): "5", f"q{q[2].pk}": 3, q[3].pk: 9, q[4].pk: 4, q[5].pk: "  很好  "})
    response.refresh_from_db()
    assert (response.nps, response.csat) == (9, 4)
    assert (response.reliability, response.empathy) == (Decimal("4.50"), Decimal("3.00"))
    assert response.assurance is None and response.tangibles is None and response.responsiveness is None
    assert (response.account, response.owner, response.department_id, response.touchpoint) == (
        account, org.salesperson, org.salesperson.department_id, Touchpoint.CASE_CLOSED)
    assert response.comment == "很好"  # the free-text answer, without a separate comment
    assert responses.figures_text(response) == "NPS 9, CSAT 4, RATER 3.8"
    invitation.refresh_from_db()
    assert invitation.answered_at == response.submitted_at


def test_a_comment_with_markup_is_kept_as_text(org):
    survey = seeded(Touchpoint.CASE_CLOSED)
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    response = answered(survey, text=payload, comment="")
    assert response.comment == payload
    assert Answer.objects.get(response=response, question__type="text").text == payload


def test_a_low_score_is_told_to_the_responsible_person(org, account_factory):
    account, contact = customer(account_factory, org.salesperson)
    survey = seeded(Touchpoint.CASE_CLOSED)
    answered(survey, account=account, contact=contact, owner=org.salesperson, nps=3, csat=2, comment="一直没人理")
    note = Notification.objects.get(user=org.salesperson)
    assert "NPS 3, CSAT 2" in note.title and note.body == "一直没人理" and note.url.startswith("/surveys/responses/")
    answered(survey, account=account, owner=org.salesperson, source="test:happy", nps=10, csat=5)
    assert Notification.objects.filter(user=org.salesperson).count() == 1


def test_the_response_is_on_the_accounts_timeline(org, account_factory):
    account, contact = customer(account_factory, org.salesperson)
    answered(seeded(Touchpoint.CASE_CLOSED), account=account, contact=contact, owner=org.service, nps=9, csat=5,
             rater=4, comment="服务很好")
    items = [item for item in account_timeline(org.salesperson, account) if item.kind == "survey"]
    assert len(items) == 1
    assert items[0].title == "Satisfaction survey: NPS 9, CSAT 5, RATER 4.0"
    assert "服务很好" in items[0].detail and items[0].url.startswith("/surveys/responses/")
    assert not [item for item in account_timeline(org.outsider, account) if item.kind == "survey"]


# --- The rating rule -----------------------------------------------------------------------------
def test_the_satisfaction_rule_scales_the_last_years_csat_and_rater_averages(org, account_factory):
    account, _contact = customer(account_factory, org.salesperson)
    rule = classification.RULES["satisfaction"]
    assert rule.fn(account) == 50.0  # nothing known: neutral
    survey = seeded(Touchpoint.CASE_CLOSED)
    answered(survey, account=account, source="test:a", rater=5, csat=5)
    assert rule.fn(account) == 100.0
    old = answered(survey, account=account, source="test:b", rater=1, csat=1)
    # Two responses: every average is 3 → 50 points.
    assert rule.fn(account) == pytest.approx(50.0)
    Response.objects.filter(pk=old.pk).update(submitted_at=timezone.now() - dt.timedelta(days=400))
    assert rule.fn(account) == 100.0  # older than 12 months: left out
    answered(survey, account=account, source="test:c", rater=3, csat=4)
    # averages: csat (5+4)/2 = 4.5, each dimension (5+3)/2 = 4 → mean 24.5/6 → (24.5/6 − 1)/4 × 100
    assert rule.fn(account) == pytest.approx((24.5 / 6 - 1) / 4 * 100)


def test_the_bulk_rerating_reads_the_rule_through_its_prefetch(org, account_factory):
    happy, _c1 = customer(account_factory, org.salesperson)
    quiet = account_factory(org.salesperson)
    answered(seeded(Touchpoint.CASE_CLOSED), account=happy, rater=5, csat=5)
    factor = RatingFactor.objects.get(key="satisfaction")
    assert (factor.method, factor.rule, factor.active) == ("rule", "satisfaction", False)  # seeded, off
    RatingFactor.objects.exclude(pk=factor.pk).update(active=False)
    RatingFactor.objects.filter(pk=factor.pk).update(active=True)
    classification.rerate_all(actor=org.gm)
    scores = dict(AccountRating.objects.filter(account__in=[happy, quiet]).values_list("account_id", "score"))
    assert scores == {happy.pk: Decimal("100.00"), quiet.pk: Decimal("50.00")}


# --- Scope ---------------------------------------------------------------------------------------
def test_a_salesperson_sees_the_answers_of_their_customers_and_an_outsider_none(org, account_factory):
    account, contact = customer(account_factory, org.salesperson)
    mine = answered(seeded(Touchpoint.CASE_CLOSED), account=account, contact=contact, owner=org.service)
    other_account = account_factory(org.outsider)
    theirs = answered(seeded(Touchpoint.CASE_CLOSED), account=other_account, owner=org.outsider, source="test:o")
    unmatched = answered(seeded(Touchpoint.CASE_CLOSED), owner=org.service2, source="test:u")
    assert set(response_scope(org.salesperson)) == {mine}
    assert set(response_scope(org.outsider)) == {theirs}
    assert set(response_scope(org.teammate)) == set()
    assert set(response_scope(org.service)) == {mine}  # their own work
    assert set(response_scope(org.service_lead)) == {mine, unmatched}  # their team's
    assert set(response_scope(org.service_manager)) == {mine, unmatched}  # their department's
    assert set(response_scope(org.gm)) == {mine, theirs, unmatched}
    assert set(invitation_scope(org.salesperson)) == {mine.invitation}
    assert not response_scope(org.admin).exists()  # no survey.view
    assert Invitation.objects.count() == 3
