"""The case workflow (R5.2, R5.3): moves and their refusals, the reply and its review, the
customer's confirmation link, closing and ``case_closed``, edits, matching, the recycle bin."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.mail import deliver_pending
from guanxi.core.models import AuditEvent, Notification, User
from guanxi.core.services import records
from guanxi.service import signals
from guanxi.service.models import Case, CaseEvent, HandlingStep
from guanxi.service.services import cases as services
from guanxi.service.tests.cases_support import S, advance, category, fresh, make_case

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(org):
    """Notifications go out in each person's language: English here, to assert them."""
    User.objects.update(language="en")


def events(case: Case) -> list[tuple[str, str]]:
    return list(CaseEvent.objects.filter(case=case).order_by("at", "id").values_list("type", "to_state"))


def audit_count(case: Case) -> int:
    return AuditEvent.objects.filter(object_id=str(case.pk), content_type__model="case").count()


# --- Moves ---------------------------------------------------------------------------------
def test_the_owner_walks_a_case_from_new_to_resolved(org):
    case = make_case(org.service)
    before = audit_count(case)
    services.case_move(actor=org.service, case=case, to=S.ACKNOWLEDGED)
    assert case.first_responded_at is not None and fresh(case).first_responded_at == case.first_responded_at
    services.case_move(actor=org.service, case=case, to=S.INVESTIGATING, note="联系了安装师傅")
    services.reply_set(actor=org.service, case=case, proposal="更换排水管", reply="明天上门维修。", expected_version=case.version)
    services.case_move(actor=org.service, case=case, to=S.PROPOSED)
    services.case_move(actor=org.service, case=case, to=S.RESOLVED, note="已更换排水管")
    row = fresh(case)
    assert row.state == S.RESOLVED and row.resolved_at is not None and row.resolution == "已更换排水管"
    assert len(row.confirm_token_hash) == 64 and case.confirm_link.startswith("http")
    assert [t for t, _ in events(case)] == ["received", "state", "state", "reply", "state", "state"]
    assert audit_count(case) == before + 5


def test_acknowledging_again_keeps_the_first_response_time(org):
    case = make_case(org.service)
    services.case_move(actor=org.service, case=case, to=S.ACKNOWLEDGED)
    first = case.first_responded_at
    services.case_move(actor=org.service, case=case, to=S.INVESTIGATING)
    assert fresh(case).first_responded_at == first


def test_only_the_owner_moves_a_case_and_nothing_changes(org, account_factory):
    account = account_factory(org.salesperson)
    case = make_case(org.service, account=account)
    version, count = case.version, audit_count(case)
    for actor in (org.salesperson, org.service2, org.service_manager):
        with pytest.raises(Forbidden) as refused:
            services.case_move(actor=actor, case=fresh(case), to=S.ACKNOWLEDGED)
        assert "Only the owner (赵静)" in refused.value.message and "hand-over" in refused.value.message
    row = fresh(case)
    assert (row.state, row.version, audit_count(case)) == (S.NEW, version, count)
    with pytest.raises(Forbidden):
        services.step_add(actor=org.salesperson, case=case, step="listen", note="x")
    with pytest.raises(Forbidden):
        services.reply_set(actor=org.service2, case=case, proposal="", reply="x", expected_version=None)
    with pytest.raises(Forbidden):
        services.case_update(actor=org.service2, case=case, changes={"title": "x"}, expected_version=None)
    with pytest.raises(Forbidden):  # marketing may not handle cases at all
        services.case_move(actor=org.marketing, case=case, to=S.ACKNOWLEDGED)


def test_wrong_state_and_unknown_state_are_refused(org):
    case = make_case(org.service)
    with pytest.raises(Invalid) as wrong:
        services.case_move(actor=org.service, case=case, to=S.RESOLVED)
    assert "new" in wrong.value.message and "resolved" in wrong.value.message
    with pytest.raises(Invalid) as unknown:
        services.case_move(actor=org.service, case=case, to="archived")
    assert "state" in unknown.value.errors
    with pytest.raises(Invalid):
        services.case_move(actor=org.service, case=case, to=S.CLOSED)
    assert fresh(case).state == S.NEW


