"""A distributor's yearly rebate statement as Excel and PDF (R4.5), in the reader's language.

The PDF uses ReportLab's built-in CJK font ``STSong-Light`` (no font file, nothing fetched),
as the other documents do. In the workbook every text cell is stored as text, prefixed with
a quote when a spreadsheet would run it as a formula (S9). Each download is audited.
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from guanxi.core import audit
from guanxi.core.errors import Invalid, NotFound
from guanxi.core.models import AuditEvent
from guanxi.core.spreadsheet import sheet_text
from guanxi.sales.models import RebateRule, RebateStatement
from guanxi.sales.selectors.rebates import statement_scope
from guanxi.sales.services.common import require

FONT = "STSong-Light"
INK = colors.HexColor("#212529")
MUTED = colors.HexColor("#6c757d")
RULE_LINE = colors.HexColor("#adb5bd")
SHADE = colors.HexColor("#f1f3f5")
PDF_GLYPHS = str.maketrans({"\u00b7": "\u30fb", "\u2022": "\u30fb"})


def _money(value: Any) -> str:
    return f"¥{Decimal(value):,.2f}"


def _number(value: Any) -> str:
    return f"{Decimal(value):,.2f}"


def _percent(value: Any) -> str:
    return f"{Decimal(value):.2f}%"


def title_of(statement: RebateStatement) -> str:
    return _("%(year)s rebate statement — %(distributor)s") % {"year": statement.year,
                                                                "distributor": statement.account.name}


def filename_of(statement: RebateStatement) -> str:
    name = "".join(c for c in statement.account.name if c.isalnum()) or str(statement.account_id)
    prefix = _("rebate")
    return f"{prefix}-{statement.year}-{name}"[:120]


def basis_label(basis: str) -> str:
    return str(RebateRule.Basis(basis).label) if basis in RebateRule.Basis.values else basis


def sections(statement: RebateStatement) -> dict[str, Any]:
    """The statement as labelled rows, shared by both documents (and readable in tests)."""
    d = statement.details or {}
    facts = [
        [_("Distributor"), f"{statement.account.name} ({statement.account.code})"],
        [_("Year"), str(statement.year)],
        [_("Rule"), d.get("rule", {}).get("name", str(statement.rule))],
        [_("Volume counted"), basis_label(d.get("basis", ""))],
        [_("Period"), f"{d.get('period', {}).get('from', '')} – {d.get('period', {}).get('to', '')}"],
        [_("State"), statement.get_state_display()],
        [_("Computed at"), timezone.localtime(statement.computed_at).strftime("%Y-%m-%d %H:%M")],
    ]
    if statement.confirmed_by_id:
        facts.append([_("Confirmed by"), str(statement.confirmed_by)])
    tiers = [[_("From volume"), _("Rate"), _("Reached")]]
    for tier in d.get("tiers", []):
        mark = _("applied") if tier.get("applied") else (_("reached") if tier.get("reached") else "—")
        tiers.append([_money(tier["from"]), _percent(tier["rate"]), mark])
    working = [
        [_("Volume"), _money(statement.volume)],
        [_("Tier rate"), _percent(d.get("tier_rate", "0"))],
    ]
    if d.get("target") is not None:
        reached = _("reached") if d.get("target_reached") else _("not reached")
        working.append([_("Target %(target)s (%(reached)s): extra rate") % {"target": _money(d["target"]),
                                                                             "reached": reached},
                        _percent(d.get("target_rate", "0") if d.get("target_reached") else "0")])
    working += [
        [_("Rate applied to the whole volume"), _percent(statement.rate)],
        [_("Rebate earned"), _money(statement.rebate)],
        [_("Points earned (%(per)s per 10,000 CNY)") % {"per": _number(d.get("points_per_10k", "0"))},
         _number(statement.points)],
        [_("Deductions"), "-" + _money(statement.deductions)],
        [_("Points deducted"), "-" + _number(statement.points_deducted)],
        [_("Net rebate"), _money(statement.net)],
        [_("Net points"), _number(d.get("net_points", "0"))],
    ]
    deductions = [[_("Date"), _("Reason"), _("Amount"), _("Points")]]
    deductions += [[item["occurred_on"], item["reason"], _money(item["amount"]), _number(item["points"])]
                   for item in d.get("deductions", [])]
    notes = []
    if d.get("floored"):
        notes.append(_("The deductions exceed the rebate earned by %(amount)s: the net rebate is zero, "
                       "and the excess is not carried over.") % {"amount": _money(d.get("shortfall", "0"))})
    if d.get("points_floored"):
        notes.append(_("The points deducted exceed the points earned by %(points)s: the net points are zero.") % {
            "points": _number(d.get("points_shortfall", "0"))})
    return {"title": title_of(statement), "company": getattr(settings, "GUANXI_COMPANY_NAME", ""), "facts": facts,
            "tiers": tiers, "working": working, "deductions": deductions, "notes": notes}


# --- Excel ---------------------------------------------------------------------------------
def workbook(sheets: list[tuple[str, list[list[Any]]]], *, widths: dict[str, list[int]] | None = None) -> bytes:
    """An .xlsx of named sheets whose text cells are plain text, never formulas (S9)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title=title[:31])
        for row in rows:
            sheet.append([sheet_text(v) for v in row])
        for cells in sheet.iter_rows():
            for cell in cells:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
        if rows:
            for cell in sheet[1]:
                cell.font = Font(bold=True)
        for index, width in enumerate((widths or {}).get(title, [])):
            sheet.column_dimensions[chr(ord("A") + index)].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def statement_xlsx(statement: RebateStatement) -> bytes:
    s = sections(statement)
    rows: list[list[Any]] = [[s["title"], ""]]
    if s["company"]:
        rows.append([s["company"], ""])
    rows += [[], *s["facts"], [], [_("Calculation"), ""], *s["working"]]
    if s["notes"]:
        rows += [[], *[[note, ""] for note in s["notes"]]]
    return workbook([(_("Statement"), rows), (_("Tiers"), s["tiers"]), (_("Deductions"), s["deductions"])],
                    widths={_("Statement"): [44, 40], _("Tiers"): [20, 12, 12], _("Deductions"): [14, 60, 18, 12]})


