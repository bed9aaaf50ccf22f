"""Customer-file writes: merge. Every one: one transaction, access checked first, audited.

Two accounts (or two contacts) become one (R12.2). The caller picks, field by field, whose
value stays; every related record of the merged one moves to the kept one; the merged one
goes to the recycle bin; a MergeRecord keeps what the kept record looked like before and
exactly which related rows moved, so that the merge can be undone from the history.

Related records move through a registry (:func:`register_relation`): an app that adds a
model pointing at accounts or contacts (follow-ups, deals, cases …) registers it once and
merges and undos move it too, without this module knowing the app.

Decisions (documented in docs/user-guide/*/merge.md):

* Merging needs ``account.merge`` (sales managers, general managers, administrators), for
  accounts and contacts alike, and both records must be visible to the actor.
* An approved account may be merged without a change request: merging is itself a
  manager's decision. The audit rows say so in their note.
* A merged account with a change request waiting is refused: the request must be decided
  (or cancelled) first, otherwise it could be approved on a record in the recycle bin.
* When both accounts have a hand-given score for the same rating factor, the kept
  account's score stays; the merged one's stays with the merged account (it comes back
  on undo).
* Undo is refused when the kept record changed after the merge (its version moved on):
  putting back the old field values would silently drop those later changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit, context
from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.models import AuditEvent, ChangeRequest
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.customers.models import (
    Account,
    AccountAttachment,
    AccountFactorScore,
    AccountRating,
    Contact,
    ImportRowResult,
    MergeRecord,
    OwnershipChange,
)
from guanxi.customers.services import CONTACT_EDITABLE, account_refresh_search, ownership_record

KEPT, MERGED = "kept", "merged"
CHUNK = 1000

# The fields a merge lets the user choose, in the order the comparison page shows them.
ACCOUNT_FIELDS: tuple[str, ...] = (
    "name", "kind", "credit_code", "phone", "email", "website", "region", "province", "city", "district",
    "address", "owner", "category", "lifecycle", "relationship_type", "value_segment", "urgency",
    "is_customer", "is_distributor", "is_supplier", "is_partner", "is_foreign", "size", "operating_status",
    "founded_on", "industry", "business_scope", "organisation_traits", "philosophy", "culture",
    "industry_position", "prospects", "development_strategy", "credit_standing", "importance", "notes",
)
# Columns the merge also writes (derived from the choices and the moved records); kept in
# MergeRecord.before so that undo puts them back too.
ACCOUNT_DERIVED: tuple[str, ...] = (
    "department", "pool_entered_at", "pool_notice_at", "last_activity_at", "grade", "score", "rated_at", "custom",
)
CONTACT_FIELDS: tuple[str, ...] = ("account", *CONTACT_EDITABLE)
CONTACT_DERIVED: tuple[str, ...] = ("custom",)


# --- The registry of related records ----------------------------------------------------------
@dataclass(frozen=True)
class Relation:
    """Rows of ``model`` whose ``field`` points at the merged record move to the kept one.

    ``unique_with``: the other columns of a unique constraint that includes ``field``; rows
    that would clash with a row the kept record already has stay where they are.
    ``audited``: each moved row gets its own audit row (records users see a history of).
    """

    label: str
    model: type[models.Model]
    field: str
    unique_with: tuple[str, ...] = ()
    audited: bool = False
    verbose: str = ""

    def rows(self) -> models.QuerySet[Any]:
        # The base manager: rows in the recycle bin move too, so that they are never
        # restored onto an account that no longer exists.
        return self.model._base_manager.all()  # type: ignore[attr-defined]


_relations: dict[str, dict[str, Relation]] = {"account": {}, "contact": {}}


def register_relation(target: str, label: str, model: type[models.Model], field: str, *,
                      unique_with: tuple[str, ...] = (), audited: bool = False, verbose: str = "") -> Relation:
    """Declare that ``model.field`` points at an account (``target="account"``) or contact."""
    relation = Relation(label=label, model=model, field=field, unique_with=unique_with, audited=audited,
                        verbose=verbose or str(model._meta.verbose_name_plural))
    _relations.setdefault(target, {})[label] = relation
    return relation


_merge_listeners: list[Callable[[Any, Any], None]] = []


def register_merge_listener(listener: Callable[[Any, Any], None]) -> None:
    """Call ``listener(kept, merged)`` in the merge's transaction after an account merge and after
    its undo, so an app can recount what it derives from the rows that moved."""
    _merge_listeners.append(listener)


def _merged(kept: Any, merged: Any) -> None:
    for listener in _merge_listeners:
        listener(kept, merged)


def relations(target: str) -> list[Relation]:
    return list(_relations.get(target, {}).values())


register_relation("account", "contacts", Contact, "account", audited=True)
register_relation("account", "attachments", AccountAttachment, "account", audited=True)
register_relation("account", "ratings", AccountRating, "account")
register_relation("account", "factor_scores", AccountFactorScore, "account", unique_with=("factor",))
register_relation("account", "ownership_changes", OwnershipChange, "account")
register_relation("account", "import_rows", ImportRowResult, "account")


def related_counts(target: str, obj: models.Model) -> list[tuple[Relation, int]]:
    """How many rows of each registered relation point at ``obj`` (what a merge would move)."""
    return [(rel, rel.rows().filter(**{f"{rel.field}_id": obj.pk}).count()) for rel in relations(target)]


def _move(relation: Relation, *, source: models.Model, dest: models.Model, ids: list[int] | None = None) -> list[int]:
    """Point the rows of ``relation`` from ``source`` to ``dest``; return the ids moved."""
    attname = f"{relation.field}_id"
    qs = relation.rows().filter(**{attname: source.pk})
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    if relation.unique_with:
        taken = relation.rows().filter(**{attname: dest.pk}).values_list(*relation.unique_with)
        clashing = {tuple(row) for row in taken}
        if clashing:
            rows = list(qs.values_list("pk", *[f"{f}_id" if _is_fk(relation.model, f) else f
                                               for f in relation.unique_with]))
            moved = [row[0] for row in rows if tuple(row[1:]) not in clashing]
        else:
            moved = list(qs.values_list("pk", flat=True))
    else:
        moved = list(qs.values_list("pk", flat=True))
    extra: dict[str, Any] = {}
    if any(f.name == "version" for f in relation.model._meta.concrete_fields):
        extra["version"] = F("version") + 1
    for start in range(0, len(moved), CHUNK):
        relation.rows().filter(pk__in=moved[start:start + CHUNK]).update(**{attname: dest.pk}, **extra)
    return sorted(moved)


def _is_fk(model: type[models.Model], name: str) -> bool:
    return model._meta.get_field(name).is_relation


def _audit_moves(*, actor: Any, relation: Relation, ids: list[int], source: models.Model, dest: models.Model,
                 action: str, note: str) -> None:
    """One audit row per moved record, written in bulk (many contacts can move at once)."""
    if not relation.audited or not ids:
        return
    origin = context.current()
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    ct = ContentType.objects.get_for_model(relation.model, for_concrete_model=True)
    change = {relation.field: [audit.serialise(source), audit.serialise(dest)]}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        reprs = {pk: str(obj)[:200] for pk, obj in relation.rows().in_bulk(chunk).items()}
        AuditEvent.objects.bulk_create([
            AuditEvent(actor=actor if is_user else None,
                       actor_name=(actor.get_username() if is_user else "system")[:150],
                       ip=origin.ip, channel=origin.channel, action=action, content_type=ct, object_id=str(pk),
                       object_repr=reprs.get(pk, ""), changes=change, note=note)
            for pk in chunk
        ])


# --- Field values --------------------------------------------------------------------------------
def _attname(model: type[models.Model], name: str) -> str:
    return str(model._meta.get_field(name).attname)  # type: ignore[union-attr]


def _raw(obj: models.Model, name: str) -> Any:
    """The stored value of a field (the id for a relation), JSON-safe."""
    return audit.serialise(getattr(obj, _attname(obj._meta.model, name)))


def _snapshot(obj: models.Model, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: _raw(obj, name) for name in names}


def _decode(model: type[models.Model], name: str, value: Any) -> Any:
    field = model._meta.get_field(name)
    if value is None or name == "custom":
        return value
    return field.to_python(value)  # type: ignore[union-attr]


def _empty(value: Any) -> bool:
    return value in (None, "", {}, [])


def differing_fields(kept: models.Model, merged: models.Model, names: tuple[str, ...]) -> list[str]:
    return [n for n in names if _raw(kept, n) != _raw(merged, n)]


def default_choices(kept: models.Model, merged: models.Model, names: tuple[str, ...]) -> dict[str, str]:
    """What the comparison page pre-selects: the kept value, unless it is empty and the other is not."""
    out: dict[str, str] = {}
    for name in differing_fields(kept, merged, names):
        kept_value, merged_value = _raw(kept, name), _raw(merged, name)
        out[name] = MERGED if _empty(kept_value) and not _empty(merged_value) else KEPT
    for key in custom_clashes(kept, merged):
        out[f"custom.{key}"] = KEPT
    return out


def custom_clashes(kept: Any, merged: Any) -> list[str]:
    """Custom-field keys both records fill in, with different values (the user picks)."""
    a, b = kept.custom or {}, merged.custom or {}
    return sorted(k for k in set(a) & set(b) if a[k] != b[k] and not _empty(a[k]) and not _empty(b[k]))


def _clean_choices(kept: Any, merged: Any, choices: dict[str, Any] | None,
                   names: tuple[str, ...]) -> dict[str, str]:
    """Validate the caller's choices; fields not named keep the kept record's value."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, str] = {}
    custom_keys = set(kept.custom or {}) | set(merged.custom or {})
    for key, side in (choices or {}).items():
        known = key in names or (key.startswith("custom.") and key[7:] in custom_keys)
        if not known:
            errors[key] = [_("This field cannot be chosen in a merge.")]
        elif side not in (KEPT, MERGED):
            errors[key] = [_("Choose the kept or the merged record's value.")]
        else:
            clean[key] = side
    if errors:
        raise Invalid(errors=errors)
    return clean


