"""A case from receipt to closing (R5.2, R5.3): edit, match, the workflow, handling steps, the
reply and its review, the customer's confirmation, the recycle bin.

First-responder ownership (首问负责): only the case's owner moves it on, edits it, records its
steps and writes its reply (``scope.can_handle``); everyone else who sees it reads it and is
told whom to ask (Forbidden with the owner's name). Ownership moves only through an accepted
hand-over (``services.handovers``).

The workflow (``MOVES``)::

    new → acknowledged → investigating → proposed → resolved → confirmed → closed
                              ↑    ↑_______________|     |   (the owner: "reopen", or
                              |________________________|     the customer rejects)

* acknowledging records the first response (the SLA's first timer stops);
* proposing needs the proposed solution; resolving needs the reply to the customer and,
  when the category says so, a supervisor's approval of it. Resolving stamps ``resolved_at``
  and issues the customer's confirmation link (a random token, only its SHA-256 kept in
  ``confirm_token_hash``): e-mailed to the sender when there is an address, and shown to
  the owner to pass on by WeChat or SMS;
* the customer confirms (→ confirmed) or rejects with a comment (→ investigating, reopened)
  from the link (:func:`customer_answer`); the owner may record a confirmation given by
  phone (→ confirmed, with a note);
* closing is allowed from confirmed, or from resolved with a note once the customer has had
  ``GUANXI_CASE_CONFIRM_DAYS`` days (7) to answer (at once when they wanted no reply). It
  stamps ``closed_at`` and sends ``signals.case_closed``.

Every change writes a ``CaseEvent`` (the case's story, shown on its page) and an audit row
on the case (its history), in the same transaction.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from huey.contrib.djhuey import db_task

from guanxi.core import audit, registry
from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.mail import queue_mail
from guanxi.core.models import AuditEvent, Role, User
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.core.services.notifications import notify
from guanxi.core.tokens import hash_token, new_token, token_lookup_hash
from guanxi.customers.models import Account, Contact
from guanxi.customers.selectors import account_scope
from guanxi.customers.services.merge import register_relation
from guanxi.sales.models import Order, Product
from guanxi.sales.services.common import raise_if, require
from guanxi.service import signals
from guanxi.service.models import Case, CaseCategory, CaseEvent, HandlingStep, Kind, Severity
from guanxi.service.selectors.scope import can_handle, case_scope
from guanxi.service.services import sla

S = Case.State
OPEN = Case.OPEN_STATES
# The states a case moves to, and from which (resolved → investigating is a reopen).
MOVES: dict[str, tuple[str, ...]] = {
    S.ACKNOWLEDGED: (S.NEW,),
    S.INVESTIGATING: (S.ACKNOWLEDGED, S.PROPOSED, S.RESOLVED),
    S.PROPOSED: (S.INVESTIGATING,),
    S.RESOLVED: (S.PROPOSED,),
    S.CONFIRMED: (S.RESOLVED,),
    S.CLOSED: (S.CONFIRMED, S.RESOLVED),
}
EDITABLE = ("title", "description", "category", "severity", "product", "order", "ticket_type", "kind",
            "sender_name", "sender_company", "sender_phone", "sender_email", "wants_reply")
# Fields that make the search text (``Case.build_search_text``).
SEARCHED = ("title", "sender_name", "sender_company", "sender_phone", "sender_email")
NOTE_MAX = 2000
TEXT_MAX = 10000


def confirm_days() -> int:
    """How long the customer has to answer before a resolved case may be closed without them."""
    return max(0, int(getattr(settings, "GUANXI_CASE_CONFIRM_DAYS", 7)))


def case_url(case: Case) -> str:
    return reverse("service:case-detail", args=[case.pk])


def confirm_url(token: str) -> str:
    """The customer's page for ``token``, as an absolute address (mails, WeChat, SMS)."""
    return settings.GUANXI_BASE_URL.rstrip("/") + reverse("feedback:case-confirm", args=[token])


