"""Survey invitations (R6.1): the personal, expiring link, sent automatically after a touchpoint
or by hand.

* :func:`invite` makes one invitation: a random token (only its SHA-256 is kept, so a link can
  be shown once and never again), valid ``survey.expires_days`` days. There is one invitation
  per survey and ``source`` ("service.case:12", "service.visit:7", "sales.order:3",
  "manual:…"): a second call for the same pair returns the existing invitation and no token,
  so a touchpoint fired twice (a case reopened and closed again) asks the customer once.
* With an e-mail address, the link is mailed by a queued job once the transaction commits
  (``mailed_at`` records it). The link is also shown to staff to pass on by WeChat or SMS:
  after a manual send, and on the invitation's page as a new link (:func:`invitation_renew`:
  the previous link stops working).
* **Touchpoints.** The service and sales apps send ``case_closed``, ``visit_done`` and
  ``order_delivered`` inside their writing transaction; the listeners below invite the
  case's contact (or its sender), the visit's customer and the order's contact when a survey
  is active for that touchpoint. The responsible person (``owner``) is the case owner, the
  technician, the order's salesperson; the invitation carries the owner's department, so it is
  scoped like the record it came from. A case whose sender wanted no reply is not surveyed.

Rights: sending by hand needs ``survey.send`` and an account the sender sees; automatic
invitations are made by the touchpoint's own service, which checked its own right.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.dispatch import receiver
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from huey.contrib.djhuey import db_task

from guanxi.core import audit
from guanxi.core.errors import Invalid, NotFound, ServiceError
from guanxi.core.mail import queue_mail
from guanxi.core.permissions import has_perm
from guanxi.core.tokens import hash_token, new_token
from guanxi.customers.models import Account, Contact
from guanxi.customers.selectors import account_scope
from guanxi.customers.services.merge import register_relation
from guanxi.loyalty.models import Invitation, Question, Survey, Touchpoint
from guanxi.sales import signals as sales_signals
from guanxi.sales.services.common import owner_department, raise_if, require
from guanxi.service import signals as service_signals

logger = logging.getLogger(__name__)
SEND = "survey.send"
SOURCE_MAX = 64
# What an invitation's state is called in filters and on the pages.
ANSWERED, EXPIRED, PENDING = "answered", "expired", "pending"
AUDITED = ("survey", "touchpoint", "source", "account", "contact", "recipient_name", "email", "phone", "owner",
           "department", "expires_at")


def link(raw: str) -> str:
    """The customer's page for ``raw``, as an absolute address (mails, WeChat, SMS)."""
    return settings.GUANXI_BASE_URL.rstrip("/") + reverse("survey:answer", args=[raw])


def status(invitation: Invitation, now: dt.datetime | None = None) -> str:
    if invitation.answered_at is not None:
        return ANSWERED
    return EXPIRED if invitation.expires_at <= (now or timezone.now()) else PENDING


def active_survey(touchpoint: str) -> Survey | None:
    """The survey sent automatically for ``touchpoint``, if one is active."""
    return Survey.objects.filter(touchpoint=touchpoint, active=True).first()


def _email(value: Any, errors: dict[str, list[str]] | None = None) -> str:
    text = str(value or "").strip()
    if not text:
        return ""
    try:
        validate_email(text)
    except ValidationError:
        if errors is not None:
            errors.setdefault("email", []).append(_("Enter a valid e-mail address."))
        return ""
    return text if len(text) <= 254 else ""


def _short(value: Any, field: str, limit: int, errors: dict[str, list[str]]) -> str:
    text = str(value or "").strip()
    if len(text) > limit:
        errors.setdefault(field, []).append(_("At most %(max)d characters.") % {"max": limit})
    return text