def test_proposing_needs_a_proposal_and_resolving_a_reply(org):
    case = advance(make_case(org.service), org.service, S.INVESTIGATING)
    with pytest.raises(Invalid) as missing:
        services.case_move(actor=org.service, case=case, to=S.PROPOSED)
    assert "proposal" in missing.value.errors
    with pytest.raises(Invalid) as no_reply:
        services.reply_set(actor=org.service, case=case, proposal="更换", reply="  ", expected_version=None)
    assert no_reply.value.errors == {"reply": ["Write the reply to the customer."]}
    Case.objects.filter(pk=case.pk).update(proposal="更换")
    case = fresh(case)
    services.case_move(actor=org.service, case=case, to=S.PROPOSED)
    with pytest.raises(Invalid) as unresolved:
        services.case_move(actor=org.service, case=case, to=S.RESOLVED)
    assert unresolved.value.errors["reply"] == ["Write the reply to the customer first."]
    assert fresh(case).state == S.PROPOSED


def test_a_stale_version_is_a_conflict(org):
    case = make_case(org.service)
    stale = fresh(case)
    services.case_move(actor=org.service, case=case, to=S.ACKNOWLEDGED)
    with pytest.raises(Conflict):
        services.case_move(actor=org.service, case=stale, to=S.INVESTIGATING)
    with pytest.raises(Conflict):
        services.case_move(actor=org.service, case=fresh(case), to=S.INVESTIGATING, expected_version=1)


# --- Reply and review ---------------------------------------------------------------------
def test_a_reviewed_category_needs_an_approved_reply(org):
    quality = category("产品质量", needs_review=True)
    case = advance(make_case(org.service, category=quality), org.service, S.INVESTIGATING)
    services.reply_set(actor=org.service, case=case, proposal="退货", reply="我们为您办理退货。", expected_version=None)
    assert case.review_state == Case.Review.PENDING
    told = Notification.objects.filter(user=org.service_manager)
    assert told.count() == 1 and case.code in told.get().title
    services.case_move(actor=org.service, case=case, to=S.PROPOSED)
    with pytest.raises(Invalid) as pending:
        services.case_move(actor=org.service, case=case, to=S.RESOLVED)
    assert pending.value.errors["reply"] == ["The reply is waiting for a supervisor's review."]

    # Returned with a note, back to the owner; resolving is still refused.
    with pytest.raises(Invalid) as no_note:
        services.reply_review(actor=org.service_manager, case=fresh(case), approve=False, note="")
    assert "note" in no_note.value.errors
    services.reply_review(actor=org.service_manager, case=fresh(case), approve=False, note="语气要更诚恳")
    row = fresh(case)
    assert (row.review_state, row.review_note, row.reviewed_by_id) == ("returned", "语气要更诚恳", org.service_manager.pk)
    assert Notification.objects.filter(user=org.service, title__contains="returned").exists()
    with pytest.raises(Invalid) as returned:
        services.case_move(actor=org.service, case=row, to=S.RESOLVED)
    assert "returned" in returned.value.errors["reply"][0]

    # A changed reply is reviewed again, then approved.
    services.reply_set(actor=org.service, case=row, proposal="退货", reply="非常抱歉，我们为您办理退货。",
                       expected_version=row.version)
    assert row.review_state == Case.Review.PENDING
    services.reply_review(actor=org.service_manager, case=fresh(case), approve=True)
    services.case_move(actor=org.service, case=fresh(case), to=S.RESOLVED)
    assert fresh(case).state == S.RESOLVED
    assert [t for t, _ in events(case)].count("review") == 2


def test_nobody_reviews_their_own_reply_or_one_out_of_reach(org, account_factory):
    quality = category("产品质量", needs_review=True)
    own = advance(make_case(org.service_manager, category=quality), org.service_manager, S.INVESTIGATING)
    services.reply_set(actor=org.service_manager, case=own, proposal="", reply="好的", expected_version=None)
    with pytest.raises(Forbidden):
        services.reply_review(actor=org.service_manager, case=own, approve=True)
    with pytest.raises(Forbidden):  # no review right
        services.reply_review(actor=org.service_lead, case=own, approve=True)
    far = make_case(org.outsider, category=quality, account=account_factory(org.outsider))
    advance(far, org.outsider, S.INVESTIGATING)
    services.reply_set(actor=org.outsider, case=far, proposal="", reply="好的", expected_version=None)
    with pytest.raises(NotFound):  # the South's case is not in the service manager's reach
        services.reply_review(actor=org.service_manager, case=far, approve=True)
    services.reply_review(actor=org.gm, case=far, approve=True)
    with pytest.raises(Invalid):  # nothing pending any more
        services.reply_review(actor=org.gm, case=fresh(far), approve=True)


