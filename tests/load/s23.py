"""S23 — load on the production topology while a sample of the access matrix runs.

    GUANXI_LOAD=1 .venv/bin/python -m pytest -q tests/load          # the check (opt-in)
    .venv/bin/python -m tests.load.s23 [--seconds 90] [--connections 16]   # the same, printing the figures

What runs, all on 127.0.0.1:
* two web processes (`guanxi serve --no-worker`, gunicorn, 2 processes × 4 threads each) behind
  nginx with TLS, round-robin: the nginx site of docs/deploy.md section 8, cut out of the guide;
* two queue workers (`guanxi worker --no-periodic`) on Redis, on a queue of their own;
* PostgreSQL: the M demo company (GUANXI_LOAD_DATABASE_URL, default
  postgres://postgres@127.0.0.1:5432/guanxi_m, data dir GUANXI_LOAD_DATA_DIR, default /tmp/m-pg);
  Redis GUANXI_LOAD_REDIS_URL (default redis://127.0.0.1:6379/8) for cache, sessions and queue.

Then `wrk` (Debian package `wrk`) drives a mix of desk, lists, search, the 360 page, desk
panels, API reads and API writes as five personas (salesperson, sales manager, general
manager, service agent, marketing), while Python threads keep asking the access-matrix
sample — personas × account states × actions of tests/security/test_access_matrix.py,
whose SPEC table is imported, not copied — and compare every answer with the expected one
(all cells once before the load, then one state per persona × action over and over during it).
It passes with 0 errors (no 5xx, no socket errors or timeouts in wrk or in the sampler)
and 0 leaks (every matrix answer as specified; a hidden record's 404 identical to a missing
one's).

The M database is shared with the benchmarks, so the mix is read-mostly: the writes are
interactions logged on one account the run creates for itself; the run also creates one
account it deletes (the matrix's "deleted" state) and one API token per persona (revoked at
the end). The periodic scheduler does not run (it would change the company's data). The run's
Redis keys (its queue, its sessions) are removed at the end.

The matrix's personas are mapped onto the demo company: salesperson → sales, teammate →
sales2, manager → manager (华东销售部), south_manager → a sales manager of the outsider's
department, gm, admin, service, marketing, outsider → the users of those names, anonymous.
The fixture's sub-department and grant columns have no counterpart in the demo company and
are left out (they are covered by the matrix itself).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
DEMO_PASSWORD = "guanxi-demo-2026"
MISSING_ID = 987654321

# the matrix personas sampled here → demo users (south_manager is looked up)
PERSONA_USERS = {"salesperson": "sales", "teammate": "sales2", "manager": "manager", "gm": "gm", "admin": "admin",
                 "service": "service", "marketing": "marketing", "outsider": "outsider", "south_manager": None,
                 "anonymous": None}
STATES = ["own", "teammate", "other", "pool", "deleted", "approved"]
ACTIONS = ["get", "page", "search", "history", "edit", "delete", "approve"]


def config() -> dict[str, str]:
    return {
        "database_url": os.environ.get("GUANXI_LOAD_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/guanxi_m"),
        "data_dir": os.environ.get("GUANXI_LOAD_DATA_DIR", "/tmp/m-pg"),
        "redis_url": os.environ.get("GUANXI_LOAD_REDIS_URL", "redis://127.0.0.1:6379/8"),
    }


def missing_tools() -> list[str]:
    return [tool for tool in ("nginx", "wrk", "openssl") if shutil.which(tool) is None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- HTTP ---------------------------------------------------------------------------------------
class Client:
    """One persona's HTTPS client through nginx: session cookie for pages, Bearer token for the API."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port, self.host = port, host
        self.origin = f"https://{host}:{port}"
        self.cookies: dict[str, str] = {}
        self.token = ""
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPSConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            context = ssl._create_unverified_context()  # noqa: S323 - the run's own self-signed certificate
            conn = http.client.HTTPSConnection(self.host, self.port, context=context, timeout=30)
            self.local.conn = conn
        return conn

    def request(self, method: str, path: str, body: Any = None, *, api: bool = False) -> tuple[int, dict[str, str],
                                                                                                 bytes]:
        headers = {"Host": f"{self.host}:{self.port}", "Referer": self.origin + "/", "Origin": self.origin}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if api:
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
        elif body is not None:
            data = urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if "csrftoken" in self.cookies:
            # as a browser page's script sends it (a signed-in session's writes need it)
            headers["X-CSRFToken"] = self.cookies["csrftoken"]
        for attempt in (1, 2):
            conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # the proxy closed an idle keep-alive connection between two requests: reconnect once
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                cookie: SimpleCookie = SimpleCookie(value)
                for key, morsel in cookie.items():
                    self.cookies[key] = morsel.value
        return response.status, {k.lower(): v for k, v in response.getheaders()}, payload

    def login(self, username: str, password: str = DEMO_PASSWORD) -> None:
        status, _, page = self.request("GET", "/login/")
        assert status == 200, f"GET /login/ answered {status}"
        match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert match, "the login page has a CSRF token"
        status, _, body = self.request("POST", "/login/", {
            "csrfmiddlewaretoken": match.group(1).decode(), "username": username, "password": password, "next": "/"})
        assert status == 302 and "sessionid" in self.cookies, f"{username} could not sign in: {status} {body[:300]!r}"
        status, _, body = self.request("POST", "/api/v1/tokens", {"username": username, "password": password,
                                                                  "name": "S23 load"}, api=True)
        assert status == 201, f"token for {username}: {status} {body[:300]!r}"
        answer = json.loads(body)
        self.token, self.token_id = answer["token"], answer["id"]


