"""SLA policies, timers, status and the sweep: warnings, breaches and escalation, each once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from guanxi.core.errors import Forbidden, Invalid
from guanxi.core.models import AuditEvent, Notification
from guanxi.service.models import Case, CaseCategory, CaseEvent, SlaPolicy
from guanxi.service.services import sla, sla_setup
from guanxi.service.tests.sla_helpers import at, make_case

# The seeded default policy for "normal": first response 4 h, resolution 5 business days.
# A case received on Monday 2 March 2026 at 09:00 is due for a response at 13:00 and a
# resolution on Friday 6 March at 18:00.
RECEIVED = at(2026, 3, 2, 9, 0)


def default(severity: str) -> SlaPolicy:
    return SlaPolicy.objects.get(category__isnull=True, severity=severity)


# --- Policies -----------------------------------------------------------------------------
def test_the_migration_seeds_categories_and_default_policies(db: Any) -> None:
    names = list(CaseCategory.objects.values_list("name", flat=True))
    assert names == ["产品质量", "交付延误", "服务态度", "价格与账单", "安装与维修", "产品建议", "其他"]
    assert set(CaseCategory.objects.filter(needs_review=True).values_list("name", flat=True)) == {"产品质量", "服务态度"}
    assert (default("critical").first_response_minutes, default("critical").resolution_minutes) == (30, 540)
    assert (default("high").first_response_minutes, default("high").resolution_minutes) == (120, 1080)
    assert (default("normal").first_response_minutes, default("normal").resolution_minutes) == (240, 2700)
    assert (default("low").first_response_minutes, default("low").resolution_minutes) == (540, 5400)


def test_policy_for_prefers_the_category_then_the_default(org: Any) -> None:
    quality = CaseCategory.objects.get(name="产品质量")
    other = CaseCategory.objects.get(name="其他")
    own = sla_setup.policy_create(actor=org.service_manager, category=quality, severity="high",
                                  first_response_minutes=60, resolution_minutes=540)
    assert sla.policy_for(quality, "high") == own
    assert sla.policy_for(quality.pk, "high") == own
    assert sla.policy_for(other, "high") == default("high")
    assert sla.policy_for(None, "normal") == default("normal")
    sla_setup.policy_update(actor=org.service_manager, policy=own, changes={"active": False},
                            expected_version=own.version)
    assert sla.policy_for(quality, "high") == default("high")
    SlaPolicy.objects.filter(category__isnull=True, severity="low").delete()
    assert sla.policy_for(None, "low") is None


# --- Timers -------------------------------------------------------------------------------
def test_apply_timers_sets_the_due_times_in_business_time(org: Any) -> None:
    case = make_case(org.service, received_at=at(2026, 3, 6, 16, 0), severity="high")  # a Friday
    assert case.sla_policy == default("high")
    assert case.first_response_due == at(2026, 3, 6, 18, 0)  # 2 h: Friday 16–18, due at the closing
    assert case.resolution_due == at(2026, 3, 10, 16, 0)  # 2 days


def test_apply_timers_from_outside_hours_counts_from_the_next_opening(org: Any) -> None:
    case = make_case(org.service, received_at=at(2026, 3, 7, 22, 0), severity="critical")  # Saturday night
    assert case.first_response_due == at(2026, 3, 9, 9, 30)
    assert case.resolution_due == at(2026, 3, 9, 18, 0)


def test_apply_timers_skips_the_spring_festival(org: Any) -> None:
    case = make_case(org.service, received_at=at(2026, 2, 13, 17, 0), severity="high")
    assert case.first_response_due == at(2026, 2, 14, 10, 0)  # the working Saturday (调休)


def test_apply_timers_without_a_policy_clears_the_timers(org: Any) -> None:
    SlaPolicy.objects.filter(severity="low").delete()
    case = make_case(org.service, received_at=RECEIVED, severity="low")
    assert (case.sla_policy, case.first_response_due, case.resolution_due) == (None, None, None)
    assert sla.status(case, RECEIVED)["state"] == "none"


def test_a_new_severity_restarts_a_running_timer(org: Any) -> None:
    case = make_case(org.service, received_at=RECEIVED)
    case.response_warned_at, case.response_breached, case.escalation_level = RECEIVED, True, 1
    case.severity = "critical"
    sla.apply_timers(case)
    assert case.first_response_due == at(2026, 3, 2, 9, 30)
    assert (case.response_warned_at, case.response_breached, case.escalation_level) == (None, False, 1)


def test_record_first_response_only_once(org: Any) -> None:
    case = make_case(org.service, received_at=RECEIVED)
    assert sla.record_first_response(case, at(2026, 3, 2, 10, 0))
    assert not sla.record_first_response(case, at(2026, 3, 2, 11, 0))
    assert case.first_responded_at == at(2026, 3, 2, 10, 0)


# --- Status -------------------------------------------------------------------------------
def test_status_while_running(org: Any) -> None:
    case = make_case(org.service, received_at=RECEIVED)
    status = sla.status(case, at(2026, 3, 2, 10, 0))
    assert status["state"] == "ok"
    assert status["response"]["minutes_left"] == 180
    assert status["response"]["left_text"] == "3 h"
    assert status["response"]["percent"] == 25
    assert status["resolution"]["minutes_left"] == 2700 - 60
    warning = sla.status(case, at(2026, 3, 2, 12, 0))
    assert (warning["state"], warning["response"]["state"]) == ("warning", "warning")
    late = sla.status(case, at(2026, 3, 2, 14, 30))
    assert late["state"] == "breached"
    assert late["response"]["minutes_left"] == -90
    assert late["response"]["overdue_text"] == "1 h 30 min"
    assert late["resolution"]["state"] == "ok"


def test_status_after_the_first_response(org: Any) -> None:
    case = make_case(org.service, received_at=RECEIVED)
    sla.record_first_response(case, at(2026, 3, 2, 11, 0))
    status = sla.status(case, at(2026, 3, 2, 15, 0))
    assert status["response"]["state"] == "met" and not status["response"]["running"]
    assert status["state"] == "ok"  # the resolution still runs
    late = make_case(org.service, received_at=RECEIVED)
    sla.record_first_response(late, at(2026, 3, 2, 14, 0))
    assert sla.status(late, at(2026, 3, 2, 15, 0))["response"]["state"] == "breached"


def test_status_of_a_resolved_case(org: Any) -> None:
    case = make_case(org.service, received_at=RECEIVED, state=Case.State.RESOLVED,
                     first_responded_at=at(2026, 3, 2, 10, 0), resolved_at=at(2026, 3, 4, 10, 0))
    status = sla.status(case, at(2026, 3, 20, 10, 0))
    assert status["state"] == "met"
    assert status["resolution"]["done_at"] == at(2026, 3, 4, 10, 0)


# --- The sweep ----------------------------------------------------------------------------
@pytest.fixture
def english_users(org: Any) -> None:
    """Notifications are written in each user's language: these tests read them in English."""
    from guanxi.core.models import User

    User.objects.update(language="en")
    for user in (org.service, org.service2, org.service_lead, org.service_manager, org.gm, org.salesperson):
        user.language = "en"


