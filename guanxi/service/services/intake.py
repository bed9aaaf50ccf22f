"""Intake (R5.1): the one service every channel calls to receive a case.

The public form, the hotline, paper comment cards, staff, the API and later the mail hub
all end in :func:`case_receive`. It validates everything before writing (bad input →
``Invalid`` with a message per field, nothing changed), matches the sender to an account
and contact (:func:`match_sender`, exact matches only; ambiguous → unmatched), picks the
first responder who owns the case (首问负责) — the actor, or without one the form's
responder, the category's responder, a service manager — starts the SLA timers, writes
the ``received`` event and the audit row, stores the attachments and tells the owner when
someone else received it for them.

:func:`cards_receive` enters a batch of paper comment cards all or nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from guanxi.core import audit, search
from guanxi.core.errors import Invalid
from guanxi.core.models import Role, User
from guanxi.core.services.notifications import notify
from guanxi.core.validators import normalise_phone
from guanxi.customers.models import Account, Contact
from guanxi.customers.selectors import account_scope
from guanxi.sales.models import Order, Product
from guanxi.sales.services.common import next_code, owner_department, raise_if, require
from guanxi.service.models import Case, CaseCategory, CaseEvent, Channel, FeedbackForm, Kind, Severity
from guanxi.service.services import attachments as attachment_services
from guanxi.service.services import sla

CODE_SEQUENCE, CODE_PREFIX = "case", "FW"  # 服务: FW-2026-000123
MAX_DESCRIPTION = 10_000
# A phone needs this many digits before it is matched (a typo of three digits matches nobody).
MIN_PHONE_DIGITS = 7
_NON_DIGIT = re.compile(r"\D")
_PHONE_CHARS = re.compile(r"^[0-9+\-\s()（）#*转]*$")
# Clocks drift: a received time this far ahead of ours is still "now".
FUTURE_SLACK = dt.timedelta(minutes=5)


# --- Matching the sender -------------------------------------------------------------------
def phone_digits(value: str) -> str:
    """The digits of a phone as typed, without the +86/0086 country prefix."""
    return _NON_DIGIT.sub("", normalise_phone(value or ""))


def _same_phone(stored: str, digits: str) -> bool:
    return bool(stored) and phone_digits(stored) == digits


def _company_forms(company: str) -> list[str]:
    """The company name as typed, with half-width and full-width brackets (both are common)."""
    name = company.strip()
    if not name:
        return []
    return list(dict.fromkeys([name, name.replace("(", "（").replace(")", "）"),
                               name.replace("（", "(").replace("）", ")")]))


def _candidates(*, phone: str, email: str, company: str) -> tuple[set[int], list[Contact]]:
    """Accounts and contacts each piece of evidence points at (exact matches only)."""
    accounts: set[int] = set()
    contacts: list[Contact] = []
    alive_contacts = Contact.objects.filter(account__deleted_at__isnull=True)
    digits = phone_digits(phone)
    if len(digits) >= MIN_PHONE_DIGITS:
        # The stored numbers are written many ways (138-0013-8000, +86 138…); the last four
        # digits narrow the rows, the digits compared in Python decide.
        tail = digits[-4:]
        for contact in alive_contacts.filter(Q(mobile__contains=tail) | Q(phone__contains=tail)):
            if _same_phone(contact.mobile, digits) or _same_phone(contact.phone, digits):
                contacts.append(contact)
        for pk, stored in Account.objects.filter(phone__contains=tail).values_list("pk", "phone"):
            if _same_phone(stored, digits):
                accounts.add(pk)
    address = email.strip()
    if address and "@" in address:
        contacts += list(alive_contacts.filter(email__iexact=address))
    code = company.strip().upper()
    if len(code) == 18:
        accounts |= set(Account.objects.filter(credit_code=code).values_list("pk", flat=True))
    names = _company_forms(company)
    if names:
        accounts |= set(Account.objects.filter(name__in=names).values_list("pk", flat=True))
    accounts |= {c.account_id for c in contacts}
    return accounts, contacts


def match_sender(*, phone: str = "", email: str = "", company: str = "",
                 name: str = "") -> tuple[Account | None, Contact | None]:
    """The account (and contact) a sender is, from exact matches only: a contact's mobile or
    phone digits, a contact's e-mail, the account's phone, its credit code or its exact name.

    (None, None) when nothing matches or the evidence points at more than one account. The
    contact is the one person the phone or e-mail matched at that account, else the one
    person there named exactly ``name``; None when that is not exactly one. Not scoped: the
    case is linked to the customer whoever may see it (callers that show the result to a
    person filter it through the account scope).
    """
    account_ids, contacts = _candidates(phone=phone, email=email, company=company)
    if len(account_ids) != 1:
        return None, None
    account = Account.objects.filter(pk=next(iter(account_ids))).first()
    if account is None:
        return None, None
    people = {c.pk: c for c in contacts if c.account_id == account.pk}
    if len(people) == 1:
        return account, next(iter(people.values()))
    if not people and name.strip():
        named = list(Contact.objects.filter(account=account, name=name.strip())[:2])
        if len(named) == 1:
            return account, named[0]
    return account, None


def lookup_for(user: Any, *, phone: str = "", email: str = "", company: str = "") -> list[dict[str, Any]]:
    """What an agent taking a call may be told about a caller: the accounts the evidence points
    at that ``user`` sees (with the matched people there), nothing about the others."""
    account_ids, contacts = _candidates(phone=phone, email=email, company=company)
    if not account_ids:
        return []
    visible = list(account_scope(user).filter(pk__in=account_ids).order_by("name")[:10])
    return [{"account": account, "contacts": [c for c in contacts if c.account_id == account.pk]}
            for account in visible]


# --- Validation ----------------------------------------------------------------------------
@dataclass
class Cleaned:
    """A case ready to be written (every value checked)."""

    values: dict[str, Any]
    form: FeedbackForm | None = None
    files: list[UploadedFile] = field(default_factory=list)


def _text(value: Any, name: str, errors: dict[str, list[str]], *, limit: int, required: bool = False,
          message: str = "") -> str:
    text = str(value or "").strip()
    if required and not text:
        errors.setdefault(name, []).append(message or _("This field is required."))
    if len(text) > limit:
        errors.setdefault(name, []).append(_("Enter at most %(n)d characters.") % {"n": limit})
    if "\x00" in text:
        errors.setdefault(name, []).append(_("Null characters are not allowed."))
    return text


def _instance(model: type[Any], value: Any) -> Any:
    """A record from an instance or an id; None when none is given, False for an unknown one."""
    if value in (None, ""):
        return None
    if isinstance(value, model):
        return value
    found = model._default_manager.filter(pk=value).first() if str(value).isdigit() else None
    return found if found is not None else False


def _category(value: Any, kind: str, errors: dict[str, list[str]]) -> CaseCategory | None:
    category = _instance(CaseCategory, value)
    if category is None:
        return None
    if category is False or not category.active:
        errors.setdefault("category", []).append(_("Choose an active case category."))
        return None
    if category.kind and category.kind != kind:
        errors.setdefault("category", []).append(_("This category is for another kind of case."))
        return None
    return category  # type: ignore[no-any-return]


def _product(value: Any, errors: dict[str, list[str]]) -> Product | None:
    product = _instance(Product, value)
    if product is None:
        return None
    if product is False or product.deleted_at is not None or not product.active:
        errors.setdefault("product", []).append(_("Choose a product of the catalogue."))
        return None
    return product  # type: ignore[no-any-return]


def _received_at(value: Any, errors: dict[str, list[str]]) -> dt.datetime:
    now = timezone.now()
    if value in (None, ""):
        return now
    if isinstance(value, dt.datetime):
        moment = value if timezone.is_aware(value) else timezone.make_aware(value)
    elif isinstance(value, dt.date):
        # A day only (a comment card): noon of that day, or now for today.
        moment = now if value == timezone.localdate() else timezone.make_aware(
            dt.datetime.combine(value, dt.time(12, 0)))
    else:
        errors.setdefault("received_at", []).append(_("Enter a valid date and time."))
        return now
    if moment > now + FUTURE_SLACK:
        errors.setdefault("received_at", []).append(_("The time received cannot be in the future."))
    return min(moment, now)


def _responder(user: Any) -> User | None:
    return user if user is not None and user.is_active else None


def default_owner(*, form: FeedbackForm | None, category: CaseCategory | None) -> User | None:
    """Who receives a case that arrives without a person: the form's responder, the category's,
    else a service manager (the longest-serving), else a general manager."""
    for candidate in (form.responder if form else None, category.responder if category else None):
        if _responder(candidate) is not None:
            return candidate  # type: ignore[no-any-return]
    for role in (Role.Code.SERVICE_MANAGER, Role.Code.GENERAL_MANAGER):
        found = User.objects.filter(is_active=True, roles__code=role).order_by("pk").first()
        if found is not None:
            return found
    return None


def clean_case(*, actor: Any, kind: str, title: Any, description: Any, channel: str, category: Any = None,
               severity: str = Severity.NORMAL, ticket_type: str = "", product: Any = None, order: Any = None,
               account: Any = None, contact: Any = None, sender_name: Any = "", sender_company: Any = "",
               sender_phone: Any = "", sender_email: Any = "", wants_reply: bool = True,
               form: FeedbackForm | None = None, received_at: Any = None,
               attachments: Iterable[UploadedFile] = ()) -> Cleaned:
    """Check a case before anything is written; Invalid with every field's messages at once."""
    errors: dict[str, list[str]] = {}
    kind = str(kind or "")
    if kind not in Kind.values:
        errors.setdefault("kind", []).append(_("Choose complaint, suggestion or service ticket."))
    if channel not in Channel.values:
        errors.setdefault("channel", []).append(_("Choose how the case arrived."))
    if severity not in Severity.values:
        errors.setdefault("severity", []).append(_("Choose a severity."))
    ticket_type = str(ticket_type or "")
    if ticket_type and (kind != Kind.TICKET or ticket_type not in Case.TicketType.values):
        errors.setdefault("ticket_type", []).append(_("Only a service ticket has a ticket type."))
    title_text = _text(title, "title", errors, limit=200, required=True, message=_("Enter a subject."))
    body = _text(description, "description", errors, limit=MAX_DESCRIPTION, required=True,
                 message=_("Describe what happened."))
    name = _text(sender_name, "sender_name", errors, limit=100)
    company = _text(sender_company, "sender_company", errors, limit=200)
    phone = _text(sender_phone, "sender_phone", errors, limit=40)
    if phone and (not _PHONE_CHARS.match(phone) or len(phone_digits(phone)) < 5):
        errors.setdefault("sender_phone", []).append(_("Enter a phone number, e.g. 13812345678 or 021-12345678."))
    email = _text(sender_email, "sender_email", errors, limit=254)
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors.setdefault("sender_email", []).append(_("Enter a valid e-mail address."))
    if form is not None and not form.active:
        errors.setdefault("form", []).append(_("This form is no longer in use."))
    chosen_category = _category(category, kind, errors)
    chosen_product = _product(product, errors)
    received = _received_at(received_at, errors)

    # The customer: given by staff (who must see it), else matched from what the sender gave.
    chosen_account = _instance(Account, account)
    chosen_contact = _instance(Contact, contact)
    if chosen_contact is False or (chosen_contact is not None and chosen_account not in (None, False)
                                   and chosen_contact.account_id != chosen_account.pk):
        errors.setdefault("contact", []).append(_("Choose a contact of this account."))
        chosen_contact = None
    if chosen_account is None and chosen_contact is not None:
        chosen_account = chosen_contact.account
    sender_valid = not any(f in errors for f in ("sender_phone", "sender_email", "sender_company", "sender_name"))
    if chosen_account is not None:
        visible = account_scope(actor) if actor is not None else Account.objects.all()
        if chosen_account is False or not visible.filter(pk=chosen_account.pk).exists():
            errors.setdefault("account", []).append(_("Choose an account you can see."))
            chosen_account, chosen_contact = None, None
        elif chosen_contact is None and sender_valid and (phone or email or name):
            # The account is known: the person is the one the phone or e-mail names there.
            found, person = match_sender(phone=phone, email=email, company="", name=name)
            if found is not None and found.pk == chosen_account.pk:
                chosen_contact = person
    elif sender_valid:
        chosen_account, chosen_contact = match_sender(phone=phone, email=email, company=company, name=name)

    chosen_order = _instance(Order, order)
    if chosen_order is False or (chosen_order is not None and chosen_order.deleted_at is not None):
        errors.setdefault("order", []).append(_("No such order."))
        chosen_order = None
    if chosen_order is not None:
        if actor is None:
            # A public sender's order number links only when it is their own company's order;
            # it never picks the account and never answers whether the number exists.
            if chosen_account is None or chosen_order.account_id != chosen_account.pk:
                chosen_order = None
        elif chosen_account is None:
            chosen_account = chosen_order.account
        elif chosen_order.account_id != chosen_account.pk:
            errors.setdefault("order", []).append(_("This order belongs to another account."))

    if wants_reply and not (phone or email or chosen_contact or chosen_account) and "sender_phone" not in errors:
        errors.setdefault("sender_phone", []).append(
            _("Give a phone number or an e-mail address so that we can reply."))

    owner = actor if actor is not None else default_owner(form=form, category=chosen_category)
    if owner is None:
        errors.setdefault("owner", []).append(_("Nobody can receive this case: set a first responder."))

    files: list[UploadedFile] = []
    uploads = [u for u in attachments or () if u is not None]
    if uploads:
        if form is not None and not form.allow_attachments:
            errors.setdefault("attachments", []).append(_("This form does not take attachments."))
        else:
            try:
                files = attachment_services.check_all(uploads)
            except Invalid as exc:
                for key, msgs in exc.errors.items():
                    errors.setdefault(key, []).extend(msgs)
    raise_if(errors)
    values = {
        "kind": kind, "ticket_type": ticket_type, "title": title_text, "description": body, "channel": channel,
        "form": form, "category": chosen_category, "severity": severity, "product": chosen_product,
        "order": chosen_order, "account": chosen_account, "contact": chosen_contact, "sender_name": name,
        "sender_company": company, "sender_phone": phone, "sender_email": email, "wants_reply": bool(wants_reply),
        "owner": owner, "department_id": owner_department(owner), "received_by": owner, "received_at": received,
    }
    return Cleaned(values=values, form=form, files=files)