# --- The matrix sample --------------------------------------------------------------------------
@dataclass
class Cell:
    persona: str
    state: str
    action: str
    expected: str
    method: str
    path: str
    api: bool
    body: Any = None
    missing_path: str = ""
    code: str = ""


@dataclass
class Tally:
    checks: int = 0
    leaks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def spec_table() -> dict[tuple[str, str, str], str]:
    """The access matrix's own SPEC (persona, action, state) → expected answer."""
    from tests.security.test_access_matrix import SPEC
    return SPEC


def without_csrf(html: bytes) -> bytes:
    return re.sub(rb"[A-Za-z0-9]{64}", b"<csrf>", html)


def build_cells(spec: dict[tuple[str, str, str], str], ids: dict[str, int], codes: dict[str, str],
                versions: dict[str, int], personas: list[str]) -> list[Cell]:
    cells = []
    for persona in personas:
        for state in STATES:
            pk = ids[state]
            for action in ACTIONS:
                expected = spec[persona, action, state]
                if action in {"edit", "delete", "approve"} and expected.startswith("2"):
                    continue  # only refused writes: the run must not change the company's accounts
                if action == "get":
                    cell = Cell(persona, state, action, expected, "GET", f"/api/v1/accounts/{pk}", True,
                                missing_path=f"/api/v1/accounts/{MISSING_ID}")
                elif action == "page":
                    cell = Cell(persona, state, action, expected, "GET", f"/accounts/{pk}/", False,
                                missing_path=f"/accounts/{MISSING_ID}/")
                elif action == "search":
                    cell = Cell(persona, state, action, expected, "GET",
                                "/api/v1/accounts?" + urlencode({"q": codes[state]}), True, code=str(pk))
                elif action == "history":
                    cell = Cell(persona, state, action, expected, "GET", f"/api/v1/history/customers.account/{pk}",
                                True, missing_path=f"/api/v1/history/customers.account/{MISSING_ID}")
                elif action == "edit":
                    cell = Cell(persona, state, action, expected, "PATCH", f"/api/v1/accounts/{pk}", True,
                                body={"version": versions[state], "notes": "S23 must not land"},
                                missing_path=f"/api/v1/accounts/{MISSING_ID}")
                elif action == "delete":
                    cell = Cell(persona, state, action, expected, "DELETE", f"/api/v1/accounts/{pk}", True,
                                missing_path=f"/api/v1/accounts/{MISSING_ID}")
                else:
                    cell = Cell(persona, state, action, expected, "POST", f"/api/v1/accounts/{pk}/approve", True,
                                body={}, missing_path=f"/api/v1/accounts/{MISSING_ID}/approve")
                cells.append(cell)
    return cells


