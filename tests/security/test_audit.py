"""S15 — every mutation path writes exactly its audit rows, and audit rows cannot be altered.

For each door that changes something today (API and HTML account writes, organisation,
grants, change requests, sign-in, tokens, the export job) the test takes the newest audit
id, performs the one mutation and compares the rows written after it with the rows
expected: action, record, actor, channel and, for updates, the before/after of exactly the
changed fields. Then it attacks the rows themselves through the ORM and through raw SQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction

from guanxi.core.models import AccessGrant, ApiToken, AuditEvent, ChangeRequest, Department, User
from guanxi.core.services import records
from guanxi.customers.models import Account

pytestmark = pytest.mark.django_db
VALID_CREDIT = "91350100M000100Y43"


def last_audit_id() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def rows_since(mark: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(pk__gt=mark).select_related("content_type").order_by("pk"))


def shape(rows: list[AuditEvent]) -> list[tuple[str, str | None, str, str | None, str]]:
    """(action, record type, object id, actor username, channel) of each row."""
    return [(r.action, f"{r.content_type.app_label}.{r.content_type.model}" if r.content_type else None,
             r.object_id, r.actor_name if r.actor_id else None, r.channel) for r in rows]


# --- Accounts through the API --------------------------------------------------------------------------
def test_api_account_create_writes_one_create_row_with_the_values(org: Any, api: Any) -> None:
    client = api(org.salesperson)
    mark = last_audit_id()
    response = client.post("/api/v1/accounts", {"name": "审计测试有限公司", "credit_code": VALID_CREDIT,
                                                "phone": "021-62345678"})
    assert response.status_code == 201, response.content
    pk = str(response.json()["id"])
    rows = rows_since(mark)
    assert shape(rows) == [("create", "customers.account", pk, "sales", "api")]
    changes = rows[0].changes
    assert changes["name"] == [None, "审计测试有限公司"]
    assert changes["credit_code"] == [None, VALID_CREDIT]
    assert changes["phone"] == [None, "021-62345678"]
    assert changes["owner"] == [None, {"id": org.salesperson.pk, "repr": str(org.salesperson)}]
    assert rows[0].ip == "127.0.0.1"


def test_api_account_patch_writes_one_update_row_with_before_and_after(org: Any, api: Any,
                                                                       account_factory: Any) -> None:
    account = account_factory(org.salesperson, name="改名前有限公司", region="上海")
    client = api(org.salesperson)
    mark = last_audit_id()
    response = client.patch(f"/api/v1/accounts/{account.pk}",
                            {"version": account.version, "name": "改名后有限公司", "region": "上海"})
    assert response.status_code == 200, response.content
    rows = rows_since(mark)
    assert shape(rows) == [("update", "customers.account", str(account.pk), "sales", "api")]
    assert rows[0].changes == {"name": ["改名前有限公司", "改名后有限公司"]}, "only changed fields, before and after"


def test_api_account_patch_without_changes_writes_no_row(org: Any, api: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson, name="不变有限公司")
    client = api(org.salesperson)
    mark = last_audit_id()
    response = client.patch(f"/api/v1/accounts/{account.pk}", {"version": account.version, "name": "不变有限公司"})
    assert response.status_code == 200, response.content
    assert rows_since(mark) == []


def test_api_account_delete_and_restore_write_one_row_each(org: Any, api: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    client = api(org.manager)
    mark = last_audit_id()
    assert client.delete(f"/api/v1/accounts/{account.pk}").status_code == 204
    assert shape(rows_since(mark)) == [("delete", "customers.account", str(account.pk), "manager", "api")]
    mark = last_audit_id()
    restored = client.post(f"/api/v1/recycle-bin/customers.account/{account.pk}/restore", {})
    assert restored.status_code == 200, restored.content
    assert shape(rows_since(mark)) == [("restore", "customers.account", str(account.pk), "manager", "api")]


def test_api_account_approve_writes_one_approve_row(org: Any, api: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    client = api(org.manager)
    mark = last_audit_id()
    response = client.post(f"/api/v1/accounts/{account.pk}/approve", {"version": account.version})
    assert response.status_code == 200, response.content
    rows = rows_since(mark)
    assert shape(rows) == [("approve", "customers.account", str(account.pk), "manager", "api")]
    assert rows[0].changes == {"approval_state": ["draft", "approved"]}


# --- Accounts through the HTML forms ------------------------------------------------------------------
FORM = {"name": "网页新建有限公司", "kind": "enterprise", "credit_code": "", "phone": "", "region": "杭州",
        "address": "", "notes": ""}


def test_html_account_create_writes_one_create_row(org: Any, login: Any) -> None:
    browser = login(org.salesperson)
    mark = last_audit_id()
    response = browser.post("/accounts/new/", FORM)
    assert response.status_code == 302, response.content.decode()[:2000]
    account = Account.objects.get(name="网页新建有限公司")
    rows = rows_since(mark)
    assert shape(rows) == [("create", "customers.account", str(account.pk), "sales", "web")]
    assert rows[0].changes["region"] == [None, "杭州"]


def test_html_account_edit_writes_one_update_row_with_before_and_after(org: Any, login: Any,
                                                                       account_factory: Any) -> None:
    account = account_factory(org.salesperson, name="网页编辑有限公司", region="杭州")
    browser = login(org.salesperson)
    mark = last_audit_id()
    response = browser.post(f"/accounts/{account.pk}/edit/", {
        **FORM, "name": "网页编辑有限公司", "region": "宁波", "version": account.version, "reason": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    rows = rows_since(mark)
    assert shape(rows) == [("update", "customers.account", str(account.pk), "sales", "web")]
    assert rows[0].changes == {"region": ["杭州", "宁波"]}



def test_html_account_delete_approve_and_restore_write_one_row_each(org: Any, login: Any,
                                                                   account_factory: Any) -> None:
    to_approve, to_delete = account_factory(org.salesperson), account_factory(org.teammate)
    browser = login(org.manager)
    mark = last_audit_id()
    assert browser.post(f"/accounts/{to_approve.pk}/approve/").status_code == 302
    assert shape(rows_since(mark)) == [("approve", "customers.account", str(to_approve.pk), "manager", "web")]
    mark = last_audit_id()
    assert browser.post(f"/accounts/{to_delete.pk}/delete/").status_code == 302
    assert shape(rows_since(mark)) == [("delete", "customers.account", str(to_delete.pk), "manager", "web")]
    mark = last_audit_id()
    assert browser.post(f"/recycle-bin/customers.account/{to_delete.pk}/restore/").status_code == 302
    assert shape(rows_since(mark)) == [("restore", "customers.account", str(to_delete.pk), "manager", "web")]
    assert Account.objects.filter(pk=to_delete.pk).exists()

# --- Organisation -----------------------------------------------------------------------------------------
def test_user_create_writes_one_create_row_without_the_password(org: Any, api: Any) -> None:
    client = api(org.admin)
    mark = last_audit_id()
    response = client.post("/api/v1/users", {"username": "newbie", "password": "Very-Long-Pass-2026!",
                                             "name": "新人", "department": org.east.pk, "roles": ["salesperson"]})
    assert response.status_code == 201, response.content
    user = User.objects.get(username="newbie")
    rows = rows_since(mark)
    assert shape(rows) == [("create", "core.user", str(user.pk), "admin", "api")]
    assert rows[0].changes["roles"] == [[], ["salesperson"]]
    assert rows[0].changes["department"] == [None, {"id": org.east.pk, "repr": "华东销售部"}]
    assert "Very-Long-Pass-2026!" not in str(rows[0].changes)
    assert "password" not in rows[0].changes


def test_department_create_writes_one_create_row(org: Any, api: Any) -> None:
    client = api(org.admin)
    mark = last_audit_id()
    response = client.post("/api/v1/departments", {"name": "西北销售部", "parent": org.hq.pk})
    assert response.status_code == 201, response.content
    rows = rows_since(mark)
    assert shape(rows) == [("create", "core.department", str(response.json()["id"]), "admin", "api")]
    assert rows[0].changes == {"name": [None, "西北销售部"], "parent": [None, {"id": org.hq.pk, "repr": "总公司"}]}


def test_user_deactivate_writes_one_permission_row(org: Any, api: Any) -> None:
    client = api(org.admin)
    mark = last_audit_id()
    response = client.post(f"/api/v1/users/{org.teammate.pk}/deactivate", {})
    assert response.status_code == 200, response.content
    rows = rows_since(mark)
    assert [r.changes for r in rows] == [{"is_active": [True, False]}]
    assert shape(rows) == [("permission", "core.user", str(org.teammate.pk), "admin", "api")]


def test_user_deactivate_audits_the_change_with_before_and_after(org: Any, api: Any) -> None:
    client = api(org.admin)
    mark = last_audit_id()
    assert client.post(f"/api/v1/users/{org.teammate.pk}/deactivate", {}).status_code == 200
    rows = rows_since(mark)
    assert rows, "deactivation must be audited"
    assert all(r.changes == {"is_active": [True, False]} for r in rows)
    assert {r.action for r in rows} >= {"permission"}



def test_html_user_and_department_create_write_one_row_each(org: Any, login: Any) -> None:
    browser = login(org.admin)
    mark = last_audit_id()
    response = browser.post("/org/users/new/", {"username": "webnewbie", "name": "网页新人",
                                                "password": "Very-Long-Pass-2026!", "department": org.south.pk,
                                                "roles": ["service_agent"]})
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(username="webnewbie")
    rows = rows_since(mark)
    assert shape(rows) == [("create", "core.user", str(user.pk), "admin", "web")]
    assert rows[0].changes["roles"] == [[], ["service_agent"]]
    mark = last_audit_id()
    assert browser.post("/org/departments/", {"name": "东北销售部", "parent": org.hq.pk}).status_code == 302
    department = Department.objects.get(name="东北销售部")
    assert shape(rows_since(mark)) == [("create", "core.department", str(department.pk), "admin", "web")]


def test_html_role_change_writes_one_permission_row_with_before_and_after(org: Any, login: Any) -> None:
    browser = login(org.admin)
    user = org.teammate
    mark = last_audit_id()
    response = browser.post(f"/org/users/{user.pk}/", {
        "version": user.version, "name": user.name, "email": user.email, "department": org.east.pk,
        "roles": ["salesperson", "sales_manager"]})
    assert response.status_code == 302, response.content.decode()[:2000]
    rows = rows_since(mark)
    assert shape(rows) == [("permission", "core.user", str(user.pk), "admin", "web")]
    assert rows[0].changes == {"roles": [["salesperson"], ["sales_manager", "salesperson"]]}


def test_html_language_switch_writes_one_update_row(org: Any, login: Any) -> None:
    browser = login(org.salesperson)
    mark = last_audit_id()
    assert browser.post("/language/", {"language": "en", "next": "/"}).status_code == 302
    rows = rows_since(mark)
    assert shape(rows) == [("update", "core.user", str(org.salesperson.pk), "sales", "web")]
    assert rows[0].changes == {"language": ["zh-hans", "en"]}

# --- Grants and change requests ----------------------------------------------------------------------------
def test_grant_request_and_decision_write_one_row_each(org: Any, api: Any) -> None:
    outsider, gm = api(org.outsider), api(org.gm)
    mark = last_audit_id()
    requested = outsider.post("/api/v1/grants", {"reason": "联合投标", "days": 7, "department": org.east.pk})
    assert requested.status_code == 201, requested.content
    grant_id = str(requested.json()["id"])
    rows = rows_since(mark)
    assert shape(rows) == [("request", "core.accessgrant", grant_id, "outsider", "api")]
    assert rows[0].changes["target"] == [None, "华东销售部"]
    mark = last_audit_id()
    decided = gm.post(f"/api/v1/grants/{grant_id}/approve", {"note": "同意"})
    assert decided.status_code == 200, decided.content
    rows = rows_since(mark)
    assert shape(rows) == [("permission", "core.accessgrant", grant_id, "gm", "api")]
    assert rows[0].changes == {"state": ["requested", "approved"]}
    assert rows[0].note == "同意"
    assert AccessGrant.objects.get(pk=grant_id).state == "approved"


def test_change_request_and_its_decision_write_the_expected_rows(org: Any, api: Any,
                                                                 account_factory: Any) -> None:
    account = account_factory(org.salesperson, phone="021-62345678")
    records.record_approve(actor=org.manager, obj=account)
    account.refresh_from_db()
    sales, gm = api(org.salesperson), api(org.gm)
    mark = last_audit_id()
    pending = sales.patch(f"/api/v1/accounts/{account.pk}",
                          {"version": account.version, "phone": "021-62345679", "reason": "换号"})
    assert pending.status_code == 202, pending.content
    request_id = pending.json()["change_request"]
    rows = rows_since(mark)
    assert shape(rows) == [("request", "customers.account", str(account.pk), "sales", "api")]
    assert rows[0].changes == {"phone": ["021-62345678", "021-62345679"]}
    mark = last_audit_id()
    decided = gm.post(f"/api/v1/change-requests/{request_id}/approve", {"note": "核实"})
    assert decided.status_code == 200, decided.content
    rows = rows_since(mark)
    assert shape(rows) == [("update", "customers.account", str(account.pk), "gm", "api"),
                           ("decide", "core.changerequest", str(request_id), "gm", "api")]
    assert rows[0].changes == {"phone": ["021-62345678", "021-62345679"]}
    assert rows[1].changes == {"state": ["pending", "approved"]}
    assert ChangeRequest.objects.get(pk=request_id).state == "approved"



def test_html_grant_request_and_decision_write_one_row_each(org: Any, login: Any) -> None:
    outsider, gm = login(org.outsider), login(org.gm)
    mark = last_audit_id()
    response = outsider.post("/grants/", {"department": org.east.pk, "days": 5, "reason": "核对客户"})
    assert response.status_code == 302, response.content.decode()[:2000]
    grant = AccessGrant.objects.get(grantee=org.outsider)
    assert shape(rows_since(mark)) == [("request", "core.accessgrant", str(grant.pk), "outsider", "web")]
    mark = last_audit_id()
    assert gm.post(f"/grants/{grant.pk}/reject/", {"note": "不需要"}).status_code == 302
    rows = rows_since(mark)
    assert shape(rows) == [("permission", "core.accessgrant", str(grant.pk), "gm", "web")]
    assert rows[0].changes == {"state": ["requested", "rejected"]}


def test_html_change_request_decision_writes_update_and_decide_rows(org: Any, login: Any,
                                                                    account_factory: Any) -> None:
    account = account_factory(org.salesperson, region="杭州")
    records.record_approve(actor=org.manager, obj=account)
    account.refresh_from_db()
    sales, gm = login(org.salesperson), login(org.gm)
    mark = last_audit_id()
    response = sales.post(f"/accounts/{account.pk}/edit/", {
        **FORM, "name": account.name, "region": "宁波", "version": account.version, "reason": "搬迁"})
    assert response.status_code == 302, response.content.decode()[:2000]
    request = ChangeRequest.objects.get(object_id=str(account.pk))
    assert shape(rows_since(mark)) == [("request", "customers.account", str(account.pk), "sales", "web")]
    mark = last_audit_id()
    decided = gm.post(f"/approvals/{request.pk}/", {"action": "approve", "version": request.version})
    assert decided.status_code == 302
    rows = rows_since(mark)
    assert shape(rows) == [("update", "customers.account", str(account.pk), "gm", "web"),
                           ("decide", "core.changerequest", str(request.pk), "gm", "web")]
    assert rows[0].changes == {"region": ["杭州", "宁波"]}

# --- Sign-in, tokens -------------------------------------------------------------------------------------------
def test_login_logout_and_failed_login_write_one_row_each(org: Any, client: Any) -> None:
    from conftest import PASSWORD

    mark = last_audit_id()
    failed = client.post("/login/", {"username": "sales", "password": "wrong-password"})
    assert failed.status_code == 200
    rows = rows_since(mark)
    assert shape(rows) == [("login_failed", None, "", None, "web")]
    assert rows[0].object_repr == "sales"
    assert "wrong-password" not in str(rows[0].changes) + rows[0].note

    mark = last_audit_id()
    assert client.post("/login/", {"username": "sales", "password": PASSWORD}).status_code == 302
    rows = rows_since(mark)
    assert shape(rows) == [("login", "core.user", str(org.salesperson.pk), "sales", "web")]
    assert rows[0].ip == "127.0.0.1"

    mark = last_audit_id()
    assert client.post("/logout/").status_code == 302
    assert shape(rows_since(mark)) == [("logout", "core.user", str(org.salesperson.pk), "sales", "web")]


def test_token_create_and_revoke_write_one_row_each_without_the_secret(org: Any, client: Any) -> None:
    from conftest import PASSWORD

    mark = last_audit_id()
    response = client.post("/api/v1/tokens", {"username": "sales", "password": PASSWORD, "name": "脚本"},
                           content_type="application/json")
    assert response.status_code == 201, response.content
    raw, token_id = response.json()["token"], response.json()["id"]
    rows = rows_since(mark)
    assert shape(rows) == [("create", "core.apitoken", str(token_id), "sales", "api")]
    assert raw not in str(rows[0].changes) + rows[0].object_repr
    mark = last_audit_id()
    revoked = client.delete(f"/api/v1/tokens/{token_id}", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert revoked.status_code == 204
    assert shape(rows_since(mark)) == [("delete", "core.apitoken", str(token_id), "sales", "api")]
    assert ApiToken.objects.get(pk=token_id).revoked_at is not None


# --- The export job ------------------------------------------------------------------------------------------------
def test_export_job_writes_one_export_row_for_the_requester(org: Any, login: Any, account_factory: Any,
                                                            drain: Any,
                                                            django_capture_on_commit_callbacks: Any) -> None:
    account_factory(org.salesperson)
    account_factory(org.teammate)
    account_factory(org.outsider)
    browser = login(org.manager)
    mark = last_audit_id()
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post("/accounts/export/", {"q": ""})
    assert response.status_code == 302
    assert rows_since(mark) == [], "starting the job writes nothing yet"
    assert drain() == 1
    rows = rows_since(mark)
    assert shape(rows) == [("export", None, "", "manager", "job")]
    assert rows[0].changes == {"filters": {}, "format": "csv", "rows": 2}


# --- Audit rows cannot be altered ------------------------------------------------------------------------------
@pytest.fixture
def audit_row(org: Any, account_factory: Any) -> AuditEvent:
    records.record_approve(actor=org.manager, obj=account_factory(org.salesperson))
    return AuditEvent.objects.filter(action="approve").get()


def _unchanged(row: AuditEvent) -> None:
    fresh = AuditEvent.objects.get(pk=row.pk)
    assert (fresh.note, fresh.action, fresh.changes) == ("", "approve", {"approval_state": ["draft", "approved"]})


def test_saving_an_existing_audit_row_raises(audit_row: AuditEvent) -> None:
    audit_row.note = "篡改"
    with pytest.raises(PermissionError):
        audit_row.save()
    _unchanged(audit_row)


def test_deleting_an_audit_row_raises(audit_row: AuditEvent) -> None:
    with pytest.raises(PermissionError):
        audit_row.delete()
    assert AuditEvent.objects.filter(pk=audit_row.pk).exists()


def test_queryset_update_and_delete_of_audit_rows_raise(audit_row: AuditEvent) -> None:
    with pytest.raises(PermissionError):
        AuditEvent.objects.update(note="篡改")
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=audit_row.pk).update(note="篡改")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=audit_row.pk).delete()
    _unchanged(audit_row)


def test_bulk_update_of_audit_rows_raises(audit_row: AuditEvent) -> None:
    audit_row.note = "篡改"
    with pytest.raises(PermissionError), transaction.atomic():
        AuditEvent.objects.bulk_update([audit_row], ["note"])
    _unchanged(audit_row)


def test_update_through_the_base_manager_is_refused_by_the_database(audit_row: AuditEvent) -> None:
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017  (the database's own error)
        AuditEvent._base_manager.filter(pk=audit_row.pk).update(note="篡改")
    _unchanged(audit_row)


def test_raw_sql_update_of_audit_rows_fails(audit_row: AuditEvent) -> None:
    with pytest.raises(Exception), transaction.atomic(), connection.cursor() as cursor:  # noqa: B017
        cursor.execute("UPDATE core_auditevent SET note = 'x'")
    _unchanged(audit_row)


def test_raw_sql_delete_of_audit_rows_fails_on_postgresql(audit_row: AuditEvent) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite guards UPDATE only: Django's flush of test databases deletes rows there")
    with pytest.raises(Exception), transaction.atomic(), connection.cursor() as cursor:  # noqa: B017
        cursor.execute("DELETE FROM core_auditevent")
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017
        AuditEvent._base_manager.all().delete()
    assert AuditEvent.objects.filter(pk=audit_row.pk).exists()
    _unchanged(audit_row)


def test_department_rows_are_still_editable(org: Any) -> None:
    """Control: the guard is on the audit table only, not on every table."""
    Department.all_objects.filter(pk=org.south.pk).update(name="华南大区")
    assert Department.objects.get(pk=org.south.pk).name == "华南大区"
