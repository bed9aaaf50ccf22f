"""Product and service improvements (R5.5): what suggestions and complaints lead to, and telling
the customers when one ships.

An improvement moves (``improvement.manage``)::

    proposed → planned → in progress → shipped
        ↑  ↖_____|           |
        |                    ↓
        └──── rejected ←─────┘  (from proposed, planned or in progress; reconsidered → proposed)

Suggestions and complaints are linked to it (``Case.improvement``): by whoever manages
improvements, or by the case's owner; the case must be one the actor sees. Shipping
(:func:`improvement_ship`) records the release note and the day, then for every linked case
writes a ``CaseEvent`` IMPROVEMENT, notifies its owner and, when the sender wanted a reply and
left an address, queues one e-mail per address after commit. Each mail is recorded
(``ImprovementMail``, unique per improvement and address) in the transaction that sends it,
so a retried job never mails anyone twice.

Improvements are never hard-deleted: :func:`improvement_delete` moves one to the recycle bin
(its links stay, so :func:`improvement_restore` brings it back whole).
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy
from huey.contrib.djhuey import db_task

from guanxi.core import audit, registry
from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.mail import queue_mail
from guanxi.core.models import User
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.sales.services.common import next_code, parse_day, raise_if, require
from guanxi.service.models import Case, CaseEvent, Improvement, ImprovementMail, Kind
from guanxi.service.selectors.scope import can_handle, case_scope, improvement_scope
from guanxi.service.services.cases import clean_text, product_choice
from guanxi.service.services.visits import event, tell

S = Improvement.State
EDITABLE = ("title", "description", "product", "owner")
TITLE_MAX = 200
TEXT_MAX = 10000
# The states an improvement moves to by hand, and from which (shipping has its own service).
MOVES: dict[str, tuple[str, ...]] = {
    S.PLANNED: (S.PROPOSED,),
    S.IN_PROGRESS: (S.PLANNED,),
    S.PROPOSED: (S.PLANNED, S.REJECTED),
    S.REJECTED: (S.PROPOSED, S.PLANNED, S.IN_PROGRESS),
}
SHIPPABLE = (S.PROPOSED, S.PLANNED, S.IN_PROGRESS)
# The states as the improvement pages say them ("shipped" is not an order's 已发货).
STATE_LABELS: dict[str, Any] = {
    S.PROPOSED: pgettext_lazy("improvement state", "Proposed"),
    S.PLANNED: pgettext_lazy("improvement state", "Planned"),
    S.IN_PROGRESS: pgettext_lazy("improvement state", "In progress"),
    S.SHIPPED: pgettext_lazy("improvement state", "Shipped"),
    S.REJECTED: pgettext_lazy("improvement state", "Rejected"),
}
LINKABLE_KINDS = (Kind.SUGGESTION, Kind.COMPLAINT)


def state_label(state: str) -> str:
    return str(STATE_LABELS.get(state, state))


def improvement_url(improvement: Improvement) -> str:
    return reverse("service:improvement-detail", args=[improvement.pk])


def _lock(improvement: Improvement, expected_version: int | None) -> Improvement:
    """Lock the row; a stale version (given, or the instance's) → Conflict; deleted → NotFound."""
    fresh = Improvement.all_objects.select_for_update().filter(pk=improvement.pk) \
        .values("version", "deleted_at").first()
    if fresh is None or fresh["deleted_at"] is not None:
        raise NotFound()
    version = improvement.version if expected_version is None else int(expected_version)
    if fresh["version"] != version or improvement.version != version:
        raise Conflict()
    return improvement


def _owner(value: Any, errors: dict[str, list[str]]) -> User | None:
    pk = getattr(value, "pk", value)
    found = User.objects.filter(pk=pk, is_active=True).first() if str(pk or "").isdigit() else None
    if found is None or not has_perm(found, "improvement.view"):
        errors.setdefault("owner", []).append(_("Choose an active colleague who can see improvements."))
        return None
    return found


def validate(changes: dict[str, Any], *, creating: bool = False) -> dict[str, Any]:
    """Clean ``title``, ``description``, ``product``, ``owner``; every message at once."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if creating or "title" in changes:
        cleaned["title"] = clean_text(changes.get("title"), "title", errors, required=_("Enter a title."),
                                      limit=TITLE_MAX)
    if "description" in changes:
        cleaned["description"] = clean_text(changes["description"], "description", errors, limit=TEXT_MAX)
    if "product" in changes:
        cleaned["product"] = product_choice(changes["product"], errors)
    if "owner" in changes:
        cleaned["owner"] = _owner(changes["owner"], errors)
    raise_if(errors)
    return cleaned


# --- Create, edit, delete ----------------------------------------------------------------------------
@transaction.atomic
def improvement_create(*, actor: Any, title: str, description: str = "", product: Any = None,
                       owner: Any = None) -> Improvement:
    """A proposed improvement, numbered GJ-<year>-<n>, owned by ``owner`` (the actor by default)."""
    require(actor, "improvement.manage")
    fields: dict[str, Any] = {"title": title, "description": description, "product": product}
    if owner not in (None, ""):
        fields["owner"] = owner
    cleaned = validate(fields, creating=True)
    cleaned.setdefault("owner", actor)
    improvement = Improvement.objects.create(code=next_code("improvement", "GJ"), **cleaned)
    audit.record(actor=actor, action="create", obj=improvement,
                 changes=audit.creation_changes(improvement, skip_empty=True))
    return improvement


@transaction.atomic
def improvement_update(*, actor: Any, improvement: Improvement, changes: dict[str, Any],
                       expected_version: int | None) -> Improvement:
    """Change the title, description, product or owner (stale ``expected_version`` → Conflict)."""
    require(actor, "improvement.manage")
    _lock(improvement, expected_version)
    cleaned = validate(changes)
    before_owner = improvement.owner_id
    records.apply_update(actor=actor, obj=improvement, changes=cleaned, expected_version=improvement.version)
    if improvement.owner_id != before_owner:
        tell(improvement.owner, lambda: _("Improvement %(improvement)s is now yours") % {
            "improvement": improvement}, url=improvement_url(improvement), skip=actor)
    return improvement


@transaction.atomic
def improvement_delete(*, actor: Any, improvement: Improvement, expected_version: int | None = None) -> Improvement:
    """Move an improvement to the recycle bin; its links to cases stay for a restore."""
    require(actor, "improvement.manage")
    _lock(improvement, expected_version)
    now = timezone.now()
    Improvement.all_objects.filter(pk=improvement.pk).update(
        deleted_at=now, deleted_by=actor, deletion_batch=uuid.uuid4(), version=F("version") + 1, updated_at=now)
    audit.record(actor=actor, action="delete", obj=improvement)
    improvement.refresh_from_db()
    return improvement


@transaction.atomic
def improvement_restore(*, actor: Any, improvement: Improvement) -> Improvement:
    """Bring an improvement back from the recycle bin."""
    require(actor, "improvement.manage")
    if improvement.deleted_at is None:
        raise Invalid(_("This record is not in the recycle bin."))
    Improvement.all_objects.filter(pk=improvement.pk).update(
        deleted_at=None, deleted_by=None, deletion_batch=None, version=F("version") + 1, updated_at=timezone.now())
    audit.record(actor=actor, action="restore", obj=improvement)
    improvement.refresh_from_db()
    return improvement


# --- The state ------------------------------------------------------------------------------------------
@transaction.atomic
def improvement_move(*, actor: Any, improvement: Improvement, to: str, note: str = "",
                     expected_version: int | None = None) -> Improvement:
    """Proposed → planned → in progress; rejected (from any open state) and back to proposed.
    Shipping is :func:`improvement_ship`."""
    require(actor, "improvement.manage")
    if to not in MOVES:
        raise Invalid(errors={"state": [_("Choose a valid state.")]})
    _lock(improvement, expected_version)
    if improvement.state not in MOVES[to]:
        raise Invalid(_("An improvement that is %(state)s cannot become %(to)s.") % {
            "state": state_label(improvement.state).lower(), "to": state_label(to).lower()})
    errors: dict[str, list[str]] = {}
    why = clean_text(note, "note", errors, required=_("Say why it is rejected.") if to == S.REJECTED else "")
    raise_if(errors)
    records.apply_update(actor=actor, obj=improvement, changes={"state": to}, expected_version=improvement.version,
                         note=why)
    return improvement


def _event_note(improvement: Improvement, text: str) -> str:
    return f"{improvement.code} {improvement.title}: {text}"


@transaction.atomic
def improvement_ship(*, actor: Any, improvement: Improvement, release_note: str, shipped_on: Any,
                     expected_version: int | None = None) -> Improvement:
    """The improvement shipped on ``shipped_on`` (not in the future): the release note is what the
    customers are told. Every linked case gets an IMPROVEMENT event and its owner a
    notification; every sender who wanted a reply gets one e-mail per address, after commit."""
    require(actor, "improvement.manage")
    _lock(improvement, expected_version)
    if improvement.state not in SHIPPABLE:
        raise Invalid(_("An improvement that is %(state)s cannot ship.") % {
            "state": state_label(improvement.state).lower()})
    errors: dict[str, list[str]] = {}
    note = clean_text(release_note, "release_note", errors,
                      required=_("Write what changed: the customers are told this."), limit=TEXT_MAX)
    day = parse_day(shipped_on, "shipped_on", errors) if shipped_on not in (None, "") else timezone.localdate()
    if day and day > timezone.localdate():
        errors.setdefault("shipped_on", []).append(_("The day cannot be in the future."))
    raise_if(errors)
    records.apply_update(actor=actor, obj=improvement, expected_version=improvement.version,
                         changes={"state": S.SHIPPED, "release_note": note, "shipped_on": day})
    cases = list(Case.objects.filter(improvement=improvement).filter(
        Q(account__isnull=True) | Q(account__deleted_at__isnull=True)).select_related("owner", "contact"))
    text = _("Improvement shipped on %(day)s: %(note)s") % {"day": f"{day:%Y-%m-%d}", "note": note}
    for case in cases:
        event(case, actor, _event_note(improvement, text), type=CaseEvent.Type.IMPROVEMENT)
        tell(case.owner, lambda c=case: _("%(improvement)s shipped; your case %(case)s is linked to it") % {
            "improvement": improvement, "case": c.code}, body=lambda: note, url=improvement_url(improvement))
    for address in sorted(recipients(improvement)):
        transaction.on_commit(functools.partial(send_shipped, improvement.pk, address))
    return improvement


def _address(case: Case) -> str:
    if case.sender_email:
        return case.sender_email
    contact = getattr(case, "contact", None)
    return (contact.email if contact is not None else "") or ""


def recipients(improvement: Improvement) -> dict[str, list[Case]]:
    """The customers to tell: lowercased address → the linked cases whose sender wanted a reply."""
    out: dict[str, list[Case]] = defaultdict(list)
    qs = Case.objects.filter(improvement=improvement, wants_reply=True).filter(
        Q(account__isnull=True) | Q(account__deleted_at__isnull=True)).select_related("contact").order_by("id")
    for case in qs:
        address = _address(case).strip().lower()
        if address:
            out[address].append(case)
    return dict(out)


# --- Links to cases ---------------------------------------------------------------------------------------
def can_link(user: Any, case: Case) -> bool:
    """Whoever manages improvements, or the case's owner (who knows what the customer asked)."""
    return has_perm(user, "improvement.manage") or (has_perm(user, "improvement.view") and can_handle(user, case))


def _visible_case(actor: Any, case: Case) -> Case:
    found = case_scope(actor).filter(pk=case.pk).select_for_update(of=("self",)).first()
    if found is None:
        raise NotFound()
    return found


def _set_link(actor: Any, case: Case, improvement: Improvement | None, before: Improvement | None) -> None:
    """Point the case at ``improvement`` (a link, not an edit of the case: its version stays)."""
    Case.all_objects.filter(pk=case.pk).update(improvement=improvement)
    case.improvement = improvement
    audit.record(actor=actor, action="update", obj=case,
                 changes={"improvement": [audit.serialise(before), audit.serialise(improvement)]})


@transaction.atomic
def improvement_link(*, actor: Any, improvement: Improvement, case: Case) -> Case:
    """Link a suggestion or complaint the actor sees to an open improvement."""
    require(actor, "improvement.view")
    _lock(improvement, None)
    case = _visible_case(actor, case)
    if not can_link(actor, case):
        raise Forbidden(_("Only the case's owner or whoever manages improvements can link it."))
    if case.kind not in LINKABLE_KINDS:
        raise Invalid(errors={"case": [_("Only suggestions and complaints are linked to improvements.")]})
    if improvement.state not in SHIPPABLE:
        raise Invalid(errors={"case": [_("An improvement that is %(state)s takes no more cases.") % {
            "state": state_label(improvement.state).lower()}]})
    if case.improvement_id == improvement.pk:
        raise Invalid(errors={"case": [_("%(case)s is already linked to this improvement.") % {"case": case.code}]})
    current = Improvement.all_objects.filter(pk=case.improvement_id).first() if case.improvement_id else None
    if current is not None and current.deleted_at is None:
        raise Invalid(errors={"case": [_("%(case)s is linked to %(improvement)s; unlink it there first.") % {
            "case": case.code, "improvement": current}]})
    _set_link(actor, case, improvement, current)
    audit.record(actor=actor, action="update", obj=improvement, changes={"cases": [None, case.code]},
                 note=f"linked {case.code}")
    event(case, actor, _event_note(improvement, _("linked to this case.")), type=CaseEvent.Type.IMPROVEMENT)
    tell(case.owner, lambda: _("Your case %(case)s was linked to improvement %(improvement)s") % {
        "case": case.code, "improvement": improvement}, url=improvement_url(improvement), skip=actor)
    return case


@transaction.atomic
def improvement_unlink(*, actor: Any, improvement: Improvement, case: Case) -> Case:
    """Take a case the actor sees off the improvement."""
    require(actor, "improvement.view")
    _lock(improvement, None)
    case = _visible_case(actor, case)
    if case.improvement_id != improvement.pk:
        raise NotFound()
    if not can_link(actor, case):
        raise Forbidden(_("Only the case's owner or whoever manages improvements can link it."))
    _set_link(actor, case, None, improvement)
    audit.record(actor=actor, action="update", obj=improvement, changes={"cases": [case.code, None]},
                 note=f"unlinked {case.code}")
    event(case, actor, _event_note(improvement, _("no longer linked to this case.")),
          type=CaseEvent.Type.IMPROVEMENT)
    return case


def case_by_code(actor: Any, code: Any) -> Case:
    """A case the actor sees, by its number (or id); anything else → Invalid on ``case``."""
    text = str(code or "").strip()
    qs = case_scope(actor)
    found = qs.filter(code__iexact=text).first() if text else None
    if found is None and text.isdigit():
        found = qs.filter(pk=int(text)).first()
    if found is None:
        raise Invalid(errors={"case": [_("No case with this number that you can see.")]})
    return found


def linked_cases(user: Any, improvement: Improvement) -> QuerySet[Case]:
    """The cases linked to ``improvement`` that ``user`` sees."""
    return case_scope(user).filter(improvement=improvement).select_related("owner", "account").order_by("-id")


def improvement_list_for(user: Any, *, state: str = "", q: str = "", product: Any = None,
                         deleted: bool = False) -> QuerySet[Improvement]:
    """The improvements ``user`` sees (all, with the right), with their live linked cases counted."""
    from django.db.models import Count

    base = Improvement.all_objects.filter(deleted_at__isnull=False) if deleted else Improvement.objects.all()
    qs = improvement_scope(user, base).select_related("owner", "product")
    if state in S.values:
        qs = qs.filter(state=state)
    if q:
        qs = qs.filter(Q(code__icontains=q) | Q(title__icontains=q) | Q(description__icontains=q))
    if product not in (None, "") and str(product).isdigit():
        qs = qs.filter(product_id=int(product))
    alive = Q(cases__deleted_at__isnull=True)
    return qs.annotate(
        case_count=Count("cases", filter=alive),
        suggestion_count=Count("cases", filter=alive & Q(cases__kind=Kind.SUGGESTION)),
        complaint_count=Count("cases", filter=alive & Q(cases__kind=Kind.COMPLAINT)),
    ).order_by("-id")


# --- The mail to the customers -------------------------------------------------------------------------------
def shipped_message(improvement: Improvement, cases: list[Case], to: str) -> EmailMultiAlternatives:
    """What shipped and which of the customer's messages led to it, in the company's language."""
    with translation.override(settings.LANGUAGE_CODE):
        context_ = {"improvement": improvement, "cases": cases,
                    "company": getattr(settings, "GUANXI_COMPANY_NAME", "")}
        subject = " ".join(render_to_string("service/improvements_mail_subject.txt", context_).split())
        text = render_to_string("service/improvements_mail_shipped.txt", context_)
    return EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to],
                                  headers={"Auto-Submitted": "auto-generated"})


