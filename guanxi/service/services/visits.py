"""Field service (R5.4): visits scheduled, assigned, done with a report, confirmed by the customer.

A visit belongs to a case (usually a service ticket: installation, maintenance, repair,
inspection) and has one technician (someone who holds ``visit.change``)::

    scheduled ──report──→ done ──customer signs on site, or answers the link──→ confirmed
        └──cancel (with a reason)──→ cancelled

* **Scheduling** (``visit.add``): the case's owner, or a service manager whose reach covers
  the case (``case.review`` and the case's owner or department in their role's reach). The
  technician must hold ``visit.change``; the slot must end after it starts and may not
  overlap another scheduled visit of the same technician (the technician's row is locked
  while checking, so two schedulers cannot both take the slot). Rescheduling, reassigning
  and cancelling follow the same rules; the technician is told each time.
* **The report** (``visit.change``): the technician or the case's owner writes what was done,
  the parts used, when they arrived and finished. The visit is then *done*:
  ``signals.visit_done`` goes out (the survey sender listens) and the customer gets a
  confirmation link — a random token of which only the SHA-256 is kept in
  ``confirm_token_hash`` — e-mailed after commit to the case's sender (or its contact) when
  there is an address, and shown once to the technician (as a QR code to scan on site).
* **Confirmation**: on site the customer types their name on the technician's phone
  (:func:`visit_confirm_on_site`), or later answers the link (:func:`customer_confirm`). The
  link works once; a used or unknown one is NotFound.

Every change writes an audit row on the visit and a ``CaseEvent`` note on its case (the
case's story), in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from huey.contrib.djhuey import db_task

from guanxi.core import access, audit, registry
from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.mail import queue_mail
from guanxi.core.models import User
from guanxi.core.permissions import ROLE_PERMISSIONS, has_perm
from guanxi.core.services import records
from guanxi.core.services.notifications import notify
from guanxi.core.tokens import hash_token, new_token, token_lookup_hash
from guanxi.sales.services.common import raise_if, require
from guanxi.service import signals
from guanxi.service.models import Case, CaseEvent, Visit
from guanxi.service.selectors.scope import case_scope, visit_scope
from guanxi.service.services.cases import NOTE_MAX as NOTE_MAX  # the visit forms use it
from guanxi.service.services.cases import clean_text

S = Visit.State
PURPOSES = Case.TicketType
EDITABLE = ("purpose", "technician", "start", "end", "address")
REPORT_MAX = 10000
PARTS_MAX = 5000
NAME_MAX = 100
ADDRESS_MAX = 300
# A report's times may run ahead of the server's clock by this much (a phone's clock).
CLOCK_SKEW = dt.timedelta(minutes=10)
# A visit longer than this is a typing mistake (a multi-day job is several visits).
LONGEST = dt.timedelta(days=7)


# --- Shared steps ------------------------------------------------------------------------------
def visit_url(visit: Visit) -> str:
    return reverse("service:visit-detail", args=[visit.pk])


def confirm_url(raw: str) -> str:
    """The customer's page for token ``raw``, as an absolute address (mail, WeChat, QR code)."""
    return settings.GUANXI_BASE_URL.rstrip("/") + reverse("feedback:visit-confirm", args=[raw])


def case_url(case: Case) -> str:
    try:
        return reverse("service:case-detail", args=[case.pk])
    except NoReverseMatch:  # the cases area is not installed
        return ""


def local(moment: dt.datetime) -> dt.datetime:
    return timezone.localtime(moment)


def slot_text(start: dt.datetime, end: dt.datetime) -> str:
    """``2026-05-06 09:00–11:00`` (the end's date too when it is another day)."""
    a, b = local(start), local(end)
    tail = f"{b:%H:%M}" if a.date() == b.date() else f"{b:%Y-%m-%d %H:%M}"
    return f"{a:%Y-%m-%d %H:%M}–{tail}"


def visit_label(visit: Visit, case: Case | None = None) -> str:
    """The visit as one line: case number, purpose, slot."""
    case = case or Case.all_objects.only("code").get(pk=visit.case_id)
    return f"{case.code} {PURPOSES(visit.purpose).label} {slot_text(visit.scheduled_start, visit.scheduled_end)}"


