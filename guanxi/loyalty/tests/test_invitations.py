"""Invitations: the touchpoints (a case closed through B's workflow, a visit reported through D's service,
an order delivered through the sales service) each invite once and mail once; one invitation per survey
and source; tokens stored only as SHA-256, expiring, reissued; sending by hand."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from guanxi.core.errors import Forbidden, Invalid, NotFound
from guanxi.core.mail import deliver_pending
from guanxi.loyalty.models import Invitation, Touchpoint
from guanxi.loyalty.services import invitations, responses, surveys
from guanxi.loyalty.tests.helpers import closed_case, customer, delivered_order, done_visit, full_answers, seeded, sent

pytestmark = pytest.mark.django_db


def test_the_migration_seeds_one_active_chinese_survey_per_automatic_touchpoint():
    for touchpoint in (Touchpoint.CASE_CLOSED, Touchpoint.VISIT_DONE, Touchpoint.ORDER_DELIVERED):
        survey = seeded(touchpoint)
        questions = list(survey.questions.order_by("position"))
        assert [q.type for q in questions] == ["rater"] * 5 + ["nps", "csat", "text"]
        assert [q.dimension for q in questions[:5]] == ["reliability", "assurance", "tangibles", "empathy",
                                                       "responsiveness"]
        assert questions[5].text == "您向朋友或同事推荐我们的可能性有多大？"
        assert not questions[7].required and all(q.required for q in questions[:7])
    assert seeded(Touchpoint.VISIT_DONE).questions.first().text != seeded(Touchpoint.CASE_CLOSED).questions.first().text


def test_closing_a_case_invites_its_contact_once_and_mails_once(org, account_factory, run_queue,
                                                                 django_capture_on_commit_callbacks):
    account, contact = customer(account_factory, org.salesperson)
    with django_capture_on_commit_callbacks(execute=True):
        case = closed_case(org.salesperson, account, contact)
    invitation = Invitation.objects.get(source=f"service.case:{case.pk}")
    assert (invitation.survey, invitation.touchpoint) == (seeded(Touchpoint.CASE_CLOSED), Touchpoint.CASE_CLOSED)
    assert (invitation.account, invitation.contact, invitation.email) == (account, contact, "li.lei@example.cn")
    assert (invitation.owner, invitation.department_id) == (org.salesperson, org.salesperson.department_id)
    assert invitation.recipient_name == "李雷" and invitation.phone == "13800138000"
    assert case.survey_link.endswith("/") and "/survey/" in case.survey_link  # for the closing page, shown once
    assert invitation.expires_at - invitation.created_at == dt.timedelta(days=14)
    mail.outbox.clear()
    assert run_queue() >= 1
    assert deliver_pending() == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["li.lei@example.cn"] and case.survey_link in message.body
    invitation.refresh_from_db()
    assert invitation.mailed_at is not None
    assert run_queue() == 0 and deliver_pending() == 0 and len(mail.outbox) == 1


def test_a_case_closed_twice_is_surveyed_once(org, account_factory, django_capture_on_commit_callbacks):
    from guanxi.service import signals

    account, contact = customer(account_factory, org.salesperson)
    case = closed_case(org.salesperson, account, contact)
    with django_capture_on_commit_callbacks() as callbacks:
        signals.case_closed.send(sender=type(case), case=case, actor=org.salesperson)
    assert Invitation.objects.filter(source=f"service.case:{case.pk}").count() == 1
    assert case.survey_link == "" and not callbacks  # no new token, no second mail


def test_a_sender_who_wanted_no_reply_is_not_surveyed(org, account_factory):
    case = closed_case(org.salesperson, sender_email="x@example.cn", wants_reply=False)
    assert not Invitation.objects.filter(source=f"service.case:{case.pk}").exists()


def test_an_unmatched_sender_is_invited_by_the_address_given(org):
    case = closed_case(org.service, sender_email="han@example.cn", sender_phone="13900139000")
    invitation = Invitation.objects.get(source=f"service.case:{case.pk}")
    assert (invitation.account, invitation.contact, invitation.email) == (None, None, "han@example.cn")
    assert (invitation.recipient_name, invitation.owner) == ("韩梅梅", org.service)


def test_no_active_survey_means_no_invitation(org, account_factory):
    survey = seeded(Touchpoint.CASE_CLOSED)
    surveys.survey_set_active(actor=org.gm, survey=survey, active=False)
    account, contact = customer(account_factory, org.salesperson)
    case = closed_case(org.salesperson, account, contact)
    assert not Invitation.objects.filter(source=f"service.case:{case.pk}").exists()


def test_delivering_an_order_invites_its_contact_and_mails_once(org, account_factory, run_queue,
                                                                 django_capture_on_commit_callbacks):
    account, contact = customer(account_factory, org.salesperson, email="buyer@example.cn")
    with django_capture_on_commit_callbacks(execute=True):
        order = delivered_order(org.salesperson, account, contact)
    invitation = Invitation.objects.get(source=f"sales.order:{order.pk}")
    assert (invitation.survey, invitation.touchpoint) == (seeded(Touchpoint.ORDER_DELIVERED), "order_delivered")
    assert (invitation.owner, invitation.account, invitation.email) == (org.salesperson, account, "buyer@example.cn")
    mail.outbox.clear()
    run_queue()
    deliver_pending()
    assert [m.to for m in mail.outbox] == [["buyer@example.cn"]]
    assert Invitation.objects.filter(touchpoint=Touchpoint.ORDER_DELIVERED).count() == 1


def test_an_order_without_a_contact_goes_to_the_accounts_address(org, account_factory):
    account = account_factory(org.salesperson, email="office@example.cn")
    order = delivered_order(org.salesperson, account)
    invitation = Invitation.objects.get(source=f"sales.order:{order.pk}")
    assert (invitation.email, invitation.recipient_name) == ("office@example.cn", account.name)


def test_a_visit_reported_done_invites_the_customer_with_the_technician_responsible(
        org, run_queue, django_capture_on_commit_callbacks):
    from guanxi.service.services import intake

    case = intake.case_receive(actor=org.service, kind="ticket", ticket_type="repair", title="空压机维修",
                               description="需要上门维修。", channel="hotline", sender_name="韩梅梅",
                               sender_email="han@example.cn", sender_phone="13900139000")
    with django_capture_on_commit_callbacks(execute=True):
        visit = done_visit(org.service, org.service2, case)
    invitation = Invitation.objects.get(source=f"service.visit:{visit.pk}")
    assert (invitation.touchpoint, invitation.owner, invitation.department_id) == (
        Touchpoint.VISIT_DONE, org.service2, org.service2.department_id)
    assert (invitation.email, invitation.recipient_name) == ("han@example.cn", "韩梅梅")
    assert visit.survey_link and "/survey/" in visit.survey_link
    mail.outbox.clear()
    run_queue()
    deliver_pending()
    assert len([m for m in mail.outbox if "/survey/" in m.body]) == 1


def test_a_survey_problem_never_stops_the_touchpoint(org, account_factory):
    account, _contact = customer(account_factory, org.salesperson, email="")
    account.name = "名" * 150  # longer than a recipient's name may be: cut, not refused
    account.save(update_fields=["name"])
    order = delivered_order(org.salesperson, account)
    assert order.state == "delivered"
    assert len(Invitation.objects.get(source=f"sales.order:{order.pk}").recipient_name) == 100


# --- Tokens ------------------------------------------------------------------------------------
def test_only_the_tokens_hash_is_stored_and_a_second_invite_returns_the_first(org, account_factory):
    survey = seeded(Touchpoint.CASE_CLOSED)
    invitation, raw = sent(survey, source="service.case:99")
    assert len(raw) >= 40 and raw not in invitation.token_hash
    assert invitation.token_hash == invitations.hash_token(raw)
    again, raw_again = sent(survey, source="service.case:99")
    assert (again.pk, raw_again) == (invitation.pk, "")
    other, raw_other = sent(survey, source="service.case:100")
    assert other.pk != invitation.pk and raw_other != raw


def test_an_expired_token_is_gone_and_an_answered_one_works_once(org):
    survey = seeded(Touchpoint.CASE_CLOSED)
    invitation, raw = sent(survey)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(responses.Gone) as gone:
        responses.answer(token=raw, answers=full_answers(survey), comment="")
    assert gone.value.code == "expired" and gone.value.status == 410
    _fresh, raw2 = sent(survey, source="test:2")
    responses.answer(token=raw2, answers=full_answers(survey), comment="")
    with pytest.raises(responses.Gone) as again:
        responses.answer(token=raw2, answers=full_answers(survey), comment="")
    assert again.value.code == "answered"
    with pytest.raises(NotFound):
        responses.answer(token="not-a-token", answers={}, comment="")
    with pytest.raises(NotFound):
        responses.invitation_for_token("x" * 500)


def test_a_deleted_surveys_links_are_withdrawn(org):
    survey = seeded(Touchpoint.CASE_CLOSED)
    _invitation, raw = sent(survey)
    surveys.survey_delete(actor=org.gm, survey=survey)
    with pytest.raises(responses.Gone) as gone:
        responses.invitation_for_token(raw)
    assert gone.value.code == "withdrawn"


def test_a_new_link_replaces_the_old_one(org, account_factory, run_queue, django_capture_on_commit_callbacks):
    account, contact = customer(account_factory, org.salesperson)
    invitation, raw = sent(seeded(Touchpoint.CASE_CLOSED), account=account, contact=contact, owner=org.salesperson,
                           email=contact.email)
    with django_capture_on_commit_callbacks(execute=True):
        new = invitations.invitation_renew(actor=org.service, invitation=invitation, mail=True)
    mail.outbox.clear()
    run_queue()  # the first mail's token was replaced: only the new link goes out
    deliver_pending()
    assert len(mail.outbox) == 1 and new in mail.outbox[0].body and raw not in mail.outbox[0].body
    with pytest.raises(NotFound):
        responses.invitation_for_token(raw)
    assert responses.invitation_for_token(new).pk == invitation.pk
    with pytest.raises(Forbidden):
        invitations.invitation_renew(actor=org.marketing, invitation=invitation)


# --- By hand -----------------------------------------------------------------------------------
def manual_survey(actor):
    return surveys.survey_create(actor=actor, name="年度满意度回访", active=True, questions=[
        {"type": "csat", "text": "总体满意度？"}, {"type": "text", "text": "建议", "required": False}])


def test_sending_by_hand_needs_the_right_and_a_visible_account(org, account_factory):
    survey = manual_survey(org.gm)
    account, contact = customer(account_factory, org.salesperson)
    with pytest.raises(Forbidden):
        invitations.invitation_send(actor=org.salesperson, survey=survey, account=account, contact=contact)
    with pytest.raises(NotFound):
        invitations.invitation_send(actor=org.service, survey=survey, account=account, contact=contact)
    invitation, raw = invitations.invitation_send(actor=org.gm, survey=survey, account=account, contact=contact)
    assert raw and invitation.touchpoint == Touchpoint.MANUAL and invitation.source.startswith("manual:")
    assert (invitation.owner, invitation.sent_by, invitation.email) == (org.gm, org.gm, contact.email)
    again, second = invitations.invitation_send(actor=org.gm, survey=survey, account=account, contact=contact)
    assert again.pk != invitation.pk and second  # each send by hand is a new invitation …
    same, none = invitations.invitation_send(actor=org.gm, survey=survey, account=account, source=invitation.source)
    assert (same.pk, none) == (invitation.pk, "")  # … unless it is the same form sent twice


def test_sending_by_hand_validates_everything_and_writes_nothing(org):
    survey = manual_survey(org.gm)
    with pytest.raises(Invalid) as exc:
        invitations.invitation_send(actor=org.gm, survey=survey, email="not-an-address", phone="1" * 50)
    assert set(exc.value.errors) == {"email", "phone"}
    surveys.survey_set_active(actor=org.gm, survey=survey, active=False)
    with pytest.raises(Invalid) as inactive:
        invitations.invitation_send(actor=org.gm, survey=survey, email="a@example.cn")
    assert "survey" in inactive.value.errors
    assert not Invitation.objects.filter(survey=survey).exists()


def test_sending_by_hand_from_a_case_asks_its_sender_once(org, account_factory):
    from guanxi.service.services import intake

    survey = manual_survey(org.gm)
    case = intake.case_receive(actor=org.service, kind="suggestion", title="希望增加夜间热线", description="晚上打不通。",
                               channel="hotline", sender_name="王先生", sender_email="wang@example.cn")
    invitation, raw = invitations.invitation_send(actor=org.service, survey=survey, case=case)
    assert raw and invitation.source == f"service.case:{case.pk}"
    assert (invitation.email, invitation.recipient_name) == ("wang@example.cn", "王先生")
    again, none = invitations.invitation_send(actor=org.service, survey=survey, case=case)
    assert (again.pk, none) == (invitation.pk, "")
