"""The access engine's own rules, beyond the S1 matrix: scope shape, invariants, counting."""

from __future__ import annotations

import pytest

from guanxi.core import access
from guanxi.core.models import User
from guanxi.core.paginator import CappedPaginator, capped_count
from guanxi.core.services import org as org_services
from guanxi.customers.models import Account
from guanxi.customers.selectors import account_scope

pytestmark = pytest.mark.django_db


def test_managers_scope_is_a_department_filter_without_redundant_owners(org):
    vis = access.visibility_for(org.manager)
    assert vis.department_ids == {org.east.pk, org.east_sub.pk}
    assert vis.owner_ids == frozenset()  # everyone the manager sees owns records in those departments


def test_team_leader_without_department_scope_sees_the_team_by_owner(org):
    org.team.leader = org.salesperson
    org.team.save()
    vis = access.visibility_for(User.objects.get(pk=org.salesperson.pk))
    assert vis.owner_ids == {org.salesperson.pk, org.teammate.pk}
    assert vis.department_ids == frozenset()


def test_records_follow_their_owner_to_a_new_department(org, account_factory):
    account = account_factory(org.teammate)
    org_services.user_update(actor=org.admin, user=org.teammate, expected_version=None, department=org.south)
    account.refresh_from_db()
    assert account.department_id == org.south.pk
    assert account_scope(User.objects.get(pk=org.south_manager.pk)).filter(pk=account.pk).exists()
    assert not account_scope(User.objects.get(pk=org.manager.pk)).filter(pk=account.pk).exists()


def test_capped_paginator_counts_exactly_up_to_the_cap(org, account_factory):
    for _ in range(7):
        account_factory(org.salesperson)
    exact = CappedPaginator(Account.objects.all(), 2, cap=10)
    assert (exact.count, exact.capped, exact.num_pages) == (7, False, 4)
    capped = CappedPaginator(Account.objects.all(), 2, cap=5)
    assert capped.capped and capped.count == 6
    assert capped_count(Account.objects.all(), cap=5) == (5, True)
    assert capped_count(Account.objects.all(), cap=50) == (7, False)


def test_account_list_says_more_than_when_capped(org, login, account_factory, monkeypatch):
    monkeypatch.setattr("guanxi.core.paginator.COUNT_CAP", 3)
    monkeypatch.setattr(CappedPaginator.__init__, "__kwdefaults__", {"cap": 3})
    for _ in range(5):
        account_factory(org.salesperson)
    User.objects.filter(pk=org.salesperson.pk).update(language="en")
    response = login(User.objects.get(pk=org.salesperson.pk)).get("/accounts/")
    assert "More than 3 accounts" in response.content.decode()
