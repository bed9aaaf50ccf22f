"""Improvements: create/edit/delete, the state moves, linking suggestions and complaints, and
shipping — every linked case's owner notified, every sender who wanted a reply mailed once."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.mail import deliver_pending
from guanxi.core.models import AuditEvent, Notification, Outbox, User
from guanxi.service.models import Case, CaseEvent, Improvement, ImprovementMail
from guanxi.service.services import improvements
from guanxi.service.tests.visits_helpers import CUSTOMER, receive

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(org: Any) -> None:
    """Notifications go out in each person's language: English here, as the messages asserted."""
    User.objects.update(language="en")


@pytest.fixture
def customer(org: Any, account_factory: Any) -> Any:
    return account_factory(org.salesperson, name=CUSTOMER)


@pytest.fixture
def idea(org: Any) -> Improvement:
    return improvements.improvement_create(actor=org.service_manager, title="注塑机增加油温报警",
                                           description="多位客户建议油温过高时报警。")


def fresh(improvement: Improvement) -> Improvement:
    return Improvement.all_objects.get(pk=improvement.pk)


def suggestion(actor: Any, **fields: Any) -> Case:
    fields.setdefault("title", "希望增加油温报警")
    return receive(actor, kind="suggestion", **fields)


# --- Create, edit, delete ------------------------------------------------------------------------
def test_create_numbers_it_and_needs_the_right(org: Any, idea: Improvement) -> None:
    assert idea.code.startswith("GJ-") and idea.state == "proposed" and idea.owner == org.service_manager
    assert AuditEvent.objects.filter(action="create", object_id=str(idea.pk)).exists()
    with pytest.raises(Forbidden):
        improvements.improvement_create(actor=org.service, title="x")
    with pytest.raises(Invalid) as exc:
        improvements.improvement_create(actor=org.gm, title=" ", owner=org.marketing, product=999999)
    assert set(exc.value.errors) == {"title", "owner", "product"}
    assert Improvement.objects.count() == 1


def test_update_is_versioned_and_tells_a_new_owner(org: Any, idea: Improvement) -> None:
    improvements.improvement_update(actor=org.service_manager, improvement=idea,
                                    changes={"title": "油温报警功能", "owner": org.service.pk}, expected_version=1)
    assert (fresh(idea).title, fresh(idea).owner, fresh(idea).version) == ("油温报警功能", org.service, 2)
    assert Notification.objects.filter(user=org.service, title__contains=idea.code).exists()
    with pytest.raises(Conflict):
        improvements.improvement_update(actor=org.gm, improvement=fresh(idea), changes={"title": "覆盖"},
                                        expected_version=1)
    with pytest.raises(Invalid):
        improvements.improvement_update(actor=org.gm, improvement=fresh(idea), changes={"state": "shipped"},
                                        expected_version=2)
    assert fresh(idea).title == "油温报警功能"


def test_delete_goes_to_the_recycle_bin_and_restore_brings_it_back(org: Any, idea: Improvement, customer: Any) -> None:
    case = suggestion(org.service)
    improvements.improvement_link(actor=org.service_manager, improvement=idea, case=case)
    with pytest.raises(Forbidden):
        improvements.improvement_delete(actor=org.service, improvement=idea)
    improvements.improvement_delete(actor=org.service_manager, improvement=fresh(idea), expected_version=1)
    assert not Improvement.objects.filter(pk=idea.pk).exists() and fresh(idea).deleted_at is not None
    assert Case.objects.get(pk=case.pk).improvement_id == idea.pk  # the link stays for a restore
    improvements.improvement_restore(actor=org.service_manager, improvement=fresh(idea))
    assert Improvement.objects.filter(pk=idea.pk).exists()
    assert AuditEvent.objects.filter(object_id=str(idea.pk), action__in=["delete", "restore"]).count() == 2