def test_handling_steps_are_recorded_by_the_owner(org):
    case = make_case(org.service)
    row = services.step_add(actor=org.service, case=case, step="apologise", note="电话致歉")
    assert row.actor == org.service and HandlingStep.objects.filter(case=case).count() == 1
    assert ("step", "") in events(case)
    with pytest.raises(Invalid) as bad:
        services.step_add(actor=org.service, case=case, step="shout", note="")
    assert set(bad.value.errors) == {"step", "note"}


# --- The customer's link ------------------------------------------------------------------
def _token(case: Case) -> str:
    return case.confirm_link.rstrip("/").rsplit("/", 1)[-1]


def test_resolving_mails_the_link_to_the_sender(org, django_capture_on_commit_callbacks, run_queue):
    case = advance(make_case(org.service, sender_email="zhang@example.com"), org.service, S.PROPOSED)
    with django_capture_on_commit_callbacks(execute=True):
        services.case_move(actor=org.service, case=case, to=S.RESOLVED)
    assert case.confirm_mailed is True
    run_queue()
    assert deliver_pending() == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["zhang@example.com"] and case.code in message.subject
    assert case.confirm_link in message.body and "明天上门处理" in message.body
    assert CaseEvent.objects.filter(case=case, note__contains="zhang@example.com").exists()


def test_no_mail_without_an_address_or_when_no_reply_is_wanted(org, django_capture_on_commit_callbacks, run_queue):
    silent = advance(make_case(org.service, sender_email="li@example.com", wants_reply=False), org.service, S.PROPOSED)
    phone_only = advance(make_case(org.service), org.service, S.PROPOSED)
    with django_capture_on_commit_callbacks(execute=True):
        services.case_move(actor=org.service, case=silent, to=S.RESOLVED)
        services.case_move(actor=org.service, case=phone_only, to=S.RESOLVED)
    run_queue()
    assert deliver_pending() == 0
    assert mail.outbox == [] and silent.confirm_mailed is False and phone_only.confirm_link


def test_the_customer_confirms_once(org):
    case = advance(make_case(org.service), org.service, S.RESOLVED)
    token = _token(case)
    assert services.case_for_token(token).pk == case.pk
    services.customer_answer(token=token, accepted=True, comment="谢谢")
    row = fresh(case)
    assert row.state == S.CONFIRMED and row.confirmed_at and row.confirm_token_hash == ""
    assert ("customer", "confirmed") in events(case)
    assert Notification.objects.filter(user=org.service, title__contains="confirmed").exists()
    with pytest.raises(NotFound):
        services.customer_answer(token=token, accepted=True)
    with pytest.raises(NotFound):
        services.customer_answer(token="not-a-token", accepted=True)
    with pytest.raises(NotFound):
        services.customer_answer(token="", accepted=True)


def test_the_customer_rejects_with_a_comment_and_the_case_reopens(org):
    case = advance(make_case(org.service), org.service, S.RESOLVED)
    token = _token(case)
    with pytest.raises(Invalid) as silent:
        services.customer_answer(token=token, accepted=False, comment=" ")
    assert "comment" in silent.value.errors and fresh(case).state == S.RESOLVED
    services.customer_answer(token=token, accepted=False, comment="还在漏水")
    row = fresh(case)
    assert (row.state, row.reopen_count, row.resolved_at, row.confirm_token_hash) == (S.INVESTIGATING, 1, None, "")
    assert ("reopened", "investigating") in events(case)
    assert CaseEvent.objects.filter(case=case, type="customer", note__contains="还在漏水").exists()
    with pytest.raises(NotFound):
        services.customer_answer(token=token, accepted=True)


def test_a_new_link_replaces_the_old_one(org):
    case = advance(make_case(org.service), org.service, S.RESOLVED)
    old = _token(case)
    url = services.case_confirm_link(actor=org.service, case=fresh(case))
    with pytest.raises(NotFound):
        services.case_for_token(old)
    assert services.case_for_token(url.rstrip("/").rsplit("/", 1)[-1]).pk == case.pk
    with pytest.raises(Forbidden):
        services.case_confirm_link(actor=org.service2, case=fresh(case))


