"""End-to-end checks of the API conventions on the first owned record, accounts."""

from __future__ import annotations

import pytest

from guanxi.core.models import AuditEvent
from guanxi.customers.models import Account

pytestmark = pytest.mark.django_db
VALID_CREDIT = "91350100M000100Y43"


def test_token_create_with_username_and_password(org, client):
    from conftest import PASSWORD

    response = client.post("/api/v1/tokens", {"username": "sales", "password": PASSWORD},
                           content_type="application/json")
    assert response.status_code == 201, response.content
    token = response.json()["token"]
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert me.status_code == 200
    assert me.json()["username"] == "sales"


def test_wrong_password_gets_401_in_caller_language(org, client):
    response = client.post("/api/v1/tokens", {"username": "sales", "password": "nope"},
                           content_type="application/json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "unauthenticated"
    assert body["message"] == "用户名或密码错误。"


def test_salesperson_creates_and_lists_own_account(org, api):
    sales = api(org.salesperson)
    created = sales.post("/api/v1/accounts", {"name": "深圳华兴科技有限公司", "credit_code": VALID_CREDIT})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["owner"] == org.salesperson.pk
    assert body["code"].startswith("KH-")
    listed = sales.get("/api/v1/accounts")
    assert [a["id"] for a in listed.json()["results"]] == [body["id"]]
    assert AuditEvent.objects.filter(action="create", object_id=str(body["id"]), content_type__model="account").count() == 1


def test_stale_patch_gets_409_and_changes_nothing(org, api, account_factory):
    account = account_factory(org.salesperson)
    sales = api(org.salesperson)
    ok = sales.patch(f"/api/v1/accounts/{account.pk}", {"version": 1, "name": "新名字"})
    assert ok.status_code == 200, ok.content
    stale = sales.patch(f"/api/v1/accounts/{account.pk}", {"version": 1, "name": "另一个名字"})
    assert stale.status_code == 409
    assert stale.json()["code"] == "conflict"
    account.refresh_from_db()
    assert account.name == "新名字"
    assert account.version == 2


def test_invalid_credit_code_is_refused_with_field_message(org, api):
    response = api(org.salesperson).post("/api/v1/accounts", {"name": "某公司", "credit_code": "91350100M000100Y44"},
                                         HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    assert "check character" in response.json()["errors"]["credit_code"][0]
    assert not Account.objects.exists()


def test_hidden_account_answers_404_like_missing(org, api, account_factory):
    other = account_factory(org.outsider)
    sales = api(org.salesperson)
    hidden = sales.get(f"/api/v1/accounts/{other.pk}")
    missing = sales.get("/api/v1/accounts/999999")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


def test_openapi_schema_is_served(org, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert "/api/v1/accounts" in response.json()["paths"]
