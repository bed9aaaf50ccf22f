"""The demo company's service and surveys: documented volumes, consistent records (as the
services and the SLA sweep would have left them), the named people's screens, the public
forms, determinism and idempotence."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any

import pytest
from django.db.models import Count, F, Q
from django.test import Client
from django.utils import timezone

from conftest import drawn_grades, module_data, settled
from guanxi.core.models import CodeSequence, Team, User
from guanxi.core.permissions import has_perm
from guanxi.demo import DEFAULT_SEED, build_demo
from guanxi.loyalty import demo as loyalty_demo
from guanxi.loyalty.models import Answer, Invitation, Question, Response
from guanxi.loyalty.services.responses import figures
from guanxi.sales.models import Order
from guanxi.service import demo as service_demo
from guanxi.service.models import (
    Case,
    CaseCategory,
    CaseEvent,
    FeedbackForm,
    Handover,
    Improvement,
    ImprovementMail,
    Visit,
)
from guanxi.service.selectors.scope import case_scope
from guanxi.service.services import calendar, sla

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    """Built once for the module (rolled back at its end); each test runs in its own transaction."""
    with module_data(django_db_blocker):
        yield settled(build_demo("S", now=NOW))


def end_of_history() -> datetime:
    return datetime.combine(timezone.localdate(NOW), dtime(0), tzinfo=timezone.get_default_timezone())


def share(counter: Counter[Any], key: Any) -> float:
    return counter[key] / max(sum(counter.values()), 1)


def test_volumes_kinds_channels_categories_and_states(demo: dict[str, Any]) -> None:
    total = Case.objects.count()
    assert service_demo.CASES["S"] < total <= service_demo.CASES["S"] + 40  # the year and the showcase
    assert demo["service_seconds"] > 0
    kinds = Counter(Case.objects.values_list("kind", flat=True))
    assert 0.5 < share(kinds, "complaint") < 0.7
    assert 0.2 < share(kinds, "ticket") < 0.4
    assert 0.05 < share(kinds, "suggestion") < 0.16
    assert {"web", "hotline", "card", "email", "staff"} <= set(Case.objects.values_list("channel", flat=True))
    # The categories are the service defaults, read from the database: every one is used.
    used = set(Case.objects.values_list("category__name", flat=True))
    assert set(CaseCategory.objects.filter(active=True).values_list("name", flat=True)) <= used
    assert set(Case.objects.values_list("severity", flat=True)) == {"low", "normal", "high", "critical"}
    states = Counter(Case.objects.values_list("state", flat=True))
    assert set(states) == set(Case.State.values)
    assert share(states, "closed") > 0.8
    assert 0.08 < Case.objects.filter(account__isnull=True).count() / total < 0.25
    open_cases = Case.objects.filter(state__in=Case.OPEN_STATES)
    assert open_cases.filter(escalation_level__gt=0).exists() and open_cases.filter(resolution_breached=True).exists()
    assert Case.objects.filter(escalation_level=2).exists() and Case.objects.filter(escalation_level=1).exists()
    assert Case.objects.filter(reopen_count__gt=0, state="closed").exists()
    assert open_cases.filter(reopen_count__gt=0).exists()
    assert Case.objects.filter(review_state="pending", state="proposed").exists()
    assert Case.objects.filter(review_state="approved").exists()
    assert set(Visit.objects.values_list("state", flat=True)) == set(Visit.State.values)
    assert set(Improvement.objects.values_list("state", flat=True)) == set(Improvement.State.values)
    assert set(Handover.objects.values_list("state", flat=True)) >= {"offered", "accepted", "declined"}
    assert CaseEvent.objects.filter(type="step").count() > 2 * total
    assert {"listen", "clarify", "propose", "apologise", "follow_up"} <= set(
        Case.objects.values_list("steps__step", flat=True))


def test_sizes_scale_and_the_year_is_in_order(demo: dict[str, Any]) -> None:
    assert service_demo.CASES == {"S": 400, "M": 30_000, "L": 300_000}
    world = service_demo.World.load("M", DEFAULT_SEED, NOW)
    times = world.received_times()
    assert len(times) == 30_000
    assert times == sorted(times)
    assert world.start <= times[0] and times[-1] < world.end
    # Busier lately (the business grows): half of the year's cases come in its second half and more.
    median = times[len(times) // 2]
    assert median - world.start > world.end - median


def test_owners_departments_and_times_are_consistent(demo: dict[str, Any]) -> None:
    end = end_of_history()
    cases = list(Case.objects.select_related("owner", "received_by"))
    for case in cases:
        assert has_perm(case.owner, "case.change"), case.code
        assert has_perm(case.received_by, "case.add"), case.code
        assert case.department_id == case.owner.department_id, case.code
        assert case.received_at < end
        assert case.sla_policy_id is not None
        assert case.received_at < case.first_response_due <= case.resolution_due, case.code
        moments = [case.received_at, case.first_responded_at, case.resolved_at, case.confirmed_at, case.closed_at]
        present = [m for m in moments if m is not None]
        assert present == sorted(present) and present[-1] < end, case.code
        assert (case.first_responded_at is None) == (case.state == "new"), case.code
        assert (case.closed_at is not None) == (case.state == "closed"), case.code
        if case.state in ("resolved", "confirmed", "closed"):
            assert case.resolved_at is not None and case.reply and case.resolution, case.code
        if case.state == "confirmed":
            assert case.confirmed_at is not None
        if case.is_open:
            assert case.resolved_at is None and case.closed_at is None
        if case.review_state == "pending":
            assert case.state == "proposed" and case.category.needs_review
        if case.state in ("resolved", "closed", "confirmed") and case.category.needs_review:
            assert case.review_state == "approved" and case.reviewed_by_id not in (None, case.owner_id), case.code
        assert bool(case.confirm_token_hash) == (case.state == "resolved"), case.code
    # Every story starts with its receipt and ends before the history does.
    first = CaseEvent.objects.filter(type="received").values("case_id").annotate(n=Count("id"))
    assert {row["n"] for row in first} == {1} and len(first) == len(cases)
    # After it only the SLA sweep the demo ends with (guanxi.demo.settle_jobs), at "now".
    late = CaseEvent.objects.filter(at__gte=end)
    assert set(late.values_list("type", "at").distinct()) <= {(kind, NOW) for kind in ("warned", "breached",
                                                                                        "escalated")}
    assert not CaseEvent.objects.filter(at__lt=F("case__received_at")).exists()
    # Hand-overs: an accepted one made its recipient the owner; at most one offer is open.
    for handover in Handover.objects.filter(state="accepted").select_related("case"):
        assert handover.case.owner_id == handover.to_user_id
        assert handover.decided_at is not None and handover.decided_at > handover.created_at
    offered = Handover.objects.filter(state="offered").select_related("case")
    assert all(h.case.owner_id == h.from_user_id and h.case.state != "closed" for h in offered)


def test_visits_are_consistent_with_their_cases(demo: dict[str, Any]) -> None:
    end = end_of_history()
    for visit in Visit.objects.select_related("case", "technician"):
        assert has_perm(visit.technician, "visit.change")
        assert visit.case.received_at < visit.created_at < visit.scheduled_start < visit.scheduled_end
        if visit.state == "scheduled":
            assert visit.scheduled_start >= end and visit.case.is_open
        if visit.state in ("done", "confirmed"):
            assert visit.report and visit.arrived_at < visit.finished_at < end
        if visit.state == "confirmed":
            assert visit.customer_signature and visit.customer_confirmed_at >= visit.finished_at
            assert not visit.confirm_token_hash
        if visit.state == "done":
            assert visit.confirm_token_hash


def test_the_sla_sweep_has_nothing_left_to_do(demo: dict[str, Any]) -> None:
    """Due times come from the service calendar, and every warning, breach and escalation the
    sweep would have made by the end of the history is there already."""
    cases = list(Case.objects.select_related("sla_policy")[:60])
    for case in cases:
        assert case.first_response_due == calendar.add_business_minutes(
            case.received_at, case.sla_policy.first_response_minutes)
        assert case.resolution_due == calendar.add_business_minutes(case.received_at,
                                                                     case.sla_policy.resolution_minutes)
    assert sla.sweep(now=end_of_history()) == {"response_breached": 0, "resolution_breached": 0,
                                               "response_warned": 0, "resolution_warned": 0, "escalated": 0}
    late = Case.objects.filter(Q(response_breached=True) | Q(resolution_breached=True))
    assert not late.filter(escalation_level=0).exists()
    assert not Case.objects.filter(resolution_breached=True, resolved_at__lte=F("resolution_due"),
                                   reopen_count=0).exists()
    resolved = Case.objects.filter(resolved_at__isnull=False)
    assert resolved.filter(resolved_at__lte=F("resolution_due")).count() > 0.75 * resolved.count()


def test_the_quick_calendar_is_the_service_calendar(demo: dict[str, Any]) -> None:
    world = service_demo.World.load("S", DEFAULT_SEED, NOW)
    rng = service_demo.demo_rng("calendar-test")
    for _ in range(3_000):
        moment = world.start + timedelta(seconds=rng.randrange(390 * 86_400))
        minutes = rng.choice((1, 7, 30, 240, 540, 2_700, rng.randrange(1, 30_000)))
        assert world.add(moment, minutes) == calendar.add_business_minutes(moment, minutes), (moment, minutes)


def test_every_response_has_its_invitation_and_its_figures(demo: dict[str, Any]) -> None:
    end = end_of_history()
    questions = {q.pk: q for q in Question.objects.all()}
    responses = list(Response.objects.select_related("invitation").prefetch_related("answers"))
    assert responses
    for response in responses:
        invitation = response.invitation
        assert invitation.answered_at == response.submitted_at
        assert invitation.created_at < response.submitted_at < min(invitation.expires_at, end)
        assert (response.survey_id, response.touchpoint, response.account_id, response.owner_id) == (
            invitation.survey_id, invitation.touchpoint, invitation.account_id, invitation.owner_id)
        survey_questions = [q for q in questions.values() if q.survey_id == response.survey_id]
        cleaned = {a.question_id: (a.score, a.text) for a in response.answers.all()}
        expected = figures(survey_questions, cleaned)
        assert {k: getattr(response, k) for k in expected} == expected
    assert not Invitation.objects.filter(answered_at__isnull=False, response__isnull=True).exists()
    assert not Invitation.objects.filter(expires_at__lte=F("created_at")).exists()
    assert not Invitation.objects.filter(created_at__lt=end - timedelta(days=366)).exists()
    # Each touchpoint's invitation points at what happened.
    by_touchpoint = Counter(Invitation.objects.values_list("touchpoint", flat=True))
    assert set(by_touchpoint) == {"case_closed", "visit_done", "order_delivered"}
    for source in Invitation.objects.values_list("source", flat=True):
        kind, pk = source.split(":")
        if kind == "service.case":
            assert Case.objects.filter(pk=pk, state="closed", wants_reply=True).exists()
        elif kind == "service.visit":
            assert Visit.objects.filter(pk=pk, state__in=("done", "confirmed")).exists()
        else:
            assert Order.objects.filter(pk=pk, state="delivered").exists()
    # Plausible figures: NPS around +20, CSAT around 4, RATER dimensions apart, a year of months.
    nps = [r.nps for r in responses if r.nps is not None]
    score = 100 * (sum(n >= 9 for n in nps) - sum(n <= 6 for n in nps)) / len(nps)
    assert -10 < score < 60
    csat = sum(r.csat for r in responses if r.csat) / len(responses)
    assert 3.6 < csat < 4.7
    assert 0.2 < len(responses) / Invitation.objects.count() < 0.55
    assert len({timezone.localtime(r.submitted_at).strftime("%Y-%m") for r in responses}) >= 10
    assert Answer.objects.filter(score__isnull=True).exclude(text="").exists()


def test_the_public_forms_are_served(demo: dict[str, Any]) -> None:
    default = FeedbackForm.objects.get(is_default=True)
    assert default.slug == "kefu" and default.responder.username == "service"
    client = Client()
    page = client.get("/feedback/")
    assert page.status_code == 200 and default.title in page.content.decode()
    for form in FeedbackForm.objects.filter(active=True):
        assert client.get(f"/feedback/{form.slug}/").status_code == 200, form.slug
    assert Case.objects.filter(form=default, channel="web", received_by__username="service").exists()
    assert Case.objects.filter(form__slug="jingxiaoshang", kind="ticket").exists()


def test_the_named_people_have_their_screens(demo: dict[str, Any]) -> None:
    end = end_of_history()
    service, manager, sales = (User.objects.get(username=u) for u in ("service", "servicemgr", "sales"))
    team = Team.objects.get(name="客服一组")
    assert team.leader == manager and {"service", "service2"} <= set(team.members.values_list("username", flat=True))
    mine = case_scope(service).filter(owner=service, state__in=Case.OPEN_STATES)
    assert Handover.objects.filter(to_user=service, state="offered", case__in=case_scope(service)).exists()
    assert mine.filter(escalation_level=2).exists()
    assert mine.filter(review_state="pending").exists()
    assert mine.filter(reopen_count__gt=0).exists()
    assert mine.filter(account__isnull=True).exists()
    assert mine.filter(state="new").exists()
    coming = Visit.objects.filter(technician=service, state="scheduled", scheduled_start__gte=end)
    assert coming.count() >= 3
    assert all(calendar.is_working_day(timezone.localdate(v.scheduled_start)) for v in coming)
    assert Visit.objects.filter(technician=service, state="confirmed").exists()
    # The service manager sees the unmatched cases; the manager reviews; the salesperson reads his customers'.
    unmatched = Case.objects.filter(account__isnull=True, department=manager.department)
    assert case_scope(manager).filter(pk__in=unmatched).count() == unmatched.count()
    assert not case_scope(sales).filter(account__isnull=True).exclude(owner=sales).exists()
    assert case_scope(sales).filter(received_by=sales, account__owner=sales).exclude(owner=sales).exists()
    assert Case.objects.filter(owner=manager, state__in=Case.OPEN_STATES).exists()
    # A shipped improvement with its suggestions, their senders told by e-mail.
    shipped = Improvement.objects.get(title="伺服驱动器报警代码显示中文说明")
    assert shipped.state == "shipped" and shipped.release_note
    assert shipped.cases.filter(kind="suggestion").count() >= 3
    assert ImprovementMail.objects.filter(improvement=shipped).exists()
    assert CaseEvent.objects.filter(case__improvement=shipped, type="improvement").count() >= 6


def test_the_build_matches_a_fresh_draw(demo: dict[str, Any]) -> None:
    drawn_grades()  # the build drew its cases with these
    world = service_demo.World.load("S", DEFAULT_SEED, NOW)
    service_demo.ensure_improvements(world)
    times = world.received_times()
    drafts = [service_demo.draw_case(world, i, times[i]) for i in range(25)]
    service_demo.fill_batch(world, drafts)
    written = list(Case.objects.order_by("id").values_list(
        "code", "title", "state", "received_at", "closed_at", "owner_id", "account_id")[:25])
    stories = [service_demo.tell(world, d, row[0]) for d, row in zip(drafts, written, strict=True)]
    drawn = [tuple(service_demo.case_row(s)[k] for k in ("code", "title", "state", "received_at", "closed_at",
                                                         "owner_id", "account_id")) for s in stories]
    assert drawn == written


def test_draws_depend_on_the_seed_only(demo: dict[str, Any]) -> None:
    def draw(seed: int) -> list[tuple[Any, ...]]:
        world = service_demo.World.load("S", seed, NOW)
        times = world.received_times()
        return [(t, d.kind, d.channel, d.template) for t, d in
                ((times[i], service_demo.draw_case(world, i, times[i])) for i in range(40))]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


def test_a_second_build_changes_nothing(demo: dict[str, Any]) -> None:
    def counts() -> tuple[int, ...]:
        return (Case.objects.count(), CaseEvent.objects.count(), Visit.objects.count(), Invitation.objects.count(),
                Response.objects.count(), FeedbackForm.objects.count(), Improvement.objects.count())

    before = counts()
    assert service_demo.build_service(size="S", seed=DEFAULT_SEED, now=NOW) is False
    assert loyalty_demo.build_loyalty(size="S", seed=DEFAULT_SEED, now=NOW) is False
    assert build_demo("S", now=NOW)["created"] is False
    assert counts() == before
    assert CodeSequence.objects.get(name="case").value == Case.objects.count()
