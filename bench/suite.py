"""Run the benchmark suite against the demo company and write docs/benchmarks.md.

Each operation is timed in process (Django test client, warm) and over HTTP against
gunicorn with two workers on 127.0.0.1, as median and p95 over N requests after warm-up,
as the role that uses it. In-process figures also report the number of SQL queries and
the raw SQL time, so the framework's overhead shows as a ratio.
"""

from __future__ import annotations

import datetime as dt
import http.client
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext

ROOT = Path(__file__).resolve().parent.parent
TARGETS_MS = {  # p95 targets at size M (BENCHMARKS.md); login and home have none there
    "api_accounts_first_page": 20.0,
    "api_accounts_page_50": 20.0,
    "html_accounts_first_page": 30.0,
    "html_accounts_page_50": 30.0,
    "html_account_360": 40.0,
    "html_home": 50.0,
    "api_search_substring": 25.0,
    "api_search_pinyin_initials": 25.0,
    "api_search_phone_digits": 25.0,
    "api_search_credit_code": 25.0,
    # B4: the salesperson's desk and the manager's business check of one salesperson (30 days)
    "html_desk": 50.0,
    "html_business_check": 50.0,
    # B5: log an interaction through the API (audited, the cadence follow-up rescheduled)
    "api_interaction_create": 30.0,
    # B13: the kanban board's first load (salesperson, GM); the sales forecast (manager, warm cache)
    "html_kanban": 50.0,
    "html_forecast": 100.0,
}


# At size L (PostgreSQL) the suite sets looser targets: B1 60, B2 50, B3 60, the desk 100 ms.
TARGETS_L_MS = {name: {"api_accounts_first_page": 60.0, "api_accounts_page_50": 60.0, "html_accounts_first_page": 60.0,
                       "html_accounts_page_50": 60.0, "html_account_360": 60.0, "html_home": 100.0,
                       "html_desk": 100.0, "html_business_check": 100.0, "api_interaction_create": 40.0,
                       "html_kanban": 100.0, "html_forecast": 200.0,
                       }.get(name, 50.0)
                for name in TARGETS_MS}


@dataclass
class Result:
    name: str
    role: str
    channel: str
    median_ms: float
    p95_ms: float
    queries: int | None = None
    sql_ms: float | None = None
    size: str = "M"

    @property
    def target(self) -> float | None:
        return (TARGETS_L_MS if self.size == "L" else TARGETS_MS).get(self.name)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


class SqlTimer:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start


def time_in_process(client: Client, path: str, n: int, *, method: str = "get", data: Any = None,
                    warmup: int = 5, **extra: Any) -> tuple[list[float], int, float]:
    call = getattr(client, method)
    for _ in range(warmup):
        call(path, data, **extra) if data is not None else call(path, **extra)
    samples: list[float] = []
    sql_total = 0.0
    queries = 0
    for _ in range(n):
        timer = SqlTimer()
        with connection.execute_wrapper(timer), CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = call(path, data, **extra) if data is not None else call(path, **extra)
            samples.append((time.perf_counter() - start) * 1000)
        if response.status_code >= 400:
            raise RuntimeError(f"{path} answered {response.status_code}")
        sql_total += timer.seconds * 1000
        queries = len(ctx.captured_queries)
    reset_queries()
    return samples, queries, sql_total / n


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_http(port: int, path: str, headers: dict[str, str], n: int, warmup: int = 5) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    samples: list[float] = []
    for i in range(warmup + n):
        start = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status >= 400:
            raise RuntimeError(f"HTTP {path} answered {response.status}")
        if i >= warmup:
            samples.append((time.perf_counter() - start) * 1000)
    conn.close()
    return samples