def _merged_custom(kept: Any, merged: Any, choices: dict[str, str]) -> dict[str, Any]:
    """Every key of both; where both hold a value, the chosen side's (kept by default)."""
    out = dict(merged.custom or {})
    for key, value in (kept.custom or {}).items():
        if _empty(value) and not _empty(out.get(key)):
            continue
        out[key] = value
    for key in custom_clashes(kept, merged):
        if choices.get(f"custom.{key}") == MERGED:
            out[key] = merged.custom[key]
    return out


def _lock(model: type[models.Model], *pks: int) -> None:
    """Lock the rows in one order (by id) so that two merges of the same pair cannot deadlock."""
    list(model._base_manager.select_for_update().filter(pk__in=sorted(pks)).order_by("pk")  # type: ignore[attr-defined]
         .values_list("pk", flat=True))


def _check_versions(kept: Any, merged: Any, expected: dict[str, Any] | None) -> None:
    for side, obj in ((KEPT, kept), (MERGED, merged)):
        if expected and expected.get(side) is not None and int(expected[side]) != obj.version:
            raise Conflict()


def _soft_delete(*, actor: Any, obj: Any, note: str) -> None:
    """The merged record to the recycle bin (its related rows have already moved away)."""
    now = timezone.now()
    rows = obj._meta.model._base_manager.filter(pk=obj.pk, deleted_at__isnull=True).update(
        deleted_at=now, deleted_by=actor, deletion_batch=uuid.uuid4(), version=F("version") + 1)
    if rows != 1:
        raise Conflict()
    obj.refresh_from_db()
    audit.record(actor=actor, action="merge", obj=obj, changes={"deleted_at": [None, audit.serialise(now)]},
                 note=note)


