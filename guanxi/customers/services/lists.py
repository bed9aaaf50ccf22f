"""Customer-file writes: lists. Every one: one transaction, access checked first, audited.

Custom field definitions and values (R13.7), tags on accounts, saved views (R13.6), bulk
edit (approved records under an approval policy are skipped and counted: a bulk change
never files dozens of change requests), attachments (R1.7, upload rules S12).

This module must not import ``guanxi.customers.services`` at module level (that package
imports this one).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import ProhibitNullCharactersValidator
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from guanxi.core import audit, registry
from guanxi.core.errors import Forbidden, Invalid, NotFound
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.customers.models import Account, AccountAttachment, Category, CustomField, SavedView, Tag

# --- Custom fields (R13.7) ----------------------------------------------------------------------
KEY_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
RESERVED_KEYS = frozenset({"contains", "contained_by", "has_key", "has_keys", "has_any_keys", "exact", "iexact",
                           "isnull", "in", "startswith", "icontains", "lt", "lte", "gt", "gte", "regex"})
TEXT_MAX = 1000
CUSTOMFIELD_EDITABLE = ("label", "choices", "required", "active", "sort_order")


NO_NUL = ProhibitNullCharactersValidator()


def clean_custom(target: str, current: dict[str, Any] | None, incoming: dict[str, Any] | None, *,
                 check_required: bool = True) -> dict[str, Any]:
    """Validate ``incoming`` custom values against the active definitions and merge them
    into ``current``. Empty values remove the key. Raises Invalid keyed ``cf_<key>``."""
    defs = {f.key: f for f in CustomField.objects.filter(target=target, active=True)}
    merged = dict(current or {})
    errors: dict[str, list[str]] = {}
    if incoming is not None and not isinstance(incoming, dict):
        raise Invalid(errors={"custom": [_("Custom fields must be an object of field keys and values.")]})
    for key, value in (incoming or {}).items():
        field = defs.get(key)
        if field is None:
            errors[f"cf_{key}"] = [_("There is no custom field “%(key)s”.") % {"key": key}]
            continue
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            merged.pop(key, None)
            continue
        try:
            if isinstance(value, str):
                NO_NUL(value)
            merged[key] = _clean_value(field, value)
        except ValueError as exc:
            errors[f"cf_{key}"] = [str(exc)]
        except ValidationError as exc:
            errors[f"cf_{key}"] = [str(m) for m in exc.messages]
    if check_required:
        for key, field in defs.items():
            if field.required and merged.get(key) in (None, "") and f"cf_{key}" not in errors:
                errors[f"cf_{key}"] = [_("%(label)s is required.") % {"label": field.label}]
    if errors:
        raise Invalid(errors=errors)
    return merged


def _clean_value(field: CustomField, value: Any) -> Any:
    if field.type == CustomField.Type.NUMBER:
        if isinstance(value, bool):
            raise ValueError(_("Enter a number."))
        try:
            number = Decimal(str(value).replace(",", ""))
        except InvalidOperation:
            raise ValueError(_("Enter a number.")) from None
        if not number.is_finite() or abs(number) >= Decimal("1e15"):
            raise ValueError(_("Enter a number."))
        if number == number.to_integral_value():
            return int(number)
        as_float = float(number)
        if math.isinf(as_float):
            raise ValueError(_("Enter a number."))
        return as_float
    if field.type == CustomField.Type.DATE:
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, dt.date):
            return value.isoformat()
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise ValueError(_("Enter a date as YYYY-MM-DD.")) from None
    if field.type == CustomField.Type.CHOICE:
        if str(value) not in field.choices:
            raise ValueError(_("Choose one of: %(choices)s.") % {"choices": "、".join(map(str, field.choices))})
        return str(value)
    text = str(value)
    if len(text) > TEXT_MAX:
        raise ValueError(_("At most %(n)d characters.") % {"n": TEXT_MAX})
    return text


def _clean_definition(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out = dict(data)
    if creating:
        key = str(out.get("key", "")).strip().lower()
        if not KEY_RE.match(key) or len(key) > 50 or key in RESERVED_KEYS:
            errors["key"] = [_("Use lowercase letters, digits and single underscores, starting with a letter.")]
        out["key"] = key
        if out.get("target") not in CustomField.Target.values:
            errors["target"] = [_("Choose accounts or contacts.")]
        if out.get("type") not in CustomField.Type.values:
            errors["type"] = [_("Choose text, number, date or choice.")]
    if "label" in out:
        out["label"] = str(out["label"] or "").strip()
        if not out["label"]:
            errors["label"] = [_("Enter a label.")]
    if "choices" in out:
        raw = out["choices"]
        if isinstance(raw, str):
            raw = raw.splitlines()
        choices = [str(c).strip()[:100] for c in raw or [] if str(c).strip()]
        out["choices"] = list(dict.fromkeys(choices))
    field_type = out.get("type")
    if field_type == CustomField.Type.CHOICE and not out.get("choices"):
        errors["choices"] = [_("A choice field needs at least one choice (one per line).")]
    if errors:
        raise Invalid(errors=errors)
    return out


@transaction.atomic
def customfield_create(*, actor: Any, target: str, key: str, label: str, type: str,
                       choices: Iterable[str] | str = (), required: bool = False, active: bool = True,
                       sort_order: int = 0) -> CustomField:
    if not has_perm(actor, "customfield.manage"):
        raise Forbidden()
    data = _clean_definition({"target": target, "key": key, "label": label, "type": type,
                              "choices": list(choices) if not isinstance(choices, str) else choices},
                             creating=True)
    if data["type"] != CustomField.Type.CHOICE:
        data["choices"] = []
    if CustomField.objects.filter(target=data["target"], key=data["key"]).exists():
        raise Invalid(errors={"key": [_("A custom field with this key already exists.")]})
    try:
        with transaction.atomic():
            field = CustomField.objects.create(**data, required=required, active=active, sort_order=sort_order)
    except IntegrityError:
        raise Invalid(errors={"key": [_("A custom field with this key already exists.")]}) from None
    audit.record(actor=actor, action="create", obj=field, changes=audit.creation_changes(field))
    return field


@transaction.atomic
def customfield_update(*, actor: Any, field: CustomField, changes: dict[str, Any],
                       expected_version: int | None) -> CustomField:
    """Change a definition. The key, record type and type never change once created (values
    are stored under the key); retire a field with ``active = False`` instead of deleting it."""
    if not has_perm(actor, "customfield.manage"):
        raise Forbidden()
    fixed = {"key", "target", "type"} & set(changes)
    fixed = {name for name in fixed if changes[name] != getattr(field, name)}
    if fixed:
        raise Invalid(errors={name: [_("This cannot be changed once the field exists.")] for name in sorted(fixed)})
    unknown = set(changes) - set(CUSTOMFIELD_EDITABLE) - {"key", "target", "type"}
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    data = _clean_definition({"type": field.type, **{k: v for k, v in changes.items() if k in CUSTOMFIELD_EDITABLE}},
                             creating=False)
    data.pop("type")
    if field.type != CustomField.Type.CHOICE:
        data.pop("choices", None)
    records.apply_update(actor=actor, obj=field, changes=data, expected_version=expected_version)
    return field


# --- Tags on accounts ------------------------------------------------------------------------------
def clean_tag_names(names: Iterable[Any] | str | None) -> list[str]:
    if names is None:
        return []
    if isinstance(names, str):
        names = re.split(r"[,，;；\n]", names)
    out: list[str] = []
    for name in names:
        text = unicodedata.normalize("NFKC", str(name)).strip()[:50]
        if text and text not in out:
            out.append(text)
    return out


def tags_for_names(names: list[str]) -> list[Tag]:
    """The tags with these names, created on first use (tags are free labels)."""
    existing = {t.name: t for t in Tag.objects.filter(name__in=names)}
    for name in names:
        if name not in existing:
            existing[name], _created = Tag.objects.get_or_create(name=name)
    return [existing[n] for n in names]


def account_tags_change(*, actor: Any, account: Account, add: Iterable[str] = (), remove: Iterable[str] = (),
                        replace: Iterable[str] | None = None) -> bool:
    """Add/remove (or replace) an account's tags; one audit row when anything changed.

    The caller checked the rights and fetched the account through the scope. Tags are
    labels, not profile data: they change directly even on an approved account.
    """
    before = sorted(account.tags.values_list("name", flat=True))
    if replace is not None:
        wanted = clean_tag_names(replace)
        after = sorted(wanted)
    else:
        after = sorted((set(before) | set(clean_tag_names(add))) - set(clean_tag_names(remove)))
    if after == before:
        return False
    account.tags.set(tags_for_names(after))
    audit.record(actor=actor, action="update", obj=account, changes={"tags": [before, after]})
    return True


# --- Bulk edit (R13.6 lists) ---------------------------------------------------------------------
BULK_FIELDS = ("lifecycle", "relationship_type", "value_segment", "urgency", "category")
BULK_MAX = 500


@transaction.atomic
def account_bulk_update(*, actor: Any, ids: Iterable[Any], changes: dict[str, Any]) -> dict[str, int]:
    """Apply the same change to many accounts.

    Every record is fetched through the actor's scope (hidden ones count as ``missing``) and
    changed through the same validation, optimistic locking and audit as a single edit:
    one audit row per changed record. Approved accounts under an approval policy are skipped
    and counted (``skipped_approval``): each needs its own change request from its page.
    ``changes`` may hold BULK_FIELDS plus ``tags_add`` / ``tags_remove`` (lists of names).
    """
    from guanxi.customers.services import clean_fields

    if not has_perm(actor, "account.change"):
        raise Forbidden()
    id_list = sorted({int(i) for i in ids if str(i).isdigit()})
    if not id_list:
        raise Invalid(_("Select at least one account."))
    if len(id_list) > BULK_MAX:
        raise Invalid(_("Select at most %(n)d accounts at a time.") % {"n": BULK_MAX})
    changes = dict(changes)
    tags_add = clean_tag_names(changes.pop("tags_add", None))
    tags_remove = clean_tag_names(changes.pop("tags_remove", None))
    unknown = set(changes) - set(BULK_FIELDS)
    if unknown:
        raise Invalid(errors={k: [_("This field cannot be changed here.")] for k in sorted(unknown)})
    if "category" in changes:
        changes["category"] = _category(changes["category"])
    fields = {k: v for k, v in changes.items() if v not in (None, "") or k == "category"}
    if not fields and not tags_add and not tags_remove:
        raise Invalid(_("Choose at least one change."))
    category = fields.pop("category", ...)
    cleaned, errors = clean_fields(Account, None, fields, required={})
    if errors:
        raise Invalid(errors=errors)
    if category is not ...:
        cleaned["category"] = category
    from guanxi.customers.selectors import account_scope

    accounts = list(account_scope(actor).filter(pk__in=id_list))
    result = {"updated": 0, "unchanged": 0, "skipped_approval": 0, "missing": len(id_list) - len(accounts)}
    for account in accounts:
        if cleaned and records.needs_change_request(account):
            result["skipped_approval"] += 1
            continue
        changed = bool(cleaned) and bool(records.apply_update(actor=actor, obj=account, changes=cleaned,
                                                              expected_version=None, note="bulk edit"))
        if tags_add or tags_remove:
            changed = account_tags_change(actor=actor, account=account, add=tags_add, remove=tags_remove) or changed
        result["updated" if changed else "unchanged"] += 1
    return result


def _category(value: Any) -> Category | None:
    if value in (None, "", 0):
        return None
    if isinstance(value, Category):
        return value
    try:
        return Category.objects.get(pk=int(value), active=True)
    except (Category.DoesNotExist, ValueError, TypeError):
        raise Invalid(errors={"category": [_("Choose an active category.")]}) from None


# --- Saved views (R13.6) --------------------------------------------------------------------------
@transaction.atomic
def saved_view_create(*, actor: Any, name: str, params: dict[str, Any]) -> SavedView:
    """Save the current filters and sort under a name, for the actor only (same name: replaced)."""
    from guanxi.customers.selectors.lists import parse_filters, view_params

    if not has_perm(actor, "account.view"):
        raise Forbidden()
    name = (name or "").strip()[:100]
    if not name:
        raise Invalid(errors={"name": [_("Give the view a name.")]})
    kept = view_params(params)
    parse_filters(actor, kept)  # refuses what the list would refuse
    view, created = SavedView.objects.update_or_create(user=actor, name=name, defaults={"params": kept})
    audit.record(actor=actor, action="create" if created else "update", obj=view, changes={"params": [None, kept]})
    return view


@transaction.atomic
def saved_view_delete(*, actor: Any, view_id: int) -> None:
    view = SavedView.objects.filter(pk=view_id, user_id=actor.pk).first()
    if view is None:
        raise NotFound()
    audit.record(actor=actor, action="delete", obj=view)
    view.delete()


# --- Attachments (R1.7, S12) --------------------------------------------------------------------
# Extension → (content type served, accepted leading bytes; None = text checked below).
ALLOWED_TYPES: dict[str, tuple[str, tuple[bytes, ...] | None]] = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    "webp": ("image/webp", (b"RIFF",)),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (b"PK\x03\x04",)),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", (b"PK\x03\x04",)),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", (b"PK\x03\x04",)),
    "xls": ("application/vnd.ms-excel", (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)),
    "doc": ("application/msword", (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)),
    "txt": ("text/plain; charset=utf-8", None),
    "csv": ("text/csv; charset=utf-8", None),
}
# Never accepted anywhere in a name, so x.html.pdf and x.pdf.html both fail.
DANGEROUS_EXTENSIONS = frozenset({
    "html", "htm", "xhtml", "shtml", "svg", "svgz", "xml", "xsl", "js", "mjs", "hta", "exe", "com", "bat", "cmd",
    "sh", "ps1", "vbs", "jar", "msi", "scr", "php", "phtml", "jsp", "asp", "aspx", "cgi", "pl", "py", "swf", "dll",
})
MARKUP_SNIFF = (b"<!doctype", b"<html", b"<script", b"<svg", b"<?xml", b"<body", b"<iframe", b"<head")
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f\"\\/]")


def attachment_max_bytes() -> int:
    return int(getattr(settings, "GUANXI_ATTACHMENT_MAX_BYTES", DEFAULT_MAX_BYTES))


def check_upload(upload: UploadedFile | None, *, max_bytes: int | None = None) -> tuple[str, str, int]:
    """Check an upload against the S12 rules and return (display name, extension, size), or raise
    Invalid with a message on ``file``: a plain name with an allowed extension and no dangerous one
    anywhere in it, not empty, at most ``max_bytes`` (default: ``GUANXI_ATTACHMENT_MAX_BYTES``), and
    content that matches the extension. Every app that stores a user's file calls this first."""
    if upload is None:
        raise Invalid(errors={"file": [_("Choose a file.")]})
    name, ext = _check_name(upload.name or "")
    size = int(upload.size or 0)
    if size <= 0:
        raise Invalid(errors={"file": [_("The file is empty.")]})
    limit = attachment_max_bytes() if max_bytes is None else max_bytes
    if size > limit:
        raise Invalid(errors={"file": [_("The file is larger than %(mb)s MB.") % {"mb": round(limit / 1048576, 1)}]})
    _sniff(upload, ext)
    return name, ext, size