# --- Writing -------------------------------------------------------------------------------
def _case_url(case: Case) -> str:
    try:
        return reverse("service:case-detail", args=[case.pk])
    except NoReverseMatch:
        return ""


def _write(actor: Any, cleaned: Cleaned) -> Case:
    case = Case(**cleaned.values)
    case.code = next_code(CODE_SEQUENCE, CODE_PREFIX)
    sla.apply_timers(case)
    case.search_text = case.build_search_text()
    case.save()
    CaseEvent.objects.create(case=case, type=CaseEvent.Type.RECEIVED, at=case.received_at,
                             actor=actor, to_user=case.owner,
                             note=case.get_channel_display())
    audit.record(actor=actor, action="create", obj=case, changes=audit.creation_changes(case, [
        "code", "kind", "ticket_type", "title", "channel", "form", "category", "severity", "product", "order",
        "account", "contact", "sender_name", "sender_company", "sender_phone", "sender_email", "wants_reply",
        "owner", "received_at", "sla_policy", "first_response_due", "resolution_due"], skip_empty=True))
    for upload in cleaned.files:
        attachment_services.attach(actor=actor, case=case, upload=upload)
    owner = case.owner
    if actor is None or actor.pk != owner.pk:
        with translation.override(owner.language or settings.LANGUAGE_CODE):
            notify(owner, title=_("New case %(code)s for you: %(title)s") % {"code": case.code, "title": case.title},
                   body=_("Received by %(who)s through %(channel)s.") % {
                       "who": actor if actor is not None else _("the customer"),
                       "channel": case.get_channel_display()},
                   url=_case_url(case))
    return case


