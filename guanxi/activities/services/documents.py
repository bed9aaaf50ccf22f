"""Documents for the customer (R3.4): the written confirmation of an interaction (PDF and an
e-mail draft) and the weekly status report (PDF).

The PDFs use ReportLab's built-in Adobe CJK font ``STSong-Light`` (a CID font every PDF
reader provides), so Chinese text needs no font file and nothing is downloaded. Everything
is written in the active language (the user's own). Each download is one audited export.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from decimal import Decimal
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from guanxi.activities.models import CostChange, Interaction
from guanxi.activities.selectors import interaction_scope
from guanxi.activities.selectors.reports import Confirmation, WeeklyReport, confirmation_for
from guanxi.core import access, audit
from guanxi.core.errors import Forbidden, NotFound
from guanxi.core.models import AuditEvent
from guanxi.core.permissions import has_perm

FONT = "STSong-Light"
INK = colors.HexColor("#212529")
MUTED = colors.HexColor("#6c757d")
RULE = colors.HexColor("#adb5bd")
SHADE = colors.HexColor("#f1f3f5")
# A mailto: link longer than about 2,000 characters is cut off by some mail programs.
MAILTO_BODY_LIMIT = 1200


def _register_font() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def _style(name: str, size: float, *, leading: float | None = None, color: Any = INK, space_before: float = 0,
           space_after: float = 0, alignment: int = 0) -> ParagraphStyle:
    # wordWrap "CJK" lets a line break between any two Chinese characters.
    return ParagraphStyle(name, fontName=FONT, fontSize=size, leading=leading or size * 1.45, textColor=color,
                          spaceBefore=space_before, spaceAfter=space_after, wordWrap="CJK", alignment=alignment)


class Styles:
    def __init__(self) -> None:
        _register_font()
        self.company = _style("company", 10, color=MUTED)
        self.title = _style("title", 16, leading=22, space_before=4, space_after=8)
        self.heading = _style("heading", 12, space_before=10, space_after=4)
        self.body = _style("body", 10.5, space_after=3)
        self.cell = _style("cell", 9.5)
        self.small = _style("small", 8.5, color=MUTED)
        self.right = _style("right", 10.5, alignment=TA_RIGHT)


# Characters the Adobe-GB1 font has no glyph for, and the look-alike it has.
def _colon(label: str) -> str:
    """A label before its text: "摘要：" in Chinese, "Summary:" in English."""
    return _("%(label)s:") % {"label": label}


PDF_GLYPHS = str.maketrans({"\u00b7": "\u30fb", "\u2022": "\u30fb", "\u2039": "<", "\u203a": ">"})


def _text(value: Any) -> str:
    """Plain text made safe for ReportLab's paragraph markup; line breaks kept."""
    return escape(str(value or "").translate(PDF_GLYPHS)).replace("\r\n", "\n").replace("\n", "<br/>")


def _when(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return timezone.localtime(value).strftime(fmt) if value else ""


def _money(value: Decimal | None, *, signed: bool = False) -> str:
    if value is None:
        return ""
    return f"{value:+,.2f}" if signed else f"{value:,.2f}"


def _table(rows: list[list[Any]], widths: list[float], styles: Styles, *, header: bool = True) -> Table:
    cells = [[c if isinstance(c, Flowable) else Paragraph(_text(c), styles.cell) for c in row] for row in rows]
    table = Table(cells, colWidths=widths, repeatRows=1 if header else 0, hAlign="LEFT")
    commands: list[Any] = [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), SHADE))
    table.setStyle(TableStyle(commands))
    return table


def _fit(text: str, width: float, size: float) -> str:
    """``text`` cut (with an ellipsis) to fit ``width`` points in the font at ``size``."""
    if pdfmetrics.stringWidth(text, FONT, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", FONT, size) > width:
        text = text[:-1]
    return text + "…"


def _build(story: list[Any], *, title: str, author: str, footer: str) -> bytes:
    """Lay out ``story`` on A4 with a footer line (company · title · page) on every page."""
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=title, author=author, subject=title, creator="guanxi",
                            leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm, bottomMargin=18 * mm)

    def decorate(canvas: Canvas, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.setFillColor(MUTED)
        canvas.drawString(18 * mm, 10 * mm, _fit(footer.translate(PDF_GLYPHS), A4[0] - 60 * mm, 8))
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, _("Page %(number)s") % {"number": document.page})
        canvas.restoreState()

    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


def _join(names: Iterable[str]) -> str:
    return pgettext("list separator", ", ").join(n for n in names if n)


