"""Request ids, the access log and what every log record knows about its request.

``RequestIdMiddleware`` (first in the chain) gives each request an id: the proxy's
``X-Request-ID`` when ``GUANXI_BEHIND_PROXY`` says a proxy is in front (so one id follows
the request from nginx to the application's logs), else a new one. The id goes back in the
response's ``X-Request-ID`` header, onto every log record written while the request runs
(``RequestContextFilter``) and into one access-log record per request (logger
``guanxi.access``: method, path, status, duration, user id).

With ``GUANXI_LOG_FORMAT=json`` the records are written one JSON object per line
(python-json-logger); the default stays plain text.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse
from django.utils.functional import empty

access_log = logging.getLogger("guanxi.access")
HEADER = "X-Request-ID"
HEALTH_PATH = "/health/"
# What we accept from the proxy: nginx's $request_id (32 hex digits), a UUID, or similar.
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("guanxi_request", default=None)
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("guanxi_request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def user_id(request: HttpRequest | None) -> int | None:
    """The signed-in user's id if this request already knows it (no query of its own)."""
    if request is None:
        return None
    user = request.__dict__.get("user")  # set by AuthenticationMiddleware or the API's token check
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", user)  # a lazy user nobody looked at is left alone
    if wrapped is empty or not getattr(wrapped, "is_authenticated", False):
        return None
    return getattr(wrapped, "pk", None)


def incoming_request_id(request: HttpRequest) -> str:
    if getattr(settings, "GUANXI_BEHIND_PROXY", False):
        given = request.META.get("HTTP_X_REQUEST_ID", "")
        if given and _VALID.match(given):
            return given
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = incoming_request_id(request)
        request.request_id = rid  # type: ignore[attr-defined]
        # Kept until the response is closed (request_finished), not just until this returns:
        # Django logs a 4xx/5xx answer ("Not Found: ...") after the middleware chain.
        _request_id.set(rid)
        _request.set(request)
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            response[HEADER] = rid
            return response
        finally:
            duration = round((time.perf_counter() - started) * 1000, 1)
            # A load balancer's probe every few seconds would bury the real requests: a
            # healthy answer is logged at DEBUG only, a failing one like any request.
            quiet = status == 200 and request.path == HEALTH_PATH
            access_log.log(
                logging.DEBUG if quiet else logging.INFO,
                "%s %s %s %.1fms", request.method, request.path, status, duration,
                extra={"method": request.method, "status": status, "duration_ms": duration},
            )


def _forget_request(**_: Any) -> None:
    _request.set(None)
    _request_id.set(None)


request_finished.connect(_forget_request, dispatch_uid="guanxi.core.logs.forget_request")


class RequestContextFilter(logging.Filter):
    """Add request_id, user_id and path to every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = _request.get()
        record.request_id = _request_id.get()
        record.user_id = user_id(request)
        record.path = request.path if request is not None else None
        for name in ("status", "duration_ms", "method"):
            if not hasattr(record, name):
                setattr(record, name, None)
        return True


PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = ["levelname", "name", "message", "request_id", "user_id", "method", "path",
               "status", "duration_ms"]


def logging_config(*, fmt: str, level: str, access: bool = True) -> dict[str, Any]:
    """The LOGGING setting: plain text (default) or JSON lines, app and access logs alike."""
    json_format = fmt.strip().lower() == "json"
    formatter: dict[str, Any]
    if json_format:
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": " ".join(f"%({name})s" for name in JSON_FIELDS),
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",  # ISO 8601 in UTC, first in the object
            "json_ensure_ascii": False,
        }
    else:
        formatter = {"format": PLAIN_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": "guanxi.core.logs.RequestContextFilter"}},
        "formatters": {"main": formatter},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "main", "filters": ["request"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # One line per request, whatever the root level (access=False: warnings only).
            "guanxi.access": {"level": "INFO" if access else "WARNING", "handlers": ["console"], "propagate": False},
            # The worker's own lines (a task started, finished, retried) in the same format;
            # run_huey adds its plain handler only to a "huey" logger that has none.
            "huey": {"level": "INFO", "handlers": ["console"], "propagate": False},
        },
    }