@transaction.atomic
def case_receive(*, actor: Any, kind: str, title: str, description: str, channel: str, category: Any = None,
                 severity: str = Severity.NORMAL, ticket_type: str = "", product: Any = None, order: Any = None,
                 account: Any = None, contact: Any = None, sender_name: str = "", sender_company: str = "",
                 sender_phone: str = "", sender_email: str = "", wants_reply: bool = True,
                 form: FeedbackForm | None = None, received_at: Any = None,
                 attachments: Iterable[UploadedFile] = ()) -> Case:
    """Receive a complaint, suggestion or service ticket from any channel.

    ``actor`` is the person who took it (they own it: first-responder ownership) or None for
    the public (the owner is then the form's responder, the category's, or a service
    manager). Staff need ``case.add``, and an ``account`` they give must be one they see.
    Without an account the sender is matched (:func:`match_sender`). Related records may be
    given as instances or ids. At most five attachments, checked before anything is stored.
    """
    if actor is not None:
        require(actor, "case.add")
    cleaned = clean_case(
        actor=actor, kind=kind, title=title, description=description, channel=channel, category=category,
        severity=severity, ticket_type=ticket_type, product=product, order=order, account=account, contact=contact,
        sender_name=sender_name, sender_company=sender_company, sender_phone=sender_phone,
        sender_email=sender_email, wants_reply=wants_reply, form=form, received_at=received_at,
        attachments=attachments)
    return _write(actor, cleaned)


