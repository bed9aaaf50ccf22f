"""The quote as the customer gets it (R4.2): a PDF, an Excel workbook and an e-mail draft.

All three are printed from the quote's content (``selectors.quotes.quote_content``): the live
quote, or a revision as it was sent. As the seed practice has it: our logo at the top left,
our name and contacts at the right, a title that names the customer, the subject and the
date, then per line the product's picture, model, specification, packaging and features,
and the terms at the bottom; the Excel's first sheet is the quote, its second the customer's
data. The PDF uses ReportLab's built-in Adobe CJK font ``STSong-Light`` (nothing to install
or download). Every download is one audited export.
"""

from __future__ import annotations

import io
import re
from decimal import ROUND_HALF_UP, Decimal
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from guanxi.core import audit
from guanxi.core.errors import NotFound
from guanxi.core.models import AuditEvent
from guanxi.sales.models import Quote
from guanxi.sales.selectors import quotes as reads
from guanxi.sales.selectors.scope import quote_scope
from guanxi.sales.services.common import require

FONT = "STSong-Light"
INK = colors.HexColor("#212529")
MUTED = colors.HexColor("#6c757d")
RULE = colors.HexColor("#adb5bd")
SHADE = colors.HexColor("#e9ecef")
ACCENT = colors.HexColor("#1f4e79")
# Characters the Adobe-GB1 font has no glyph for, and the look-alike it has.
PDF_GLYPHS = str.maketrans({"\u00b7": "\u30fb", "\u2022": "\u30fb", "\u2039": "<", "\u203a": ">"})
MARGIN = 15 * mm
WIDTH = A4[0] - 2 * MARGIN
THUMB = 16 * mm
LOGO_BOX = (45 * mm, 20 * mm)


# --- Amount in Chinese capitals (大写金额) ----------------------------------------------------
DIGITS = "零壹贰叁肆伍陆柒捌玖"
SMALL_UNITS = ("", "拾", "佰", "仟")
SECTION_UNITS = ("", "万", "亿", "万亿")
CURRENCY_WORDS = {"CNY": "人民币", "USD": "美元", "EUR": "欧元", "HKD": "港币", "JPY": "日元", "GBP": "英镑"}


def _section(number: int) -> str:
    """0 < number < 10000 in capitals, zeros inside written once (壹仟零壹拾)."""
    out, zero = "", False
    for power in (3, 2, 1, 0):
        digit = number // 10 ** power % 10
        if digit == 0:
            zero = zero or bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += DIGITS[digit] + SMALL_UNITS[power]
    return out


def capital_amount(amount: Decimal | int | str) -> str:
    """An amount of money in Chinese capital numerals as cheques and invoices write it:
    12345.67 → 壹万贰仟叁佰肆拾伍元陆角柒分; 100 → 壹佰元整; 1.05 → 壹元零伍分; 0 → 零元整.

    Rounded half-up to the fen; a negative amount starts with 负. Up to 9999万亿.
    """
    value = Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "负" if value < 0 else ""
    value = abs(value)
    fen_total = int(value * 100)
    yuan, jiao, fen = fen_total // 100, fen_total // 10 % 10, fen_total % 10
    if yuan >= 10 ** 16:
        raise ValueError("amount too large for Chinese capital numerals")
    sections = []
    rest = yuan
    while rest:
        sections.append(rest % 10000)
        rest //= 10000
    integer, pending_zero = "", False
    for index in range(len(sections) - 1, -1, -1):
        part = sections[index]
        if part == 0:
            pending_zero = pending_zero or bool(integer)
            continue
        if integer and (pending_zero or part < 1000):
            integer += "零"
        integer += _section(part) + SECTION_UNITS[index]
        pending_zero = False
    if not integer and not jiao and not fen:
        return sign + "零元整"
    out = integer + "元" if integer else ""
    if not jiao and not fen:
        return sign + out + "整"
    if jiao:
        out += DIGITS[jiao] + "角"
    elif integer:
        out += "零"
    if fen:
        out += DIGITS[fen] + "分"
    return sign + out


def amount_in_words(amount: Decimal | str, currency: str) -> str:
    return CURRENCY_WORDS.get(currency, currency) + capital_amount(amount)