def check_cell(client: Client, cell: Cell) -> str | None:
    """None when the answer is the expected one, else what differed."""
    status, headers, body = client.request(cell.method, cell.path, cell.body, api=cell.api)
    if status >= 500:
        raise RuntimeError(f"{status} on {cell.method} {cell.path}")
    if cell.action == "search":
        if cell.expected == "401":
            return None if status == 401 else f"status {status}, expected 401"
        if status != 200:
            return f"status {status}"
        found = int(cell.code) in {row["id"] for row in json.loads(body)["results"]}
        return None if found == (cell.expected == "Y") else f"found={found}, expected {cell.expected}"
    if cell.expected == "login":
        ok = status == 302 and headers.get("location", "").startswith("/login/")
        return None if ok else f"status {status} location {headers.get('location')}, expected the sign-in page"
    if status != int(cell.expected):
        return f"status {status}, expected {cell.expected}"
    if cell.expected == "404" and cell.missing_path:
        m_status, _, m_body = client.request(cell.method, cell.missing_path, cell.body, api=cell.api)
        if m_status != 404:
            return f"the missing id answered {m_status}"
        if cell.api:
            same = json.loads(body) == json.loads(m_body)
        else:
            hidden = without_csrf(body).replace(cell.path.encode(), b"<path>")
            same = hidden == without_csrf(m_body).replace(cell.missing_path.encode(), b"<path>")
        if not same:
            return "a hidden record's 404 differs from a missing one's"
    return None


def run_matrix(clients: dict[str, Client], cells: list[Cell], tally: Tally, stop: threading.Event | None,
               rounds: int = 1, seed: int = 0) -> None:
    rng = random.Random(seed)
    done = 0
    while True:
        order = cells[:]
        rng.shuffle(order)
        for cell in order:
            try:
                problem = check_cell(clients[cell.persona], cell)
            except Exception as exc:
                with tally.lock:
                    tally.errors.append(f"{cell.persona} {cell.action} {cell.state}: {exc!r}")
                continue
            with tally.lock:
                tally.checks += 1
                if problem:
                    tally.leaks.append(f"{cell.persona} {cell.action} {cell.state} ({cell.method} {cell.path}): "
                                       f"{problem}")
            if stop is not None and stop.is_set():
                return
        done += 1
        if stop is None and done >= rounds:
            return


# --- The topology -------------------------------------------------------------------------------
NGINX_CONF = """
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
{user}
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{site}
}}
"""


def nginx_site(tmp: Path, port: int, web_ports: list[int]) -> str:
    """docs/deploy.md's nginx site (section 8), moved onto this run's ports and certificate, with
    both web processes in the upstream: the load runs through the configuration the guide gives."""
    sys.path.insert(0, str(ROOT / "deploy"))
    from docblock import block

    site = block((ROOT / "docs" / "deploy.md").read_text(encoding="utf-8"), "/etc/nginx/sites-available/guanxi")
    assert site, "docs/deploy.md has no nginx site"
    # drop the port-80 redirect server, keep the upstream and the TLS server
    site = re.sub(r"server \{\s*listen 80;.*?\n\}\n", "", site, count=1, flags=re.S)
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in web_ports)
    site = re.sub(r"    server 127\.0\.0\.1:8000;\n", servers, site)
    site = re.sub(r"listen 443 ssl http2;[^\n]*", f"listen 127.0.0.1:{port} ssl;", site)
    site = re.sub(r"\n\s*listen \[::\]:443[^\n]*", "", site)
    site = site.replace("server_name crm.example.com;", "server_name 127.0.0.1;")
    site = site.replace("/etc/ssl/guanxi/fullchain.pem", str(tmp / "cert.pem"))
    site = site.replace("/etc/ssl/guanxi/privkey.pem", str(tmp / "key.pem"))
    assert f"127.0.0.1:{port} ssl" in site and str(tmp / "key.pem") in site and "proxy_pass http://guanxi" in site
    return site