def _check_name(raw: str) -> tuple[str, str]:
    """Return (sanitised display name, extension) or raise Invalid."""
    name = unicodedata.normalize("NFC", raw or "")
    if not name or "/" in name or "\\" in name or ".." in name or name.startswith("."):
        raise Invalid(errors={"file": [_("This file name is not allowed; rename the file and try again.")]})
    name = _CONTROL.sub("", name).strip()[:200]
    parts = name.lower().split(".")
    if len(parts) < 2 or not parts[-1]:
        raise Invalid(errors={"file": [_("The file needs an extension such as .pdf or .jpg.")]})
    ext = parts[-1]
    if any(p.strip() in DANGEROUS_EXTENSIONS for p in parts[1:]):
        raise Invalid(errors={"file": [_("Files of this type cannot be uploaded.")]})
    if ext not in ALLOWED_TYPES:
        raise Invalid(errors={"file": [_("Allowed file types: %(types)s.") % {
            "types": ", ".join(sorted(ALLOWED_TYPES))}]})
    return name, ext


def _sniff(upload: UploadedFile, ext: str) -> None:
    upload.seek(0)
    head = upload.read(4096)
    upload.seek(0)
    magic = ALLOWED_TYPES[ext][1]
    lowered = head.lstrip().lower()
    if magic is not None:
        ok = any(head.startswith(m) for m in magic)
        if ext == "webp":
            ok = ok and head[8:12] == b"WEBP"
    else:
        ok = b"\x00" not in head and not any(tag in lowered for tag in MARKUP_SNIFF)
    if not ok:
        raise Invalid(errors={"file": [_("The file's content does not match its extension.")]})


