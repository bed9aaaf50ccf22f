"""Distributor rebates (R4.5): the arithmetic by hand-computed cases (tiers, target, points,
deductions, the floor at zero), the volume counted, computing and recomputing drafts,
confirming, and deductions (the service the channels app calls)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation

from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.models import AuditEvent
from guanxi.customers.models import Grade
from guanxi.sales.models import Contract, Order, RebateDeduction, RebateRule, RebateStatement
from guanxi.sales.services import rebates as services
from guanxi.sales.tests.rebates_targets_helpers import TIERS, contract, order, payment, rule

pytestmark = pytest.mark.django_db
D = Decimal
YEAR = 2025


@pytest.fixture(autouse=True)
def _english() -> Any:
    """The messages are asserted in English (the default language is zh-hans)."""
    with translation.override("en"):
        yield



def day(month: int, d: int = 15, year: int = YEAR) -> dt.date:
    return dt.date(year, month, d)


@pytest.fixture
def dealer(org: Any, account_factory: Any) -> Any:
    return account_factory(org.salesperson, name="杭州顺达贸易有限公司", is_distributor=True)


def received(account: Any, owner: Any, *amounts: tuple[str, dt.date], rate: str = "1", currency: str = "CNY") -> Contract:
    deal = contract(account, owner, currency=currency, rate=rate)
    for amount, when in amounts:
        payment(deal, amount, when)
    return deal


def compute_one(actor: Any, account: Any, **kw: Any) -> RebateStatement:
    result = services.rebate_compute(actor=actor, year=YEAR, account=account, **kw)
    assert len(result.statements) == 1 and not result.skipped
    return result.statements[0]


# --- The arithmetic, by hand -----------------------------------------------------------------
def test_the_highest_tier_reached_applies_to_the_whole_volume_less_deductions(org: Any, dealer: Any) -> None:
    """1,234,567.89 received: tier 2 % (≥ 1 million) on all of it = 24,691.36; target 2.5 M
    not reached; 123.46 points; two deductions 5,000 + 1,000.50 and 20 points → net 18,690.86."""
    the_rule = rule(YEAR)
    received(dealer, org.salesperson, ("1000000", day(3)), ("234567.89", day(11)))
    services.rebate_deduct(actor=org.manager, account=dealer, year=YEAR, amount="5000", points="20",
                           reason="窜货到江苏", occurred_on=day(6))
    services.rebate_deduct(actor=org.manager, account=dealer, year=YEAR, amount="1000.50", reason="低价倾销",
                           occurred_on=day(8))
    statement = compute_one(org.manager, dealer)
    assert statement.rule == the_rule and statement.state == RebateStatement.State.DRAFT
    assert (statement.volume, statement.rate, statement.rebate, statement.points) == (
        D("1234567.89"), D("2.00"), D("24691.36"), D("123.46"))
    assert (statement.deductions, statement.points_deducted, statement.net) == (D("6000.50"), D("20.00"),
                                                                                D("18690.86"))
    d = statement.details
    assert [t["applied"] for t in d["tiers"]] == [False, True, False]
    assert [t["reached"] for t in d["tiers"]] == [True, True, False]
    assert d["target_reached"] is False and d["net_points"] == "103.46" and d["floored"] is False
    assert d["count"] == 2 and [x["reason"] for x in d["deductions"]] == ["窜货到江苏", "低价倾销"]


def test_a_tier_starts_at_its_amount_and_the_target_adds_its_rate(org: Any, dealer: Any) -> None:
    """Exactly 3,000,000: tier 3 % reached (inclusive) and target 2.5 M reached (+0.5 %) →
    3.5 % = 105,000.00 and 300 points."""
    rule(YEAR)
    received(dealer, org.salesperson, ("3000000", day(12, 31)))
    statement = compute_one(org.manager, dealer)
    assert (statement.rate, statement.rebate, statement.points, statement.net) == (
        D("3.50"), D("105000.00"), D("300.00"), D("105000.00"))
    assert statement.details["target_reached"] is True and statement.details["tier_rate"] == "3.00"


def test_just_below_a_tier_and_rounding_half_up(org: Any, dealer: Any) -> None:
    """999,999.99 at 1 % = 9,999.9999 → 10,000.00; points 99.9999999 → 100.00."""
    rule(YEAR)
    received(dealer, org.salesperson, ("999999.99", day(5)))
    statement = compute_one(org.manager, dealer)
    assert (statement.rate, statement.rebate, statement.points) == (D("1.00"), D("10000.00"), D("100.00"))


def test_deductions_above_the_rebate_leave_a_net_of_zero_and_say_so(org: Any, dealer: Any) -> None:
    """100,000 at 1 % = 1,000; a 1,500 deduction and 50 points against 10 → both nets 0."""
    rule(YEAR)
    received(dealer, org.salesperson, ("100000", day(4)))
    services.rebate_deduct(actor=org.manager, account=dealer, year=YEAR, amount="1500", points="50",
                           reason="跨区销售")
    statement = compute_one(org.manager, dealer)
    assert (statement.rebate, statement.deductions, statement.net) == (D("1000.00"), D("1500.00"), D("0.00"))
    assert statement.details["floored"] is True and statement.details["shortfall"] == "500.00"
    assert statement.details["points_floored"] is True and statement.details["net_points"] == "0.00"


def test_volume_is_the_years_live_receipts_in_cny(org: Any, dealer: Any) -> None:
    """Receipts of other years, deleted receipts and receipts of deleted contracts do not count;
    a USD contract counts at its rate (10,000 × 7.1 = 71,000)."""
    rule(YEAR)
    received(dealer, org.teammate, ("10000", day(7)), rate="7.1", currency="USD")
    deal = received(dealer, org.salesperson, ("200000", day(1, 1)), ("50000", day(12, 31, YEAR - 1)),
                    ("70000", day(1, 1, YEAR + 1)))
    gone = payment(deal, "99999", day(6))
    gone.deleted_at = gone.created_at
    gone.save()
    dead = received(dealer, org.salesperson, ("88888", day(6)))
    Contract.all_objects.filter(pk=dead.pk).update(deleted_at=dead.created_at)
    statement = compute_one(org.manager, dealer)
    assert statement.volume == D("271000.00") and statement.details["count"] == 2


def test_the_orders_basis_counts_confirmed_shipped_and_delivered_orders_of_the_year(org: Any, dealer: Any) -> None:
    rule(YEAR, basis=RebateRule.Basis.ORDERED, tiers=[{"from": "0", "rate": "5"}], target=None, target_rate=0)
    for state in (Order.State.CONFIRMED, Order.State.SHIPPED, Order.State.DELIVERED):
        order(dealer, org.salesperson, "10000", day(2), state=state)
    order(dealer, org.salesperson, "77777", day(2), state=Order.State.DRAFT)
    order(dealer, org.salesperson, "66666", day(2), state=Order.State.CANCELLED)
    order(dealer, org.salesperson, "1000", day(3), rate="7.2", currency="USD")
    order(dealer, org.salesperson, "55555", day(1, 1, YEAR + 1))
    statement = compute_one(org.manager, dealer)
    assert statement.volume == D("37200.00") and statement.rebate == D("1860.00")


# --- Computing ---------------------------------------------------------------------------------
def test_computing_again_replaces_the_draft(org: Any, dealer: Any) -> None:
    rule(YEAR)
    deal = received(dealer, org.salesperson, ("100000", day(3)))
    first = compute_one(org.salesperson, dealer)
    payment(deal, "1000000", day(9))
    again = compute_one(org.salesperson, dealer)
    assert again.pk == first.pk and again.version == first.version + 1
    assert again.volume == D("1100000.00") and again.rate == D("2.00")
    assert RebateStatement.objects.filter(account=dealer, year=YEAR).count() == 1
    assert AuditEvent.objects.filter(object_id=str(first.pk), action="update").exists()


def test_a_rule_for_the_grade_wins_and_the_others_are_skipped_with_a_reason(org: Any, account_factory: Any) -> None:
    Grade.objects.get_or_create(code="A", defaults={"name": "A", "min_score": 80})
    general = rule(YEAR, name="通用")
    graded = rule(YEAR, name="A 级经销商", grade="A", tiers=[{"from": "0", "rate": "4"}], target=None,
                  target_rate=0)
    a_dealer = account_factory(org.salesperson, is_distributor=True)
    a_dealer.grade = "A"
    a_dealer.save()
    other = account_factory(org.salesperson, is_distributor=True)
    not_a_dealer = account_factory(org.salesperson)
    rule(YEAR + 1, name="明年")
    result = services.rebate_compute(actor=org.manager, year=YEAR)
    by_account = {s.account_id: s for s in result.statements}
    assert by_account[a_dealer.pk].rule == graded and by_account[other.pk].rule == general
    assert not_a_dealer.pk not in by_account and not result.skipped


def test_two_rules_of_the_same_standing_are_ambiguous(org: Any, dealer: Any, account_factory: Any) -> None:
    one, _two = rule(YEAR, name="甲"), rule(YEAR, name="乙")
    with pytest.raises(Invalid) as exc:
        services.rebate_compute(actor=org.manager, year=YEAR, account=dealer)
    assert "choose one" in str(exc.value.errors["rule"][0])
    assert not RebateStatement.objects.exists()
    result = services.rebate_compute(actor=org.manager, year=YEAR)
    assert [a.pk for a, _why in result.skipped] == [dealer.pk] and not result.statements
    assert compute_one(org.manager, dealer, rule=one).rule == one


def test_a_rule_for_another_grade_or_year_is_refused(org: Any, dealer: Any) -> None:
    Grade.objects.get_or_create(code="B", defaults={"name": "B", "min_score": 60})
    with pytest.raises(Invalid) as exc:
        services.rebate_compute(actor=org.manager, year=YEAR, account=dealer, rule=rule(YEAR, grade="B"))
    assert "account" in exc.value.errors
    with pytest.raises(Invalid):
        services.rebate_compute(actor=org.manager, year=YEAR, account=dealer, rule=rule(YEAR - 1))
    with pytest.raises(Invalid):
        services.rebate_compute(actor=org.manager, year="2o25", account=dealer)
    assert not RebateStatement.objects.exists()


def test_a_salesperson_computes_only_the_distributors_they_see(org: Any, dealer: Any, account_factory: Any) -> None:
    rule(YEAR)
    theirs = account_factory(org.teammate, is_distributor=True)
    result = services.rebate_compute(actor=org.salesperson, year=YEAR)
    assert [s.account_id for s in result.statements] == [dealer.pk]
    with pytest.raises(NotFound):
        services.rebate_compute(actor=org.salesperson, year=YEAR, account=theirs)
    with pytest.raises(Forbidden):
        services.rebate_compute(actor=org.service, year=YEAR)


def test_a_non_distributor_is_refused(org: Any, account_factory: Any) -> None:
    rule(YEAR)
    with pytest.raises(Invalid):
        services.rebate_compute(actor=org.manager, year=YEAR, account=account_factory(org.salesperson))


# --- Confirming --------------------------------------------------------------------------------
def test_a_manager_confirms_and_the_statement_is_frozen(org: Any, dealer: Any) -> None:
    rule(YEAR)
    deal = received(dealer, org.salesperson, ("100000", day(3)))
    draft = compute_one(org.salesperson, dealer)
    with pytest.raises(Forbidden):
        services.rebate_confirm(actor=org.salesperson, statement=draft, expected_version=draft.version)
    with pytest.raises(Conflict):
        services.rebate_confirm(actor=org.manager, statement=draft, expected_version=draft.version - 1)
    confirmed = services.rebate_confirm(actor=org.manager, statement=draft, expected_version=draft.version)
    assert confirmed.state == RebateStatement.State.CONFIRMED and confirmed.confirmed_by == org.manager
    payment(deal, "5000000", day(10))
    result = services.rebate_compute(actor=org.manager, year=YEAR)
    assert not result.statements and result.skipped[0][0] == dealer
    with pytest.raises(Invalid):
        compute_one(org.manager, dealer)
    confirmed.refresh_from_db()
    assert confirmed.volume == D("100000.00")
    with pytest.raises(Invalid):
        services.rebate_confirm(actor=org.manager, statement=confirmed)
    with pytest.raises(Invalid) as exc:
        services.rebate_deduct(actor=org.manager, account=dealer, year=YEAR, amount="10", reason="迟到的处罚")
    assert "year" in exc.value.errors
    assert AuditEvent.objects.filter(object_id=str(draft.pk), action="approve").count() == 1


def test_figures_that_moved_since_computing_are_not_confirmed(org: Any, dealer: Any) -> None:
    rule(YEAR)
    deal = received(dealer, org.salesperson, ("100000", day(3)))
    draft = compute_one(org.manager, dealer)
    payment(deal, "1", day(4))
    with pytest.raises(Invalid) as exc:
        services.rebate_confirm(actor=org.manager, statement=draft, expected_version=draft.version)
    assert "compute it again" in exc.value.message
    draft.refresh_from_db()
    assert draft.state == RebateStatement.State.DRAFT


# --- Deductions ----------------------------------------------------------------------------------
def test_a_deduction_needs_a_reason_and_something_to_deduct(org: Any, dealer: Any, account_factory: Any) -> None:
    with pytest.raises(Invalid) as exc:
        services.rebate_deduct(actor=org.manager, account=dealer, year=YEAR, amount="0", points="0", reason=" ")
    assert {"reason", "amount"} <= set(exc.value.errors)
    with pytest.raises(Invalid) as exc:
        services.rebate_deduct(actor=org.manager, account=dealer, year=YEAR, amount="-5", reason="x")
    assert "amount" in exc.value.errors
    with pytest.raises(Invalid) as exc:
        services.rebate_deduct(actor=org.manager, account=account_factory(org.salesperson), year=YEAR, amount="5",
                               reason="不是经销商")
    assert "account" in exc.value.errors
    with pytest.raises(Forbidden):
        services.rebate_deduct(actor=org.salesperson, account=dealer, year=YEAR, amount="5", reason="x")
    with pytest.raises(NotFound):
        services.rebate_deduct(actor=org.south_manager, account=dealer, year=YEAR, amount="5", reason="x")
    assert not RebateDeduction.all_objects.exists()


def test_deductions_are_changed_and_deleted_to_the_recycle_bin(org: Any, dealer: Any) -> None:
    deduction = services.rebate_deduct(actor=org.manager, account=dealer, year=YEAR, amount="300", reason="窜货",
                                       occurred_on="2025-05-06")
    assert deduction.occurred_on == dt.date(2025, 5, 6) and deduction.recorded_by == org.manager
    services.rebate_deduction_update(actor=org.manager, deduction=deduction, changes={"amount": "350"},
                                     expected_version=deduction.version)
    deduction.refresh_from_db()
    assert deduction.amount == D("350.00") and deduction.version == 2
    with pytest.raises(Conflict):
        services.rebate_deduction_update(actor=org.manager, deduction=deduction, changes={"points": "1"},
                                         expected_version=1)
    with pytest.raises(Invalid):
        services.rebate_deduction_update(actor=org.manager, deduction=deduction, changes={"year": 2030},
                                         expected_version=2)
    services.rebate_deduction_delete(actor=org.manager, deduction=deduction, expected_version=2)
    assert not RebateDeduction.objects.exists()
    assert RebateDeduction.all_objects.get().deleted_by == org.manager


# --- Rules -----------------------------------------------------------------------------------------
def test_rule_tiers_are_validated_ascending(org: Any) -> None:
    with pytest.raises(Invalid) as exc:
        services.rebate_rule_create(actor=org.manager, name="错", year=YEAR, tiers=[
            {"from": "1000000", "rate": "2"}, {"from": "500000", "rate": "1"}])
    assert "must start above" in exc.value.errors["tiers"][0]
    with pytest.raises(Invalid) as exc:
        services.rebate_rule_create(actor=org.manager, name="错", year=YEAR, tiers=[("0", "120")])
    assert "tiers" in exc.value.errors
    with pytest.raises(Invalid) as exc:
        services.rebate_rule_create(actor=org.manager, name="", year=YEAR, target_rate="1")
    assert {"name", "target"} <= set(exc.value.errors)
    with pytest.raises(Forbidden):
        services.rebate_rule_create(actor=org.salesperson, name="x", year=YEAR, tiers=TIERS)
    assert not RebateRule.objects.exists()
    made = services.rebate_rule_create(actor=org.manager, name="年度", year=YEAR,
                                       tiers=[("", ""), ("0", "1"), ("1,000,000", "2.5")], points_per_10k="2")
    assert made.tiers == [{"from": "0.00", "rate": "1.00"}, {"from": "1000000.00", "rate": "2.50"}]


def test_a_rule_with_statements_is_switched_off_not_deleted(org: Any, dealer: Any) -> None:
    used, spare = rule(YEAR), rule(YEAR - 1, name="旧")
    compute_one(org.manager, dealer)
    with pytest.raises(Invalid):
        services.rebate_rule_delete(actor=org.manager, rule=used)
    services.rebate_rule_update(actor=org.manager, rule=used, changes={"active": False}, expected_version=1)
    used.refresh_from_db()
    assert used.active is False and used.version == 2
    spare_pk = spare.pk
    services.rebate_rule_delete(actor=org.manager, rule=spare)
    assert not RebateRule.objects.filter(pk=spare_pk).exists()
    assert AuditEvent.objects.filter(action="delete", object_id=str(spare_pk)).exists()
