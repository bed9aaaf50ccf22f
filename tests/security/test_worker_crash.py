"""S17: a worker killed mid-job (SIGKILL) and a new one started: every job done once, every mail
received once, none lost.

Real worker processes (``python -m guanxi.cli worker``) run the morning-digest job — each chunk
of people commits their digests, their mails (into the outbox) and the job's progress together —
against a database of the test's own, and deliver the mail through a real SMTP server
(aiosmtpd) on 127.0.0.1. The test kills the first worker without warning while both jobs are
half-way and while deliveries are in flight (a message's DATA held at the server, not yet
answered), starts a second worker, and counts: each job DONE with its progress equal to its
effects, every queued mail received exactly once by Message-ID.

The one window no outbox can close — the server has answered "250 OK" and the worker dies
before the row is marked sent — is not aimed at: before the kill the test lets every answered
message be marked (see guanxi/core/mail.py and docs/deploy.md).

SQLite (a file in a temp dir, the embedded queue) always; PostgreSQL too when ``DATABASE_URL``
points at one (a database ``<name>_s17``; the queue in Redis under a name of its own when
``REDIS_URL`` is set). Each database starts as a copy of one migrated once per session
(tests/migrated.py).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from guanxi.activities.tests.smtp import free_port
from tests import migrated

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = 400  # sixteen chunks of the digest job each: the kill comes while both are half-way
JOBS = 2  # two mornings, queued at once

RUNNER = textwrap.dedent('''
    import datetime as dt, json, os, sys
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    import django
    django.setup()
    from django.db import transaction
    from django.utils import timezone
    from guanxi.activities.services.digest import DIGEST_JOB
    from guanxi.core import jobs
    from guanxi.core.models import Department, Notification, User

    dept = Department.objects.create(name="华东销售部")
    dept.path = f"/{dept.pk}/"
    dept.save(update_fields=["path"])
    people = User.objects.bulk_create([
        User(username=f"s17-{i}", name=f"员工{i}", email=f"s17-{i}@example.com", department=dept, language="zh-hans")
        for i in range(int(sys.argv[1]))])
    Notification.objects.bulk_create([Notification(user=u, title=f"第{u.pk}号通知") for u in people])
    morning = timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time(7, 30)))
    ids = []
    for day in range(int(sys.argv[2])):
        with transaction.atomic():  # handed to the workers' queue when this commits
            job = jobs.job_start(actor=None, kind=DIGEST_JOB, params={"now": (morning + dt.timedelta(days=day)).isoformat()})
        ids.append(str(job.pk))
    print(json.dumps({"jobs": ids}))
''')

STATE_SQL = {
    "jobs": "SELECT id, state, done, total, attempts, result FROM core_job ORDER BY created_at",
    "outbox": 'SELECT key, state, message_id, "to" FROM core_outbox',
    "digests": "SELECT count(*) FROM activities_digestsent",
}


class Sink:
    """An SMTP server that records what it accepted, and can hold DATA unanswered."""

    def __init__(self) -> None:
        self.accepted: list[tuple[str, str]] = []  # (Message-ID, To)
        self.hold = threading.Event()
        self.release = threading.Event()
        self.held = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hold.is_set():
            with self.lock:
                self.held += 1
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 Try again later"  # never answered 250: not accepted
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        with self.lock:
            self.accepted.append((str(message["Message-ID"]), str(message["To"])))
        return "250 Message accepted for delivery"


def _sqlite(tmp_path: Path) -> Iterator[tuple[str, Callable[[str], list[Any]], str | None]]:
    path = tmp_path / "s17.sqlite3"
    migrated.sqlite_database(path)  # a copy of the session's migrated file

    def query(sql: str) -> list[Any]:
        with sqlite3.connect(path, timeout=10) as db:
            return db.execute(sql).fetchall()

    yield f"sqlite:///{path}", query, None


def _postgres(url: str) -> Iterator[tuple[str, Callable[[str], list[Any]], str | None]]:
    import psycopg

    with migrated.postgres_copy(url, "s17") as own:
        def query(sql: str) -> list[Any]:
            with psycopg.connect(own, autocommit=True) as db:
                return db.execute(sql).fetchall()  # type: ignore[arg-type]

        yield own, query, os.environ.get("REDIS_URL") or None


@pytest.fixture(params=migrated.backends())
def database(request: Any, tmp_path: Path) -> Iterator[tuple[str, Callable[[str], list[Any]], str | None]]:
    if request.param == "sqlite":
        yield from _sqlite(tmp_path)
    else:
        yield from _postgres(os.environ["DATABASE_URL"])


def wait_for(what: str, check: Callable[[], bool], timeout: float, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: S110 (a busy or half-migrated database: ask again)
            pass
        if worker.poll() is not None:
            raise AssertionError(f"the worker ended while waiting for {what} (see worker-*.log)")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_killed_mid_job_leaves_every_job_done_once_and_every_mail_sent_once(
        tmp_path: Path, database: tuple[str, Callable[[str], list[Any]], str | None]) -> None:
    from aiosmtpd.controller import Controller

    url, query, redis_url = database
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    env = {k: v for k, v in os.environ.items()
           if k not in {"GUANXI_TESTING", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "GUANXI_QUEUE_FILE"}}
    env.update(GUANXI_DATA_DIR=str(tmp_path / "data"), DATABASE_URL=url, PYTHONPATH=str(ROOT),
               DJANGO_SETTINGS_MODULE="guanxi.settings", GUANXI_SMTP_HOST="127.0.0.1", GUANXI_SMTP_PORT=str(port),
               GUANXI_SMTP_TIMEOUT="20", GUANXI_JOB_STALE_SECONDS="3", GUANXI_MAIL_RETRY_SECONDS="1",
               GUANXI_FROM_EMAIL="crm@s17.example.com")
    if redis_url:
        env.update(REDIS_URL=redis_url, GUANXI_QUEUE_NAME=f"s17-{urlsplit(url).path.lstrip('/')}")
    workers: list[subprocess.Popen[bytes]] = []

    def worker() -> subprocess.Popen[bytes]:
        log = (tmp_path / f"worker-{len(workers) + 1}.log").open("wb")  # a file: a full pipe would stall it
        process = subprocess.Popen([sys.executable, "-m", "guanxi.cli", "worker", "--workers", "4"], cwd=ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
        workers.append(process)
        return process

    def jobs() -> list[tuple[Any, ...]]:
        return list(query(STATE_SQL["jobs"]))

    def outbox() -> list[tuple[Any, ...]]:
        return list(query(STATE_SQL["outbox"]))

    try:
        if redis_url:
            flushed = subprocess.run([sys.executable, "-c", "import django; django.setup(); "
                                      "from huey.contrib.djhuey import HUEY; HUEY.flush()"],
                                     cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
            assert flushed.returncode == 0, flushed.stderr[-3000:]
        runner = tmp_path / "runner.py"
        runner.write_text(RUNNER, encoding="utf-8")
        setup = subprocess.run([sys.executable, str(runner), str(PEOPLE), str(JOBS)], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=120, check=False)
        assert setup.returncode == 0, setup.stderr[-3000:]
        job_ids = json.loads(setup.stdout.strip().splitlines()[-1])["jobs"]

        # The first worker: killed once both jobs are half-way and mail is going out. The server
        # holds DATA unanswered from the start, so deliveries are in flight at the kill and no
        # mail is accepted before it (the one window an outbox cannot close, a 250 answered
        # just before the kill, is not what this test is about); the jobs do not wait for mail.
        sink.hold.set()
        first = worker()
        wait_for("chunks committed", lambda: all(0 < j[2] for j in jobs()), 120, first)
        try:  # usually one is at once; on SQLite the jobs' chunks may keep the deliveries waiting
            wait_for("a delivery in flight", lambda: sink.held > 0, 1, first)
        except AssertionError:
            pass
        wait_for("every answered mail marked sent", lambda: sum(
            1 for row in outbox() if row[1] == "sent") == len(sink.accepted), 30, first)
        before = jobs()
        assert any(j[1] == "running" and j[2] < j[3] for j in before), f"no job was half-way: {before}"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        assert first.returncode == -signal.SIGKILL
        sink.release.set()
        sink.hold.clear()

        # What the killed worker left: whole chunks, progress equal to effects, mail waiting or claimed.
        crashed, left = jobs(), outbox()
        assert any(j[1] == "running" for j in crashed)
        assert all(j[2] % 25 == 0 or j[2] == j[3] for j in crashed), crashed  # whole chunks only
        assert query(STATE_SQL["digests"])[0][0] == sum(j[2] for j in crashed) == len(left)
        assert {row[1] for row in left} - {"sent"}, "mail was waiting or being sent at the kill"
        received_before = len(sink.accepted)

        # A new worker: it picks up the killed worker's jobs and mail at once (its process is gone).
        second = worker()
        wait_for("every job done and every mail sent", lambda: all(j[1] == "done" for j in jobs()) and (
            len(outbox()) == PEOPLE * JOBS) and all(row[1] == "sent" for row in outbox()), 120, second)
        second.terminate()
        second.wait(timeout=30)
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        controller.stop()

    final, rows = jobs(), outbox()
    assert [j[0].replace("-", "") if isinstance(j[0], str) else j[0].hex for j in final] == [
        i.replace("-", "") for i in job_ids]
    for _id, state, done, total, _attempts, result in final:
        result = json.loads(result) if isinstance(result, str) else result
        assert (state, done, total) == ("done", PEOPLE, PEOPLE)
        assert result == {"sent": PEOPLE, "empty": 0, "skipped": 0, "failed": 0}  # effects counted once
    assert max(j[4] for j in final) == 2  # the killed job ran again, once
    assert query(STATE_SQL["digests"])[0][0] == PEOPLE * JOBS
    assert len(rows) == PEOPLE * JOBS and {row[1] for row in rows} == {"sent"}
    received = Counter(mid for mid, _to in sink.accepted)
    assert set(received) == {row[2] for row in rows}  # none lost
    assert set(received.values()) == {1}, [m for m, n in received.items() if n > 1]  # none twice
    to_by_id = {row[2]: row[3] for row in rows}
    assert all(to_by_id[mid] == to for mid, to in sink.accepted)
    assert len(sink.accepted) > received_before  # the second worker delivered what was left
