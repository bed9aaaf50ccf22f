"""The production topology on one machine: two web processes, two workers, PostgreSQL, Redis.

    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python -m pytest tests/topology

Everything runs as in production (GUANXI_PRODUCTION=1, as docs/deploy.md sets it up) on
127.0.0.1, in a database of its own (``<db>_topo``, dropped at the end) and under a queue
name and cache prefix of its own in the given Redis database. A client that behaves like the
reverse proxy in front (Host, X-Forwarded-Proto: https, retry on the other web process when
one does not answer):

1. signs in through web A and works with that session on web B (sessions live in Redis);
2. queues a batch of customer imports through the REST API, alternating the web processes;
3. while a thread keeps requesting pages from both web processes, SIGKILLs web B (its whole
   process group: the ``guanxi serve`` parent and gunicorn) and the worker running a job,
   then starts a worker again, as systemd's ``Restart=always`` does;
4. checks that every request was answered (by the survivor where B was gone), that every
   import job ends DONE, and that each job's effects exist exactly once: one account,
   contact, ownership record and audit event per created row, every row of every file
   accounted for once, no duplicate account.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from tests import migrated

ROOT = Path(__file__).resolve().parents[2]
HOST = "crm.topology.test"  # the public name the proxy forwards for
JOBS = 4
ROWS_PER_JOB = 800
STALE_SECONDS = 5

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
pytestmark = [
    pytest.mark.skipif(not DATABASE_URL.startswith(("postgres://", "postgresql://")),
                       reason="the topology test needs PostgreSQL: set DATABASE_URL=postgres://..."),
    pytest.mark.skipif(not REDIS_URL, reason="the topology test needs Redis: set REDIS_URL=redis://..."),
]

# Runs in a child process against the topology's database (project code, no test settings).
SETUP = textwrap.dedent('''
    import json, os, sys
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    import django
    django.setup()
    from guanxi.core.models import Department, Role, User
    dept = Department.objects.create(name="华东销售部")
    dept.path = f"/{dept.pk}/"
    dept.save(update_fields=["path"])
    manager = User.objects.create_user("topo-manager", password=sys.argv[1], department=dept, name="拓扑经理")
    manager.roles.add(Role.objects.get(code="sales_manager"))
    print(json.dumps({"user": manager.pk}))
''')

INSPECT = textwrap.dedent('''
    import json, os, sys
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    import django
    django.setup()
    from django.db.models import Count
    from guanxi.core.models import AuditEvent, Job
    from guanxi.customers.models import Account, Contact, ImportRowResult, ImportRun, OwnershipChange
    runs = []
    for run in ImportRun.objects.order_by("pk"):
        job = Job.objects.get(pk=run.job_id)
        rows = list(ImportRowResult.objects.filter(run=run).values_list("row_number", "status"))
        note = f"import #{run.pk} "
        runs.append({
            "run": run.pk, "job": str(job.pk), "state": run.state, "total": run.total_rows, "rows": rows,
            "job_state": job.state, "attempts": job.attempts, "done": job.done, "failed": job.failed,
            "account_events": AuditEvent.objects.filter(note__startswith=note, action="create",
                                                        content_type__model="account").count(),
            "contact_events": AuditEvent.objects.filter(note__startswith=note, action="create",
                                                        content_type__model="contact").count(),
        })
    print(json.dumps({
        "runs": runs,
        "jobs": list(Job.objects.values_list("state", flat=True)),
        "accounts": Account.all_objects.count(),
        "contacts": Contact.all_objects.count(),
        "imported_ownership": OwnershipChange.objects.filter(kind="imported").count(),
        "same_name": Account.all_objects.values("name").annotate(n=Count("id")).filter(n__gt=1).count(),
        "same_code": Account.all_objects.exclude(credit_code="").values("credit_code").annotate(n=Count("id"))
                     .filter(n__gt=1).count(),
    }))
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL the whole process group: the process and every child (gunicorn's workers)."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Topology:
    env: dict[str, str]
    tmp: Path
    procs: list[Proc] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def mark(self, what: str) -> None:
        """Where the time goes (shown with pytest -s)."""
        print(f"topology: {time.monotonic() - self.started:6.1f} s {what}", flush=True)

    def start(self, name: str, *args: str) -> Proc:
        log = self.tmp / f"{name}.log"
        popen = subprocess.Popen([sys.executable, "-m", "guanxi.cli", *args], cwd=ROOT, env=self.env,
                                 stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def run(self, *args: str, timeout: int = 180) -> str:
        done = subprocess.run([sys.executable, *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout


class NoWebAnswered(Exception):
    pass


class Browser:
    """One user's browser behind the reverse proxy: cookies, CSRF, and the proxy's failover."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.cookies: dict[str, str] = {}
        self.lock = threading.Lock()

    def request(self, method: str, path: str, *, port: int | None = None, body: bytes | None = None,
                headers: dict[str, str] | None = None, failover: bool = True) -> tuple[int, dict[str, str], bytes, int]:
        """Send to ``port`` (default: the first web); if it does not answer, to the next one."""
        order = list(self.ports)
        if port is not None:
            order.remove(port)
            order.insert(0, port)
        if not failover:
            order = order[:1]
        last: Exception | None = None
        for target in order:
            with self.lock:
                cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            sent = {"Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.20",
                    "Cookie": cookie, "Accept-Language": "zh-hans", **(headers or {})}
            if method != "GET":
                sent.setdefault("Origin", f"https://{HOST}")
                sent.setdefault("X-CSRFToken", self.cookies.get("csrftoken", ""))
            conn = http.client.HTTPConnection("127.0.0.1", target, timeout=60)
            try:
                conn.request(method, path, body=body, headers=sent)
                response = conn.getresponse()
                data = response.read()
            except OSError as exc:  # refused, reset: this web process is gone; the proxy tries the next
                last = exc
                continue
            finally:
                conn.close()
            for header in response.headers.get_all("Set-Cookie") or []:
                jar: SimpleCookie = SimpleCookie()
                jar.load(header)
                with self.lock:
                    for key, morsel in jar.items():
                        self.cookies[key] = morsel.value
            return response.status, dict(response.headers.items()), data, target
        raise NoWebAnswered(str(last))

    def json(self, method: str, path: str, payload: Any = None, **kw: Any) -> tuple[int, Any]:
        body = None if payload is None else json.dumps(payload).encode()
        status, _headers, data, _port = self.request(method, path, body=body,
                                                     headers={"Content-Type": "application/json"}, **kw)
        return status, (json.loads(data) if data else None)

    def upload(self, path: str, name: str, content: bytes, **kw: Any) -> tuple[int, Any]:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                f"Content-Type: text/csv\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
        status, _headers, data, _port = self.request(
            "POST", path, body=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}, **kw)
        return status, json.loads(data)


