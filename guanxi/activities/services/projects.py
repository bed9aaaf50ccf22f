"""Projects with phases, and the customer's approval of every cost change (R3.7).

A phase's agreed cost changes only when the customer approves a cost change: through an
expiring signed link they open without an account, or recorded by staff with the
customer's written evidence. While a cost change waits, its phase cannot start or be
completed. Every write: one transaction, the right checked first, audited; the caller
fetched the project, phase or cost change through its scope (the customer's link is the
one door without a user, and it is checked by signature, nonce, state and expiry).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.activities.models import CostChange, Phase, Project
from guanxi.activities.selectors import cost_change_scope, phase_scope, project_scope
from guanxi.activities.selectors.projects import cost_change_for_link, link_token
from guanxi.activities.services import raise_if, require
from guanxi.core import access, audit, registry
from guanxi.core.errors import Conflict, Invalid
from guanxi.core.models import User
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.core.services.notifications import notify
from guanxi.customers.models import Account, AccountAttachment
from guanxi.customers.services import clean_fields
from guanxi.customers.services.merge import register_relation

PROJECT_EDITABLE = ("name", "goal", "owner", "starts_on", "ends_on", "budget", "state")
# The cost is agreed when the phase is planned; afterwards it changes only through an
# approved cost change, so it is not editable here.
PHASE_EDITABLE = ("name", "goal", "owner", "starts_on", "ends_on")
CUSTOMER_NAME_MAX = 100


def link_days() -> int:
    return max(1, int(getattr(settings, "GUANXI_COST_LINK_DAYS", 7)))


def _user(value: Any) -> User | None:
    if value in (None, ""):
        return None
    if isinstance(value, User):
        return value
    try:
        return User.objects.filter(pk=int(getattr(value, "pk", value))).first()
    except (TypeError, ValueError):
        return None


def _check_owner(owner: Any, account: Account, field: str = "owner") -> User:
    """An owner must be an active colleague who sees the account (else they could not act)."""
    user = _user(owner)
    if user is None or not user.is_active:
        raise Invalid(errors={field: [_("Choose an active colleague.")]})
    if not has_perm(user, "project.view") or not access.can_see(user, account):
        raise Invalid(errors={field: [_("This colleague cannot see the account; ask a manager to share it first.")]})
    return user


def _check_dates(cleaned: dict[str, Any], obj: Any, errors: dict[str, list[str]]) -> None:
    starts = cleaned.get("starts_on", getattr(obj, "starts_on", None))
    ends = cleaned.get("ends_on", getattr(obj, "ends_on", None))
    if starts and ends and ends < starts and "ends_on" not in errors:
        errors["ends_on"] = [_("The end cannot be before the start.")]


def _project_open(project: Project) -> None:
    if project.state != Project.State.ACTIVE:
        raise Invalid(_("The project is completed or cancelled; reopen it before changing its phases."),
                      code="project_closed")


def _lock_phase(phase: Phase) -> Phase:
    """Re-read the phase under a row lock: starts, completions and cost changes of one
    phase happen one after the other, never interleaved."""
    fresh = Phase.objects.select_for_update().get(pk=phase.pk)
    # Work on what is there now (the caller's copy may be older; expected_version says so).
    for f in Phase._meta.concrete_fields:
        setattr(phase, f.attname, getattr(fresh, f.attname))
    return phase


def has_pending(phase: Phase) -> bool:
    return CostChange.objects.filter(phase_id=phase.pk, state=CostChange.State.PENDING).exists()


PENDING_MESSAGE = gettext_lazy("A cost change of this phase is waiting for the customer's decision; the phase can "
                               "move on once the customer approves or declines it (or the change is withdrawn).")


# --- Projects ------------------------------------------------------------------------------
def _validate_project(obj: Project | None, changes: dict[str, Any], account: Account | None = None) -> dict[str, Any]:
    changes = dict(changes)
    account = account or (obj.account if obj is not None else None)
    errors: dict[str, list[str]] = {}
    owner = changes.pop("owner", ...)
    cleaned, more = clean_fields(Project, obj, changes, required={"name": _("Enter the project's name.")})
    errors.update(more)
    if owner is not ...:
        try:
            assert account is not None
            cleaned["owner"] = _check_owner(owner, account)
        except Invalid as exc:
            errors.update(exc.errors)
    budget = cleaned.get("budget")
    if budget is not None and budget < 0:
        errors["budget"] = [_("The budget cannot be negative.")]
    _check_dates(cleaned, obj, errors)
    state = cleaned.get("state")
    if obj is not None and state and state != obj.state and not errors:
        phases = Phase.objects.filter(project=obj)
        waiting = CostChange.objects.filter(phase__project=obj, state=CostChange.State.PENDING).exists()
        if state == Project.State.DONE:
            if not phases.exists() or phases.exclude(state=Phase.State.DONE).exists():
                errors["state"] = [_("A project is completed when all its phases are.")]
            elif waiting:
                errors["state"] = [str(PENDING_MESSAGE)]
        elif state == Project.State.CANCELLED and waiting:
            errors["state"] = [_("Withdraw the cost change waiting for the customer before cancelling the project.")]
    raise_if(errors)
    return cleaned


@transaction.atomic
def project_create(*, actor: Any, account: Account, name: str, goal: str = "", owner: Any = None,
                   starts_on: Any = None, ends_on: Any = None, budget: Any = 0) -> Project:
    """Start a project for a visible account; the owner (default: the actor) must see it."""
    require(actor, "project.add")
    cleaned = _validate_project(None, {"name": name, "goal": goal, "owner": owner or actor, "starts_on": starts_on,
                                       "ends_on": ends_on, "budget": Decimal("0") if budget in (None, "") else budget},
                                account=account)
    project = Project.objects.create(account=account, **cleaned)
    audit.record(actor=actor, action="create", obj=project, changes=audit.creation_changes(project, skip_empty=True))
    return project


def project_update(*, actor: Any, project: Project, changes: dict[str, Any], expected_version: int | None) -> Any:
    """Change a project's fields; completing it needs every phase done and nothing waiting."""
    return records.record_update(actor=actor, obj=project, changes=changes, expected_version=expected_version)