def _undelete(obj: Any) -> None:
    try:
        with transaction.atomic():
            obj._meta.model._base_manager.filter(pk=obj.pk).update(
                deleted_at=None, deleted_by=None, deletion_batch=None, version=F("version") + 1)
    except IntegrityError:
        raise Invalid(_("The merged record cannot come back: another record now uses the same credit code."))
    obj.refresh_from_db()


def _write(obj: Any, values: dict[str, Any]) -> None:
    """Write raw column values (attnames) and bump the version, in one UPDATE."""
    model = obj._meta.model
    attvalues = {_attname(model, n): v for n, v in values.items()}
    now = timezone.now()
    rows = model._base_manager.filter(pk=obj.pk, version=obj.version).update(
        **attvalues, version=F("version") + 1, updated_at=now)
    if rows != 1:
        raise Conflict()
    obj.refresh_from_db()


def _delta(model: type[models.Model], before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [before, after]} of what changed; related records as {id, repr} like audit rows elsewhere."""
    out: dict[str, list[Any]] = {}
    for name in after:
        if before.get(name) == after[name]:
            continue
        field = model._meta.get_field(name)
        pair = [before.get(name), after[name]]
        if field.is_relation and field.related_model is not None:
            related = field.related_model._base_manager.in_bulk([v for v in pair if v is not None])  # type: ignore[union-attr]
            pair = [audit.serialise(related.get(v)) if v is not None else None for v in pair]
        out[name] = pair
    return out


def _label(obj: Any) -> str:
    code = getattr(obj, "code", "")
    return f"{obj} ({code})" if code else f"{obj} (#{obj.pk})"


# --- Accounts -------------------------------------------------------------------------------------
def _pending_requests(obj: models.Model) -> bool:
    ct = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    return ChangeRequest.objects.filter(content_type=ct, object_id=str(obj.pk),
                                        state=ChangeRequest.State.PENDING).exists()


def _check_pair(actor: Any, kept: Any, merged: Any) -> tuple[Any, Any]:
    """Both visible (hidden = 404), alive and distinct; returns them fresh from the database."""
    model = kept._meta.model
    kept = records.get_visible(actor, model, kept.pk)
    merged = records.get_visible(actor, model, merged.pk)
    if kept.pk == merged.pk:
        raise Invalid(_("A record cannot be merged with itself."))
    return kept, merged


def _prepare(actor: Any, kept: Any, merged: Any, choices: dict[str, Any] | None,
             expected_versions: dict[str, Any] | None, fields: tuple[str, ...]) -> tuple[Any, Any, dict[str, str]]:
    """Check the right, fetch and lock both records, refuse deleted or stale ones, clean the choices."""
    if not has_perm(actor, "account.merge"):
        raise Forbidden()
    kept, merged = _check_pair(actor, kept, merged)
    _lock(kept._meta.model, kept.pk, merged.pk)
    kept.refresh_from_db()
    merged.refresh_from_db()
    if kept.deleted_at or merged.deleted_at:
        raise NotFound()
    _check_versions(kept, merged, expected_versions)
    return kept, merged, _clean_choices(kept, merged, choices, fields)


@transaction.atomic
def account_merge(*, actor: Any, kept: Account, merged: Account, choices: dict[str, Any] | None = None,
                  expected_versions: dict[str, Any] | None = None) -> MergeRecord:
    """Merge ``merged`` into ``kept``; return the MergeRecord (undo it with account_merge_undo)."""
    kept, merged, clean = _prepare(actor, kept, merged, choices, expected_versions, ACCOUNT_FIELDS)
    if _pending_requests(merged):
        raise Invalid(_("%(name)s has a change request waiting; decide or cancel it before merging.")
                      % {"name": merged})

    before = _snapshot(kept, ACCOUNT_FIELDS + ACCOUNT_DERIVED)
    before_tags = sorted(kept.tags.values_list("pk", flat=True))
    values: dict[str, Any] = {}
    for name in ACCOUNT_FIELDS:
        source = merged if clean.get(name) == MERGED else kept
        values[name] = getattr(source, _attname(Account, name))
    # Whose owner stays decides the department and the pool clock too.
    owner_source = merged if clean.get("owner") == MERGED else kept
    for name in ("department", "pool_entered_at", "pool_notice_at"):
        values[name] = getattr(owner_source, _attname(Account, name))
    activity = [a for a in (kept.last_activity_at, merged.last_activity_at) if a]
    values["last_activity_at"] = max(activity) if activity else None
    values["custom"] = _merged_custom(kept, merged, clean)

    note = _("Merged from %(merged)s.") % {"merged": _label(merged)}
    if kept.is_approved or merged.is_approved:
        note += " " + _("An approved account was changed by a merge (a manager's decision; no change request).")
    dropped_code = merged.credit_code if merged.credit_code and values["credit_code"] != merged.credit_code else ""
    if dropped_code:
        note += " " + _("The merged account's credit code %(code)s was not kept.") % {"code": dropped_code}

    # 1. Related records move first, so that the merged account takes nothing to the recycle bin.
    moved: dict[str, list[int]] = {}
    for relation in relations("account"):
        ids = _move(relation, source=merged, dest=kept)
        if ids:
            moved[relation.label] = ids
            _audit_moves(actor=actor, relation=relation, ids=ids, source=merged, dest=kept, action="merge", note=note)
    # 2. The merged account leaves (before the kept one may take over its credit code).
    _soft_delete(actor=actor, obj=merged, note=_("Merged into %(kept)s.") % {"kept": _label(kept)})
    # 3. The latest rating of the combined series is the kept account's rating now.
    latest = AccountRating.objects.filter(account=kept).order_by("-rated_at", "-id").first()
    if latest is not None and (kept.rated_at is None or latest.rated_at > kept.rated_at):
        values.update(grade=latest.grade, score=latest.score, rated_at=latest.rated_at)
    # 4. The kept account's fields.
    try:
        with transaction.atomic():
            _write(kept, values)
    except IntegrityError:
        raise Invalid(errors={"credit_code": [_("Another account already has this credit code.")]})
    kept.tags.add(*merged.tags.all())
    account_refresh_search(kept)
    kept.refresh_from_db()
    after = _snapshot(kept, ACCOUNT_FIELDS + ACCOUNT_DERIVED)
    changes: dict[str, Any] = _delta(Account, before, after)
    after_tags = sorted(kept.tags.values_list("pk", flat=True))
    if after_tags != before_tags:
        changes["tags"] = [before_tags, after_tags]
    changes["moved"] = [None, {label: len(ids) for label, ids in moved.items()}]
    if kept.owner_id != before["owner"]:
        ownership_record(account=kept, from_user=_user(before["owner"]), to_user=kept.owner,
                         kind=OwnershipChange.Kind.MERGED, actor=actor, reason=note)
    record = MergeRecord.objects.create(
        target="account", kept_id=kept.pk, merged_id=merged.pk, choices=clean, moved=moved, actor=actor,
        before={"fields": before, "tags": before_tags, "version": kept.version, "name": str(merged),
                "code": merged.code},
    )
    audit.record(actor=actor, action="merge", obj=kept, changes=changes, note=f"{note} (merge #{record.pk})")
    _merged(kept, merged)
    return record


def _user(pk: int | None) -> Any:
    from guanxi.core.models import User

    return User.objects.filter(pk=pk).first() if pk else None


def _record_for_undo(actor: Any, record: MergeRecord) -> MergeRecord:
    if not has_perm(actor, "account.merge"):
        raise Forbidden()
    model = Account if record.target == "account" else Contact
    records.get_visible(actor, model, record.kept_id)  # hidden (or in the recycle bin) = 404
    record = MergeRecord.objects.select_for_update().get(pk=record.pk)
    if record.undone_at is not None:
        raise Invalid(_("This merge has already been undone."))
    return record


def _check_undo_safe(kept: Any, record: MergeRecord) -> None:
    if kept.version != record.before.get("version"):
        raise Conflict(_("%(name)s was changed after the merge, so undoing it would lose those changes. "
                         "Undo is no longer possible; edit the record by hand.") % {"name": kept})


RATING_COLUMNS = frozenset({"grade", "score", "rated_at"})


def _rating_columns_from_series(account: Account) -> None:
    """Set an account's grade, score and rating time from its newest rating (derived: no version bump)."""
    latest = AccountRating.objects.filter(account_id=account.pk).order_by("-rated_at", "-id").first()
    Account.all_objects.filter(pk=account.pk).update(
        grade=latest.grade if latest else "", score=latest.score if latest else None,
        rated_at=latest.rated_at if latest else None)