@db_task(retries=3, retry_delay=300)
def send_shipped(improvement_id: int, address: str) -> bool:
    """Tell one customer address that the improvement shipped, once: the ``ImprovementMail`` row
    and the mail (into the outbox, which delivers and retries it) are written in one
    transaction, so a second run finds the row and skips."""
    improvement = Improvement.objects.filter(pk=improvement_id, state=S.SHIPPED).first()
    if improvement is None:
        return False
    cases = recipients(improvement).get(address.strip().lower(), [])
    if not cases:
        return False
    try:
        with transaction.atomic():
            ImprovementMail.objects.create(improvement=improvement, email=address.strip().lower())
            with translation.override(settings.LANGUAGE_CODE):
                note = _event_note(improvement, _("the customer was told by e-mail (%(email)s).") % {
                    "email": address})
            for case in cases:
                event(case, None, note, type=CaseEvent.Type.IMPROVEMENT)
            queue_mail(shipped_message(improvement, cases, address),
                       key=f"improvement-shipped:{improvement.pk}:{address.strip().lower()}"[:200])
    except IntegrityError:
        return False
    return True


# --- Registration with the generic machinery (history) ---------------------------------------------------
registry.register(registry.Entry(
    model=Improvement, perm="improvement", scope=lambda user, qs: improvement_scope(user, qs), editable=(),
    detail_url=lambda obj: reverse("service:improvement-detail", args=[obj.pk]),
))
