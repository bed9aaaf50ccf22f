"""Account writes. Every one: one transaction, access checked first, audited."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.validators import ProhibitNullCharactersValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import access, audit, codes, jobs, registry
from guanxi.core.dbrouter import replica_reads
from guanxi.core.errors import Forbidden, Invalid
from guanxi.core.models import User
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.core.spreadsheet import FORMULA_START, neutralise_cell, xlsx_bytes  # noqa: F401  (re-exported)
from guanxi.customers.models import Account, Contact, CustomField, OwnershipChange
from guanxi.customers.selectors import account_scope, contact_scope

NO_NUL = ProhibitNullCharactersValidator()
EDITABLE = (
    "name", "kind", "credit_code", "phone", "email", "website", "region", "province", "city", "district", "address",
    "notes", "owner",
    # Roles (R1.2)
    "is_customer", "is_distributor", "is_supplier", "is_partner", "is_foreign",
    # Company profile (R1.3)
    "size", "operating_status", "founded_on", "industry", "business_scope", "organisation_traits", "philosophy",
    "culture", "industry_position", "prospects", "development_strategy", "credit_standing", "importance",
    # Classification (R2)
    "category", "lifecycle", "relationship_type", "value_segment", "urgency",
    # Admin-defined fields (R13.7): validated against the CustomField definitions
    "custom",
)
# Not columns: handled beside the record update (many-to-many).
EXTRA_INPUT = ("tags",)


def clean_fields(model: type[Any], obj: Any, changes: dict[str, Any], *, required: dict[str, str],
                 upper: tuple[str, ...] = (), passthrough: tuple[str, ...] = ()) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Clean user input field by field with the model's own validators.

    Text is stripped (and upper-cased for ``upper`` fields); an empty required field gets
    its message from ``required``; ``passthrough`` fields (already resolved records) are
    kept as given. Returns the cleaned values and every error at once.
    """
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in changes.items():
        if name in passthrough:
            cleaned[name] = value
            continue
        field = model._meta.get_field(name)
        if isinstance(value, str):
            value = value.strip().upper() if name in upper else value.strip()
            if value == "" and field.null:
                value = None
        try:
            if name in required and not value:
                raise ValidationError(required[name])
            if isinstance(value, str):
                # PostgreSQL cannot store NUL in text; refuse it on every database alike.
                NO_NUL(value)
            cleaned[name] = field.clean(value, obj)
        except ValidationError as exc:
            errors[name] = [str(m) for m in exc.messages]
    return cleaned, errors


def _validate(obj: Account | None, changes: dict[str, Any]) -> dict[str, Any]:
    """Clean account input; raise Invalid with every message at once."""
    from guanxi.customers.services.lists import _category, clean_custom

    changes = dict(changes)
    errors: dict[str, list[str]] = {}
    custom_in = changes.pop("custom", None) if "custom" in changes else ...
    category_in = changes.pop("category", ...)
    cleaned, field_errors = clean_fields(Account, obj, changes, required={"name": _("Enter the account's name.")},
                                         upper=("credit_code",), passthrough=("owner",))
    errors.update(field_errors)
    if category_in is not ... and obj is not None and category_in in (obj.category_id, obj.category,
                                                                     str(obj.category_id)):
        cleaned["category"] = obj.category  # unchanged: fine even if it was retired since
    elif category_in is not ...:
        try:
            cleaned["category"] = _category(category_in)
        except Invalid as exc:
            errors.update(exc.errors)
    if custom_in is not ... or obj is None:
        try:
            cleaned["custom"] = clean_custom(CustomField.Target.ACCOUNT, obj.custom if obj else {},
                                             custom_in if custom_in is not ... else {})
        except Invalid as exc:
            errors.update(exc.errors)
    if obj is None and "custom" in cleaned and not cleaned["custom"]:
        cleaned.pop("custom")
    # The region's display text follows province / city / district when those are given;
    # old clients that send only ``region`` keep working.
    if {"province", "city", "district"} & set(cleaned):
        parts = [cleaned.get(k, getattr(obj, k, "") if obj else "") for k in ("province", "city", "district")]
        derived = " ".join(p for p in parts if p)
        if derived:
            cleaned["region"] = derived
    credit = cleaned.get("credit_code")
    if credit and "credit_code" not in errors:
        clash = Account.objects.filter(credit_code=credit)
        if obj is not None:
            clash = clash.exclude(pk=obj.pk)
        if clash.exists():
            errors["credit_code"] = [_("Another account already has this credit code.")]
    if errors:
        raise Invalid(errors=errors)
    return cleaned


