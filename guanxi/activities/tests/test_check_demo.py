"""The demo company's contact history: volumes, consistency, the named salespeople's day,
determinism and resuming — what the business check and the benchmarks B4/B5 run on."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from conftest import drawn_grades, module_data, settled
from guanxi import demo
from guanxi.activities.models import CadenceRule, CarePlan, CostChange, FollowUp, Interaction, Project, Support
from guanxi.core.models import CodeSequence
from guanxi.customers.models import Account

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # noon in Shanghai, as in core/tests/test_demo.py
# Marked for the database so pytest-django runs these with the other database tests, before
# the transactional ones whose flush empties the tables the migrations seed.
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def built(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    """Built once for the module (rolled back at its end); each test runs in its own transaction."""
    with module_data(django_db_blocker):
        yield settled(demo.build_demo("S", now=NOW))


def snapshot(leave_out: set[int] | frozenset[int] = frozenset()) -> list[tuple[Any, ...]]:
    """The history rows, those of the accounts ``leave_out`` left out (with their last contact date)."""
    people = Interaction.their_people.through.objects
    return [
        *Interaction.all_objects.exclude(account_id__in=leave_out).order_by("pk").values_list(
            "pk", "account_id", "owner_id", "kind", "purpose", "occurred_at", "summary", "outcome", "agreements"),
        *people.exclude(interaction__account_id__in=leave_out).order_by("interaction_id", "contact_id").values_list(
            "interaction_id", "contact_id"),
        *FollowUp.all_objects.exclude(account_id__in=leave_out).order_by("account_id", "due_at", "title").values_list(
            "account_id", "owner_id", "title", "due_at", "state", "source", "interaction_id", "done_at"),
        *Account.all_objects.exclude(pk__in=leave_out).order_by("pk").values_list("pk", "last_activity_at"),
    ]


def test_volumes_follow_the_benchmark_sizes_and_the_history_is_consistent(built: dict[str, Any]) -> None:
    accounts = demo.SIZES["S"].accounts
    # BENCHMARKS.md: 20,000 interactions and 4,000 follow-ups at S (within a few per cent).
    assert abs(built["interactions"] - 10 * accounts) < 0.05 * 10 * accounts
    assert abs(built["followups"] - 2 * accounts) < 0.05 * 2 * accounts
    assert built["interactions"] == Interaction.objects.count()
    assert set(CadenceRule.objects.values_list("grade", "urgency", "interval_days")) == {
        (g, u, d) for g, u, d, _t in demo.CADENCE_RULES}
    anchor = datetime(2026, 11, 23, tzinfo=timezone.get_default_timezone())
    # Owned by the account's owner, never after the history's end (bar the hand-written day).
    assert not Interaction.objects.exclude(owner=F("account__owner")).exclude(account__owner=None).exists()
    assert not Interaction.objects.filter(occurred_at__gte=anchor).exclude(
        pk__in=Interaction.objects.filter(account__owner__username__in=["sales", "sales2"])).exists()
    assert not Interaction.objects.filter(occurred_at__lt=F("account__created_at")).exists()
    span = Interaction.objects.filter(occurred_at__lt=anchor).order_by("occurred_at")
    first = span.values_list("occurred_at", flat=True).first()
    assert first is not None and (anchor - first).days > 2 * 365  # two to three years of history
    kinds = dict(Interaction.objects.values_list("kind").annotate(n=Count("id")))
    assert set(kinds) == set(Interaction.Kind.values) and kinds["call"] > kinds["fax"]
    assert set(Interaction.objects.values_list("purpose", flat=True).distinct()) == set(Interaction.Purpose.values)
    # Chinese summaries that name the people present when someone was.
    visit = Interaction.objects.filter(kind="visit", their_people__isnull=False).select_related("account").first()
    assert visit is not None and visit.their_people.first().name in visit.summary
    # The last contact date is the newest interaction's.
    wrong = (Account.objects.exclude(owner=None).annotate(newest=Max("interactions__occurred_at"))
             .exclude(newest=None).exclude(last_activity_at=F("newest")))
    assert not wrong.exists()
    # One open cadence follow-up per owned account, some of them overdue (already notified
    # when due before yesterday), none for the pool.
    open_cadence = FollowUp.objects.filter(state="open", source="cadence")
    assert open_cadence.count() == Account.objects.exclude(owner=None).count()
    assert not FollowUp.objects.filter(state="open", account__owner=None).exists()
    overdue = open_cadence.filter(due_at__lt=anchor)
    assert 0.05 * open_cadence.count() < overdue.count() < 0.35 * open_cadence.count()
    assert not overdue.filter(due_at__lt=anchor - timedelta(days=2), overdue_notified_at=None).exists()
    # Done follow-ups: done by their owner at a contact, some of them late.
    done = FollowUp.objects.filter(state="done")
    assert done.count() > 0.5 * accounts and not done.filter(Q(done_at=None) | Q(done_by=None)).exists()
    assert done.filter(done_at__gt=F("due_at")).exists() and done.filter(done_at__lte=F("due_at")).exists()


def test_the_named_salespeople_have_a_realistic_day(built: dict[str, Any]) -> None:
    today = timezone.localdate(NOW)
    mine = FollowUp.objects.filter(owner__username="sales", state="open")
    assert mine.filter(due_at__date=today).count() >= 2  # today's on the desk
    assert mine.filter(due_at__lt=NOW).exists()  # and overdue ones
    assert mine.filter(due_at__gt=NOW + timedelta(days=1)).exists()  # and coming up
    visit = Interaction.objects.get(owner__username="sales", subject="年度采购框架协议洽谈")
    assert visit.their_people.count() == 2 and visit.our_people.filter(username="manager").exists()
    assert len(visit.agreements.splitlines()) == 3
    quote = FollowUp.objects.get(interaction=visit, title="发送正式报价单")
    assert quote.state == "done" and quote.outcome and quote.done_at < NOW
    assert Interaction.objects.filter(owner__username="sales", purpose="care", gift="茶叶礼盒").exists()
    assert CarePlan.objects.filter(owner__username="sales", occasion="birthday", date__gte=today).exists()
    assert CarePlan.objects.filter(owner__username="sales", occasion="spring_festival").exists()
    assert Support.objects.filter(owner__username="sales").count() == 2
    project = Project.objects.get(owner__username="sales")
    assert list(project.phases.values_list("state", flat=True)) == ["done", "active", "planned"]
    assert CostChange.objects.get(phase__project=project).state == "pending"
    assert FollowUp.objects.filter(owner__username="sales2", state="open", due_at__date=today).exists()


def test_a_second_build_writes_nothing_and_an_interrupted_one_resumes_identically(
        built: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    again = demo.build_demo("S", now=NOW)
    assert again["created"] is False and again["interactions"] == built["interactions"]
    # The build wrote each batch's history with its accounts; the separate pass (for a company
    # built before it had a history) writes the very same rows. The named salespeople's
    # hand-written day (written through the services, at the real time) is left out.
    showcase = set(Interaction.all_objects.filter(created_at__gt=NOW).values_list("account_id", flat=True)) | set(
        FollowUp.all_objects.filter(updated_at__gt=NOW).values_list("account_id", flat=True))
    assert 0 < len(showcase) < 20
    with_accounts = snapshot(leave_out=showcase)
    drawn_grades()  # the separate pass draws with the grades it finds

    def wipe() -> None:
        Interaction.their_people.through.objects.all().delete()
        FollowUp.all_objects.all().delete()
        Interaction.all_objects.all().delete()
        CodeSequence.objects.filter(name=demo.ACTIVITY_MARKER).update(value=0)
        Account.all_objects.update(last_activity_at=None)

    wipe()
    demo._insert_activities(demo.DEFAULT_SEED, NOW, None)
    assert snapshot(leave_out=showcase) == with_accounts
    whole = snapshot()
    wipe()
    # Interrupted after three committed batches of 300 accounts, then run again.
    monkeypatch.setattr(demo, "ACTIVITY_BATCH", 300)
    demo._insert_activities(demo.DEFAULT_SEED, NOW, None, max_batches=3)
    assert CodeSequence.objects.get(name=demo.ACTIVITY_MARKER).value == Account.all_objects.order_by(
        "pk").values_list("pk", flat=True)[899]
    assert 0 < Interaction.all_objects.count() < len(whole)
    demo._insert_activities(demo.DEFAULT_SEED, NOW, None)
    assert snapshot() == whole


def test_an_accounts_history_is_a_pure_function_of_its_seed() -> None:
    tz = timezone.get_default_timezone()
    end = datetime(2026, 11, 23, tzinfo=tz)
    args = {"created_at": end - timedelta(days=400), "end": end, "grade": "A", "urgency": "urgent", "owned": True,
            "contacts": [(1, "王伟"), (2, "李娜")]}
    first = demo.account_history(random.Random(7), **args)
    assert first == demo.account_history(random.Random(7), **args)
    assert first != demo.account_history(random.Random(8), **args)
    # Weekly cadence over 400 days: about 400 / (7 × GAP_FACTOR) contacts, in order, in the past.
    times = [row[2] for row in first.interactions]
    assert times == sorted(times) and all(args["created_at"] <= t < end for t in times)
    assert 0.6 * 400 / (7 * demo.GAP_FACTOR) < len(times) < 1.4 * 400 / (7 * demo.GAP_FACTOR)
    (cadence,) = [f for f in first.followups if f[2] == "open" and f[3] == "cadence"]
    assert cadence[0] == "重点客户（紧急）：每周联系"
    pool = demo.account_history(random.Random(7), **{**args, "owned": False})
    assert not [f for f in pool.followups if f[2] == "open"]
    assert demo.cadence_days("A", "soon") == 7 and demo.cadence_days("A", "slow") == 14
    assert demo.cadence_days("B", "urgent") == 21 and demo.cadence_days("", "") == 30