def project_delete(*, actor: Any, project: Project, expected_version: int | None = None) -> Any:
    """To the recycle bin; the customer's links of its cost changes stop working with it."""
    return records.record_delete(actor=actor, obj=project, expected_version=expected_version)


# --- Phases --------------------------------------------------------------------------------
def _validate_phase(obj: Phase | None, changes: dict[str, Any], project: Project | None = None) -> dict[str, Any]:
    changes = dict(changes)
    project = project or (obj.project if obj is not None else None)
    assert project is not None
    errors: dict[str, list[str]] = {}
    owner = changes.pop("owner", ...)
    cleaned, more = clean_fields(Phase, obj, changes, required={"name": _("Enter the phase's name.")})
    errors.update(more)
    if owner is not ...:
        try:
            cleaned["owner"] = _check_owner(owner, project.account)
        except Invalid as exc:
            errors.update(exc.errors)
    cost = cleaned.get("cost")
    if cost is not None and cost < 0:
        errors["cost"] = [_("The cost cannot be negative.")]
    _check_dates(cleaned, obj, errors)
    raise_if(errors)
    return cleaned


@transaction.atomic
def phase_add(*, actor: Any, project: Project, name: str, goal: str = "", owner: Any = None, starts_on: Any = None,
              ends_on: Any = None, cost: Any = 0) -> Phase:
    """Add a planned phase at the end of a visible, active project with its agreed cost."""
    require(actor, "project.change")
    _project_open(project)
    cleaned = _validate_phase(None, {"name": name, "goal": goal, "owner": owner or project.owner_id or actor,
                                     "starts_on": starts_on, "ends_on": ends_on,
                                     "cost": Decimal("0") if cost in (None, "") else cost}, project=project)
    # The project row is the lock: two phases added at once get different positions.
    Project.all_objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True).first()
    last = Phase.objects.filter(project=project).order_by("-position").values_list("position", flat=True).first()
    phase = Phase.objects.create(project=project, position=(last or 0) + 1, **cleaned)
    audit.record(actor=actor, action="create", obj=phase, changes=audit.creation_changes(phase, skip_empty=True))
    return phase


def phase_update(*, actor: Any, phase: Phase, changes: dict[str, Any], expected_version: int | None) -> Any:
    """Change a phase's name, goal, owner or dates (its cost moves only by cost changes)."""
    return records.record_update(actor=actor, obj=phase, changes=changes, expected_version=expected_version)