def _check_owner(actor: Any, owner: User | None, *, creating: bool) -> None:
    """Salespeople own what they create; only managers assign accounts to others or the pool."""
    if owner is not None and owner.pk == actor.pk:
        return
    if not has_perm(actor, "account.reassign"):
        raise Forbidden(_("Only a manager can assign an account to someone else."))
    if owner is not None and (not owner.is_active or not access.manages_user(actor, owner)):
        raise Invalid(errors={"owner": [_("Choose an active colleague you manage.")]})


def _validate_for_update(obj: Account, changes: dict[str, Any]) -> dict[str, Any]:
    cleaned = _validate(obj, changes)
    if "owner" in cleaned and cleaned["owner"] != obj.owner:
        raise Invalid(errors={"owner": [_("Use reassignment to change the owner.")]})
    return cleaned


# Called in the same transaction after an account went to the recycle bin or came back from it
# (the registry's after_bin hook): an app that derives figures from which accounts are alive (the
# sales board) recounts them. An ordinary edit does not call it. ``listener(account)``.
_ACCOUNT_LISTENERS: list[Callable[[Account], None]] = []


def register_account_listener(listener: Callable[[Account], None]) -> Callable[[Account], None]:
    _ACCOUNT_LISTENERS.append(listener)
    return listener


def _account_binned(account: Account) -> None:
    for listener in _ACCOUNT_LISTENERS:
        listener(account)


registry.register(registry.Entry(
    model=Account,
    perm="account",
    scope=lambda user, qs: account_scope(user, qs),
    editable=EDITABLE,
    detail_url=lambda obj: f"/accounts/{obj.pk}/",
    validate=_validate_for_update,
    after_bin=_account_binned,
))


@transaction.atomic
def account_create(*, actor: Any, name: str, owner: User | Any | None = ..., tags: Any = None,
                   **fields: Any) -> Account:
    if not has_perm(actor, "account.add"):
        raise Forbidden()
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise Invalid(errors={k: [_("This field cannot be set here.")] for k in sorted(unknown)})
    owner = actor if owner is ... else owner
    _check_owner(actor, owner, creating=True)
    cleaned = _validate(None, {"name": name, **fields})
    account = Account(**cleaned, owner=owner, department=owner.department if owner else None, created_by=actor)
    account.code = codes.next_customer_code()
    # A new account counts as just worked on: the pool's idle clock starts now.
    account.last_activity_at = timezone.now()
    if owner is None:
        account.pool_entered_at = account.last_activity_at
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        raise Invalid(errors={"credit_code": [_("Another account already has this credit code.")]})
    audit.record(actor=actor, action="create", obj=account, changes=audit.creation_changes(account, skip_empty=True))
    if tags:
        from guanxi.customers.services.lists import account_tags_change

        account_tags_change(actor=actor, account=account, replace=tags)
    ownership_record(account=account, from_user=None, to_user=owner, kind=OwnershipChange.Kind.CREATED, actor=actor)
    return account


def ownership_record(*, account: Account, from_user: User | None, to_user: User | None, kind: str,
                     actor: Any, reason: str = "") -> OwnershipChange:
    """Add a line to the account's ownership history (R1.8); call inside the service's transaction."""
    return OwnershipChange.objects.create(account=account, from_user=from_user, to_user=to_user, kind=kind,
                                          actor=actor if getattr(actor, "is_authenticated", False) else None,
                                          reason=reason)


@transaction.atomic
def account_update(*, actor: Any, account: Account, changes: dict[str, Any],
                   expected_version: int | None, reason: str = "") -> Any:
    """Change an account (or file a change request when it is approved under a policy).

    ``tags`` (a list of names) replaces the account's tags directly: tags are labels, not
    profile data, so they are not held for approval.
    """
    changes = dict(changes)
    tags = changes.pop("tags", None)
    if tags is not None:
        if not has_perm(actor, "account.change"):
            raise Forbidden()
        records._check_version(account, expected_version)
    result: Any = account
    if changes:
        result = records.record_update(actor=actor, obj=account, changes=changes,
                                       expected_version=expected_version, reason=reason)
    if tags is not None:
        from guanxi.customers.services.lists import account_tags_change

        account_tags_change(actor=actor, account=account, replace=tags)
    return result


