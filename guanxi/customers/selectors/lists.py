"""Customer-file reads: lists, always scoped by the access engine first.

The account list's filters are parsed once (``parse_filters``: whitelisted keys, checked
values, a 400 for a filter on a field that does not exist or may not be read) and then
applied to an already scoped queryset (``apply_filters``). The same parsed dictionary is
what a saved view links to, what an export job re-applies and what the API receives.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from guanxi.core import access, search
from guanxi.core.errors import ServiceError
from guanxi.core.models import ApprovalState
from guanxi.customers.models import Account, AccountAttachment, Category, Contact, CustomField, SavedView, Tag

# Single-choice filters: parameter → (field, allowed values).
CHOICE_FILTERS: dict[str, tuple[str, Any]] = {
    "kind": ("kind", Account.Kind),
    "lifecycle": ("lifecycle", Account.Lifecycle),
    "relationship_type": ("relationship_type", Account.RelationshipType),
    "value_segment": ("value_segment", Account.ValueSegment),
    "urgency": ("urgency", Account.Urgency),
    "size": ("size", Account.Size),
    "operating_status": ("operating_status", Account.OperatingStatus),
    "credit_standing": ("credit_standing", Account.CreditStanding),
    "importance": ("importance", Account.Importance),
    "approval_state": ("approval_state", ApprovalState),
}
ROLE_FLAGS = {"customer": "is_customer", "distributor": "is_distributor", "supplier": "is_supplier",
              "partner": "is_partner"}
TEXT_FILTERS = ("province", "city", "district", "grade")
# Sortable columns (a whitelist: anything else is ignored by the page, refused by the API).
SORTS = ("name", "code", "grade", "score", "last_activity_at", "updated_at", "created_at", "id")
ORDERINGS = frozenset(SORTS) | frozenset(f"-{s}" for s in SORTS)
# Parameters a saved view keeps (besides cf_<key>).
VIEW_KEYS = ("q", "owner", "role", "foreign", "category", "tag", "ordering", *CHOICE_FILTERS, *TEXT_FILTERS)
MULTI_KEYS = ("role", "tag")


class BadFilter(ServiceError):
    """A filter the list cannot apply (unknown custom field, impossible value): 400 (S4)."""

    status = 400
    code = "bad_filter"


def _values(params: Mapping[str, Any], key: str) -> list[str]:
    """All values of ``key`` from a QueryDict, a dict of lists or a dict of scalars/comma lists."""
    getlist = getattr(params, "getlist", None)
    raw: Any = getlist(key) if getlist is not None else params.get(key, [])
    if isinstance(raw, str | int):
        raw = [raw]
    out: list[str] = []
    for item in raw or []:
        out += [part.strip() for part in str(item).split(",") if part.strip()]
    return out


def _one(params: Mapping[str, Any], key: str) -> str:
    values = _values(params, key) if key not in ("q",) else [str(params.get(key) or "").strip()]
    return values[-1] if values else ""


def custom_fields(target: str = CustomField.Target.ACCOUNT, *, active_only: bool = True) -> list[CustomField]:
    qs = CustomField.objects.filter(target=target)
    if active_only:
        qs = qs.filter(active=True)
    return list(qs.order_by("sort_order", "key"))


def parse_filters(user: Any, params: Mapping[str, Any], *, strict_ordering: bool = False,
                  defs: list[CustomField] | None = None) -> dict[str, Any]:
    """Turn request parameters into a clean filter dictionary (JSON-safe). Unknown plain keys
    are ignored (page, cursor …); a bad value or a custom field that does not exist raises
    BadFilter with every message at once. ``defs``: the active account custom fields, when
    the caller already has them (the list page reads them once for the filter bar too)."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    q = _one(params, "q")
    if q:
        out["q"] = q[:200]
    for key, (_field, choices) in CHOICE_FILTERS.items():
        value = _one(params, key)
        if not value:
            continue
        if value not in choices.values:
            errors[key] = [_("Unknown value “%(value)s”.") % {"value": value}]
        else:
            out[key] = value
    for key in TEXT_FILTERS:
        value = _one(params, key)
        if value:
            out[key] = value[:32]
    roles = _values(params, "role")
    bad = [r for r in roles if r not in ROLE_FLAGS]
    if bad:
        errors["role"] = [_("Unknown value “%(value)s”.") % {"value": bad[0]}]
    elif roles:
        out["role"] = sorted(set(roles))
    foreign = _one(params, "foreign")
    if foreign in ("1", "true", "yes"):
        out["foreign"] = True
    elif foreign in ("0", "false", "no"):
        out["foreign"] = False
    owner = _one(params, "owner")
    if owner:
        if owner == "none":
            out["owner"] = "none"
        elif owner == "me":
            out["owner"] = int(user.pk)
        elif owner.isdigit():
            out["owner"] = int(owner)
        else:
            errors["owner"] = [_("Unknown value “%(value)s”.") % {"value": owner}]
    category = _one(params, "category")
    if category:
        if category.isdigit():
            out["category"] = int(category)
        else:
            errors["category"] = [_("Unknown value “%(value)s”.") % {"value": category}]
    tags = _values(params, "tag")
    if tags:
        out["tag"] = sorted(set(t[:50] for t in tags))
    by_key: dict[str, CustomField] | None = None  # read only when a cf_<key> asks for it
    custom: dict[str, str] = {}
    keys = params.keys() if hasattr(params, "keys") else []
    for key in keys:
        if not key.startswith("cf_"):
            continue
        value = _one(params, key)
        if not value:
            continue
        if by_key is None:
            by_key = {f.key: f for f in (custom_fields() if defs is None else defs)}
        name = key[3:]
        field = by_key.get(name)
        if field is None:
            errors[key] = [_("There is no custom field “%(key)s” to filter on.") % {"key": name}]
            continue
        if field.type == CustomField.Type.NUMBER:
            try:
                Decimal(value)
            except InvalidOperation:
                errors[key] = [_("Enter a number.")]
                continue
        elif field.type == CustomField.Type.DATE:
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                errors[key] = [_("Enter a date as YYYY-MM-DD.")]
                continue
        elif field.type == CustomField.Type.CHOICE and value not in field.choices:
            errors[key] = [_("Unknown value “%(value)s”.") % {"value": value}]
            continue
        custom[name] = value[:200]
    if custom:
        out["custom"] = custom
    ordering = _one(params, "ordering")
    if ordering:
        if ordering in ORDERINGS:
            out["ordering"] = ordering
        elif strict_ordering:
            errors["ordering"] = [_("The list cannot be sorted by “%(value)s”.") % {"value": ordering}]
    if errors:
        raise BadFilter(_("Some filters cannot be applied."), errors=errors)
    return out


