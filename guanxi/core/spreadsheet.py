"""Spreadsheet safety (S9), shared by every export: text a spreadsheet would run as a formula is
neutralised, and Excel cells holding text are written as plain strings, never formulas.

* ``neutralise_cell`` — a quote before text that starts like a formula (CSV and Excel alike);
* ``sheet_text`` — for a cell written one by one: control characters a worksheet cannot hold
  removed, then neutralised;
* ``xlsx_bytes`` — a write-only workbook of named sheets whose text cells are plain strings
  (values are written as given: neutralise them first).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\0", "＝", "＋", "－", "＠")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def neutralise_cell(value: Any) -> Any:
    """Prefix a quote to text a spreadsheet would run as a formula (S9)."""
    if isinstance(value, str) and value and (value.lstrip(" ").startswith(FORMULA_START) or value[0] in FORMULA_START):
        return "'" + value
    return value


def sheet_text(value: Any) -> Any:
    """Text without the control characters a worksheet cannot store, then neutralised; other values as given."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        return neutralise_cell(ILLEGAL_CHARACTERS_RE.sub("", value))
    return value


def xlsx_bytes(sheets: Iterable[tuple[str, Iterable[Iterable[Any]]]]) -> bytes:
    """An .xlsx of (title, rows) sheets whose every text cell is a plain string: never a formula (S9).

    Control characters are removed from text (a worksheet cannot store them; a quote prefix
    stays). Titles are used as given: the caller shortens them to Excel's 31 characters."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook(write_only=True)
    for title, rows in sheets:
        sheet = book.create_sheet(title=title)
        for row in rows:
            cells = []
            for value in row:
                if isinstance(value, str):
                    value = ILLEGAL_CHARACTERS_RE.sub("", value)
                cell = WriteOnlyCell(sheet, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"  # openpyxl would otherwise store "=…" as a formula
                cells.append(cell)
            sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
