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

    def handle(self, *args: Any, size: str, requests: int, no_write: bool, no_http: bool, **options: Any) -> None:
        from bench.suite import run

        for r in run(size, requests, write=not no_write, http_too=not no_http):
            target = f" (target {r.target:.0f})" if r.target else ""
            extra = f" {r.queries} queries, SQL {r.sql_ms:.1f} ms" if r.queries is not None and r.sql_ms else ""
            self.stdout.write(f"{r.name:<26} {r.role:<16} {r.channel:<28} median {r.median_ms:6.1f} ms  "
                              f"p95 {r.p95_ms:6.1f} ms{target}{extra}")