# --- Export (a background job: scoped, audited, formula-injection safe) ----------------------------
EXPORT_COLUMNS: list[tuple[str, Any]] = [
    ("code", _("customer code")), ("name", _("name")), ("kind", _("kind")),
    ("credit_code", _("unified social credit code")), ("phone", _("phone")), ("email", _("e-mail")),
    ("website", _("website")), ("region", _("region")), ("province", _("province")), ("city", _("city")),
    ("district", _("district")), ("address", _("address")),
    ("is_customer", _("customer")), ("is_distributor", _("distributor")), ("is_supplier", _("supplier")),
    ("is_partner", _("partner")), ("is_foreign", _("foreign")),
    ("size", _("company size")), ("operating_status", _("operating status")), ("founded_on", _("founded on")),
    ("industry", _("industry")), ("business_scope", _("business scope")),
    ("organisation_traits", _("organisation traits")), ("philosophy", _("business philosophy")),
    ("culture", _("culture")), ("industry_position", _("industry position")), ("prospects", _("prospects")),
    ("development_strategy", _("development strategy")), ("credit_standing", _("credit standing")),
    ("importance", _("importance to us")), ("category", _("category")), ("lifecycle", _("lifecycle stage")),
    ("relationship_type", _("relationship type")), ("value_segment", _("value segment")),
    ("urgency", _("follow-up urgency")), ("tags", _("tags")), ("grade", _("grade")), ("score", _("score")),
    ("rated_at", _("rated at")), ("last_activity_at", _("last follow-up or deal")), ("owner", _("owner")),
    ("approval_state", _("approval state")), ("notes", _("notes")), ("created_at", _("created at")),
    ("updated_at", _("updated at")),
]
EXPORT_FORMATS = ("csv", "xlsx")


@transaction.atomic
def account_export_start(*, actor: Any, filters: dict[str, Any], format: str = "csv") -> Any:
    """Queue an export of the accounts the actor sees with these (already parsed) filters."""
    if not has_perm(actor, "account.export"):
        raise Forbidden()
    if format not in EXPORT_FORMATS:
        raise Invalid(errors={"format": [_("Choose CSV or Excel.")]})
    return jobs.job_start(actor=actor, kind="customers.export", params={"filters": filters, "format": format})


def _export_value(account: Account, name: str, tag_names: dict[int, list[str]]) -> Any:
    if name == "tags":
        return "、".join(tag_names.get(account.pk, []))
    value = getattr(account, name)
    if isinstance(value, bool):
        return _("yes") if value else ""
    display = getattr(account, f"get_{name}_display", None)
    if display is not None and value:
        return str(display())
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None:
        return ""
    if isinstance(value, Decimal | int | float):
        return value
    return str(value)


def _export_rows(actor: Any, filters: dict[str, Any], progress: jobs.Progress | None) -> Any:
    """Header row, then one row per visible account: every field and every custom field."""
    from guanxi.customers.selectors import account_list_for
    from guanxi.customers.selectors.lists import custom_fields

    defs = custom_fields(CustomField.Target.ACCOUNT, active_only=False)
    yield [str(label) for _name, label in EXPORT_COLUMNS] + [f.label for f in defs]
    qs = account_list_for(actor, **filters).select_related("owner", "category")
    if progress is not None:
        progress.set_total(qs.count())
    chunk: list[Account] = []

    def flush() -> Any:
        through = Account.tags.through.objects.filter(account_id__in=[a.pk for a in chunk]).values_list(
            "account_id", "tag__name")
        tag_names: dict[int, list[str]] = {}
        for account_id, tag in through:
            tag_names.setdefault(account_id, []).append(tag)
        for account in chunk:
            yield [neutralise_cell(_export_value(account, name, tag_names)) for name, _label in EXPORT_COLUMNS] + [
                neutralise_cell(account.custom.get(f.key, "")) for f in defs]
        if progress is not None:
            progress.advance(len(chunk))

    for account in qs.iterator(chunk_size=2000):
        chunk.append(account)
        if len(chunk) == 2000:
            yield from flush()
            chunk = []
    if chunk:
        yield from flush()