# --- The state -----------------------------------------------------------------------------------
def test_the_lifecycle_moves(org: Any, idea: Improvement) -> None:
    m = org.service_manager
    improvements.improvement_move(actor=m, improvement=idea, to="planned")
    improvements.improvement_move(actor=m, improvement=fresh(idea), to="in_progress")
    with pytest.raises(Invalid) as exc:
        improvements.improvement_move(actor=m, improvement=fresh(idea), to="planned")
    assert exc.value.message == "An improvement that is in progress cannot become planned."
    with pytest.raises(Invalid) as exc:
        improvements.improvement_move(actor=m, improvement=fresh(idea), to="rejected")
    assert exc.value.errors == {"note": ["Say why it is rejected."]}
    improvements.improvement_move(actor=m, improvement=fresh(idea), to="rejected", note="成本过高")
    assert fresh(idea).state == "rejected"
    assert AuditEvent.objects.filter(object_id=str(idea.pk), note="成本过高").exists()
    with pytest.raises(Invalid):
        improvements.improvement_move(actor=m, improvement=fresh(idea), to="shipped")
    with pytest.raises(Invalid):  # rejected does not ship
        improvements.improvement_ship(actor=m, improvement=fresh(idea), release_note="x", shipped_on=None)
    improvements.improvement_move(actor=m, improvement=fresh(idea), to="proposed")
    with pytest.raises(Conflict):
        improvements.improvement_move(actor=m, improvement=fresh(idea), to="planned", expected_version=1)
    with pytest.raises(Forbidden):
        improvements.improvement_move(actor=org.service, improvement=fresh(idea), to="planned")


# --- Links ---------------------------------------------------------------------------------------
def test_link_suggestions_and_complaints_the_actor_sees(org: Any, idea: Improvement, customer: Any) -> None:
    case = suggestion(org.service)
    improvements.improvement_link(actor=org.service_manager, improvement=idea, case=case)
    assert Case.objects.get(pk=case.pk).improvement_id == idea.pk
    assert Case.objects.get(pk=case.pk).version == case.version  # a link is not an edit of the case
    event = CaseEvent.objects.get(case=case, type="improvement")
    assert event.note.startswith(idea.code) and event.note.endswith("linked to this case.")
    assert Notification.objects.filter(user=org.service, title__contains=idea.code).exists()
    with pytest.raises(Invalid) as exc:
        improvements.improvement_link(actor=org.service_manager, improvement=idea, case=case)
    assert exc.value.errors["case"] == [f"{case.code} is already linked to this improvement."]
    other = improvements.improvement_create(actor=org.gm, title="另一个改进")
    with pytest.raises(Invalid) as exc:
        improvements.improvement_link(actor=org.gm, improvement=other, case=case)
    assert idea.code in exc.value.errors["case"][0]
    ticket = receive(org.service)
    with pytest.raises(Invalid) as exc:
        improvements.improvement_link(actor=org.gm, improvement=other, case=ticket)
    assert exc.value.errors["case"] == ["Only suggestions and complaints are linked to improvements."]
    improvements.improvement_unlink(actor=org.service_manager, improvement=idea, case=case)
    assert Case.objects.get(pk=case.pk).improvement_id is None
    with pytest.raises(NotFound):
        improvements.improvement_unlink(actor=org.service_manager, improvement=idea, case=case)


def test_who_links(org: Any, idea: Improvement, customer: Any) -> None:
    case = receive(org.service, kind="complaint", title="油温过高停机")
    with pytest.raises(NotFound):  # does not see the case
        improvements.improvement_link(actor=org.service2, improvement=idea, case=case)
    with pytest.raises(Forbidden):  # sees it (the customer's), does not own it
        improvements.improvement_link(actor=org.salesperson, improvement=idea, case=case)
    improvements.improvement_link(actor=org.service, improvement=idea, case=case)  # its owner
    assert Case.objects.get(pk=case.pk).improvement_id == idea.pk
    assert case.code == improvements.case_by_code(org.service, case.code.lower()).code
    with pytest.raises(Invalid):
        improvements.case_by_code(org.outsider, case.code)


