"""GET /health/: database, cache and queue checked for real; 200 when all answer, 503 when one does not.

Runs on whatever the suite runs on (SQLite + embedded queue, or PostgreSQL + Redis). The
broken cases break the real thing: a cache or a queue on a port nobody listens on, the
database connection pointed at a closed port (PostgreSQL) or an unopenable file (SQLite).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from django.test import Client, override_settings

from guanxi.core import health


def closed_port() -> int:
    """A port on 127.0.0.1 with nobody listening (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def no_heartbeat() -> Iterator[None]:
    health.stop_heartbeat()  # a worker started by another test in this process would beat on
    yield
    health.stop_heartbeat()


@pytest.mark.django_db
def test_all_ok_answers_200_json_without_login_or_session(no_heartbeat: None) -> None:
    from django.contrib.sessions.models import Session

    sessions = Session.objects.count()
    response = Client().get("/health/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok" and body["cache"] == "ok" and body["queue"] == "ok"
    assert isinstance(body["queue_pending"], int)
    assert "no-store" in response["Cache-Control"]
    assert not response.cookies  # no session, no CSRF cookie
    assert Session.objects.count() == sessions


@pytest.mark.django_db
def test_pending_tasks_are_counted(no_heartbeat: None) -> None:
    from huey.contrib.djhuey import HUEY

    from guanxi.core.tasks import expire_grants

    HUEY.flush()
    assert Client().get("/health/").json()["queue_pending"] == 0
    expire_grants()  # enqueued, not run: no worker here
    expire_grants()
    assert Client().get("/health/").json()["queue_pending"] == 2
    HUEY.flush()


@pytest.mark.django_db
def test_answers_a_local_probe_despite_https_redirect_and_host_check(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["crm.example.com"]
    probe = Client().get("/health/", HTTP_HOST="10.0.0.5:8000")  # a load balancer asks by address
    assert probe.status_code == 200, probe.content
    # Everything else is still redirected or refused.
    assert Client().get("/login/", HTTP_HOST="crm.example.com").status_code == 301
    assert Client().get("/login/", HTTP_HOST="10.0.0.5:8000").status_code == 400


@pytest.mark.django_db
def test_post_is_refused(no_heartbeat: None) -> None:
    assert Client(enforce_csrf_checks=True).post("/health/").status_code == 405


@pytest.mark.django_db
def test_broken_cache_gives_503() -> None:
    broken = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": f"redis://127.0.0.1:{closed_port()}/0"}}
    with override_settings(CACHES=broken):
        response = Client().get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["cache"] == "error: ConnectionError"  # redis-py: nobody listens there
    assert body["database"] == "ok"
    assert "127.0.0.1" not in response.content.decode()  # no address leaks into the answer


@pytest.mark.django_db
def test_broken_queue_storage_gives_503(monkeypatch: pytest.MonkeyPatch) -> None:
    from huey import RedisHuey
    from huey.contrib import djhuey

    monkeypatch.setattr(djhuey, "HUEY", RedisHuey("health-test", url=f"redis://127.0.0.1:{closed_port()}/0"))
    response = Client().get("/health/")
    assert response.status_code == 503
    assert response.json()["queue"] == "error: ConnectionError"
    assert response.json()["cache"] == "ok"


# The connection is closed and reopened: no test transaction around it. serialized_rollback:
# the flush afterwards would otherwise also remove the roles the migrations made (as in test_jobs.py).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_broken_database_gives_503_and_recovers() -> None:
    conn = connections["default"]
    if conn.vendor == "sqlite":
        pytest.skip("the SQLite test database lives in memory and cannot be closed; the replica test breaks a file")
    saved = dict(conn.settings_dict)
    conn.close()
    conn.settings_dict["HOST"], conn.settings_dict["PORT"] = "127.0.0.1", str(closed_port())
    try:
        response = Client().get("/health/")
    finally:
        conn.close()
        conn.settings_dict.clear()
        conn.settings_dict.update(saved)
    assert response.status_code == 503
    assert response.json()["database"] == "error: OperationalError"
    assert response.json()["cache"] == "ok"
    assert Client().get("/health/").status_code == 200  # the next probe reconnects


@pytest.fixture
def broken_replica(django_db_setup: None, django_db_blocker: Any, settings: Any, tmp_path: Any) -> Iterator[None]:
    """A "replica" database alias that cannot be reached: a closed port, or a file in no directory.

    The test runs outside a test case (the test database unblocked, nothing written): a test
    case would refuse any query to an alias it did not declare, and the failure would not be
    the real one."""
    default = connections.settings["default"]
    replica = {**default, "TEST": {**default.get("TEST", {}), "MIRROR": "default"}}
    if default["ENGINE"].endswith("sqlite3"):
        replica["NAME"] = str(tmp_path / "missing-dir" / "replica.sqlite3")
    else:
        replica.update(HOST="127.0.0.1", PORT=str(closed_port()))
    settings.DATABASES = {**settings.DATABASES, "replica": replica}
    saved = connections.settings.get("replica")  # a replica the run was configured with (DATABASE_REPLICA_URL)
    saved_connection = getattr(connections._connections, "replica", None)
    if saved_connection is not None:
        delattr(connections._connections, "replica")
    connections.settings["replica"] = replica
    try:
        with django_db_blocker.unblock():
            yield
    finally:
        connections["replica"].close()
        delattr(connections._connections, "replica")
        if saved is None:
            del connections.settings["replica"]
        else:
            connections.settings["replica"] = saved
        if saved_connection is not None:
            connections._connections.replica = saved_connection


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_broken_replica_gives_503(broken_replica: None) -> None:
    response = Client().get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["database_replica"] == "error: OperationalError"  # really unreachable


@pytest.mark.django_db
def test_worker_heartbeat(no_heartbeat: None) -> None:
    from huey.consumer import Worker
    from huey.contrib.djhuey import HUEY

    HUEY.storage.delete_data(health.HEARTBEAT_KEY)
    body = Client().get("/health/").json()
    assert body["workers_seen_seconds_ago"] is None and body["workers"] == "none seen"
    assert Client().get("/health/").status_code == 200  # a load balancer's probe ignores workers
    assert Client().get("/health/?workers=1").status_code == 503

    # A real consumer worker starting up runs the startup hooks: the heartbeat thread begins.
    Worker(HUEY, threading.Event(), 0.1, 1.0, 1.15).initialize()
    deadline = time.monotonic() + 10
    while health.last_heartbeat() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    response = Client().get("/health/?workers=1")
    assert response.status_code == 200, response.content
    assert 0 <= response.json()["workers_seen_seconds_ago"] < health.HEARTBEAT_SECONDS

    health.stop_heartbeat()
    HUEY.storage.put_data(health.HEARTBEAT_KEY, str(time.time() - 600).encode())  # the last beat long ago
    response = Client().get("/health/?workers=1")
    assert response.status_code == 503
    assert response.json()["workers"] == "stale" and response.json()["workers_seen_seconds_ago"] >= 600
    HUEY.storage.delete_data(health.HEARTBEAT_KEY)
