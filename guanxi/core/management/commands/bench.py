"""``guanxi bench``: run the benchmark suite and record the figures in docs/benchmarks.md."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

GROUPS = ("accounts", "activities", "sales", "service", "nightly", "throughput")


class Command(BaseCommand):
    help = ("Run the benchmark suite (B1–B8) on the demo company; with --write record the figures in "
            "docs/benchmarks.md.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--size", choices=["S", "M", "L"], default="S")
        parser.add_argument("--requests", type=int, default=50, help="timed requests per case (after 5 warm-up)")
        parser.add_argument("--write", action="store_true", help="write the report into docs/benchmarks.md")
        parser.add_argument("--no-write", action="store_true", help=" (the default) print only")
        parser.add_argument("--no-http", action="store_true", help="skip the HTTP measurements")
        parser.add_argument("--no-build", action="store_true",
                            help="measure the database as it is; do not build or complete the demo company first")
        parser.add_argument(
            "--only",
            help="comma-separated groups: " + ", ".join(GROUPS) + " (default: all of them); or import (B6, "
                 "run alone: it adds --rows accounts to the database); or peers (Tryton beside guanxi, on "
                 "PostgreSQL, run alone)")
        parser.add_argument("--rows", type=int, default=100_000, help="rows of the import case")

    def handle(self, *args: Any, size: str, requests: int, write: bool, no_http: bool, **options: Any) -> None:
        only_arg = options.get("only")
        if only_arg == "import":
            from bench.imports import run_import_bench

            b = run_import_bench(size, options.get("rows") or 100_000)
            self.stdout.write(f"B6 import {b['rows']} rows ({b['file_mb']:.1f} MB) against {b['accounts_before']} "
                              f"accounts: job {b['job_s']:.1f} s = {b['rows_per_s']:.0f} rows/s (target 20000); "
                              f"upload {b['upload_s']:.1f} s; peak RSS {b['peak_rss_mb']:.0f} MB "
                              f"(before {b['rss_before_mb']:.0f} MB, target 500); {b['state']} {b['stats']}")
            if write:
                from bench.suite import write_import_report

                write_import_report(b, size)
            return
        if only_arg == "peers":
            from bench.peer_tryton import run_peers
            from bench.suite import percentile

            try:
                peers = run_peers(size, requests, write=write)
            except RuntimeError as exc:
                raise CommandError(str(exc)) from exc
            for c in peers.comparisons:
                theirs = (f"Tryton p95 {percentile(c.theirs, 95):7.1f} ms" if c.theirs is not None
                          else "Tryton: no such search")
                self.stdout.write(f"{c.operation:<36} guanxi p95 {percentile(c.ours, 95):7.1f} ms  {theirs}  "
                                  f"rows {c.rows[0]} / {c.rows[1]}")
            return
        only: tuple[str, ...] | None = None
        if only_arg:
            only = tuple(part.strip() for part in only_arg.split(",") if part.strip())
            unknown = [g for g in only if g not in GROUPS]
            if unknown:
                raise CommandError(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)} or import")
        from bench.suite import run_report

        report = run_report(size, requests, write=write, http_too=not no_http, only=only,
                            progress=lambda msg: self.stderr.write(msg), build=not options.get("no_build"))
        for r in report.results:
            target = f" (target {r.target:.0f})" if r.target else ""
            extra = f" {r.queries} queries, SQL {r.sql_ms:.1f} ms" if r.queries is not None and r.sql_ms else ""
            extra += f", CPU {r.cpu_ms:.1f} ms" if r.cpu_ms is not None else ""
            self.stdout.write(f"{r.bench_id:<4} {r.name:<26} {r.role:<16} {r.channel:<28} n={r.samples:<3} median "
                              f"{r.median_ms:7.1f} ms  p95 {r.p95_ms:7.1f} ms{target}{extra}")
        if report.wrk is not None:
            w = report.wrk
            self.stdout.write(f"B8   wrk: {w.requests_per_s:.0f} req/s, {w.requests} requests, p50 "
                              f"{w.latency_p50_ms:.1f} ms, p99 {w.latency_p99_ms:.1f} ms, errors {w.errors}, "
                              f"non-2xx {w.non_2xx}")
        for j in report.jobs:
            self.stdout.write(f"B7   {j.name:<28} {j.seconds:7.1f} s  {j.queries} queries, SQL {j.sql_s:.1f} s  "
                              f"{j.outcome}")
        for note in report.notes:
            self.stdout.write(note)
