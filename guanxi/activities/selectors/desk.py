"""Reads of my desk (R3.3) and the morning digest (R13.10): small, indexed, limited.

The desk answers in 50 ms at 100,000 accounts and 200,000 follow-ups (B4): every read
here is one query on an index with a ``LIMIT``; counts stop at ``COUNT_CAP`` (shown as
"99+"), and nothing is read per row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, QuerySet, Subquery
from django.utils import timezone

from guanxi.activities.models import DeskPreference, FollowUp
from guanxi.activities.selectors import care as care_selectors
from guanxi.activities.selectors import followup_scope
from guanxi.activities.selectors.care import CareEvent
from guanxi.core import desk
from guanxi.core.models import Notification
from guanxi.core.paginator import capped_count
from guanxi.core.permissions import has_perm
from guanxi.customers.models import Account, OwnershipChange, PoolSettings

COUNT_CAP = 99
NEW_ACCOUNT_DAYS = 7
# How an account becomes someone's new customer (an ownership move *to* them).
NEW_KINDS = (OwnershipChange.Kind.CREATED, OwnershipChange.Kind.REASSIGNED, OwnershipChange.Kind.CLAIMED,
             OwnershipChange.Kind.IMPORTED)
BACK_IN_POOL_KINDS = (OwnershipChange.Kind.RETURNED, OwnershipChange.Kind.RELEASED)


def end_of_day(now: dt.datetime) -> dt.datetime:
    """Midnight after ``now``, local time."""
    day = timezone.localtime(now).date() + dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def start_of_day(now: dt.datetime) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(timezone.localtime(now).date(), dt.time.min))


def _mine(user: Any) -> QuerySet[FollowUp]:
    # FollowUp.objects leaves out deleted rows: with state=open this is the partial index
    # followup_open_owner_due (owner, due_at); the account scope keeps out follow-ups on an
    # account the user no longer sees.
    return followup_scope(user).filter(owner_id=user.pk, state=FollowUp.State.OPEN)


def my_overdue(user: Any, now: dt.datetime) -> QuerySet[FollowUp]:
    return _mine(user).filter(due_at__lt=now)


def my_due_today(user: Any, now: dt.datetime) -> QuerySet[FollowUp]:
    return _mine(user).filter(due_at__gte=now, due_at__lt=end_of_day(now))


# What a desk or digest row shows: compiling and reading the whole account (60 columns) for
# ten rows cost more than the query itself.
ROW_FIELDS = ("id", "version", "title", "due_at", "state", "owner_id", "account_id", "contact_id", "account__id",
              "account__name", "contact__id", "contact__name")


def _first_ids(qs: QuerySet[FollowUp], limit: int) -> list[int]:
    return list(qs.order_by("due_at", "id").values_list("pk", flat=True)[:limit])


def _count(qs: QuerySet[FollowUp], rows: list[FollowUp], limit: int) -> tuple[int, bool]:
    """Fewer rows than the limit are all there is; only a full page asks the database (capped)."""
    return (len(rows), False) if len(rows) < limit else capped_count(qs, COUNT_CAP)


def due_counts(user: Any, now: dt.datetime) -> dict[str, Any]:
    """My overdue and due-today follow-ups as capped counts (SQL expressions: the desk's facts)."""
    return {"overdue": desk.CappedCount(my_overdue(user, now), COUNT_CAP),
            "today": desk.CappedCount(my_due_today(user, now), COUNT_CAP)}


@dataclass
class DueFollowUps:
    overdue: list[FollowUp]
    overdue_count: tuple[int, bool]  # (count up to the cap, more than the cap)
    today: list[FollowUp]
    today_count: tuple[int, bool]

    @property
    def empty(self) -> bool:
        return not self.overdue and not self.today


def due_followups(user: Any, now: dt.datetime, *, limit: int = 10,
                  counts: dict[str, Any] | None = None) -> DueFollowUps:
    """My open follow-ups: overdue (oldest first) and due later today.

    The first ``limit`` ids of each list come from the partial index of open follow-ups (one
    small index read each, skipped when ``counts`` says the list is empty), then one query reads
    their rows. (A single ``pk IN (…) OR pk IN (…)`` of the two limited subqueries looks cheaper
    but PostgreSQL plans it as a scan of every follow-up: 200 ms a call at M.) ``counts`` are the
    capped counts of ``due_counts`` when the caller has read them already (the desk), otherwise a
    full list asks for its count (two more at most).
    """
    overdue, today = my_overdue(user, now), my_due_today(user, now)
    ids: list[int] = []
    for queryset, key in ((overdue, "overdue"), (today, "today")):
        if counts is None or counts.get(key):
            ids += _first_ids(queryset, limit)
    rows: list[FollowUp] = []
    if ids:
        rows = list(FollowUp.objects.filter(pk__in=ids)
                    .select_related("account", "contact").only(*ROW_FIELDS).order_by("due_at", "id"))
    late = [f for f in rows if f.due_at < now]
    due = [f for f in rows if f.due_at >= now]
    if counts is not None:
        late_count, due_count = desk.capped(counts.get("overdue"), COUNT_CAP), desk.capped(counts.get("today"), COUNT_CAP)
    else:
        late_count, due_count = _count(overdue, late, limit), _count(today, due, limit)
    return DueFollowUps(overdue=late, overdue_count=late_count, today=due, today_count=due_count)


# What a new-customer or back-in-pool row shows (not the account's 60 columns).
CHANGE_FIELDS = ("id", "account_id", "kind", "at", "account__id", "account__name")


def _distinct_accounts(changes: list[OwnershipChange], limit: int) -> list[OwnershipChange]:
    seen: set[int] = set()
    out = []
    for change in changes:
        if change.account_id not in seen:
            seen.add(change.account_id)
            out.append(change)
    return out[:limit]


def new_accounts(user: Any, now: dt.datetime, *, days: int = NEW_ACCOUNT_DAYS, limit: int = 8) -> list[OwnershipChange]:
    """Accounts that became mine in the last ``days`` days and are still mine, newest first.

    Read from the ownership history (index to_user, kind, -at): created for me, reassigned
    to me, claimed or imported. One query.
    """
    since = now - dt.timedelta(days=days)
    changes = (OwnershipChange.objects.filter(to_user_id=user.pk, kind__in=NEW_KINDS, at__gte=since,
                                              account__owner_id=user.pk, account__deleted_at__isnull=True)
               .select_related("account").only(*CHANGE_FIELDS).order_by("-at", "-id")[:limit * 3])
    return _distinct_accounts(list(changes), limit)


def pool_facts(user: Any) -> dict[str, Any]:
    """Whether any of my accounts was announced to return to the pool, and the pool settings
    that say when (SQL expressions: the desk's facts)."""
    settings = PoolSettings.objects.order_by("pk")
    return {"announced": Exists(Account.objects.filter(owner_id=user.pk, pool_notice_at__isnull=False)),
            "auto_return": Subquery(settings.values("auto_return")[:1]),
            "notice_days": Subquery(settings.values("notice_days")[:1])}


def pool_returning(user: Any, now: dt.datetime, *, limit: int = 8,
                   known: dict[str, Any] | None = None) -> list[Account]:
    """My accounts announced to return to the pool unless followed up, soonest first.

    Each carries ``returns_at``: the earliest it can return (announcement + notice days).
    Two queries (the pool settings and the accounts, on the owner index); with ``known``
    (``pool_facts`` read by the desk) one at most.
    """
    if known is not None and known.get("auto_return") is not None and known.get("notice_days") is not None:
        auto_return, notice_days = bool(known["auto_return"]), int(known["notice_days"])
        if not known.get("announced"):
            return []
    else:
        settings = PoolSettings.current()
        auto_return, notice_days = settings.auto_return, settings.notice_days
    if not auto_return:
        return []
    rows = list(Account.objects.filter(owner_id=user.pk, pool_notice_at__isnull=False)
                .only("id", "name", "code", "pool_notice_at", "last_activity_at")
                .order_by("pool_notice_at", "id")[:limit])
    for account in rows:
        assert account.pool_notice_at is not None
        account.returns_at = account.pool_notice_at + dt.timedelta(days=notice_days)  # type: ignore[attr-defined]
    return rows


def back_in_pool(now: dt.datetime, *, days: int = NEW_ACCOUNT_DAYS, limit: int = 5) -> list[OwnershipChange]:
    """Accounts that went back to the pool in the last ``days`` days and are still there.

    The caller checks ``pool.view`` (whoever has it sees every pool account). One query
    on the index (to_user, kind, -at) with to_user empty.
    """
    since = now - dt.timedelta(days=days)
    changes = (OwnershipChange.objects.filter(to_user__isnull=True, kind__in=BACK_IN_POOL_KINDS, at__gte=since,
                                              account__owner__isnull=True, account__deleted_at__isnull=True)
               .select_related("account").only(*CHANGE_FIELDS).order_by("-at", "-id")[:limit * 3])
    return _distinct_accounts(list(changes), limit)


def wants_digest(user: Any) -> bool:
    """The morning digest is on unless the user switched it off."""
    value = DeskPreference.objects.filter(user_id=user.pk).values_list("morning_digest", flat=True).first()
    return True if value is None else bool(value)


def digest_fact(user: Any) -> Subquery:
    """``wants_digest`` as an SQL expression (NULL: never switched, so on)."""
    return Subquery(DeskPreference.objects.filter(user_id=user.pk).order_by("pk").values("morning_digest")[:1])


def unread_notifications(user: Any, *, limit: int = 10) -> tuple[list[Notification], tuple[int, bool]]:
    qs = Notification.objects.filter(user_id=user.pk, read_at__isnull=True)
    return list(qs.order_by("-created_at", "-id")[:limit]), capped_count(qs, COUNT_CAP)


def care_events(user: Any, start: dt.date, end: dt.date, *, limit: int = 10) -> list[CareEvent]:
    """My care calendar from ``start`` to ``end``: festivals, birthdays at my accounts, my
    care plans (the care calendar's own read, without greetings; at most three queries)."""
    if not has_perm(user, "care.view"):
        return []
    return care_selectors.care_events(user, start, end, mine=True, greetings=False, limit=limit)[:limit]


@dataclass
class Digest:
    """What the morning mail tells one person."""

    user: Any
    day: dt.date
    followups: DueFollowUps
    notifications: list[Notification]
    notification_count: tuple[int, bool]
    care: list[CareEvent] = field(default_factory=list)

    @property
    def items(self) -> int:
        return (self.followups.overdue_count[0] + self.followups.today_count[0] + self.notification_count[0]
                + len(self.care))


def digest_for(user: Any, now: dt.datetime, *, limit: int = 20) -> Digest:
    """The digest of ``user`` for the local day of ``now``: due and overdue follow-ups,
    unread notifications, today's care events."""
    day = timezone.localtime(now).date()
    notes, note_count = unread_notifications(user, limit=limit)
    return Digest(user=user, day=day, followups=due_followups(user, now, limit=limit), notifications=notes,
                  notification_count=note_count, care=care_events(user, day, day))
