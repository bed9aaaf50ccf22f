"""``guanxi bench``: run the benchmark suite and record the figures in docs/benchmarks.md."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run the benchmark suite on the demo company and write docs/benchmarks.md."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--size", choices=["S", "M", "L"], default="S")
        parser.add_argument("--requests", type=int, default=50)
        parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
        parser.add_argument("--no-http", action="store_true", help="skip the HTTP measurements")
        parser.add_argument("--only", choices=["import"], help="run one separate case (import: B6)")
        parser.add_argument("--rows", type=int, default=100_000, help="rows of the import case")

    def handle(self, *args: Any, size: str, requests: int, no_write: bool, no_http: bool, **options: Any) -> None:
        if options.get("only") == "import":
            from bench.imports import run_import_bench

            b = run_import_bench(size, options.get("rows") or 100_000)
            self.stdout.write(f"B6 import {b['rows']} rows ({b['file_mb']:.1f} MB) against {b['accounts_before']} "
                              f"accounts: job {b['job_s']:.1f} s = {b['rows_per_s']:.0f} rows/s (target 20000); "
                              f"upload {b['upload_s']:.1f} s; peak RSS {b['peak_rss_mb']:.0f} MB "
                              f"(before {b['rss_before_mb']:.0f} MB, target 500); {b['state']} {b['stats']}")
            return
        from bench.suite import run

        for r in run(size, requests, write=not no_write, http_too=not no_http):
            target = f" (target {r.target:.0f})" if r.target else ""
            extra = f" {r.queries} queries, SQL {r.sql_ms:.1f} ms" if r.queries is not None and r.sql_ms else ""
            self.stdout.write(f"{r.name:<26} {r.role:<16} {r.channel:<28} median {r.median_ms:6.1f} ms  "
                              f"p95 {r.p95_ms:6.1f} ms{target}{extra}")