def test_the_owner_reopens_with_a_reason(org):
    case = advance(make_case(org.service), org.service, S.RESOLVED)
    with pytest.raises(Invalid) as why:
        services.case_move(actor=org.service, case=case, to=S.INVESTIGATING)
    assert "note" in why.value.errors
    services.case_move(actor=org.service, case=case, to=S.INVESTIGATING, note="客户来电说仍有问题")
    row = fresh(case)
    assert row.reopen_count == 1 and row.confirm_token_hash == "" and row.resolved_at is None


# --- Closing ---------------------------------------------------------------------------------
@pytest.fixture
def closed_calls():
    calls = []

    def receiver(sender, case, actor, **kwargs):
        calls.append((case.pk, case.state, getattr(actor, "pk", None)))

    signals.case_closed.connect(receiver, dispatch_uid="test-cases-closed")
    yield calls
    signals.case_closed.disconnect(dispatch_uid="test-cases-closed")


def test_a_confirmed_case_closes_and_says_so(org, closed_calls):
    case = advance(make_case(org.service), org.service, S.RESOLVED)
    services.customer_answer(token=_token(case), accepted=True)
    case = fresh(case)
    services.case_move(actor=org.service, case=case, to=S.CLOSED)
    assert fresh(case).closed_at is not None
    assert closed_calls == [(case.pk, S.CLOSED, org.service.pk)]


def test_closing_without_the_customer_waits_for_the_answer_time(org, closed_calls, settings):
    case = advance(make_case(org.service), org.service, S.RESOLVED)
    with pytest.raises(Invalid) as early:
        services.case_move(actor=org.service, case=case, to=S.CLOSED, note="客户未回复")
    assert "until" in early.value.errors["state"][0]
    with pytest.raises(Invalid) as no_note:
        services.case_move(actor=org.service, case=case, to=S.CLOSED)
    assert "note" in no_note.value.errors
    Case.objects.filter(pk=case.pk).update(resolved_at=timezone.now() - dt.timedelta(days=8))
    case = fresh(case)
    services.case_move(actor=org.service, case=case, to=S.CLOSED, note="客户七天未回复")
    assert fresh(case).state == S.CLOSED and fresh(case).confirm_token_hash == "" and closed_calls
    settings.GUANXI_CASE_CONFIRM_DAYS = 0
    other = advance(make_case(org.service), org.service, S.RESOLVED)
    services.case_move(actor=org.service, case=other, to=S.CLOSED, note="电话确认过")
    assert len(closed_calls) == 2


def test_a_case_without_a_wanted_reply_closes_at_once_with_a_note(org, closed_calls):
    case = advance(make_case(org.service, wants_reply=False), org.service, S.RESOLVED)
    services.case_move(actor=org.service, case=case, to=S.CLOSED, note="客户不需要回复")
    assert fresh(case).state == S.CLOSED


def test_the_owner_records_a_confirmation_by_phone(org):
    case = advance(make_case(org.service), org.service, S.RESOLVED)
    with pytest.raises(Invalid):
        services.case_move(actor=org.service, case=case, to=S.CONFIRMED)
    services.case_move(actor=org.service, case=case, to=S.CONFIRMED, note="电话回访确认")
    assert fresh(case).state == S.CONFIRMED and fresh(case).confirm_token_hash == ""


def test_a_closed_case_does_not_change(org):
    case = advance(make_case(org.service, wants_reply=False), org.service, S.RESOLVED)
    services.case_move(actor=org.service, case=case, to=S.CLOSED, note="完成")
    for call in (lambda: services.case_update(actor=org.service, case=fresh(case), changes={"title": "x"},
                                              expected_version=None),
                 lambda: services.step_add(actor=org.service, case=fresh(case), step="listen", note="x"),
                 lambda: services.case_move(actor=org.service, case=fresh(case), to=S.INVESTIGATING, note="x")):
        with pytest.raises(Invalid):
            call()