# --- PDF -----------------------------------------------------------------------------------
def _text(value: Any) -> str:
    return escape(str(value or "").translate(PDF_GLYPHS)).replace("\n", "<br/>")


def _style(name: str, size: float, *, color: Any = INK, space_before: float = 0, space_after: float = 0
           ) -> ParagraphStyle:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return ParagraphStyle(name, fontName=FONT, fontSize=size, leading=size * 1.45, textColor=color,
                          spaceBefore=space_before, spaceAfter=space_after, wordWrap="CJK")


def _table(rows: list[list[Any]], widths: list[float], cell: ParagraphStyle, *, header: bool) -> Table:
    table = Table([[Paragraph(_text(c), cell) for c in row] for row in rows], colWidths=widths,
                  repeatRows=1 if header else 0, hAlign="LEFT")
    commands: list[Any] = [("FONTNAME", (0, 0), (-1, -1), FONT), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                           ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE_LINE)]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), SHADE))
    table.setStyle(TableStyle(commands))
    return table


def statement_pdf(statement: RebateStatement) -> bytes:
    s = sections(statement)
    company, title = _style("company", 10, color=MUTED), _style("title", 16, space_after=8)
    heading, body, cell = _style("heading", 12, space_before=10, space_after=4), _style("body", 10), \
        _style("cell", 9.5)
    small = _style("small", 8.5, color=MUTED)
    width = A4[0] - 36 * mm
    story: list[Any] = []
    if s["company"]:
        story.append(Paragraph(_text(s["company"]), company))
    story += [Paragraph(_text(s["title"]), title), _table(s["facts"], [40 * mm, width - 40 * mm], cell, header=False)]
    if len(s["tiers"]) > 1:
        story += [Paragraph(_text(_("Volume tiers")), heading),
                  _table(s["tiers"], [60 * mm, 40 * mm, 40 * mm], cell, header=True)]
    story += [Paragraph(_text(_("Calculation")), heading), _table(s["working"], [width - 50 * mm, 50 * mm], cell,
                                                              header=False)]
    story.append(Paragraph(_text(_("Deductions")), heading))
    if len(s["deductions"]) > 1:
        story.append(_table(s["deductions"], [25 * mm, width - 85 * mm, 35 * mm, 25 * mm], cell, header=True))
    else:
        story.append(Paragraph(_text(_("No deduction was recorded for this year.")), body))
    for note in s["notes"]:
        story.append(Paragraph(_text(note), body))
    story += [Spacer(1, 6 * mm), Paragraph(_text(_("Prepared on %(date)s.") % {
        "date": timezone.localtime().strftime("%Y-%m-%d %H:%M")}), small)]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=s["title"], author=s["company"] or "guanxi", creator="guanxi",
                            leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm, bottomMargin=18 * mm)
    doc.build(story)
    return buffer.getvalue()


FORMATS = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "pdf": "application/pdf"}


@transaction.atomic
def rebate_statement_export(*, actor: Any, statement: RebateStatement, fmt: str) -> tuple[bytes, str, str]:
    """The statement of a visible distributor as ``xlsx`` or ``pdf``: (content, type, file name)."""
    require(actor, "rebate.view")
    if not statement_scope(actor).filter(pk=statement.pk).exists():
        raise NotFound()
    if fmt not in FORMATS:
        raise Invalid(errors={"format": [_("Choose Excel or PDF.")]})
    content = statement_xlsx(statement) if fmt == "xlsx" else statement_pdf(statement)
    audit.record(actor=actor, action=AuditEvent.Action.EXPORT, obj=statement, object_repr=title_of(statement),
                 changes={"document": "rebate_statement", "format": fmt}, note=f"rebate-statement.{fmt}")
    return content, FORMATS[fmt], f"{filename_of(statement)}.{fmt}"