def apply_filters(qs: QuerySet[Account], filters: Mapping[str, Any]) -> QuerySet[Account]:
    """Filter an already scoped account queryset. Keeps to the indexed columns; tags and the
    category subtree are subqueries, never joins, so counts stay cheap."""
    from guanxi.customers.selectors import search_matches

    if filters.get("q"):
        qs = qs.filter(search_matches(search.normalise(filters["q"])))
    for key, (field, _choices) in CHOICE_FILTERS.items():
        if filters.get(key):
            qs = qs.filter(**{field: filters[key]})
    for name in TEXT_FILTERS:
        if filters.get(name):
            qs = qs.filter(**{name: filters[name]})
    for role in filters.get("role") or ():
        if role in ROLE_FLAGS:
            qs = qs.filter(**{ROLE_FLAGS[role]: True})
    if "foreign" in filters and filters["foreign"] is not None:
        qs = qs.filter(is_foreign=bool(filters["foreign"]))
    owner = filters.get("owner")
    if owner == "none":
        qs = qs.filter(owner__isnull=True)
    elif owner:
        qs = qs.filter(owner_id=int(owner))
    if filters.get("category"):
        root = Category.objects.filter(pk=filters["category"]).values_list("path", flat=True).first()
        if root is None:
            return qs.none()
        qs = qs.filter(category_id__in=Category.objects.filter(path__startswith=root).values("pk"))
    if filters.get("tag"):
        through = Account.tags.through.objects.filter(tag__name__in=filters["tag"]).values("account_id")
        qs = qs.filter(pk__in=through)
    if filters.get("custom"):
        # JSON key lookups (SQLite and PostgreSQL alike). Keys are validated slugs that can
        # never be a lookup name (services.lists.KEY_RE, RESERVED_KEYS).
        defs = {f.key: f for f in custom_fields()}
        for key, value in sorted(filters["custom"].items()):
            definition = defs.get(key)
            if definition is None:
                return qs.none()
            if definition.type == CustomField.Type.NUMBER:
                number = Decimal(value)
                qs = qs.filter(**{f"custom__{key}": int(number) if number == number.to_integral_value()
                                  else float(number)})
            elif definition.type == CustomField.Type.TEXT:
                qs = qs.filter(**{f"custom__{key}__icontains": value})
            else:
                qs = qs.filter(**{f"custom__{key}": value})
    return qs


def ordering_of(filters: Mapping[str, Any]) -> tuple[str, ...]:
    ordering = filters.get("ordering") or "-id"
    if ordering not in ORDERINGS:
        ordering = "-id"
    return (ordering,) if ordering.lstrip("-") == "id" else (ordering, "-id")