def event(case: Case | int, actor: Any, note: str, *, type: str = CaseEvent.Type.NOTE,
          to_user: Any = None, at: dt.datetime | None = None) -> CaseEvent:
    """One line of the case's story (shown on its page)."""
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    case_id = case if isinstance(case, int) else case.pk
    return CaseEvent.objects.create(case_id=case_id, type=type, actor=actor if is_user else None, to_user=to_user,
                                    note=note, at=at or timezone.now())


def tell(user: Any, title: Any, *, body: Any = None, url: str = "", skip: Any = None) -> None:
    """Notify ``user`` in their own language (``title``/``body`` are callables run in it)."""
    if user is None or not user.is_active or (skip is not None and user.pk == getattr(skip, "pk", None)):
        return
    with translation.override(user.language or settings.LANGUAGE_CODE):
        notify(user, title=str(title()), body=str(body()) if body else "", url=url)


def parse_moment(value: Any, field: str, errors: dict[str, list[str]], *,
                 required: str = "") -> dt.datetime | None:
    """An aware date-time from a form or API value (naive: guanxi's time zone); the field's
    message on anything else. Empty is None, or ``required``'s message when given."""
    if value in (None, ""):
        if required:
            errors.setdefault(field, []).append(required)
        return None
    moment: dt.datetime | None
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = parse_datetime(str(value).strip())
        except ValueError:
            moment = None
    if moment is None:
        errors.setdefault(field, []).append(_("Enter a valid date and time (YYYY-MM-DD HH:MM)."))
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def technician_roles() -> list[str]:
    return [code for code, perms in ROLE_PERMISSIONS.items() if "visit.change" in perms]


def technicians() -> QuerySet[User]:
    """Everyone who may be sent on a visit: active users holding ``visit.change``."""
    return (User.objects.filter(is_active=True, roles__code__in=technician_roles()).distinct()
            .order_by("department_id", "name", "id"))


def _technician(value: Any, errors: dict[str, list[str]]) -> User | None:
    if value in (None, ""):
        errors.setdefault("technician", []).append(_("Choose the technician."))
        return None
    pk = getattr(value, "pk", value)
    found = User.objects.filter(pk=pk, is_active=True).first() if str(pk).isdigit() else None
    if found is None or not has_perm(found, "visit.change"):
        errors.setdefault("technician", []).append(_("Choose a colleague who does field visits."))
        return None
    return found


def _purpose(value: Any, errors: dict[str, list[str]]) -> str:
    text = str(value or "").strip()
    if text not in PURPOSES.values:
        errors.setdefault("purpose", []).append(_("Choose installation, maintenance, repair, inspection or support."))
    return text


def _slot(start: Any, end: Any, errors: dict[str, list[str]]) -> tuple[dt.datetime | None, dt.datetime | None]:
    begins = parse_moment(start, "start", errors, required=_("Enter when the visit starts."))
    ends = parse_moment(end, "end", errors, required=_("Enter when the visit ends."))
    if begins and ends:
        if ends <= begins:
            errors.setdefault("end", []).append(_("The visit must end after it starts."))
        elif ends - begins > LONGEST:
            errors.setdefault("end", []).append(_("A visit lasts at most 7 days; plan a longer job as several visits."))
    return begins, ends


def _overlap_check(technician: User, start: dt.datetime, end: dt.datetime, errors: dict[str, list[str]], *,
                   exclude: int | None = None) -> None:
    """Refuse a slot overlapping another scheduled visit of ``technician``, naming it. Locks the
    technician's row first, so two schedulers of the same person take turns."""
    User.objects.select_for_update().filter(pk=technician.pk).first()
    clash = (Visit.objects.filter(technician=technician, state=S.SCHEDULED, scheduled_start__lt=end,
                                  scheduled_end__gt=start, case__deleted_at__isnull=True)
             .exclude(pk=exclude).select_related("case").order_by("scheduled_start").first())
    if clash is not None:
        errors.setdefault("start", []).append(
            _("%(technician)s already has a visit at that time: %(visit)s.") % {
                "technician": technician, "visit": visit_label(clash, clash.case)})


