"""Field visits: scheduling rules (rights, technician, slot, overlaps), reschedule and cancel, the
report (→ done, ``visit_done``, the customer's link and mail), on-site and link confirmation."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.mail import deliver_pending
from guanxi.core.models import AuditEvent, Notification, User
from guanxi.service import signals
from guanxi.service.models import Case, CaseEvent, Visit
from guanxi.service.services import visits
from guanxi.service.tests.visits_helpers import ADDRESS, CUSTOMER, days_ahead, receive

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(org: Any) -> None:
    """Notifications go out in each person's language: English here, as the messages asserted."""
    User.objects.update(language="en")


@pytest.fixture
def customer(org: Any, account_factory: Any) -> Any:
    return account_factory(org.salesperson, name=CUSTOMER, address=ADDRESS)


@pytest.fixture
def ticket(org: Any, customer: Any) -> Case:
    case = receive(org.service)
    assert case.account_id == customer.pk and case.owner_id == org.service.pk
    return case


def plan(actor: Any, case: Case, technician: Any, start: dt.datetime, hours: int = 2, **extra: Any) -> Visit:
    return visits.visit_schedule(actor=actor, case=case, purpose=extra.pop("purpose", "repair"), technician=technician,
                                 start=start, end=start + dt.timedelta(hours=hours), **extra)


def fresh(visit: Visit) -> Visit:
    return Visit.all_objects.get(pk=visit.pk)


def notes(case: Case) -> list[str]:
    return list(CaseEvent.objects.filter(case=case).order_by("id").values_list("note", flat=True))


def report(actor: Any, visit: Visit, **extra: Any) -> Visit:
    now = timezone.now()
    values = {"report": "更换液压油管密封圈，试机正常。", "parts": "密封圈 ×2", "arrived_at": now - dt.timedelta(hours=2),
              "finished_at": now - dt.timedelta(hours=1), "expected_version": fresh(visit).version, **extra}
    return visits.visit_report(actor=actor, visit=fresh(visit), **values)


def token_of(visit: Visit) -> str:
    return visit.confirm_link.rstrip("/").rsplit("/", 1)[1]  # type: ignore[attr-defined]


# --- Scheduling ---------------------------------------------------------------------------------
def test_the_owner_schedules_a_visit_for_a_technician(org: Any, ticket: Case) -> None:
    start = days_ahead(1, 9)
    visit = plan(org.service, ticket, org.service2, start)
    assert (visit.state, visit.technician, visit.purpose) == ("scheduled", org.service2, "repair")
    assert visit.address == ADDRESS  # the customer's address by default
    assert AuditEvent.objects.filter(action="create", object_id=str(visit.pk), object_repr=str(visit)).exists()
    assert any(n.startswith("Visit scheduled:") and ticket.code in n and "郑爽" in n for n in notes(ticket))
    told = Notification.objects.get(user=org.service2)
    assert ticket.code in told.title and told.url == f"/service/visits/{visit.pk}/"


def test_a_service_manager_in_reach_schedules_too(org: Any, ticket: Case) -> None:
    visit = plan(org.service_manager, ticket, org.service, days_ahead(2, 14), address="工地二号门")
    assert visit.address == "工地二号门" and visit.technician == org.service


def test_only_the_owner_or_a_service_manager_schedules(org: Any, ticket: Case) -> None:
    start = days_ahead(1, 9)
    with pytest.raises(Forbidden) as refused:  # sees the team's case, but neither owns nor manages it
        plan(org.service_lead, ticket, org.service2, start)
    assert "赵静" in refused.value.message
    with pytest.raises(NotFound):  # a colleague who does not see the case
        plan(org.service2, ticket, org.service2, start)
    with pytest.raises(Forbidden):  # reads the customer's case, holds no visit.add
        plan(org.salesperson, ticket, org.service, start)
    with pytest.raises(Forbidden):
        plan(org.outsider, ticket, org.service, start)
    assert not Visit.all_objects.exists()


def test_the_technician_must_do_field_visits(org: Any, ticket: Case) -> None:
    with pytest.raises(Invalid) as exc:
        plan(org.service, ticket, org.salesperson, days_ahead(1, 9))
    assert exc.value.errors["technician"] == ["Choose a colleague who does field visits."]
    org.service2.is_active = False
    org.service2.save()
    with pytest.raises(Invalid) as exc:
        plan(org.service, ticket, org.service2, days_ahead(1, 9))
    assert "technician" in exc.value.errors
    assert not Visit.all_objects.exists()