@transaction.atomic
def account_merge_undo(*, actor: Any, record: MergeRecord) -> MergeRecord:
    """Put both accounts back as they were: the kept one's fields and tags, the merged one
    out of the recycle bin, and exactly the related rows that moved back to it."""
    record = _record_for_undo(actor, record)
    _lock(Account, record.kept_id, record.merged_id)
    kept = Account.all_objects.get(pk=record.kept_id)
    merged = Account.all_objects.get(pk=record.merged_id)
    _check_undo_safe(kept, record)
    # The rating columns follow the rating series (moved back below), not the snapshot:
    # a re-rating after the merge is not a user edit and must survive the undo.
    before: dict[str, Any] = {k: v for k, v in record.before["fields"].items() if k not in RATING_COLUMNS}
    current = _snapshot(kept, ACCOUNT_FIELDS + ACCOUNT_DERIVED)
    values = {name: _decode(Account, name, value) for name, value in before.items()}
    # The kept account gives back the merged one's credit code (if it took it) before that comes back.
    try:
        with transaction.atomic():
            _write(kept, values)
    except IntegrityError:
        raise Invalid(_("The kept account's old credit code is now used by another account; "
                        "the merge cannot be undone."))
    # Take away only the tags the merge brought from the other account; tags given since stay.
    brought = set(merged.tags.values_list("pk", flat=True)) - set(record.before.get("tags", []))
    kept.tags.remove(*brought)
    if merged.deleted_at is not None:
        _undelete(merged)
    note = _("Merge #%(id)s undone.") % {"id": record.pk}
    by_label = {rel.label: rel for rel in relations("account")}
    returned: dict[str, int] = {}
    for label, ids in record.moved.items():
        relation = by_label.get(label)
        if relation is None:
            continue
        back = _move(relation, source=kept, dest=merged, ids=ids)
        returned[label] = len(back)
        _audit_moves(actor=actor, relation=relation, ids=back, source=kept, dest=merged, action="unmerge", note=note)
    account_refresh_search(kept)
    account_refresh_search(merged)
    for account in (kept, merged):
        _rating_columns_from_series(account)
    kept.refresh_from_db()
    if kept.owner_id != current["owner"]:
        ownership_record(account=kept, from_user=_user(current["owner"]), to_user=kept.owner,
                         kind=OwnershipChange.Kind.RESTORED, actor=actor, reason=note)
    changes: dict[str, Any] = _delta(Account, current, _snapshot(kept, ACCOUNT_FIELDS + ACCOUNT_DERIVED))
    changes["moved_back"] = [None, returned]
    audit.record(actor=actor, action="unmerge", obj=kept, changes=changes, note=note)
    audit.record(actor=actor, action="unmerge", obj=merged, changes={"deleted_at": [None, None]}, note=note)
    record.undone_at = timezone.now()
    record.undone_by = actor
    record.save(update_fields=["undone_at", "undone_by"])
    _merged(kept, merged)
    return record


