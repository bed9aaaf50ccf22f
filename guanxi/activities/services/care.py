"""Care (R3.5), support given (R3.6) and the private calendar feed (R13.4).

Every write: one transaction, the right checked first, audited. The caller fetched the
account, plan or support record through its scope, so a hidden record never reaches here.
Sending a planned greeting or gift is logged as an interaction (purpose care) through
:func:`guanxi.activities.services.interaction_create`, so it moves the account's
last-contact date and shows on its timeline like any other contact.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.activities import services as activity_services
from guanxi.activities.models import CalendarFeed, CarePlan, GreetingTemplate, Interaction, Occasion, Support
from guanxi.activities.selectors import care_scope, support_scope
from guanxi.activities.selectors.care import FESTIVALS, PLACEHOLDERS, greeting_for, greeting_templates
from guanxi.activities.services import raise_if, require
from guanxi.core import access, audit, registry
from guanxi.core.errors import Conflict, Forbidden, Invalid
from guanxi.core.models import User
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.core.tokens import hash_token
from guanxi.customers.models import Account, Contact
from guanxi.customers.services import clean_fields
from guanxi.customers.services.merge import register_relation

CARE_PLAN_EDITABLE = ("occasion", "date", "message", "gift", "gift_value", "contact")
SUPPORT_EDITABLE = ("kind", "description", "value", "given_on", "outcome")
GREETING_EDITABLE = ("occasion", "depth", "body")
FESTIVAL_OCCASIONS = frozenset(code for code, *_rest in FESTIVALS)


def _not_negative(cleaned: dict[str, Any], field: str, errors: dict[str, list[str]]) -> None:
    value = cleaned.get(field)
    if value is not None and Decimal(value) < 0:
        errors[field] = [_("Enter a value of zero or more.")]


def _owner(owner: Any, account: Account, actor: Any) -> User:
    """The colleague a plan belongs to: active, and able to see the account and its care."""
    if owner is None:
        owner = actor
    elif not isinstance(owner, User):
        owner = User.objects.filter(pk=getattr(owner, "pk", owner)).first()
    if owner is None or not owner.is_active:
        raise Invalid(errors={"owner": [_("Choose an active colleague.")]})
    if not has_perm(owner, "care.view") or not access.can_see(owner, account):
        raise Invalid(errors={"owner": [_("This colleague cannot see the account; ask a manager to share it first.")]})
    return owner


def _contact_at(account_id: int | None, contact: Any) -> Contact | None:
    if contact in (None, ""):
        return None
    key = str(getattr(contact, "pk", contact))
    found = Contact.objects.filter(pk=int(key), account_id=account_id).first() if key.isdigit() else None
    if found is None:
        raise Invalid(errors={"contact": [_("Choose a person who works at this account.")]})
    return found


# --- Care plans (R3.5) --------------------------------------------------------------------------
def _validate_plan(obj: CarePlan | None, changes: dict[str, Any], *, account_id: int | None = None) -> dict[str, Any]:
    if obj is not None and obj.state != CarePlan.State.PLANNED:
        raise Invalid(_("Only a greeting that is still planned can be changed."))
    changes = dict(changes)
    errors: dict[str, list[str]] = {}
    if "contact" in changes:
        try:
            changes["contact"] = _contact_at(account_id if obj is None else obj.account_id, changes["contact"])
        except Invalid as exc:
            errors.update(exc.errors)
            changes.pop("contact")
    cleaned, more = clean_fields(CarePlan, obj, changes, passthrough=("contact",),
                                 required={"occasion": _("Choose the occasion."), "date": _("Choose the date.")})
    errors.update({k: v for k, v in more.items() if k not in errors})
    _not_negative(cleaned, "gift_value", errors)
    occasion = cleaned.get("occasion", obj.occasion if obj else "")
    person = cleaned["contact"] if "contact" in cleaned else (obj.contact if obj else None)
    if occasion == Occasion.BIRTHDAY and person is None and "contact" not in errors:
        errors["contact"] = [_("Choose whose birthday it is.")]
    raise_if(errors)
    return cleaned


@transaction.atomic
def care_plan_create(*, actor: Any, account: Account, occasion: str, date: Any, contact: Any = None,
                     message: str = "", gift: str = "", gift_value: Any = None, owner: Any = None) -> CarePlan:
    """Plan a greeting or gift for a person (or the account) of a visible account.

    Without ``message``, the suggested greeting for the occasion and the person's
    relationship depth is filled in.
    """
    require(actor, "care.add")
    cleaned = _validate_plan(None, {"occasion": occasion, "date": date, "contact": contact, "message": message,
                                    "gift": gift, "gift_value": gift_value}, account_id=account.pk)
    owner = _owner(owner, account, actor)
    if not cleaned.get("message") and cleaned.get("contact") is not None:
        cleaned["message"] = greeting_for(cleaned["contact"], cleaned["occasion"], me=owner)
    plan = CarePlan.objects.create(account=account, owner=owner, **cleaned)
    audit.record(actor=actor, action="create", obj=plan, changes=audit.creation_changes(plan, skip_empty=True))
    return plan


@transaction.atomic
def care_plans_for_festival(*, actor: Any, occasion: str, date: Any, contacts: Iterable[Contact]) -> list[CarePlan]:
    """Plan the festival's greeting for each of ``contacts`` (already fetched through their
    scope), worded for each one's relationship depth. People who already have a plan for
    this festival and day are skipped. Returns the plans created."""
    require(actor, "care.add")
    errors: dict[str, list[str]] = {}
    if occasion not in FESTIVAL_OCCASIONS:
        errors["occasion"] = [_("Choose a festival.")]
    day = _date(date, "date", errors)
    raise_if(errors)
    assert day is not None
    people = list(contacts)
    if not people:
        raise Invalid(errors={"contacts": [_("Choose at least one person.")]})
    taken = set(CarePlan.objects.filter(occasion=occasion, date=day, contact__in=people,
                                        state__in=[CarePlan.State.PLANNED, CarePlan.State.SENT])
                .values_list("contact_id", flat=True))
    templates = greeting_templates()
    created = []
    for person in people:
        if person.pk in taken:
            continue
        plan = CarePlan.objects.create(account_id=person.account_id, contact=person, occasion=occasion, date=day,
                                       owner=actor, message=greeting_for(person, occasion, me=actor,
                                                                         templates=templates))
        audit.record(actor=actor, action="create", obj=plan, changes=audit.creation_changes(plan, skip_empty=True))
        created.append(plan)
    return created


def _date(value: Any, field: str, errors: dict[str, list[str]]) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if isinstance(value, dt.date):
        return value
    from django.utils.dateparse import parse_date

    try:
        parsed = parse_date(str(value or "").strip())
    except ValueError:
        parsed = None
    if parsed is None:
        errors[field] = [_("Enter a valid date.")]
    return parsed


def care_plan_update(*, actor: Any, plan: CarePlan, changes: dict[str, Any], expected_version: int | None) -> Any:
    return records.record_update(actor=actor, obj=plan, changes=changes, expected_version=expected_version)


def care_plan_delete(*, actor: Any, plan: CarePlan, expected_version: int | None = None) -> Any:
    return records.record_delete(actor=actor, obj=plan, expected_version=expected_version)


@transaction.atomic
def care_plan_cancel(*, actor: Any, plan: CarePlan, expected_version: int | None = None, note: str = "") -> CarePlan:
    require(actor, "care.change")
    if plan.state != CarePlan.State.PLANNED:
        raise Invalid(_("Only a greeting that is still planned can be cancelled."))
    records.apply_update(actor=actor, obj=plan, expected_version=expected_version, note=note,
                         changes={"state": CarePlan.State.CANCELLED})
    return plan


@transaction.atomic
def care_plan_mark_sent(*, actor: Any, plan: CarePlan, kind: str = Interaction.Kind.MESSAGE, occurred_at: Any = None,
                        message: str | None = None, gift: str | None = None, gift_value: Any = None,
                        summary: str = "", expected_version: int | None = None) -> CarePlan:
    """Record that the planned greeting or gift went out.

    Logs an interaction (purpose care; ``kind`` message, visit, call …; the gift and its value;
    the person as present) through ``interaction_create`` — which moves the account's
    last-contact date and its cadence follow-up — links it to the plan, and marks the plan
    sent. ``message``, ``gift`` and ``gift_value`` given here replace the planned ones.
    """
    require(actor, "care.change")
    if plan.state != CarePlan.State.PLANNED:
        raise Invalid(_("Only a greeting that is still planned can be marked as sent."))
    if expected_version is not None and int(expected_version) != plan.version:
        raise Conflict()
    changes: dict[str, Any] = {}
    if message is not None:
        changes["message"] = message
    if gift is not None:
        changes["gift"] = gift
    if gift_value not in (None, ""):
        changes["gift_value"] = gift_value
    cleaned, errors = clean_fields(CarePlan, plan, changes, required={})
    _not_negative(cleaned, "gift_value", errors)
    raise_if(errors)
    final = {"message": plan.message, "gift": plan.gift, "gift_value": plan.gift_value, **cleaned}
    account = Account.objects.get(pk=plan.account_id)
    person = Contact.objects.filter(pk=plan.contact_id, account_id=plan.account_id).first() if plan.contact_id else None
    occasion = plan.get_occasion_display()
    subject = f"{occasion} · {person.name}" if person else str(occasion)
    text = (summary or "").strip() or final["message"] or _("Greeting for %(occasion)s") % {"occasion": occasion}
    interaction = activity_services.interaction_create(
        actor=actor, account=account, kind=kind, purpose=Interaction.Purpose.CARE, summary=text,
        occurred_at=occurred_at, their_people=[person.pk] if person else [], subject=subject[:200],
        gift=final["gift"] or "", gift_value=final["gift_value"],
    )
    records.apply_update(actor=actor, obj=plan, expected_version=plan.version, note=_("Sent"),
                         changes={**cleaned, "state": CarePlan.State.SENT, "interaction": interaction})
    return plan


# --- Greeting templates -------------------------------------------------------------------------
_PLACEHOLDER = re.compile(r"\{[^{}\s]*\}")


def _validate_template(obj: GreetingTemplate | None, changes: dict[str, Any]) -> dict[str, Any]:
    cleaned, errors = clean_fields(GreetingTemplate, obj, changes,
                                   required={"occasion": _("Choose the occasion."), "body": _("Write the greeting.")})
    unknown = sorted({p for p in _PLACEHOLDER.findall(cleaned.get("body") or "") if p not in PLACEHOLDERS})
    if unknown and "body" not in errors:
        errors["body"] = [_("Unknown placeholder %(found)s; use %(known)s.") % {
            "found": ", ".join(unknown), "known": ", ".join(PLACEHOLDERS)}]
    raise_if(errors)
    return cleaned


@transaction.atomic
def greeting_template_create(*, actor: Any, occasion: str, body: str, depth: str = "") -> GreetingTemplate:
    """Save the wording for an occasion (and a relationship depth; empty: any depth)."""
    require(actor, "greeting.manage")
    cleaned = _validate_template(None, {"occasion": occasion, "depth": depth or "", "body": body})
    if GreetingTemplate.objects.filter(occasion=cleaned["occasion"], depth=cleaned.get("depth", "")).exists():
        raise Invalid(errors={"depth": [_("A greeting for this occasion and depth exists already; change that one.")]})
    try:
        with transaction.atomic():
            template = GreetingTemplate.objects.create(**cleaned)
    except IntegrityError:
        raise Invalid(errors={"depth": [_("A greeting for this occasion and depth exists already; change that one.")]}) \
            from None
    audit.record(actor=actor, action="create", obj=template, changes=audit.creation_changes(template))
    return template


@transaction.atomic
def greeting_template_update(*, actor: Any, template: GreetingTemplate, changes: dict[str, Any],
                             expected_version: int | None) -> GreetingTemplate:
    require(actor, "greeting.manage")
    unknown = set(changes) - set(GREETING_EDITABLE)
    if unknown:
        raise Invalid(errors={k: [_("This field cannot be changed here.")] for k in sorted(unknown)})
    if "depth" in changes and changes["depth"] is None:
        changes = {**changes, "depth": ""}
    records.apply_update(actor=actor, obj=template, changes=_validate_template(template, changes),
                         expected_version=expected_version)
    return template


@transaction.atomic
def greeting_template_delete(*, actor: Any, template: GreetingTemplate) -> None:
    """Remove a saved wording; the built-in one (or the occasion's general one) applies again."""
    require(actor, "greeting.manage")
    audit.record(actor=actor, action="delete", obj=template, changes=audit.creation_changes(template))
    template.delete()


# --- Support given (R3.6) ----------------------------------------------------------------------
def _validate_support(obj: Support | None, changes: dict[str, Any]) -> dict[str, Any]:
    cleaned, errors = clean_fields(Support, obj, changes, required={
        "kind": _("Choose the kind of support."), "description": _("Describe what was given."),
        "given_on": _("Choose the day it was given.")})
    _not_negative(cleaned, "value", errors)
    given = cleaned.get("given_on")
    if given is not None and "given_on" not in errors and given > timezone.localdate():
        errors["given_on"] = [_("Record support once it has been given.")]
    raise_if(errors)
    return cleaned


@transaction.atomic
def support_create(*, actor: Any, account: Account, kind: str, description: str, value: Any = None,
                   given_on: Any = None, outcome: str = "", owner: Any = None) -> Support:
    """Record help given to a visible account: policy, funding, people or training."""
    require(actor, "care.add")
    cleaned = _validate_support(None, {"kind": kind, "description": description, "value": value,
                                       "given_on": given_on or timezone.localdate(), "outcome": outcome})
    owner = _owner(owner, account, actor)
    support = Support.objects.create(account=account, owner=owner, **cleaned)
    audit.record(actor=actor, action="create", obj=support, changes=audit.creation_changes(support, skip_empty=True))
    return support


def support_update(*, actor: Any, support: Support, changes: dict[str, Any], expected_version: int | None) -> Any:
    return records.record_update(actor=actor, obj=support, changes=changes, expected_version=expected_version)


def support_delete(*, actor: Any, support: Support, expected_version: int | None = None) -> Any:
    return records.record_delete(actor=actor, obj=support, expected_version=expected_version)


# --- The private calendar feed (R13.4) -------------------------------------------------------------
@transaction.atomic
def calendar_feed_create(*, actor: Any) -> tuple[CalendarFeed, str]:
    """Give ``actor`` a new private feed; return it with its key, which is never stored (only
    its SHA-256). Any feed the user had is revoked: its URL stops working at once."""
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise Forbidden()
    now = timezone.now()
    for old in CalendarFeed.objects.select_for_update().filter(user=actor, revoked_at__isnull=True):
        _revoke(actor, old, now, note=_("Replaced by a new calendar feed"))
    raw = secrets.token_urlsafe(32)
    feed = CalendarFeed.objects.create(user=actor, key_hash=hash_token(raw), created_at=now)
    audit.record(actor=actor, action="create", obj=feed, changes={"user": [None, audit.serialise(actor)]})
    return feed, raw


def _revoke(actor: Any, feed: CalendarFeed, now: dt.datetime, note: str = "") -> None:
    CalendarFeed.objects.filter(pk=feed.pk).update(revoked_at=now)
    feed.revoked_at = now
    audit.record(actor=actor, action="delete", obj=feed, note=note)


@transaction.atomic
def calendar_feed_revoke(*, actor: Any, feed: CalendarFeed) -> CalendarFeed:
    """Void a feed of the actor's (the caller fetched it among the actor's own)."""
    if feed.user_id != getattr(actor, "pk", None) or feed.revoked_at is not None:
        from guanxi.core.errors import NotFound

        raise NotFound()
    _revoke(actor, feed, timezone.now())
    return feed


def calendar_feed_use(raw: str, *, now: dt.datetime | None = None) -> CalendarFeed | None:
    """The live feed a key opens, with its (active) user, or None; notes when it was used."""
    if not raw or len(raw) > 200:
        return None
    feed = (CalendarFeed.objects.select_related("user")
            .filter(key_hash=hash_token(raw), revoked_at__isnull=True).first())
    if feed is None or not feed.user.is_active:
        return None
    now = now or timezone.now()
    # Calendar apps poll often; one write a minute is enough to tell the user it is in use.
    if feed.last_used_at is None or (now - feed.last_used_at).total_seconds() > 60:
        CalendarFeed.objects.filter(pk=feed.pk).update(last_used_at=now)
        feed.last_used_at = now
    return feed


# --- Registration with the generic machinery (recycle bin, history, merge) -------------------
def _validate_plan_entry(obj: CarePlan, changes: dict[str, Any]) -> dict[str, Any]:
    return _validate_plan(obj, changes)


registry.register(registry.Entry(
    model=CarePlan, perm="care", scope=lambda user, qs: care_scope(user, qs), editable=CARE_PLAN_EDITABLE,
    detail_url=lambda obj: f"/activities/care/plans/{obj.pk}/", validate=_validate_plan_entry,
))
registry.register(registry.Entry(
    model=Support, perm="care", scope=lambda user, qs: support_scope(user, qs), editable=SUPPORT_EDITABLE,
    detail_url=lambda obj: f"/activities/accounts/{obj.account_id}/support/", validate=_validate_support,
))
register_relation("account", "care_plans", CarePlan, "account", audited=True)
register_relation("account", "support_given", Support, "account", audited=True)
register_relation("contact", "care_plans", CarePlan, "contact")