def view_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a request a saved view keeps: {key: value or [values]}, nothing else."""
    out: dict[str, Any] = {}
    keys = list(VIEW_KEYS) + [k for k in (params.keys() if hasattr(params, "keys") else []) if k.startswith("cf_")]
    for key in keys:
        if key in MULTI_KEYS:
            values = _values(params, key)
            if values:
                out[key] = values
        else:
            value = _one(params, key)
            if value and not (key == "ordering" and value == "-id"):  # the default sort is not kept
                out[key] = value[:200]
    return out


def saved_views_for(user: Any) -> QuerySet[SavedView]:
    return SavedView.objects.filter(user_id=user.pk).order_by("name")


def people_choices(user: Any) -> list[tuple[int, str]]:
    """The active people whose accounts ``user`` sees, as ``(pk, label)`` (none for those
    who see only their own): the owner filter and the bulk reassignment offer these."""
    from guanxi.core.models import User

    vis = access.visibility_for(user)
    if not (vis.everything or vis.department_ids or len(vis.owner_ids) > 1):
        return []
    users = User.objects.filter(is_active=True)
    if not vis.everything:
        users = users.filter(Q(pk__in=vis.owner_ids) | Q(department_id__in=vis.department_ids))
    # The label is User.__str__: the name, else the user name.
    return [(pk, name or username) for pk, username, name
            in users.order_by("username").values_list("id", "username", "name")[:500]]


def filter_choices(user: Any, *, defs: list[CustomField] | None = None) -> dict[str, Any]:
    """What the filter bar offers: categories, tags, grades, people (for those who see others).

    People come as ``(pk, label)`` pairs and categories carry ``indented`` (the name after
    one ideographic space per level), so the page renders its selects without touching a
    model per option."""
    from guanxi.customers.models import Grade

    categories = list(Category.objects.filter(active=True).order_by("path", "sort_order", "name")
                      .only("id", "name", "path"))
    for c in categories:
        c.indented = "\u3000" * max(c.path.count("/") - 2, 0) + c.name  # type: ignore[attr-defined]
    return {
        "categories": categories,
        "all_tags": list(Tag.objects.order_by("name").values_list("name", flat=True)[:500]),
        "grades": list(Grade.objects.values_list("code", flat=True)),
        "people": people_choices(user),
        "custom_defs": custom_fields() if defs is None else defs,
    }


def account_attachments(user: Any, account: Account) -> QuerySet[AccountAttachment]:
    """Live attachments of an account the caller already fetched through the scope."""
    return AccountAttachment.objects.filter(account=account).select_related("uploaded_by")


def attachment_scope(user: Any, queryset: QuerySet[AccountAttachment] | None = None) -> QuerySet[AccountAttachment]:
    """Attachments are visible exactly when their account is (and it is not deleted)."""
    qs = AccountAttachment.objects.all() if queryset is None else queryset
    return access.visible(user, qs.filter(account__deleted_at__isnull=True),
                          owner_field="account__owner", department_field="account__department")


def custom_values(record: Any, target: str) -> list[tuple[CustomField, Any]]:
    """(definition, value) of every custom field with a value, in the administrator's order."""
    return [(f, record.custom.get(f.key)) for f in custom_fields(target, active_only=False)
            if record.custom.get(f.key) not in (None, "")]


def account_panel(user: Any, account: Account) -> dict[str, Any]:
    """Context for this area's part of the account 360 page (customers/_panel_lists.html)."""
    return {
        "attachments": list(account_attachments(user, account)),
        "attachment_kinds": AccountAttachment.Kind.choices,
        "custom_values": custom_values(account, CustomField.Target.ACCOUNT),
    }


def contact_list_filtered(user: Any, params: Mapping[str, Any]) -> QuerySet[Contact]:
    """The contact list: scoped, then searched by name or mobile and filtered by depth, role, account."""
    from guanxi.customers.selectors import contact_list_for

    depth = _one(params, "depth")
    role = _one(params, "role")
    account = _one(params, "account")
    ordering = _one(params, "ordering")
    errors: dict[str, list[str]] = {}
    if depth and depth not in Contact.Depth.values:
        errors["depth"] = [_("Unknown value “%(value)s”.") % {"value": depth}]
    if role and role not in Contact.Role.values:
        errors["role"] = [_("Unknown value “%(value)s”.") % {"value": role}]
    if account and not account.isdigit():
        errors["account"] = [_("Unknown value “%(value)s”.") % {"value": account}]
    if errors:
        raise BadFilter(_("Some filters cannot be applied."), errors=errors)
    return contact_list_for(user, account=int(account) if account else None, q=_one(params, "q"),
                            depth=depth, role=role, ordering=ordering)