# --- Contacts -------------------------------------------------------------------------------------
@transaction.atomic
def contact_merge(*, actor: Any, kept: Contact, merged: Contact, choices: dict[str, Any] | None = None,
                  expected_versions: dict[str, Any] | None = None) -> MergeRecord:
    """Merge two people (at the same or different accounts, both visible to the actor)."""
    kept, merged, clean = _prepare(actor, kept, merged, choices, expected_versions, CONTACT_FIELDS)
    names = CONTACT_FIELDS + CONTACT_DERIVED
    before = _snapshot(kept, names)
    values: dict[str, Any] = {}
    for name in CONTACT_FIELDS:
        source = merged if clean.get(name) == MERGED else kept
        values[name] = getattr(source, _attname(Contact, name))
    values["custom"] = _merged_custom(kept, merged, clean)
    note = _("Merged from %(merged)s.") % {"merged": _label(merged)}
    moved: dict[str, list[int]] = {}
    for relation in relations("contact"):
        ids = _move(relation, source=merged, dest=kept)
        if ids:
            moved[relation.label] = ids
            _audit_moves(actor=actor, relation=relation, ids=ids, source=merged, dest=kept, action="merge", note=note)
    _soft_delete(actor=actor, obj=merged, note=_("Merged into %(kept)s.") % {"kept": _label(kept)})
    _write(kept, values)
    for account_id in {before["account"], kept.account_id, merged.account_id}:
        account_refresh_search(Account(pk=account_id))
    changes: dict[str, Any] = _delta(Contact, before, _snapshot(kept, names))
    changes["moved"] = [None, {label: len(ids) for label, ids in moved.items()}]
    record = MergeRecord.objects.create(
        target="contact", kept_id=kept.pk, merged_id=merged.pk, choices=clean, moved=moved, actor=actor,
        before={"fields": before, "version": kept.version, "name": str(merged), "code": ""},
    )
    audit.record(actor=actor, action="merge", obj=kept, changes=changes, note=f"{note} (merge #{record.pk})")
    return record


