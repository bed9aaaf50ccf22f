"""B3 alone: the account 360 page and its Timeline tab (the htmx fragment the page fetches when the
tab is opened), in process, as the salesperson, a manager and the general manager, each on the
account with the longest rating history they see (as ``guanxi bench`` picks it).

For each: CPU time of this process per request (``time.process_time``: what a quiet machine
would measure; on SQLite it includes the SQL), wall-clock median and p95, and the number of
queries (``CaptureQueriesContext``). It only reads, but signing in writes a session row: run it
on a copy of the demo database.

    GUANXI_DATA_DIR=<a copy of the M company> python bench/b3.py [--requests 60] [--label after]

A version of guanxi without the Timeline route is measured on the page alone, so the same
script compares a change with the code before it (``PYTHONPATH=<that checkout>``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=60, help="timed requests per case (after 10 to warm up)")
    parser.add_argument("--label", default="", help="a word printed at the start of each line")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    import django

    django.setup()
    import logging

    from django.conf import settings
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.suite import percentile
    from guanxi.core.models import User
    from guanxi.customers.selectors import account_scope

    logging.disable(logging.INFO)  # the access log would be part of what is measured
    settings.ALLOWED_HOSTS.append("testserver")
    print(f"# {args.label} requests={args.requests} load={os.getloadavg()}", flush=True)
    for role, username in [("salesperson", "sales"), ("manager", "manager"), ("general manager", "gm")]:
        user = User.objects.get(username=username)
        client = Client()
        client.force_login(user)
        busy = (account_scope(user).annotate(n=Count("ratings")).order_by("-n", "id")
                .values_list("id", flat=True).first())
        cases: list[tuple[str, str, dict[str, Any]]] = [("page", f"/accounts/{busy}/", {})]
        htmx: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}
        if client.get(f"/accounts/{busy}/timeline/", **htmx).status_code == 200:
            cases.append(("timeline tab", f"/accounts/{busy}/timeline/", htmx))
        for name, path, extra in cases:
            for _ in range(10):
                assert client.get(path, **extra).status_code == 200
            with CaptureQueriesContext(connection) as ctx:
                client.get(path, **extra)
            queries = len(ctx.captured_queries)  # now: each request clears the connection's log
            cpu, wall = [], []
            for _ in range(args.requests):
                cpu_start, wall_start = time.process_time(), time.perf_counter()
                response = client.get(path, **extra)
                wall.append((time.perf_counter() - wall_start) * 1000)
                cpu.append((time.process_time() - cpu_start) * 1000)
                assert response.status_code == 200, path
            print(f"{args.label} | {role} | {name} | account {busy} | n={args.requests} | "
                  f"CPU median {statistics.median(cpu):.1f} ms, p95 {percentile(cpu, 95):.1f} | "
                  f"wall median {statistics.median(wall):.1f} ms, p95 {percentile(wall, 95):.1f} | "
                  f"{queries} queries", flush=True)
    print(f"# load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