def test_the_slot_must_end_after_it_starts(org: Any, ticket: Case) -> None:
    start = days_ahead(1, 9)
    with pytest.raises(Invalid) as exc:
        visits.visit_schedule(actor=org.service, case=ticket, purpose="repair", technician=org.service,
                              start=start, end=start)
    assert exc.value.errors["end"] == ["The visit must end after it starts."]
    with pytest.raises(Invalid) as exc:
        visits.visit_schedule(actor=org.service, case=ticket, purpose="cleaning", technician=org.service,
                              start="tomorrow", end="")
    assert set(exc.value.errors) == {"purpose", "start", "end"}
    assert not Visit.all_objects.exists()


def test_a_string_slot_is_read_in_local_time(org: Any, ticket: Case) -> None:
    day = timezone.localdate() + dt.timedelta(days=3)
    visit = visits.visit_schedule(actor=org.service, case=ticket, purpose="", technician=str(org.service.pk),
                                  start=f"{day}T09:30", end=f"{day} 11:00")
    assert timezone.localtime(visit.scheduled_start).strftime("%H:%M") == "09:30"
    assert visit.purpose == "repair"  # the ticket's type when none is given


def test_an_overlapping_slot_is_refused_naming_the_other_visit(org: Any, ticket: Case, customer: Any) -> None:
    first = plan(org.service, ticket, org.service2, days_ahead(1, 9))  # 09:00–11:00
    other = receive(org.service, title="设备年度保养")
    with pytest.raises(Invalid) as exc:
        plan(org.service, other, org.service2, days_ahead(1, 10))
    [message] = exc.value.errors["start"]
    assert message.startswith("郑爽 already has a visit at that time:") and ticket.code in message
    assert Visit.all_objects.count() == 1
    # Back to back is fine, and so is another technician at the same time.
    plan(org.service, other, org.service2, days_ahead(1, 11))
    plan(org.service, other, org.service, days_ahead(1, 10))
    # A cancelled visit frees its slot.
    visits.visit_cancel(actor=org.service, visit=first, reason="客户改期")
    plan(org.service, other, org.service2, days_ahead(1, 9))


def test_a_closed_case_takes_no_visit(org: Any, ticket: Case) -> None:
    Case.all_objects.filter(pk=ticket.pk).update(state="closed")
    ticket.refresh_from_db()
    with pytest.raises(Invalid):
        plan(org.service, ticket, org.service, days_ahead(1, 9))


# --- Reschedule, reassign, cancel -------------------------------------------------------------------
def test_reschedule_is_versioned_and_tells_the_technician(org: Any, ticket: Case) -> None:
    visit = plan(org.service, ticket, org.service2, days_ahead(1, 9))
    later = days_ahead(1, 10)  # overlaps its own old slot: that is no clash
    visits.visit_update(actor=org.service, visit=visit, changes={"start": later, "end": later + dt.timedelta(hours=2)},
                        expected_version=1)
    assert fresh(visit).scheduled_start == later and fresh(visit).version == 2
    stale = Visit.all_objects.get(pk=visit.pk)
    stale.version = 1
    with pytest.raises(Conflict):
        visits.visit_update(actor=org.service, visit=stale, changes={"address": "改了"}, expected_version=1)
    assert fresh(visit).address == ADDRESS
    assert Notification.objects.filter(user=org.service2, title__startswith="Your visit was changed").exists()
    assert any(n.startswith("Visit changed:") for n in notes(ticket))


def test_reassign_tells_both_technicians(org: Any, ticket: Case) -> None:
    visit = plan(org.service, ticket, org.service2, days_ahead(1, 9))
    visits.visit_update(actor=org.service_manager, visit=visit, changes={"technician": org.service_lead.pk},
                        expected_version=visit.version)
    assert fresh(visit).technician == org.service_lead
    assert Notification.objects.filter(user=org.service2, title__contains="was given to 钱峰").exists()
    assert Notification.objects.filter(user=org.service_lead, title__startswith="New visit for you").exists()
    assert any(n.startswith("Visit reassigned from 郑爽 to 钱峰") for n in notes(ticket))
    with pytest.raises(Forbidden):  # the technician does not plan the case's visits
        visits.visit_update(actor=org.service_lead, visit=fresh(visit), changes={"address": "x"},
                            expected_version=fresh(visit).version)


