"""Converting a lead (R4.1): account + contact + opportunity in one step, without retyping.

The account is a new one (made by the customer file's own ``account_create``, so its rules,
codes and ownership history apply) or an existing one the user sees. Before a new account
is made, live accounts with the same credit code, a similar name or the same phone digits
are looked for (``selectors.leads.account_candidates_for``): the user picks one of the
visible ones or says none of them is the same company; a credit code already held by an
account — visible or not — always blocks a new account (the customer file forbids two).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.errors import Conflict, Invalid, NotFound
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.customers.models import Account, Contact
from guanxi.customers.selectors import account_scope
from guanxi.customers.services import account_create, contact_create
from guanxi.sales.models import CNY, Lead, Opportunity, Pipeline, StageChange
from guanxi.sales.selectors.leads import account_candidates_for, contact_match
from guanxi.sales.services import board, totals
from guanxi.sales.services.common import decimal_field, money, next_code, owner_department, raise_if, require
from guanxi.sales.services.leads import MAX_AMOUNT, OPEN_STATES, default_pipeline, first_open_stage

ACCOUNT_FIELDS = ("name", "credit_code", "phone", "email", "province", "city")
CONTACT_FIELDS = ("name", "title", "mobile", "phone", "email", "wechat")
OPPORTUNITY_FIELDS = ("name", "amount", "expected_close", "pipeline", "description")


@dataclass(frozen=True)
class Conversion:
    lead: Lead
    account: Account
    contact: Contact | None
    opportunity: Opportunity
    account_created: bool
    contact_created: bool


def account_defaults(lead: Lead) -> dict[str, Any]:
    """The new account as the lead describes it (what the conversion screen shows)."""
    return {"name": lead.company or lead.person_name, "credit_code": lead.credit_code,
            "phone": lead.phone or lead.mobile, "email": lead.email if lead.company else "",
            "province": lead.province, "city": lead.city}


def contact_defaults(lead: Lead) -> dict[str, Any]:
    return {"name": lead.person_name, "title": lead.title, "mobile": lead.mobile, "phone": lead.phone,
            "email": lead.email, "wechat": lead.wechat}


def opportunity_defaults(lead: Lead) -> dict[str, Any]:
    subject = (lead.interest or "").strip().splitlines()[0][:80] if (lead.interest or "").strip() else ""
    company = lead.company or lead.person_name
    return {"name": f"{company} · {subject}" if subject else company,
            "amount": lead.estimated_amount if lead.estimated_amount is not None else Decimal("0"),
            "expected_close": None, "pipeline": None, "description": lead.interest}


def _only(data: dict[str, Any] | None, allowed: tuple[str, ...], prefix: str) -> dict[str, Any]:
    data = dict(data or {})
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise Invalid(errors={f"{prefix}.{k}": [_("This field cannot be set here.")] for k in unknown})
    return data


def _opportunity_values(lead: Lead, data: dict[str, Any]) -> dict[str, Any]:
    values = {**opportunity_defaults(lead), **{k: v for k, v in data.items() if v is not None}}
    errors: dict[str, list[str]] = {}
    name = str(values.get("name") or "").strip()
    if not name:
        errors["opportunity.name"] = [_("Name the opportunity.")]
    elif len(name) > Opportunity._meta.get_field("name").max_length:  # type: ignore[operator]
        errors["opportunity.name"] = [_("Keep the name under 200 characters.")]
    amount = decimal_field(values.get("amount"), "opportunity.amount", errors, required=False, maximum=MAX_AMOUNT)
    close_in = values.get("expected_close")
    close: dt.date | None = None
    if isinstance(close_in, dt.date):
        close = close_in
    elif isinstance(close_in, str) and close_in.strip():
        try:
            close = parse_date(close_in.strip())
        except ValueError:
            close = None
        if close is None:
            errors["opportunity.expected_close"] = [_("Enter a valid date.")]
    elif close_in not in (None, ""):
        errors["opportunity.expected_close"] = [_("Enter a valid date.")]
    pipeline = values.get("pipeline")
    if pipeline is not None and not isinstance(pipeline, Pipeline):
        try:
            pipeline = Pipeline.objects.filter(pk=int(pipeline), active=True).first()
        except (TypeError, ValueError):
            pipeline = None
        if pipeline is None:
            errors["opportunity.pipeline"] = [_("Choose an active pipeline.")]
    raise_if(errors)
    return {"name": name, "amount": money(amount or 0), "expected_close": close, "pipeline": pipeline,
            "description": str(values.get("description") or "")}


@transaction.atomic
def lead_convert(*, actor: Any, lead: Lead, account: Account | None = None, new_account: dict[str, Any] | None = None,
                 create_contact: bool = True, contact: dict[str, Any] | None = None,
                 opportunity: dict[str, Any] | None = None, new_account_confirmed: bool = False,
                 expected_version: int | None = None) -> Conversion:
    """Turn a visible lead into an account, a contact and an opportunity, all or nothing.

    ``account``: an existing account to use (must be visible to the actor); otherwise a new
    one from the lead, with ``new_account`` overriding its fields (``ACCOUNT_FIELDS``). When
    accounts that look the same exist, a new one is made only with ``new_account_confirmed``.
    ``contact`` overrides the person's fields; at an existing account a live contact with the
    same mobile or e-mail is used instead of a second one. ``opportunity``: name, amount
    (default: the estimated amount), expected_close, pipeline (default pipeline, first open
    stage), description. Owner of what is made: the lead's owner, else the actor.
    """
    require(actor, "lead.convert")
    require(actor, "opportunity.add")
    new_account = _only(new_account, ACCOUNT_FIELDS, "account")
    contact_in = _only(contact, CONTACT_FIELDS, "contact")
    opportunity_in = _only(opportunity, OPPORTUNITY_FIELDS, "opportunity")
    locked = Lead.all_objects.select_for_update().filter(pk=lead.pk, deleted_at__isnull=True).first()
    if locked is None:
        raise NotFound()
    if expected_version is not None and int(expected_version) != locked.version:
        raise Conflict()
    lead = locked
    if lead.state not in OPEN_STATES:
        raise Invalid(_("Only an open lead can be converted; this one is %(state)s.") % {"state": lead.get_state_display()})
    if account is None:
        require(actor, "account.add")
    elif not account_scope(actor).filter(pk=account.pk).exists():
        raise NotFound()
    person = {**contact_defaults(lead), **{k: v for k, v in contact_in.items() if v is not None}}
    making_contact = create_contact and bool(str(person.get("name") or "").strip())
    if create_contact and not making_contact:
        raise Invalid(errors={"contact.name": [_("Enter the contact's name, or convert without a contact.")]})
    if making_contact:
        require(actor, "contact.add")
    deal = _opportunity_values(lead, opportunity_in)
    owner = lead.owner if lead.owner is not None and lead.owner.is_active else actor

    account_created = account is None
    if account is None:
        fields = {**account_defaults(lead), **{k: v for k, v in new_account.items() if v is not None}}
        fields = {k: (v.strip() if isinstance(v, str) else v) for k, v in fields.items()}
        matches = account_candidates_for(actor, name=fields.get("name") or "", credit_code=fields.get("credit_code", ""),
                                         phones=[fields.get("phone", ""), person.get("mobile", "")])
        if matches.blocks_new:
            message = (matches.hidden_messages()[0] if "credit_code" in matches.hidden
                       else _("An account you can see has this credit code: use that account."))
            raise Invalid(errors={"account": [message]}, code="duplicate")
        if (matches.visible or matches.hidden) and not new_account_confirmed:
            found = [f"{c.account.code} {c.account.name}" for c in matches.visible]
            raise Invalid(errors={"account": [
                *([_("Accounts that look the same: %(list)s. Use one of them, or confirm that this is a new "
                     "customer.") % {"list": "; ".join(found)}] if found else []),
                *matches.hidden_messages()]}, code="duplicate")
        name = fields.pop("name")
        kind = Account.Kind.ENTERPRISE if lead.company else Account.Kind.INDIVIDUAL
        account = account_create(actor=actor, name=name, owner=owner, kind=kind, lifecycle=Account.Lifecycle.INTENT,
                                 **{k: v for k, v in fields.items() if v})
    assert account is not None
    # The account row is the lock of its sales figures (totals.refresh below).
    account = Account.objects.select_for_update().get(pk=account.pk)

    the_contact: Contact | None = None
    contact_created = False
    if making_contact:
        if not account_created:
            the_contact = contact_match(account, mobile=str(person.get("mobile") or ""),
                                        email=str(person.get("email") or ""))
        if the_contact is None:
            the_contact = contact_create(actor=actor, account=account,
                                         **{k: v for k, v in person.items() if v or k == "name"})
            contact_created = True

    pipeline = deal["pipeline"] or default_pipeline()
    stage = first_open_stage(pipeline)
    opp = Opportunity.objects.create(
        code=next_code("opportunity", "SJ"), name=deal["name"], account=account, contact=the_contact,
        pipeline=pipeline, stage=stage, state=Opportunity.State.OPEN, probability=stage.probability,
        amount=deal["amount"], currency=CNY, rate_to_cny=Decimal("1"), expected_close=deal["expected_close"],
        description=deal["description"], owner=owner, department_id=owner_department(owner), lead=lead)
    products = list(lead.products.all())
    if products:
        opp.products.set(products)
    StageChange.objects.create(opportunity=opp, from_stage=None, to_stage=stage, probability=stage.probability,
                               amount=opp.amount, changed_by=actor if getattr(actor, "is_authenticated", False)
                               else None)
    audit.record(actor=actor, action="create", obj=opp, changes=audit.creation_changes(opp, skip_empty=True),
                 note=_("Converted from lead %(code)s") % {"code": lead.code})
    totals.refresh([account.pk])
    board.refresh_deal(opp)

    records.apply_update(actor=actor, obj=lead, expected_version=None, note=_("Converted"), changes={
        "state": Lead.State.CONVERTED, "converted_at": timezone.now(), "account": account, "contact": the_contact,
        "opportunity": opp})
    return Conversion(lead=lead, account=account, contact=the_contact, opportunity=opp,
                      account_created=account_created, contact_created=contact_created)


def may_convert(user: Any) -> bool:
    return has_perm(user, "lead.convert") and has_perm(user, "opportunity.add")