# --- Making an invitation ------------------------------------------------------------------------
@transaction.atomic
def invite(*, actor: Any, survey: Survey, touchpoint: str, source: str, account: Account | None = None,
           contact: Contact | None = None, email: str = "", phone: str = "", recipient_name: str = "",
           owner: Any = None) -> tuple[Invitation, str]:
    """One customer's link to ``survey`` for ``source``: (invitation, raw token), or (the existing
    invitation, "") when this survey was already sent for this source (no new token, no mail).

    By hand (``touchpoint`` manual) the actor needs ``survey.send``; automatic invitations come
    from the touchpoint's own service. The link is mailed after commit when there is an address.
    """
    is_person = getattr(actor, "is_authenticated", False)
    if touchpoint == Touchpoint.MANUAL:
        require(actor, SEND)
    errors: dict[str, list[str]] = {}
    if touchpoint not in Touchpoint.values:
        errors["touchpoint"] = [_("Choose a valid touchpoint.")]
    source = str(source or "").strip()
    if not source or len(source) > SOURCE_MAX:
        errors["source"] = [_("Give the invitation's source (at most %(max)d characters).") % {"max": SOURCE_MAX}]
    fresh = Survey.all_objects.filter(pk=survey.pk).values("deleted_at", "active").first()
    if fresh is None or fresh["deleted_at"] is not None:
        raise NotFound()
    existing = Invitation.objects.filter(survey_id=survey.pk, source=source).first() if source else None
    if existing is not None:
        return existing, ""
    if not fresh["active"]:
        errors.setdefault("survey", []).append(_("This survey is not active; activate it before sending it."))
    elif not Question.objects.filter(survey_id=survey.pk).exists():
        errors.setdefault("survey", []).append(_("This survey has no questions yet."))
    address = _email(email, errors)
    phone = _short(phone, "phone", 40, errors)
    recipient_name = _short(recipient_name, "recipient_name", 100, errors)
    if account is not None and account.deleted_at is not None:
        errors.setdefault("account", []).append(_("Choose an account you can see."))
    if contact is not None and account is not None and contact.account_id != account.pk:
        errors.setdefault("contact", []).append(_("Choose a contact of this account."))
    raise_if(errors)
    if owner is None and touchpoint == Touchpoint.MANUAL and is_person:
        owner = actor
    raw, digest = new_token()
    now = timezone.now()
    invitation = Invitation(
        survey=survey, touchpoint=touchpoint, source=source, account=account, contact=contact,
        recipient_name=recipient_name or (contact.name if contact is not None else ""), email=address, phone=phone,
        token_hash=digest, owner=owner, department_id=owner_department(owner) if owner is not None else None,
        created_at=now, expires_at=now + dt.timedelta(days=survey.expires_days), sent_by=actor if is_person else None)
    try:
        with transaction.atomic():
            invitation.save()
    except IntegrityError:
        # The same touchpoint fired twice at once: the other call's invitation stands.
        found = Invitation.objects.filter(survey_id=survey.pk, source=source).first()
        if found is None:
            raise
        return found, ""
    audit.record(actor=actor, action="create", obj=invitation, changes=audit.creation_changes(
        invitation, list(AUDITED), skip_empty=True))
    mail_on_commit(invitation, raw)
    return invitation, raw


def mail_on_commit(invitation: Invitation, raw: str) -> bool:
    """Queue the link to the recipient once committed; False when there is no address."""
    if not invitation.email:
        return False
    invitation_id = invitation.pk
    transaction.on_commit(lambda: send_invitation(invitation_id, raw))
    return True


