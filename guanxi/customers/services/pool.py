"""Customer-file writes: ownership, reassignment and the customer pool (R1.8, R10.5, R13.1, S7).

Every write: one transaction, rights checked first, one audit row and one ownership-history
row per account moved. Moves of many accounts are bulk UPDATEs per target with the audit
and history rows bulk-inserted, so a book of thousands moves in a few statements.

Two small registries let later apps plug in without this module knowing them:

* book movers (:func:`register_book_mover`): what else moves when a person's book moves
  (open follow-ups, open deals …). Accounts and contacts are registered here.
* pool keepers (:func:`register_pool_keeper`): accounts never returned to the pool
  automatically, e.g. those with a running contract ("contract-aware", R13.1). None yet.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guanxi.core import access, audit, context
from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.models import AuditEvent, Notification, User
from guanxi.core.permissions import has_perm
from guanxi.core.services.records import apply_update
from guanxi.customers.models import Account, Contact, Grade, OwnershipChange, PoolSettings
from guanxi.customers.selectors import account_scope
from guanxi.customers.selectors import pool as reads

CHUNK = 1000
Kind = OwnershipChange.Kind


# --- Bulk rows ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Move:
    """One account changing hands: what its audit and history rows say."""

    account_id: int
    name: str
    from_user_id: int | None
    from_department_id: int | None
    to_user: User | None


def _user_ref(user_id: int | None, names: dict[int, str]) -> dict[str, Any] | None:
    return None if user_id is None else {"id": user_id, "repr": names.get(user_id, str(user_id))}


def _write_rows(*, actor: Any, moves: Sequence[Move], action: str, kind: str, reason: str,
                now: dt.datetime) -> None:
    """Bulk-insert one audit row and one ownership-history row per move."""
    if not moves:
        return
    origin = context.current()
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    ct = ContentType.objects.get_for_model(Account)
    ids = {m.from_user_id for m in moves if m.from_user_id} | {m.to_user.pk for m in moves if m.to_user}
    names = {u.pk: str(u) for u in User.objects.filter(pk__in=ids)}
    events, history = [], []
    for m in moves:
        to_id = m.to_user.pk if m.to_user else None
        to_dept = m.to_user.department_id if m.to_user else None
        events.append(AuditEvent(
            at=now, actor=actor if is_user else None,
            actor_name=(actor.get_username() if is_user else "system")[:150], ip=origin.ip, channel=origin.channel,
            action=action, content_type=ct, object_id=str(m.account_id), object_repr=m.name[:200], note=reason,
            changes={"owner": [_user_ref(m.from_user_id, names), _user_ref(to_id, names)],
                     "department": [m.from_department_id, to_dept]},
        ))
        history.append(OwnershipChange(account_id=m.account_id, from_user_id=m.from_user_id, to_user_id=to_id,
                                       kind=kind, reason=reason, actor=actor if is_user else None, at=now))
    AuditEvent.objects.bulk_create(events, batch_size=CHUNK)
    OwnershipChange.objects.bulk_create(history, batch_size=CHUNK)
    for listener in _OWNER_LISTENERS:
        listener(actor, moves, reason, now)


# Called in the same transaction after accounts changed hands (reassigned, claimed,
# released, returned to the pool): later apps move what belongs to the account's owner
# (open follow-ups, open deals) with it. ``listener(actor, moves, reason, now)``.
OwnerListener = Callable[[Any, Sequence["Move"], str, dt.datetime], None]
_OWNER_LISTENERS: list[OwnerListener] = []


def register_owner_listener(listener: OwnerListener) -> OwnerListener:
    _OWNER_LISTENERS.append(listener)
    return listener


def _notify(user_id: int, *, title: str, body: str = "", url: str = "") -> Notification:
    return Notification(user_id=user_id, title=str(title)[:200], body=body, url=url)


def _account_url(account_id: int) -> str:
    return f"/accounts/{account_id}/"


def _move_accounts(*, actor: Any, rows: list[Any], to_user: User, reason: str, kind: str,
                   action: str, now: dt.datetime) -> list[Move]:
    """Give ``rows`` (dicts of id, name, owner_id, department_id) to ``to_user`` in chunks.

    The UPDATE repeats each row's owner as read, so a row someone moved meanwhile is left
    alone and gets no audit row.
    """
    moved: list[Move] = []
    by_owner: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_owner[row["owner_id"]].append(row)
    for owner_id, group in by_owner.items():
        for start in range(0, len(group), CHUNK):
            chunk = {r["id"]: r for r in group[start:start + CHUNK]}
            qs = Account.all_objects.filter(pk__in=chunk, owner_id=owner_id)
            still = set(qs.values_list("pk", flat=True))
            qs.filter(pk__in=still).update(owner=to_user, department=to_user.department_id, pool_entered_at=None,
                                           pool_notice_at=None, last_activity_at=now,
                                           version=F("version") + 1, updated_at=now)
            moved += [Move(pk, chunk[pk]["name"], owner_id, chunk[pk]["department_id"], to_user) for pk in sorted(still)]
    _write_rows(actor=actor, moves=moved, action=action, kind=kind, reason=reason, now=now)
    return moved


# --- Reassignment (R10.5) ---------------------------------------------------------------------
def _check_target(actor: Any, to_user: User | None, field_name: str = "to_user") -> User:
    if to_user is None or not to_user.is_active or not access.manages_user(actor, to_user):
        raise Invalid(errors={field_name: [_("Choose an active colleague you manage.")]})
    return to_user


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(errors={"reason": [_("Give a reason: it is kept in the ownership history.")]})
    return reason[:1000]


@dataclass
class ReassignResult:
    moved: int = 0
    skipped: int = 0
    per_user: dict[int, int] = field(default_factory=dict)
    extra: dict[str, int] = field(default_factory=dict)


@transaction.atomic
def account_reassign(*, actor: Any, accounts: Iterable[Account | int], to_user: User | None, reason: str,
                     expected_version: int | None = None) -> ReassignResult:
    """Give one or many accounts the actor sees to one colleague the actor manages.

    Accounts already owned by ``to_user`` are skipped. ``expected_version`` applies when a
    single account is given (a stale one is refused with Conflict).
    """
    if not has_perm(actor, "account.reassign"):
        raise Forbidden()
    ids = sorted({a.pk if isinstance(a, Account) else int(a) for a in accounts})
    if not ids:
        raise Invalid(errors={"ids": [_("Choose at least one account.")]})
    target = _check_target(actor, to_user)
    reason = _clean_reason(reason)
    rows: list[Any] = list(account_scope(actor).filter(pk__in=ids).values(
        "id", "name", "owner_id", "department_id", "version"))
    if len(rows) != len(ids):
        raise NotFound()
    if expected_version is not None and len(rows) == 1 and rows[0]["version"] != int(expected_version):
        raise Conflict()
    todo = [r for r in rows if r["owner_id"] != target.pk]
    if len(ids) == 1 and not todo:
        raise Invalid(errors={"to_user": [_("%(name)s already owns this account.") % {"name": target}]})
    now = timezone.now()
    moved = _move_accounts(actor=actor, rows=todo, to_user=target, reason=reason, kind=Kind.REASSIGNED,
                           action=AuditEvent.Action.REASSIGN, now=now)
    if len(moved) == 1:
        Notification.objects.bulk_create([_notify(
            target.pk, title=_("%(actor)s gave you the account %(name)s") % {"actor": actor, "name": moved[0].name},
            body=reason, url=_account_url(moved[0].account_id))])
    elif moved:
        Notification.objects.bulk_create([_notify(
            target.pk, title=_("%(actor)s gave you %(count)d accounts") % {"actor": actor, "count": len(moved)},
            body=reason, url="/accounts/")])
    return ReassignResult(moved=len(moved), skipped=len(rows) - len(moved),
                          per_user={target.pk: len(moved)} if moved else {})


# --- Book movers: what moves with a person's book -----------------------------------------------
@dataclass(frozen=True)
class BookMover:
    """One kind of record in a person's book.

    ``count(actor, from_user, account_ids)`` says how many records move with those accounts
    (``account_ids`` None: the whole book); ``move(actor, from_user, plan, reason, now)``
    moves them, given the plan {new owner: [account ids]}, and returns how many moved,
    writing one audit row per record. A mover whose records follow their account without
    a write (contacts) returns the count only.
    """

    key: str
    label: Any
    count: Callable[[Any, User, list[int] | None], int]
    move: Callable[[Any, User, dict[User, list[int]], str, dt.datetime], int]


_MOVERS: dict[str, BookMover] = {}


def register_book_mover(mover: BookMover) -> BookMover:
    """Add a kind of record to book reassignment (later apps: open follow-ups, open deals)."""
    _MOVERS[mover.key] = mover
    return mover


def book_movers() -> list[BookMover]:
    return list(_MOVERS.values())


def _contacts_count(actor: Any, from_user: User, account_ids: list[int] | None) -> int:
    qs = Contact.objects.filter(account__owner=from_user, account__deleted_at__isnull=True)
    if account_ids is not None:
        qs = qs.filter(account_id__in=account_ids)
    return qs.count()


def _contacts_move(actor: Any, from_user: User, plan: dict[User, list[int]], reason: str, now: dt.datetime) -> int:
    # Contacts have no owner of their own: they are seen through their account, so they
    # have already moved with it. Counted so the manager sees that nobody is left behind.
    return Contact.objects.filter(account_id__in=[i for ids in plan.values() for i in ids],
                                  account__deleted_at__isnull=True).count()


register_book_mover(BookMover(
    key="accounts", label=gettext_lazy("Accounts"),
    count=lambda actor, from_user, ids: len(ids) if ids is not None else reads.book_accounts(actor, from_user).count(),
    move=lambda actor, from_user, plan, reason, now: 0,  # done by book_reassign itself: it makes the plan
))
register_book_mover(BookMover(key="contacts", label=gettext_lazy("Contacts"), count=_contacts_count,
                              move=_contacts_move))


STRATEGIES = ("round_robin", "all_to_first")


def _plan(account_ids: list[int], targets: list[User], strategy: str) -> dict[User, list[int]]:
    plan: dict[User, list[int]] = {t: [] for t in targets}
    for i, pk in enumerate(account_ids):
        plan[targets[0] if strategy == "all_to_first" else targets[i % len(targets)]].append(pk)
    return plan


def _check_book(actor: Any, from_user: User | None, to_users: Sequence[User | None], strategy: str,
                *, need_targets: bool) -> list[User]:
    if not has_perm(actor, "account.reassign"):
        raise Forbidden()
    if from_user is None or not access.manages_user(actor, from_user):
        raise NotFound()
    errors: dict[str, list[str]] = {}
    if strategy not in STRATEGIES:
        errors["strategy"] = [_("Choose how to split the accounts.")]
    targets: list[User] = []
    for user in to_users:
        if user is None or not user.is_active or not access.manages_user(actor, user):
            errors["to_users"] = [_("Choose active colleagues you manage.")]
        elif user.pk == from_user.pk:
            errors["to_users"] = [_("Choose someone other than the person whose book moves.")]
        elif user not in targets:
            targets.append(user)
    if need_targets and not targets and "to_users" not in errors:
        errors["to_users"] = [_("Choose at least one colleague.")]
    if errors:
        raise Invalid(errors=errors)
    return targets


def book_reassign_preview(*, actor: Any, from_user: User | None, to_users: Sequence[User | None] = (),
                          strategy: str = "round_robin") -> dict[str, Any]:
    """What would move: totals per kind of record, and per target when targets are given.

    Returns {"totals": {key: n}, "labels": {key: label}, "split": [{"user": u, "counts": {key: n}}]}.
    """
    targets = _check_book(actor, from_user, to_users, strategy, need_targets=False)
    assert from_user is not None
    ids = list(reads.book_accounts(actor, from_user).order_by("pk").values_list("pk", flat=True))
    totals = {m.key: m.count(actor, from_user, ids if m.key != "accounts" else None) for m in book_movers()}
    totals["accounts"] = len(ids)
    split = []
    if targets:
        per_account = dict(Contact.objects.filter(account_id__in=ids, account__deleted_at__isnull=True)
                           .values_list("account_id").annotate(n=Count("id")).values_list("account_id", "n"))
        for user, chunk in _plan(ids, targets, strategy).items():
            counts = {"accounts": len(chunk), "contacts": sum(per_account.get(i, 0) for i in chunk)}
            for mover in book_movers():
                if mover.key not in counts:
                    counts[mover.key] = mover.count(actor, from_user, chunk)
            split.append({"user": user, "counts": counts})
    return {"totals": totals, "labels": {m.key: str(m.label) for m in book_movers()}, "split": split,
            "from_user": from_user}


@transaction.atomic
def book_reassign(*, actor: Any, from_user: User | None, to_users: Sequence[User | None], reason: str,
                  strategy: str = "round_robin") -> ReassignResult:
    """Move a person's whole book (active or deactivated: S7) to one or several colleagues.

    Accounts (including those in the recycle bin, so nothing is lost when one is restored)
    are split by ``strategy``; every registered book mover then moves its records with them.
    """
    targets = _check_book(actor, from_user, to_users, strategy, need_targets=True)
    assert from_user is not None
    reason = _clean_reason(reason)
    rows: list[Any] = list(reads.book_accounts(actor, from_user, include_deleted=True).order_by("pk")
                                      .values("id", "name", "owner_id", "department_id"))
    by_id = {r["id"]: r for r in rows}
    plan = _plan([r["id"] for r in rows], targets, strategy)
    now = timezone.now()
    result = ReassignResult()
    notes = []
    for user, ids in plan.items():
        moved = len(_move_accounts(actor=actor, rows=[by_id[i] for i in ids], to_user=user, reason=reason,
                                   kind=Kind.REASSIGNED, action=AuditEvent.Action.REASSIGN, now=now))
        result.moved += moved
        result.per_user[user.pk] = moved
        if moved:
            notes.append(_notify(user.pk, title=_("%(actor)s gave you %(count)d accounts of %(from)s") % {
                "actor": actor, "count": moved, "from": from_user}, body=reason, url="/accounts/"))
    Notification.objects.bulk_create(notes)
    for mover in book_movers():
        if mover.key != "accounts":
            result.extra[mover.key] = mover.move(actor, from_user, plan, reason, now)
    result.skipped = len(rows) - result.moved
    audit.record(actor=actor, action=AuditEvent.Action.REASSIGN, obj=from_user, note=reason,
                 changes={"book": [from_user.pk, [u.pk for u in targets]], "accounts": result.moved, **result.extra})
    return result


# --- The customer pool (R13.1) ----------------------------------------------------------------
def claim_count(user: Any) -> int:
    """How many accounts ``user`` claimed from the pool and still owns (what the cap counts)."""
    return reads.claimed_accounts(user).count()


@transaction.atomic
def pool_claim(*, actor: Any, account: Account) -> Account:
    """Take an account from the pool. Of two people claiming at once exactly one wins."""
    if not has_perm(actor, "pool.claim"):
        raise Forbidden()
    # One claim at a time per person, so two quick clicks cannot both pass the cap.
    User.objects.select_for_update().filter(pk=actor.pk).first()
    cap = PoolSettings.current().claim_cap
    held = claim_count(actor)
    if held >= cap:
        raise Invalid(_("You already hold %(held)d accounts from the pool, the most allowed is %(cap)d. "
                        "Release one or follow up on them first.") % {"held": held, "cap": cap})
    now = timezone.now()
    rows = Account.objects.filter(pk=account.pk, owner__isnull=True).update(
        owner=actor.pk, department=actor.department_id, pool_entered_at=None, pool_notice_at=None,
        last_activity_at=now, version=F("version") + 1, updated_at=now)
    if rows != 1:
        raise Conflict(_("Someone else claimed this account a moment ago."))
    _write_rows(actor=actor, moves=[Move(account.pk, account.name, None, None, actor)], action=AuditEvent.Action.CLAIM,
                kind=Kind.CLAIMED, reason="", now=now)
    account.refresh_from_db()
    return account


@transaction.atomic
def pool_release(*, actor: Any, account: Account, reason: str, expected_version: int | None = None) -> Account:
    """Put an account back into the pool (owner and department cleared)."""
    if not has_perm(actor, "pool.release"):
        raise Forbidden()
    if account.owner_id is None:
        raise Invalid(_("This account is already in the pool."))
    if not reads.can_release(actor, account):
        raise Forbidden(_("Only the owner or their manager can release this account."))
    reason = _clean_reason(reason)
    if expected_version is not None and int(expected_version) != account.version:
        raise Conflict()
    now = timezone.now()
    rows = Account.objects.filter(pk=account.pk, owner_id=account.owner_id).update(
        owner=None, department=None, pool_entered_at=now, pool_notice_at=None, version=F("version") + 1, updated_at=now)
    if rows != 1:
        raise Conflict()
    _write_rows(actor=actor, moves=[Move(account.pk, account.name, account.owner_id, account.department_id, None)],
                action=AuditEvent.Action.RELEASE, kind=Kind.RELEASED, reason=reason, now=now)
    account.refresh_from_db()
    return account


@transaction.atomic
def pool_settings_update(*, actor: Any, expected_version: int | None, **changes: Any) -> PoolSettings:
    if not has_perm(actor, "pool.manage"):
        raise Forbidden()
    allowed = {"claim_cap", "default_return_days", "notice_days", "auto_return"}
    unknown = set(changes) - allowed
    if unknown:
        raise Invalid(errors={k: [_("This field cannot be set here.")] for k in sorted(unknown)})
    obj = PoolSettings.current()
    errors: dict[str, list[str]] = {}
    for name in ("claim_cap", "default_return_days", "notice_days"):
        if name in changes and (not isinstance(changes[name], int) or changes[name] < 0):
            errors[name] = [_("Enter a whole number, 0 or more.")]
    days = changes.get("default_return_days", obj.default_return_days)
    notice = changes.get("notice_days", obj.notice_days)
    if not errors and days < 1:
        errors["default_return_days"] = [_("Enter at least 1 day.")]
    if not errors and notice >= days:
        errors["notice_days"] = [_("The notice must be shorter than the days before return.")]
    if errors:
        raise Invalid(errors=errors)
    apply_update(actor=actor, obj=obj, changes=changes, expected_version=expected_version)
    return obj


# --- Idle accounts return to the pool ------------------------------------------------------------
# Each returns a condition matching accounts that must stay with their owner whatever their
# idle time, e.g. a contracts app: lambda now: Q(contracts__state="active", contracts__ends_on__gte=now.date()).
_KEEPERS: list[Callable[[dt.datetime], Q]] = []


def register_pool_keeper(keeper: Callable[[dt.datetime], Q]) -> Callable[[dt.datetime], Q]:
    """Keep matching accounts out of the automatic return ("contract-aware", R13.1)."""
    _KEEPERS.append(keeper)
    return keeper


def account_touch(account_id: int | Iterable[int], when: dt.datetime | None = None) -> int:
    """Record a follow-up or deal on an account: its idle clock restarts, a pending notice lapses.

    For later apps (follow-ups, deals) to call inside their own service's transaction. A
    derived column: not versioned, not audited (the follow-up itself is).
    """
    when = when or timezone.now()
    ids = [account_id] if isinstance(account_id, int) else list(account_id)
    return Account.all_objects.filter(pk__in=ids).filter(
        Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=when)
    ).update(last_activity_at=when, pool_notice_at=None)


def _buckets(settings: PoolSettings) -> list[tuple[Q, int]]:
    """(which accounts, days before return): one bucket per grade with its own N, one for the rest."""
    own = dict(Grade.objects.filter(pool_return_days__isnull=False).values_list("code", "pool_return_days"))
    buckets: list[tuple[Q, int]] = [(Q(grade=code), int(days or 0)) for code, days in own.items()]
    buckets.append((~Q(grade__in=list(own)), settings.default_return_days))
    return buckets


def _idle_owned() -> QuerySet[Account]:
    qs = Account.objects.filter(owner__isnull=False).annotate(idle_since=Coalesce("last_activity_at", "created_at"))
    return qs


@transaction.atomic
def _return_chunk(ids: list[int], cond: Q, now: dt.datetime, reason: str) -> list[Move]:
    rows = list(_idle_owned().select_for_update().filter(cond, pk__in=ids)
                .values("id", "name", "owner_id", "department_id"))
    if not rows:
        return []
    Account.objects.filter(pk__in=[r["id"] for r in rows]).update(
        owner=None, department=None, pool_entered_at=now, pool_notice_at=None, version=F("version") + 1,
        updated_at=now)
    moves = [Move(r["id"], r["name"], r["owner_id"], r["department_id"], None) for r in rows]
    _write_rows(actor=None, moves=moves, action=AuditEvent.Action.RETURN, kind=Kind.RETURNED, reason=reason, now=now)
    return moves


def pool_return_idle(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The daily job: warn owners of accounts idle close to N days, then return them at N.

    N is the account's grade's ``pool_return_days`` or the default. An owner is warned
    ``notice_days`` ahead (``pool_notice_at``); an account returns only when it is idle N
    days *and* was announced at least ``notice_days`` ago with no activity since. Accounts
    matched by a registered keeper stay. Bulk: a few statements per thousand accounts.
    """
    now = now or timezone.now()
    settings = PoolSettings.current()
    stats = {"noticed": 0, "returned": 0}
    if not settings.auto_return:
        return stats
    keep = Q()
    for keeper in _KEEPERS:
        keep |= keeper(now)
    notice = dt.timedelta(days=settings.notice_days)
    announced: dict[int, list[tuple[int, str]]] = defaultdict(list)
    returned: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for bucket, days in _buckets(settings):
        base = _idle_owned().filter(bucket)
        if keep:
            base = base.exclude(keep)
        # 1. Notice: idle long enough to be within notice_days of return, not yet (validly) announced.
        due = base.filter(Q(idle_since__lt=now - dt.timedelta(days=days) + notice)).filter(
            Q(pool_notice_at__isnull=True) | Q(pool_notice_at__lt=F("idle_since")))
        for row in due.values("id", "name", "owner_id").iterator(chunk_size=CHUNK):
            announced[row["owner_id"]].append((row["id"], row["name"]))
        # 2. Return: idle N days, announced after the last activity and at least notice_days ago.
        cond = Q(idle_since__lt=now - dt.timedelta(days=days), pool_notice_at__isnull=False,
                 pool_notice_at__lte=now - notice, pool_notice_at__gte=F("idle_since")) & bucket
        ids = list(base.filter(cond).values_list("pk", flat=True))
        for start in range(0, len(ids), CHUNK):
            for m in _return_chunk(ids[start:start + CHUNK], cond & ~keep if keep else cond, now,
                                   _("No follow-up or deal for %(days)d days") % {"days": days}):
                assert m.from_user_id is not None
                returned[m.from_user_id].append((m.account_id, m.name))
    all_announced = [pk for items in announced.values() for pk, _n in items]
    with transaction.atomic():
        for start in range(0, len(all_announced), CHUNK):
            Account.objects.filter(pk__in=all_announced[start:start + CHUNK]).update(pool_notice_at=now)
        notes = [_notice(owner_id, items, settings.notice_days, returning=False) for owner_id, items in announced.items()]
        notes += [_notice(owner_id, items, 0, returning=True) for owner_id, items in returned.items()]
        Notification.objects.bulk_create(notes, batch_size=CHUNK)
    stats["noticed"] = len(all_announced)
    stats["returned"] = sum(len(v) for v in returned.values())
    return stats


def _notice(owner_id: int, items: list[tuple[int, str]], days: int, *, returning: bool) -> Notification:
    names = "、".join(name for _pk, name in items[:10]) + ("…" if len(items) > 10 else "")
    url = _account_url(items[0][0]) if len(items) == 1 else "/accounts/"
    if returning:
        title = _("%(count)d of your accounts returned to the customer pool") % {"count": len(items)}
    else:
        title = _("%(count)d of your accounts return to the customer pool in %(days)d days unless followed up") % {
            "count": len(items), "days": days}
    return _notify(owner_id, title=title, body=names, url=url)


@db_periodic_task(crontab(minute="20", hour="2"))
def return_idle_accounts() -> dict[str, int]:
    with context.origin(None, "job"):
        return pool_return_idle()