class Topology:
    def __init__(self, cfg: dict[str, str]) -> None:
        self.cfg = cfg
        self.tmp = Path(tempfile.mkdtemp(prefix="guanxi-s23-"))
        os.chmod(self.tmp, 0o755)  # noqa: S103 - nginx workers (nobody) use their temp paths inside
        self.web_ports = [free_port(), free_port()]
        self.port = free_port()
        self.queue_name = f"guanxi-s23-{os.getpid()}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Any] = []

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GUANXI_", "DJANGO_", "PYTEST"))}
        env.update({
            "GUANXI_PRODUCTION": "1",
            "GUANXI_SECRET_KEY": secrets.token_urlsafe(48),
            "GUANXI_ALLOWED_HOSTS": "127.0.0.1",
            "GUANXI_CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{self.port}",
            "GUANXI_DATA_DIR": self.cfg["data_dir"],
            "DATABASE_URL": self.cfg["database_url"],
            "REDIS_URL": self.cfg["redis_url"],
            "GUANXI_QUEUE_NAME": self.queue_name,
            "GUANXI_BEHIND_PROXY": "1",
            "GUANXI_HSTS_SECONDS": "0",
            "GUANXI_LOGIN_FAILURE_LIMIT": "1000",
            "GUANXI_SMTP_HOST": "127.0.0.1", "GUANXI_SMTP_PORT": "9",  # nothing is mailed from a load run
        })
        return env

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = open(self.tmp / f"{name}.log", "wb")
        self.logs.append(log)
        self.procs.append(subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                           start_new_session=True))

    def start(self) -> None:
        env = self.env()
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(self.tmp / "key.pem"), "-out", str(self.tmp / "cert.pem")],
                       check=True, capture_output=True)
        for i, port in enumerate(self.web_ports, 1):
            self._spawn(f"web{i}", [sys.executable, "-m", "guanxi.cli", "serve", "--no-worker", "--port", str(port),
                                    "--workers", "2", "--threads", "4"], env)
        for i in (1, 2):
            self._spawn(f"worker{i}", [sys.executable, "-m", "guanxi.cli", "worker", "--no-periodic"], env)
        user = "user nobody nogroup;" if os.geteuid() == 0 else ""
        (self.tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=self.tmp, user=user,
                                                               site=nginx_site(self.tmp, self.port, self.web_ports)))
        self._spawn("nginx", ["nginx", "-p", str(self.tmp), "-c", str(self.tmp / "nginx.conf"),
                              "-g", "daemon off;"], env)
        deadline = time.monotonic() + 90
        for port in self.web_ports:
            while True:
                self.check_alive()
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"web process on {port} did not start: {self.tail()}") from None
                    time.sleep(0.3)
        while True:
            try:
                status, _, _ = Client(self.port).request("GET", "/login/")
                if status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not answer: {self.tail()}")
            time.sleep(0.3)

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}: {self.tail()}")

    def tail(self) -> str:
        out = []
        for log in sorted(self.tmp.glob("*.log")):
            out.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(out)

    def server_errors(self) -> list[str]:
        """Tracebacks and 5xx lines the web processes, workers and nginx logged."""
        found = []
        for log in sorted(self.tmp.glob("*.log")):
            for line in log.read_text(errors="replace").splitlines():
                if "Traceback" in line or re.search(r'" 5\d\d ', line) or "[error]" in line or "[crit]" in line:
                    found.append(f"{log.name}: {line[:300]}")
        return found

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for log in self.logs:
            log.close()