def in_reach(user: Any, case: Case) -> bool:
    """Whether ``case`` lies in what ``user``'s role manages (not a grant, not a customer's)."""
    return access.visibility_for(user, include_grants=False).allows(case.owner_id, case.department_id)


def can_schedule(user: Any, case: Case) -> bool:
    """The case's owner, or a service manager whose reach covers it, with ``visit.add``."""
    if not has_perm(user, "visit.add") or case.deleted_at is not None or case.state == Case.State.CLOSED:
        return False
    return case.owner_id == user.pk or (has_perm(user, "case.review") and in_reach(user, case))


def can_manage(user: Any, visit: Visit, case: Case | None = None) -> bool:
    """Who reschedules, reassigns and cancels: whoever may schedule on the case (``visit.change``)."""
    case = case or Case.all_objects.get(pk=visit.case_id)
    if not has_perm(user, "visit.change") or case.deleted_at is not None:
        return False
    return case.owner_id == user.pk or (has_perm(user, "case.review") and in_reach(user, case))


def can_report(user: Any, visit: Visit, case: Case | None = None) -> bool:
    """Who writes the report and takes the customer's signature: the technician or the case's owner."""
    if not has_perm(user, "visit.change"):
        return False
    owner_id = case.owner_id if case is not None else Case.all_objects.values_list(
        "owner_id", flat=True).get(pk=visit.case_id)
    return user.pk in (visit.technician_id, owner_id)


def _visible_case(actor: Any, case: Case) -> Case:
    found = case_scope(actor).filter(pk=case.pk).first()
    if found is None:
        raise NotFound()
    return found


def _lock(visit: Visit, expected_version: int | None) -> Visit:
    """Lock the visit's row; a stale version (given, or the instance's) → Conflict; gone → NotFound."""
    fresh = (Visit.all_objects.select_for_update().filter(pk=visit.pk)
             .values("version", "deleted_at", "case__deleted_at").first())
    if fresh is None or fresh["deleted_at"] is not None or fresh["case__deleted_at"] is not None:
        raise NotFound()
    version = visit.version if expected_version is None else int(expected_version)
    if fresh["version"] != version or visit.version != version:
        raise Conflict()
    return visit


def _save(actor: Any, visit: Visit, changes: dict[str, Any], *, note: str = "") -> dict[str, Any]:
    """Write validated ``changes`` (the version was checked under the lock) with their audit row."""
    return records.apply_update(actor=actor, obj=visit, changes=changes, expected_version=visit.version, note=note)


def _state_refusal(visit: Visit, doing: str) -> Invalid:
    state = str(visit.get_state_display()).lower()
    return Invalid({
        "change": lambda: _("A visit that is %(state)s cannot be changed any more.") % {"state": state},
        "report": lambda: _("A visit that is %(state)s cannot get a report.") % {"state": state},
        "confirm": lambda: _("Only a done visit waits for the customer's confirmation (this one is %(state)s).")
        % {"state": state},
        "cancel": lambda: _("A visit that is %(state)s cannot be cancelled.") % {"state": state},
    }[doing]())


