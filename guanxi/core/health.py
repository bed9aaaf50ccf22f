"""The health check: ``GET /health/`` for load balancers, systemd and monitoring.

It answers JSON without a login, a session or a CSRF token, and checks what a web process
needs to serve: the database (``SELECT 1`` on ``default``, and on ``replica`` when one is
configured), the cache (a short key set, read back and deleted) and the task queue's
storage (reachable; how many tasks wait). 200 when all of these are fine, 503 otherwise.

Workers write a heartbeat (a timestamp) into the queue's storage every
``HEARTBEAT_SECONDS``; the answer reports how long ago the last one was seen. A web process
can serve while every worker is down, so the heartbeat only decides the status when the
probe asks for it (``/health/?workers=1``: for monitoring, not for a load balancer, which
would otherwise take every web process out of service because of the workers).

The queue's storage, not the cache, holds the heartbeat: without Redis the cache lives in
each process's memory, while the embedded queue's SQLite file is shared by web and worker.

Every check is a constant-time statement: no table is read.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from guanxi.core.permissions import PUBLIC, declare

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "guanxi:worker-heartbeat"
HEARTBEAT_SECONDS = 15
PATH = "/health/"


def worker_stale_seconds() -> int:
    return int(getattr(settings, "GUANXI_WORKER_STALE_SECONDS", 60))


def _error(exc: BaseException) -> str:
    # The exception's class only: its text may name hosts, ports or users.
    return f"error: {type(exc).__name__}"


def check_database(alias: str) -> str:
    from django.db import connections

    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        log.warning("health: database %s unreachable", alias, exc_info=True)
        return _error(exc)
    return "ok"


def check_cache() -> str:
    from django.core.cache import cache

    key = f"guanxi:health:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", 10)
        value = cache.get(key)
        cache.delete(key)
    except Exception as exc:
        log.warning("health: cache unreachable", exc_info=True)
        return _error(exc)
    return "ok" if value == "1" else "error: value not read back"


def _huey() -> Any:
    from huey.contrib.djhuey import HUEY

    return HUEY


def last_heartbeat() -> float | None:
    """When a worker last wrote its heartbeat (epoch seconds), or None if never."""
    from huey.constants import EmptyData

    raw = _huey().storage.peek_data(HEARTBEAT_KEY)
    if raw is EmptyData or raw is None:
        return None
    return float(raw.decode() if isinstance(raw, bytes) else raw)


def check_queue() -> dict[str, Any]:
    try:
        pending = int(_huey().pending_count())
        beat = last_heartbeat()
    except Exception as exc:
        log.warning("health: queue storage unreachable", exc_info=True)
        return {"queue": _error(exc), "queue_pending": None, "workers_seen_seconds_ago": None, "workers": "unknown"}
    ago = None if beat is None else round(max(0.0, time.time() - beat), 1)
    workers = "ok" if ago is not None and ago <= worker_stale_seconds() else ("none seen" if ago is None else "stale")
    return {"queue": "ok", "queue_pending": pending, "workers_seen_seconds_ago": ago, "workers": workers}


def report(*, require_workers: bool = False) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"database": check_database("default")}
    if "replica" in settings.DATABASES:
        body["database_replica"] = check_database("replica")
    body["cache"] = check_cache()
    body.update(check_queue())
    needed = [v for k, v in body.items() if k in {"database", "database_replica", "cache", "queue"}]
    if require_workers:
        needed.append(body["workers"])
    healthy = all(v == "ok" for v in needed)
    body = {"status": "ok" if healthy else "error", **body}
    return (200 if healthy else 503), body


@declare(PUBLIC)
@csrf_exempt
@never_cache
def health(request: HttpRequest) -> HttpResponse:
    if request.method not in {"GET", "HEAD"}:
        return JsonResponse({"status": "error", "detail": "GET only"}, status=405)
    status, body = report(require_workers=request.GET.get("workers") in {"1", "true", "yes"})
    response = JsonResponse(body, status=status)
    response["X-Content-Type-Options"] = "nosniff"  # answered before SecurityMiddleware would add it
    return response


class HealthCheckMiddleware:
    """Answer ``/health/`` before any other middleware.

    Placed first (after the request id): no HTTPS redirect, no host check (a load balancer
    probes a backend by its address), no session, no language, no CSRF. The answer holds
    nothing that depends on the request.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == PATH:
            return health(request)
        return self.get_response(request)


# --- the worker's heartbeat --------------------------------------------------------------
_heartbeat_lock = threading.Lock()
_heartbeat_stop: threading.Event | None = None
_heartbeat_thread: threading.Thread | None = None


def write_heartbeat() -> None:
    _huey().storage.put_data(HEARTBEAT_KEY, str(time.time()).encode())


def _heartbeat_loop(stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            write_heartbeat()
        except Exception:  # Redis away for a moment: try again next round, the worker lives on
            log.warning("worker heartbeat not written", exc_info=True)
        stop.wait(HEARTBEAT_SECONDS)


def start_heartbeat() -> None:
    """Start this worker process's heartbeat thread (once, however many threads call it)."""
    global _heartbeat_stop, _heartbeat_thread
    with _heartbeat_lock:
        if _heartbeat_stop is not None:
            return
        _heartbeat_stop = threading.Event()
        _heartbeat_thread = threading.Thread(target=_heartbeat_loop, args=(_heartbeat_stop,),
                                             name=f"guanxi-heartbeat-{os.getpid()}", daemon=True)
        _heartbeat_thread.start()


def stop_heartbeat() -> None:
    """Stop this process's heartbeat thread and wait for it (used by tests)."""
    global _heartbeat_stop, _heartbeat_thread
    with _heartbeat_lock:
        stop, thread = _heartbeat_stop, _heartbeat_thread
        _heartbeat_stop = _heartbeat_thread = None
    if stop is not None and thread is not None:
        stop.set()
        thread.join(timeout=10)


def register_heartbeat() -> None:
    """Have every queue worker process beat: huey calls its startup hooks in each consumer."""
    _huey().on_startup("guanxi-heartbeat")(start_heartbeat)
