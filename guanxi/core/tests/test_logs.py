"""Request ids, the access log, and GUANXI_LOG_FORMAT=json (one JSON object per line)."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client

from guanxi.core.logs import logging_config

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def captured() -> Iterator[Any]:
    """Apply a LOGGING built by logging_config, with its one handler writing into a buffer."""
    buffer = io.StringIO()

    def apply(fmt: str) -> io.StringIO:
        logging.config.dictConfig(logging_config(fmt=fmt, level="INFO"))
        handler = logging.getLogger("guanxi.access").handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(buffer)
        return buffer

    yield apply
    logging.config.dictConfig(django_settings.LOGGING)


def json_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


@pytest.mark.django_db
def test_every_answer_carries_a_generated_request_id(settings: Any) -> None:
    settings.GUANXI_BEHIND_PROXY = False
    first = Client().get("/login/", HTTP_X_REQUEST_ID="from-a-client")
    second = Client().get("/login/")
    assert re.fullmatch(r"[0-9a-f]{32}", first["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]  # a client's own id is not taken without a proxy


@pytest.mark.django_db
def test_behind_the_proxy_its_request_id_is_kept(settings: Any) -> None:
    settings.GUANXI_BEHIND_PROXY = True
    assert Client().get("/login/", HTTP_X_REQUEST_ID="4f2c9a0e1b7d4e3f").headers["X-Request-ID"] == "4f2c9a0e1b7d4e3f"
    for bad in ["has spaces in it", "x" * 300, "<script>"]:
        answer = Client().get("/login/", HTTP_X_REQUEST_ID=bad).headers["X-Request-ID"]
        assert answer != bad and re.fullmatch(r"[0-9a-f]{32}", answer)


@pytest.mark.django_db
def test_json_access_and_app_logs(captured: Any, org: Any, login: Any, api: Any) -> None:
    buffer = captured("json")
    client = login(org.salesperson)
    response = client.get("/")
    assert response.status_code == 200
    api(org.manager).get("/api/v1/me")
    Client().get("/health/")
    Client().get("/login/")
    logging.getLogger("guanxi.test").warning("outside any request: %s", "好")

    records = json_lines(buffer)
    access = [r for r in records if r["logger"] == "guanxi.access"]
    home = next(r for r in access if r["path"] == "/")
    assert home["request_id"] == response["X-Request-ID"]
    assert home["user_id"] == org.salesperson.pk
    assert home["status"] == 200 and home["method"] == "GET"
    assert isinstance(home["duration_ms"], float)
    assert home["level"] == "INFO"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", home["time"])
    token_call = next(r for r in access if r["path"] == "/api/v1/me")
    assert token_call["user_id"] == org.manager.pk  # the API's token user, too
    assert not [r for r in access if r["path"] == "/health/"]  # a healthy probe is not an INFO line
    anonymous = [r for r in access if r["path"] == "/login/"]
    assert anonymous and anonymous[0]["user_id"] is None
    outside = next(r for r in records if r["logger"] == "guanxi.test")
    assert outside["message"] == "outside any request: 好"
    assert outside["request_id"] is None and outside["level"] == "WARNING"


@pytest.mark.django_db
def test_app_log_inside_a_request_carries_its_id(captured: Any, org: Any, login: Any) -> None:
    """A record written by the application while a request runs (here: django.request's 404 warning)."""
    buffer = captured("json")
    response = login(org.salesperson).get("/accounts/999999999/")
    assert response.status_code == 404
    records = json_lines(buffer)
    warning = next(r for r in records if r["logger"] == "django.request")
    assert warning["request_id"] == response["X-Request-ID"]
    assert warning["path"] == "/accounts/999999999/"
    assert warning["user_id"] == org.salesperson.pk


@pytest.mark.django_db
def test_plain_text_by_default(captured: Any) -> None:
    buffer = captured("plain")
    response = Client().get("/login/")
    line = buffer.getvalue().strip().splitlines()[-1]
    assert not line.startswith("{")
    assert f"[{response['X-Request-ID']}] GET /login/ 200" in line


def test_settings_choose_the_format_from_the_environment() -> None:
    """A fresh process with GUANXI_LOG_FORMAT=json writes JSON lines to stderr."""
    code = ("import logging, django, os; os.environ['DJANGO_SETTINGS_MODULE']='guanxi.settings'; django.setup();"
            "logging.getLogger('guanxi.x').warning('hello')")
    env = {"PATH": "/usr/bin:/bin", "GUANXI_TESTING": "1", "GUANXI_LOG_FORMAT": "json"}
    as_json = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT,
                             timeout=120, check=True)
    record = json.loads(as_json.stderr.strip().splitlines()[-1])
    assert record["message"] == "hello" and record["logger"] == "guanxi.x" and record["level"] == "WARNING"