# --- Shared formatting ----------------------------------------------------------------------
def number(value: Any) -> Decimal:
    return Decimal(str(value if value not in (None, "") else "0"))


def figure(value: Any) -> str:
    return f"{number(value):,.2f}"


def quantity_text(value: Any) -> str:
    text = f"{number(value):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def percent(value: Any) -> str:
    return f"{quantity_text(value)}%"


def filename(content: dict[str, Any], extension: str) -> str:
    """``<title> (<number> r<revision>).<ext>``, safe on every file system."""
    title = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", content["title"]).strip()[:120]
    return f"{title} ({content['code']} r{content['revision']}).{extension}"


def _picture(name: str, box: float) -> Any:
    """A product picture as a thumbnail image (RGB JPEG bytes), or None when unreadable."""
    if not name:
        return None
    from PIL import Image as PILImage

    try:
        with default_storage.open(name, "rb") as handle, PILImage.open(handle) as picture:
            picture.thumbnail((int(box * 4), int(box * 4)))
            out = io.BytesIO()
            picture.convert("RGB").save(out, format="JPEG", quality=85)
    except (OSError, ValueError):
        return None
    out.seek(0)
    return out


def logo_path() -> Path | None:
    """The GUANXI_COMPANY_LOGO file (relative paths are read from the data directory)."""
    configured = (getattr(settings, "GUANXI_COMPANY_LOGO", "") or "").strip()
    if not configured:
        return None
    path = Path(configured)
    if not path.is_absolute():
        path = Path(settings.DATA_DIR) / path
    return path if path.is_file() else None


def _scaled(data: io.BytesIO, width: float, height: float) -> Image | None:
    from PIL import Image as PILImage

    try:
        with PILImage.open(data) as probe:
            w, h = probe.size
    except (OSError, ValueError):
        return None
    data.seek(0)
    scale = min(width / w, height / h)
    return Image(data, width=w * scale, height=h * scale)


def _logo_image() -> Image | None:
    path = logo_path()
    if path is None:
        return None
    try:
        return _scaled(io.BytesIO(path.read_bytes()), *LOGO_BOX)
    except OSError:
        return None


def terms_of(content: dict[str, Any]) -> list[tuple[str, str]]:
    """The terms printed at the bottom, as (label, text)."""
    rows = [(_("Prices"), (_("Unit prices include VAT.") if content["prices_include_tax"]
                            else _("Unit prices exclude VAT; the tax is added to the total."))
             + " " + _("Currency: %(currency)s.") % {"currency": content["currency"]})]
    if content.get("payment_terms"):
        rows.append((_("Payment terms"), content["payment_terms"]))
    if content.get("delivery_terms"):
        rows.append((_("Delivery terms"), content["delivery_terms"]))
    if content.get("valid_until"):
        rows.append((_("Validity"), _("This quote is valid until %(date)s.") % {"date": content["valid_until"]}))
    if content.get("terms"):
        rows.append((_("Other terms"), content["terms"]))
    if content.get("notes"):
        rows.append((_("Notes"), content["notes"]))
    bank = content.get("company", {}).get("bank")
    if bank:
        rows.append((_("Bank details"), bank))
    return rows


def describe(line: dict[str, Any]) -> list[tuple[str, str]]:
    """A line's specification, packaging and features, labelled."""
    parts = [(_("Specification"), line.get("specification", "")), (_("Packaging"), line.get("packaging", "")),
             (_("Features"), line.get("features", ""))]
    return [(label, text) for label, text in parts if (text or "").strip()]


# --- PDF --------------------------------------------------------------------------------------
def _register_font() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def _style(name: str, size: float, *, color: Any = INK, alignment: int = 0, leading: float | None = None,
           space_after: float = 0) -> ParagraphStyle:
    return ParagraphStyle(name, fontName=FONT, fontSize=size, leading=leading or size * 1.4, textColor=color,
                          alignment=alignment, wordWrap="CJK", spaceAfter=space_after)


def _t(value: Any) -> str:
    """Plain text made safe for ReportLab's paragraph markup; line breaks kept."""
    return escape(str(value or "").translate(PDF_GLYPHS)).replace("\r\n", "\n").replace("\n", "<br/>")