def notes(user: Any) -> list[Notification]:
    return list(Notification.objects.filter(user=user).order_by("id"))


def events(case: Case, kind: str) -> int:
    return CaseEvent.objects.filter(case=case, type=kind).count()


def test_sweep_warns_the_owner_once(org: Any, english_users: None) -> None:
    case = make_case(org.service, received_at=RECEIVED)
    assert sla.sweep(now=at(2026, 3, 2, 11, 0))["response_warned"] == 0  # half the time
    done = sla.sweep(now=at(2026, 3, 2, 12, 0))  # 75 %
    assert done["response_warned"] == 1
    case.refresh_from_db()
    assert case.response_warned_at == at(2026, 3, 2, 12, 0)
    assert events(case, CaseEvent.Type.WARNED) == 1
    (note,) = notes(org.service)
    assert note.title == f"SLA warning: {case.code} {case.title}"
    assert note.body == "The first response is due at 2026-03-02 13:00."
    assert note.url.endswith(f"/{case.pk}/")
    assert AuditEvent.objects.filter(object_id=str(case.pk), note="sla: response warning").count() == 1
    again = sla.sweep(now=at(2026, 3, 2, 12, 30))
    assert again["response_warned"] == 0
    assert events(case, CaseEvent.Type.WARNED) == 1 and len(notes(org.service)) == 1