# --- Shared steps ----------------------------------------------------------------------------
OWNER_ONLY = {
    "move": lambda: _("Only the owner (%(owner)s) can move this case on; ask them or request a hand-over."),
    "change": lambda: _("Only the owner (%(owner)s) can change this case; ask them or request a hand-over."),
    "step": lambda: _("Only the owner (%(owner)s) can record the handling steps of this case; ask them or request "
                      "a hand-over."),
    "reply": lambda: _("Only the owner (%(owner)s) can write the reply of this case; ask them or request a "
                       "hand-over."),
    "handover": lambda: _("Only the owner (%(owner)s) can hand this case over; ask them or request a hand-over."),
    "link": lambda: _("Only the owner (%(owner)s) can issue the customer's link; ask them or request a hand-over."),
}


def owner_only(actor: Any, case: Case, action: str) -> None:
    """Refuse (403, naming the owner) anyone but the owner: first-responder ownership."""
    if not can_handle(actor, case):
        owner = User.objects.filter(pk=case.owner_id).first()
        raise Forbidden(OWNER_ONLY[action]() % {"owner": owner or "—"})


def lock(case: Case, expected_version: int | None) -> Case:
    """Lock the case's row for the transaction; a stale version (given, or the instance's) → Conflict."""
    fresh = Case.all_objects.select_for_update().filter(pk=case.pk).values("version", "deleted_at").first()
    if fresh is None or fresh["deleted_at"] is not None:
        raise NotFound()
    version = case.version if expected_version is None else int(expected_version)
    if fresh["version"] != version or case.version != version:
        raise Conflict()
    return case


def event(case: Case, type: str, actor: Any = None, *, from_state: str = "", to_state: str = "",
          to_user: Any = None, note: str = "", at: dt.datetime | None = None) -> CaseEvent:
    """One line of the case's story (shown on its page, read by the reports)."""
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return CaseEvent.objects.create(case=case, type=type, actor=actor if is_user else None, from_state=from_state,
                                    to_state=to_state, to_user=to_user, note=note, at=at or timezone.now())


def clean_text(value: Any, field: str, errors: dict[str, list[str]], *, required: str = "",
               limit: int = NOTE_MAX) -> str:
    """Stripped text; ``required`` is the message when it is empty."""
    text = str(value if value is not None else "").strip()
    if required and not text:
        errors.setdefault(field, []).append(required)
    if len(text) > limit:
        errors.setdefault(field, []).append(_("At most %(max)d characters.") % {"max": limit})
    return text


def tell(user: Any, title: Any, *, body: Any = None, url: str = "", skip: Any = None) -> None:
    """Notify ``user`` in their own language (``title``/``body`` are callables run in it); the
    language and whether they are still active are read afresh (the instance may be old)."""
    if user is None or (skip is not None and user.pk == getattr(skip, "pk", None)):
        return
    row = User.objects.filter(pk=user.pk, is_active=True).values_list("language", flat=True).first()
    if row is None:
        return
    with translation.override(row or settings.LANGUAGE_CODE):
        notify(user, title=str(title()), body=str(body()) if body else "", url=url)


def supervisors(case: Case) -> list[User]:
    """Who is asked to review the case's reply: the service managers whose department contains
    the owner's (else every service manager: the owner may sit in a sales department) who see
    the case; when none of them does, the general managers. Never the owner."""
    owner = User.objects.filter(pk=case.owner_id).select_related("department").first()
    managers = list(User.objects.filter(is_active=True, roles__code=Role.Code.SERVICE_MANAGER)
                    .exclude(pk=case.owner_id).select_related("department").distinct().order_by("id"))
    path = owner.department.path if owner is not None and owner.department_id and owner.department else ""
    above = [m for m in managers if path and m.department_id and m.department and path.startswith(m.department.path)]
    reach = [m for m in (above or managers) if case_scope(m).filter(pk=case.pk).exists()]
    if reach:
        return reach
    return list(User.objects.filter(is_active=True, roles__code=Role.Code.GENERAL_MANAGER)
                .exclude(pk=case.owner_id).distinct().order_by("id"))


