"""The root conftest's ``org`` is built in bulk; it must hold what the one-by-one calls make."""

from __future__ import annotations

from typing import Any

import pytest
from django.forms.models import model_to_dict

from conftest import PASSWORD

pytestmark = pytest.mark.django_db

SKIP = {"id", "username", "password", "last_login", "created_at", "updated_at", "date_joined", "roles"}


def test_org_users_are_what_create_user_makes(org: Any) -> None:
    from guanxi.core.models import User

    for attr in ("salesperson", "sub_sales", "gm", "admin", "service_lead"):
        bulk = User.objects.get(pk=getattr(org, attr).pk)
        one = User.objects.create_user(username=f"{bulk.username}-one", password=PASSWORD, name=bulk.name,
                                       department=bulk.department)
        one.roles.set(bulk.roles.all())
        assert {k: v for k, v in model_to_dict(bulk).items() if k not in SKIP} == \
            {k: v for k, v in model_to_dict(one).items() if k not in SKIP}
        assert bulk.check_password(PASSWORD) and bulk.is_active and not bulk.is_staff
        assert bulk.role_codes() == one.role_codes() and len(bulk.role_codes()) == 1


def test_org_departments_and_teams_are_the_documented_company(org: Any, login: Any) -> None:
    from guanxi.core.models import Department

    def path(*departments: Any) -> str:
        return "/" + "".join(f"{d.pk}/" for d in departments)

    rows = {d.pk: d for d in Department.objects.all()}
    assert rows[org.hq.pk].path == path(org.hq) and rows[org.hq.pk].parent_id is None
    assert rows[org.east.pk].path == path(org.hq, org.east)
    assert rows[org.east_sub.pk].path == path(org.hq, org.east, org.east_sub)
    assert rows[org.south.pk].path == path(org.hq, org.south)
    assert rows[org.service_dept.pk].path == path(org.hq, org.service_dept)
    # Created in the documented order: HQ, East, its Shanghai office, South, service, marketing.
    assert [d.name for d in sorted(rows.values(), key=lambda d: d.pk)] == \
        ["总公司", "华东销售部", "上海办事处", "华南销售部", "客户服务部", "市场部"]
    assert set(org.east.subtree_ids()) == {org.east.pk, org.east_sub.pk}
    assert set(org.team.members.all()) == {org.salesperson, org.teammate}
    assert set(org.service_team.members.all()) == {org.service, org.service2}
    assert org.service_team.leader == org.service_lead and org.team.leader is None
    assert login(org.salesperson).get("/").status_code == 200