def test_sweep_breaches_and_escalates_to_the_service_manager_then_the_general_manager(org: Any,
                                                                                      english_users: None) -> None:
    case = make_case(org.service, received_at=RECEIVED)
    done = sla.sweep(now=at(2026, 3, 2, 13, 0))
    assert done["response_breached"] == 1 and done["escalated"] == 1
    case.refresh_from_db()
    assert case.response_breached and case.escalation_level == 1
    assert case.escalated_at == at(2026, 3, 2, 13, 0)
    assert case.version == 1  # the sweep never makes the owner's open form stale
    assert events(case, CaseEvent.Type.BREACHED) == 1 and events(case, CaseEvent.Type.ESCALATED) == 1
    assert [n.url for n in notes(org.service_manager)] == [sla.case_url(case)]
    assert "level 1" in notes(org.service_manager)[0].title
    assert notes(org.gm) == []
    assert any("breached" in n.title for n in notes(org.service))

    # Not yet a full response period (4 business hours) after the due time.
    assert sla.sweep(now=at(2026, 3, 2, 16, 59))["escalated"] == 0
    done = sla.sweep(now=at(2026, 3, 2, 17, 0))
    assert done["escalated"] == 1
    case.refresh_from_db()
    assert case.escalation_level == 2
    assert len(notes(org.gm)) == 1 and "level 2" in notes(org.gm)[0].title
    assert len(notes(org.service_manager)) == 1  # told at level 1 only
    assert notes(org.service2) == [] and notes(org.service_lead) == []

    # Idempotent: running again changes nothing.
    before = (CaseEvent.objects.count(), Notification.objects.count(), AuditEvent.objects.count())
    assert sum(sla.sweep(now=at(2026, 3, 2, 17, 30)).values()) == 0
    assert (CaseEvent.objects.count(), Notification.objects.count(), AuditEvent.objects.count()) == before


def test_the_first_response_stops_the_response_timer(org: Any) -> None:
    case = make_case(org.service, received_at=RECEIVED)
    sla.record_first_response(case, at(2026, 3, 2, 10, 0))
    case.save(update_fields=["first_responded_at"])
    done = sla.sweep(now=at(2026, 3, 2, 17, 0))
    assert done["response_breached"] == 0 and done["response_warned"] == 0 and done["escalated"] == 0
    case.refresh_from_db()
    assert not case.response_breached and case.escalation_level == 0
    assert Notification.objects.count() == 0


def test_a_late_resolution_escalates_to_both_levels_at_once(org: Any) -> None:
    case = make_case(org.service, received_at=RECEIVED, first_responded_at=at(2026, 3, 2, 9, 30))
    # Resolution warning at 75 % of 5 days: Thursday 15:45.
    assert sla.sweep(now=at(2026, 3, 5, 15, 44))["resolution_warned"] == 0
    assert sla.sweep(now=at(2026, 3, 5, 15, 45))["resolution_warned"] == 1
    done = sla.sweep(now=at(2026, 3, 6, 18, 0))
    assert done["resolution_breached"] == 1 and done["escalated"] == 1
    case.refresh_from_db()
    assert case.resolution_breached and case.escalation_level == 2
    assert len(notes(org.service_manager)) == 1 and len(notes(org.gm)) == 1
    escalated = CaseEvent.objects.get(case=case, type=CaseEvent.Type.ESCALATED)
    assert "黄蓉" in escalated.note and "陈总" in escalated.note
    assert sum(sla.sweep(now=at(2026, 3, 9, 10, 0)).values()) == 0