# --- Written confirmation ------------------------------------------------------------------
def _their_people(conf: Confirmation) -> list[str]:
    return [_("%(name)s (%(title)s)") % {"name": c.name, "title": c.title} if c.title else c.name
            for c in conf.theirs]


def confirmation_pdf(conf: Confirmation) -> bytes:
    """The confirmation as a PDF (A4, Chinese-capable font)."""
    s = Styles()
    width = A4[0] - 36 * mm
    story: list[Any] = [
        Paragraph(_text(conf.company), s.company),
        Paragraph(_text(conf.title), s.title),
    ]
    facts = [
        [_("Customer"), conf.account.name],
        [_("When"), f"{conf.occurred_at:%Y-%m-%d %H:%M} · {conf.kind_label} · {conf.purpose_label}"],
        [_("Our side"), " — ".join(x for x in (conf.company, _join(conf.ours)) if x)],
        [_("Their side"), _join(_their_people(conf)) or "—"],
    ]
    story.append(_table(facts, [30 * mm, width - 30 * mm], s, header=False))
    story.append(Paragraph(_text(_("Summary")), s.heading))
    story.append(Paragraph(_text(conf.summary), s.body))
    if conf.outcome.strip():
        story.append(Paragraph(_text(_("Outcome")), s.heading))
        story.append(Paragraph(_text(conf.outcome), s.body))
    story.append(Paragraph(_text(_("Agreed points")), s.heading))
    if conf.agreements:
        for number, point in enumerate(conf.agreements, 1):
            story.append(Paragraph(f"{number}. {_text(point)}", s.body))
    else:
        story.append(Paragraph(_text(_("No points were recorded as agreed.")), s.body))
    story.append(Paragraph(_text(_("Next steps")), s.heading))
    if conf.next_steps:
        rows: list[list[Any]] = [["#", _("Next step"), _("Owner"), _("Due")]]
        for number, step in enumerate(conf.next_steps, 1):
            label = step.title + (f" ({step.state_label})" if step.state != "open" else "")
            rows.append([str(number), label, step.owner, f"{step.due_at:%Y-%m-%d %H:%M}"])
        story.append(_table(rows, [10 * mm, width - 80 * mm, 35 * mm, 35 * mm], s))
    else:
        story.append(Paragraph(_text(_("No next steps were planned.")), s.body))
    story.append(Spacer(1, 8 * mm))
    story.append(KeepTogether([
        Paragraph(_text(conf.closing), s.body),
        Spacer(1, 6 * mm),
        Paragraph(_text(conf.company), s.right),
        Paragraph(_text(conf.sender_name), s.right),
        Paragraph(_text(f"{timezone.localdate():%Y-%m-%d}"), s.right),
    ]))
    return _build(story, title=conf.title, author=conf.company or conf.sender_name,
                  footer=" · ".join(x for x in (conf.company, conf.title) if x))


def confirmation_text(conf: Confirmation) -> str:
    """The confirmation as the plain-text body of an e-mail."""
    names = _join([c.name for c in conf.theirs]) or conf.account.name
    lines = [
        _("Dear %(names)s,") % {"names": names},
        "",
        _("Thank you for your time on %(date)s. This is our written record of the %(kind)s; "
          "the same is attached as a PDF.") % {"date": f"{conf.occurred_at:%Y-%m-%d}", "kind": conf.kind_label},
        "",
        _colon(_("Summary")),
        conf.summary.strip(),
    ]
    if conf.outcome.strip():
        lines += ["", _colon(_("Outcome")), conf.outcome.strip()]
    lines += ["", _colon(_("Agreed points"))]
    lines += [f"{n}. {p}" for n, p in enumerate(conf.agreements, 1)] or [_("No points were recorded as agreed.")]
    lines += ["", _colon(_("Next steps"))]
    lines += [_("%(number)s. %(step)s — %(owner)s, by %(due)s") % {
        "number": n, "step": step.title, "owner": step.owner, "due": f"{step.due_at:%Y-%m-%d %H:%M}"}
        for n, step in enumerate(conf.next_steps, 1)] or [_("No next steps were planned.")]
    lines += ["", conf.closing, "", _("Kind regards,"), conf.sender_name]
    if conf.company:
        lines.append(conf.company)
    return "\n".join(lines) + "\n"


def _address(name: str, email: str) -> Address | None:
    try:
        return Address(display_name=name, addr_spec=email)
    except (ValueError, IndexError, TypeError):
        return None