@transaction.atomic
def invitation_send(*, actor: Any, survey: Survey, account: Account | None = None, contact: Contact | None = None,
                    case: Any = None, email: str = "", phone: str = "", recipient_name: str = "",
                    source: str = "") -> tuple[Invitation, str]:
    """Send ``survey`` by hand (``survey.send``) to a customer the actor sees: an account's contact,
    a case's sender, or just an address. ``source`` makes a retry safe (the form's nonce); from a
    case page the source is the case, so the customer is asked once per case and survey."""
    require(actor, SEND)
    if account is not None and not account_scope(actor).filter(pk=account.pk).exists():
        raise NotFound()
    if case is not None:
        from guanxi.service.selectors.scope import case_scope

        if not case_scope(actor).filter(pk=case.pk).exists():
            raise NotFound()
        if account is None and case.account_id:
            account = Account.objects.filter(pk=case.account_id).first()
        defaults = case_recipient(case)
        contact = contact or defaults["contact"]
        email = email or defaults["email"]
        phone = phone or defaults["phone"]
        recipient_name = recipient_name or defaults["recipient_name"]
        source = f"service.case:{case.pk}"
    elif contact is not None:
        email = email or contact.email
        phone = phone or contact.mobile or contact.phone
    if contact is not None and account is None:
        account = Account.objects.filter(pk=contact.account_id).first()
    if not (email or phone or recipient_name or account or contact):
        raise Invalid(errors={"email": [_("Choose an account or contact, or enter the customer's e-mail or phone.")]})
    source = str(source or "").strip() or f"manual:{secrets.token_hex(12)}"
    if case is None and not source.startswith("manual:"):
        source = f"manual:{source}"[:SOURCE_MAX]
    return invite(actor=actor, survey=survey, touchpoint=Touchpoint.MANUAL, source=source, account=account,
                  contact=contact, email=email, phone=phone, recipient_name=recipient_name, owner=actor)


@transaction.atomic
def invitation_renew(*, actor: Any, invitation: Invitation, mail: bool = False) -> str:
    """A new link for an unanswered invitation (the previous one stops working), valid for the
    survey's days from now; returns the raw link token (shown once). ``mail``: e-mail it too."""
    require(actor, SEND)
    fresh = Invitation.objects.select_for_update().select_related("survey").filter(pk=invitation.pk).first()
    if fresh is None or fresh.survey.deleted_at is not None:
        raise NotFound()
    if fresh.answered_at is not None:
        raise Invalid(_("This invitation has been answered; its link is no longer needed."))
    raw, digest = new_token()
    expires = timezone.now() + dt.timedelta(days=fresh.survey.expires_days)
    Invitation.objects.filter(pk=fresh.pk).update(token_hash=digest, expires_at=expires)
    audit.record(actor=actor, action="update", obj=fresh,
                 changes={"link": ["…", "…"], "expires_at": [audit.serialise(fresh.expires_at),
                                                             audit.serialise(expires)]},
                 note="new link" + (" (mailed)" if mail and fresh.email else ""))
    invitation.token_hash, invitation.expires_at = digest, expires
    if mail:
        mail_on_commit(fresh, raw)
    return raw


# --- The mail ------------------------------------------------------------------------------------
def invitation_message(invitation: Invitation, raw: str) -> EmailMultiAlternatives:
    """The invitation in the company's language (the customer has no account)."""
    with translation.override(settings.LANGUAGE_CODE):
        context_ = {"invitation": invitation, "survey": invitation.survey, "url": link(raw),
                    "company": getattr(settings, "GUANXI_COMPANY_NAME", ""),
                    "expires": timezone.localtime(invitation.expires_at)}
        subject = " ".join(render_to_string("loyalty/invitation_mail_subject.txt", context_).split())
        text = render_to_string("loyalty/invitation_mail.txt", context_)
    return EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL,
                                  to=[invitation.email], headers={"Auto-Submitted": "auto-generated"})


@db_task(retries=3, retry_delay=300)
def send_invitation(invitation_id: int, raw: str) -> bool:
    """Mail the link, unless it was answered, expired, replaced by a newer link or withdrawn."""
    invitation = Invitation.objects.select_related("survey").filter(
        pk=invitation_id, token_hash=hash_token(raw), answered_at__isnull=True,
        expires_at__gt=timezone.now(), survey__deleted_at__isnull=True).first()
    if invitation is None or not invitation.email:
        return False
    with transaction.atomic():
        queue_mail(invitation_message(invitation, raw), key=f"invitation:{invitation.pk}:{invitation.token_hash}")
        Invitation.objects.filter(pk=invitation.pk).update(mailed_at=timezone.now())
    return True


# --- The touchpoints -----------------------------------------------------------------------------
def _alive_account(account_id: int | None) -> Account | None:
    return Account.objects.filter(pk=account_id).first() if account_id else None


