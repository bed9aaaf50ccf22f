"""Exports of the order list, the contract list and the receivables (a background job each).

Scoped like the lists (the job reads as the person who asked), audited, and safe to open
in a spreadsheet: text that would run as a formula is neutralised (S9) with the customer
file's ``neutralise_cell`` (``guanxi.core.spreadsheet``), and Excel cells are written as plain strings.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit, jobs
from guanxi.core.dbrouter import replica_reads
from guanxi.core.errors import Invalid
from guanxi.core.spreadsheet import neutralise_cell, xlsx_bytes
from guanxi.sales.services.common import require

FORMATS = ("csv", "xlsx")
KINDS = {"orders": "sales.orders.export", "contracts": "sales.contracts.export",
         "receivables": "sales.receivables.export"}


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal | int | float):
        return value
    return neutralise_cell(str(value))


@transaction.atomic
def export_start(*, actor: Any, what: str, filters: dict[str, Any], format: str = "csv") -> Any:
    """Queue an export of ``what`` (orders, contracts, receivables) with already parsed filters."""
    require(actor, "sales.export")
    if what not in KINDS:
        raise Invalid(errors={"what": [_("Choose what to export.")]})
    if format not in FORMATS:
        raise Invalid(errors={"format": [_("Choose CSV or Excel.")]})
    return jobs.job_start(actor=actor, kind=KINDS[what], params={"filters": filters, "format": format})


def _order_rows(actor: Any, filters: dict[str, Any]) -> Iterator[list[Any]]:
    from guanxi.sales.selectors.orders import order_list_for

    yield [_("order number"), _("order date"), _("account"), _("state"), _("currency"), _("total"), _("tax"),
           _("ship date"), _("delivered on"), _("shipping address"), _("owner"), _("remarks")]
    for o in order_list_for(actor, **filters).iterator(chunk_size=2000):
        yield [_cell(v) for v in (o.code, o.order_date, o.account.name, o.get_state_display(), o.currency, o.total,
                                  o.tax_total, o.ship_date, o.delivered_on, o.shipping_address, str(o.owner),
                                  o.remarks)]


def _contract_rows(actor: Any, filters: dict[str, Any]) -> Iterator[list[Any]]:
    from guanxi.sales.selectors.contracts import contract_list_for

    yield [_("contract number"), _("title"), _("account"), _("state"), _("currency"), _("contract amount"),
           _("received"), _("outstanding"), _("signed on"), _("starts on"), _("ends on"), _("owner")]
    for c in contract_list_for(actor, **filters).iterator(chunk_size=2000):
        yield [_cell(v) for v in (c.code, c.title, c.account.name, c.get_state_display(), c.currency, c.amount,
                                  c.received, c.outstanding, c.signed_on, c.starts_on, c.ends_on, str(c.owner))]


def _receivable_rows(actor: Any, filters: dict[str, Any]) -> Iterator[list[Any]]:
    from guanxi.sales.selectors.contracts import receivables_for

    yield [_("contract number"), _("title"), _("account"), _("currency"), _("contract amount"), _("received"),
           _("outstanding"), _("overdue"), _("next due"), _("ends on"), _("owner")]
    for c in receivables_for(actor, **filters).iterator(chunk_size=2000):
        overdue = Decimal(getattr(c, "overdue", 0)).quantize(Decimal("0.01"))
        yield [_cell(v) for v in (c.code, c.title, c.account.name, c.currency, c.amount, c.received, c.outstanding,
                                  overdue, getattr(c, "next_due", None), c.ends_on, str(c.owner))]


def _run(what: str, rows: Callable[[Any, dict[str, Any]], Iterator[list[Any]]]) -> jobs.Handler:
    @replica_reads
    def handle(job: Any, progress: jobs.Progress) -> dict[str, Any]:
        actor = job.created_by
        filters = dict(job.params.get("filters", {}))
        fmt = job.params.get("format", "csv")
        table = list(rows(actor, filters))
        written = len(table) - 1
        progress.set_total(written)
        if fmt == "xlsx":
            content = xlsx_bytes([(what[:31], table)])
        else:
            buffer = io.StringIO()
            buffer.write("\ufeff")  # Excel reads UTF-8 CSV with Chinese text only with a BOM
            csv.writer(buffer).writerows(table)
            content = buffer.getvalue().encode("utf-8")
        path = default_storage.save(f"exports/{what}-{job.pk}.{fmt}", ContentFile(content))
        progress.advance(written)
        audit.record(actor=actor, action="export", obj=None, object_repr=f"{what} ({written})",
                     changes={"filters": filters, "format": fmt, "rows": written})
        return {"file": path, "rows": written, "format": fmt}

    return handle


jobs.handler(KINDS["orders"])(_run("orders", _order_rows))
jobs.handler(KINDS["contracts"])(_run("contracts", _contract_rows))
jobs.handler(KINDS["receivables"])(_run("receivables", _receivable_rows))