def test_cancel_needs_a_reason_and_tells_the_technician(org: Any, ticket: Case) -> None:
    visit = plan(org.service, ticket, org.service2, days_ahead(1, 9))
    with pytest.raises(Invalid) as exc:
        visits.visit_cancel(actor=org.service, visit=visit, reason="  ")
    assert exc.value.errors == {"reason": ["Say why the visit is cancelled."]}
    assert fresh(visit).state == "scheduled"
    visits.visit_cancel(actor=org.service, visit=visit, reason="客户停产检修，改期")
    assert fresh(visit).state == "cancelled"
    assert any(n.startswith("Visit cancelled:") and n.endswith("客户停产检修，改期") for n in notes(ticket))
    assert Notification.objects.filter(user=org.service2, title__startswith="Visit cancelled").exists()
    with pytest.raises(Invalid):
        report(org.service2, visit)
    with pytest.raises(Invalid):
        visits.visit_cancel(actor=org.service, visit=fresh(visit), reason="again")


# --- The report ------------------------------------------------------------------------------------
def test_the_report_makes_the_visit_done_and_sends_visit_done(org: Any, ticket: Case, run_queue: Any,
                                                              django_capture_on_commit_callbacks: Any) -> None:
    visit = plan(org.service, ticket, org.service2, days_ahead(0, 0))
    heard: list[tuple[Visit, Any]] = []

    def listener(sender: Any, visit: Visit, actor: Any, **kwargs: Any) -> None:
        heard.append((visit, actor))

    signals.visit_done.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            done = report(org.service2, visit)
    finally:
        signals.visit_done.disconnect(listener)
    assert [(v.pk, v.state, a) for v, a in heard] == [(visit.pk, "done", org.service2)]
    saved = fresh(visit)
    assert (saved.state, saved.parts) == ("done", "密封圈 ×2")
    raw = token_of(done)
    assert saved.confirm_token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert done.confirm_mailed is True  # type: ignore[attr-defined]
    assert any(n.startswith("Visit done:") and "更换液压油管密封圈" in n for n in notes(ticket))
    assert Notification.objects.filter(user=org.service, title__startswith="Visit done").exists()  # the owner
    assert run_queue() >= 1  # with our mail, the survey sender's invitation when a survey is active
    assert deliver_pending() >= 1
    [message] = [m for m in mail.outbox if "/feedback/visit/" in m.body]
    assert message.to == ["wang.jun@jinggong.example"] and ticket.code in message.subject
    assert f"/feedback/visit/{raw}/" in message.body and "更换液压油管密封圈" in message.body
    # The job writes in the company's language (zh-hans), as the customer reads it.
    assert "服务报告和确认链接已发送至 wang.jun@jinggong.example。" in notes(ticket)
    assert "请确认我们的上门服务" in message.subject


def test_only_the_technician_or_the_owner_reports(org: Any, ticket: Case) -> None:
    visit = plan(org.service, ticket, org.service2, days_ahead(0, 0))
    with pytest.raises(Forbidden):
        report(org.service_manager, visit)
    with pytest.raises(Forbidden):  # sees the visit, holds no visit.change
        report(org.salesperson, visit)
    assert fresh(visit).state == "scheduled"
    report(org.service, visit)  # the case's owner
    assert fresh(visit).state == "done"


def test_a_report_needs_text_and_sensible_times(org: Any, ticket: Case) -> None:
    visit = plan(org.service, ticket, org.service2, days_ahead(0, 0))
    now = timezone.now()
    with pytest.raises(Invalid) as exc:
        report(org.service2, visit, report="", arrived_at=now + dt.timedelta(hours=1),
               finished_at=now + dt.timedelta(minutes=30))
    assert set(exc.value.errors) == {"report", "arrived_at", "finished_at"}
    assert "The visit must finish after the arrival." in exc.value.errors["finished_at"]
    with pytest.raises(Conflict):
        report(org.service2, visit, expected_version=7)
    saved = fresh(visit)
    assert (saved.state, saved.report, saved.confirm_token_hash) == ("scheduled", "", "")


def test_without_an_address_the_link_is_only_shown(org: Any, customer: Any, run_queue: Any,
                                                   django_capture_on_commit_callbacks: Any) -> None:
    case = receive(org.service, email="")
    visit = plan(org.service, case, org.service, days_ahead(0, 0))
    with django_capture_on_commit_callbacks(execute=True):
        done = report(org.service, visit)
    assert done.confirm_mailed is False and done.confirm_link  # type: ignore[attr-defined]
    run_queue()
    deliver_pending()
    assert not [m for m in mail.outbox if "/feedback/visit/" in m.body]