# --- Shipping ------------------------------------------------------------------------------------
def test_shipping_needs_a_release_note_and_a_past_day(org: Any, idea: Improvement) -> None:
    import datetime as dt

    from django.utils import timezone

    with pytest.raises(Invalid) as exc:
        improvements.improvement_ship(actor=org.service_manager, improvement=idea, release_note="",
                                      shipped_on=timezone.localdate() + dt.timedelta(days=1))
    assert set(exc.value.errors) == {"release_note", "shipped_on"}
    assert fresh(idea).state == "proposed"


def test_ship_notifies_owners_and_mails_each_sender_once(org: Any, idea: Improvement, customer: Any,
                                                         run_queue: Any,
                                                         django_capture_on_commit_callbacks: Any) -> None:
    first = suggestion(org.service, email="Wang.Jun@jinggong.example")
    second = receive(org.service, kind="complaint", title="油温报警缺失", email="wang.jun@jinggong.example")
    quiet = suggestion(org.service2, email="quiet@example.com", wants_reply=False)
    other = suggestion(org.service_lead, email="li@example.com", company="别家公司")
    for case in (first, second, quiet, other):
        improvements.improvement_link(actor=org.service_manager, improvement=fresh(idea), case=case)
    with django_capture_on_commit_callbacks(execute=True):
        improvements.improvement_ship(actor=org.service_manager, improvement=fresh(idea),
                                      release_note="新版控制器在油温超过 70℃ 时声光报警。", shipped_on="2026-03-02")
    saved = fresh(idea)
    assert (saved.state, str(saved.shipped_on)) == ("shipped", "2026-03-02")
    for case in (first, second, quiet, other):
        assert CaseEvent.objects.filter(case=case, type="improvement", note__contains="Improvement shipped on").exists()
    for person in (org.service, org.service2, org.service_lead):
        assert Notification.objects.filter(user=person, title__contains=f"{idea.code}").filter(
            title__contains="shipped").exists()
    assert run_queue() == 2
    assert deliver_pending() == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["li@example.com", "wang.jun@jinggong.example"]
    to_wang = next(m for m in mail.outbox if m.to == ["wang.jun@jinggong.example"])
    assert first.code in to_wang.body and second.code in to_wang.body and "70℃" in to_wang.body
    assert ImprovementMail.objects.filter(improvement=idea).count() == 2
    # A retried job mails nobody twice.
    assert improvements.send_shipped.call_local(idea.pk, "wang.jun@jinggong.example") is False
    assert len(mail.outbox) == 2
    told = CaseEvent.objects.filter(case=first, note__contains="已通过邮件告知客户")  # the company's language
    assert told.count() == 1
    with pytest.raises(Invalid):  # shipped takes no more cases
        improvements.improvement_link(actor=org.service_manager, improvement=fresh(idea), case=suggestion(org.service))


def test_a_failed_send_is_retried(org: Any, idea: Improvement, customer: Any, settings: Any) -> None:
    case = suggestion(org.service)
    improvements.improvement_link(actor=org.service_manager, improvement=idea, case=case)
    improvements.improvement_ship(actor=org.service_manager, improvement=fresh(idea), release_note="已上线",
                                  shipped_on=None)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nobody listens
    assert improvements.send_shipped.call_local(idea.pk, case.sender_email) is True  # into the outbox
    assert deliver_pending() == 0
    [waiting] = Outbox.objects.all()
    assert waiting.state == Outbox.State.PENDING and waiting.last_error  # kept, with what went wrong
    assert improvements.send_shipped.call_local(idea.pk, case.sender_email) is False  # a retried job: no second
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Outbox.objects.update(next_attempt_at=timezone.now())  # the retry is due
    assert deliver_pending() == 1
    assert len(mail.outbox) == 1 and ImprovementMail.objects.count() == 1 and Outbox.objects.count() == 1
