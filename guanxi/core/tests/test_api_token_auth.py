"""The API token check on every request: who it lets in, what it loads, and that nothing it
decided is remembered into the next request (a revoked token, an expired one, a deactivated
user or a changed role counts at once)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from guanxi.core.models import ApiToken, Role, User
from guanxi.core.services import org as org_services
from guanxi.core.services.tokens import token_create, token_revoke
from guanxi.core.tokens import LAST_USED_EVERY, TOKEN_MAX, api_token_user

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> tuple[ApiToken, Client]:
    token, raw = token_create(actor=user, name="laptop")
    return token, Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_the_token_gives_its_user_with_the_users_roles(org):
    _token, raw = token_create(actor=org.manager, name="laptop")
    user = api_token_user(raw)
    assert user.pk == org.manager.pk and user.username == "manager" and user.department_id == org.east.pk
    assert user.is_authenticated and user.version == org.manager.version
    with CaptureQueriesContext(connection) as ctx:
        assert user.role_codes() == frozenset({"sales_manager"})
    assert not ctx.captured_queries
    assert not hasattr(user, "gx_token_id") and not hasattr(user, "gx_expires_at")


@pytest.mark.parametrize("raw", ["", "gx_not-a-token", "x" * (TOKEN_MAX + 1)])
def test_an_unknown_token_gives_no_one(org, raw):
    assert api_token_user(raw) is None


def test_a_revoked_token_is_refused_on_the_next_request(org):
    token, client = client_for(org.salesperson)
    assert client.get("/api/v1/me").status_code == 200
    token_revoke(actor=org.salesperson, token_id=token.pk)
    assert client.get("/api/v1/me").status_code == 401


def test_a_deactivated_users_token_is_refused_on_the_next_request(org):
    _token, client = client_for(org.salesperson)
    assert client.get("/api/v1/accounts").status_code == 200
    org_services.user_set_active(actor=org.admin, user=org.salesperson, active=False)
    assert client.get("/api/v1/accounts").status_code == 401
    # Even with the token left unrevoked (a user switched off in the database directly).
    _token, other = client_for(org.teammate)
    assert other.get("/api/v1/me").status_code == 200
    User.objects.filter(pk=org.teammate.pk).update(is_active=False)
    assert other.get("/api/v1/me").status_code == 401


def test_an_expired_token_is_refused(org):
    token, client = client_for(org.salesperson)
    assert client.get("/api/v1/me").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get("/api/v1/me").status_code == 401
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + dt.timedelta(days=1))
    assert client.get("/api/v1/me").status_code == 200


def test_a_role_taken_away_counts_on_the_next_request(org):
    _token, client = client_for(org.salesperson)
    assert client.get("/api/v1/accounts").status_code == 200
    org.salesperson.roles.set([Role.objects.get(code="service_agent")])
    assert client.get("/api/v1/me").json()["roles"] == ["service_agent"]
    org.salesperson.roles.clear()
    assert client.get("/api/v1/accounts").status_code == 403


def test_the_last_use_is_written_at_most_every_five_minutes(org):
    token, client = client_for(org.salesperson)
    assert token.last_used_at is None
    client.get("/api/v1/me")
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/api/v1/me").status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    assert not [q for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    # token with its user, then the user's roles: two statements in all for /me
    assert len(ctx.captured_queries) == 2
    long_ago = timezone.now() - dt.timedelta(seconds=LAST_USED_EVERY + 5)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=long_ago)
    client.get("/api/v1/me")
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first