def confirmation_email(conf: Confirmation, pdf: bytes) -> bytes:
    """An e-mail draft (.eml) to their people present, the PDF attached; mail programs open
    it as an unsent message (``X-Unsent``) for the user to check and send."""
    message = EmailMessage(policy=SMTP)
    message["Subject"] = conf.title
    sender = _address(conf.sender_name, conf.sender_email or settings.DEFAULT_FROM_EMAIL)
    if sender is not None:
        message["From"] = sender
    recipients = [a for a in (_address(n, e) for n, e in conf.recipients) if a is not None]
    if recipients:
        message["To"] = recipients
    copies = [a for a in (_address(n, e) for n, e in conf.copies) if a is not None]
    if copies:
        message["Cc"] = copies
    message["Date"] = format_datetime(timezone.localtime())
    message["Message-ID"] = make_msgid(domain=(conf.sender_email or settings.DEFAULT_FROM_EMAIL).rpartition("@")[2]
                                       or "localhost")
    message["X-Unsent"] = "1"
    message.set_content(confirmation_text(conf))
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"{conf.filename}.pdf")
    return message.as_bytes()


def confirmation_mailto(conf: Confirmation) -> str:
    """A ``mailto:`` link with subject and body, for a quick message without the PDF."""
    body = confirmation_text(conf)
    if len(body) > MAILTO_BODY_LIMIT:
        body = body[:MAILTO_BODY_LIMIT].rstrip() + "…\n\n" + _("(The full text is in the PDF.)")
    to = ",".join(quote(email, safe="@") for _name, email in conf.recipients)
    params = [f"subject={quote(conf.title, safe='')}", f"body={quote(body.replace(chr(10), chr(13) + chr(10)), safe='')}"]
    if conf.copies:
        params.insert(0, "cc=" + ",".join(quote(email, safe="@") for _name, email in conf.copies))
    return f"mailto:{to}?{'&'.join(params)}"


# --- Weekly status report ------------------------------------------------------------------
def _section(story: list[Any], s: Styles, title: str, rows: list[list[Any]], widths: list[float],
             empty: str) -> None:
    story.append(Paragraph(_text(title), s.heading))
    if len(rows) > 1:
        story.append(_table(rows, widths, s))
    else:
        story.append(Paragraph(_text(empty), s.small))


def weekly_counts(report: WeeklyReport) -> str:
    return _("Contacts this week: %(contacts)s · follow-ups done: %(done)s · still open: %(open)s "
             "(overdue: %(overdue)s) · planned for next week: %(next)s") % {
        "contacts": len(report.interactions), "done": len(report.followups_done),
        "open": len(report.followups_open), "overdue": report.overdue_count,
        "next": len(report.followups_next_week)}