@transaction.atomic
def phase_reorder(*, actor: Any, project: Project, order: Iterable[Any]) -> list[Phase]:
    """Put the project's phases in ``order`` (every phase id of the project, once each)."""
    require(actor, "project.change")
    Project.all_objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True).first()
    phases = {p.pk: p for p in Phase.objects.filter(project=project)}
    try:
        ids = [int(getattr(i, "pk", i)) for i in order]
    except (TypeError, ValueError):
        ids = []
    if sorted(ids) != sorted(phases) or len(set(ids)) != len(ids):
        raise Invalid(errors={"order": [_("List every phase of this project once.")]})
    before = [p.name for p in sorted(phases.values(), key=lambda p: (p.position, p.pk))]
    now = timezone.now()
    for position, pk in enumerate(ids, start=1):
        if phases[pk].position != position:
            Phase.objects.filter(pk=pk).update(position=position, updated_at=now)
            phases[pk].position = position
    after = [phases[pk].name for pk in ids]
    if before != after:
        audit.record(actor=actor, action="update", obj=project, changes={"phases": [before, after]},
                     note=_("Phases reordered"))
    return [phases[pk] for pk in ids]


def phase_move(*, actor: Any, phase: Phase, position: int) -> list[Phase]:
    """Move one phase to ``position`` (1 = first); the others keep their order."""
    ids = list(Phase.objects.filter(project_id=phase.project_id).order_by("position", "id").values_list("pk", flat=True))
    ids.remove(phase.pk)
    index = min(max(int(position), 1), len(ids) + 1) - 1
    ids.insert(index, phase.pk)
    return phase_reorder(actor=actor, project=phase.project, order=ids)


def _phase_state(actor: Any, phase: Phase, *, to: str, from_: str, expected_version: int | None, note: str,
                 wrong_state: str) -> Phase:
    require(actor, "project.change")
    _project_open(phase.project)
    _lock_phase(phase)
    if expected_version is not None and int(expected_version) != phase.version:
        raise Conflict()
    if phase.state != from_:
        raise Invalid(wrong_state, code="wrong_state")
    if has_pending(phase):
        raise Invalid(PENDING_MESSAGE, code="cost_change_pending")
    records.apply_update(actor=actor, obj=phase, changes={"state": to}, expected_version=None, note=note)
    return phase


@transaction.atomic
def phase_start(*, actor: Any, phase: Phase, expected_version: int | None = None) -> Phase:
    """planned → active; refused while a cost change waits for the customer."""
    return _phase_state(actor, phase, to=Phase.State.ACTIVE, from_=Phase.State.PLANNED,
                        expected_version=expected_version, note=_("Phase started"),
                        wrong_state=_("Only a planned phase can start."))


@transaction.atomic
def phase_complete(*, actor: Any, phase: Phase, expected_version: int | None = None) -> Phase:
    """active → done; refused while a cost change waits for the customer."""
    return _phase_state(actor, phase, to=Phase.State.DONE, from_=Phase.State.ACTIVE,
                        expected_version=expected_version, note=_("Phase completed"),
                        wrong_state=_("Start the phase before completing it."))


# --- Cost changes --------------------------------------------------------------------------
def _new_link(now: dt.datetime) -> dict[str, Any]:
    return {"link_nonce": secrets.token_urlsafe(16), "link_expires_at": now + dt.timedelta(days=link_days())}


@transaction.atomic
def cost_change_request(*, actor: Any, phase: Phase, amount: Any, reason: str,
                        now: dt.datetime | None = None) -> tuple[CostChange, str]:
    """Ask the customer to approve a change of a phase's cost (+ more, − less).

    Returns the cost change (pending) and the token of the customer's signed link, which
    is shown once: only a new link (``cost_change_reissue``) gives another.
    """
    require(actor, "project.change")
    _project_open(phase.project)
    _lock_phase(phase)
    if phase.state == Phase.State.DONE:
        raise Invalid(_("The phase is completed; its cost can no longer change."), code="wrong_state")
    cleaned, errors = clean_fields(CostChange, None, {"amount": amount, "reason": reason},
                                   required={"reason": _("Explain the change to the customer.")})
    change_amount = cleaned.get("amount")
    if "amount" not in errors:
        if change_amount is None or change_amount == 0:
            errors["amount"] = [_("Enter the change: more (+) or less (−) than the agreed cost.")]
        elif phase.cost + change_amount < 0:
            errors["amount"] = [_("The phase's cost would fall below zero.")]
    raise_if(errors)
    if has_pending(phase):
        raise Invalid(_("A cost change of this phase is already waiting for the customer; withdraw it or wait for "
                        "the decision before asking for another."), code="cost_change_pending")
    now = now or timezone.now()
    try:
        with transaction.atomic():
            change = CostChange.objects.create(phase=phase, requested_by=actor, created_at=now, updated_at=now,
                                               **cleaned, **_new_link(now))
    except IntegrityError:  # a concurrent request won the one-pending constraint
        raise Invalid(_("A cost change of this phase is already waiting for the customer."),
                      code="cost_change_pending") from None
    audit.record(actor=actor, action="request", obj=change,
                 changes=audit.creation_changes(change, ["phase", "amount", "reason", "state", "link_expires_at"]))
    return change, link_token(change)


