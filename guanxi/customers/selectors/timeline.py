"""The account timeline: everything that happened to an account and its people, newest first.

Each source returns its newest ``limit`` items already shaped as :class:`Item`; the timeline
merges them and keeps the newest ``limit`` overall, so the page costs one small indexed
query per source however long the account's life. Later apps (interactions, deals, cases)
add their own source with :func:`source`.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import CharField, Q
from django.db.models.functions import Cast
from django.utils.translation import gettext as _

from guanxi.core.models import AuditEvent
from guanxi.customers.models import Account, AccountRating, Contact, OwnershipChange


@dataclass(frozen=True)
class Item:
    at: dt.datetime
    kind: str  # a short machine name: "history", "rating", "ownership", …
    title: str
    detail: str = ""
    actor: str = ""
    url: str = ""


Source = Callable[[Any, Account, int], list[Item]]
_sources: list[Source] = []


def source(fn: Source) -> Source:
    """Register a timeline source: ``fn(user, account, limit)`` → its newest items."""
    _sources.append(fn)
    return fn


def account_timeline(user: Any, account: Account, *, limit: int = 50) -> list[Item]:
    """The newest ``limit`` events of an account the caller has already fetched through its scope."""
    streams = [fn(user, account, limit) for fn in _sources]
    return heapq.nlargest(limit, (item for stream in streams for item in stream), key=lambda item: item.at)


@source
def _history(user: Any, account: Account, limit: int) -> list[Item]:
    """Audit rows of the account and of its people (their changes are the account's story too)."""
    account_ct = ContentType.objects.get_for_model(Account)
    contact_ct = ContentType.objects.get_for_model(Contact)
    # The people (also those in the recycle bin) as a subquery: one query for the whole source.
    contact_ids = (Contact.all_objects.filter(account_id=account.pk).order_by("-id")
                   .annotate(key=Cast("pk", CharField())).values("key")[:500])
    where = Q(content_type=account_ct, object_id=str(account.pk)) | Q(content_type=contact_ct,
                                                                       object_id__in=contact_ids)
    rows = AuditEvent.objects.filter(where).exclude(action__in=["rate", "reassign", "claim", "release", "return"])
    items = []
    for event in rows.order_by("-at", "-id")[:limit]:
        on_contact = event.content_type_id == contact_ct.id
        title = event.get_action_display()
        if on_contact:
            title = _("%(action)s contact %(name)s") % {"action": title, "name": event.object_repr}
        fields = ", ".join(sorted(event.changes)[:6]) if event.action == "update" else ""
        items.append(Item(at=event.at, kind="history", title=title, detail=fields or event.note,
                          actor=event.actor_name))
    return items


@source
def _ratings(user: Any, account: Account, limit: int) -> list[Item]:
    from guanxi.customers.selectors.classification import RATINGS_SHOWN, page_ratings

    items = []
    ratings = (page_ratings(account)[:limit] if limit <= RATINGS_SHOWN
               else AccountRating.objects.filter(account=account).select_related("rated_by")[:limit])
    for rating in ratings:
        if rating.previous_grade and rating.previous_grade != rating.grade:
            title = _("Grade %(old)s → %(new)s") % {"old": rating.previous_grade, "new": rating.grade}
        else:
            title = _("Rated %(grade)s") % {"grade": rating.grade}
        items.append(Item(at=rating.rated_at, kind="rating", title=title,
                          detail=f"{rating.score} · {rating.get_kind_display()}" + (f" · {rating.note}" if rating.note else ""),
                          actor=str(rating.rated_by) if rating.rated_by_id else ""))
    return items


@source
def _ownership(user: Any, account: Account, limit: int) -> list[Item]:
    from guanxi.customers.selectors.pool import OWNERSHIP_SHOWN, page_ownership

    items = []
    rows = (page_ownership(account)[:limit] if limit <= OWNERSHIP_SHOWN
            else OwnershipChange.objects.filter(account=account).select_related("from_user", "to_user", "actor")[:limit])
    for change in rows:
        detail = f"{change.from_user or _('(pool)')} → {change.to_user or _('(pool)')}"
        items.append(Item(at=change.at, kind="ownership", title=change.get_kind_display(),
                          detail=detail + (f" · {change.reason}" if change.reason else ""),
                          actor=str(change.actor) if change.actor_id else ""))
    return items
