"""What the access scope costs: every request of every page works it out, so the members of the
teams one leads, one's active grants and the department tree come in one query (UNION ALL);
the reach it gives is the same as reading them one by one (the S1 matrix checks the rest)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from guanxi.core import access
from guanxi.core.models import Team, User
from guanxi.core.services import grants as grant_services

pytestmark = pytest.mark.django_db


def _fresh(user: User) -> User:
    """The user as a new request has it, with the role codes read (the permission check's query)."""
    fresh = User.objects.get(pk=user.pk)
    fresh.role_codes()
    return fresh


def _grant(org: Any, grantee: User, **target: Any) -> None:
    grant = grant_services.grant_request(actor=grantee, reason="联合投标需要查看客户", days=7, **target)
    grant_services.grant_decide(actor=org.gm, grant=grant, approve=True)


@pytest.mark.parametrize("who", ["salesperson", "manager", "outsider", "service_lead"])
def test_the_scope_costs_one_query_after_the_roles(org: Any, who: str) -> None:
    _grant(org, org.outsider, user=org.salesperson)  # a grant into a person: no tree needed
    user = _fresh(getattr(org, who))
    with CaptureQueriesContext(connection) as ctx:
        access.visibility_for(user)
        access.visibility_for(user, include_grants=False)  # the role's own reach comes with it
    assert len(ctx.captured_queries) == 1, [q["sql"] for q in ctx.captured_queries]


def test_the_general_manager_asks_nothing_beyond_the_roles(org: Any) -> None:
    user = _fresh(org.gm)
    with CaptureQueriesContext(connection) as ctx:
        assert access.visibility_for(user).everything
    assert ctx.captured_queries == []


def test_a_salesperson_who_leads_a_team_sees_its_members_and_an_empty_team_adds_no_one(org: Any) -> None:
    empty = Team.objects.create(name="空组", department=org.east, leader=org.teammate)
    vis = access.visibility_for(_fresh(org.teammate))
    assert vis.owner_ids == {org.teammate.pk} and vis.department_ids == frozenset()
    empty.members.add(org.sub_sales)
    vis = access.visibility_for(_fresh(org.teammate))
    assert vis.owner_ids == {org.teammate.pk, org.sub_sales.pk} and vis.department_ids == frozenset()
    # The members of a team that went to the recycle bin are no longer seen.
    Team.objects.filter(pk=empty.pk).update(deleted_at=empty.created_at)
    assert access.visibility_for(_fresh(org.teammate)).owner_ids == {org.teammate.pk}


def test_a_department_grant_reaches_the_department_and_everything_below_it(org: Any) -> None:
    # A manager (the tree comes with the one query) and a salesperson (the tree is read for the grant).
    _grant(org, org.south_manager, department=org.east)
    _grant(org, org.outsider, department=org.east)
    for grantee, extra_queries in ((org.south_manager, 0), (org.outsider, 1)):
        user = _fresh(grantee)
        with CaptureQueriesContext(connection) as ctx:
            vis = access.visibility_for(user)
        assert {org.east.pk, org.east_sub.pk} <= vis.department_ids, grantee
        assert org.hq.pk not in vis.department_ids
        assert len(ctx.captured_queries) == 1 + extra_queries, grantee
        role = access.visibility_for(user, include_grants=False)
        assert org.east.pk not in role.department_ids  # a grant never widens what one manages