def start_gunicorn(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GUANXI_ALLOWED_HOSTS": "127.0.0.1,localhost"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "guanxi.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--worker-class", "gthread", "--threads", "4", "--log-level", "warning"],
        env=env,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


def run(size: str, n: int, write: bool, http_too: bool = True) -> list[Result]:
    from django.conf import settings

    from guanxi.core.models import User
    from guanxi.core.services.tokens import token_create
    from guanxi.demo import DEMO_PASSWORD, build_demo

    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS.append("testserver")  # the in-process client's host name
    started = time.perf_counter()
    summary = build_demo(size)
    build_seconds = time.perf_counter() - started
    results: list[Result] = []
    roles = [("salesperson", "sales"), ("manager", "manager"), ("general manager", "gm")]

    anon = Client()
    login_samples = []
    for _ in range(min(n, 30)):
        c = Client()
        start = time.perf_counter()
        response = c.post("/login/", {"username": "sales", "password": DEMO_PASSWORD})
        login_samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 302, response.status_code
    results.append(Result("login", "salesperson", "in-process", statistics.median(login_samples),
                          percentile(login_samples, 95)))
    del anon

    tokens: dict[str, str] = {}
    for role, username in roles:
        user = User.objects.get(username=username)
        client = Client()
        client.force_login(user)
        _token, raw = token_create(actor=user, name="bench")
        tokens[username] = raw
        api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        for name, c, path in [
            ("html_home", client, "/"),
            ("html_accounts_first_page", client, "/accounts/"),
            ("html_accounts_page_50", client, "/accounts/?page=50"),
            ("api_accounts_first_page", api, "/api/v1/accounts"),
        ]:
            samples, queries, sql_ms = time_in_process(c, path, n)
            results.append(Result(name, role, "in-process", statistics.median(samples), percentile(samples, 95),
                                  queries, sql_ms))
        # B3: the account 360 page of the account with the longest rating history this role sees.
        from django.db.models import Count

        from guanxi.core import search as search_mod
        from guanxi.customers.selectors import account_scope

        busy = (account_scope(user).annotate(n=Count("ratings")).order_by("-n", "id").values_list("id", flat=True)
                .first())
        if busy is not None:
            samples, queries, sql_ms = time_in_process(client, f"/accounts/{busy}/", n)
            results.append(Result("html_account_360", role, "in-process", statistics.median(samples),
                                  percentile(samples, 95), queries, sql_ms))
        # B2: search as users type it, for an account this role can see.

        sample = account_scope(user).exclude(credit_code="").exclude(phone="").order_by("id").first()
        if sample is not None:
            short = search_mod.short_name(sample.name)
            initials = search_mod.pinyin_forms(short)[1] if search_mod.pinyin_forms(short) else short
            for kind, query in [("substring", short[-4:]), ("pinyin_initials", initials),
                                ("phone_digits", sample.phone[-6:]), ("credit_code", sample.credit_code)]:
                samples, queries, sql_ms = time_in_process(api, f"/api/v1/accounts?page_size=20&q={quote(query)}", n)
                results.append(Result(f"api_search_{kind}", role, "in-process", statistics.median(samples),
                                      percentile(samples, 95), queries, sql_ms))
        # Page 50 through the cursor: walk 49 pages once, then time the 50th.
        cursor_path = "/api/v1/accounts?page_size=50"
        for _ in range(49):
            nxt = api.get(cursor_path).json().get("next")
            if not nxt:
                break
            cursor_path = nxt.split("testserver", 1)[-1]
        samples, queries, sql_ms = time_in_process(api, cursor_path, n)
        results.append(Result("api_accounts_page_50", role, "in-process", statistics.median(samples),
                              percentile(samples, 95), queries, sql_ms))

    results.extend(activity_cases(n, tokens))
    results.extend(sales_cases(n))
    results.extend(service_cases(n))

    if http_too:
        port = free_port()
        server = start_gunicorn(port)
        try:
            for role, username in roles:
                samples = time_http(port, "/api/v1/accounts", {"Authorization": f"Bearer {tokens[username]}"}, n)
                results.append(Result("api_accounts_first_page", role, "HTTP (gunicorn, 2 workers)",
                                      statistics.median(samples), percentile(samples, 95)))
        finally:
            server.terminate()
            server.wait(timeout=15)

    for r in results:
        r.size = size
    if write:
        write_report(results, size=size, n=n, build_seconds=build_seconds, summary=summary)
    return results


def activity_cases(n: int, tokens: dict[str, str]) -> list[Result]:
    """B4 (the salesperson's desk, the manager's business check) and B5 (log a contact by API)."""
    import json

    from guanxi.activities.models import FollowUp
    from guanxi.core.models import User

    sales = User.objects.get(username="sales")
    manager = User.objects.get(username="manager")
    results: list[Result] = []

    def measure(name: str, role: str, client: Client, path: str, **options: Any) -> None:
        samples, queries, sql_ms = time_in_process(client, path, n, **options)
        results.append(Result(name, role, "in-process", statistics.median(samples), percentile(samples, 95),
                              queries, sql_ms))

    desk = Client()
    desk.force_login(sales)
    measure("html_desk", "salesperson", desk, "/")
    check = Client()
    check.force_login(manager)
    # The manager of a ten-person team checks its salesperson with the realistic book.
    measure("html_business_check", "manager", check, f"/activities/check/?user={sales.pk}&days=30")
    measure("html_business_check_team", "manager", check, "/activities/check/?days=30")
    # B5: a call on one of the salesperson's accounts that has a cadence follow-up open, so the
    # contact moves it on (each request logs one more interaction: the data grows by n + warm-up).
    account_id = (FollowUp.objects.filter(owner=sales, state="open", source="cadence",
                                          account__owner=sales, account__deleted_at__isnull=True)
                  .order_by("account_id").values_list("account_id", flat=True).first())
    if account_id is not None:
        api = Client(HTTP_AUTHORIZATION=f"Bearer {tokens['sales']}")
        body = json.dumps({"account": account_id, "kind": "call", "purpose": "information",
                           "summary": "性能测试：电话回访，确认下月到货时间。"}, ensure_ascii=False)
        measure("api_interaction_create", "salesperson", api, "/api/v1/interactions", method="post", data=body,
                content_type="application/json")
    return results


def sales_cases(n: int) -> list[Result]:
    """B13 (the kanban board: a salesperson's and the GM's first load), the forecast (a manager,
    warm cache) and the account 360 page's Sales tab (the htmx fragment). A route another
    area has not delivered yet is skipped, saying so."""
    from django.db.models import Count
    from django.urls import NoReverseMatch, reverse

    from guanxi.core.models import User
    from guanxi.sales.selectors.scope import order_scope

    results: list[Result] = []
    users = {u.username: u for u in User.objects.filter(username__in=["sales", "manager", "gm"])}

    def measure(name: str, role: str, username: str, route: str, *args: Any) -> None:
        try:
            path = reverse(route, args=args)
        except NoReverseMatch:
            print(f"bench: {name} skipped: the route {route} does not exist yet", file=sys.stderr)
            return
        client = Client()
        client.force_login(users[username])
        samples, queries, sql_ms = time_in_process(client, path, n)
        results.append(Result(name, role, "in-process", statistics.median(samples), percentile(samples, 95),
                              queries, sql_ms))

    measure("html_kanban", "salesperson", "sales", "sales:opportunity-board")
    measure("html_kanban", "general manager", "gm", "sales:opportunity-board")
    measure("html_forecast", "manager", "manager", "sales:forecast")
    # The Sales tab of the customer with the most orders each role sees (what the 360 page fetches).
    for role, username in (("salesperson", "sales"), ("manager", "manager")):
        busiest = (order_scope(users[username]).values("account_id").annotate(n=Count("id")).order_by("-n", "account_id")
                   .values_list("account_id", flat=True).first())
        if busiest is not None:
            measure("html_account_sales_tab", role, username, "sales:account-sales", busiest)
    return results


def service_cases(n: int) -> list[Result]:
    """The service desk (issue 6): an agent's desk and case list, the busiest case's page, a
    service manager's list, reports and satisfaction dashboard, and the public form."""
    from django.db.models import Count
    from django.urls import reverse

    from guanxi.core.models import User
    from guanxi.service.selectors.scope import case_scope

    results: list[Result] = []
    users = {u.username: u for u in User.objects.filter(username__in=["service", "servicemgr"])}
    if len(users) < 2:
        print("bench: service cases skipped: the demo has no service desk", file=sys.stderr)
        return results

    def measure(name: str, role: str, username: str | None, path: str) -> None:
        client = Client()
        if username:
            client.force_login(users[username])
        samples, queries, sql_ms = time_in_process(client, path, n)
        results.append(Result(name, role, "in-process", statistics.median(samples), percentile(samples, 95),
                              queries, sql_ms))

    measure("html_desk", "service agent", "service", "/")
    measure("html_cases", "service agent", "service", reverse("service:case-list"))
    measure("html_cases", "service manager", "servicemgr", reverse("service:case-list"))
    busiest = (case_scope(users["service"]).annotate(n=Count("events")).order_by("-n", "id")
               .values_list("id", flat=True).first())
    if busiest is not None:
        measure("html_case_detail", "service agent", "service", reverse("service:case-detail", args=[busiest]))
    measure("html_service_reports", "service manager", "servicemgr", reverse("service:reports"))
    measure("html_survey_dashboard", "service manager", "servicemgr", reverse("loyalty:dashboard"))
    measure("html_feedback_form", "anonymous", None, reverse("feedback:form-default"))
    return results


def write_report(results: list[Result], *, size: str, n: int, build_seconds: float, summary: dict[str, Any]) -> None:
    db = connection.vendor
    path = ROOT / "docs" / "benchmarks.md"
    marker_start, marker_end = f"<!-- bench:{size}:{db}:start -->", f"<!-- bench:{size}:{db}:end -->"
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [
        marker_start,
        f"### Size {size} on {db} — {dt.date.today().isoformat()}",
        "",
        f"Machine: {os.cpu_count()} cores, {mem_gib:.0f} GiB, {platform.python_implementation()} "
        f"{platform.python_version()}. Command: `guanxi bench --size {size} --requests {n}`"
        + (" with `DATABASE_URL` set" if db == "postgresql" else "") + ".",
        f"Demo data: {summary.get('accounts')} accounts, {summary.get('users')} users, "
        f"{summary.get('interactions')} interactions, {summary.get('followups')} follow-ups "
        f"(build {'reused' if not summary.get('created') else f'took {build_seconds:.1f} s'}).",
        "",
        "| operation | role | channel | median ms | p95 ms | target p95 ms | queries | SQL ms | overhead × |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        target = f"{r.target:.0f}" + (" ✅" if r.p95_ms <= r.target else " ❌") if r.target else "—"
        overhead = f"{r.median_ms / r.sql_ms:.1f}" if r.sql_ms else "—"
        lines.append(
            f"| {r.name} | {r.role} | {r.channel} | {r.median_ms:.1f} | {r.p95_ms:.1f} | {target} | "
            f"{r.queries if r.queries is not None else '—'} | {f'{r.sql_ms:.1f}' if r.sql_ms else '—'} | {overhead} |"
        )
    lines.append(marker_end)
    block = "\n".join(lines)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    if marker_start in text:
        before, rest = text.split(marker_start, 1)
        after = rest.split(marker_end, 1)[1] if marker_end in rest else ""
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
