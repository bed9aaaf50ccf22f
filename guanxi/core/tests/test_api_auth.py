"""Who the API lets write, over real HTTP: no credentials → 401 (sign in), a signed-in browser
session without its CSRF token → 403, an API token → no CSRF token needed.

The test client skips Django's CSRF check unless told otherwise; here it is told
(``enforce_csrf_checks=True``), and one test goes through a real socket to the live server.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.utils import timezone

from guanxi.activities.models import FollowUp
from guanxi.core.models import AuditEvent
from guanxi.core.services.tokens import token_create, token_revoke
from guanxi.customers.models import Account
from guanxi.service.models import Case

pytestmark = pytest.mark.django_db


def writes(account: Account, followup: FollowUp) -> list[tuple[str, str, dict[str, Any]]]:
    """Writes on accounts, follow-ups and cases: create, change, delete and one action."""
    due = (timezone.now() + dt.timedelta(days=3)).isoformat()
    return [
        ("post", "/api/v1/accounts", {"name": "杭州未登录测试有限公司"}),
        ("patch", f"/api/v1/accounts/{account.pk}", {"version": account.version, "name": "改名"}),
        ("delete", f"/api/v1/accounts/{account.pk}", {}),
        ("post", "/api/v1/followups", {"account": account.pk, "title": "回访", "due_at": due}),
        ("post", f"/api/v1/followups/{followup.pk}/complete", {"version": followup.version}),
        ("post", "/api/v1/cases", {"title": "漏水", "description": "阀门漏水", "wants_reply": False}),
    ]


def call(client: Client, method: str, path: str, body: dict[str, Any], **extra: Any) -> Any:
    if method == "delete":
        return client.delete(path, **extra)
    return getattr(client, method)(path, data=body, content_type="application/json", **extra)


def state() -> tuple[Any, ...]:
    return (sorted(Account.all_objects.values_list("pk", "name", "version", "deleted_at")),
            sorted(FollowUp.objects.values_list("pk", "state", "version")),
            Case.objects.count(), AuditEvent.objects.count())


@pytest.fixture
def records(org: Any, account_factory: Any) -> tuple[Account, FollowUp]:
    from guanxi.activities import services as followups

    account = account_factory(org.salesperson)
    followup = followups.followup_create(actor=org.salesperson, account=account, owner=org.salesperson,
                                         title="电话回访", due_at=timezone.now() + dt.timedelta(days=1))
    return account, followup


def test_a_write_without_credentials_answers_401_not_a_csrf_403(records):
    before = state()
    for cookies in ({}, {"csrftoken": _get_new_csrf_string()}):  # a visitor who opened the sign-in page has one
        client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
        for name, value in cookies.items():
            client.cookies[name] = value
        for method, path, body in writes(*records):
            response = call(client, method, path, body)
            assert response.status_code == 401, (method, path, cookies, response.content)
            assert response.json() == {"code": "unauthenticated", "message": "Sign in or send a valid API token.",
                                       "errors": {}}
            assert response["WWW-Authenticate"] == 'Bearer realm="guanxi"'
    assert state() == before


def test_an_unknown_or_revoked_token_answers_401(org, records):
    token, raw = token_create(actor=org.salesperson, name="laptop")
    token_revoke(actor=org.salesperson, token_id=token.pk)
    before = state()
    for header in (f"Bearer {raw}", "Bearer gx_not-a-token"):
        client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=header)
        for method, path, body in writes(*records):
            response = call(client, method, path, body)
            assert response.status_code == 401, (header, method, path, response.content)
            assert response.json()["code"] == "unauthenticated"
    assert state() == before


def test_a_signed_in_session_without_its_csrf_token_is_refused_and_changes_nothing(org, records):
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(org.salesperson)
    client.cookies["csrftoken"] = _get_new_csrf_string()
    before = state()
    for extra in ({}, {"HTTP_X_CSRFTOKEN": _get_new_csrf_string()}):  # none, or not the cookie's
        for method, path, body in writes(*records):
            response = call(client, method, path, body, **extra)
            assert response.status_code == 403, (method, path, extra, response.content)
            body_out = response.json()
            assert body_out == {"code": "csrf", "errors": {}, "message": (
                "The CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken header, "
                "or use an API token.")}
    assert state() == before
    # Reads need no token.
    assert client.get("/api/v1/accounts").status_code == 200


def test_a_signed_in_session_with_its_csrf_token_writes(org, records):
    account, _followup = records
    client = Client(enforce_csrf_checks=True)
    client.force_login(org.salesperson)
    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    due = (timezone.now() + dt.timedelta(days=3)).isoformat()
    created = client.post("/api/v1/followups", {"account": account.pk, "title": "送样", "due_at": due},
                          content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert created.status_code == 201, created.content
    changed = client.patch(f"/api/v1/accounts/{account.pk}", {"version": account.version, "name": "宁波新名有限公司"},
                           content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert changed.status_code == 200, changed.content
    case = client.post("/api/v1/cases", {"title": "漏水", "description": "阀门漏水", "wants_reply": False},
                       content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert case.status_code == 201, case.content
    account.refresh_from_db()
    assert account.name == "宁波新名有限公司" and FollowUp.objects.filter(title="送样").count() == 1
    assert Case.objects.filter(pk=case.json()["id"], owner=org.salesperson).exists()


def test_an_api_token_needs_no_csrf_token(org, records):
    _account, followup = records
    _token, raw = token_create(actor=org.salesperson, name="integration")
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.cookies["csrftoken"] = _get_new_csrf_string()  # a stray cookie changes nothing
    created = client.post("/api/v1/accounts", {"name": "厦门令牌测试有限公司"}, content_type="application/json")
    assert created.status_code == 201, created.content
    done = client.post(f"/api/v1/followups/{followup.pk}/complete", {"version": followup.version},
                       content_type="application/json")
    assert done.status_code == 200, done.content
    case = client.post("/api/v1/cases", {"title": "漏水", "description": "阀门漏水", "wants_reply": False},
                       content_type="application/json")
    assert case.status_code == 201, case.content
    gone = client.delete(f"/api/v1/accounts/{created.json()['id']}")
    assert gone.status_code == 403 and gone.json()["code"] == "forbidden"  # by role (R10.4), not by CSRF


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_over_a_real_socket(live_server, org):
    """The same three answers from the live server, through urllib."""
    from conftest import PASSWORD

    def send(method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]) -> tuple[int, Any, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(live_server.url + path, data=data, method=method,  # noqa: S310
                                         headers={"Content-Type": "application/json", **headers})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (the test's own server)
                return response.status, response.headers, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, json.loads(exc.read() or b"null")

    status, headers, body = send("POST", "/api/v1/accounts", {"name": "苏州套接字测试有限公司"}, {})
    assert (status, body["code"], headers["WWW-Authenticate"]) == (401, "unauthenticated", 'Bearer realm="guanxi"')
    status, _headers, body = send("POST", "/api/v1/tokens", {"username": "sales", "password": PASSWORD}, {})
    assert status == 201
    status, _headers, created = send("POST", "/api/v1/accounts", {"name": "苏州套接字测试有限公司"},
                                     {"Authorization": f"Bearer {body['token']}"})
    assert status == 201, created
    # A signed-in browser session (its cookie), without the CSRF token.
    client = Client()
    client.force_login(org.salesperson)
    cookie = f"sessionid={client.cookies['sessionid'].value}; csrftoken={_get_new_csrf_string()}"
    status, _headers, body = send("POST", "/api/v1/accounts", {"name": "苏州会话测试有限公司"}, {"Cookie": cookie})
    assert (status, body["code"]) == (403, "csrf")
    assert list(Account.objects.values_list("name", flat=True)) == ["苏州套接字测试有限公司"]
