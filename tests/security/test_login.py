"""S13 — login: brute force is throttled, the session id rotates, cookies and headers are safe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from conftest import PASSWORD
from guanxi.core.models import ApiToken

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[2]
ATTEMPTS = 1000
LIMIT = 5


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_thousand_wrong_passwords_lock_the_account_and_the_right_one_too(org):
    client = Client()
    codes = []
    for i in range(ATTEMPTS):
        response = client.post("/login/", {"username": "sales", "password": f"wrong-{i}"})
        codes.append(response.status_code)
    # The first four failures get the form back with an error; the fifth locks, and from then on: 429.
    assert codes[: LIMIT - 1] == [200] * (LIMIT - 1), codes[:LIMIT]
    assert set(codes[LIMIT - 1 :]) == {429}, sorted(set(codes[LIMIT - 1 :]))
    right = client.post("/login/", {"username": "sales", "password": PASSWORD})
    assert right.status_code == 429
    assert not signed_in(client)
    assert "sessionid" not in right.cookies or not right.cookies["sessionid"].value
    assert client.get("/").status_code == 302  # still anonymous


def test_lockout_is_per_username_and_address(org):
    client = Client()
    for i in range(LIMIT + 2):
        client.post("/login/", {"username": "sales", "password": f"wrong-{i}"})
    other_user = client.post("/login/", {"username": "sales2", "password": PASSWORD})
    assert other_user.status_code == 302  # another account from the same address still signs in
    other_address = Client(REMOTE_ADDR="10.1.2.3").post("/login/", {"username": "sales", "password": PASSWORD})
    assert other_address.status_code == 302


def test_token_endpoint_answers_403_locked_once_locked(org):
    client = Client()
    for i in range(LIMIT + 1):
        client.post("/login/", {"username": "sales", "password": f"wrong-{i}"})
    response = client.post("/api/v1/tokens", {"username": "sales", "password": PASSWORD},
                           content_type="application/json")
    assert response.status_code == 403, (response.status_code, response.content[:300])
    assert response.json()["code"] == "locked"
    assert not ApiToken.objects.filter(user=org.salesperson).exists()


def test_token_endpoint_itself_locks_after_repeated_failures(org):
    client = Client()
    codes = [client.post("/api/v1/tokens", {"username": "sales", "password": f"wrong-{i}"},
                         content_type="application/json").status_code for i in range(30)]
    assert codes[: LIMIT - 1] == [401] * (LIMIT - 1), codes
    assert set(codes[LIMIT - 1 :]) == {403}, codes
    right = client.post("/api/v1/tokens", {"username": "sales", "password": PASSWORD}, content_type="application/json")
    assert right.status_code == 403, right.content[:300]
    assert right.json()["code"] == "locked"
    assert not ApiToken.objects.filter(user=org.salesperson).exists()


def test_session_key_rotates_on_login(org):
    client = Client()
    session = client.session
    session["before_login"] = True
    session.save()
    before = client.cookies["sessionid"].value
    assert before == session.session_key
    response = client.post("/login/", {"username": "sales", "password": PASSWORD})
    assert response.status_code == 302
    after = client.cookies["sessionid"].value
    assert after and after != before
    from django.contrib.sessions.models import Session

    assert not Session.objects.filter(session_key=before).exists()  # the planted id is dead
    assert signed_in(client)


def test_session_cookie_is_httponly_and_samesite_lax(org):
    client = Client()
    response = client.post("/login/", {"username": "sales", "password": PASSWORD})
    assert response.status_code == 302
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    csrf = client.get("/login/").cookies.get("csrftoken")
    if csrf is not None:
        assert csrf["samesite"] == "Lax"


def test_production_settings_mark_cookies_secure(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"GUANXI_TESTING", "DATABASE_URL"}}
    env.update(GUANXI_PRODUCTION="1", GUANXI_SECRET_KEY="x" * 60, GUANXI_DATA_DIR=str(tmp_path))
    code = ("import guanxi.settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, bool(s.SECURE_HSTS_SECONDS))")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "True", "Lax", "True"]


# --- Security headers on every HTML page -------------------------------------------------------
EXAMPLE_ARGUMENTS = {"<int:pk>": "1", "<str:record_type>": "customers.account", "<str:pk>": "1",
                     "<str:action>": "approve", "<str:job_id>": "00000000-0000-4000-8000-000000000000"}


def html_paths() -> list[str]:
    """Every non-API route, with 1 for a number and a made-up value for any other argument."""
    paths: list[str] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            route = str(p.pattern)
            if route.startswith("^"):
                continue
            for converter, example in EXAMPLE_ARGUMENTS.items():
                route = route.replace(converter, example)
            route = route.replace("<int:", "<").replace("<", "").replace(">", "")
            if isinstance(p, URLResolver):
                if route.startswith("api/v1"):
                    continue
                walk(p.url_patterns, prefix + route)
            elif isinstance(p, URLPattern):
                paths.append("/" + prefix + route)

    walk(get_resolver().url_patterns, "")
    return sorted(set(paths))


def assert_safe_headers(response: Any, path: str) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    assert csp, f"{path}: no Content-Security-Policy"
    directives = {d.strip().split()[0]: d.strip().split()[1:] for d in csp.split(";") if d.strip()}
    script_src = directives.get("script-src", directives.get("default-src"))
    assert script_src is not None, f"{path}: {csp}"
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, f"{path}: {csp}"
    assert response.headers.get("X-Content-Type-Options") == "nosniff", path
    assert response.headers.get("X-Frame-Options") == "DENY", path


def test_every_html_page_sends_csp_nosniff_and_deny(org, login):
    paths = html_paths()
    assert "/login/" in paths and "/" in paths and len(paths) > 15, paths
    seen_html = 0
    for client in (Client(), login(org.admin), login(org.salesperson)):
        for path in [*paths, "/no-such-page/"]:
            response = client.get(path)
            if "text/html" not in response.headers.get("Content-Type", ""):
                continue
            seen_html += 1
            assert_safe_headers(response, f"GET {path} ({response.status_code})")
    failed = Client().post("/login/", {"username": "sales", "password": "wrong"})
    assert failed.status_code == 200
    assert_safe_headers(failed, "POST /login/")
    assert seen_html > 30, seen_html


def test_lockout_page_also_sends_security_headers(org):
    client = Client()
    for i in range(LIMIT + 1):
        response = client.post("/login/", {"username": "sales", "password": f"wrong-{i}"})
    assert response.status_code == 429
    assert_safe_headers(response, "lockout")