# --- Schedule, reschedule, cancel ---------------------------------------------------------------
@transaction.atomic
def visit_schedule(*, actor: Any, case: Case, purpose: str, technician: Any, start: Any, end: Any,
                   address: str = "") -> Visit:
    """Schedule a visit on ``case`` (which the actor must see) for ``technician``.

    Only the case's owner or a service manager in reach schedules, and not on a closed case.
    An empty ``address`` takes the customer's. A slot overlapping another scheduled visit of
    the technician is refused, naming that visit."""
    require(actor, "visit.add")
    case = _visible_case(actor, case)
    if not can_schedule(actor, case):
        if case.state == Case.State.CLOSED:
            raise Invalid(_("The case is closed; reopen it or open a new ticket to plan a visit."))
        owner = User.objects.filter(pk=case.owner_id).first()
        raise Forbidden(_("Only the case's owner (%(owner)s) or a service manager can plan its visits.")
                        % {"owner": owner or "—"})
    errors: dict[str, list[str]] = {}
    chosen_purpose = _purpose(purpose or case.ticket_type, errors)
    person = _technician(technician, errors)
    begins, ends = _slot(start, end, errors)
    where = clean_text(address, "address", errors, limit=ADDRESS_MAX)
    if not where and case.account_id:
        where = (case.account.address if case.account else "")[:ADDRESS_MAX]
    if person and begins and ends and "end" not in errors:
        _overlap_check(person, begins, ends, errors)
    raise_if(errors)
    assert person is not None and begins is not None and ends is not None
    visit = Visit.objects.create(case=case, purpose=chosen_purpose, technician=person, scheduled_start=begins,
                                 scheduled_end=ends, address=where)
    audit.record(actor=actor, action="create", obj=visit, changes=audit.creation_changes(visit, skip_empty=True))
    label = visit_label(visit, case)
    event(case, actor, _("Visit scheduled: %(visit)s, technician %(technician)s.") % {
        "visit": label, "technician": person}, to_user=person)
    tell(person, lambda: _("New visit for you: %(visit)s") % {"visit": visit_label(visit, case)}, body=lambda: where,
         url=visit_url(visit), skip=actor)
    return visit


def validate_changes(visit: Visit, changes: dict[str, Any]) -> dict[str, Any]:
    """Clean a reschedule/reassign (``purpose``, ``technician``, ``start``, ``end``, ``address``)
    into model fields; every message at once. Checks the technician's overlaps too."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if "purpose" in changes:
        cleaned["purpose"] = _purpose(changes["purpose"], errors)
    person: User | None = None
    if "technician" in changes:
        person = _technician(changes["technician"], errors)
        cleaned["technician"] = person
    begins, ends = _slot(changes.get("start", visit.scheduled_start), changes.get("end", visit.scheduled_end),
                         errors)
    if "start" in changes:
        cleaned["scheduled_start"] = begins
    if "end" in changes:
        cleaned["scheduled_end"] = ends
    if "address" in changes:
        cleaned["address"] = clean_text(changes["address"], "address", errors, limit=ADDRESS_MAX)
    moved = any(name in changes for name in ("technician", "start", "end"))
    who = person or (User.objects.get(pk=visit.technician_id) if "technician" not in changes else None)
    if moved and who and begins and ends and not errors:
        _overlap_check(who, begins, ends, errors, exclude=visit.pk)
    raise_if(errors)
    return cleaned


def _lock_scheduled(actor: Any, visit: Visit, expected_version: int | None, action: str) -> Case:
    """Lock a scheduled visit that ``actor`` may manage (its case's owner or a service manager in
    reach) before ``action`` (change, cancel); its case. Otherwise Conflict, Forbidden or the
    state's refusal."""
    _lock(visit, expected_version)
    case = Case.all_objects.get(pk=visit.case_id)
    if not can_manage(actor, visit, case):
        raise Forbidden(_("Only the case's owner or a service manager can change its visits."))
    if visit.state != S.SCHEDULED:
        raise _state_refusal(visit, action)
    return case


@transaction.atomic
def visit_update(*, actor: Any, visit: Visit, changes: dict[str, Any], expected_version: int | None) -> Visit:
    """Reschedule or reassign a scheduled visit (stale ``expected_version`` → Conflict). The
    technician is told, and on a reassignment the previous one too."""
    require(actor, "visit.change")
    case = _lock_scheduled(actor, visit, expected_version, "change")
    cleaned = validate_changes(visit, changes)
    before = User.objects.get(pk=visit.technician_id)
    delta = _save(actor, visit, cleaned)
    if not delta:
        return visit
    after = User.objects.get(pk=visit.technician_id)
    label = visit_label(visit, case)
    if before.pk != after.pk:
        note = _("Visit reassigned from %(before)s to %(after)s: %(visit)s.") % {
            "before": before, "after": after, "visit": label}
        tell(before, lambda: _("Visit %(visit)s was given to %(after)s") % {"visit": visit_label(visit, case), "after": after},
             url=visit_url(visit), skip=actor)
        tell(after, lambda: _("New visit for you: %(visit)s") % {"visit": visit_label(visit, case)},
             body=lambda: visit.address,
             url=visit_url(visit), skip=actor)
    else:
        note = _("Visit changed: %(visit)s, technician %(technician)s.") % {"visit": label, "technician": after}
        tell(after, lambda: _("Your visit was changed: %(visit)s") % {"visit": visit_label(visit, case)},
             body=lambda: visit.address,
             url=visit_url(visit), skip=actor)
    event(case, actor, note, to_user=after)
    return visit