# --- Paper comment cards -------------------------------------------------------------------
CARD_FIELDS = ("received_on", "kind", "category", "name", "company", "phone", "text", "rating")
CARD_CONTENT = ("name", "company", "phone", "text", "rating")
MAX_CARDS = 200
# The service's field names as a card row calls them.
CARD_ERROR_FIELDS = {"received_at": "received_on", "kind": "kind", "category": "category", "sender_name": "name",
                     "sender_company": "company", "sender_phone": "phone", "description": "text", "title": "text"}


def _card_title(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:60] + ("…" if len(first) > 60 else "")


def _card_day(value: Any, errors: dict[str, list[str]]) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    raw = str(value or "").strip().split(" ")[0].replace("/", "-").replace(".", "-")
    if not raw:
        return timezone.localdate()
    try:
        return dt.date.fromisoformat("-".join(part.zfill(2) for part in raw.split("-")))
    except ValueError:
        errors.setdefault("received_on", []).append(_("Enter a valid date (YYYY-MM-DD)."))
        return None


# What people write on a card or in a spreadsheet's kind column, besides the labels.
KIND_WORDS = {"投诉": Kind.COMPLAINT, "意见": Kind.COMPLAINT, "建议": Kind.SUGGESTION, "工单": Kind.TICKET,
              "服务工单": Kind.TICKET, "服务请求": Kind.TICKET, "报修": Kind.TICKET}