class _Styles:
    def __init__(self) -> None:
        _register_font()
        self.company = _style("company", 14, color=ACCENT, alignment=TA_RIGHT, leading=18)
        self.contact = _style("contact", 8.5, color=MUTED, alignment=TA_RIGHT)
        self.title = _style("title", 16, leading=22, alignment=TA_CENTER, space_after=2)
        self.meta = _style("meta", 9, color=MUTED, alignment=TA_CENTER, space_after=6)
        self.label = _style("label", 8, color=MUTED)
        self.body = _style("body", 9.5)
        self.cell = _style("cell", 8.5)
        self.small = _style("small", 7.5, color=MUTED)
        self.head = _style("head", 8.5, color=colors.white)
        self.num = _style("num", 8.5, alignment=TA_RIGHT)
        self.total = _style("total", 11, alignment=TA_RIGHT, color=ACCENT)
        self.heading = _style("heading", 10.5, color=ACCENT, space_after=2)


def _p(text: Any, style: ParagraphStyle) -> Paragraph:
    return Paragraph(_t(text), style)


def _header(content: dict[str, Any], s: _Styles) -> list[Any]:
    company = content["company"]
    right: list[Any] = [_p(company.get("name"), s.company)]
    for line in (company.get("address"), " ".join(x for x in (
            _("Tel. %(phone)s") % {"phone": company["phone"]} if company.get("phone") else "",
            company.get("email", "")) if x)):
        if line:
            right.append(_p(line, s.contact))
    logo = _logo_image()
    table = Table([[logo or "", right]], colWidths=[WIDTH * 0.4, WIDTH * 0.6], hAlign="LEFT")
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LINEBELOW", (0, 0), (-1, 0), 1.2, ACCENT),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 6), ("LEFTPADDING", (0, 0), (0, 0), 0),
                               ("RIGHTPADDING", (-1, 0), (-1, 0), 0)]))
    meta = "    ".join(x for x in (
        _("No. %(code)s") % {"code": content["code"]},
        _("Revision %(revision)s") % {"revision": content["revision"]},
        _("Date %(date)s") % {"date": content["quote_date"]},
        _("Valid until %(date)s") % {"date": content["valid_until"]} if content.get("valid_until") else "") if x)
    return [table, Spacer(1, 5 * mm), _p(content["title"], s.title), _p(meta, s.meta)]


def _parties(content: dict[str, Any], s: _Styles) -> Table:
    account, contact, owner = content["account"], content.get("contact"), content["owner"]
    theirs: list[Any] = [_p(pgettext("quote party", "To"), s.label), _p(account.get("name"), s.body)]
    for text in (account.get("address"), _("Tel. %(phone)s") % {"phone": account["phone"]}
                 if account.get("phone") else ""):
        if text:
            theirs.append(_p(text, s.cell))
    if contact:
        theirs.append(_p(pgettext("quote party", "Attention"), s.label))
        theirs.append(_p(" ".join(x for x in (contact.get("name"), contact.get("title")) if x), s.body))
        reach = " ".join(x for x in (contact.get("mobile") or contact.get("phone"), contact.get("email")) if x)
        if reach:
            theirs.append(_p(reach, s.cell))
    ours: list[Any] = [_p(pgettext("quote party", "From"), s.label),
                       _p(content["company"].get("name") or owner.get("department"), s.body),
                       _p(_("Your contact"), s.label), _p(owner.get("name"), s.body)]
    reach = " ".join(x for x in (owner.get("phone"), owner.get("email")) if x)
    if reach:
        ours.append(_p(reach, s.cell))
    table = Table([[theirs, ours]], colWidths=[WIDTH / 2, WIDTH / 2], hAlign="LEFT")
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOX", (0, 0), (0, 0), 0.5, RULE),
                               ("BOX", (1, 0), (1, 0), 0.5, RULE), ("TOPPADDING", (0, 0), (-1, -1), 4),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 6), ("LEFTPADDING", (0, 0), (-1, -1), 6)]))
    return table


LINE_WIDTHS = [6 * mm, 18 * mm, 34 * mm, 48 * mm, 10 * mm, 14 * mm, 18 * mm, 11 * mm, WIDTH - 159 * mm]