@transaction.atomic
def visit_cancel(*, actor: Any, visit: Visit, reason: str, expected_version: int | None = None) -> Visit:
    """Cancel a scheduled visit, saying why; the technician is told."""
    require(actor, "visit.change")
    case = _lock_scheduled(actor, visit, expected_version, "cancel")
    errors: dict[str, list[str]] = {}
    why = clean_text(reason, "reason", errors, required=_("Say why the visit is cancelled."))
    raise_if(errors)
    _save(actor, visit, {"state": S.CANCELLED}, note=why)
    label = visit_label(visit, case)
    event(case, actor, _("Visit cancelled: %(visit)s. Reason: %(reason)s") % {"visit": label, "reason": why})
    technician = User.objects.get(pk=visit.technician_id)
    tell(technician, lambda: _("Visit cancelled: %(visit)s") % {"visit": visit_label(visit, case)}, body=lambda: why,
         url=visit_url(visit), skip=actor)
    return visit


# --- The report and the customer's confirmation ---------------------------------------------------
def _issue_link(visit: Visit) -> str:
    """A new confirmation token for the done ``visit`` (the previous one stops working)."""
    raw, digest = new_token()
    Visit.all_objects.filter(pk=visit.pk).update(confirm_token_hash=digest)
    visit.confirm_token_hash = digest
    return raw


def customer_address(case: Case) -> str:
    """Where the customer's mail goes: the sender's address, else the matched contact's."""
    if case.sender_email:
        return case.sender_email
    if case.contact_id:
        from guanxi.customers.models import Contact

        return Contact.all_objects.filter(pk=case.contact_id).values_list("email", flat=True).first() or ""
    return ""


def _mail_on_commit(visit: Visit, case: Case, raw: str) -> bool:
    """Queue the report and the link to the customer once committed; False without an address."""
    if not customer_address(case):
        return False
    visit_id = visit.pk
    transaction.on_commit(lambda: send_confirmation(visit_id, raw))
    return True


@transaction.atomic
def visit_report(*, actor: Any, visit: Visit, report: str, parts: str = "", arrived_at: Any, finished_at: Any,
                 expected_version: int | None) -> Visit:
    """The technician (or the case's owner) reports a scheduled visit: it is done.

    Sends ``signals.visit_done`` and issues the customer's confirmation link: afterwards
    ``visit.confirm_link`` holds it (shown once) and ``visit.confirm_mailed`` says whether it
    goes out by mail."""
    require(actor, "visit.change")
    _lock(visit, expected_version)
    case = Case.all_objects.select_related("account").get(pk=visit.case_id)
    if not can_report(actor, visit, case):
        raise Forbidden(_("Only the technician or the case's owner can report this visit."))
    if visit.state != S.SCHEDULED:
        raise _state_refusal(visit, "report")
    errors: dict[str, list[str]] = {}
    text = clean_text(report, "report", errors, required=_("Write what was done."), limit=REPORT_MAX)
    used = clean_text(parts, "parts", errors, limit=PARTS_MAX)
    arrived = parse_moment(arrived_at, "arrived_at", errors, required=_("Enter when you arrived."))
    finished = parse_moment(finished_at, "finished_at", errors, required=_("Enter when you finished."))
    now = timezone.now()
    if arrived and finished and finished <= arrived:
        errors.setdefault("finished_at", []).append(_("The visit must finish after the arrival."))
    for name, moment in (("arrived_at", arrived), ("finished_at", finished)):
        if moment and moment > now + CLOCK_SKEW:
            errors.setdefault(name, []).append(_("This time is still in the future."))
    raise_if(errors)
    _save(actor, visit, {"state": S.DONE, "report": text, "parts": used, "arrived_at": arrived,
                         "finished_at": finished})
    label = visit_label(visit, case)
    event(case, actor, _("Visit done: %(visit)s. %(report)s") % {"visit": label, "report": text})
    raw = _issue_link(visit)
    visit.confirm_link = confirm_url(raw)  # type: ignore[attr-defined]
    visit.confirm_mailed = _mail_on_commit(visit, case, raw)  # type: ignore[attr-defined]
    owner = User.objects.filter(pk=case.owner_id).first()
    tell(owner, lambda: _("Visit done: %(visit)s") % {"visit": visit_label(visit, case)},
         body=lambda: text, url=visit_url(visit),
         skip=actor)
    signals.visit_done.send(sender=Visit, visit=visit, actor=actor)
    return visit


