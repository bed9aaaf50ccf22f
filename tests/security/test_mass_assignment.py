"""S5 — mass assignment: protected fields never change through an API body.

Hypothesis adds any subset of protected fields, with arbitrary values, to the bodies of
POST /api/v1/accounts, PATCH /api/v1/accounts/{id} and PATCH /api/v1/users/{self}.
The answer is 422 for a field the endpoint does not know, or the value is refused; the
protected columns in the database are the same before and after.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.core.models import ApprovalState, AuditEvent, User
from guanxi.customers.models import Account

pytestmark = pytest.mark.django_db

PROTECTED = ["owner", "department", "approved", "approval_state", "approved_by", "version", "id", "code",
             "created_by", "deleted_at", "is_superuser", "is_staff", "roles"]
HYPO = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Arbitrary JSON values plus the values an attacker would actually try (real ids, states).
scalar = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**40), max_value=2**40), st.floats(allow_nan=False),
    st.text(max_size=12), st.sampled_from(["approved", "draft", "admin", "general_manager",
                                           "2026-01-01T00:00:00Z", "KH-2026-000001"]),
)
value = st.one_of(scalar, st.lists(scalar, max_size=3), st.dictionaries(st.text(max_size=5), scalar, max_size=2))


def _with_real_ids(org: Any) -> st.SearchStrategy[Any]:
    ids = [org.salesperson.pk, org.teammate.pk, org.manager.pk, org.gm.pk, org.admin.pk, org.outsider.pk,
           org.east.pk, org.south.pk, org.hq.pk]
    return st.one_of(value, st.sampled_from(ids))


def extra_fields(org: Any) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(PROTECTED), _with_real_ids(org), min_size=1)


def account_state(account: Account) -> dict[str, Any]:
    account.refresh_from_db()
    return {
        "owner": account.owner_id, "department": account.department_id, "approval_state": account.approval_state,
        "approved_by": account.approved_by_id, "approved_at": account.approved_at, "code": account.code,
        "created_by": account.created_by_id, "deleted_at": account.deleted_at, "id": account.pk,
    }


def user_state(user: User) -> dict[str, Any]:
    user.refresh_from_db()
    user._role_codes = None  # type: ignore[attr-defined]
    return {
        "department": user.department_id, "roles": sorted(user.role_codes()), "is_superuser": user.is_superuser,
        "is_staff": user.is_staff, "is_active": user.is_active, "username": user.username,
        "password": user.password, "id": user.pk,
    }


def test_post_account_ignores_or_refuses_protected_fields(org, api):
    sales = api(org.salesperson)
    counter = iter(range(10**6))

    @HYPO
    @given(extra=extra_fields(org))
    def check(extra: dict[str, Any]) -> None:
        before_ids = set(Account.all_objects.values_list("pk", flat=True))
        body = {"name": f"批量赋值测试{next(counter)}有限公司", **extra}
        response = sales.post("/api/v1/accounts", body)
        created = Account.all_objects.exclude(pk__in=before_ids)
        non_owner = set(extra) - {"owner"}
        if non_owner:
            # Unknown fields are refused outright, never silently dropped.
            assert response.status_code == 422, (extra, response.status_code, response.content)
            assert set(response.json()["errors"]) >= non_owner
        if response.status_code != 201:
            assert response.status_code in (403, 422), (extra, response.status_code, response.content)
            assert not created.exists()
            return
        # Only a body whose owner is the salesperson themself may succeed.
        assert extra.get("owner") == org.salesperson.pk, extra
        [account] = list(created)
        assert account.owner_id == org.salesperson.pk
        assert account.department_id == org.salesperson.department_id
        assert account.created_by_id == org.salesperson.pk
        assert account.approval_state == ApprovalState.DRAFT
        assert account.approved_by_id is None and account.approved_at is None
        assert account.deleted_at is None
        assert account.version == 1
        assert account.code.startswith("KH-")
        assert response.json()["id"] == account.pk

    check()


def test_patch_account_never_changes_protected_fields(org, api, account_factory):
    sales = api(org.salesperson)
    account = account_factory(org.salesperson, created_by=org.salesperson)
    counter = iter(range(10**6))

    @HYPO
    @given(extra=extra_fields(org))
    def check(extra: dict[str, Any]) -> None:
        before = account_state(account)
        version = account.version
        name = f"改名{next(counter)}"
        body = {"version": version, "name": name, **extra}
        response = sales.patch(f"/api/v1/accounts/{account.pk}", body)
        after = account_state(account)
        assert after == before, (extra, response.status_code, response.content)
        if set(extra) - {"version"}:
            assert response.status_code == 422, (extra, response.status_code, response.content)
        if response.status_code == 200:
            # Only the name changed, and only because the version named was the current one.
            assert body["version"] == version, extra  # (pydantic reads true as 1, 1.0 as 1: same version)
            assert account.version == version + 1
            assert account.name == name
        else:
            assert response.status_code in (409, 422), (extra, response.status_code, response.content)
            assert account.version == version

    check()


def test_patch_self_user_only_changes_profile_fields(org, api):
    me = org.salesperson
    client = api(me)
    counter = iter(range(10**6))

    @HYPO
    @given(extra=extra_fields(org))
    def check(extra: dict[str, Any]) -> None:
        before = user_state(me)
        version = me.version
        name = f"王伟{next(counter)}"
        body = {"version": version, "name": name, **extra}
        response = client.patch(f"/api/v1/users/{me.pk}", body)
        after = user_state(me)
        assert after == before, (extra, response.status_code, response.content)
        if response.status_code == 200:
            assert set(extra) <= {"version"}, extra
            assert me.version == version + 1 and me.name == name
        else:
            assert response.status_code in (403, 409, 422), (extra, response.status_code, response.content)
            assert me.version == version

    check()


def test_salesperson_cannot_create_account_owned_by_teammate(org, api):
    sales = api(org.salesperson)
    audit_before = AuditEvent.objects.count()
    response = sales.post("/api/v1/accounts", {"name": "冒名客户有限公司", "owner": org.teammate.pk})
    assert response.status_code == 403, response.content
    assert not Account.all_objects.exists()
    assert AuditEvent.objects.count() == audit_before


def test_salesperson_cannot_put_new_account_into_the_pool(org, api):
    response = api(org.salesperson).post("/api/v1/accounts", {"name": "公海客户有限公司", "owner": None})
    assert response.status_code == 403, response.content
    assert not Account.all_objects.filter(name="公海客户有限公司").exists()


def test_manager_assigns_new_account_to_salesperson_in_department(org, api):
    response = api(org.manager).post("/api/v1/accounts", {"name": "分配客户有限公司", "owner": org.salesperson.pk})
    assert response.status_code == 201, response.content
    account = Account.objects.get(pk=response.json()["id"])
    assert account.owner_id == org.salesperson.pk
    assert account.department_id == org.east.pk
    assert account.created_by_id == org.manager.pk


def test_manager_cannot_assign_new_account_to_outsider(org, api):
    response = api(org.manager).post("/api/v1/accounts", {"name": "越权分配有限公司", "owner": org.outsider.pk})
    assert response.status_code == 422, response.content
    assert "owner" in response.json()["errors"]
    assert not Account.all_objects.filter(name="越权分配有限公司").exists()


def test_self_edit_of_profile_fields_works_and_roles_are_refused(org, api):
    me = org.salesperson
    client = api(me)
    ok = client.patch(f"/api/v1/users/{me.pk}", {"version": me.version, "name": "王伟伟", "phone": "13800000000"})
    assert ok.status_code == 200, ok.content
    me.refresh_from_db()
    assert me.name == "王伟伟"
    for body in ({"roles": ["admin"]}, {"department": org.hq.pk}, {"is_superuser": True}, {"is_staff": True}):
        refused = client.patch(f"/api/v1/users/{me.pk}", {"version": me.version, **body})
        assert refused.status_code in (403, 422), (body, refused.content)
    me.refresh_from_db()
    me._role_codes = None
    assert me.role_codes() == {"salesperson"}
    assert me.department_id == org.east.pk
    assert not me.is_superuser and not me.is_staff


def test_user_cannot_edit_another_users_profile(org, api):
    other = org.teammate
    response = api(org.salesperson).patch(f"/api/v1/users/{other.pk}", {"version": other.version, "name": "x"})
    assert response.status_code == 403, response.content
    other.refresh_from_db()
    assert other.name == "李娜"
    assert other.version == 1