def _pending_only(change: CostChange) -> None:
    if change.state != CostChange.State.PENDING:
        raise Invalid(_("This cost change is no longer waiting for the customer (%(state)s).") % {
            "state": change.get_state_display()}, code="wrong_state")


def _lock_change(change: CostChange, expected_version: int | None) -> CostChange:
    fresh = CostChange.objects.select_for_update().get(pk=change.pk)
    if expected_version is not None and int(expected_version) != fresh.version:
        raise Conflict()
    return fresh


@transaction.atomic
def cost_change_reissue(*, actor: Any, change: CostChange, now: dt.datetime | None = None) -> str:
    """Send a new link: a fresh nonce and expiry; every earlier link stops working."""
    require(actor, "project.change")
    fresh = _lock_change(change, None)
    _pending_only(fresh)
    now = now or timezone.now()
    values = _new_link(now)
    CostChange.objects.filter(pk=fresh.pk).update(**values, version=F("version") + 1, updated_at=now)
    # The nonce stays out of the audit row: it is part of what makes a link valid.
    audit.record(actor=actor, action="update", obj=fresh, note=_("New approval link issued; earlier links no longer work"),
                 changes={"link_expires_at": [audit.serialise(fresh.link_expires_at),
                                              audit.serialise(values["link_expires_at"])]})
    change.refresh_from_db()
    return link_token(change)


@transaction.atomic
def cost_change_withdraw(*, actor: Any, change: CostChange, note: str = "",
                         expected_version: int | None = None) -> CostChange:
    """Staff take the question back: the phase's cost stays and the phase may move on."""
    require(actor, "project.change")
    fresh = _lock_change(change, expected_version)
    _pending_only(fresh)
    records.apply_update(actor=actor, obj=fresh, expected_version=None, action="decide",
                         note=note.strip() or _("Withdrawn"),
                         changes={"state": CostChange.State.WITHDRAWN, "decided_at": timezone.now(),
                                  "recorded_by": actor, "decision_note": (note or "").strip()})
    return fresh


def _clean_decision(customer_name: Any, note: Any) -> tuple[str, str]:
    errors: dict[str, list[str]] = {}
    name = str(customer_name or "").strip()
    text = str(note or "").strip()
    if not name:
        errors["customer_name"] = [_("Enter the name of the person deciding for the customer.")]
    elif len(name) > CUSTOMER_NAME_MAX:
        errors["customer_name"] = [_("Use at most %(n)d characters.") % {"n": CUSTOMER_NAME_MAX}]
    if "\x00" in name:
        errors["customer_name"] = [_("Null characters are not allowed.")]
    if "\x00" in text:
        errors["note"] = [_("Null characters are not allowed.")]
    if len(text) > 2000:
        errors["note"] = [_("Use at most %(n)d characters.") % {"n": 2000}]
    raise_if(errors)
    return name, text


def _apply_decision(*, actor: Any, change: CostChange, approve: bool, via: str, customer_name: str, note: str,
                    evidence: AccountAttachment | None = None) -> CostChange:
    """Record the decision; an approval moves the phase's cost by the change's amount."""
    phase = Phase.objects.select_for_update().get(pk=change.phase_id)
    label = _("Customer %(name)s approved cost change #%(id)d") if approve else \
        _("Customer %(name)s declined cost change #%(id)d")
    summary = label % {"name": customer_name, "id": change.pk}
    if approve:
        records.apply_update(actor=actor, obj=phase, changes={"cost": phase.cost + change.amount},
                             expected_version=None, note=summary)
    changes: dict[str, Any] = {
        "state": CostChange.State.APPROVED if approve else CostChange.State.DECLINED,
        "decided_at": timezone.now(), "decided_via": via, "customer_name": customer_name, "decision_note": note,
    }
    if via == CostChange.Via.STAFF:
        changes.update(recorded_by=actor, evidence=evidence)
    records.apply_update(actor=actor, obj=change, changes=changes, expected_version=None, action="decide",
                         note=summary)
    _tell_owner(change, phase, skip=actor)
    return change