def weekly_pdf(report: WeeklyReport) -> bytes:
    """The weekly status report as a PDF."""
    s = Styles()
    w = A4[0] - 36 * mm
    story: list[Any] = [Paragraph(_text(report.company), s.company), Paragraph(_text(report.title), s.title),
                        Paragraph(_text(weekly_counts(report)), s.body)]

    rows: list[list[Any]] = [[_("When"), _("Kind"), _("What was discussed"), _("Our person")]]
    for i in report.interactions:
        text = (i.subject + "\n" if i.subject else "") + i.summary
        if i.agreements.strip():
            text += "\n" + _("Agreed: %(points)s") % {"points": _join(i.agreements.splitlines())}
        rows.append([_when(i.occurred_at, "%m-%d %H:%M"), f"{i.get_kind_display()} · {i.get_purpose_display()}",
                     text, str(i.owner)])
    _section(story, s, _("Contacts this week"), rows, [24 * mm, 28 * mm, w - 82 * mm, 30 * mm],
             _("No contact was logged this week."))

    rows = [[_("Done on"), _("Follow-up"), _("Owner"), _("Outcome")]]
    rows += [[_when(f.done_at, "%m-%d %H:%M"), f.title, str(f.owner), f.outcome] for f in report.followups_done]
    _section(story, s, _("Follow-ups done"), rows, [24 * mm, w - 104 * mm, 30 * mm, 50 * mm],
             _("No follow-up was done this week."))

    rows = [[_("Due"), _("Follow-up"), _("Owner"), _("State")]]
    rows += [[_when(f.due_at), f.title, str(f.owner), _("Overdue") if f.is_overdue else f.get_state_display()]
             for f in report.followups_open]
    _section(story, s, _("Open and overdue follow-ups"), rows, [30 * mm, w - 80 * mm, 30 * mm, 20 * mm],
             _("Nothing is open or overdue."))

    rows = [[_("Due"), _("Follow-up"), _("Owner"), _("Person")]]
    rows += [[_when(f.due_at), f.title, str(f.owner), f.contact.name if f.contact is not None else ""]
             for f in report.followups_next_week]
    _section(story, s, _("Next week"), rows, [30 * mm, w - 90 * mm, 30 * mm, 30 * mm],
             _("Nothing is planned for next week yet."))

    rows = [[_("Date"), _("Care"), _("Person"), _("Greeting or gift")]]
    rows += [[f"{c.date:%m-%d}", c.get_occasion_display(), c.contact.name if c.contact is not None else "",
              " · ".join(x for x in (c.message, c.gift) if x)] for c in report.care]
    rows += [[f"{sp.given_on:%m-%d}", sp.get_kind_display(), str(sp.owner),
              " · ".join(x for x in (sp.description, _money(sp.value), sp.outcome) if x)] for sp in report.support]
    _section(story, s, _("Care and support given"), rows, [18 * mm, 28 * mm, 30 * mm, w - 76 * mm],
             _("No care or support was recorded this week."))

    for status in report.projects:
        p = status.project
        story.append(Paragraph(_text(_("Project: %(name)s (%(state)s)") % {"name": p.name,
                                                                         "state": p.get_state_display()}), s.heading))
        if p.goal:
            story.append(Paragraph(_text(p.goal), s.body))
        rows = [["#", _("Phase"), _("Owner"), _("Dates"), _("Cost"), _("State")]]
        rows += [[str(ph.position), ph.name, str(ph.owner),
                  " – ".join(f"{d:%Y-%m-%d}" for d in (ph.starts_on, ph.ends_on) if d), _money(ph.cost),
                  ph.get_state_display()] for ph in status.phases]
        if len(rows) > 1:
            story.append(_table(rows, [8 * mm, w - 120 * mm, 26 * mm, 42 * mm, 24 * mm, 20 * mm], s))
        changes = [[_("Phase"), capfirst(CostChange._meta.get_field("amount").verbose_name),
                    capfirst(CostChange._meta.get_field("reason").verbose_name), _("State")]]
        changes += [[c.phase.name, _money(c.amount, signed=True), c.reason, c.get_state_display()]
                    for c in [*status.pending, *status.decided]]
        if len(changes) > 1:
            story.append(Paragraph(_text(_("Cost changes")), s.body))
            story.append(_table(changes, [40 * mm, 26 * mm, w - 111 * mm, 45 * mm], s))
    story.append(Spacer(1, 6 * mm))
    story.append(Paragraph(_text(_("Prepared on %(date)s.") % {"date": _when(report.generated_at)}), s.small))
    return _build(story, title=report.title, author=report.company,
                  footer=" · ".join(x for x in (report.company, report.title) if x))


# --- Audited downloads ---------------------------------------------------------------------
def _require_view(actor: Any, interaction: Interaction) -> None:
    if not has_perm(actor, "interaction.view"):
        raise Forbidden()
    if not interaction_scope(actor).filter(pk=interaction.pk).exists():
        raise NotFound()


@transaction.atomic
def confirmation_export(*, actor: Any, interaction: Interaction, fmt: str = "pdf") -> tuple[bytes, str, str]:
    """The confirmation of a visible interaction as ``pdf`` or ``eml``: (content, content type,
    file name). Audited as an export."""
    _require_view(actor, interaction)
    conf = confirmation_for(actor, interaction)
    pdf = confirmation_pdf(conf)
    if fmt == "eml":
        content, content_type, filename = confirmation_email(conf, pdf), "message/rfc822", f"{conf.filename}.eml"
    else:
        fmt, content, content_type, filename = "pdf", pdf, "application/pdf", f"{conf.filename}.pdf"
    audit.record(actor=actor, action=AuditEvent.Action.EXPORT, obj=interaction, object_repr=conf.title,
                 changes={"document": "confirmation", "format": fmt,
                          "to": [email for _name, email in conf.recipients]},
                 note=f"confirmation.{fmt}")
    return content, content_type, filename


@transaction.atomic
def weekly_report_export(*, actor: Any, report: WeeklyReport) -> tuple[bytes, str, str]:
    """The weekly report (built for ``actor`` by ``selectors.reports.weekly_report``) as a PDF."""
    perm = "project.view" if report.project is not None else "interaction.view"
    if not has_perm(actor, perm):
        raise Forbidden()
    if not access.can_see(actor, report.account):
        raise NotFound()
    content = weekly_pdf(report)
    target: Any = report.project if report.project is not None else report.account
    audit.record(actor=actor, action=AuditEvent.Action.EXPORT, obj=target, object_repr=report.title,
                 changes={"document": "weekly_report", "format": "pdf", "week": report.week.label},
                 note=f"weekly-report {report.week.label}")
    return content, "application/pdf", f"{report.filename}.pdf"
