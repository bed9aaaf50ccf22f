"""Sales services: quotes (R4.2).

A quote moves draft → (pending → approved) → sent → accepted / declined / expired, or is
cancelled. A line discount above ``GUANXI_QUOTE_DISCOUNT_LIMIT`` needs the approval of a
manager who manages the owner (never the owner) before the quote can be sent. Sending keeps
the revision as it went out (``QuoteRevision``); changing a sent, declined or expired quote
starts the next revision as a draft, and changing a pending or approved one returns it to
draft (so a discount still above the limit is approved again).

Every change of a quote or its lines names the version it read (stale → Conflict) and moves
the version on, so two people editing one quote never overwrite each other.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guanxi.core import audit, context, registry
from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.models import AuditEvent
from guanxi.core.services import records
from guanxi.core.services.notifications import notify
from guanxi.customers.models import Account, Contact
from guanxi.customers.selectors import account_scope
from guanxi.sales.models import CNY, Opportunity, Quote, QuoteLine, QuoteRevision
from guanxi.sales.selectors import quotes as reads
from guanxi.sales.selectors.scope import opportunity_scope, quote_scope
from guanxi.sales.services.common import money, next_code, owner_department, raise_if, rate_to_cny, require, totals
from guanxi.sales.services.quote_lines import (  # noqa: F401  (the line services are part of this API)
    EDITABLE,
    REVISING,
    TEXT_LIMIT,
    _editable,
    _insert_lines,
    _line_label,
    _reopen,
    _settle,
    _text,
    catalogue_price,
    quote_line_add,
    quote_line_move,
    quote_line_remove,
    quote_line_update,
    quote_lines_replace,
)

State = Quote.State
VALID_DAYS = 30  # a new quote is valid for this many days unless told otherwise
CANCELLABLE = EDITABLE  # every state but accepted and cancelled
HEADER_FIELDS = ("subject", "title", "contact", "quote_date", "valid_until", "currency", "prices_include_tax",
                 "payment_terms", "delivery_terms", "terms", "notes")
# What a title must not be on its own (R4.2): "a quote" says nothing about whom it is for.
BARE_TITLES = frozenset({"报价单", "报价", "报价表", "报价书", "quote", "quotation", "offer", "pricequote",
                         "quotesheet"})


# --- Titles ---------------------------------------------------------------------------------
# The generated title per language: a business rule (R4.2), so it does not wait for a translation.
TITLE_FORMATS = {"zh": "{account} {subject} 报价单 {date}", "en": "Quote: {account} – {subject} – {date}"}


def quote_title(account_name: str, subject: str, on: dt.date) -> str:
    """The generated title in the active language: customer, subject and date
    ("<客户> <主题> 报价单 <日期>"; "Quote: <customer> – <subject> – <date>" in English)."""
    language = (translation.get_language() or settings.LANGUAGE_CODE).split("-")[0]
    return TITLE_FORMATS.get(language, TITLE_FORMATS["zh"]).format(
        account=account_name.strip(), subject=subject.strip(), date=on.isoformat())


def is_bare_title(title: str) -> bool:
    """True for a title that is only "报价单" / "quote" (with digits, spaces or punctuation)."""
    letters = re.sub(r"[\W\d_]+", "", title or "").lower()
    return letters == "" or letters in BARE_TITLES


def _generated_titles(account_name: str, subject: str, on: dt.date) -> set[str]:
    titles = set()
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            titles.add(quote_title(account_name, subject, on))
    return titles


# --- Input cleaning -------------------------------------------------------------------------
def _date(value: Any, field: str, errors: dict[str, list[str]]) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        parsed = parse_date(str(value).strip())
    except ValueError:
        parsed = None
    if parsed is None:
        errors[field] = [_("Enter a valid date, e.g. 2026-03-01.")]
    return parsed




def _contact(account: Account, value: Any, errors: dict[str, list[str]]) -> Contact | None:
    if value in (None, ""):
        return None
    contact_id = getattr(value, "pk", value)
    found = (Contact.objects.filter(pk=int(contact_id), account_id=account.pk).first()
             if str(contact_id).isdigit() else None)
    if found is None:
        errors["contact"] = [_("Choose a person who works at this account.")]
    return found


def _clean_header(quote: Quote | None, account: Account, data: dict[str, Any],
                  errors: dict[str, list[str]]) -> dict[str, Any]:
    """The header fields present in ``data``, checked; ``rate_to_cny`` follows currency and date."""
    out: dict[str, Any] = {}
    if "subject" in data:
        out["subject"] = _text(data["subject"], "subject", errors, 200)
        if not out["subject"]:
            errors["subject"] = [_("Say what the quote is for (e.g. the product or project).")]
    if "title" in data:
        out["title"] = _text(data["title"], "title", errors, 300)
        if out["title"] and is_bare_title(out["title"]):
            errors["title"] = [_("Give the quote a meaningful title (customer, subject, date), "
                                 "not just “%(title)s”.") % {"title": out["title"]}]
    if "contact" in data:
        out["contact"] = _contact(account, data["contact"], errors)
    if "quote_date" in data:
        out["quote_date"] = _date(data["quote_date"], "quote_date", errors) or timezone.localdate()
    if "valid_until" in data:
        out["valid_until"] = _date(data["valid_until"], "valid_until", errors)
    if "prices_include_tax" in data:
        out["prices_include_tax"] = bool(data["prices_include_tax"])
    for name in ("payment_terms", "delivery_terms", "terms", "notes"):
        if name in data:
            out[name] = _text(data[name], name, errors, TEXT_LIMIT)
    if "currency" in data:
        currency = str(data["currency"] or CNY).strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            errors["currency"] = [_("Enter a three-letter currency code, e.g. CNY or USD.")]
        out["currency"] = currency
    on = out.get("quote_date") or (quote.quote_date if quote else timezone.localdate())
    until = out.get("valid_until", quote.valid_until if quote else None)
    if until is not None and until < on and "valid_until" not in errors:
        errors["valid_until"] = [_("The quote cannot expire before its date.")]
    currency = out.get("currency", quote.currency if quote else CNY)
    if "currency" not in errors and (quote is None or "currency" in out or "quote_date" in out):
        try:
            out["rate_to_cny"] = rate_to_cny(currency, on)
        except Invalid as exc:
            errors.update(exc.errors)
    return out


def _visible_account(actor: Any, account: Account) -> None:
    if not account_scope(actor).filter(pk=account.pk).exists():
        raise NotFound()


# --- The quote ------------------------------------------------------------------------------
@transaction.atomic
def quote_create(*, actor: Any, account: Account, subject: str, opportunity: Opportunity | int | None = None,
                 contact: Contact | int | None = None, title: str = "", quote_date: Any = None,
                 valid_until: Any = None, currency: str = CNY, prices_include_tax: bool = True,
                 payment_terms: str = "", delivery_terms: str = "", terms: str = "", notes: str = "",
                 lines: Iterable[dict[str, Any]] = ()) -> Quote:
    """A draft quote to a visible account (optionally for one of its deals), owned by the actor,
    with ``lines`` (see ``quote_line_add``). An empty title is generated from the customer,
    the subject and the date; the validity defaults to 30 days."""
    require(actor, "quote.add")
    _visible_account(actor, account)
    errors: dict[str, list[str]] = {}
    deal: Opportunity | None = None
    if opportunity not in (None, ""):
        deal_id = str(getattr(opportunity, "pk", opportunity))
        deal = opportunity_scope(actor).filter(pk=int(deal_id)).first() if deal_id.isdigit() else None
        if deal is None or deal.account_id != account.pk:
            errors["opportunity"] = [_("Choose a deal of this account.")]
    on = _date(quote_date, "quote_date", errors) or timezone.localdate()
    header = _clean_header(None, account, {
        "subject": subject, "title": title, "contact": contact, "quote_date": on,
        "valid_until": valid_until if valid_until not in (None, "") else on + dt.timedelta(days=VALID_DAYS),
        "currency": currency, "prices_include_tax": prices_include_tax, "payment_terms": payment_terms,
        "delivery_terms": delivery_terms, "terms": terms, "notes": notes}, errors)
    raise_if(errors)
    if not header["title"]:
        header["title"] = quote_title(account.name, header["subject"], header["quote_date"])
    quote = Quote.objects.create(code=next_code("quote", "BJ"), account=account, opportunity=deal, owner=actor,
                                 department_id=owner_department(actor), **header)
    specs = list(lines)
    if specs:
        _insert_lines(quote, specs, numbered=True)
    figures = totals(list(quote.lines.all()), prices_include_tax=quote.prices_include_tax)
    Quote.objects.filter(pk=quote.pk).update(subtotal=figures.subtotal, discount_total=figures.discount,
                                             tax_total=figures.tax, total=figures.total,
                                             max_discount=figures.max_discount)
    quote.refresh_from_db()
    changes = audit.creation_changes(quote, skip_empty=True)
    if specs:
        changes["lines"] = [None, [_line_label(line) for line in quote.lines.order_by("position")]]
    audit.record(actor=actor, action=AuditEvent.Action.CREATE, obj=quote, changes=changes)
    return quote


@transaction.atomic
def quote_update(*, actor: Any, quote: Quote, changes: dict[str, Any], expected_version: int | None) -> Quote:
    """Change the header. The title follows the subject and date while it is the generated
    one; a new currency converts the line prices (through CNY at the quote date's rates)."""
    require(actor, "quote.change")
    unknown = set(changes) - set(HEADER_FIELDS)
    if unknown:
        raise Invalid(errors={k: [_("This field cannot be changed here.")] for k in sorted(unknown)})
    _editable(quote)
    errors: dict[str, list[str]] = {}
    cleaned = _clean_header(quote, quote.account, changes, errors)
    raise_if(errors)
    if cleaned.get("title") == quote.title:
        cleaned.pop("title")  # the form posts the title back unchanged
    subject, on = cleaned.get("subject", quote.subject), cleaned.get("quote_date", quote.quote_date)
    generated = quote.title in _generated_titles(quote.account.name, quote.subject, quote.quote_date)
    if ("title" in cleaned and not cleaned["title"]) or ("title" not in cleaned and generated and (
            subject != quote.subject or on != quote.quote_date)):
        cleaned["title"] = quote_title(quote.account.name, subject, on)
    if not records.diff(quote, cleaned):
        if expected_version is not None and int(expected_version) != quote.version:
            raise Conflict()
        return quote
    old_rate, old_currency = Decimal(quote.rate_to_cny), quote.currency
    records.apply_update(actor=actor, obj=quote, changes={**cleaned, **_reopen(quote)},
                         expected_version=expected_version)
    if quote.currency != old_currency:
        for line in QuoteLine.objects.filter(quote=quote):
            QuoteLine.objects.filter(pk=line.pk).update(
                unit_price=money(line.unit_price * old_rate / Decimal(quote.rate_to_cny)))
    if quote.currency != old_currency or "prices_include_tax" in cleaned:
        _settle(actor, quote, note=_("Totals recounted"))
    return quote


def _detail_url(quote: Quote) -> str:
    return reverse("sales:quote-detail", args=[quote.pk])


def _ready_to_send(quote: Quote) -> None:
    if not QuoteLine.objects.filter(quote=quote).exists():
        raise Invalid(_("Add at least one line first."))
    if is_bare_title(quote.title):
        raise Invalid(errors={"title": [_("Give the quote a meaningful title (customer, subject, date), "
                                          "not just “%(title)s”.") % {"title": quote.title}]})


@transaction.atomic
def quote_request_approval(*, actor: Any, quote: Quote, expected_version: int | None = None,
                           note: str = "") -> Quote:
    """Ask the owner's managers to approve a discount above the limit (they are notified)."""
    require(actor, "quote.change")
    if quote.state != State.DRAFT:
        raise Invalid(_("Only a draft can be submitted for approval."))
    if not reads.needs_approval(quote):
        raise Invalid(_("No discount is above %(limit)s%%: this quote needs no approval.")
                      % {"limit": reads.discount_limit()})
    _ready_to_send(quote)
    approvers = reads.approvers_for(quote.owner)
    if not approvers:
        raise Invalid(_("Nobody can approve this quote: no manager manages its owner."))
    records.apply_update(actor=actor, obj=quote, expected_version=expected_version, action=AuditEvent.Action.REQUEST,
                         note=note.strip(), changes={"state": State.PENDING, "approval_requested_at": timezone.now()})
    title = _("Quote waiting for your approval: %(title)s") % {"title": quote.title}
    body = _("Largest discount %(discount)s%% (limit %(limit)s%%), total %(total)s %(currency)s.") % {
        "discount": quote.max_discount, "limit": reads.discount_limit(), "total": quote.total,
        "currency": quote.currency}
    for person in approvers:
        notify(person, title=title, body=body + (f"\n{note.strip()}" if note.strip() else ""),
               url=_detail_url(quote))
    return quote


@transaction.atomic
def quote_decide(*, actor: Any, quote: Quote, approve: bool, note: str = "",
                 expected_version: int | None = None) -> Quote:
    """Approve (→ approved) or return (→ draft, a note saying why) a pending quote: by a manager
    of its owner, never the owner. The owner is notified."""
    require(actor, "quote.approve")
    if actor.pk == quote.owner_id:
        raise Forbidden(_("You cannot approve your own quote; another manager must review it."))
    if not reads.can_decide(actor, quote):
        raise Forbidden()
    if quote.state != State.PENDING:
        raise Invalid(_("This quote is not waiting for approval."))
    note = (note or "").strip()
    if not approve and not note:
        raise Invalid(errors={"note": [_("Say why the quote is returned.")]})
    records.apply_update(actor=actor, obj=quote, expected_version=expected_version, note=note,
                         action=AuditEvent.Action.APPROVE if approve else AuditEvent.Action.DECIDE,
                         changes={"state": State.APPROVED if approve else State.DRAFT, "approved_by": actor,
                                  "approved_at": timezone.now(), "approval_note": note})
    message = (_("Your quote was approved: %(title)s") if approve
               else _("Your quote was returned: %(title)s")) % {"title": quote.title}
    notify(quote.owner, title=message, body=note, url=_detail_url(quote))
    return quote


@transaction.atomic
def quote_send(*, actor: Any, quote: Quote, expected_version: int | None = None) -> QuoteRevision:
    """Mark the quote sent and keep this revision as it went out (its documents can be
    printed again at any time). Above the discount limit it must be approved first."""
    require(actor, "quote.change")
    if quote.state not in (State.DRAFT, State.APPROVED):
        raise Invalid(_("Only a draft or an approved quote can be sent."))
    _ready_to_send(quote)
    if reads.needs_approval(quote) and quote.state != State.APPROVED:
        raise Invalid(_("A discount of %(discount)s%% is above the limit of %(limit)s%%: "
                        "a manager must approve the quote before it is sent.") % {
            "discount": quote.max_discount, "limit": reads.discount_limit()})
    if quote.valid_until is not None and quote.valid_until < timezone.localdate():
        raise Invalid(errors={"valid_until": [_("The quote's validity has passed; extend it before sending.")]})
    records.apply_update(actor=actor, obj=quote, expected_version=expected_version,
                         note=_("Revision %(revision)s sent") % {"revision": quote.revision},
                         changes={"state": State.SENT, "sent_at": timezone.now()})
    try:
        with transaction.atomic():
            return QuoteRevision.objects.create(
                quote=quote, revision=quote.revision, snapshot=reads.quote_content(quote), created_by=actor,
                reason=_("Sent"))
    except IntegrityError:
        raise Conflict() from None


def _move(actor: Any, quote: Quote, *, allowed: Iterable[str], to: str, expected_version: int | None, note: str,
          refused: str) -> Quote:
    require(actor, "quote.change")
    if quote.state not in set(allowed):
        raise Invalid(refused)
    records.apply_update(actor=actor, obj=quote, expected_version=expected_version, note=(note or "").strip(),
                         changes={"state": to})
    return quote


@transaction.atomic
def quote_accept(*, actor: Any, quote: Quote, expected_version: int | None = None, note: str = "") -> Quote:
    """The customer accepted the sent quote (an order can now be made from it)."""
    return _move(actor, quote, allowed={State.SENT}, to=State.ACCEPTED, expected_version=expected_version,
                 note=note, refused=_("Only a sent quote can be accepted."))


@transaction.atomic
def quote_decline(*, actor: Any, quote: Quote, expected_version: int | None = None, note: str = "") -> Quote:
    """The customer declined; changing the quote afterwards starts a revised offer."""
    return _move(actor, quote, allowed={State.SENT}, to=State.DECLINED, expected_version=expected_version,
                 note=note, refused=_("Only a sent quote can be declined."))


@transaction.atomic
def quote_cancel(*, actor: Any, quote: Quote, expected_version: int | None = None, note: str = "") -> Quote:
    return _move(actor, quote, allowed=CANCELLABLE, to=State.CANCELLED, expected_version=expected_version,
                 note=note, refused=_("An accepted or cancelled quote cannot be cancelled."))


def quote_delete(*, actor: Any, quote: Quote, expected_version: int | None = None) -> Any:
    """To the recycle bin (managers; restorable with its lines and revisions)."""
    return records.record_delete(actor=actor, obj=quote, expected_version=expected_version)


def quotes_expire(*, today: dt.date | None = None, batch: int = 500) -> int:
    """Sent quotes whose validity has passed become expired; the owner is told. Idempotent."""
    today = today or timezone.localdate()
    expired = 0
    while True:
        ids = list(Quote.objects.filter(state=State.SENT, valid_until__lt=today).order_by("pk")
                   .values_list("pk", flat=True)[:batch])
        if not ids:
            return expired
        for pk in ids:
            with transaction.atomic():
                quote = (Quote.objects.select_for_update().filter(pk=pk, state=State.SENT, valid_until__lt=today)
                         .select_related("owner").first())
                if quote is None:
                    continue
                records.apply_update(actor=None, obj=quote, expected_version=None, changes={"state": State.EXPIRED},
                                     note=_("The validity date passed"))
                notify(quote.owner, title=_("Quote expired: %(title)s") % {"title": quote.title},
                       url=_detail_url(quote))
                expired += 1


@db_periodic_task(crontab(minute="20"))
def expire_quotes() -> int:
    """Every hour (cheap when nothing is due): sent quotes past their validity expire."""
    with context.origin(None, "job"):
        return quotes_expire()


registry.register(registry.Entry(
    model=Quote, perm="quote", scope=lambda user, qs: quote_scope(user, qs), editable=(),
    detail_url=_detail_url,
))