@transaction.atomic
def visit_confirm_link(*, actor: Any, visit: Visit) -> str:
    """A new link for the customer of a done visit (the old one stops working), mailed when
    there is an address. Returns the link (shown once)."""
    require(actor, "visit.change")
    _lock(visit, None)
    case = Case.all_objects.get(pk=visit.case_id)
    if not can_report(actor, visit, case):
        raise Forbidden(_("Only the technician or the case's owner can report this visit."))
    if visit.state != S.DONE:
        raise _state_refusal(visit, "confirm")
    raw = _issue_link(visit)
    mailed = _mail_on_commit(visit, case, raw)
    event(case, actor, _("A new confirmation link was issued for visit %(visit)s; the previous one no longer "
                         "works.") % {"visit": visit_label(visit, case)})
    audit.record(actor=actor, action="update", obj=visit, changes={"confirm_link": ["…", "…"]},
                 note="new confirmation link" + (" (mailed)" if mailed else ""))
    return confirm_url(raw)


def _confirm(actor: Any, visit: Visit, signed_by: Any, comment: Any, how: str) -> Visit:
    errors: dict[str, list[str]] = {}
    name = clean_text(signed_by, "signed_by", errors, required=_("Enter the customer's name."), limit=NAME_MAX)
    text = clean_text(comment, "comment", errors)
    raise_if(errors)
    now = timezone.now()
    _save(actor, visit, {"state": S.CONFIRMED, "customer_signature": name, "customer_confirmed_at": now,
                         "customer_comment": text}, note=how)
    Visit.all_objects.filter(pk=visit.pk).update(confirm_token_hash="")
    visit.confirm_token_hash = ""
    return visit


@transaction.atomic
def visit_confirm_on_site(*, actor: Any, visit: Visit, signed_by: str, comment: str = "",
                          expected_version: int | None = None) -> Visit:
    """The customer signs on the technician's phone (their name typed, and a comment): the done
    visit is confirmed and its link stops working."""
    require(actor, "visit.change")
    _lock(visit, expected_version)
    case = Case.all_objects.get(pk=visit.case_id)
    if not can_report(actor, visit, case):
        raise Forbidden(_("Only the technician or the case's owner can report this visit."))
    if visit.state != S.DONE:
        raise _state_refusal(visit, "confirm")
    _confirm(actor, visit, signed_by, comment, "on site")
    label = visit_label(visit, case)
    event(case, actor, _("Visit confirmed on site by %(name)s: %(visit)s.") % {
        "name": visit.customer_signature, "visit": label}
        + (f" {visit.customer_comment}" if visit.customer_comment else ""), type=CaseEvent.Type.CUSTOMER)
    owner = User.objects.filter(pk=case.owner_id).first()
    tell(owner, lambda: _("The customer confirmed the visit %(visit)s") % {"visit": visit_label(visit, case)},
         body=lambda: visit.customer_comment, url=visit_url(visit), skip=actor)
    return visit


