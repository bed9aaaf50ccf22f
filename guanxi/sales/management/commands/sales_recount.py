"""``guanxi sales_recount``: rebuild the sales figures kept beside the records.

The deal board's column figures (``BoardFigures``), the monthly sales the forecast reads
(``SalesMonth``) and every customer's cumulative figures (``AccountSales``) are recounted
from the deals and orders — the repair after a bulk load or a restore, and what the nightly
``rebuild_sales_months`` job does. ``--check`` only reports where the board figures differ.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Recount the deal board's figures, the monthly sales and every customer's sales figures."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="Only report board figures that differ from a recount.")
        parser.add_argument("--board-only", action="store_true", help="Recount the deal board's figures only.")

    def handle(self, *args: Any, check: bool = False, board_only: bool = False, **options: Any) -> None:
        from guanxi.core import context
        from guanxi.sales.services import board, totals
        from guanxi.sales.services.orders import sales_month_rebuild

        if check:
            wrong = board.differences()
            for place, stored, counted in wrong[:50]:
                self.stdout.write(f"{place}: stored {stored}, counted {counted}")
            self.stdout.write(f"{len(wrong)} board figures differ from a recount")
            if wrong:
                raise SystemExit(1)
            return
        with context.origin(None, "job"):
            rows = board.rebuild()
            self.stdout.write(f"board figures: {rows:,} rows")
            if not board_only:
                self.stdout.write(f"monthly sales: {sales_month_rebuild():,} rows")
                self.stdout.write(f"customer figures: {totals.recount_all():,} accounts corrected")
