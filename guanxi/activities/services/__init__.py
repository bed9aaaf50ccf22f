"""Interactions, follow-ups and cadence rules (R3.1, R3.2).

Every write: one transaction, the right checked first, audited. The caller fetched the
account (or follow-up) through its scope, so a hidden record never reaches a service.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.activities.models import CadenceRule, FollowUp, Interaction
from guanxi.activities.selectors import followup_scope, interaction_scope
from guanxi.core import access, audit, registry
from guanxi.core.errors import Conflict, Forbidden, Invalid
from guanxi.core.models import User
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.customers.models import Account, AccountAttachment, Contact
from guanxi.customers.services import clean_fields
from guanxi.customers.services.merge import register_relation
from guanxi.customers.services.pool import account_touch, register_owner_listener

INTERACTION_EDITABLE = ("kind", "purpose", "occurred_at", "subject", "summary", "outcome", "agreements",
                        "gift", "gift_value")
FOLLOWUP_EDITABLE = ("title", "notes", "contact")
# A contact logged more than this far ahead is a typo, not a plan (plans are follow-ups).
FUTURE_SLACK = dt.timedelta(hours=1)


def require(actor: Any, perm: str) -> None:
    """The right first: every service of the app starts here."""
    if not has_perm(actor, perm):
        raise Forbidden()


def raise_if(errors: dict[str, list[str]]) -> None:
    """Every field's messages at once, before anything is written."""
    if errors:
        raise Invalid(errors=errors)


