"""Approval policies are configurable per record type (R10.2), by administrators only."""

from __future__ import annotations

import pytest

from guanxi.core.models import ApprovalPolicy, AuditEvent, ChangeRequest
from guanxi.core.services import records

pytestmark = pytest.mark.django_db


def test_accounts_have_a_general_manager_policy_by_default(org, api):
    rows = api(org.salesperson).get("/api/v1/approval-policies").json()
    assert rows == [{"model": "customers.account", "enabled": True, "approver_role": "general_manager", "version": 1}]


def test_admin_hands_approval_to_sales_managers_and_requests_follow(org, api, account_factory):
    response = api(org.admin).put("/api/v1/approval-policies/customers.account",
                                  {"enabled": True, "approver_role": "sales_manager", "version": 1})
    assert response.status_code == 200, response.content
    assert AuditEvent.objects.filter(action="permission", content_type__model="approvalpolicy").count() == 1
    account = account_factory(org.salesperson)
    records.record_approve(actor=org.manager, obj=account)
    result = records.record_update(actor=org.salesperson, obj=account, changes={"name": "改名公司"},
                                   expected_version=account.version)
    assert isinstance(result, ChangeRequest) and result.approver_role == "sales_manager"


def test_disabled_policy_lets_approved_records_change_directly(org, account_factory):
    ApprovalPolicy.objects.filter(model="customers.account").update(enabled=False)
    account = account_factory(org.salesperson)
    records.record_approve(actor=org.manager, obj=account)
    result = records.record_update(actor=org.salesperson, obj=account, changes={"name": "直接改名"},
                                   expected_version=account.version)
    assert result == account and account.name == "直接改名"


def test_only_admins_set_policies_and_nothing_changes_otherwise(org, api):
    response = api(org.gm).put("/api/v1/approval-policies/customers.account", {"enabled": False})
    assert response.status_code == 403
    assert ApprovalPolicy.objects.get(model="customers.account").enabled is True


def test_unknown_record_type_or_role_is_refused(org, api):
    admin = api(org.admin)
    assert admin.put("/api/v1/approval-policies/core.user", {"enabled": True}).status_code == 422
    bad_role = admin.put("/api/v1/approval-policies/customers.account", {"enabled": True, "approver_role": "boss"})
    assert bad_role.status_code == 422
    assert "approver_role" in bad_role.json()["errors"]


def test_policy_page_saves_through_the_same_service(org, login):
    client = login(org.admin)
    assert client.get("/org/approval-policies/").status_code == 200
    client.post("/org/approval-policies/", {"model": "customers.account", "enabled": "0",
                                            "approver_role": "general_manager"})
    assert ApprovalPolicy.objects.get(model="customers.account").enabled is False
