"""Customer-file reads: imports, always scoped to who is asking.

An import run belongs to the person who uploaded it; people who see the whole company
(general manager, administrator) see every run. Saved mappings are shared: they describe
file shapes, not customer data.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from guanxi.core import access
from guanxi.core.errors import NotFound
from guanxi.customers.models import ImportMapping, ImportRowResult, ImportRun


def import_runs_for(user: Any) -> QuerySet[ImportRun]:
    qs = ImportRun.objects.select_related("job", "created_by")
    if access.visibility_for(user).everything:
        return qs
    return qs.filter(created_by_id=getattr(user, "pk", None))


def import_run_for(user: Any, pk: int) -> ImportRun:
    run = import_runs_for(user).filter(pk=pk).first()
    if run is None:
        raise NotFound()
    return run


def import_mappings_for(user: Any) -> QuerySet[ImportMapping]:
    return ImportMapping.objects.filter(target="account").order_by("name")


def import_error_rows(run: ImportRun) -> QuerySet[ImportRowResult]:
    """Rows with something to report (invalid rows, duplicates), in file order."""
    return run.rows.exclude(errors=[]).order_by("row_number")


def import_report_lines(run: ImportRun) -> list[list[Any]]:
    """[row, column, value, message, status] for every reported problem, in file order."""
    status_label = dict(ImportRowResult.Status.choices)
    lines: list[list[Any]] = []
    for row_number, status, errors in import_error_rows(run).values_list("row_number", "status", "errors").iterator():
        for e in errors:
            lines.append([row_number, e.get("column", ""), e.get("value", ""), e.get("message", ""),
                          str(status_label.get(status, status))])
    return lines


def import_error_report(run: ImportRun, fmt: str = "csv") -> tuple[bytes, str, str]:
    """The error report as (content, content type, file name); every cell formula-safe (S9)."""
    from guanxi.core.spreadsheet import XLSX, neutralise_cell, xlsx_bytes

    header = [_("row"), _("column"), _("value"), _("message"), _("status")]
    lines = [[neutralise_cell(v) for v in line] for line in import_report_lines(run)]
    if fmt == "xlsx":
        return xlsx_bytes([(str(_("Errors")), [header, *lines])]), XLSX, f"import-{run.pk}-errors.xlsx"
    buffer = io.StringIO()
    buffer.write("\ufeff")  # Excel reads UTF-8 CSV with Chinese text only with a BOM
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(lines)
    return buffer.getvalue().encode("utf-8"), "text/csv; charset=utf-8", f"import-{run.pk}-errors.csv"
