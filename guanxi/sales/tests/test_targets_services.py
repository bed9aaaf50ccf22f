"""Sales targets (R11.2): attainment of a person, a team and a department for each measure,
by hand; one holder only; overlapping periods refused; who may set whose targets."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from guanxi.core.errors import Conflict, Forbidden, Invalid
from guanxi.core.models import AuditEvent
from guanxi.customers.models import Account
from guanxi.customers.services import account_create
from guanxi.sales.models import Contract, Order, SalesTarget
from guanxi.sales.selectors.targets import Period, actual_by_owner, attach_actuals, target_scope
from guanxi.sales.services import targets as services
from guanxi.sales.tests.rebates_targets_helpers import contract, order, payment

pytestmark = pytest.mark.django_db
D = Decimal
MARCH = Period(dt.date(2025, 3, 1), dt.date(2025, 3, 31))


def march(d: int) -> dt.date:
    return dt.date(2025, 3, d)


def at(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(10)))


def target(actor: Any, metric: str = "orders", amount: str = "500000", start: str = "2025-03-01",
           end: str = "2025-03-31", **holder: Any) -> SalesTarget:
    return services.target_create(actor=actor, metric=metric, period_start=start, period_end=end, amount=amount,
                                  **holder)


@pytest.fixture
def book(org: Any, account_factory: Any) -> dict[str, Any]:
    """March 2025: the salesperson orders 300,000 + USD 10,000 × 7 (a draft, a cancelled and an
    April order do not count); the teammate 100,000; the Shanghai office 50,000."""
    mine = account_factory(org.salesperson)
    order(mine, org.salesperson, "300000", march(3))
    order(mine, org.salesperson, "10000", march(31), rate="7", currency="USD")
    order(mine, org.salesperson, "999999", march(4), state=Order.State.DRAFT)
    order(mine, org.salesperson, "888888", march(5), state=Order.State.CANCELLED)
    order(mine, org.salesperson, "777777", dt.date(2025, 4, 1))
    theirs = account_factory(org.teammate)
    order(theirs, org.teammate, "100000", march(10))
    order(account_factory(org.sub_sales), org.sub_sales, "50000", march(11))
    order(account_factory(org.outsider), org.outsider, "40000", march(12))
    return {"mine": mine, "theirs": theirs}


def test_a_persons_attainment_counts_their_orders_of_the_period_in_cny(org: Any, book: Any) -> None:
    goal = attach_actuals([target(org.manager, user=org.salesperson)])[0]
    assert goal.actual == D("370000.00") and goal.attainment == D("74.0")  # type: ignore[attr-defined]


def test_a_team_sums_its_members_and_a_department_its_subtree(org: Any, book: Any) -> None:
    team = target(org.manager, team=org.team, amount="1000000")
    east = target(org.gm, department=org.east, amount="1040000")
    attach_actuals([team, east])
    assert team.actual == D("470000.00") and team.attainment == D("47.0")  # type: ignore[attr-defined]
    assert east.actual == D("520000.00") and east.attainment == D("50.0")  # type: ignore[attr-defined]


def test_receipts_count_by_received_on_for_the_contracts_owner(org: Any, account_factory: Any) -> None:
    deal = contract(account_factory(org.teammate), org.salesperson, currency="USD", rate="7")
    payment(deal, "1000", march(1))
    payment(deal, "2000", march(31))
    payment(deal, "4000", dt.date(2025, 2, 28))
    assert actual_by_owner("receipts", MARCH, [org.salesperson.pk, org.teammate.pk]) == {
        org.salesperson.pk: D("21000.00")}


def test_contracts_count_when_signed_and_in_force(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    contract(account, org.salesperson, amount="200000", signed_on=march(2))
    contract(account, org.salesperson, amount="300000", signed_on=march(3), state=Contract.State.COMPLETED)
    contract(account, org.salesperson, amount="900000", signed_on=march(4), state=Contract.State.DRAFT)
    contract(account, org.salesperson, amount="800000", signed_on=march(5), state=Contract.State.TERMINATED)
    contract(account, org.salesperson, amount="700000", signed_on=None)
    assert actual_by_owner("contracts", MARCH, [org.salesperson.pk]) == {org.salesperson.pk: D("500000.00")}


def test_new_customers_count_for_whom_they_were_created(org: Any, account_factory: Any) -> None:
    """The manager creates one for the salesperson (the ownership history says so), the teammate
    one for herself; one made without history counts for its creator; one of February does
    not count; nor does one in the recycle bin."""
    for_sales = account_create(actor=org.manager, name="苏州新客户有限公司", owner=org.salesperson)
    own = account_create(actor=org.teammate, name="无锡新客户有限公司")
    loose = account_factory(org.teammate, name="常州新客户有限公司", created_by=org.salesperson)
    old = account_create(actor=org.salesperson, name="老客户有限公司")
    gone = account_create(actor=org.salesperson, name="已删除客户有限公司")
    Account.all_objects.filter(pk__in=[for_sales.pk, own.pk, loose.pk, gone.pk]).update(created_at=at(march(15)))
    Account.all_objects.filter(pk=old.pk).update(created_at=at(dt.date(2025, 2, 20)))
    Account.all_objects.filter(pk=gone.pk).update(deleted_at=timezone.now())
    assert actual_by_owner("new_accounts", MARCH, [org.salesperson.pk, org.teammate.pk]) == {
        org.salesperson.pk: D(2), org.teammate.pk: D(1)}
    team = attach_actuals([target(org.manager, "new_accounts", "4", team=org.team)])[0]
    assert team.actual == D(3) and team.attainment == D("75.0")  # type: ignore[attr-defined]


def test_one_holder_only(org: Any) -> None:
    with pytest.raises(Invalid) as exc:
        target(org.manager)
    assert "holder" in exc.value.errors
    with pytest.raises(Invalid):
        target(org.manager, user=org.salesperson, team=org.team)
    assert not SalesTarget.objects.exists()


def test_overlapping_targets_of_the_same_holder_and_measure_are_refused(org: Any) -> None:
    target(org.manager, user=org.salesperson)
    with pytest.raises(Invalid) as exc:
        target(org.manager, user=org.salesperson, start="2025-03-31", end="2025-04-30")
    assert "may not overlap" in exc.value.errors["period_start"][0]
    target(org.manager, user=org.salesperson, start="2025-04-01", end="2025-04-30")
    target(org.manager, "receipts", user=org.salesperson)
    target(org.manager, user=org.teammate)
    target(org.manager, team=org.team)
    assert SalesTarget.objects.count() == 5


def test_bad_periods_and_amounts_are_refused_at_once(org: Any) -> None:
    with pytest.raises(Invalid) as exc:
        target(org.manager, amount="0", start="2025-03-31", end="2025-03-01", user=org.salesperson)
    assert {"amount", "period_end"} <= set(exc.value.errors)
    with pytest.raises(Invalid) as exc:
        target(org.manager, "new_accounts", amount="2.5", user=org.salesperson)
    assert "whole number" in exc.value.errors["amount"][0]
    with pytest.raises(Invalid):
        target(org.manager, start="2025-01-01", end="2026-03-01", user=org.salesperson)
    with pytest.raises(Invalid):
        target(org.manager, "profit", user=org.salesperson)
    assert not SalesTarget.objects.exists()


def test_who_sets_whose_targets(org: Any) -> None:
    with pytest.raises(Forbidden):
        target(org.salesperson, user=org.salesperson)
    for holder in ({"user": org.outsider}, {"user": org.manager}, {"department": org.east},
                   {"department": org.south}):
        with pytest.raises(Invalid) as exc:
            target(org.manager, **holder)
        assert "holder" in exc.value.errors
    target(org.manager, user=org.sub_sales)
    target(org.manager, department=org.east_sub)
    target(org.gm, user=org.gm)
    target(org.gm, department=org.east)
    assert SalesTarget.objects.count() == 4


def test_targets_are_read_by_their_holders_and_managers(org: Any) -> None:
    mine = target(org.manager, user=org.salesperson)
    teammates = target(org.manager, user=org.teammate)
    team = target(org.manager, team=org.team)
    east = target(org.gm, department=org.east)
    south = target(org.gm, user=org.outsider)
    assert set(target_scope(org.salesperson)) == {mine, team, east}
    assert set(target_scope(org.manager)) == {mine, teammates, team, east}
    assert set(target_scope(org.outsider)) == {south}
    assert set(target_scope(org.gm)) == {mine, teammates, team, east, south}


def test_change_and_remove_a_target(org: Any) -> None:
    goal = target(org.manager, user=org.salesperson)
    target(org.manager, user=org.salesperson, start="2025-04-01", end="2025-04-30")
    services.target_update(actor=org.manager, target=goal, changes={"amount": "600000"}, expected_version=1)
    goal.refresh_from_db()
    assert goal.amount == D("600000.00") and goal.version == 2
    with pytest.raises(Conflict):
        services.target_update(actor=org.manager, target=goal, changes={"amount": "1"}, expected_version=1)
    with pytest.raises(Invalid):
        services.target_update(actor=org.manager, target=goal, changes={"period_end": "2025-04-15"},
                               expected_version=2)
    with pytest.raises(Invalid):
        services.target_update(actor=org.manager, target=goal, changes={"user": org.teammate}, expected_version=2)
    with pytest.raises(Invalid):
        services.target_delete(actor=org.south_manager, target=goal)
    pk = goal.pk
    services.target_delete(actor=org.manager, target=goal, expected_version=2)
    assert not SalesTarget.objects.filter(pk=pk).exists()
    assert AuditEvent.objects.filter(action="delete", object_id=str(pk)).exists()