@transaction.atomic
def contact_merge_undo(*, actor: Any, record: MergeRecord) -> MergeRecord:
    record = _record_for_undo(actor, record)
    _lock(Contact, record.kept_id, record.merged_id)
    kept = Contact.all_objects.get(pk=record.kept_id)
    merged = Contact.all_objects.get(pk=record.merged_id)
    _check_undo_safe(kept, record)
    names = CONTACT_FIELDS + CONTACT_DERIVED
    current = _snapshot(kept, names)
    before: dict[str, Any] = record.before["fields"]
    _write(kept, {name: _decode(Contact, name, value) for name, value in before.items()})
    if merged.deleted_at is not None:
        if Account.all_objects.filter(pk=merged.account_id, deleted_at__isnull=False).exists():
            raise Invalid(_("The merged contact's account is in the recycle bin; restore it first."))
        _undelete(merged)
    note = _("Merge #%(id)s undone.") % {"id": record.pk}
    by_label = {rel.label: rel for rel in relations("contact")}
    for label, ids in record.moved.items():
        relation = by_label.get(label)
        if relation is not None:
            back = _move(relation, source=kept, dest=merged, ids=ids)
            _audit_moves(actor=actor, relation=relation, ids=back, source=kept, dest=merged, action="unmerge",
                         note=note)
    for account_id in {current["account"], kept.account_id, merged.account_id}:
        account_refresh_search(Account(pk=account_id))
    audit.record(actor=actor, action="unmerge", obj=kept, changes=_delta(Contact, current, _snapshot(kept, names)), note=note)
    audit.record(actor=actor, action="unmerge", obj=merged, changes={"deleted_at": [None, None]}, note=note)
    record.undone_at = timezone.now()
    record.undone_by = actor
    record.save(update_fields=["undone_at", "undone_by"])
    return record


def merge_undo(*, actor: Any, record: MergeRecord) -> MergeRecord:
    """Undo an account or a contact merge (the views and the API call this one)."""
    if record.target == "contact":
        return contact_merge_undo(actor=actor, record=record)
    return account_merge_undo(actor=actor, record=record)