def _lines(content: dict[str, Any], s: _Styles) -> Table:
    rows: list[list[Any]] = [[_p(h, s.head) for h in (
        "#", _("Picture"), _("Product / model"), _("Specification, packaging, features"), _("Unit"),
        _("Quantity"), _("Unit price"), _("Disc."), _("Amount"))]]
    for line in content["lines"]:
        picture = _picture(line.get("picture", ""), THUMB)
        image = _scaled(picture, THUMB, THUMB) if picture is not None else None
        product = [_p(line.get("name"), s.cell)]
        if line.get("model"):
            product.append(_p(_("Model: %(model)s") % {"model": line["model"]}, s.small))
        if line.get("remarks"):
            product.append(_p(line["remarks"], s.small))
        description = [Paragraph(f"{_t(label)}: {_t(text)}", s.cell) for label, text in describe(line)] or ""
        rows.append([_p(line.get("position"), s.cell), image or "", product, description, _p(line.get("unit"), s.cell),
                     _p(quantity_text(line["quantity"]), s.num), _p(figure(line["unit_price"]), s.num),
                     _p(percent(line["discount"]) if number(line["discount"]) else "", s.num),
                     _p(figure(line["total"]), s.num)])
    table = Table(rows, colWidths=LINE_WIDTHS, repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), ACCENT), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("VALIGN", (0, 0), (-1, 0), "MIDDLE"), ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f8f9fa")]),
        ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("LEFTPADDING", (0, 0), (-1, -1), 2.5), ("RIGHTPADDING", (0, 0), (-1, -1), 2.5)]))
    return table


def _totals(content: dict[str, Any], s: _Styles) -> list[Any]:
    currency = content["currency"]
    tax_label = _("VAT included") if content["prices_include_tax"] else _("VAT")
    rows = [[_("Subtotal"), figure(content["subtotal"])]]
    if number(content["discount_total"]):
        rows.append([_("Discount"), "-" + figure(content["discount_total"])])
    rows.append([tax_label, figure(content["tax_total"])])
    body = [[_p(label, s.num), _p(value, s.num)] for label, value in rows]
    body.append([_p(_("Total (%(currency)s)") % {"currency": currency}, s.total), _p(figure(content["total"]), s.total)])
    table = Table(body, colWidths=[40 * mm, 35 * mm], hAlign="RIGHT")
    table.setStyle(TableStyle([("LINEABOVE", (0, -1), (-1, -1), 0.8, ACCENT), ("TOPPADDING", (0, 0), (-1, -1), 2),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]))
    words = Paragraph(f"{_t(_('Total in words'))}: {_t(amount_in_words(content['total'], currency))}", s.body)
    return [Spacer(1, 3 * mm), table, Spacer(1, 2 * mm), words]


def _terms(content: dict[str, Any], s: _Styles) -> list[Any]:
    story: list[Any] = [Spacer(1, 5 * mm), _p(_("Terms"), s.heading)]
    for index, (label, text) in enumerate(terms_of(content), 1):
        story.append(Paragraph(f"{index}. {_t(label)}: {_t(text)}", s.body))
    return story


def _signatures(content: dict[str, Any], s: _Styles) -> KeepTogether:
    blank = "_" * 22
    theirs = [_p(_("Confirmed by the customer"), s.heading), _p(content["account"].get("name"), s.body),
              Spacer(1, 6 * mm), _p(_("Signature and stamp: %(line)s") % {"line": blank}, s.body),
              _p(_("Date: %(line)s") % {"line": blank}, s.body)]
    ours = [_p(_("For the supplier"), s.heading), _p(content["company"].get("name"), s.body), Spacer(1, 6 * mm),
            _p(_("Sales representative: %(name)s") % {"name": content["owner"].get("name")}, s.body),
            _p(_("Date: %(date)s") % {"date": content["quote_date"]}, s.body)]
    table = Table([[theirs, ours]], colWidths=[WIDTH / 2, WIDTH / 2], hAlign="LEFT")
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return KeepTogether([Spacer(1, 8 * mm), table])