def test_a_resolution_breach_after_level_one_tells_the_general_manager_only(org: Any) -> None:
    case = make_case(org.service, received_at=RECEIVED)
    sla.sweep(now=at(2026, 3, 2, 13, 0))  # response breached → level 1
    Case.objects.filter(pk=case.pk).update(first_responded_at=at(2026, 3, 2, 14, 0))
    sla.sweep(now=at(2026, 3, 6, 18, 0))
    case.refresh_from_db()
    assert case.escalation_level == 2 and case.resolution_breached
    assert len(notes(org.service_manager)) == 1 and len(notes(org.gm)) == 1


def test_notifications_follow_the_user_s_language(org: Any) -> None:
    from django.utils import translation

    case = make_case(org.service, received_at=RECEIVED)  # everyone reads Chinese (the default)
    sla.sweep(now=at(2026, 3, 2, 13, 0))
    with translation.override("zh-hans"):
        expected = translation.gettext("Escalated (level %(level)d): %(code)s %(title)s") % {
            "level": 1, "code": case.code, "title": case.title}
    assert [n.title for n in notes(org.service_manager)] == [expected]


def test_escalation_falls_back_to_every_service_manager(org: Any) -> None:
    """The owner's department has no service manager above it (a salesperson took the call)."""
    case = make_case(org.salesperson, received_at=RECEIVED)
    sla.sweep(now=at(2026, 3, 2, 13, 0))
    assert [n.url for n in notes(org.service_manager)] == [sla.case_url(case)]
    assert notes(org.manager) == []


def test_a_service_manager_elsewhere_is_not_told_when_one_is_above(org: Any) -> None:
    from guanxi.core.models import Role, User

    other = User.objects.create_user(username="svc_south", password="x", name="南区客服经理", department=org.south)
    other.roles.set([Role.objects.get(code="service_manager")])
    make_case(org.service, received_at=RECEIVED)
    sla.sweep(now=at(2026, 3, 2, 13, 0))
    assert len(notes(org.service_manager)) == 1
    assert notes(other) == []


def test_closed_and_deleted_cases_are_left_alone(org: Any) -> None:
    from django.utils import timezone

    make_case(org.service, received_at=RECEIVED, state=Case.State.CLOSED, closed_at=at(2026, 3, 2, 10, 0))
    make_case(org.service, received_at=RECEIVED, deleted_at=timezone.now())
    assert sum(sla.sweep(now=at(2026, 3, 20, 10, 0)).values()) == 0


def test_the_sweep_works_in_batches(org: Any, settings: Any) -> None:
    settings.GUANXI_SLA_SWEEP_BATCH = 2
    cases = [make_case(org.service, received_at=at(2026, 3, 2, 9, n)) for n in range(5)]
    done = sla.sweep(now=at(2026, 3, 2, 12, 10))  # all past 75 % of 4 h
    assert done["response_warned"] == 5
    done = sla.sweep(now=at(2026, 3, 2, 13, 30))
    assert done["response_breached"] == 5
    assert Case.objects.filter(pk__in=[c.pk for c in cases], response_breached=True).count() == 5


def test_the_periodic_task_is_registered() -> None:
    from huey.contrib.djhuey import HUEY

    assert "sweep_sla" in {task.__name__ for task in HUEY._registry._periodic_tasks}
    every_minute = sla.sweep_sla.task_class()  # type: ignore[attr-defined]
    assert all(every_minute.validate_datetime(dt.datetime(2026, 3, 2, h, m)) for h, m in ((0, 0), (10, 1), (23, 59)))


