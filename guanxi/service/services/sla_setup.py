"""Configuration of the service desk (``service.configure``): case categories and SLA policies.

A category says what a case is about, for which kind of case it is offered, whether the
reply to the customer needs a supervisor's review and who receives such cases when they
arrive without a person (the public form, mail). A policy gives the business minutes for
the first response and the resolution of a severity, for one category or as the default for
every category without its own. A category or policy that cases use is never deleted: it
is deactivated instead. Changes apply to cases received (or re-timed) afterwards.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from guanxi.core import audit, registry
from guanxi.core.errors import Conflict, Invalid
from guanxi.core.models import User
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.sales.services.common import raise_if, require
from guanxi.service.models import Case, CaseCategory, FeedbackForm, Kind, Severity, SlaPolicy

CATEGORY_EDITABLE = ("name", "kind", "needs_review", "responder", "active", "position")
POLICY_EDITABLE = ("category", "severity", "first_response_minutes", "resolution_minutes", "warn_percent", "active")
# A year of business time: longer targets are typing mistakes.
MAX_MINUTES = 365 * 24 * 60


def _unknown(changes: dict[str, Any], editable: tuple[str, ...]) -> None:
    unknown = set(changes) - set(editable)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "on", "yes"}
    return bool(value)


def _integer(value: Any, name: str, errors: dict[str, list[str]], *, minimum: int, maximum: int,
             message: str) -> int | None:
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        errors.setdefault(name, []).append(_("Enter a whole number."))
        return None
    if isinstance(value, bool) or not minimum <= number <= maximum:
        errors.setdefault(name, []).append(message)
        return None
    return number


# --- Categories ---------------------------------------------------------------------------
def _responder(value: Any, errors: dict[str, list[str]]) -> User | None:
    if value in (None, ""):
        return None
    user: User | None
    if isinstance(value, User):
        user = value
    else:
        user = User.objects.filter(pk=value).first() if str(value).isdigit() else None
    if user is None or not user.is_active:
        errors.setdefault("responder", []).append(_("Choose an active user."))
        return None
    if not has_perm(user, "case.change"):
        errors.setdefault("responder", []).append(_("The first responder must be able to handle cases."))
        return None
    return user


def _validate_category(obj: CaseCategory | None, changes: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if "name" in changes or obj is None:
        name = str(changes.get("name") or "").strip()
        if not name:
            errors.setdefault("name", []).append(_("Enter the category's name."))
        elif len(name) > 100 or "\x00" in name:
            errors.setdefault("name", []).append(_("Enter at most 100 characters."))
        elif CaseCategory.objects.filter(name=name).exclude(pk=obj.pk if obj else 0).exists():
            errors.setdefault("name", []).append(_("Another category already has this name."))
        cleaned["name"] = name
    if "kind" in changes:
        kind = str(changes.get("kind") or "")
        if kind and kind not in Kind.values:
            errors.setdefault("kind", []).append(_("Choose complaint, suggestion, service ticket or any kind."))
        cleaned["kind"] = kind
    if "responder" in changes:
        cleaned["responder"] = _responder(changes["responder"], errors)
    for name in ("needs_review", "active"):
        if name in changes:
            cleaned[name] = _flag(changes[name])
    if "position" in changes and changes["position"] not in (None, ""):
        cleaned["position"] = _integer(changes["position"], "position", errors, minimum=0, maximum=100000,
                                       message=_("Enter a number from 0 to 100000."))
    raise_if(errors)
    return cleaned


@transaction.atomic
def category_create(*, actor: Any, name: str, kind: str = "", needs_review: bool = False, responder: Any = None,
                    active: bool = True, position: int | None = None) -> CaseCategory:
    """A new case category (at the end of the list unless ``position`` says where)."""
    require(actor, "service.configure")
    cleaned = _validate_category(None, {"name": name, "kind": kind, "needs_review": needs_review,
                                        "responder": responder, "active": active, "position": position})
    if cleaned.get("position") is None:
        cleaned["position"] = (CaseCategory.objects.aggregate(m=Max("position"))["m"] or 0) + 1
    category = CaseCategory.objects.create(**cleaned)
    audit.record(actor=actor, action="create", obj=category, changes=audit.creation_changes(category))
    return category


@transaction.atomic
def category_update(*, actor: Any, category: CaseCategory, changes: dict[str, Any],
                    expected_version: int | None) -> CaseCategory:
    require(actor, "service.configure")
    _unknown(changes, CATEGORY_EDITABLE)
    changes = {k: v for k, v in changes.items() if not (k == "position" and v in (None, ""))}
    records.apply_update(actor=actor, obj=category, changes=_validate_category(category, changes),
                         expected_version=expected_version)
    return category


def category_in_use(category: CaseCategory) -> bool:
    """Cases (even in the recycle bin), policies or feedback forms point to it."""
    return (Case.all_objects.filter(category=category).exists()
            or SlaPolicy.objects.filter(category=category).exists()
            or FeedbackForm.objects.filter(category=category).exists())


def categories_in_use() -> set[int]:
    """The ids of every category that cases, policies or feedback forms use (three queries)."""
    used: set[int] = set()
    for qs in (Case.all_objects.all(), SlaPolicy.objects.all(), FeedbackForm.objects.all()):
        used |= set(qs.filter(category__isnull=False).order_by().values_list("category_id", flat=True).distinct())
    return used


@transaction.atomic
def category_delete(*, actor: Any, category: CaseCategory, expected_version: int | None = None) -> None:
    """Remove a category nothing uses; one in use can only be deactivated."""
    require(actor, "service.configure")
    if expected_version is not None and int(expected_version) != category.version:
        raise Conflict()
    if category_in_use(category):
        raise Invalid(_("Cases, SLA policies or feedback forms use this category: it cannot be deleted. "
                        "Deactivate it instead."), code="category_in_use")
    audit.record(actor=actor, action="delete", obj=category, changes=audit.creation_changes(category))
    category.delete()


# --- SLA policies -------------------------------------------------------------------------
def _category(value: Any, errors: dict[str, list[str]]) -> CaseCategory | None:
    if value in (None, ""):
        return None
    if isinstance(value, CaseCategory):
        return value
    found = CaseCategory.objects.filter(pk=value).first() if str(value).isdigit() else None
    if found is None:
        errors.setdefault("category", []).append(_("Choose an existing category."))
    return found


def _validate_policy(obj: SlaPolicy | None, changes: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if "category" in changes:
        cleaned["category"] = _category(changes["category"], errors)
    if "severity" in changes or obj is None:
        severity = str(changes.get("severity") or "")
        if severity not in Severity.values:
            errors.setdefault("severity", []).append(_("Choose a severity."))
        cleaned["severity"] = severity
    for name in ("first_response_minutes", "resolution_minutes"):
        if name in changes or obj is None:
            cleaned[name] = _integer(changes.get(name), name, errors, minimum=1, maximum=MAX_MINUTES,
                                     message=_("Enter a time of at least one minute (and at most a year)."))
    if "warn_percent" in changes:
        cleaned["warn_percent"] = _integer(changes["warn_percent"], "warn_percent", errors, minimum=1, maximum=99,
                                           message=_("Enter a percentage from 1 to 99."))
    if "active" in changes:
        cleaned["active"] = _flag(changes["active"])
    response = cleaned.get("first_response_minutes", getattr(obj, "first_response_minutes", None))
    resolution = cleaned.get("resolution_minutes", getattr(obj, "resolution_minutes", None))
    if (response and resolution and resolution < response and "resolution_minutes" not in errors
            and "first_response_minutes" not in errors):
        errors.setdefault("resolution_minutes", []).append(
            _("The resolution cannot be due before the first response."))
    if "category" not in errors and "severity" not in errors:
        category = cleaned["category"] if "category" in cleaned else getattr(obj, "category", None)
        severity = cleaned.get("severity", getattr(obj, "severity", ""))
        same = SlaPolicy.objects.filter(severity=severity, category=category).exclude(pk=obj.pk if obj else 0)
        if same.exists():
            errors.setdefault("severity", []).append(
                _("There is already a policy for this category and severity; change it instead.") if category
                else _("There is already a default policy for this severity; change it instead."))
    raise_if(errors)
    return cleaned


@transaction.atomic
def policy_create(*, actor: Any, severity: str, first_response_minutes: Any, resolution_minutes: Any,
                  category: Any = None, warn_percent: Any = 75, active: bool = True) -> SlaPolicy:
    """A policy for ``category`` (None: the default for every category without its own) and
    ``severity``; the times in business minutes, the warning at ``warn_percent`` of them."""
    require(actor, "service.configure")
    cleaned = _validate_policy(None, {"category": category, "severity": severity,
                                      "first_response_minutes": first_response_minutes,
                                      "resolution_minutes": resolution_minutes, "warn_percent": warn_percent,
                                      "active": active})
    policy = SlaPolicy.objects.create(**cleaned)
    audit.record(actor=actor, action="create", obj=policy, changes=audit.creation_changes(policy))
    return policy


@transaction.atomic
def policy_update(*, actor: Any, policy: SlaPolicy, changes: dict[str, Any],
                  expected_version: int | None) -> SlaPolicy:
    require(actor, "service.configure")
    _unknown(changes, POLICY_EDITABLE)
    records.apply_update(actor=actor, obj=policy, changes=_validate_policy(policy, changes),
                         expected_version=expected_version)
    return policy


@transaction.atomic
def policy_delete(*, actor: Any, policy: SlaPolicy, expected_version: int | None = None) -> None:
    """Remove a policy; cases timed by it keep their due times (their ``sla_policy`` empties)."""
    require(actor, "service.configure")
    if expected_version is not None and int(expected_version) != policy.version:
        raise Conflict()
    audit.record(actor=actor, action="delete", obj=policy, changes=audit.creation_changes(policy))
    policy.delete()


# --- History pages (configuration: its managers only) --------------------------------------
def _config_scope(user: Any, qs: Any) -> Any:
    return qs if has_perm(user, "service.configure") else qs.none()


registry.register(registry.Entry(model=CaseCategory, perm="service", scope=_config_scope, editable=CATEGORY_EDITABLE,
                                 detail_url=lambda obj: "/service/settings/categories/"))
registry.register(registry.Entry(model=SlaPolicy, perm="service", scope=_config_scope, editable=POLICY_EDITABLE,
                                 detail_url=lambda obj: "/service/settings/sla/"))