def quote_pdf(content: dict[str, Any]) -> bytes:
    """The quote (or revision) as an A4 PDF."""
    s = _Styles()
    story: list[Any] = [*_header(content, s), _parties(content, s), Spacer(1, 5 * mm), _lines(content, s),
                        *_totals(content, s), *_terms(content, s), _signatures(content, s)]
    buffer = io.BytesIO()
    company = content["company"].get("name", "")
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=content["title"], author=company or content["owner"]["name"],
                            subject=content["title"], creator="guanxi", leftMargin=MARGIN, rightMargin=MARGIN,
                            topMargin=14 * mm, bottomMargin=16 * mm)
    footer = "  ".join(x for x in (company, f"{content['code']} r{content['revision']}") if x)

    def decorate(canvas: Canvas, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(MUTED)
        canvas.drawString(MARGIN, 9 * mm, footer.translate(PDF_GLYPHS))
        canvas.drawRightString(A4[0] - MARGIN, 9 * mm, _("Page %(number)s") % {"number": document.page})
        canvas.restoreState()

    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


# --- E-mail draft -----------------------------------------------------------------------------
def quote_text(content: dict[str, Any]) -> str:
    """The body of the e-mail that goes with the quote."""
    contact = content.get("contact") or {}
    lines = [_("Dear %(name)s,") % {"name": contact.get("name") or content["account"]["name"]}, "",
             _("Please find attached our quote %(code)s for %(subject)s.") % {
                 "code": content["code"], "subject": content["subject"]}, "",
             _("Total: %(total)s %(currency)s (%(tax)s).") % {
                 "total": figure(content["total"]), "currency": content["currency"],
                 "tax": _("VAT included") if content["prices_include_tax"] else _("plus VAT")}]
    if content.get("valid_until"):
        lines.append(_("This quote is valid until %(date)s.") % {"date": content["valid_until"]})
    lines += ["", _("Kind regards,"), content["owner"]["name"]]
    lines += [x for x in (content["owner"].get("phone"), content["owner"].get("email"),
                          content["company"].get("name")) if x]
    return "\n".join(lines) + "\n"


def _address(name: str, email: str) -> Address | None:
    try:
        return Address(display_name=name, addr_spec=email)
    except (ValueError, IndexError, TypeError):
        return None


def quote_email(content: dict[str, Any], pdf: bytes) -> bytes:
    """An unsent e-mail (.eml, ``X-Unsent``) to the attention-of contact, the PDF attached."""
    message = EmailMessage(policy=SMTP)
    message["Subject"] = content["title"]
    owner = content["owner"]
    sender = _address(owner["name"], owner.get("email") or settings.DEFAULT_FROM_EMAIL)
    if sender is not None:
        message["From"] = sender
    contact = content.get("contact") or {}
    to = _address(contact.get("name", ""), contact.get("email", "")) if contact.get("email") else None
    if to is not None:
        message["To"] = to
    message["Date"] = format_datetime(timezone.localtime())
    domain = (owner.get("email") or settings.DEFAULT_FROM_EMAIL).rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message["X-Unsent"] = "1"
    message.set_content(quote_text(content))
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename(content, "pdf"))
    return message.as_bytes()


# --- Audited downloads ------------------------------------------------------------------------
FORMATS = {"pdf": "application/pdf", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
           "eml": "message/rfc822"}


@transaction.atomic
def quote_export(*, actor: Any, quote: Quote, fmt: str = "pdf", revision: Any = None) -> tuple[bytes, str, str]:
    """The live quote, or revision number ``revision``, as ``pdf``, ``xlsx`` or ``eml``:
    (content, content type, file name). Audited as an export."""
    require(actor, "quote.view")
    if not quote_scope(actor).filter(pk=quote.pk).exists():
        raise NotFound()
    if fmt not in FORMATS:
        raise NotFound()
    content = reads.content_for(actor, quote, revision)
    if fmt == "xlsx":
        from guanxi.sales.services.quote_workbook import quote_xlsx

        data = quote_xlsx(content)
    else:
        data = quote_pdf(content)
        if fmt == "eml":
            data = quote_email(content, data)
    audit.record(actor=actor, action=AuditEvent.Action.EXPORT, obj=quote, object_repr=content["title"],
                 changes={"document": "quote", "format": fmt, "revision": content["revision"]},
                 note=f"quote.{fmt} r{content['revision']}")
    return data, FORMATS[fmt], filename(content, fmt)