def _card_kind(value: Any) -> str:
    raw = search.normalise(str(value or ""))
    if not raw:
        return Kind.COMPLAINT
    if raw in KIND_WORDS:
        return str(KIND_WORDS[raw])
    for choice, label in Kind.choices:
        spellings = {choice}
        for language in ("en", "zh-hans"):
            with translation.override(language):
                spellings.add(search.normalise(str(label)))
        if raw in spellings:
            return str(choice)
    return raw  # refused by clean_case with its message


def _card_category(value: Any, errors: dict[str, list[str]]) -> Any:
    raw = str(value or "").strip()
    if not raw:
        return None
    if isinstance(value, CaseCategory) or raw.isdigit():
        return value
    found = CaseCategory.objects.filter(name=raw, active=True).first()
    if found is None:
        errors.setdefault("category", []).append(_("No active category has this name."))
    return found


def _card_rating(value: Any, errors: dict[str, list[str]]) -> int | None:
    raw = str(value or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 5:
        errors.setdefault("rating", []).append(_("Enter a rating from 1 to 5, or leave it empty."))
        return None
    return int(raw)


@transaction.atomic
def cards_receive(*, actor: Any, rows: Iterable[dict[str, Any]]) -> list[Case]:
    """Enter paper comment cards as cases (channel ``card``), all or nothing.

    Each row: ``received_on`` (a date; today when empty), ``kind`` (value or label in either
    language; complaint when empty), ``category`` (id or exact name), ``name``, ``company``,
    ``phone``, ``text`` and a ``rating`` from 1 to 5 if the card has one (kept in the
    description). Empty rows are skipped. The actor owns every case. Errors come back as
    {"<row index>.<field>": [msg]}, every row checked before anything is written.
    """
    require(actor, "case.add")
    cleaned: list[Cleaned] = []
    errors: dict[str, list[str]] = {}
    entered = 0
    for i, row in enumerate(rows):
        values = {k: row.get(k, "") for k in CARD_FIELDS}
        # The grid always has a kind and may have a date: a row says something only with these.
        if not any(str(values[k] or "").strip() for k in CARD_CONTENT):
            continue
        entered += 1
        if entered > MAX_CARDS:
            raise Invalid(errors={"cards": [_("Enter at most %(n)d cards at a time.") % {"n": MAX_CARDS}]})
        row_errors: dict[str, list[str]] = {}
        day = _card_day(values["received_on"], row_errors)
        category = _card_category(values["category"], row_errors)
        rating = _card_rating(values["rating"], row_errors)
        text = str(values["text"] or "").strip()
        description = text
        if rating is not None and text:
            description = f"{text}\n\n" + _("Rating on the card: %(n)d of 5") % {"n": rating}
        phone = str(values["phone"] or "").strip()
        try:
            cleaned.append(clean_case(
                actor=actor, kind=_card_kind(values["kind"]), title=_card_title(text), description=description,
                channel=Channel.CARD, category=category, sender_name=values["name"],
                sender_company=values["company"], sender_phone=phone, wants_reply=bool(phone),
                received_at=day if day is not None else None))
        except Invalid as exc:
            for key, msgs in exc.errors.items():
                if key == "title" and "description" in exc.errors:
                    continue  # an empty card: one message on its text is enough
                target = CARD_ERROR_FIELDS.get(key, key)
                for msg in msgs:
                    if msg not in row_errors.get(target, []):
                        row_errors.setdefault(target, []).append(msg)
        for key, msgs in row_errors.items():
            errors[f"{i}.{key}"] = msgs
    if not entered:
        raise Invalid(errors={"cards": [_("Enter at least one comment card.")]})
    raise_if(errors)
    return [_write(actor, one) for one in cleaned]


CARD_HEADERS = {
    "received_on": ("date", "date received", "received", "received on", "日期", "收到日期", "收卡日期"),
    "kind": ("kind", "type", "类型", "类别类型"),
    "category": ("category", "分类", "类别"),
    "name": ("name", "sender", "姓名", "名字", "客户姓名"),
    "company": ("company", "单位", "公司", "公司名称"),
    "phone": ("phone", "mobile", "telephone", "电话", "手机", "联系电话"),
    "text": ("text", "comment", "comments", "content", "内容", "意见", "意见内容", "留言"),
    "rating": ("rating", "score", "评分", "满意度"),
}


def cards_from_file(data: bytes, name: str) -> list[dict[str, str]]:
    """The rows of a CSV or Excel file of comment cards, as :func:`cards_receive` takes them.

    The first row names the columns (English or Chinese: 日期, 类型, 分类, 姓名, 单位, 电话,
    内容, 评分); other columns are ignored."""
    from guanxi.customers.services.imports import read_rows

    headers, body = read_rows(data, name)
    wanted = {search.normalise(h): key for key, spellings in CARD_HEADERS.items() for h in spellings}
    columns = {i: wanted[search.normalise(h)] for i, h in enumerate(headers) if search.normalise(h) in wanted}
    if "text" not in columns.values():
        raise Invalid(errors={"file": [_("The file needs a column of the cards' text (内容 or text).")]})
    rows: list[dict[str, str]] = []
    for _number, cells in body:
        rows.append({key: (cells[i] if i < len(cells) else "") for i, key in columns.items()})
        if len(rows) > MAX_CARDS:
            raise Invalid(errors={"file": [_("Enter at most %(n)d cards at a time.") % {"n": MAX_CARDS}]})
    return rows