def visit_for_token(token: Any, *, for_update: bool = False) -> Visit:
    """The done visit waiting for the customer behind ``token``; anything else → NotFound."""
    qs = Visit.objects.filter(state=S.DONE, confirm_token_hash=token_lookup_hash(token),
                              case__deleted_at__isnull=True)
    qs = qs.filter(Q(case__account__isnull=True) | Q(case__account__deleted_at__isnull=True))
    if for_update:
        qs = qs.select_for_update(of=("self",))
    found = qs.select_related("technician").first()
    if found is None:
        raise NotFound()
    return found


@transaction.atomic
def customer_confirm(*, token: str, signed_by: str, comment: str = "") -> Visit:
    """The customer confirms a done visit from their link, with their name and a comment. The
    link works once: a used or unknown token is NotFound."""
    visit = visit_for_token(token, for_update=True)
    case = Case.all_objects.get(pk=visit.case_id)
    _confirm(None, visit, signed_by, comment, "by the customer's link")
    with translation.override(settings.LANGUAGE_CODE):
        label = visit_label(visit, case)
        note = _("The customer %(name)s confirmed the visit %(visit)s.") % {
            "name": visit.customer_signature, "visit": label}
    event(case, None, note + (f" {visit.customer_comment}" if visit.customer_comment else ""),
          type=CaseEvent.Type.CUSTOMER)
    for user in (User.objects.filter(pk=visit.technician_id).first(), User.objects.filter(pk=case.owner_id).first()):
        tell(user, lambda: _("The customer confirmed the visit %(visit)s") % {"visit": visit_label(visit, case)},
             body=lambda: visit.customer_comment, url=visit_url(visit))
        if case.owner_id == visit.technician_id:
            break
    return visit


# --- The case page ------------------------------------------------------------------------------------
def block_context(user: Any, case: Case) -> dict[str, Any]:
    """What the case page's visits block shows: the case's visits the user sees, and whether
    (and where) they may plan one."""
    visits = list(visit_scope(user).filter(case_id=case.pk).select_related("technician")
                  .order_by("scheduled_start", "id"))
    allowed = can_schedule(user, case)
    return {
        "case": case, "visits": visits, "can_schedule": allowed,
        "schedule_url": reverse("service:visit-create", args=[case.pk]) if allowed else "",
    }


# --- The mail to the customer -------------------------------------------------------------------------
def confirmation_message(visit: Visit, case: Case, raw: str, to: str) -> EmailMultiAlternatives:
    """The report and the link, in the company's language (the customer has no account)."""
    with translation.override(settings.LANGUAGE_CODE):
        context_ = {"visit": visit, "case": case, "url": confirm_url(raw), "technician": visit.technician,
                    "slot": slot_text(visit.scheduled_start, visit.scheduled_end),
                    "company": getattr(settings, "GUANXI_COMPANY_NAME", "")}
        subject = " ".join(render_to_string("service/visits_mail_subject.txt", context_).split())
        text = render_to_string("service/visits_mail_confirm.txt", context_)
    return EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to],
                                  headers={"Auto-Submitted": "auto-generated"})


@db_task(retries=3, retry_delay=300)
def send_confirmation(visit_id: int, raw: str) -> bool:
    """Mail the report and the link, unless the visit was confirmed or got a newer link meanwhile."""
    visit = (Visit.objects.filter(pk=visit_id, state=S.DONE, confirm_token_hash=hash_token(raw))
             .select_related("technician").first())
    if visit is None:
        return False
    case = Case.all_objects.get(pk=visit.case_id)
    to = customer_address(case)
    if not to:
        return False
    with transaction.atomic():
        if not queue_mail(confirmation_message(visit, case, raw, to),
                          key=f"visit-confirmation:{visit.pk}:{visit.confirm_token_hash}"):
            return False  # this link was mailed already (the task ran twice)
        with translation.override(settings.LANGUAGE_CODE):
            note = _("The visit report and the confirmation link were e-mailed to %(email)s.") % {"email": to}
        event(case, None, note)
    return True


# --- Registration with the generic machinery (history) ---------------------------------------------
registry.register(registry.Entry(
    model=Visit, perm="visit", scope=lambda user, qs: visit_scope(user, qs), editable=(),
    detail_url=lambda obj: reverse("service:visit-detail", args=[obj.pk]),
))