# --- The world in the M company ----------------------------------------------------------------
def resolve_world(database_url: str) -> dict[str, Any]:
    """Users and one account per state, read straight from the M database (read-only)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        def one(sql: str, *params: Any) -> Any:
            row = conn.execute(sql, params).fetchone()
            assert row is not None, f"the M company has no row for: {sql} {params}"
            return row

        dept = {name: one("select department_id from core_user where username=%s", name)[0]
                for name in ("sales", "sales2", "outsider")}
        assert dept["sales"] == dept["sales2"] != dept["outsider"]
        south = one("""select u.username from core_user u join core_user_roles ur on ur.user_id=u.id
                       join core_role r on r.id=ur.role_id where r.code='sales_manager' and u.department_id=%s
                       and u.is_active order by u.id limit 1""", dept["outsider"])[0]
        leaders = {row[0] for row in conn.execute("select leader_id from core_team where leader_id is not null")}
        for name in ("sales", "sales2", "outsider", "service", "marketing"):
            uid = one("select id from core_user where username=%s", name)[0]
            assert uid not in leaders, f"{name} leads a team in the M company: the matrix's columns do not apply"
        def owned_by(username: str, approved: bool) -> Any:
            """The first live account of a user, in the user's own department, approved or not."""
            return one("""select a.id, a.code, a.version from customers_account a join core_user u on u.id=a.owner_id
                          where u.username=%s and a.department_id=u.department_id and a.deleted_at is null
                          and (a.approval_state = 'approved') = %s order by a.id limit 1""", username, approved)

        accounts = {
            "own": owned_by("sales", False),
            "teammate": owned_by("sales2", False),
            "other": owned_by("outsider", False),
            "pool": one("""select id, code, version from customers_account where owner_id is null
                           and department_id is null and deleted_at is null and approval_state <> 'approved'
                           order by id limit 1"""),
            "approved": owned_by("sales", True),
        }
        grants = conn.execute("""select count(*) from core_accessgrant g join core_user u on u.id=g.grantee_id
                                 where g.state='approved' and g.expires_at > now()""").fetchone()
        assert grants is not None and grants[0] == 0, "approved grants in the M company would widen the columns"
    return {"south_manager": south, "accounts": accounts}


LUA = r"""
-- generated by tests/load/s23.py: a fixed mix of requests, each thread starting at its own offset
local reqs = {%(requests)s}
local counter = 0
local threads = {}
function setup(thread)
  thread:set("offset", #threads * 7)
  table.insert(threads, thread)
end
function init(args)
  counter = offset or 0
  n5xx = 0; n4xx = 0; n201 = 0
end
function request()
  counter = counter + 1
  local r = reqs[(counter %% #reqs) + 1]
  return wrk.format(r[1], r[2], r[3], r[4])
end
function response(status, headers, body)
  if status >= 500 then n5xx = n5xx + 1 elseif status >= 400 then n4xx = n4xx + 1
  elseif status == 201 then n201 = n201 + 1 end
end
function done(summary, latency, requests)
  local t5, t4, t201 = 0, 0, 0
  for _, thread in ipairs(threads) do
    t5 = t5 + (thread:get("n5xx") or 0); t4 = t4 + (thread:get("n4xx") or 0)
    t201 = t201 + (thread:get("n201") or 0)
  end
  io.write(string.format("S23JSON {\"requests\": %%d, \"duration_us\": %%d, \"bytes\": %%d, " ..
    "\"connect\": %%d, \"read\": %%d, \"write\": %%d, \"status\": %%d, \"timeout\": %%d, " ..
    "\"n5xx\": %%d, \"n4xx\": %%d, \"n201\": %%d, \"p50\": %%d, \"p90\": %%d, \"p99\": %%d, \"max\": %%d, \"mean\": %%d}\n",
    summary.requests, summary.duration, summary.bytes, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout, t5, t4, t201,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, math.floor(latency.mean)))
end
"""


