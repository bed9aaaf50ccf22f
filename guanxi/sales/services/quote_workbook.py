"""The quote as an Excel workbook (R4.2): sheet 1 the quote, sheet 2 the customer's data.

Laid out like the PDF (logo top left, our name and contacts top right, the lines with their
pictures, totals, terms). Numbers are stored as numbers with a number format; every text
cell is neutralised against formula injection (S9) with the customer file's own helper.
"""

from __future__ import annotations

import io
from typing import Any

from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from openpyxl import Workbook
from openpyxl.drawing.image import Image as SheetImage
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from guanxi.core.spreadsheet import sheet_text
from guanxi.customers.models import Account, Contact
from guanxi.sales.selectors.quotes import ACCOUNT_FIELDS, CONTACT_FIELDS
from guanxi.sales.services.quote_documents import (
    _picture,
    amount_in_words,
    logo_path,
    number,
    terms_of,
)

ACCENT = "1F4E79"
THIN = Side(style="thin", color="ADB5BD")
MONEY = "#,##0.00"
QUANTITY = "#,##0.###"
PERCENT = "0.00"
COLUMNS = 14  # A..N
WIDTHS = (5, 11, 22, 14, 28, 16, 24, 7, 10, 12, 10, 10, 14, 18)
PICTURE_PX = 64


