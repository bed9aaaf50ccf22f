"""Account writes. Every one: one transaction, access checked first, audited."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import access, audit, codes, jobs, registry
from guanxi.core.errors import Forbidden, Invalid
from guanxi.core.models import User
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.customers.models import Account, Contact, OwnershipChange
from guanxi.customers.selectors import account_scope, contact_scope

EDITABLE = ("name", "kind", "credit_code", "phone", "region", "address", "notes", "owner")


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
            cleaned[name] = field.clean(value, obj)
        except ValidationError as exc:
            errors[name] = [str(m) for m in exc.messages]
    return cleaned, errors


def _validate(obj: Account | None, changes: dict[str, Any]) -> dict[str, Any]:
    """Clean account input; raise Invalid with every message at once."""
    cleaned, errors = clean_fields(Account, obj, changes, required={"name": _("Enter the account's name.")},
                                   upper=("credit_code",), passthrough=("owner",))
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


registry.register(registry.Entry(
    model=Account,
    perm="account",
    scope=lambda user, qs: account_scope(user, qs),
    editable=EDITABLE,
    detail_url=lambda obj: f"/accounts/{obj.pk}/",
    validate=_validate_for_update,
))


@transaction.atomic
def account_create(*, actor: Any, name: str, owner: User | Any | None = ..., **fields: Any) -> Account:
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
    ownership_record(account=account, from_user=None, to_user=owner, kind=OwnershipChange.Kind.CREATED, actor=actor)
    return account


def ownership_record(*, account: Account, from_user: User | None, to_user: User | None, kind: str,
                     actor: Any, reason: str = "") -> OwnershipChange:
    """Add a line to the account's ownership history (R1.8); call inside the service's transaction."""
    return OwnershipChange.objects.create(account=account, from_user=from_user, to_user=to_user, kind=kind,
                                          actor=actor if getattr(actor, "is_authenticated", False) else None,
                                          reason=reason)


def account_update(*, actor: Any, account: Account, changes: dict[str, Any],
                   expected_version: int | None, reason: str = "") -> Any:
    return records.record_update(actor=actor, obj=account, changes=changes,
                                 expected_version=expected_version, reason=reason)


# --- Export (a background job: scoped, audited, formula-injection safe) ----------------------------
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\0", "＝", "＋", "－", "＠")


def neutralise_cell(value: Any) -> Any:
    """Prefix a quote to text a spreadsheet would run as a formula (S9)."""
    if isinstance(value, str) and value and (value.lstrip(" ").startswith(FORMULA_START) or value[0] in FORMULA_START):
        return "'" + value
    return value


EXPORT_COLUMNS = [("code", _("customer code")), ("name", _("name")), ("kind", _("kind")),
                  ("credit_code", _("unified social credit code")), ("phone", _("phone")),
                  ("region", _("region")), ("owner", _("owner")), ("approval_state", _("approval state"))]


@transaction.atomic
def account_export_start(*, actor: Any, filters: dict[str, Any]) -> Any:
    if not has_perm(actor, "account.export"):
        raise Forbidden()
    return jobs.job_start(actor=actor, kind="customers.export", params={"filters": filters})


@jobs.handler("customers.export")
def _export(job: Any, progress: jobs.Progress) -> dict[str, Any]:
    from guanxi.customers.selectors import account_list_for

    actor = job.created_by
    qs = account_list_for(actor, **job.params.get("filters", {}))
    progress.set_total(qs.count())
    buffer = io.StringIO()
    buffer.write("\ufeff")  # Excel opens UTF-8 CSV with Chinese text correctly only with a BOM
    writer = csv.writer(buffer)
    writer.writerow([str(label) for _name, label in EXPORT_COLUMNS])
    written = 0
    for account in qs.iterator(chunk_size=2000):
        writer.writerow([neutralise_cell(str(getattr(account, name) or "")) for name, _label in EXPORT_COLUMNS])
        written += 1
        if written % 2000 == 0:
            progress.advance(2000)
    progress.advance(written % 2000)
    path = default_storage.save(f"exports/accounts-{job.pk}.csv", ContentFile(buffer.getvalue().encode("utf-8")))
    audit.record(actor=actor, action="export", obj=None, object_repr=f"accounts ({written})",
                 changes={"filters": job.params.get("filters", {}), "rows": written})
    return {"file": path, "rows": written}


# --- Contacts ------------------------------------------------------------------------------
CONTACT_EDITABLE = ("name", "title", "role", "depth", "mobile", "phone", "email", "wechat", "address", "birthday",
                    "personality", "interests", "experience", "background", "preferences", "taboos", "notes")


def _validate_contact(obj: Contact | None, changes: dict[str, Any]) -> dict[str, Any]:
    cleaned, errors = clean_fields(Contact, obj, changes, required={"name": _("Enter the contact's name.")})
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