@transaction.atomic
def attachment_upload(*, actor: Any, account: Account, upload: UploadedFile,
                      kind: str = AccountAttachment.Kind.OTHER) -> AccountAttachment:
    """Attach a file to an account the actor fetched through the scope (S12 upload rules)."""
    if not has_perm(actor, "account.change"):
        raise Forbidden()
    if kind not in AccountAttachment.Kind.values:
        raise Invalid(errors={"kind": [_("Choose the kind of file.")]})
    name, ext, size = check_upload(upload)
    attachment = AccountAttachment(account=account, kind=kind, original_name=name,
                                   content_type=ALLOWED_TYPES[ext][0], size=size, uploaded_by=actor)
    # The stored name is random (models.attachment_path); the user's name is only data.
    attachment.file.save("upload", upload, save=False)
    attachment.save()
    audit.record(actor=actor, action="create", obj=attachment,
                 changes=audit.creation_changes(attachment, ["kind", "original_name", "content_type", "size"]))
    return attachment


@transaction.atomic
def attachment_delete(*, actor: Any, attachment: AccountAttachment) -> AccountAttachment:
    """To the recycle bin (needs ``account.delete``: managers, not salespeople)."""
    return records.record_delete(actor=actor, obj=attachment)  # type: ignore[return-value]


def _attachment_scope(user: Any, qs: Any) -> Any:
    from guanxi.customers.selectors.lists import attachment_scope

    return attachment_scope(user, qs)


registry.register(registry.Entry(
    model=AccountAttachment, perm="account", scope=_attachment_scope,
    detail_url=lambda obj: f"/accounts/{obj.account_id}/",
))
