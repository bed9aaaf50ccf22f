"""Public feedback forms (``/feedback/`` and ``/feedback/<slug>/``): configuration.

One form per company, channel or shop; each has its address (slug), texts, default kind
and category, and the first responder who owns what it receives. Exactly one active form is
the default served at ``/feedback/`` whenever any form is active: the first active form
becomes the default, :func:`feedback_form_set_default` moves it, and the default cannot be
deactivated while another active form could take its place (make that one the default
first). Forms are never deleted (cases point at them); they are deactivated.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from guanxi.core import audit, registry
from guanxi.core.errors import Conflict, Invalid
from guanxi.core.models import User
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.sales.services.common import raise_if, require
from guanxi.service.models import CaseCategory, Channel, FeedbackForm, Kind

FORM_EDITABLE = ("slug", "title", "intro", "kind", "category", "responder", "channel", "allow_attachments")
# Addresses below /feedback/ that other pages use or may use; a form cannot take them.
RESERVED_SLUGS = frozenset({"confirm", "confirmation", "visit", "visits", "case", "cases", "survey", "surveys",
                            "thanks", "static", "media", "admin", "api", "new", "qr", "default"})
# The channels a public form may file its cases under.
FORM_CHANNELS = (Channel.WEB, Channel.CARD, Channel.EMAIL)


def _validate(form: FeedbackForm | None, changes: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    creating = form is None
    if "slug" in changes or creating:
        raw = str(changes.get("slug") or "").strip().lower()
        slug = slugify(raw)
        if not raw:
            errors.setdefault("slug", []).append(_("Enter an address, e.g. shanghai-store."))
        elif slug != raw or len(slug) > 40:
            errors.setdefault("slug", []).append(
                _("Use at most 40 lowercase letters, digits and hyphens, e.g. shanghai-store."))
        elif slug in RESERVED_SLUGS:
            errors.setdefault("slug", []).append(_("This address is reserved; choose another."))
        elif FeedbackForm.objects.filter(slug=slug).exclude(pk=form.pk if form else 0).exists():
            errors.setdefault("slug", []).append(_("Another form already has this address."))
        cleaned["slug"] = slug
    if "title" in changes or creating:
        title = str(changes.get("title") or "").strip()
        if not title:
            errors.setdefault("title", []).append(_("Enter a title."))
        elif len(title) > 200:
            errors.setdefault("title", []).append(_("Enter at most %(n)d characters.") % {"n": 200})
        cleaned["title"] = title
    if "intro" in changes:
        intro = str(changes.get("intro") or "").strip()
        if len(intro) > 2000:
            errors.setdefault("intro", []).append(_("Enter at most %(n)d characters.") % {"n": 2000})
        cleaned["intro"] = intro
    for name in ("title", "intro", "slug"):
        if "\x00" in str(cleaned.get(name, "")):
            errors.setdefault(name, []).append(_("Null characters are not allowed."))
    kind = str(changes.get("kind") or (form.kind if form else Kind.COMPLAINT))
    if "kind" in changes or creating:
        if kind not in Kind.values:
            errors.setdefault("kind", []).append(_("Choose complaint, suggestion or service ticket."))
        cleaned["kind"] = kind
    if "channel" in changes or creating:
        channel = str(changes.get("channel") or Channel.WEB)
        if channel not in FORM_CHANNELS:
            errors.setdefault("channel", []).append(_("Choose the web form, comment cards or e-mail."))
        cleaned["channel"] = channel
    if "category" in changes:
        value = changes.get("category")
        category = None
        if value not in (None, ""):
            category = value if isinstance(value, CaseCategory) else (
                CaseCategory.objects.filter(pk=value).first() if str(value).isdigit() else None)
            if category is None or not category.active:
                errors.setdefault("category", []).append(_("Choose an active case category."))
                category = None
            elif category.kind and category.kind != kind:
                errors.setdefault("category", []).append(_("This category is for another kind of case."))
        cleaned["category"] = category
    if "responder" in changes or creating:
        value = changes.get("responder")
        responder = value if isinstance(value, User) else (
            User.objects.filter(pk=int(str(value))).first() if str(value or "").isdigit() else None)
        if responder is None or not responder.is_active or not has_perm(responder, "case.change"):
            errors.setdefault("responder", []).append(_("Choose an active colleague who handles cases."))
        cleaned["responder"] = responder
    if "allow_attachments" in changes or creating:
        cleaned["allow_attachments"] = bool(changes.get("allow_attachments", True))
    raise_if(errors)
    return cleaned


def _active_default() -> FeedbackForm | None:
    return FeedbackForm.objects.select_for_update().filter(is_default=True, active=True).first()


def _make_default(actor: Any, form: FeedbackForm) -> None:
    """Move the default mark to ``form`` (the unique constraint allows one at a time)."""
    for old in FeedbackForm.objects.select_for_update().filter(is_default=True).exclude(pk=form.pk):
        records.apply_update(actor=actor, obj=old, changes={"is_default": False}, expected_version=None)
    records.apply_update(actor=actor, obj=form, changes={"is_default": True}, expected_version=None)


@transaction.atomic
def feedback_form_create(*, actor: Any, slug: str, title: str, responder: Any, intro: str = "",
                         kind: str = Kind.COMPLAINT, category: Any = None, channel: str = Channel.WEB,
                         allow_attachments: bool = True, is_default: bool = False) -> FeedbackForm:
    """Add a public form. It becomes the default when asked, or when no active form is one."""
    require(actor, "service.configure")
    cleaned = _validate(None, {"slug": slug, "title": title, "responder": responder, "intro": intro, "kind": kind,
                               "category": category, "channel": channel, "allow_attachments": allow_attachments})
    form = FeedbackForm.objects.create(**cleaned)
    audit.record(actor=actor, action="create", obj=form, changes=audit.creation_changes(form, skip_empty=True))
    if is_default or _active_default() is None:
        _make_default(actor, form)
    return form


@transaction.atomic
def feedback_form_update(*, actor: Any, form: FeedbackForm, changes: dict[str, Any],
                         expected_version: int | None) -> FeedbackForm:
    require(actor, "service.configure")
    unknown = set(changes) - set(FORM_EDITABLE)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    if expected_version is not None and int(expected_version) != form.version:
        raise Conflict()
    cleaned = _validate(form, changes)
    records.apply_update(actor=actor, obj=form, changes=cleaned, expected_version=expected_version)
    return form


@transaction.atomic
def feedback_form_deactivate(*, actor: Any, form: FeedbackForm, expected_version: int | None = None) -> FeedbackForm:
    """Stop serving a form (its address answers "not found"; its cases stay). The default goes
    only when it is the last active form."""
    require(actor, "service.configure")
    if expected_version is not None and int(expected_version) != form.version:
        raise Conflict()
    if not form.active:
        return form
    if form.is_default and FeedbackForm.objects.filter(active=True).exclude(pk=form.pk).exists():
        raise Invalid(errors={"is_default": [
            _("This form is served at /feedback/: make another form the default first.")]})
    records.apply_update(actor=actor, obj=form, changes={"active": False, "is_default": False},
                         expected_version=expected_version, note="deactivate")
    return form


@transaction.atomic
def feedback_form_activate(*, actor: Any, form: FeedbackForm, expected_version: int | None = None) -> FeedbackForm:
    """Serve a deactivated form again (it becomes the default when no active form is one)."""
    require(actor, "service.configure")
    if expected_version is not None and int(expected_version) != form.version:
        raise Conflict()
    if form.active:
        return form
    records.apply_update(actor=actor, obj=form, changes={"active": True}, expected_version=expected_version,
                         note="activate")
    if _active_default() is None:
        _make_default(actor, form)
    return form


@transaction.atomic
def feedback_form_set_default(*, actor: Any, form: FeedbackForm,
                              expected_version: int | None = None) -> FeedbackForm:
    """Serve ``form`` at ``/feedback/`` (an active form only)."""
    require(actor, "service.configure")
    if expected_version is not None and int(expected_version) != form.version:
        raise Conflict()
    if not form.active:
        raise Invalid(errors={"is_default": [_("Activate the form before making it the default.")]})
    if not form.is_default:
        _make_default(actor, form)
    return form


def default_form() -> FeedbackForm | None:
    """The form served at ``/feedback/`` (None: the public form is not set up)."""
    return FeedbackForm.objects.filter(is_default=True, active=True).select_related("category", "responder").first()


def public_form(slug: str) -> FeedbackForm | None:
    return FeedbackForm.objects.filter(slug=slug, active=True).select_related("category", "responder").first()


# --- History pages (configuration: its managers only) --------------------------------------
def _config_scope(user: Any, qs: Any) -> Any:
    return qs if has_perm(user, "service.configure") else qs.none()


registry.register(registry.Entry(model=FeedbackForm, perm="service", scope=_config_scope, editable=FORM_EDITABLE,
                                 detail_url=lambda obj: f"/service/feedback-forms/{obj.pk}/"))