# --- Configuration services ---------------------------------------------------------------
def test_policy_validation(org: Any) -> None:
    with pytest.raises(Invalid) as exc:
        sla_setup.policy_create(actor=org.service_manager, severity="normal", first_response_minutes=0,
                                resolution_minutes=-5, warn_percent=100)
    assert exc.value.errors["first_response_minutes"] == [
        "Enter a time of at least one minute (and at most a year)."]
    assert "resolution_minutes" in exc.value.errors
    assert exc.value.errors["warn_percent"] == ["Enter a percentage from 1 to 99."]
    assert exc.value.errors["severity"] == ["There is already a default policy for this severity; change it instead."]
    with pytest.raises(Invalid) as exc:
        sla_setup.policy_create(actor=org.service_manager, severity="urgent", first_response_minutes=120,
                                resolution_minutes=60)
    assert exc.value.errors == {"severity": ["Choose a severity."],
                                "resolution_minutes": ["The resolution cannot be due before the first response."]}


def test_policy_unique_per_category_and_severity(org: Any) -> None:
    quality = CaseCategory.objects.get(name="产品质量")
    sla_setup.policy_create(actor=org.service_manager, category=quality.pk, severity="high",
                            first_response_minutes=60, resolution_minutes=540)
    with pytest.raises(Invalid) as exc:
        sla_setup.policy_create(actor=org.service_manager, category=quality.pk, severity="high",
                                first_response_minutes=60, resolution_minutes=540)
    assert exc.value.errors["severity"] == ["There is already a policy for this category and severity; change it "
                                            "instead."]


def test_category_rules(org: Any) -> None:
    with pytest.raises(Invalid) as exc:
        sla_setup.category_create(actor=org.service_manager, name="产品质量", kind="gift", responder=org.marketing)
    assert exc.value.errors == {"name": ["Another category already has this name."],
                                "kind": ["Choose complaint, suggestion, service ticket or any kind."],
                                "responder": ["The first responder must be able to handle cases."]}
    category = sla_setup.category_create(actor=org.service_manager, name="  物流破损 ", kind="complaint",
                                         responder=org.service.pk)
    assert (category.name, category.responder, category.position) == ("物流破损", org.service, 8)
    make_case(org.service, received_at=RECEIVED, category=category)
    with pytest.raises(Invalid) as exc:
        sla_setup.category_delete(actor=org.service_manager, category=category)
    assert exc.value.code == "category_in_use"
    sla_setup.category_update(actor=org.service_manager, category=category, changes={"active": False},
                              expected_version=category.version)
    assert not CaseCategory.objects.get(pk=category.pk).active


def test_an_agent_cannot_configure(org: Any) -> None:
    category = CaseCategory.objects.get(name="其他")
    with pytest.raises(Forbidden):
        sla_setup.category_create(actor=org.service, name="新类别")
    with pytest.raises(Forbidden):
        sla_setup.category_update(actor=org.service, category=category, changes={"name": "改"}, expected_version=None)
    with pytest.raises(Forbidden):
        sla_setup.policy_update(actor=org.service, policy=default("normal"), changes={"warn_percent": 50},
                                expected_version=None)
    assert not CaseCategory.objects.filter(name="新类别").exists()
    assert CaseCategory.objects.get(pk=category.pk).name == "其他"
    assert default("normal").warn_percent == 75


def test_unused_category_is_deleted_with_an_audit_row(org: Any) -> None:
    category = sla_setup.category_create(actor=org.admin, name="临时")
    sla_setup.category_delete(actor=org.admin, category=category, expected_version=category.version)
    assert not CaseCategory.objects.filter(name="临时").exists()
    assert AuditEvent.objects.filter(action="delete", object_repr="临时").exists()


def test_dates_in_the_past_are_fine_for_the_arithmetic(org: Any) -> None:
    case = make_case(org.service, received_at=at(2024, 10, 8, 17, 0), severity="high")
    assert case.first_response_due is not None
    assert case.first_response_due.date() == dt.date(2024, 10, 9)
