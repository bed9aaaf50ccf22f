"""Where a demo build spends its time: wall, builder CPU and PostgreSQL CPU per phase.

    DATABASE_URL=postgres://… python bench/demo_phases.py M phases.json

Runs ``guanxi demo --size M`` (into the database ``DATABASE_URL`` names, freshly migrated) with
each phase of the builders wrapped in a timer. Per phase it records the wall time, the builder's
CPU (``getrusage`` of the process and its children) and the CPU of the PostgreSQL backend serving
it (``/proc/<pid>/stat`` of ``pg_backend_pid()``, so the server must run on this machine). On a
shared machine CPU time is the figure that compares; wall time depends on the load. Functions
called per row or per account get wall and process CPU only (reading the backend's CPU costs a
query). Prints a table and writes the figures as JSON.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")
# Phases: wall, builder CPU and PostgreSQL CPU. demo_load first: the builders import its names.
PHASES = (
    "guanxi.core.demo_load:restore_indexes", "guanxi.core.demo_load:defer_indexes", "guanxi.core.demo_load:analyze",
    "guanxi.demo:_ensure_users", "guanxi.demo:_insert_accounts", "guanxi.demo:build_activities",
    "guanxi.demo:_insert_activities", "guanxi.demo:build_showcase",
    "guanxi.sales.demo:build_sales", "guanxi.sales.demo:load_world", "guanxi.sales.demo:prepare_accounts",
    "guanxi.sales.demo:total_weight", "guanxi.sales.demo:_write_batches", "guanxi.sales.demo:build_showcase",
    "guanxi.sales.demo:ensure_targets", "guanxi.sales.demo:rebuild_sales_months", "guanxi.sales.demo:recount_bulk",
    "guanxi.sales.services.board:rebuild",
    "guanxi.service.demo:build_service", "guanxi.service.demo:World.load", "guanxi.service.demo:fill_batch",
    "guanxi.service.demo:write", "guanxi.service.demo:announce_shipped",
    "guanxi.loyalty.demo:build_loyalty", "guanxi.loyalty.demo:_sources",
)
# Per row or per account: wall and process CPU only.
FINE: tuple[tuple[str, Callable[..., str] | None], ...] = (
    ("guanxi.demo:classify_and_rate", None), ("guanxi.demo:contact_rows", None),
    ("guanxi.demo:account_history", None), ("guanxi.demo:_Histories.add", None),
    ("guanxi.customers.models:Account.derived_fields", None),
    ("guanxi.core.demo_load:Table.flush", lambda args: args[0].name),
    ("guanxi.sales.demo_batch:Batch.account", None), ("guanxi.sales.demo_batch:Batch.write", None),
    ("guanxi.service.demo:draw_case", None), ("guanxi.service.demo:tell", None),
    ("guanxi.core.codes:reserve", None),
)

stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])  # calls, wall, cpu, pg
backend_cpu: dict[int, float] = {}


def own_cpu() -> float:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def pg_cpu() -> float:
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    backend_cpu[pid] = (int(fields[11]) + int(fields[12])) / TICK
    return backend_cpu[pid]


def timed(name: str, fn: Callable[..., Any], *, backend: bool, key: Callable[..., str] | None = None) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), (own_cpu() if backend else time.process_time())
        pg = pg_cpu() if backend else 0.0
        try:
            return fn(*args, **kwargs)
        finally:
            row = stats[name if key is None else f"{name}[{key(args)}]"]
            row[0] += 1
            row[1] += time.perf_counter() - wall
            row[2] += (own_cpu() if backend else time.process_time()) - cpu
            row[3] += (pg_cpu() - pg) if backend else 0.0
    return wrapper


def wrap(path: str, *, backend: bool, key: Callable[..., str] | None = None) -> None:
    module, attribute = path.split(":")
    owner: Any = importlib.import_module(module)
    *parents, name = attribute.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    setattr(owner, name, timed(path, getattr(owner, name), backend=backend, key=key))


def main(size: str, out: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    import django

    django.setup()
    from django.core.management import call_command

    for path in PHASES:
        wrap(path, backend=True)
    for path, key in FINE:
        wrap(path, backend=False, key=key)
    wall, cpu = time.perf_counter(), own_cpu()
    pg_cpu()
    before = sum(backend_cpu.values())
    call_command("demo", size=size)
    pg_cpu()
    total: dict[str, Any] = {"wall": time.perf_counter() - wall, "cpu": own_cpu() - cpu,
                             "pg": sum(backend_cpu.values()) - before, "loadavg": os.getloadavg()}
    phases = {name: dict(zip(("calls", "wall", "cpu", "pg"), row, strict=True)) for name, row in stats.items()}
    with open(out, "w") as report:
        json.dump({"size": size, "total": total, "phases": phases}, report, indent=1)
    print(f"whole build: {total['wall']:.1f} s wall, {total['cpu']:.1f} s builder CPU, {total['pg']:.1f} s "
          f"PostgreSQL CPU; load {' '.join(f'{x:.1f}' for x in total['loadavg'])}")
    print(f"{'phase':70s} {'calls':>8s} {'wall':>8s} {'cpu':>8s} {'pg':>8s}")
    for name, (calls, wall_s, cpu_s, pg_s) in stats.items():
        print(f"{name:70s} {int(calls):8d} {wall_s:8.1f} {cpu_s:8.1f} {pg_s:8.1f}")


if __name__ == "__main__":
    main(sys.argv[1].upper(), sys.argv[2])