# --- Confirmation --------------------------------------------------------------------------------------
def test_the_customer_signs_on_site(org: Any, ticket: Case) -> None:
    visit = plan(org.service, ticket, org.service2, days_ahead(0, 0))
    with pytest.raises(Invalid):  # not done yet
        visits.visit_confirm_on_site(actor=org.service2, visit=visit, signed_by="王军")
    done = report(org.service2, visit)
    with pytest.raises(Invalid) as exc:
        visits.visit_confirm_on_site(actor=org.service2, visit=fresh(visit), signed_by=" ")
    assert exc.value.errors == {"signed_by": ["Enter the customer's name."]}
    visits.visit_confirm_on_site(actor=org.service2, visit=fresh(visit), signed_by="王军", comment="师傅很专业")
    saved = fresh(visit)
    assert (saved.state, saved.customer_signature, saved.customer_comment) == ("confirmed", "王军", "师傅很专业")
    assert saved.customer_confirmed_at is not None and saved.confirm_token_hash == ""
    event = CaseEvent.objects.filter(case=ticket, type="customer").get()
    assert event.note.startswith("Visit confirmed on site by 王军") and event.note.endswith("师傅很专业")
    with pytest.raises(NotFound):  # the link stopped working
        visits.customer_confirm(token=token_of(done), signed_by="王军")


def test_the_customer_confirms_from_the_link_once(org: Any, ticket: Case) -> None:
    visit = plan(org.service, ticket, org.service2, days_ahead(0, 0))
    token = token_of(report(org.service2, visit))
    with pytest.raises(Invalid):
        visits.customer_confirm(token=token, signed_by="")
    assert fresh(visit).state == "done"
    visits.customer_confirm(token=token, signed_by="王军", comment="已修好")
    saved = fresh(visit)
    assert (saved.state, saved.customer_signature, saved.customer_comment) == ("confirmed", "王军", "已修好")
    assert AuditEvent.objects.filter(object_id=str(visit.pk), actor__isnull=True, action="update").exists()
    assert Notification.objects.filter(user=org.service2, title__startswith="The customer confirmed").exists()
    assert Notification.objects.filter(user=org.service, title__startswith="The customer confirmed").exists()
    with pytest.raises(NotFound):
        visits.customer_confirm(token=token, signed_by="王军")
    with pytest.raises(NotFound):
        visits.customer_confirm(token="not-a-token", signed_by="王军")
    with pytest.raises(NotFound):
        visits.customer_confirm(token="x" * 500, signed_by="王军")


def test_a_new_link_replaces_the_old_one(org: Any, ticket: Case) -> None:
    visit = plan(org.service, ticket, org.service2, days_ahead(0, 0))
    old = token_of(report(org.service2, visit))
    link = visits.visit_confirm_link(actor=org.service2, visit=fresh(visit))
    with pytest.raises(NotFound):
        visits.visit_for_token(old)
    assert visits.visit_for_token(link.rstrip("/").rsplit("/", 1)[1]).pk == visit.pk


def test_a_deleted_case_hides_its_visits_link(org: Any, ticket: Case) -> None:
    visit = plan(org.service, ticket, org.service2, days_ahead(0, 0))
    token = token_of(report(org.service2, visit))
    Case.all_objects.filter(pk=ticket.pk).update(deleted_at=timezone.now())
    with pytest.raises(NotFound):
        visits.customer_confirm(token=token, signed_by="王军")


# --- The case page's block ---------------------------------------------------------------------------
def test_block_context_lists_visits_and_who_may_schedule(org: Any, ticket: Case) -> None:
    visit = plan(org.service, ticket, org.service2, days_ahead(1, 9))
    mine = visits.block_context(org.service, ticket)
    assert mine["visits"] == [visit] and mine["can_schedule"] is True
    assert mine["schedule_url"] == f"/service/cases/{ticket.pk}/visits/new/"
    sales = visits.block_context(org.salesperson, ticket)  # the customer's salesperson reads them
    assert sales["visits"] == [visit] and sales["can_schedule"] is False and sales["schedule_url"] == ""
    assert visits.block_context(org.service_manager, ticket)["can_schedule"] is True
