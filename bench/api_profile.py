"""Profile the B1 API (the account list, first page and page 50) in process.

    GUANXI_DATA_DIR=<a copy of the demo company> python -m bench.api_profile [--requests 50]
        [--roles sales,manager,gm] [--profile sales:first] [--top 30]

It writes: it makes one API token per role (``bench-profile``), so point it at a copy of
the demo company. For each role and page it runs 5 warm-up requests, then ``--requests``
timed ones through the Django test client with ``Authorization: Bearer``, and prints the
CPU time per request (``time.process_time``: what an idle machine would measure, SQL
included on SQLite), the wall median and p95, the number of statements and their time.
``--profile role:page`` adds a cProfile of that case's timed requests.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

PAGES = ("first", "page50")


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    import django

    django.setup()
    from django.conf import settings

    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS.append("testserver")


def page_50_path(api: Any, page_size: int = 50) -> str:
    """Walk the cursor 49 times from the first page, as the benchmark suite does."""
    path = f"/api/v1/accounts?page_size={page_size}"
    for _ in range(49):
        nxt = api.get(path).json().get("next")
        if not nxt:
            break
        path = nxt.split("testserver", 1)[-1]
    return path


def run_case(api: Any, path: str, n: int, profiler: cProfile.Profile | None, dump: Path | None = None) -> dict[str, Any]:
    from django.db import connection

    from bench.suite import SqlTimer, percentile

    for _ in range(5):
        api.get(path)
    cpu: list[float] = []
    wall: list[float] = []
    sql: list[float] = []
    queries = 0
    digest = ""
    for _ in range(n):
        timer = SqlTimer()
        with connection.execute_wrapper(timer):
            if profiler is not None:
                profiler.enable()
            c0, w0 = time.process_time(), time.perf_counter()
            response = api.get(path)
            w1, c1 = time.perf_counter(), time.process_time()
            if profiler is not None:
                profiler.disable()
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
        cpu.append((c1 - c0) * 1000)
        wall.append((w1 - w0) * 1000)
        sql.append(timer.seconds * 1000)
        queries = timer.count
        digest = hashlib.sha256(response.content).hexdigest()[:12]
    if dump is not None:
        dump.parent.mkdir(parents=True, exist_ok=True)
        dump.write_bytes(response.content)
    return {"cpu": statistics.median(cpu), "median": statistics.median(wall), "p95": percentile(wall, 95),
            "queries": queries, "sql": statistics.median(sql), "sha": digest}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--roles", default="sales,manager,gm")
    parser.add_argument("--profile", default="", help="role:page (page: first or page50)")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--dump", default="", help="a directory to write each case's response body to")
    args = parser.parse_args(argv)
    _setup()
    from django.test import Client

    from guanxi.core.models import User
    from guanxi.core.services.tokens import token_create

    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}", file=sys.stderr)
    for username in args.roles.split(","):
        user = User.objects.get(username=username)
        _token, raw = token_create(actor=user, name="bench-profile")
        api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        paths = {"first": "/api/v1/accounts", "page50": page_50_path(api)}
        for page in PAGES:
            profiler = cProfile.Profile() if args.profile == f"{username}:{page}" else None
            dump = Path(args.dump) / f"{username}-{page}.json" if args.dump else None
            r = run_case(api, paths[page], args.requests, profiler, dump)
            print(f"{username:<8} {page:<7} n={args.requests} CPU {r['cpu']:5.1f} ms  wall median {r['median']:5.1f} "
                  f"p95 {r['p95']:5.1f} ms  {r['queries']} queries, SQL {r['sql']:.1f} ms  body {r['sha']}")
            if profiler is not None:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
                print(out.getvalue())


if __name__ == "__main__":
    main()