# --- Edit and match ------------------------------------------------------------------------
def test_a_new_severity_works_the_due_times_out_again(org):
    case = make_case(org.service, severity="normal")
    due = case.resolution_due
    services.case_update(actor=org.service, case=case, changes={"severity": "critical", "title": "整栋楼停水"},
                         expected_version=case.version)
    row = fresh(case)
    assert row.severity == "critical" and row.resolution_due < due and row.sla_policy.severity == "critical"
    assert "zdlts" in row.search_text  # the subject's pinyin initials
    history = AuditEvent.objects.filter(object_id=str(case.pk), action="update").latest("id")
    assert set(history.changes) >= {"severity", "title", "resolution_due"}


def test_edits_are_validated_all_at_once(org, account_factory):
    suggestion_only = category("产品建议", kind="suggestion")
    case = make_case(org.service)
    with pytest.raises(Invalid) as bad:
        services.case_update(actor=org.service, case=case, expected_version=None, changes={
            "title": "", "severity": "urgent", "category": suggestion_only.pk, "ticket_type": "repair",
            "order": 1})
    assert set(bad.value.errors) == {"title", "severity", "category", "ticket_type", "order"}
    with pytest.raises(Invalid) as unknown:
        services.case_update(actor=org.service, case=case, changes={"owner": org.service2.pk, "code": "X"},
                             expected_version=None)
    assert set(unknown.value.errors) == {"owner", "code"}
    services.case_update(actor=org.service, case=case, changes={"kind": "ticket", "ticket_type": "repair"},
                         expected_version=None)
    services.case_update(actor=org.service, case=case, changes={"kind": "complaint"}, expected_version=None)
    assert fresh(case).ticket_type == ""  # only tickets have a ticket type
    with pytest.raises(Conflict):
        services.case_update(actor=org.service, case=fresh(case), changes={"title": "x"}, expected_version=1)


def test_matching_an_unmatched_case(org, account_factory):
    account = account_factory(org.salesperson, name="华东机械有限公司")
    case = make_case(org.service, sender_company="华东机械")
    with pytest.raises(Forbidden):  # a colleague who is neither the owner nor a manager
        services.case_match(actor=org.service2, case=case, account=account)
    with pytest.raises(Invalid) as hidden:  # the owner does not see the salesperson's account
        services.case_match(actor=org.service, case=case, account=account)
    assert "account" in hidden.value.errors
    services.case_match(actor=org.gm, case=case, account=account)
    assert fresh(case).account_id == account.pk
    # Now the salesperson reads the case of their customer.
    from guanxi.service.selectors.scope import case_scope

    assert case_scope(org.salesperson).filter(pk=case.pk).exists()


# --- Recycle bin ---------------------------------------------------------------------------
def test_delete_and_restore(org):
    case = make_case(org.service)
    with pytest.raises(Forbidden):
        services.case_delete(actor=org.service, case=case)
    services.case_delete(actor=org.service_manager, case=case)
    assert not Case.objects.filter(pk=case.pk).exists()
    from guanxi.core import selectors

    assert any(row["id"] == case.pk for row in selectors.recycle_bin_for(org.service_manager))
    row = Case.all_objects.get(pk=case.pk)
    services.case_restore(actor=org.service_manager, case=row)
    assert Case.objects.filter(pk=case.pk).exists()
    assert [a for a in AuditEvent.objects.filter(object_id=str(case.pk), content_type__model="case")
            .order_by("id").values_list("action", flat=True)][-2:] == ["delete", "restore"]
    records.get_visible(org.service_manager, Case, case.pk)  # history works through the registry
    story = CaseEvent.objects.filter(case=case, type="note").order_by("id")
    with translation.override("zh-hans"):  # the story reads in the company's language
        expected = [(_("Moved to the recycle bin."), org.service_manager.pk),
                    (_("Restored from the recycle bin."), org.service_manager.pk)]
    assert [(e.note, e.actor_id) for e in story] == expected


def test_a_reply_out_of_the_service_managers_reach_goes_to_the_general_manager(org, account_factory):
    quality = category("产品质量", needs_review=True)
    case = advance(make_case(org.outsider, category=quality, account=account_factory(org.outsider)), org.outsider,
                   S.INVESTIGATING)
    services.reply_set(actor=org.outsider, case=case, proposal="", reply="抱歉", expected_version=None)
    assert not Notification.objects.filter(user=org.service_manager).exists()
    assert Notification.objects.filter(user=org.gm, title__contains=case.code).exists()
