"""``guanxi demo --size S|M|L``: build the deterministic demo company (演示数据)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from guanxi.demo import DEFAULT_SEED, DEMO_PASSWORD, SIZES, build_demo


class Command(BaseCommand):
    help = "Build the demo company (departments, teams, users, accounts); does nothing if already built."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--size", type=str.upper, choices=list(SIZES), default="S",
                            help="S = 2,000 accounts, M = 100,000, L = 1,000,000")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                            help="the same seed always builds the same company")

    def handle(self, *args: Any, size: str, seed: int, **options: Any) -> None:
        summary = build_demo(size, seed=seed, stdout=self.stdout)
        figures = (
            f"size {summary['size']}: {summary['departments']:,} departments 部门, "
            f"{summary['users']:,} users 用户, {summary['accounts']:,} accounts 客户, {summary['contacts']:,} contacts 联系人 "
            f"({summary['seconds']} s: accounts and history {summary['accounts_seconds'] + summary['activities_seconds']:.0f} s, "
            f"sales {summary['sales_seconds']:.0f} s, service and surveys {summary['service_seconds']:.0f} s, "
            f"closing rating {summary['rating_seconds']:.0f} s, pool notices {summary['pool_seconds']:.0f} s, "
            f"frequent jobs {summary['jobs_seconds']:.0f} s)"
        )
        if summary["created"]:
            self.stdout.write(self.style.SUCCESS(f"演示数据已就绪 / demo data ready: {figures}"))
        else:
            self.stdout.write(f"演示数据已存在，未改动 / demo data already built, nothing changed: {figures}")
        self.stdout.write(f"演示账号密码 / demo password: {DEMO_PASSWORD}")