def _tell_owner(change: CostChange, phase: Phase, *, skip: Any) -> None:
    project = Project.all_objects.select_related("owner").get(pk=phase.project_id)
    people = {u.pk: u for u in (project.owner, User.objects.filter(pk=change.requested_by_id).first()) if u}
    for user in people.values():
        if not user.is_active or (skip is not None and user.pk == getattr(skip, "pk", None)):
            continue
        with translation.override(user.language or settings.LANGUAGE_CODE):
            title = (_("%(customer)s approved the cost change of %(phase)s (%(amount)s)") if change.state ==
                     CostChange.State.APPROVED else
                     _("%(customer)s declined the cost change of %(phase)s (%(amount)s)")) % {
                "customer": change.customer_name, "phase": phase.name, "amount": f"{change.amount:+}"}
        notify(user, title=title, body=change.decision_note, url=f"/activities/projects/{project.pk}/")


@transaction.atomic
def cost_change_decide_by_link(*, token: str, approve: bool, customer_name: Any, note: Any = "",
                               now: dt.datetime | None = None) -> CostChange:
    """The customer's decision through their signed link (no user: audited with no actor,
    the request's channel and address). A link that cannot be used changes nothing."""
    name, text = _clean_decision(customer_name, note)
    change = cost_change_for_link(token, now=now, for_update=True)
    return _apply_decision(actor=None, change=change, approve=approve, via=CostChange.Via.LINK, customer_name=name,
                           note=text)


@transaction.atomic
def cost_change_record_decision(*, actor: Any, change: CostChange, approve: bool, customer_name: Any, note: Any = "",
                                evidence: UploadedFile | None = None, evidence_id: Any = None,
                                expected_version: int | None = None) -> CostChange:
    """Staff record the customer's decision given in writing; the evidence (a new file, or
    one already attached to the account) is required."""
    require(actor, "project.change")
    name, text = _clean_decision(customer_name, note)
    fresh = _lock_change(change, expected_version)
    _pending_only(fresh)
    account = Account.all_objects.get(pk=fresh.phase.project.account_id)
    attachment: AccountAttachment | None = None
    if evidence is not None:
        from guanxi.customers.services.lists import attachment_upload

        attachment = attachment_upload(actor=actor, account=account, upload=evidence,
                                       kind=AccountAttachment.Kind.OTHER)
    elif evidence_id not in (None, ""):
        try:
            attachment = AccountAttachment.objects.filter(pk=int(evidence_id), account=account).first()
        except (TypeError, ValueError):
            attachment = None
        if attachment is None:
            raise Invalid(errors={"evidence": [_("Choose a file of this account.")]})
    if attachment is None:
        raise Invalid(errors={"evidence": [_("Attach the customer's written decision (a signed letter, an e-mail "
                                             "or a message) as evidence.")]})
    return _apply_decision(actor=actor, change=fresh, approve=approve, via=CostChange.Via.STAFF, customer_name=name,
                           note=text, evidence=attachment)


# --- Registration with the generic machinery (recycle bin, history, merge) -----------------
registry.register(registry.Entry(
    model=Project, perm="project", scope=lambda user, qs: project_scope(user, qs),
    editable=PROJECT_EDITABLE, detail_url=lambda obj: f"/activities/projects/{obj.pk}/",
    validate=lambda obj, changes: _validate_project(obj, changes),
))
registry.register(registry.Entry(
    model=Phase, perm="project", scope=lambda user, qs: phase_scope(user, qs),
    editable=PHASE_EDITABLE, detail_url=lambda obj: f"/activities/projects/{obj.project_id}/",
    validate=lambda obj, changes: _validate_phase(obj, changes),
))
registry.register(registry.Entry(
    model=CostChange, perm="project", scope=lambda user, qs: cost_change_scope(user, qs),
    detail_url=lambda obj: f"/activities/projects/{obj.phase.project_id}/",
))
register_relation("account", "projects", Project, "account", audited=True)