def case_recipient(case: Any) -> dict[str, Any]:
    """Whom a case's survey goes to: its contact, else the sender as given."""
    contact = Contact.objects.filter(pk=case.contact_id).first() if case.contact_id else None
    if contact is not None:
        return {"contact": contact, "recipient_name": contact.name or case.sender_name,
                "email": _email(contact.email) or _email(case.sender_email),
                "phone": contact.mobile or contact.phone or case.sender_phone}
    return {"contact": None, "recipient_name": case.sender_name, "email": _email(case.sender_email),
            "phone": case.sender_phone}


def _auto_invite(record: Any, survey: Survey, touchpoint: str, source: str, actor: Any, **fields: Any) -> None:
    """Invite for a touchpoint and leave the result on the record for the caller's page (the link
    is shown once: ``record.survey_link``). A survey problem never stops the touchpoint's own
    write: it is logged, and the savepoint of :func:`invite` undoes any part of it."""
    fields["recipient_name"] = str(fields.get("recipient_name") or "")[:100]
    fields["phone"] = str(fields.get("phone") or "")[:40]
    try:
        invitation, raw = invite(actor=actor, survey=survey, touchpoint=touchpoint, source=source, **fields)
    except ServiceError as exc:
        logger.warning("no survey invitation for %s: %s %s", source, exc.message, exc.errors)
        return
    record.survey_invitation = invitation
    record.survey_link = link(raw) if raw else ""


@receiver(service_signals.case_closed, dispatch_uid="loyalty.invite_after_case_closed")
def invite_after_case_closed(sender: Any, case: Any, actor: Any = None, **kwargs: Any) -> None:
    survey = active_survey(Touchpoint.CASE_CLOSED)
    if survey is None or not case.wants_reply:
        return
    _auto_invite(case, survey, Touchpoint.CASE_CLOSED, f"service.case:{case.pk}", actor,
                 account=_alive_account(case.account_id), owner=_user(case.owner_id), **case_recipient(case))


@receiver(service_signals.visit_done, dispatch_uid="loyalty.invite_after_visit_done")
def invite_after_visit_done(sender: Any, visit: Any, actor: Any = None, **kwargs: Any) -> None:
    survey = active_survey(Touchpoint.VISIT_DONE)
    if survey is None:
        return
    from guanxi.service.models import Case

    case = Case.all_objects.filter(pk=visit.case_id).first()
    if case is None or not case.wants_reply:
        return
    _auto_invite(visit, survey, Touchpoint.VISIT_DONE, f"service.visit:{visit.pk}", actor,
                 account=_alive_account(case.account_id), owner=_user(visit.technician_id), **case_recipient(case))


@receiver(sales_signals.order_delivered, dispatch_uid="loyalty.invite_after_order_delivered")
def invite_after_order_delivered(sender: Any, order: Any, actor: Any = None, **kwargs: Any) -> None:
    survey = active_survey(Touchpoint.ORDER_DELIVERED)
    if survey is None:
        return
    account = _alive_account(order.account_id)
    contact = Contact.objects.filter(pk=order.contact_id).first() if order.contact_id else None
    if contact is not None:
        recipient = {"contact": contact, "recipient_name": contact.name, "email": _email(contact.email),
                     "phone": contact.mobile or contact.phone}
    else:
        recipient = {"contact": None, "recipient_name": account.name if account else "",
                     "email": _email(account.email) if account else "", "phone": account.phone if account else ""}
    _auto_invite(order, survey, Touchpoint.ORDER_DELIVERED, f"sales.order:{order.pk}", actor, account=account,
                 owner=_user(order.owner_id), **recipient)


def _user(user_id: int | None) -> Any:
    from guanxi.core.models import User

    return User.objects.filter(pk=user_id).first() if user_id else None


def can_send(user: Any) -> bool:
    return has_perm(user, SEND)


# A merged customer's invitations move to the account (and contact) kept.
register_relation("account", "survey_invitations", Invitation, "account", audited=True)
register_relation("contact", "survey_invitations", Invitation, "contact")