def export_xlsx(rows: Any) -> bytes:
    """An .xlsx file whose every text cell is a plain string: never a formula (S9)."""
    return xlsx_bytes([("accounts", rows)])


@jobs.handler("customers.export")
@replica_reads
def _export(job: Any, progress: jobs.Progress) -> dict[str, Any]:
    actor = job.created_by
    filters = dict(job.params.get("filters", {}))
    fmt = job.params.get("format", "csv")
    rows = _export_rows(actor, filters, progress)
    written = -1  # the header row is not counted
    if fmt == "xlsx":
        counted: list[Any] = []

        def counting() -> Any:
            for row in rows:
                counted.append(None)
                yield row
        content = export_xlsx(counting())
        written += len(counted)
    else:
        buffer = io.StringIO()
        buffer.write("\ufeff")  # Excel opens UTF-8 CSV with Chinese text correctly only with a BOM
        writer = csv.writer(buffer)
        for row in rows:
            writer.writerow(row)
            written += 1
        content = buffer.getvalue().encode("utf-8")
    path = default_storage.save(f"exports/accounts-{job.pk}.{fmt}", ContentFile(content))
    audit.record(actor=actor, action="export", obj=None, object_repr=f"accounts ({written})",
                 changes={"filters": filters, "format": fmt, "rows": written})
    return {"file": path, "rows": written, "format": fmt}


# --- Contacts ------------------------------------------------------------------------------
CONTACT_EDITABLE = ("name", "title", "role", "depth", "mobile", "phone", "email", "wechat", "address", "birthday",
                    "personality", "interests", "experience", "background", "preferences", "taboos", "notes",
                    "custom")


def _validate_contact(obj: Contact | None, changes: dict[str, Any]) -> dict[str, Any]:
    from guanxi.customers.services.lists import clean_custom

    changes = dict(changes)
    custom_in = changes.pop("custom", None) if "custom" in changes else ...
    cleaned, errors = clean_fields(Contact, obj, changes, required={"name": _("Enter the contact's name.")})
    if custom_in is not ... or obj is None:
        try:
            cleaned["custom"] = clean_custom(CustomField.Target.CONTACT, obj.custom if obj else {},
                                             custom_in if custom_in is not ... else {})
        except Invalid as exc:
            errors.update(exc.errors)
    if errors:
        raise Invalid(errors=errors)
    return cleaned


def account_refresh_search(account: Account) -> None:
    """Recompute an account's search text (a derived column: not versioned, not audited)."""
    Account.all_objects.filter(pk=account.pk).update(**Account.all_objects.get(pk=account.pk).derived_fields())


registry.register(registry.Entry(
    model=Contact,
    after_change=lambda contact: account_refresh_search(contact.account),
    perm="contact",
    scope=lambda user, qs: contact_scope(user, qs),
    editable=CONTACT_EDITABLE,
    detail_url=lambda obj: f"/accounts/contacts/{obj.pk}/",
    validate=_validate_contact,
))


@transaction.atomic
def contact_create(*, actor: Any, account: Account, name: str, **fields: Any) -> Contact:
    """Add a person to an account the actor can see (the caller fetched it through the scope)."""
    if not has_perm(actor, "contact.add"):
        raise Forbidden()
    unknown = set(fields) - set(CONTACT_EDITABLE)
    if unknown:
        raise Invalid(errors={k: [_("This field cannot be set here.")] for k in sorted(unknown)})
    cleaned = _validate_contact(None, {"name": name, **fields})
    contact = Contact.objects.create(account=account, created_by=actor, **cleaned)
    account_refresh_search(account)
    audit.record(actor=actor, action="create", obj=contact, changes=audit.creation_changes(contact, skip_empty=True))
    return contact


def contact_update(*, actor: Any, contact: Contact, changes: dict[str, Any], expected_version: int | None) -> Any:
    return records.record_update(actor=actor, obj=contact, changes=changes, expected_version=expected_version)
