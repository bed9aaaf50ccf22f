"""The survey pages: staff pages under /surveys/ (rights, the question editor's explanation once answered,
activation, sending by hand with the link shown once, lists and filters, a comment escaped where shown,
the account tab) and the customer's page /survey/<token>/ (no login, Chinese by default, English by the
browser, big buttons without JavaScript, thank-you, 404, 410, rate limit)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.utils import timezone

from guanxi.loyalty.models import Invitation, Question, Response, Survey, Touchpoint
from guanxi.loyalty.services import surveys
from guanxi.loyalty.tests.helpers import answered, customer, full_answers, seeded, sent

pytestmark = pytest.mark.django_db
XSS = '<script>alert("x")</script>'


@pytest.fixture(autouse=True)
def _fresh_rate_limit():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _staff_read_english(request):
    """The staff pages are asserted in English (each user's own language); the customer's page
    picks Chinese or English from the browser and is tested in both."""
    if "org" in request.fixturenames:
        from guanxi.core.models import User

        request.getfixturevalue("org")
        User.objects.update(language="en")


# --- Staff pages -------------------------------------------------------------------------------
def test_survey_pages_need_the_rights(org, login):
    survey = seeded(Touchpoint.CASE_CLOSED)
    assert login(org.salesperson).get("/surveys/").status_code == 200
    assert login(org.salesperson).get(f"/surveys/{survey.pk}/").status_code == 200
    assert login(org.salesperson).get("/surveys/new/").status_code == 403
    assert login(org.admin).get("/surveys/").status_code == 403  # no survey.view
    assert login(org.service).post(f"/surveys/{survey.pk}/delete/").status_code == 403
    assert login(org.salesperson).get("/surveys/send/").status_code == 403
    assert login(org.marketing).get(f"/surveys/{survey.pk}/questions/").status_code == 200
    assert login(org.marketing).get("/surveys/999999/").status_code == 404
    assert Survey.objects.filter(pk=survey.pk).exists()


def test_a_survey_is_created_given_questions_and_activated_from_the_pages(org, login):
    client = login(org.marketing)
    created = client.post("/surveys/new/", {"name": "展会回访", "touchpoint": "manual", "expires_days": "7",
                                            "intro": "", "thanks": ""})
    survey = Survey.objects.get(name="展会回访")
    assert created.status_code == 302 and created["Location"] == f"/surveys/{survey.pk}/questions/"
    bad = client.post(created["Location"], {"type": "rater", "text": "没有维度", "required": "on"})
    assert bad.status_code == 422 and "Choose the RATER dimension" in bad.content.decode()
    client.post(created["Location"], {"type": "rater", "dimension": "tangibles", "text": "展台整洁", "required": "on"})
    client.post(created["Location"], {"type": "csat", "text": "总体满意度", "required": "on"})
    assert list(survey.questions.order_by("position").values_list("text", flat=True)) == ["展台整洁", "总体满意度"]
    last = survey.questions.get(text="总体满意度")
    client.post(f"/surveys/questions/{last.pk}/move/", {"direction": "up"})
    assert survey.questions.order_by("position").first() == last
    page = client.get(f"/surveys/{survey.pk}/")
    assert 'data-testid="survey-activate"' in page.content.decode()
    client.post(f"/surveys/{survey.pk}/state/", {"action": "activate", "version": survey.version})
    survey.refresh_from_db()
    assert survey.active


def test_the_question_editor_explains_why_an_answered_survey_is_fixed(org, login):
    survey = seeded(Touchpoint.CASE_CLOSED)
    answered(survey)
    page = login(org.gm).get(f"/surveys/{survey.pk}/questions/").content.decode()
    assert 'data-testid="questions-fixed"' in page and "Copy it as a new version" in page
    assert 'data-testid="question-form"' not in page
    question = survey.questions.first()
    refused = login(org.gm).post(f"/surveys/questions/{question.pk}/delete/", follow=True)
    assert "its questions are fixed" in refused.content.decode()
    assert survey.questions.count() == 8
    copied = login(org.gm).post(f"/surveys/{survey.pk}/copy/")
    copy = Survey.objects.exclude(pk=survey.pk).get(touchpoint=Touchpoint.CASE_CLOSED)
    assert copied["Location"] == f"/surveys/{copy.pk}/questions/"
    detail = login(org.gm).get(f"/surveys/{copy.pk}/").content.decode()
    assert "Activate in place of" in detail and 'data-testid="survey-other-active"' in detail
    login(org.gm).post(f"/surveys/{copy.pk}/state/", {"action": "activate", "replace": "1"})
    assert Survey.objects.get(touchpoint=Touchpoint.CASE_CLOSED, active=True) == copy


def test_activating_a_second_survey_without_replacing_shows_the_message(org, login):
    draft = surveys.survey_create(actor=org.gm, name="新结案问卷", touchpoint=Touchpoint.CASE_CLOSED,
                                  questions=[{"type": "csat", "text": "满意？"}])
    page = login(org.gm).post(f"/surveys/{draft.pk}/state/", {"action": "activate"}, follow=True)
    assert "is already active for" in page.content.decode()
    draft.refresh_from_db()
    assert not draft.active


def test_sending_by_hand_from_an_account_shows_the_link_once_with_its_qr_code(org, login, account_factory):
    account, contact = customer(account_factory, org.service)
    survey = surveys.survey_create(actor=org.gm, name="季度回访", active=True,
                                   questions=[{"type": "csat", "text": "满意？"}])
    client = login(org.service)
    form = client.get(f"/surveys/send/?account={account.pk}")
    assert form.status_code == 200 and "李雷" in form.content.decode()
    nonce = re.search(r'name="nonce" value="([0-9a-f]+)"', form.content.decode()).group(1)
    data = {"survey": survey.pk, "account": account.pk, "contact": contact.pk, "nonce": nonce, "email": "",
            "phone": "", "recipient_name": ""}
    sent_page = client.post("/surveys/send/", data, follow=True)
    invitation = Invitation.objects.get(survey=survey)
    assert sent_page.redirect_chain[-1][0] == f"/surveys/invitations/{invitation.pk}/"
    body = sent_page.content.decode()
    link = re.search(r'value="(https?://[^"]+/survey/[^"]+/)" data-testid="invitation-link"', body)
    assert link is not None and invitation.token_hash not in link.group(1)
    assert 'data-testid="invitation-qr"' in body and "data:image/svg+xml" in body
    assert (invitation.email, invitation.contact) == (contact.email, contact)
    again = client.get(f"/surveys/invitations/{invitation.pk}/").content.decode()
    assert 'data-testid="invitation-link"' not in again  # shown once
    twice = client.post("/surveys/send/", data, follow=True)  # the same form sent again
    assert Invitation.objects.filter(survey=survey).count() == 1 and "already sent" in twice.content.decode()
    renewed = client.post(f"/surveys/invitations/{invitation.pk}/link/", follow=True).content.decode()
    assert 'data-testid="invitation-link"' in renewed


def test_the_lists_filter_by_touchpoint_status_and_period(org, login, account_factory):
    account, contact = customer(account_factory, org.salesperson)
    survey = seeded(Touchpoint.CASE_CLOSED)
    done = answered(survey, account=account, contact=contact, owner=org.salesperson, source="service.case:1")
    waiting, _raw = sent(survey, account=account, owner=org.salesperson, source="service.case:2")
    old, _raw = sent(seeded(Touchpoint.ORDER_DELIVERED), account=account, owner=org.salesperson,
                     source="sales.order:3", touchpoint=Touchpoint.ORDER_DELIVERED)
    Invitation.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=40),
                                                expires_at=timezone.now() - dt.timedelta(days=26))
    client = login(org.salesperson)

    def rows(url):
        return client.get(url).content.decode().count('data-testid="invitation-row"')

    assert rows("/surveys/invitations/") == 3
    assert rows("/surveys/invitations/?status=answered") == 1
    assert rows("/surveys/invitations/?status=pending") == 1
    assert rows("/surveys/invitations/?status=expired") == 1
    assert rows("/surveys/invitations/?touchpoint=order_delivered") == 1
    since = (timezone.localdate() - dt.timedelta(days=7)).isoformat()
    assert rows(f"/surveys/invitations/?date_from={since}") == 2
    assert login(org.outsider).get("/surveys/invitations/").content.decode().count("invitation-row") == 0
    responses = client.get("/surveys/responses/?touchpoint=case_closed").content.decode()
    assert responses.count('data-testid="response-row"') == 1 and "NPS 9, CSAT 5" in responses
    assert client.get(f"/surveys/responses/{done.pk}/").status_code == 200
    assert login(org.outsider).get(f"/surveys/responses/{done.pk}/").status_code == 404
    assert waiting.pk and client.get(f"/surveys/invitations/{waiting.pk}/").status_code == 200


def test_a_comment_with_markup_is_escaped_where_it_is_shown(org, login, account_factory):
    account, contact = customer(account_factory, org.salesperson)
    response = answered(seeded(Touchpoint.CASE_CLOSED), account=account, contact=contact, owner=org.salesperson,
                        text=XSS)
    client = login(org.salesperson)
    for url in (f"/surveys/responses/{response.pk}/", "/surveys/responses/", f"/surveys/accounts/{account.pk}/",
                f"/accounts/{account.pk}/"):
        page = client.get(url).content.decode()
        assert XSS not in page, url
    assert "&lt;script&gt;" in client.get(f"/surveys/responses/{response.pk}/").content.decode()


def test_the_account_page_has_a_satisfaction_tab_loaded_when_opened(org, login, account_factory):
    account, contact = customer(account_factory, org.salesperson)
    answered(seeded(Touchpoint.CASE_CLOSED), account=account, contact=contact, owner=org.salesperson)
    page = login(org.salesperson).get(f"/accounts/{account.pk}/").content.decode()
    assert 'data-testid="surveys-tab"' in page and f"/surveys/accounts/{account.pk}/" in page
    panel = login(org.salesperson).get(f"/surveys/accounts/{account.pk}/").content.decode()
    assert panel.count('data-testid="account-response"') == 1 and "account-survey-send" not in panel
    assert 'data-testid="account-survey-send"' in login(org.gm).get(f"/surveys/accounts/{account.pk}/").content.decode()
    assert login(org.outsider).get(f"/surveys/accounts/{account.pk}/").status_code == 404


# --- The customer's page -----------------------------------------------------------------------
def test_the_public_page_is_chinese_by_default_and_needs_no_login(client):
    survey = seeded(Touchpoint.CASE_CLOSED)
    _invitation, raw = sent(survey)
    page = client.get(f"/survey/{raw}/")
    body = page.content.decode()
    assert page.status_code == 200 and '<html lang="zh-hans">' in body
    assert "您向朋友或同事推荐我们的可能性有多大？" in body
    assert page["Referrer-Policy"] == "same-origin" and "no-store" in page["Cache-Control"]
    # 0–10 and 1–5 as buttons that work without JavaScript: radio inputs, no script on the page.
    nps = Question.objects.get(survey=survey, type="nps")
    assert body.count(f'name="q{nps.pk}"') == 11 and 'type="radio" class="btn-check"' in body
    assert "<script" not in body


def test_the_public_page_follows_the_browsers_language(client):
    _invitation, raw = sent(seeded(Touchpoint.CASE_CLOSED))
    page = client.get(f"/survey/{raw}/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert '<html lang="en">' in page.content.decode() and "Send my answers" in page.content.decode()
    chinese = client.get(f"/survey/{raw}/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    assert '<html lang="zh-hans">' in chinese.content.decode()


def test_answering_from_the_page_thanks_the_customer_and_works_once(client, org, account_factory):
    account, contact = customer(account_factory, org.salesperson)
    survey = seeded(Touchpoint.CASE_CLOSED)
    invitation, raw = sent(survey, account=account, contact=contact, owner=org.salesperson)
    client.get(f"/survey/{raw}/")
    posted = client.post(f"/survey/{raw}/", full_answers(survey, text=XSS))
    assert posted.status_code == 302 and posted["Location"] == f"/survey/{raw}/"
    thanks = client.get(posted["Location"])
    assert thanks.status_code == 200 and survey.thanks in thanks.content.decode()
    response = Response.objects.get(invitation=invitation)
    assert (response.nps, response.csat, response.comment) == (9, 5, XSS)
    again = client.post(f"/survey/{raw}/", full_answers(survey))
    assert again.status_code == 200 and 'data-testid="survey-thanks"' in again.content.decode()
    assert Response.objects.count() == 1


def test_a_wrong_answer_shows_the_page_again_with_the_messages(client):
    survey = seeded(Touchpoint.CASE_CLOSED)
    _invitation, raw = sent(survey)
    answers = full_answers(survey)
    csat = Question.objects.get(survey=survey, type="csat")
    answers[f"q{csat.pk}"] = "9"
    page = client.post(f"/survey/{raw}/", answers, HTTP_ACCEPT_LANGUAGE="en")
    body = page.content.decode()
    assert page.status_code == 422 and f'data-testid="error-q{csat.pk}"' in body
    assert "Choose a score from 1 to 5." in body
    nps = Question.objects.get(survey=survey, type="nps")
    assert f'id="q{nps.pk}-9" value="9" autocomplete="off" checked' in body  # the other choices are kept
    assert not Response.objects.exists()


def test_unknown_links_are_404_and_expired_ones_410(client):
    assert client.get("/survey/no-such-token/").status_code == 404
    invitation, raw = sent(seeded(Touchpoint.CASE_CLOSED))
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    gone = client.get(f"/survey/{raw}/", HTTP_ACCEPT_LANGUAGE="en")
    assert gone.status_code == 410 and "expired" in gone.content.decode()
    assert client.post(f"/survey/{raw}/", {}).status_code == 410


def test_a_link_of_an_account_in_the_recycle_bin_is_404(client, org, account_factory):
    account, contact = customer(account_factory, org.salesperson)
    _invitation, raw = sent(seeded(Touchpoint.CASE_CLOSED), account=account, contact=contact)
    assert client.get(f"/survey/{raw}/").status_code == 200
    type(account).all_objects.filter(pk=account.pk).update(deleted_at=timezone.now())
    assert client.get(f"/survey/{raw}/").status_code == 404
    assert client.post(f"/survey/{raw}/", full_answers(seeded(Touchpoint.CASE_CLOSED))).status_code == 404
    assert not Response.objects.exists()


def test_the_public_page_is_rate_limited_per_address(client, settings):
    settings.GUANXI_SURVEY_RATE = "3/10m"
    _invitation, raw = sent(seeded(Touchpoint.CASE_CLOSED))
    assert [client.get(f"/survey/{raw}/").status_code for _ in range(3)] == [200, 200, 200]
    assert client.get(f"/survey/{raw}/").status_code == 429
    assert client.get(f"/survey/{raw}/", REMOTE_ADDR="10.1.2.3").status_code == 200