def import_file(job: int) -> bytes:
    """A CSV of new customers (distinct names and credit codes across all files), as Excel saves it."""
    import csv
    import io

    from guanxi.core.validators import CREDIT_CODE_ALPHABET, credit_code_check_char

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["客户名称", "统一社会信用代码", "联系电话", "联系人", "省份", "城市"])
    for i in range(ROWS_PER_JOB):
        n = job * ROWS_PER_JOB + i
        body = "91" + f"{320000 + n % 9000:06d}" + "".join(CREDIT_CODE_ALPHABET[(n // 31 ** k) % 31] for k in range(9))
        writer.writerow([f"拓扑测试{job}-{i}号机械有限公司", body + credit_code_check_char(body),
                         f"021-{20000000 + n}", f"联系人{n}", "上海", "上海市"])
    return out.getvalue().encode("gb18030")


def wait_healthy(port: int, *, workers: bool = False, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/health/?workers=1" if workers else "/health/")  # a local probe: no Host, no TLS
            response = conn.getresponse()
            last = (response.status, response.read())
            if response.status == 200:
                return dict(json.loads(last[1]))
        except OSError as exc:
            last = exc
        finally:
            conn.close()
        time.sleep(0.3)
    raise AssertionError(f"web on {port} not healthy in {timeout} s: {last}")


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:

    # As `guanxi migrate` leaves it (migrated once per session), dropped after the test.
    with migrated.postgres_copy(DATABASE_URL, "topo") as own:
        yield from _topology(own, tmp_path)


def _topology(own: str, tmp_path: Path) -> Iterator[Topology]:
    import redis

    name = urlsplit(own).path.lstrip("/")
    # This run's queue name and cache prefix in the shared Redis db (letters, digits and "_":
    # huey drops any other character from a queue name, and the clean-up below looks for it).
    prefix = f"{name}_{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items()
           if k not in {"GUANXI_TESTING", "DJANGO_SETTINGS_MODULE", "PYTEST_CURRENT_TEST"} and not k.startswith("GUANXI_")}
    env.update(
        PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="guanxi.settings",
        GUANXI_PRODUCTION="1", GUANXI_SECRET_KEY=uuid.uuid4().hex * 2, GUANXI_ALLOWED_HOSTS=f"{HOST},127.0.0.1",
        GUANXI_BEHIND_PROXY="1", GUANXI_DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=own, REDIS_URL=REDIS_URL, GUANXI_QUEUE_NAME=prefix, GUANXI_CACHE_PREFIX=prefix,
        GUANXI_LOG_FORMAT="json", GUANXI_LOG_LEVEL="INFO",
        GUANXI_WEB_WORKERS="1", GUANXI_WEB_THREADS="4", GUANXI_WORKER_THREADS="2",
        GUANXI_JOB_STALE_SECONDS=str(STALE_SECONDS),
    )
    topo = Topology(env=env, tmp=tmp_path)
    try:
        yield topo
    finally:
        for proc in topo.procs:  # all at once: each stops gracefully in its own time
            if proc.popen.poll() is None:
                os.killpg(proc.popen.pid, signal.SIGTERM)
        for proc in topo.procs:
            proc.stop()
        topo.mark("stopped")
        client = redis.Redis.from_url(REDIS_URL)
        for pattern in (f"*{prefix}*",):
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)


def test_two_webs_two_workers_survive_a_kill(topology: Topology) -> None:
    # Set up as an administrator would (docs/deploy.md): the database is migrated (the fixture
    # copies one migrated once per session, tests/migrated.py), collect static files, then the first user.
    setup = subprocess.run([sys.executable, "-m", "guanxi.cli", "collectstatic", "--no-input", "-v", "0"], cwd=ROOT,
                           env=topology.env, stderr=subprocess.PIPE, timeout=180, check=False)
    assert setup.returncode == 0, setup.stderr.decode()[-3000:]
    topology.mark("migrated, static files collected")
    password = f"Topo-{uuid.uuid4().hex[:12]}!"
    (topology.tmp / "topo_setup.py").write_text(SETUP, encoding="utf-8")
    (topology.tmp / "topo_inspect.py").write_text(INSPECT, encoding="utf-8")
    topology.run(str(topology.tmp / "topo_setup.py"), password)

    topology.mark("first user created")
    port_a, port_b = free_port(), free_port()
    web_a = topology.start("web-a", "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port_a))
    web_b = topology.start("web-b", "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port_b))
    workers = [topology.start("worker-1", "worker"), topology.start("worker-2", "worker")]
    wait_healthy(port_a)
    wait_healthy(port_b)
    wait_healthy(port_a, workers=True)  # a worker has written its heartbeat

    topology.mark("two webs and two workers healthy")
    # 1. Sign in through web A; the session works on web B.
    browser = Browser([port_a, port_b])
    status, _h, _body, _p = browser.request("GET", "/login/", port=port_a, failover=False)
    assert status == 200 and "csrftoken" in browser.cookies
    form = urlencode({"username": "topo-manager", "password": password,
                      "csrfmiddlewaretoken": browser.cookies["csrftoken"]}).encode()
    status, _headers, _body, _p = browser.request("POST", "/login/", port=port_a, body=form, failover=False,
                                                 headers={"Content-Type": "application/x-www-form-urlencoded",
                                                          "Referer": f"https://{HOST}/login/"})
    assert status == 302, (status, _body[:500])
    assert "sessionid" in browser.cookies
    status, me = browser.json("GET", "/api/v1/me", port=port_b, failover=False)
    assert status == 200 and me["username"] == "topo-manager"
    status, _h, page, served_by = browser.request("GET", "/", port=port_b, failover=False)
    assert status == 200 and served_by == port_b and "拓扑经理".encode() in page

    topology.mark("signed in on A, session used on B")
    # 2. Load on both web processes, from another browser session of the same user.
    load = Browser([port_a, port_b])
    load.cookies = dict(browser.cookies)
    answered: list[tuple[int, int]] = []  # (status, port that answered)
    load_errors: list[str] = []
    stop_load = threading.Event()

    def keep_busy() -> None:
        i = 0
        while not stop_load.is_set():
            target = (port_a, port_b)[i % 2]
            path = ("/api/v1/me", "/api/v1/accounts?page_size=5", "/")[i % 3]
            try:
                status, _h, _b, port = load.request("GET", path, port=target)
                answered.append((status, port))
                if status != 200:
                    load_errors.append(f"{path} on {port}: {status}")
            except Exception as exc:
                load_errors.append(f"{path}: {exc!r}")
            i += 1
            time.sleep(0.02)

    loader = threading.Thread(target=keep_busy, name="topology-load", daemon=True)
    loader.start()

    # 3. Queue the imports through the API, alternating the web processes.
    jobs: list[str] = []
    for n in range(JOBS):
        port = (port_a, port_b)[n % 2]
        status, run = browser.upload("/api/v1/imports", f"topology-{n}.csv", import_file(n), port=port, failover=False)
        assert status == 201, run
        assert run["total_rows"] == ROWS_PER_JOB
        status, mapped = browser.json("POST", f"/api/v1/imports/{run['id']}/mapping",
                                      {"mapping": run["mapping"], "mode": "skip"}, port=port, failover=False)
        assert status == 200, mapped
        status, started = browser.json("POST", f"/api/v1/imports/{run['id']}/start", {}, port=port, failover=False)
        assert status == 202, started
        jobs.append(started["job"])

    topology.mark("jobs queued")
    # 4. Kill web B and the worker running a job, mid-load and mid-job.
    victim, victim_job = wait_for_running_job(topology, {w.popen.pid: w for w in workers}, jobs)
    served_before = len(answered)
    victim.kill()
    web_b.kill()
    assert web_b.popen.returncode == -signal.SIGKILL and victim.popen.returncode == -signal.SIGKILL
    # The premise: the worker died holding the job (it had not finished it first).
    assert job_state(browser, victim_job) == "running", "the job finished before its worker could be killed"
    time.sleep(1.5)
    survivor_answers_from = len(answered)
    workers.append(topology.start("worker-3", "worker"))  # systemd's Restart=always

    topology.mark("web B and a worker killed")
    # 5. Every job ends DONE; the load never saw an unanswered request.
    deadline = time.monotonic() + 75
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {job: job_state(browser, job) for job in jobs}
        if all(s in {"done", "failed"} for s in states.values()):
            break
        time.sleep(1)
    stop_load.set()
    loader.join(timeout=30)
    assert all(s == "done" for s in states.values()), (states, tail_logs(topology))
    assert not load_errors, load_errors[:10]
    assert len(answered) > served_before > 0
    after_kill = answered[survivor_answers_from:]
    assert after_kill and all(port == port_a for _s, port in after_kill)  # the survivor took over B's share

    topology.mark("all jobs done")
    # 6. Each job's effects exist exactly once.
    found = json.loads(topology.run(str(topology.tmp / "topo_inspect.py")).strip().splitlines()[-1])
    assert len(found["runs"]) == JOBS and set(found["jobs"]) == {"done"}
    created_total = 0
    for run in found["runs"]:
        numbers = [r[0] for r in run["rows"]]
        assert sorted(numbers) == list(range(2, ROWS_PER_JOB + 2)), run["run"]  # every row of the file, once
        created = sum(1 for r in run["rows"] if r[1] == "created")
        assert created == ROWS_PER_JOB, (run["run"], {s for _n, s in run["rows"]})  # all new customers
        assert run["account_events"] == run["contact_events"] == created
        assert run["state"] == "done" and run["job_state"] == "done"
        assert run["done"] + run["failed"] == ROWS_PER_JOB
        assert run["attempts"] >= 1
        created_total += created
    assert found["accounts"] == found["contacts"] == found["imported_ownership"] == created_total
    assert found["same_name"] == 0 and found["same_code"] == 0
    victim_run = next(run for run in found["runs"] if run["job"] == victim_job)
    assert victim_run["attempts"] >= 2  # the killed worker's job was claimed again, and done once

    # The web processes wrote JSON lines with a request id (GUANXI_LOG_FORMAT=json).
    records = [json.loads(line) for line in web_a.log.read_text().splitlines() if line.startswith("{")]
    access = [r for r in records if r.get("logger") == "guanxi.access"]
    assert access and all(re.fullmatch(r"[0-9a-f]{32}", r["request_id"]) for r in access)
    assert any(r["path"] == "/api/v1/me" and r["user_id"] for r in access)


def wait_for_running_job(topology: Topology, workers: dict[int, Proc], jobs: list[str]) -> tuple[Proc, str]:
    """A job that has just started running, and the worker process holding it (owner "host:pid")."""
    import psycopg

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with psycopg.connect(topology.env["DATABASE_URL"], autocommit=True) as db:
            rows = db.execute("SELECT id, owner FROM core_job WHERE state = 'running' AND id = ANY(%s) "
                              "ORDER BY started_at DESC", ([uuid.UUID(j) for j in jobs],)).fetchall()
        for job_id, owner in rows:
            pid = int(str(owner).rsplit(":", 1)[-1]) if owner else 0
            if pid in workers:
                return workers[pid], str(job_id)
        time.sleep(0.05)
    raise AssertionError(f"no job started running: {tail_logs(topology)}")


def job_state(browser: Browser, job: str) -> str:
    status, body = browser.json("GET", f"/api/v1/jobs/{job}")
    assert status == 200, body
    return str(body["state"])


def tail_logs(topology: Topology) -> str:
    return "\n".join(f"--- {p.name}\n{p.log.read_text(errors='replace')[-1500:]}" for p in topology.procs)