def needs_review(case: Case) -> bool:
    return case.category_id is not None and CaseCategory.objects.filter(pk=case.category_id, needs_review=True).exists()


def _save(actor: Any, case: Case, changes: dict[str, Any], *, note: str = "", action: str = "update") -> dict[str, Any]:
    """Write validated ``changes`` (the version was checked under the lock) with their audit row."""
    return records.apply_update(actor=actor, obj=case, changes=changes, expected_version=case.version, note=note,
                                action=action)


def _refresh_search(case: Case) -> None:
    text = case.build_search_text()
    if text != case.search_text:
        Case.all_objects.filter(pk=case.pk).update(search_text=text)
        case.search_text = text


# --- Edit ----------------------------------------------------------------------------------------
def _category(value: Any, kind: str, errors: dict[str, list[str]]) -> CaseCategory | None:
    if value in (None, ""):
        return None
    pk = getattr(value, "pk", value)
    found = CaseCategory.objects.filter(pk=pk, active=True).first() if str(pk).isdigit() else None
    if found is None:
        errors.setdefault("category", []).append(_("Choose an active category."))
    elif found.kind and found.kind != kind:
        errors.setdefault("category", []).append(_("This category is for another kind of case."))
    return found


def product_choice(value: Any, errors: dict[str, list[str]]) -> Product | None:
    """The catalogue's product ``value`` names (an instance or a pk), or None when empty."""
    if value in (None, ""):
        return None
    pk = getattr(value, "pk", value)
    found = Product.objects.filter(pk=pk).first() if str(pk).isdigit() else None
    if found is None:
        errors.setdefault("product", []).append(_("Choose a product of the catalogue."))
    return found


def _order(value: Any, account_id: int | None, errors: dict[str, list[str]]) -> Order | None:
    if value in (None, ""):
        return None
    if account_id is None:
        errors.setdefault("order", []).append(_("Match the case to an account before linking one of its orders."))
        return None
    pk = getattr(value, "pk", value)
    found = Order.objects.filter(pk=pk, account_id=account_id).first() if str(pk).isdigit() else None
    if found is None:
        errors.setdefault("order", []).append(_("Choose an order of the case's account."))
    return found