def put(sheet: Worksheet, row: int, column: int, value: Any, **style: Any) -> Any:
    """Write one cell: text neutralised (never a formula), numbers kept as numbers."""
    value = sheet_text(value)
    cell = sheet.cell(row=row, column=column, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
    for name, setting in style.items():
        setattr(cell, name, setting)
    return cell


def _merge(sheet: Worksheet, row: int, first: int, last: int) -> None:
    sheet.merge_cells(start_row=row, start_column=first, end_row=row, end_column=last)


def _image(data: io.BytesIO, max_w: int, max_h: int) -> SheetImage | None:
    try:
        image = SheetImage(data)
    except (OSError, ValueError):
        return None
    scale = min(max_w / image.width, max_h / image.height, 1)
    image.width, image.height = int(image.width * scale), int(image.height * scale)
    return image


def _quote_sheet(sheet: Worksheet, content: dict[str, Any]) -> None:
    sheet.title = _("Quote")[:31]
    for index, width in enumerate(WIDTHS, 1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    company = content["company"]
    wrap = Alignment(wrap_text=True, vertical="top")
    right = Alignment(horizontal="right", vertical="top", wrap_text=True)
    # Top: our logo at the left, our name and contacts at the right (as the seed describes).
    path = logo_path()
    if path is not None:
        logo = _image(io.BytesIO(path.read_bytes()), 220, 80)
        if logo is not None:
            sheet.add_image(logo, "A1")
    put(sheet, 1, 9, company.get("name", ""), font=Font(size=14, bold=True, color=ACCENT), alignment=right)
    _merge(sheet, 1, 9, COLUMNS)
    contacts = [company.get("address", ""), " ".join(x for x in (
        _("Tel. %(phone)s") % {"phone": company["phone"]} if company.get("phone") else "",
        company.get("email", "")) if x)]
    for offset, text in enumerate(x for x in contacts if x):
        put(sheet, 2 + offset, 9, text, alignment=right, font=Font(color="6C757D"))
        _merge(sheet, 2 + offset, 9, COLUMNS)
    for column in range(1, COLUMNS + 1):
        sheet.cell(row=4, column=column).border = Border(bottom=Side(style="medium", color=ACCENT))
    put(sheet, 6, 1, content["title"], font=Font(size=16, bold=True), alignment=Alignment(horizontal="center"))
    _merge(sheet, 6, 1, COLUMNS)
    meta = "    ".join(x for x in (
        _("No. %(code)s") % {"code": content["code"]}, _("Revision %(revision)s") % {"revision": content["revision"]},
        _("Date %(date)s") % {"date": content["quote_date"]},
        _("Valid until %(date)s") % {"date": content["valid_until"]} if content.get("valid_until") else "") if x)
    put(sheet, 7, 1, meta, alignment=Alignment(horizontal="center"), font=Font(color="6C757D"))
    _merge(sheet, 7, 1, COLUMNS)

    account, contact, owner = content["account"], content.get("contact") or {}, content["owner"]
    label = Font(color="6C757D")
    parties = [
        (pgettext("quote party", "To"), account.get("name", ""), pgettext("quote party", "From"), company.get("name", "")),
        (_("Address"), account.get("address", ""), _("Your contact"), owner.get("name", "")),
        (pgettext("quote party", "Attention"), " ".join(x for x in (contact.get("name"), contact.get("title")) if x),
         _("Phone"), owner.get("phone", "")),
        (_("Contact details"), " ".join(x for x in (contact.get("mobile") or contact.get("phone"),
                                                     contact.get("email")) if x),
         _("E-mail"), owner.get("email", "")),
    ]
    for offset, (l1, v1, l2, v2) in enumerate(parties):
        row = 9 + offset
        put(sheet, row, 1, l1, font=label)
        _merge(sheet, row, 1, 2)
        put(sheet, row, 3, v1)
        _merge(sheet, row, 3, 7)
        put(sheet, row, 9, l2, font=label)
        _merge(sheet, row, 9, 10)
        put(sheet, row, 11, v2)
        _merge(sheet, row, 11, COLUMNS)

    head = 14
    headers = ("#", _("Picture"), _("Product"), _("Model"), _("Specification"), _("Packaging"), _("Features"),
               _("Unit"), _("Quantity"), _("Unit price"), _("Discount (%)"), _("Tax rate (%)"), _("Amount"),
               _("Remarks"))
    for column, text in enumerate(headers, 1):
        put(sheet, head, column, text, font=Font(bold=True, color="FFFFFF"),
            fill=PatternFill("solid", fgColor=ACCENT), alignment=Alignment(horizontal="center", wrap_text=True),
            border=Border(top=THIN, bottom=THIN, left=THIN, right=THIN))
    row = head
    for line in content["lines"]:
        row += 1
        values: list[Any] = [int(line["position"]), "", line.get("name", ""), line.get("model", ""),
                             line.get("specification", ""), line.get("packaging", ""), line.get("features", ""),
                             line.get("unit", ""), number(line["quantity"]), number(line["unit_price"]),
                             number(line["discount"]), number(line["tax_rate"]), number(line["total"]),
                             line.get("remarks", "")]
        formats = {9: QUANTITY, 10: MONEY, 11: PERCENT, 12: PERCENT, 13: MONEY}
        for column, value in enumerate(values, 1):
            cell = put(sheet, row, column, value, alignment=wrap, border=Border(top=THIN, bottom=THIN, left=THIN,
                                                                                right=THIN))
            if column in formats:
                cell.number_format = formats[column]
        picture = _picture(line.get("picture", ""), PICTURE_PX / 4)
        image = _image(picture, PICTURE_PX, PICTURE_PX) if picture is not None else None
        if image is not None:
            sheet.add_image(image, f"B{row}")
            sheet.row_dimensions[row].height = PICTURE_PX * 0.78
    # Totals in figures, then in words.
    tax_label = _("VAT included") if content["prices_include_tax"] else _("VAT")
    rows: list[tuple[str, Any]] = [
        (_("Subtotal"), number(content["subtotal"])), (_("Discount"), -number(content["discount_total"])),
        (tax_label, number(content["tax_total"])),
        (_("Total (%(currency)s)") % {"currency": content["currency"]}, number(content["total"]))]
    row += 1
    for offset, (text, value) in enumerate(rows):
        last = offset == len(rows) - 1
        put(sheet, row + offset, 11, text, alignment=Alignment(horizontal="right"), font=Font(bold=last))
        _merge(sheet, row + offset, 11, 12)
        cell = put(sheet, row + offset, 13, value, font=Font(bold=last, color=ACCENT if last else "000000"))
        cell.number_format = MONEY
    row += len(rows) + 1
    put(sheet, row, 1, f"{_('Total in words')}: {amount_in_words(content['total'], content['currency'])}",
        font=Font(bold=True))
    _merge(sheet, row, 1, COLUMNS)
    row += 2
    put(sheet, row, 1, _("Terms"), font=Font(bold=True, color=ACCENT))
    for index, (text, value) in enumerate(terms_of(content), 1):
        row += 1
        put(sheet, row, 1, f"{index}. {text}: {value}", alignment=wrap)
        _merge(sheet, row, 1, COLUMNS)
        sheet.row_dimensions[row].height = 15 * max(1, min(6, str(value).count("\n") + 1 + len(str(value)) // 110))
    row += 2
    put(sheet, row, 1, _("Confirmed by the customer"), font=Font(bold=True))
    put(sheet, row, 9, _("For the supplier"), font=Font(bold=True))
    put(sheet, row + 1, 1, _("Signature and stamp: %(line)s") % {"line": "_" * 20})
    put(sheet, row + 1, 9, _("Sales representative: %(name)s") % {"name": owner.get("name", "")})
    put(sheet, row + 2, 1, _("Date: %(line)s") % {"line": "_" * 20})
    put(sheet, row + 2, 9, _("Date: %(date)s") % {"date": content["quote_date"]})
    sheet.freeze_panes = sheet.cell(row=head + 1, column=1)
    sheet.print_title_rows = f"{head}:{head}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.sheet_properties.pageSetUpPr.fitToPage = True


def label_of(model: Any, name: str) -> str:
    field: Any = model._meta.get_field(name)
    return str(capfirst(field.verbose_name))


def _display(model: Any, name: str, value: Any) -> Any:
    field: Any = model._meta.get_field(name)
    if field.choices and value not in (None, ""):
        return str(dict(field.flatchoices).get(value, value))
    return "" if value is None else value


def _customer_sheet(sheet: Worksheet, content: dict[str, Any]) -> None:
    sheet.title = _("Customer data")[:31]
    sheet.column_dimensions["A"].width = 24
    sheet.column_dimensions["B"].width = 60
    bold = Font(bold=True, color=ACCENT)
    put(sheet, 1, 1, _("Customer data"), font=Font(size=14, bold=True))
    put(sheet, 2, 1, _("As of quote %(code)s revision %(revision)s") % {
        "code": content["code"], "revision": content["revision"]}, font=Font(color="6C757D"))
    row = 4
    put(sheet, row, 1, _("Field"), font=bold)
    put(sheet, row, 2, pgettext("sheet column", "Value"), font=bold)
    account = content["account"]
    for name in ACCOUNT_FIELDS:
        row += 1
        put(sheet, row, 1, label_of(Account, name))
        put(sheet, row, 2, _display(Account, name, account.get(name)), alignment=Alignment(wrap_text=True))
    row += 2
    put(sheet, row, 1, pgettext("quote party", "Attention"), font=bold)
    contact = content.get("contact")
    if not contact:
        put(sheet, row, 2, _("No contact person was chosen."))
        return
    for name in CONTACT_FIELDS:
        row += 1
        put(sheet, row, 1, label_of(Contact, name))
        put(sheet, row, 2, _display(Contact, name, contact.get(name)), alignment=Alignment(wrap_text=True))


def quote_xlsx(content: dict[str, Any]) -> bytes:
    """The quote (or revision) as an .xlsx workbook."""
    book = Workbook()
    _quote_sheet(book.active, content)
    _customer_sheet(book.create_sheet(), content)
    book.properties.title = content["title"]
    book.properties.creator = content["company"].get("name") or "guanxi"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