def lua_string(value: str) -> str:
    """A Lua string literal: printable ASCII as it is, every other byte as a decimal escape."""
    out = []
    for byte in value.encode():
        char = chr(byte)
        out.append(char if 32 <= byte < 127 and char not in "\\\"" else f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def build_mix(clients: dict[str, Client], world: dict[str, Any], write_account: int) -> list[tuple[str, str,
                                                                                                 dict[str, str], str]]:
    """The request mix: every request answered 2xx/3xx before the run (checked), weighted by repetition."""
    acc = world["accounts"]
    by_persona: dict[str, list[tuple[str, str, Any, bool]]] = {
        "sales": [("GET", "/", None, False), ("GET", "/accounts/", None, False),
                  ("GET", "/accounts/?q=%E4%B8%8A%E6%B5%B7", None, False),  # 上海
                  ("GET", f"/accounts/{acc['own'][0]}/", None, False),
                  ("GET", f"/accounts/{acc['approved'][0]}/", None, False),
                  ("GET", "/api/v1/accounts", None, True), ("GET", "/api/v1/accounts?q=%E6%9C%BA%E6%A2%B0", None, True),
                  ("GET", "/api/v1/interactions?owner=me", None, True),
                  ("POST", "/api/v1/interactions", {"account": write_account, "kind": "call",
                                                    "summary": "S23 负载测试电话"}, True)],
        "manager": [("GET", "/", None, False), ("GET", "/accounts/", None, False),
                    ("GET", f"/accounts/{acc['teammate'][0]}/", None, False),
                    ("GET", "/accounts/?q=%E6%9C%89%E9%99%90", None, False),  # 有限
                    ("GET", "/api/v1/accounts?page=3", None, True)],
        "gm": [("GET", "/", None, False), ("GET", "/accounts/?q=%E5%B9%BF%E5%B7%9E", None, False),  # 广州
               ("GET", f"/accounts/{acc['other'][0]}/", None, False), ("GET", "/api/v1/accounts", None, True)],
        "service": [("GET", "/", None, False), ("GET", "/service/", None, False), ("GET", "/accounts/", None, False)],
        "marketing": [("GET", "/", None, False), ("GET", "/accounts/", None, False)],
    }
    mix = []
    for persona, requests in by_persona.items():
        client = clients[persona]
        # the desk's lazy panels, as a browser loads them after the page
        _, _, desk = client.request("GET", "/")
        panels = sorted(set(re.findall(r'hx-get="(/desk/[\w.-]+/)"', desk.decode(errors="replace"))))
        requests = requests + [("GET", p, None, False) for p in panels]
        for method, path, body, api in requests:
            status, _, answer = client.request(method, path, body, api=api)
            if status >= 400:
                if persona == "service" and path == "/service/":
                    continue  # no service desk in this build
                raise AssertionError(f"mix request {persona} {method} {path} answered {status}: {answer[:200]!r}")
            headers = {"Host": f"127.0.0.1:{client.port}", "Origin": client.origin, "Referer": client.origin + "/"}
            data = ""
            if api:
                headers["Authorization"] = f"Bearer {client.token}"
                if body is not None:
                    headers["Content-Type"] = "application/json"
                    data = json.dumps(body, ensure_ascii=False)
            else:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            # reads three times as often as the write
            for _ in range(1 if method != "GET" else 3):
                mix.append((method, path, headers, data))
    random.Random(23).shuffle(mix)
    return mix


def write_lua(mix: list[tuple[str, str, dict[str, str], str]], path: Path) -> None:
    rows = []
    for method, url, headers, body in mix:
        h = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items())
        rows.append(f"{{{lua_string(method)}, {lua_string(url)}, {{{h}}}, {lua_string(body) if body else 'nil'}}}")
    path.write_text(LUA % {"requests": ",\n".join(rows)})


