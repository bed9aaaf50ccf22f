"""Organisation services through their doors: departments, users, deactivation, pages."""

from __future__ import annotations

import pytest

from guanxi.core.errors import Forbidden, Invalid
from guanxi.core.models import ApiToken, Department, User
from guanxi.core.services import org as org_services

pytestmark = pytest.mark.django_db


def test_admin_creates_department_tree_and_user_via_api(org, api):
    admin = api(org.admin)
    parent = admin.post("/api/v1/departments", {"name": "西南销售部", "parent": org.hq.pk})
    assert parent.status_code == 201, parent.content
    child = admin.post("/api/v1/departments", {"name": "成都办事处", "parent": parent.json()["id"]})
    assert child.json()["path"] == f"{parent.json()['path']}{child.json()['id']}/"
    user = admin.post("/api/v1/users", {"username": "chengdu1", "password": "Chengdu-Pass-2026", "name": "何军",
                                        "department": child.json()["id"], "roles": ["salesperson", "marketing"]})
    assert user.status_code == 201, user.content
    assert user.json()["roles"] == ["marketing", "salesperson"]


def test_unknown_role_code_is_refused_with_a_field_message(org, api):
    response = api(org.admin).post("/api/v1/users", {"username": "x1", "password": "Chengdu-Pass-2026",
                                                     "roles": ["boss"]}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    assert "boss" in response.json()["errors"]["roles"][0]
    assert not User.objects.filter(username="x1").exists()


def test_salesperson_cannot_create_departments_and_nothing_is_created(org, api):
    before = Department.objects.count()
    response = api(org.salesperson).post("/api/v1/departments", {"name": "私设部门"})
    assert response.status_code == 403
    assert Department.objects.count() == before


def test_moving_a_department_moves_its_subtree_and_the_managers_reach(org, account_factory):
    """The East sub-office moves under South: East's manager stops seeing it, South's starts."""
    from guanxi.customers.selectors import account_scope

    account = account_factory(org.sub_sales)
    assert account_scope(org.manager).filter(pk=account.pk).exists()
    org_services.department_update(actor=org.admin, department=org.east_sub, expected_version=None, parent=org.south)
    org.east_sub.refresh_from_db()
    assert org.east_sub.path == f"{org.south.path}{org.east_sub.pk}/"
    manager = User.objects.get(pk=org.manager.pk)  # fresh object: no cached visibility
    south_manager = User.objects.get(pk=org.south_manager.pk)
    assert not account_scope(manager).filter(pk=account.pk).exists()
    assert account_scope(south_manager).filter(pk=account.pk).exists()


def test_a_department_cannot_move_under_its_own_subtree(org):
    with pytest.raises(Invalid):
        org_services.department_update(actor=org.admin, department=org.east, expected_version=None,
                                       parent=org.east_sub)


def test_deactivation_ends_sessions_and_tokens_at_once(org, login, api):
    """S7: the next request with the old session or token fails."""
    browser = login(org.teammate)
    token_client = api(org.teammate)
    assert browser.get("/").status_code == 200
    assert token_client.get("/api/v1/me").status_code == 200
    response = api(org.admin).post(f"/api/v1/users/{org.teammate.pk}/deactivate", {})
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert browser.get("/").status_code == 302  # back to the sign-in page
    assert token_client.get("/api/v1/me").status_code == 401
    assert not ApiToken.objects.filter(user=org.teammate, revoked_at__isnull=True).exists()


def test_nobody_deactivates_themself(org):
    with pytest.raises(Invalid):
        org_services.user_set_active(actor=org.admin, user=org.admin, active=False)


def test_user_edits_own_name_but_not_own_roles(org, api):
    me = api(org.salesperson)
    assert me.patch(f"/api/v1/users/{org.salesperson.pk}", {"version": 1, "name": "王伟伟"}).status_code == 200
    denied = me.patch(f"/api/v1/users/{org.salesperson.pk}", {"version": 2, "roles": ["admin"]})
    assert denied.status_code == 403
    assert User.objects.get(pk=org.salesperson.pk).role_codes() == {"salesperson"}
    with pytest.raises(Forbidden):
        org_services.user_update(actor=org.salesperson, user=org.teammate, expected_version=None, name="x")


@pytest.mark.parametrize(("language", "text"), [("zh-hans", "该页面或记录不存在"), ("en", "does not exist")])
def test_not_found_page_speaks_the_users_language(org, login, language, text):
    client = login(org.salesperson)
    User.objects.filter(pk=org.salesperson.pk).update(language=language)
    response = client.get("/accounts/999999/")
    assert response.status_code == 404
    assert text in response.content.decode()


def test_server_error_page_renders_without_a_database(rf):
    from guanxi.core.errorviews import server_error

    response = server_error(rf.get("/"))
    assert response.status_code == 500
    assert "Nothing you entered was lost" in response.content.decode()