def _when(value: Any, field: str, errors: dict[str, list[str]]) -> dt.datetime | None:
    """A datetime from a form or API value (aware, in the project's time zone)."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        from django.utils.dateparse import parse_datetime

        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            errors[field] = [_("Enter a valid date and time.")]
            return None
        value = parsed
    if not isinstance(value, dt.datetime):
        errors[field] = [_("Enter a valid date and time.")]
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def _validate_interaction(obj: Interaction | None, changes: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    if "occurred_at" in changes:
        when = _when(changes["occurred_at"], "occurred_at", errors)
        if when is not None and when > timezone.now() + FUTURE_SLACK:
            errors["occurred_at"] = [_("A contact cannot be logged in the future; plan it as a follow-up.")]
        changes = {**changes, "occurred_at": when or timezone.now()}
    cleaned, more = clean_fields(Interaction, obj, changes, required={"summary": _("Write what was said or done.")})
    errors.update({k: v for k, v in more.items() if k not in errors})
    raise_if(errors)
    return cleaned


def _people(account: Account, contacts: Iterable[Any], users: Iterable[Any],
            attachments: Iterable[Any]) -> tuple[list[Contact], list[User], list[AccountAttachment]]:
    """Resolve people present and files: theirs must work at the account, files belong to it."""
    errors: dict[str, list[str]] = {}
    contact_ids = {int(getattr(c, "pk", c)) for c in contacts or ()}
    theirs = list(Contact.objects.filter(account=account, pk__in=contact_ids))
    if len(theirs) != len(contact_ids):
        errors["their_people"] = [_("Choose people who work at this account.")]
    user_ids = {int(getattr(u, "pk", u)) for u in users or ()}
    ours = list(User.objects.filter(is_active=True, pk__in=user_ids))
    if len(ours) != len(user_ids):
        errors["our_people"] = [_("Choose active colleagues.")]
    file_ids = {int(getattr(a, "pk", a)) for a in attachments or ()}
    files = list(AccountAttachment.objects.filter(account=account, pk__in=file_ids))
    if len(files) != len(file_ids):
        errors["attachments"] = [_("Choose files of this account.")]
    raise_if(errors)
    return theirs, ours, files


@transaction.atomic
def interaction_create(*, actor: Any, account: Account, kind: str, summary: str, purpose: str = "",
                       occurred_at: Any = None, owner: User | None = None, their_people: Iterable[Any] = (),
                       our_people: Iterable[Any] = (), attachments: Iterable[Any] = (),
                       next_step: dict[str, Any] | None = None, **fields: Any) -> Interaction:
    """Log a contact with a visible account.

    The account's last-contact date moves on, its cadence follow-up is rescheduled from
    this contact (or created when the account has none open), and ``next_step`` (title,
    due_at, optional owner) adds a follow-up agreed during the contact.
    """
    require(actor, "interaction.add")
    unknown = set(fields) - set(INTERACTION_EDITABLE)
    if unknown:
        raise Invalid(errors={k: [_("This field cannot be set here.")] for k in sorted(unknown)})
    cleaned = _validate_interaction(None, {"kind": kind, "summary": summary,
                                           "purpose": purpose or Interaction.Purpose.INFORMATION,
                                           "occurred_at": occurred_at, **fields})
    theirs, ours, files = _people(account, their_people, our_people, attachments)
    owner = owner or actor
    if not owner.is_active:
        raise Invalid(errors={"owner": [_("Choose an active colleague.")]})
    interaction = Interaction.objects.create(account=account, owner=owner, **cleaned)
    if theirs:
        interaction.their_people.set(theirs)
    if ours:
        interaction.our_people.set(ours)
    if files:
        interaction.attachments.set(files)
    changes = audit.creation_changes(interaction, skip_empty=True)
    if theirs:
        changes["their_people"] = [None, [c.name for c in theirs]]
    audit.record(actor=actor, action="create", obj=interaction, changes=changes)
    account_touch(account.pk, interaction.occurred_at)
    if next_step:
        followup_create(actor=actor, account=account, interaction=interaction, **next_step)
    cadence_after_contact(account=account, actor=actor, base=interaction.occurred_at)
    return interaction


def interaction_update(*, actor: Any, interaction: Interaction, changes: dict[str, Any],
                       expected_version: int | None) -> Any:
    return records.record_update(actor=actor, obj=interaction, changes=changes, expected_version=expected_version)


def interaction_delete(*, actor: Any, interaction: Interaction, expected_version: int | None = None) -> Any:
    return records.record_delete(actor=actor, obj=interaction, expected_version=expected_version)


@transaction.atomic
def interaction_log(*, actor: Any, account: Account, upload: Any = None, upload_kind: str = "",
                    completes: FollowUp | None = None, **fields: Any) -> Interaction:
    """Log a contact as the quick-log form sends it: an optional new file is attached to the
    account first (the customer file's upload rules), and ``completes`` — an open follow-up
    of the same account — is marked done with the summary as its outcome. All or nothing."""
    from guanxi.customers.services.lists import attachment_upload

    require(actor, "interaction.add")
    if completes is not None:
        require(actor, "followup.change")
        if completes.account_id != account.pk:
            raise Invalid(errors={"followup": [_("This follow-up belongs to another account.")]})
    files = list(fields.pop("attachments", None) or ())
    if upload is not None:
        files.append(attachment_upload(actor=actor, account=account, upload=upload,
                                       kind=upload_kind or AccountAttachment.Kind.OTHER))
    interaction = interaction_create(actor=actor, account=account, attachments=files, **fields)
    if completes is not None:
        completes.refresh_from_db()  # the cadence may have just moved it (a new version)
    if completes is not None and completes.state == FollowUp.State.OPEN:
        followup_complete(actor=actor, followup=completes, outcome=interaction.summary)
    return interaction


INTERACTION_RELATIONS = ("their_people", "our_people", "attachments")


@transaction.atomic
def interaction_edit(*, actor: Any, interaction: Interaction, changes: dict[str, Any],
                     expected_version: int | None) -> Interaction:
    """Change an interaction's fields and, given as lists of ids, who was present and its files.

    One version check covers both: a stale ``expected_version`` changes nothing (Conflict)."""
    require(actor, "interaction.change")
    changes = dict(changes)
    relations = {name: changes.pop(name) for name in INTERACTION_RELATIONS if name in changes}
    if expected_version is not None and int(expected_version) != interaction.version:
        raise Conflict()
    account = Account.all_objects.get(pk=interaction.account_id)
    if changes:
        interaction_update(actor=actor, interaction=interaction, changes=changes, expected_version=expected_version)
    if not relations:
        return interaction
    current: dict[str, list[Any]] = {name: list(getattr(interaction, name).all()) for name in relations}
    theirs, ours, files = _people(account, relations.get("their_people", current.get("their_people", [])),
                                  relations.get("our_people", current.get("our_people", [])),
                                  relations.get("attachments", current.get("attachments", [])))
    wanted: dict[str, list[Any]] = {"their_people": theirs, "our_people": ours, "attachments": files}
    delta: dict[str, list[Any]] = {}
    for name in relations:
        before, after = current[name], wanted[name]
        if {o.pk for o in before} != {o.pk for o in after}:
            delta[name] = [sorted(str(o) for o in before), sorted(str(o) for o in after)]
            getattr(interaction, name).set(after)
    if delta:
        now = timezone.now()
        rows = Interaction.all_objects.filter(pk=interaction.pk, version=interaction.version).update(
            version=F("version") + 1, updated_at=now)
        if rows != 1:
            raise Conflict()
        interaction.version += 1
        interaction.updated_at = now
        audit.record(actor=actor, action="update", obj=interaction, changes=delta)
    return interaction


# --- Follow-ups ------------------------------------------------------------------------------
def _check_owner_sees(owner: Any, account: Account) -> None:
    if owner is None or not getattr(owner, "is_active", False):
        raise Invalid(errors={"owner": [_("Choose an active colleague.")]})
    if not has_perm(owner, "followup.view") or not access.can_see(owner, account):
        raise Invalid(errors={"owner": [_("This colleague cannot see the account; ask a manager to share it first.")]})


def _due(value: Any) -> dt.datetime:
    errors: dict[str, list[str]] = {}
    when = _when(value, "due_at", errors)
    if when is None and not errors:
        errors["due_at"] = [_("Choose when it is due.")]
    raise_if(errors)
    assert when is not None
    return when


@transaction.atomic
def followup_create(*, actor: Any, account: Account, title: str, due_at: Any, owner: Any = None,
                    contact: Contact | int | None = None, notes: str = "", interaction: Interaction | None = None,
                    source: str = FollowUp.Source.MANUAL) -> FollowUp:
    require(actor, "followup.add")
    owner = owner or account.owner or actor
    if isinstance(owner, int):
        owner = User.objects.filter(pk=owner).first()
    errors: dict[str, list[str]] = {}
    if not (title or "").strip():
        errors["title"] = [_("Write the next step.")]
    if contact is not None and not isinstance(contact, Contact):
        contact = Contact.objects.filter(pk=contact).first() or Contact(pk=-1)
    if contact is not None and contact.account_id != account.pk:
        errors["contact"] = [_("Choose a person who works at this account.")]
    raise_if(errors)
    when = _due(due_at)
    _check_owner_sees(owner, account)
    cleaned, errors = clean_fields(FollowUp, None, {"title": title, "notes": notes}, required={})
    raise_if(errors)
    followup = FollowUp.objects.create(account=account, contact=contact, owner=owner, due_at=when, source=source,
                                       interaction=interaction, **cleaned)
    audit.record(actor=actor, action="create", obj=followup, changes=audit.creation_changes(followup, skip_empty=True))
    return followup


def _open(followup: FollowUp) -> None:
    if followup.state != FollowUp.State.OPEN:
        raise Invalid(_("This follow-up is already closed."))


@transaction.atomic
def followup_complete(*, actor: Any, followup: FollowUp, outcome: str = "", expected_version: int | None = None,
                      next_step: dict[str, Any] | None = None) -> FollowUp:
    """Mark a follow-up done. The next step (if given) is planned; with nothing left open on
    the account, the cadence rule plans the next contact."""
    require(actor, "followup.change")
    _open(followup)
    now = timezone.now()
    records.apply_update(actor=actor, obj=followup, expected_version=expected_version, note=_("Done"),
                         changes={"state": FollowUp.State.DONE, "done_at": now, "done_by": actor,
                                  "outcome": (outcome or "").strip()})
    account = Account.all_objects.get(pk=followup.account_id)
    account_touch(account.pk, now)
    if next_step:
        followup_create(actor=actor, account=account, **next_step)
    cadence_after_contact(account=account, actor=actor, base=now)
    return followup


@transaction.atomic
def followup_reschedule(*, actor: Any, followup: FollowUp, due_at: Any, expected_version: int | None = None,
                        note: str = "") -> FollowUp:
    require(actor, "followup.change")
    _open(followup)
    records.apply_update(actor=actor, obj=followup, expected_version=expected_version, note=note,
                         changes={"due_at": _due(due_at), "overdue_notified_at": None})
    return followup


@transaction.atomic
def followup_reassign(*, actor: Any, followup: FollowUp, owner: Any, expected_version: int | None = None,
                      note: str = "") -> FollowUp:
    require(actor, "followup.change")
    _open(followup)
    if isinstance(owner, int):
        owner = User.objects.filter(pk=owner).first()
    account = Account.all_objects.get(pk=followup.account_id)
    _check_owner_sees(owner, account)
    records.apply_update(actor=actor, obj=followup, expected_version=expected_version, note=note,
                         changes={"owner": owner, "overdue_notified_at": None})
    return followup


@transaction.atomic
def followup_cancel(*, actor: Any, followup: FollowUp, expected_version: int | None = None, note: str = "") -> FollowUp:
    require(actor, "followup.change")
    _open(followup)
    records.apply_update(actor=actor, obj=followup, expected_version=expected_version, note=note,
                         changes={"state": FollowUp.State.CANCELLED})
    return followup


def followup_update(*, actor: Any, followup: FollowUp, changes: dict[str, Any], expected_version: int | None) -> Any:
    return records.record_update(actor=actor, obj=followup, changes=changes, expected_version=expected_version)


# --- Cadence rules ---------------------------------------------------------------------------
def rule_for(account: Account) -> CadenceRule | None:
    """The most specific active rule for the account's grade and urgency (one small query)."""
    rules = CadenceRule.objects.filter(active=True, grade__in={account.grade or "", ""},
                                       urgency__in={account.urgency or "", ""})
    best: CadenceRule | None = None
    for rule in rules:
        rank = (rule.grade != "", rule.urgency != "")
        if best is None or rank > (best.grade != "", best.urgency != ""):
            best = rule
    return best


def cadence_title(rule: CadenceRule) -> str:
    return rule.title or _("Keep in touch (every %(days)s days)") % {"days": rule.interval_days}


def cadence_after_contact(*, account: Account, actor: Any, base: dt.datetime) -> FollowUp | None:
    """After a contact: move the account's cadence follow-up to ``base`` + the rule's interval,
    or plan one when nothing is open. Accounts in the pool have nobody to follow them up."""
    if account.owner_id is None:
        return None
    rule = rule_for(account)
    if rule is None:
        return None
    due = base + dt.timedelta(days=rule.interval_days)
    # The account row is the lock: two contacts logged at once plan one follow-up, not two
    # (a merge may briefly leave two, which is harmless; hence no unique constraint).
    Account.all_objects.select_for_update().filter(pk=account.pk).values_list("pk", flat=True).first()
    open_ones = FollowUp.objects.filter(account_id=account.pk, state=FollowUp.State.OPEN)
    current = open_ones.filter(source=FollowUp.Source.CADENCE).select_for_update().first()
    if current is not None:
        if current.due_at < due:
            FollowUp.objects.filter(pk=current.pk).update(due_at=due, overdue_notified_at=None,
                                                          version=F("version") + 1, updated_at=timezone.now())
            audit.record(actor=actor, action="update", obj=current,
                         changes={"due_at": [audit.serialise(current.due_at), audit.serialise(due)]},
                         note=_("Rescheduled by the cadence rule"))
            current.due_at = due
        return current
    if open_ones.exists():
        return None  # a planned next step already covers the account
    owner = User.objects.filter(pk=account.owner_id, is_active=True).first()
    if owner is None:
        return None
    followup = FollowUp.objects.create(account_id=account.pk, owner=owner, due_at=due,
                                       title=cadence_title(rule), source=FollowUp.Source.CADENCE)
    audit.record(actor=actor, action="create", obj=followup, changes=audit.creation_changes(followup, skip_empty=True),
                 note=_("Planned by the cadence rule"))
    return followup


def cadence_fill(*, batch: int = 2000, today: dt.date | None = None) -> int:
    """Plan a cadence follow-up for every owned account with nothing open (the daily job).

    Due at the last contact + the rule's interval, but never before today: an account never
    contacted shows up on today's desk rather than raising a flood of overdue notices.
    """
    today = today or timezone.localdate()
    floor = timezone.make_aware(dt.datetime.combine(today, dt.time(9)))
    rules = {(r.grade, r.urgency): r for r in CadenceRule.objects.filter(active=True)}
    if not rules:
        return 0
    planned = 0
    # NOT EXISTS, probing (account, state) per account: a NOT IN of every open follow-up is a hash
    # only while they fit in the server's work memory; at L (a million open) PostgreSQL rescanned
    # them for each account, and the job ran for hours.
    has_open = FollowUp.objects.filter(account_id=OuterRef("pk"), state=FollowUp.State.OPEN)
    last_id = 0
    while True:
        rows = list(Account.objects.filter(owner__isnull=False, pk__gt=last_id).exclude(Exists(has_open))
                    .order_by("pk").values("pk", "grade", "urgency", "owner_id", "last_activity_at", "created_at")[:batch])
        if not rows:
            return planned
        last_id = rows[-1]["pk"]
        new = []
        for row in rows:
            rule = None
            for key in ((row["grade"], row["urgency"]), (row["grade"], ""), ("", row["urgency"]), ("", "")):
                rule = rules.get(key)
                if rule:
                    break
            if rule is None:
                continue
            base = row["last_activity_at"] or row["created_at"]
            new.append(FollowUp(account_id=row["pk"], owner_id=row["owner_id"], title=cadence_title(rule),
                                source=FollowUp.Source.CADENCE,
                                due_at=max(base + dt.timedelta(days=rule.interval_days), floor)))
        with transaction.atomic():
            FollowUp.objects.bulk_create(new)
        planned += len(new)


def _validate_rule(obj: CadenceRule | None, changes: dict[str, Any]) -> dict[str, Any]:
    cleaned, errors = clean_fields(CadenceRule, obj, changes, required={"interval_days": _("Enter the number of days.")})
    grade = cleaned.get("grade")
    if grade and "grade" not in errors:
        from guanxi.customers.models import Grade

        if not Grade.objects.filter(code=grade).exists():
            errors["grade"] = [_("Choose one of the grades.")]
    days = cleaned.get("interval_days")
    if days is not None and not 1 <= int(days) <= 366:
        errors["interval_days"] = [_("Enter between 1 and 366 days.")]
    raise_if(errors)
    return cleaned


@transaction.atomic
def cadence_rule_create(*, actor: Any, interval_days: Any, grade: str = "", urgency: str = "", title: str = "",
                        active: bool = True) -> CadenceRule:
    require(actor, "cadence.manage")
    cleaned = _validate_rule(None, {"grade": grade, "urgency": urgency, "interval_days": interval_days,
                                    "title": title, "active": active})
    if CadenceRule.objects.filter(grade=cleaned.get("grade", ""), urgency=cleaned.get("urgency", "")).exists():
        raise Invalid(errors={"grade": [_("A rule for this grade and urgency exists already; change that one.")]})
    rule = CadenceRule.objects.create(**cleaned)
    audit.record(actor=actor, action="create", obj=rule, changes=audit.creation_changes(rule))
    return rule


@transaction.atomic
def cadence_rule_update(*, actor: Any, rule: CadenceRule, changes: dict[str, Any],
                        expected_version: int | None) -> CadenceRule:
    require(actor, "cadence.manage")
    unknown = set(changes) - {"interval_days", "title", "active"}
    if unknown:
        raise Invalid(errors={k: [_("This field cannot be changed here.")] for k in sorted(unknown)})
    records.apply_update(actor=actor, obj=rule, changes=_validate_rule(rule, changes),
                         expected_version=expected_version)
    return rule


# --- Open follow-ups follow their account ----------------------------------------------------
def _followups_follow_account(actor: Any, moves: Any, reason: str, now: dt.datetime) -> None:
    """When accounts change hands, the old owner's open follow-ups on them go to the new owner
    (or are cancelled when the account goes to the pool): nobody keeps work, or sight of it,
    on an account they no longer hold (S7). One audit row per follow-up."""
    from django.contrib.contenttypes.models import ContentType

    from guanxi.core import context
    from guanxi.core.models import AuditEvent

    by_target: dict[int | None, list[int]] = {}
    old_owner: dict[int, int | None] = {}
    for move in moves:
        target = move.to_user.pk if move.to_user else None
        if move.from_user_id is not None and move.from_user_id != target:
            by_target.setdefault(target, []).append(move.account_id)
            old_owner[move.account_id] = move.from_user_id
    if not by_target:
        return
    origin = context.current()
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    ct = ContentType.objects.get_for_model(FollowUp)
    events = []
    for target, account_ids in by_target.items():
        rows = [row for row in FollowUp.objects.filter(account_id__in=account_ids, state=FollowUp.State.OPEN)
                .values_list("pk", "account_id", "owner_id", "title")
                if row[2] == old_owner[row[1]]]
        if not rows:
            continue
        ids = [row[0] for row in rows]
        if target is None:
            FollowUp.objects.filter(pk__in=ids).update(state=FollowUp.State.CANCELLED, version=F("version") + 1,
                                                       updated_at=now)
            change = {"state": [FollowUp.State.OPEN, FollowUp.State.CANCELLED]}
        else:
            FollowUp.objects.filter(pk__in=ids).update(owner_id=target, overdue_notified_at=None,
                                                       version=F("version") + 1, updated_at=now)
        for pk, _account_id, owner_id, title in rows:
            events.append(AuditEvent(
                at=now, actor=actor if is_user else None,
                actor_name=(actor.get_username() if is_user else "system")[:150], ip=origin.ip,
                channel=origin.channel, action="update", content_type=ct, object_id=str(pk), object_repr=title[:200],
                changes=change if target is None else {"owner": [owner_id, target]},
                note=_("The account changed hands") + (f": {reason}" if reason else "")))
    AuditEvent.objects.bulk_create(events, batch_size=1000)


register_owner_listener(_followups_follow_account)


# --- Registration with the generic machinery (recycle bin, history, merge) -----------------
registry.register(registry.Entry(
    model=Interaction, perm="interaction", scope=lambda user, qs: interaction_scope(user, qs),
    editable=INTERACTION_EDITABLE, detail_url=lambda obj: f"/activities/interactions/{obj.pk}/",
    validate=_validate_interaction,
))


def _validate_followup(obj: FollowUp, changes: dict[str, Any]) -> dict[str, Any]:
    if "contact" in changes and changes["contact"] not in (None, ""):
        contact = changes["contact"]
        contact_id = getattr(contact, "pk", contact)
        found = Contact.objects.filter(pk=contact_id, account_id=obj.account_id).first()
        if found is None:
            raise Invalid(errors={"contact": [_("Choose a person who works at this account.")]})
        changes = {**changes, "contact": found}
    cleaned, errors = clean_fields(FollowUp, obj, changes, required={"title": _("Write the next step.")},
                                   passthrough=("contact",))
    raise_if(errors)
    return cleaned


registry.register(registry.Entry(
    model=FollowUp, perm="followup", scope=lambda user, qs: followup_scope(user, qs),
    editable=FOLLOWUP_EDITABLE, detail_url=lambda obj: f"/activities/followups/{obj.pk}/",
    validate=_validate_followup,
))
registry.register(registry.Entry(
    model=CadenceRule, perm="cadence", scope=lambda user, qs: qs if has_perm(user, "cadence.manage") else qs.none(),
    editable=("interval_days", "title", "active"),
))

register_relation("account", "interactions", Interaction, "account", audited=True)
register_relation("account", "followups", FollowUp, "account", audited=True)
register_relation("contact", "followups", FollowUp, "contact")
register_relation("contact", "interactions", Interaction.their_people.through, "contact", unique_with=("interaction",),
                  verbose=Interaction._meta.verbose_name_plural)  # type: ignore[arg-type]