def validate_changes(case: Case, changes: dict[str, Any]) -> dict[str, Any]:
    """Clean an edit of ``case`` (all messages at once); unknown fields are refused."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    if case.state == S.CLOSED:
        raise Invalid(_("A closed case cannot change."))
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    kind = str(changes.get("kind", case.kind) or "")
    if "kind" in changes:
        if kind not in Kind.values:
            errors["kind"] = [_("Choose a valid kind.")]
        cleaned["kind"] = kind
    if "title" in changes:
        cleaned["title"] = clean_text(changes["title"], "title", errors, required=_("Enter the subject."), limit=200)
    if "description" in changes:
        cleaned["description"] = clean_text(changes["description"], "description", errors,
                                            required=_("Enter what the customer said."), limit=TEXT_MAX)
    if "category" in changes:
        cleaned["category"] = _category(changes["category"], kind, errors)
    elif "kind" in changes and case.category_id:
        category = CaseCategory.objects.filter(pk=case.category_id).first()
        if category is not None and category.kind and category.kind != kind:
            errors["category"] = [_("This category is for another kind of case.")]
    if "severity" in changes:
        severity = str(changes["severity"] or "")
        if severity not in Severity.values:
            errors["severity"] = [_("Choose a valid severity.")]
        cleaned["severity"] = severity
    if "product" in changes:
        cleaned["product"] = product_choice(changes["product"], errors)
    if "order" in changes:
        cleaned["order"] = _order(changes["order"], case.account_id, errors)
    ticket_type = str(changes.get("ticket_type", case.ticket_type) or "")
    if "ticket_type" in changes and ticket_type and ticket_type not in Case.TicketType.values:
        errors["ticket_type"] = [_("Choose a valid ticket type.")]
    if kind != Kind.TICKET and ticket_type:
        if changes.get("ticket_type"):
            errors.setdefault("ticket_type", []).append(_("Only a service ticket has a ticket type."))
        else:
            ticket_type = ""
    if "ticket_type" in changes or ticket_type != case.ticket_type:
        cleaned["ticket_type"] = ticket_type
    for name, limit in (("sender_name", 100), ("sender_company", 200), ("sender_phone", 40), ("sender_email", 254)):
        if name in changes:
            cleaned[name] = clean_text(changes[name], name, errors, limit=limit)
    if cleaned.get("sender_email"):
        from django.core.validators import validate_email

        try:
            validate_email(cleaned["sender_email"])
        except Exception:
            errors.setdefault("sender_email", []).append(_("Enter a valid e-mail address."))
    if "wants_reply" in changes:
        cleaned["wants_reply"] = bool(changes["wants_reply"])
    raise_if(errors)
    if "category" in cleaned or "severity" in cleaned:
        preview = copy.copy(case)
        for name in ("category", "severity"):
            if name in cleaned:
                setattr(preview, name, cleaned[name])
        sla.apply_timers(preview)
        for name in ("sla_policy", "first_response_due", "resolution_due", "response_warned_at",
                     "response_breached", "resolution_warned_at", "resolution_breached"):
            if getattr(preview, name) != getattr(case, name):
                cleaned[name] = getattr(preview, name)
    return cleaned


@transaction.atomic
def case_update(*, actor: Any, case: Case, changes: dict[str, Any], expected_version: int | None) -> Case:
    """Change a case's subject, description, kind, category, severity, product, order, ticket
    type or sender (owner only). A new category or severity works the SLA's due times out
    again from the receipt."""
    require(actor, "case.change")
    lock(case, expected_version)
    owner_only(actor, case, "change")
    cleaned = validate_changes(case, changes)
    delta = _save(actor, case, cleaned)
    if delta:
        if set(delta) & set(SEARCHED):
            _refresh_search(case)
        with translation.override(settings.LANGUAGE_CODE):  # the story reads in the company's language
            labels = ", ".join(str(getattr(Case._meta.get_field(name), "verbose_name", name)) for name in delta
                               if name in EDITABLE)
            note = _("Changed: %(fields)s") % {"fields": labels} if labels else _("SLA due times worked out again.")
        event(case, CaseEvent.Type.NOTE, actor, note=note)
    return case


@transaction.atomic
def case_match(*, actor: Any, case: Case, account: Account | None, contact: Contact | None = None,
               expected_version: int | None = None) -> Case:
    """Link a case to the customer it came from (and the person). The owner may, or whoever
    sees unmatched senders (``case.unmatched``); the account must be one the actor sees."""
    require(actor, "case.change")
    lock(case, expected_version)
    if not (can_handle(actor, case) or has_perm(actor, "case.unmatched")):
        owner = User.objects.filter(pk=case.owner_id).first()
        raise Forbidden(_("Only the owner (%(owner)s) or a service manager can match this case to an account.")
                        % {"owner": owner or "—"})
    errors: dict[str, list[str]] = {}
    visible = account_scope(actor).filter(pk=account.pk).first() if account is not None and account.pk else None
    if visible is None:
        errors["account"] = [_("Choose an account you can see.")]
    found_contact = None
    if contact is not None:
        found_contact = Contact.objects.filter(pk=getattr(contact, "pk", contact),
                                               account_id=getattr(visible, "pk", None)).first()
        if found_contact is None:
            errors["contact"] = [_("Choose a contact of this account.")]
    raise_if(errors)
    changes: dict[str, Any] = {"account": visible, "contact": found_contact}
    if case.order_id and case.account_id != getattr(visible, "pk", None):
        changes["order"] = None  # an order belongs to the account the case leaves
    delta = _save(actor, case, changes)
    if delta:
        with translation.override(settings.LANGUAGE_CODE):
            note = _("Matched to %(account)s") % {"account": visible}
        event(case, CaseEvent.Type.NOTE, actor, note=note + (f" · {found_contact.name}" if found_contact else ""))
    return case


# --- The workflow --------------------------------------------------------------------------------
def _issue_link(case: Case) -> str:
    """A new confirmation token for the resolved ``case`` (the previous one stops working)."""
    raw, digest = new_token()
    Case.all_objects.filter(pk=case.pk).update(confirm_token_hash=digest)
    case.confirm_token_hash = digest
    return raw


def _mail_on_commit(case: Case, raw: str) -> bool:
    """Queue the reply and the link to the sender once committed; False when there is no address."""
    if not (case.wants_reply and case.sender_email):
        return False
    case_id = case.pk
    transaction.on_commit(lambda: send_confirmation(case_id, raw))
    return True


def _close_check(case: Case, note: str, now: dt.datetime, errors: dict[str, list[str]]) -> None:
    """From resolved (the customer did not answer): a note, and the answer time over."""
    if case.state != S.RESOLVED:
        return
    if not note:
        errors["note"] = [_("Say why the case is closed without the customer's confirmation.")]
    days = confirm_days()
    if case.wants_reply and case.resolved_at and now < case.resolved_at + dt.timedelta(days=days):
        until = timezone.localtime(case.resolved_at + dt.timedelta(days=days))
        errors.setdefault("state", []).append(
            _("The customer has until %(when)s to answer; close the case then, or record their confirmation first.")
            % {"when": f"{until:%Y-%m-%d %H:%M}"})


@transaction.atomic
def case_move(*, actor: Any, case: Case, to: str, note: str = "", expected_version: int | None = None) -> Case:
    """Move a case along its workflow (see the module's docstring); owner only.

    After resolving, ``case.confirm_link`` holds the customer's link (shown once) and
    ``case.confirm_mailed`` whether it goes out by mail.
    """
    require(actor, "case.change")
    if to not in MOVES:
        raise Invalid(errors={"state": [_("Choose a valid state.")]})
    lock(case, expected_version)
    owner_only(actor, case, "move")
    if case.state not in MOVES[to]:
        raise Invalid(_("A case that is %(state)s cannot become %(to)s.") % {
            "state": str(case.get_state_display()).lower(), "to": str(S(to).label).lower()})
    errors: dict[str, list[str]] = {}
    note = clean_text(note, "note", errors)
    now = timezone.now()
    changes: dict[str, Any] = {"state": to}
    reopen = case.state == S.RESOLVED and to == S.INVESTIGATING
    if to == S.ACKNOWLEDGED:
        preview = copy.copy(case)
        if sla.record_first_response(preview, now):
            changes["first_responded_at"] = preview.first_responded_at
    elif to == S.PROPOSED and not case.proposal.strip():
        errors["proposal"] = [_("Write the proposed solution first.")]
    elif to == S.RESOLVED:
        if not case.reply.strip():
            errors["reply"] = [_("Write the reply to the customer first.")]
        elif needs_review(case) and case.review_state != Case.Review.APPROVED:
            waiting: dict[str, str] = {
                Case.Review.PENDING: _("The reply is waiting for a supervisor's review."),
                Case.Review.RETURNED: _("The reply was returned for changes; change it and send it for review again."),
            }
            errors["reply"] = [waiting.get(case.review_state,
                                           _("The reply needs a supervisor's review: save it to send it for review."))]
        changes["resolved_at"] = now
        changes["resolution"] = note or case.resolution or case.proposal
    elif reopen:
        if not note:
            errors["note"] = [_("Say why the case is reopened.")]
        changes.update(reopen_count=case.reopen_count + 1, resolved_at=None)
    elif to == S.CONFIRMED:
        if not note:
            errors["note"] = [_("Say how the customer confirmed (e.g. by phone).")]
        changes["confirmed_at"] = now
    elif to == S.CLOSED:
        _close_check(case, note, now, errors)
        changes["closed_at"] = now
    raise_if(errors)
    from_state = case.state
    _save(actor, case, changes, note=note)
    event(case, CaseEvent.Type.REOPENED if reopen else CaseEvent.Type.STATE, actor, from_state=from_state,
          to_state=to, note=note, at=now)
    if to == S.RESOLVED:
        raw = _issue_link(case)
        case.confirm_link = confirm_url(raw)  # type: ignore[attr-defined]
        case.confirm_mailed = _mail_on_commit(case, raw)  # type: ignore[attr-defined]
    elif case.confirm_token_hash and to != S.RESOLVED:
        Case.all_objects.filter(pk=case.pk).update(confirm_token_hash="")
        case.confirm_token_hash = ""
    if to == S.CLOSED:
        signals.case_closed.send(sender=Case, case=case, actor=actor)
    return case


@transaction.atomic
def case_confirm_link(*, actor: Any, case: Case) -> str:
    """A new link for the customer of a resolved case (the old one stops working); owner only.
    Returns the link (shown once) and mails it to the sender when there is an address."""
    require(actor, "case.change")
    lock(case, None)
    owner_only(actor, case, "link")
    if case.state != S.RESOLVED:
        raise Invalid(_("Only a resolved case waits for the customer's confirmation."))
    raw = _issue_link(case)
    mailed = _mail_on_commit(case, raw)
    with translation.override(settings.LANGUAGE_CODE):
        note = _("A new link was issued to the customer; the previous one no longer works.")
    event(case, CaseEvent.Type.NOTE, actor, note=note)
    audit.record(actor=actor, action="update", obj=case, changes={"confirm_link": ["…", "…"]},
                 note="new confirmation link" + (" (mailed)" if mailed else ""))
    return confirm_url(raw)


# --- Handling steps, the reply and its review ------------------------------------------------
@transaction.atomic
def step_add(*, actor: Any, case: Case, step: str, note: str) -> HandlingStep:
    """Record one handling step (listen, clarify, propose, apologise, follow up); owner only."""
    require(actor, "case.change")
    lock(case, None)
    owner_only(actor, case, "step")
    if case.state == S.CLOSED:
        raise Invalid(_("A closed case cannot change."))
    errors: dict[str, list[str]] = {}
    if step not in HandlingStep.Step.values:
        errors["step"] = [_("Choose a handling step.")]
    text = clean_text(note, "note", errors, required=_("Write what was said or done."), limit=TEXT_MAX)
    raise_if(errors)
    now = timezone.now()
    row = HandlingStep.objects.create(case=case, step=step, note=text, actor=actor, at=now)
    event(case, CaseEvent.Type.STEP, actor, note=text, at=now)
    audit.record(actor=actor, action="update", obj=case, changes={"steps": [None, {"step": step, "note": text}]},
                 note=str(HandlingStep.Step(step).label))
    return row


@transaction.atomic
def reply_set(*, actor: Any, case: Case, proposal: str, reply: str, expected_version: int | None) -> Case:
    """Write the proposed solution and the reply to the customer; owner only, while open.

    When the category needs a review the reply then waits for a supervisor (the service
    managers over the owner are told); a changed reply is reviewed again."""
    require(actor, "case.change")
    lock(case, expected_version)
    owner_only(actor, case, "reply")
    if case.state not in OPEN:
        raise Invalid(_("The reply of a resolved or closed case cannot change; reopen the case first."))
    errors: dict[str, list[str]] = {}
    proposal = clean_text(proposal, "proposal", errors, limit=TEXT_MAX)
    reply = clean_text(reply, "reply", errors, required=_("Write the reply to the customer."), limit=TEXT_MAX)
    raise_if(errors)
    changed = proposal != case.proposal or reply != case.reply
    changes: dict[str, Any] = {"proposal": proposal, "reply": reply}
    review = needs_review(case)
    to_review = review and (changed or case.review_state not in (Case.Review.PENDING, Case.Review.APPROVED))
    if to_review:
        changes.update(review_state=Case.Review.PENDING, reviewed_by=None, review_note="")
    elif not review:
        changes["review_state"] = Case.Review.NONE
    delta = _save(actor, case, changes)
    if not delta:
        return case
    event(case, CaseEvent.Type.REPLY, actor, note=reply)
    if to_review:
        url = case_url(case)
        for person in supervisors(case):
            tell(person, lambda: _("Reply to review: %(code)s %(title)s") % {"code": case.code, "title": case.title},
                 body=lambda: _("%(owner)s wrote the reply; approve it or return it with a note.") % {
                     "owner": case.owner}, url=url, skip=actor)
    return case


def can_review(user: Any, case: Case) -> bool:
    """A supervisor with ``case.review`` who sees the case, not its owner, while a reply waits."""
    return (case.review_state == Case.Review.PENDING and has_perm(user, "case.review") and case.owner_id != user.pk
            and case_scope(user).filter(pk=case.pk).exists())


@transaction.atomic
def reply_review(*, actor: Any, case: Case, approve: bool, note: str = "",
                 expected_version: int | None = None) -> Case:
    """Approve the reply, or return it to the owner with a note (``case.review`` and the case
    in the reviewer's reach; nobody reviews their own reply)."""
    require(actor, "case.review")
    if not case_scope(actor).filter(pk=case.pk).exists():
        raise NotFound()
    lock(case, expected_version)
    if case.review_state != Case.Review.PENDING:
        raise Invalid(_("No reply of this case is waiting for review."))
    if case.owner_id == actor.pk:
        raise Forbidden(_("Nobody reviews their own reply; another supervisor must."))
    errors: dict[str, list[str]] = {}
    text = clean_text(note, "note", errors, required="" if approve else _("Say what should change."))
    raise_if(errors)
    state = Case.Review.APPROVED if approve else Case.Review.RETURNED
    _save(actor, case, {"review_state": state, "reviewed_by": actor, "review_note": text}, note=text,
          action="approve" if approve else "decide")
    with translation.override(settings.LANGUAGE_CODE):
        label = str(Case.Review(state).label)
    event(case, CaseEvent.Type.REVIEW, actor, note=label + (f": {text}" if text else ""))
    owner = User.objects.filter(pk=case.owner_id).first()
    tell(owner, (lambda: _("Reply approved: %(code)s %(title)s") % {"code": case.code, "title": case.title})
         if approve else (lambda: _("Reply returned: %(code)s %(title)s") % {"code": case.code, "title": case.title}),
         body=lambda: text, url=case_url(case), skip=actor)
    return case


# --- The customer's answer (public) --------------------------------------------------------
def case_for_token(token: Any, *, for_update: bool = False) -> Case:
    """The resolved case waiting for the customer behind ``token``; anything else → NotFound."""
    qs = Case.objects.filter(state=S.RESOLVED, confirm_token_hash=token_lookup_hash(token))
    if for_update:
        qs = qs.select_for_update(of=("self",))
    found = qs.filter(Q(account__isnull=True) | Q(account__deleted_at__isnull=True)).first()
    if found is None:
        raise NotFound()
    return found


@transaction.atomic
def customer_answer(*, token: str, accepted: bool, comment: str = "") -> Case:
    """The customer confirms the resolution, or rejects it with a comment (the case is
    reopened). The link works once: a used or unknown token is NotFound."""
    case = case_for_token(token, for_update=True)
    errors: dict[str, list[str]] = {}
    text = clean_text(comment, "comment", errors,
                      required="" if accepted else _("Tell us what is still not right."))
    raise_if(errors)
    now = timezone.now()
    if accepted:
        changes: dict[str, Any] = {"state": S.CONFIRMED, "confirmed_at": now}
    else:
        changes = {"state": S.INVESTIGATING, "reopen_count": case.reopen_count + 1, "resolved_at": None}
    _save(None, case, changes, note="by the customer" + (f": {text}" if text else ""))
    Case.all_objects.filter(pk=case.pk).update(confirm_token_hash="")
    case.confirm_token_hash = ""
    with translation.override(settings.LANGUAGE_CODE):
        answer = _("The customer confirmed the resolution.") if accepted else _(
            "The customer is not satisfied.")
    event(case, CaseEvent.Type.CUSTOMER, None, from_state=S.RESOLVED, to_state=changes["state"],
          note=answer + (f" {text}" if text else ""), at=now)
    if not accepted:
        event(case, CaseEvent.Type.REOPENED, None, from_state=S.RESOLVED, to_state=S.INVESTIGATING, note=text, at=now)
    owner = User.objects.filter(pk=case.owner_id).first()
    tell(owner, (lambda: _("The customer confirmed %(code)s %(title)s") % {"code": case.code, "title": case.title})
         if accepted else (lambda: _("The customer reopened %(code)s %(title)s") % {
             "code": case.code, "title": case.title}), body=lambda: text, url=case_url(case))
    return case


# --- Recycle bin ---------------------------------------------------------------------------------
@transaction.atomic
def case_delete(*, actor: Any, case: Case, expected_version: int | None = None) -> Case:
    """Move a case to the recycle bin (``case.delete``)."""
    require(actor, "case.delete")
    lock(case, expected_version)
    records.record_delete(actor=actor, obj=case, expected_version=None)
    return case


@transaction.atomic
def case_restore(*, actor: Any, case: Case) -> Case:
    """Bring a case back from the recycle bin (``case.delete``)."""
    require(actor, "case.delete")
    records.record_restore(actor=actor, obj=case)
    return case


def _after_change(case: Case) -> None:
    """Registry hook after any update, delete or restore of a case: a delete or a restore (also
    from the recycle bin's page) goes into the case's story, by whoever the audit row names.

    ``records`` hands over the case as it was before: a case in the bin is being restored; an
    alive one that is now in the bin was deleted."""
    restored = case.deleted_at is not None
    if not restored and not Case.all_objects.filter(pk=case.pk, deleted_at__isnull=False).exists():
        return
    actor_id = (AuditEvent.objects.filter(content_type=ContentType.objects.get_for_model(Case), object_id=str(case.pk),
                                          action__in=("delete", "restore"))
                .order_by("-id").values_list("actor_id", flat=True).first())
    with translation.override(settings.LANGUAGE_CODE):
        note = _("Restored from the recycle bin.") if restored else _("Moved to the recycle bin.")
    CaseEvent.objects.create(case_id=case.pk, type=CaseEvent.Type.NOTE, actor_id=actor_id, note=note)


# --- The mail to the customer -----------------------------------------------------------------
def confirmation_message(case: Case, raw: str) -> EmailMultiAlternatives:
    """The reply and the link, in the company's language (the customer has no account)."""
    with translation.override(settings.LANGUAGE_CODE):
        context_ = {"case": case, "url": confirm_url(raw), "company": getattr(settings, "GUANXI_COMPANY_NAME", ""),
                    "days": confirm_days()}
        subject = " ".join(render_to_string("service/cases_mail_subject.txt", context_).split())
        text = render_to_string("service/cases_mail_confirm.txt", context_)
    return EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL,
                                  to=[case.sender_email], headers={"Auto-Submitted": "auto-generated"})


@db_task(retries=3, retry_delay=300)
def send_confirmation(case_id: int, raw: str) -> bool:
    """Mail the reply and the link, unless the case moved on or got a newer link meanwhile."""
    case = Case.objects.filter(pk=case_id, state=S.RESOLVED, confirm_token_hash=hash_token(raw)).first()
    if case is None or not case.sender_email:
        return False
    with transaction.atomic():
        if not queue_mail(confirmation_message(case, raw),
                          key=f"case-confirmation:{case.pk}:{case.confirm_token_hash}"):
            return False  # this link was mailed already (the task ran twice)
        with translation.override(settings.LANGUAGE_CODE):
            note = _("The reply and the confirmation link were e-mailed to %(email)s.") % {"email": case.sender_email}
        event(case, CaseEvent.Type.NOTE, None, note=note)
    return True


# --- Registration with the generic machinery (recycle bin, history, merge) --------------------
registry.register(registry.Entry(
    model=Case, perm="case", scope=lambda user, qs: case_scope(user, qs), editable=(),
    detail_url=lambda obj: reverse("service:case-detail", args=[obj.pk]), after_change=_after_change,
))
# A merged customer's cases (and its people's) move to the account and contact kept.
register_relation("account", "cases", Case, "account", audited=True)
register_relation("contact", "cases", Case, "contact", audited=True)