def run(seconds: int = 60, connections: int = 16, threads: int = 2, samplers: int = 2,
        out: Any = sys.stdout) -> dict[str, Any]:
    cfg = config()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    import django

    django.setup()
    spec = spec_table()
    world = resolve_world(cfg["database_url"])
    PERSONA_USERS["south_manager"] = world["south_manager"]
    topo = Topology(cfg)
    result: dict[str, Any] = {"seconds": seconds, "connections": connections, "threads": threads}
    created: list[int] = []
    clients: dict[str, Client] = {}
    try:
        topo.start()
        print(f"topology up: nginx https://127.0.0.1:{topo.port} → web {topo.web_ports}, 2 workers; {topo.tmp}",
              file=out, flush=True)
        for persona, username in PERSONA_USERS.items():
            clients[persona] = Client(topo.port)
            if username:
                clients[persona].login(username)
            else:
                clients[persona].request("GET", "/login/")  # an anonymous visitor with the CSRF cookie
        by_user = {u: clients[p] for p, u in PERSONA_USERS.items() if u}
        # the run's own records: one account to write on, one for the matrix's "deleted" state
        run_tag = secrets.token_hex(4)
        status, _, body = by_user["sales"].request("POST", "/api/v1/accounts",
                                                   {"name": f"S23负载测试客户{run_tag}有限公司"}, api=True)
        assert status == 201, (status, body[:300])
        write_account = json.loads(body)["id"]
        created.append(write_account)
        status, _, body = by_user["sales"].request("POST", "/api/v1/accounts",
                                                   {"name": f"S23已删除客户{run_tag}有限公司"}, api=True)
        assert status == 201, (status, body[:300])
        deleted = json.loads(body)
        status, _, body = by_user["manager"].request("DELETE", f"/api/v1/accounts/{deleted['id']}", api=True)
        assert status == 204, (status, body[:300])
        accounts = dict(world["accounts"])
        accounts["deleted"] = (deleted["id"], deleted["code"], deleted["version"])
        ids = {s: accounts[s][0] for s in STATES}
        codes = {s: accounts[s][1] for s in STATES}
        versions = {s: accounts[s][2] for s in STATES}
        cells = build_cells(spec, ids, codes, versions, list(PERSONA_USERS))
        result["matrix_cells"] = len(cells)

        # 1. the sample once without load: the mapping onto the M company must hold
        baseline = Tally()
        run_matrix(clients, cells, baseline, None, rounds=1)
        result["baseline"] = {"checks": baseline.checks, "leaks": baseline.leaks, "errors": baseline.errors}
        print(f"baseline: {baseline.checks} matrix checks, {len(baseline.leaks)} differences, "
              f"{len(baseline.errors)} errors", file=out, flush=True)
        if baseline.leaks or baseline.errors:
            return result

        # 2. wrk with the mix, and the matrix sample at the same time
        mix = build_mix(by_user, world, write_account)
        lua = topo.tmp / "mix.lua"
        write_lua(mix, lua)
        result["mix_requests"] = len(mix)
        # under load: one state per persona × action (all of them were checked above), over and over
        rng = random.Random(os.getpid())
        groups: dict[tuple[str, str], list[Cell]] = {}
        for cell in cells:
            groups.setdefault((cell.persona, cell.action), []).append(cell)
        sample = [rng.choice(group) for group in groups.values()]
        result["matrix_sample"] = len(sample)
        result["loadavg_before"] = [round(x, 1) for x in os.getloadavg()]
        tally = Tally()
        stop = threading.Event()
        with concurrent.futures.ThreadPoolExecutor(samplers) as pool:
            futures = [pool.submit(run_matrix, clients, sample, tally, stop, 0, seed) for seed in range(samplers)]
            started = time.monotonic()
            wrk = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
                                  "--timeout", "30s", "-s", str(lua), f"https://127.0.0.1:{topo.port}/"],
                                 capture_output=True, text=True, timeout=seconds + 120)
            stop.set()
            for future in futures:
                future.result()
            elapsed = time.monotonic() - started
        result["loadavg_after"] = [round(x, 1) for x in os.getloadavg()]
        line = next((ln for ln in wrk.stdout.splitlines() if ln.startswith("S23JSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk gave no summary: {wrk.stdout}\n{wrk.stderr}")
        figures = json.loads(line.removeprefix("S23JSON "))
        figures["rps"] = round(figures["requests"] / (figures["duration_us"] / 1e6), 1)
        figures["socket_errors"] = figures["connect"] + figures["read"] + figures["write"] + figures["timeout"]
        result["wrk"] = figures
        result["matrix"] = {"checks": tally.checks, "per_second": round(tally.checks / elapsed, 1),
                            "leaks": tally.leaks, "errors": tally.errors}
        topo.check_alive()
        result["server_errors"] = topo.server_errors()
        with psycopg_connect(cfg["database_url"]) as conn:
            row = conn.execute("select count(*) from activities_interaction where account_id=%s",
                               (write_account,)).fetchone()
            result["writes_landed"] = row[0] if row else 0
        print(summary(result), file=out, flush=True)
        return result
    finally:
        for account in created:
            if "manager" in clients:
                clients["manager"].request("DELETE", f"/api/v1/accounts/{account}", api=True)
        for client in clients.values():
            if client.token:
                client.request("DELETE", f"/api/v1/tokens/{client.token_id}", api=True)
        topo.stop()
        forget_redis_keys(cfg["redis_url"], topo.queue_name, [c.cookies.get("sessionid", "") for c in clients.values()])
        if not os.environ.get("GUANXI_LOAD_KEEP"):
            shutil.rmtree(topo.tmp, ignore_errors=True)


def forget_redis_keys(redis_url: str, queue_name: str, session_ids: list[str]) -> int:
    """Remove what the run left in Redis: its queue's keys (huey strips the name to letters and
    digits) and its personas' sessions. Nothing else in the database is touched."""
    import redis

    client = redis.Redis.from_url(redis_url)
    patterns = [f"*{re.sub(r'[^a-z0-9]', '', queue_name.lower())}*"]
    patterns += [f"*django.contrib.sessions.cache{sid}" for sid in session_ids if sid]
    removed = 0
    for pattern in patterns:
        for key in client.scan_iter(match=pattern, count=500):
            removed += client.delete(key)
    return removed


def psycopg_connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True)


def summary(result: dict[str, Any]) -> str:
    w, m = result["wrk"], result["matrix"]
    return (f"wrk {result['threads']} threads × {result['connections']} connections, {result['seconds']} s, "
            f"{result['mix_requests']} distinct requests in the mix: {w['requests']} requests, {w['rps']} req/s; "
            f"latency p50 {w['p50'] / 1000:.0f} ms, p90 {w['p90'] / 1000:.0f} ms, p99 {w['p99'] / 1000:.0f} ms, "
            f"max {w['max'] / 1000:.0f} ms; 5xx {w['n5xx']}, 4xx {w['n4xx']}, socket errors {w['socket_errors']} "
            f"(timeouts {w['timeout']}). Access matrix: {result['matrix_cells']} cells without load, all as specified; "
            f"under load a sample of {result['matrix_sample']} (one state per persona × action): {m['checks']} "
            f"checks ({m['per_second']}/s), {len(m['leaks'])} leaks, {len(m['errors'])} errors; "
            f"server log errors {len(result['server_errors'])}; interactions written {result['writes_landed']} "
            f"(wrk got 201 for {w['n201']}, plus 1 before the run); load average before/after "
            f"{result['loadavg_before'][0]}/{result['loadavg_after'][0]} on {os.cpu_count()} CPUs.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("GUANXI_LOAD_SECONDS", "90")))
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the whole result here")
    args = parser.parse_args()
    missing = missing_tools()
    if missing:
        print(f"needs {', '.join(missing)} (apt-get install nginx wrk openssl)", file=sys.stderr)
        return 2
    result = run(args.seconds, args.connections, args.threads)
    if args.json:
        Path(args.json).write_text(json.dumps(result, ensure_ascii=False, indent=1))
    bad = (result.get("baseline", {}).get("leaks") or result.get("baseline", {}).get("errors")
           or "wrk" not in result or result["wrk"]["n5xx"] or result["wrk"]["n4xx"] or result["wrk"]["socket_errors"]
           or result["matrix"]["leaks"] or result["matrix"]["errors"] or result["server_errors"])
    if bad:
        print(json.dumps({k: result.get(k) for k in ("baseline", "matrix", "server_errors")}, ensure_ascii=False,
                         indent=1)[:5000], file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
