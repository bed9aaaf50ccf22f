"""Interactions, follow-ups and cadence rules through their services (R3.1, R3.2)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.utils import timezone, translation

from guanxi.activities import services
from guanxi.activities.models import CadenceRule, FollowUp, Interaction
from guanxi.activities.selectors import followup_scope, interaction_scope, my_open_followups
from guanxi.core.errors import Conflict, Forbidden, Invalid
from guanxi.core.models import AuditEvent
from guanxi.customers.models import Account, Contact
from guanxi.customers.selectors.timeline import account_timeline

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def rules(db):
    default = CadenceRule.objects.create(interval_days=30)
    a = CadenceRule.objects.create(grade="A", interval_days=14)
    a_urgent = CadenceRule.objects.create(grade="A", urgency="urgent", interval_days=7)
    return default, a, a_urgent


def test_logging_a_visit_touches_the_account_and_plans_the_cadence_follow_up(org, account_factory, rules):
    account = account_factory(org.salesperson, grade="A", urgency="urgent")
    person = Contact.objects.create(account=account, name="李经理")
    when = timezone.now() - dt.timedelta(hours=2)
    visit = services.interaction_create(actor=org.salesperson, account=account, kind="visit", purpose="deal",
                                        summary="谈了明年的框架协议", occurred_at=when, their_people=[person.pk])
    account.refresh_from_db()
    assert account.last_activity_at == when
    assert list(visit.their_people.all()) == [person]
    followup = FollowUp.objects.get(account=account, state="open")
    assert followup.source == "cadence" and followup.owner == org.salesperson
    assert followup.due_at == when + dt.timedelta(days=7)  # A × urgent, the most specific rule
    assert AuditEvent.objects.filter(action="create", object_id=str(visit.pk)).exists()
    # A second contact moves the same follow-up on instead of adding another.
    services.interaction_create(actor=org.salesperson, account=account, kind="call", summary="电话确认")
    assert FollowUp.objects.filter(account=account, state="open").count() == 1
    assert FollowUp.objects.get(account=account, state="open").due_at > when + dt.timedelta(days=7)
    kinds = [item.kind for item in account_timeline(org.salesperson, account)]
    assert kinds.count("interaction") == 2


def test_the_default_rule_covers_ungraded_accounts_and_no_rule_plans_nothing(org, account_factory):
    account = account_factory(org.salesperson)
    services.interaction_create(actor=org.salesperson, account=account, kind="call", summary="first call")
    assert not FollowUp.objects.filter(account=account).exists()
    CadenceRule.objects.create(interval_days=30)
    services.interaction_create(actor=org.salesperson, account=account, kind="call", summary="second call")
    assert FollowUp.objects.get(account=account).due_at.date() == (timezone.now() + dt.timedelta(days=30)).date()


def test_completing_the_last_open_follow_up_plans_the_next_one(org, account_factory, rules):
    account = account_factory(org.salesperson, grade="A")
    first = services.followup_create(actor=org.salesperson, account=account, title="送样品",
                                     due_at=timezone.now() + dt.timedelta(days=1))
    assert first.source == "manual"
    services.followup_complete(actor=org.salesperson, followup=first, outcome="样品已送达", expected_version=1)
    first.refresh_from_db()
    assert first.state == "done" and first.done_by == org.salesperson
    nxt = FollowUp.objects.get(account=account, state="open")
    assert nxt.source == "cadence"
    assert (nxt.due_at - timezone.now()).days in (13, 14)  # grade A: every 14 days
    with pytest.raises(Invalid):
        services.followup_complete(actor=org.salesperson, followup=first)


def test_an_open_manual_step_is_left_alone_by_the_cadence(org, account_factory, rules):
    account = account_factory(org.salesperson, grade="B")
    services.interaction_create(actor=org.salesperson, account=account, kind="visit", summary="拜访",
                                next_step={"title": "寄报价", "due_at": timezone.now() + dt.timedelta(days=2)})
    open_ones = FollowUp.objects.filter(account=account, state="open")
    assert [f.source for f in open_ones] == ["manual"]
    assert open_ones[0].interaction is not None


def test_reschedule_and_reassign_check_version_and_who_can_see(org, account_factory, rules):
    account = account_factory(org.salesperson)
    followup = services.followup_create(actor=org.salesperson, account=account, title="回访",
                                        due_at=timezone.now() + dt.timedelta(days=1))
    later = timezone.now() + dt.timedelta(days=5)
    services.followup_reschedule(actor=org.salesperson, followup=followup, due_at=later, expected_version=1)
    assert followup.due_at == later and followup.version == 2
    with pytest.raises(Conflict):
        services.followup_reschedule(actor=org.salesperson, followup=followup, due_at=later, expected_version=1)
    with pytest.raises(Invalid) as exc:
        services.followup_reassign(actor=org.salesperson, followup=followup, owner=org.outsider, expected_version=2)
    assert "owner" in exc.value.errors
    services.followup_reassign(actor=org.manager, followup=followup, owner=org.manager, expected_version=2)
    assert followup.owner == org.manager
    assert followup in list(my_open_followups(org.manager, until=later + dt.timedelta(days=1)))


def test_bad_input_is_refused_with_messages_and_changes_nothing(org, account_factory):
    account = account_factory(org.salesperson)
    other = account_factory(org.outsider)
    stranger = Contact.objects.create(account=other, name="外人")
    with pytest.raises(Invalid) as exc:
        services.interaction_create(actor=org.salesperson, account=account, kind="telepathy", summary="",
                                    occurred_at=timezone.now() + dt.timedelta(days=3))
    assert {"kind", "summary", "occurred_at"} <= set(exc.value.errors)
    with pytest.raises(Invalid) as exc:
        services.interaction_create(actor=org.salesperson, account=account, kind="call", summary="x",
                                    their_people=[stranger.pk])
    assert "their_people" in exc.value.errors
    with pytest.raises(Invalid):
        services.followup_create(actor=org.salesperson, account=account, title="", due_at="not a date")
    assert not Interaction.objects.exists() and not FollowUp.objects.exists()


def test_rights_and_scope(org, account_factory):
    account = account_factory(org.salesperson)
    with pytest.raises(Forbidden):
        services.interaction_create(actor=org.marketing, account=account, kind="call", summary="x")
    services.interaction_create(actor=org.service, account=account, kind="call", summary="售后回访")
    interaction = Interaction.objects.get()
    assert interaction in interaction_scope(org.salesperson)
    assert interaction in interaction_scope(org.manager)
    assert interaction not in interaction_scope(org.outsider)
    assert interaction not in interaction_scope(org.south_manager)
    followup = services.followup_create(actor=org.salesperson, account=account, title="x",
                                        due_at=timezone.now())
    assert followup not in followup_scope(org.outsider)
    assert followup in followup_scope(org.gm)


def test_cadence_fill_plans_every_owned_account_without_an_open_follow_up(org, account_factory, rules):
    ungraded = account_factory(org.salesperson)
    graded = account_factory(org.teammate, grade="A")
    pooled = account_factory(None)
    busy = account_factory(org.salesperson)
    services.followup_create(actor=org.salesperson, account=busy, title="x", due_at=timezone.now())
    Account.objects.filter(pk=graded.pk).update(last_activity_at=timezone.now() - dt.timedelta(days=100))
    assert services.cadence_fill() == 2
    assert not FollowUp.objects.filter(account=pooled).exists()
    assert FollowUp.objects.filter(account=busy).count() == 1
    # Long idle: due today, not in the past (no flood of overdue notices).
    assert FollowUp.objects.get(account=graded).due_at.date() == timezone.localdate()
    assert FollowUp.objects.get(account=ungraded).owner == org.salesperson
    assert services.cadence_fill() == 0  # idempotent


def test_cadence_rules_are_configuration(org):
    with pytest.raises(Forbidden):
        services.cadence_rule_create(actor=org.manager, interval_days=7)
    rule = services.cadence_rule_create(actor=org.admin, grade="A", interval_days=7)
    with pytest.raises(Invalid):
        services.cadence_rule_create(actor=org.admin, grade="A", interval_days=9)
    with pytest.raises(Invalid):
        services.cadence_rule_update(actor=org.admin, rule=rule, changes={"interval_days": 0}, expected_version=1)
    services.cadence_rule_update(actor=org.admin, rule=rule, changes={"interval_days": 10}, expected_version=1)
    assert CadenceRule.objects.get().interval_days == 10
