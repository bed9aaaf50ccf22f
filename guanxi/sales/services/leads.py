"""Leads (R4.1): capture from every channel, edit, assign, work, qualify, disqualify.

Every channel — the staff form, the spreadsheet import, the API and later mail and the
public web form — calls :func:`lead_capture`; none holds a rule of its own. Conversion
into account + contact + opportunity lives in ``lead_convert``, the import in
``lead_imports``. A lead's department is its owner's, so department scope works; an
unassigned lead has none and is seen by whoever hands leads out (``lead.assign``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from guanxi.core import access, audit, codes, registry, search
from guanxi.core.errors import Conflict, Invalid
from guanxi.core.models import User
from guanxi.core.permissions import ROLE_PERMISSIONS, has_perm
from guanxi.core.services import records
from guanxi.core.services.notifications import notify
from guanxi.core.validators import normalise_phone, validate_credit_code, validate_mobile, validate_phone
from guanxi.customers.services import clean_fields
from guanxi.sales.models import Lead, Pipeline, Product, Stage
from guanxi.sales.selectors.scope import lead_scope
from guanxi.sales.services.common import decimal_field, money, next_code, raise_if, require

S = Lead.State
# What a person may type about a lead (the form, the API, a spreadsheet column).
EDITABLE = ("person_name", "company", "title", "mobile", "phone", "email", "wechat", "province", "city",
            "credit_code", "interest", "estimated_amount", "source", "source_detail", "notes")
CAPTURE_EXTRA = ("owner", "products")
OPEN_STATES = (S.NEW, S.ASSIGNED, S.WORKING, S.QUALIFIED)
# Roles whose people can hold leads (an assignee must be able to see and work them).
LEAD_ROLES = tuple(code for code, perms in ROLE_PERMISSIONS.items() if "lead.change" in perms)
_NON_DIGIT = re.compile(r"\D")
MAX_AMOUNT = Decimal("99999999999999.99")  # the column's 16 digits, 2 after the point


# --- Cleaning ----------------------------------------------------------------------------------
def mobile_digits(value: str) -> str:
    """A mobile as stored and compared: digits only, without +86."""
    return _NON_DIGIT.sub("", normalise_phone(value or ""))


def search_text(lead: Lead) -> str:
    """Company, person (with pinyin), mobile and phone digits, e-mail, code and credit code."""
    return search.build(names=[lead.company, lead.person_name], phones=[lead.mobile, lead.phone],
                        codes=[lead.code, lead.email, lead.credit_code])


def _check(validator: Any, name: str, value: str, errors: dict[str, list[str]]) -> None:
    try:
        validator(value)
    except ValidationError as exc:
        errors.setdefault(name, []).extend(str(m) for m in exc.messages)


def clean(obj: Lead | None, changes: dict[str, Any]) -> dict[str, Any]:
    """Clean lead input; raise Invalid with every field's messages at once.

    Someone must be named (a company or a person) and reachable (mobile, phone, e-mail or
    WeChat), counting what the lead already holds when ``obj`` is given.
    """
    changes = dict(changes)
    errors: dict[str, list[str]] = {}
    amount_in = changes.pop("estimated_amount", ...)
    if "source" in changes and changes["source"] not in Lead.Source.values:
        errors["source"] = [_("Choose one of the sources.")]
        changes.pop("source")
    for name in ("mobile", "phone", "credit_code"):
        if isinstance(changes.get(name), str):
            changes[name] = changes[name].strip()
    if changes.get("mobile"):
        _check(validate_mobile, "mobile", changes["mobile"], errors)
        changes["mobile"] = mobile_digits(changes["mobile"])[-11:]
    if changes.get("phone"):
        _check(validate_phone, "phone", changes["phone"], errors)
    if changes.get("credit_code"):
        changes["credit_code"] = changes["credit_code"].upper()
        _check(validate_credit_code, "credit_code", changes["credit_code"], errors)
    if isinstance(changes.get("email"), str):
        changes["email"] = changes["email"].strip().lower()
    cleaned, field_errors = clean_fields(Lead, obj, {k: ("" if v is None else v) for k, v in changes.items()},
                                         required={})
    for name, msgs in field_errors.items():
        errors.setdefault(name, msgs)
    if amount_in is not ...:
        amount = decimal_field(amount_in, "estimated_amount", errors, required=False, maximum=MAX_AMOUNT)
        if "estimated_amount" not in errors:
            cleaned["estimated_amount"] = money(amount) if amount is not None else None

    def final(name: str) -> Any:
        return cleaned.get(name, getattr(obj, name, "") if obj is not None else "")

    if not (final("company") or final("person_name")) and not ({"company", "person_name"} & set(errors)):
        errors["company"] = [_("Enter the company or the person's name.")]
    if not any(final(n) for n in ("mobile", "phone", "email", "wechat")) and not (
            {"mobile", "phone", "email", "wechat"} & set(errors)):
        errors["mobile"] = [_("Enter a mobile, phone, e-mail or WeChat so someone can reach them.")]
    raise_if(errors)
    return cleaned


def _products(values: Iterable[Any]) -> list[Product]:
    if not values:
        return []
    ids: set[int] = set()
    for value in values or ():
        try:
            ids.add(int(getattr(value, "pk", value)))
        except (TypeError, ValueError):
            raise Invalid(errors={"products": [_("Choose products from the catalogue.")]}) from None
    found = list(Product.objects.filter(pk__in=ids, active=True))
    if len(found) != len(ids):
        raise Invalid(errors={"products": [_("Choose products from the catalogue.")]})
    return found


def _person(value: Any) -> User | None:
    if value is None or isinstance(value, User):
        return value
    if getattr(value, "pk", None) is not None and getattr(value, "is_authenticated", False):
        return User.objects.filter(pk=value.pk).first()
    try:
        return User.objects.filter(pk=int(value)).select_related("department").first()
    except (TypeError, ValueError):
        return None


def check_assignee(actor: Any, owner: Any) -> User:
    """An active colleague the actor manages (by role, not by grant) who can work leads."""
    person = _person(owner)
    if person is None or not person.is_active or not person.has_role(*LEAD_ROLES) \
            or not access.manages_user(actor, person):
        raise Invalid(errors={"owner": [_("Choose an active salesperson you manage.")]})
    return person


def resolve_owner(actor: Any, owner: Any) -> User | None:
    """Who a new lead belongs to: ``...`` is the actor (a system channel: nobody); another
    colleague, or nobody (unassigned), only for those who hand leads out."""
    is_user = getattr(actor, "is_authenticated", False)
    if owner is ...:
        return _person(actor) if is_user else None
    if owner is None or owner == "":
        if is_user and not has_perm(actor, "lead.assign"):
            raise Invalid(errors={"owner": [_("Only someone who hands out leads can leave a lead unassigned.")]})
        return None
    person = _person(owner)
    if is_user and person is not None and person.pk == actor.pk:
        return person
    if is_user:
        if not has_perm(actor, "lead.assign"):
            raise Invalid(errors={"owner": [_("Only someone who hands out leads can give a lead to a colleague.")]})
        return check_assignee(actor, person)
    if person is None or not person.is_active or not person.has_role(*LEAD_ROLES):
        raise Invalid(errors={"owner": [_("Choose an active salesperson.")]})
    return person


def lead_numbers(count: int) -> list[str]:
    """``count`` lead numbers reserved at once (XS-2026-000123 …), never handed out again."""
    year = timezone.localdate().year
    return [f"XS-{year}-{n:06d}" for n in codes.reserve("lead", count)]


def detail_url(lead: Lead) -> str:
    return reverse("sales:lead-detail", args=[lead.pk])


def assigned_title(lead: Lead) -> str:
    return _("A lead was assigned to you: %(lead)s") % {"lead": f"{lead.code} {lead}"}


# --- Capture (every channel) -----------------------------------------------------------------------
@transaction.atomic
def lead_capture(*, actor: Any, source: str, data: dict[str, Any], notify_owner: bool = True,
                 code: str | None = None) -> Lead:
    """Record a new lead from any channel; the one door every channel goes through.

    ``actor``: the colleague entering it (needs ``lead.add``), or None for a system channel
    (mail, the public web form: the lead arrives unassigned unless ``owner`` names an
    active salesperson). ``source``: a ``Lead.Source`` value. ``data``: the ``EDITABLE``
    fields plus ``owner`` (a user or id; None = unassigned; absent = the actor) and
    ``products`` (catalogue ids). The owner, when not the actor, is notified (unless
    ``notify_owner`` is false: an import tells them once). ``code``: a lead number reserved
    beforehand (an import reserves its numbers in one go).
    """
    if actor is not None:
        require(actor, "lead.add")
    data = dict(data)
    unknown = set(data) - set(EDITABLE) - set(CAPTURE_EXTRA) - {"source"}
    if unknown:
        raise Invalid(errors={k: [_("This field cannot be set here.")] for k in sorted(unknown)})
    if source not in Lead.Source.values:
        raise Invalid(errors={"source": [_("Choose one of the sources.")]})
    data["source"] = source
    owner_in = data.pop("owner", ...)
    products_in = data.pop("products", ())
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    try:
        cleaned = clean(None, {k: v for k, v in data.items() if v is not None})
    except Invalid as exc:
        errors.update(exc.errors)
    owner: User | None = None
    products: list[Product] = []
    try:
        owner = resolve_owner(actor, owner_in)
    except Invalid as exc:
        errors.update(exc.errors)
    try:
        products = _products(products_in)
    except Invalid as exc:
        errors.update(exc.errors)
    raise_if(errors)
    is_user = getattr(actor, "is_authenticated", False)
    lead = Lead(**cleaned, owner=owner, department=owner.department if owner is not None else None,
                created_by=actor if is_user else None, code=code or next_code("lead", "XS"))
    if owner is not None and (not is_user or owner.pk != actor.pk):
        lead.state, lead.assigned_at = S.ASSIGNED, timezone.now()
    lead.search_text = search_text(lead)
    lead.save()
    if products:
        lead.products.set(products)
    changes = audit.creation_changes(lead, skip_empty=True)
    changes.pop("search_text", None)
    if products:
        changes["products"] = [None, [str(p) for p in products]]
    audit.record(actor=actor, action="create", obj=lead, changes=changes)
    if notify_owner and owner is not None and lead.state == S.ASSIGNED:
        notify(owner, title=assigned_title(lead), url=detail_url(lead))
    return lead


# --- Edit, delete --------------------------------------------------------------------------------
def _validate_edit(obj: Lead, changes: dict[str, Any]) -> dict[str, Any]:
    if obj.state == S.CONVERTED:
        raise Invalid(_("A converted lead cannot be changed; change the account, contact or opportunity instead."))
    return clean(obj, changes)


def refresh_search(lead: Lead) -> None:
    """Recompute the search text (a derived column: not versioned, not audited)."""
    fresh = Lead.all_objects.filter(pk=lead.pk).first()
    if fresh is not None:
        Lead.all_objects.filter(pk=lead.pk).update(search_text=search_text(fresh))


def lead_update(*, actor: Any, lead: Lead, changes: dict[str, Any], expected_version: int | None) -> Lead:
    """Change the typed fields (``EDITABLE``); owner and state change through the actions."""
    records.record_update(actor=actor, obj=lead, changes=changes, expected_version=expected_version)
    return lead


def lead_delete(*, actor: Any, lead: Lead, expected_version: int | None = None) -> Lead:
    """To the recycle bin (``lead.delete``: managers)."""
    return records.record_delete(actor=actor, obj=lead, expected_version=expected_version)  # type: ignore[return-value]


# --- Assign ----------------------------------------------------------------------------------------
def _assign_one(actor: Any, lead: Lead, owner: User, expected_version: int | None, note: str) -> None:
    if lead.state == S.CONVERTED:
        raise Invalid(_("A converted lead cannot be reassigned."))
    if lead.owner_id == owner.pk:
        raise Invalid(errors={"owner": [_("This lead already belongs to %(person)s.") % {"person": owner}]})
    state = S.ASSIGNED if lead.state in (S.NEW, S.ASSIGNED, S.WORKING) else lead.state
    records.apply_update(actor=actor, obj=lead, expected_version=expected_version, note=note, action="reassign",
                         changes={"owner": owner, "department_id": owner.department_id,
                                  "assigned_at": timezone.now(), "state": state})


@transaction.atomic
def lead_assign(*, actor: Any, lead: Lead, owner: Any, expected_version: int | None = None, note: str = "") -> Lead:
    """Give a lead to a salesperson the actor manages; the new owner is notified."""
    require(actor, "lead.assign")
    person = check_assignee(actor, owner)
    _assign_one(actor, lead, person, expected_version, note)
    if person.pk != actor.pk:
        notify(person, title=assigned_title(lead), url=detail_url(lead))
    return lead


@transaction.atomic
def lead_assign_many(*, actor: Any, leads: Iterable[Lead], owner: Any, note: str = "") -> int:
    """Give several leads (fetched through the actor's scope) to one salesperson, all or
    nothing; one notification tells the new owner how many."""
    require(actor, "lead.assign")
    person = check_assignee(actor, owner)
    leads = [lead for lead in leads if lead.owner_id != person.pk]
    if not leads:
        raise Invalid(errors={"leads": [_("Choose leads that do not already belong to %(person)s.")
                                        % {"person": person}]})
    for lead in leads:
        _assign_one(actor, lead, person, None, note)
    if person.pk != actor.pk:
        url = reverse("sales:lead-list") + f"?owner={person.pk}"
        notify(person, title=ngettext("%(n)d lead was assigned to you", "%(n)d leads were assigned to you",
                                      len(leads)) % {"n": len(leads)}, url=url)
    return len(leads)


# --- Working, qualify, disqualify ------------------------------------------------------------------
def _move(actor: Any, lead: Lead, allowed: Iterable[str], changes: dict[str, Any],
          expected_version: int | None, note: str = "") -> Lead:
    require(actor, "lead.change")
    if expected_version is not None and int(expected_version) != lead.version:
        raise Conflict()
    if lead.state not in allowed:
        raise Invalid(_("This cannot be done to a lead that is %(state)s.") % {"state": lead.get_state_display()})
    records.apply_update(actor=actor, obj=lead, changes=changes, expected_version=expected_version, note=note)
    return lead


@transaction.atomic
def lead_start_working(*, actor: Any, lead: Lead, expected_version: int | None = None) -> Lead:
    """Someone is working on it (also reopens a disqualified lead). It needs an owner."""
    if lead.owner_id is None:
        require(actor, "lead.change")
        raise Invalid(errors={"owner": [_("Assign the lead to someone first.")]})
    return _move(actor, lead, (S.NEW, S.ASSIGNED, S.DISQUALIFIED), {"state": S.WORKING, "disqualify_reason": ""},
                 expected_version)


@transaction.atomic
def lead_qualify(*, actor: Any, lead: Lead, expected_version: int | None = None) -> Lead:
    """A real prospect: ready to be converted."""
    return _move(actor, lead, (S.NEW, S.ASSIGNED, S.WORKING), {"state": S.QUALIFIED}, expected_version)


@transaction.atomic
def lead_disqualify(*, actor: Any, lead: Lead, reason: str, expected_version: int | None = None) -> Lead:
    """Not a prospect, with the reason (no budget, a competitor, a wrong number …)."""
    reason = (reason or "").strip()
    if not reason:
        require(actor, "lead.change")
        raise Invalid(errors={"reason": [_("Say why the lead is not qualified.")]})
    limit = Lead._meta.get_field("disqualify_reason").max_length or 200
    if len(reason) > limit:
        raise Invalid(errors={"reason": [_("Keep the reason under %(n)d characters.") % {"n": limit}]})
    return _move(actor, lead, OPEN_STATES, {"state": S.DISQUALIFIED, "disqualify_reason": reason},
                 expected_version, note=reason)


# --- The default pipeline ---------------------------------------------------------------------------
def default_pipeline() -> Pipeline:
    """The pipeline a converted lead's opportunity goes to: the pipeline area's canonical
    choice (the default one; on a fresh database its standard pipeline is made first)."""
    from guanxi.sales.services import pipeline as pipelines

    return pipelines.default_pipeline()


def first_open_stage(pipeline: Pipeline) -> Stage:
    stage = pipeline.stages.filter(active=True, kind=Stage.Kind.OPEN).order_by("position", "id").first()
    if stage is None:
        raise Invalid(errors={"pipeline": [_("The pipeline %(name)s has no open stage; add one first.")
                                           % {"name": pipeline.name}]})
    return stage


# --- Registration with the generic machinery (recycle bin, history) ----------------------------------
def _registered_scope(user: Any, qs: Any) -> Any:
    """History and the recycle bin: leads in the user's scope, for those who may see leads at all."""
    return lead_scope(user, qs) if has_perm(user, "lead.view") else qs.none()


registry.register(registry.Entry(
    model=Lead, perm="lead", scope=_registered_scope,
    editable=EDITABLE, detail_url=detail_url, validate=_validate_edit, after_change=refresh_search,
))
