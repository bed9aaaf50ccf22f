"""My desk's writes: the digest switch, and the overdue notices the queue raises (R3.2, R13.10)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from guanxi.activities.models import DeskPreference, FollowUp
from guanxi.activities.selectors import followup_scope
from guanxi.core import audit
from guanxi.core.errors import Forbidden
from guanxi.core.models import Notification, User

OVERDUE_BATCH = 1000
NAMES_IN_NOTICE = 5


def overdue_list_url() -> str:
    """The follow-up list filtered to the overdue ones (mine by default)."""
    return reverse("activities:followup-list") + "?overdue=1"


@transaction.atomic
def desk_preference_set(*, actor: Any, morning_digest: bool) -> DeskPreference:
    """Switch one's own morning digest on or off."""
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise Forbidden()
    pref, _created = DeskPreference.objects.select_for_update().get_or_create(user=actor)
    if pref.morning_digest != bool(morning_digest):
        audit.record(actor=actor, action="update", obj=pref, object_repr=str(actor),
                     changes={"morning_digest": [pref.morning_digest, bool(morning_digest)]})
        pref.morning_digest = bool(morning_digest)
        pref.save(update_fields=["morning_digest"])
    return pref


def followup_notify_overdue(*, now: dt.datetime | None = None, batch: int = OVERDUE_BATCH) -> int:
    """Tell every owner about their follow-ups that became overdue since the last run.

    One notification per owner and run ("3 follow-ups are overdue"), linking to their
    overdue list; each follow-up is told once (``overdue_notified_at``; rescheduling or
    reassigning clears it). Batches of ``batch`` rows, each its own transaction (a crash
    loses nothing: a batch is marked and announced together), rows locked with SKIP
    LOCKED so that two overlapping runs never tell twice. An owner met again in a later
    batch of the same run has their notice updated, not a second one. Returns how many
    follow-ups were announced.
    """
    now = now or timezone.now()
    told = 0
    url = overdue_list_url()
    notices: dict[int, tuple[Notification, list[tuple[str, str]]]] = {}
    while True:
        with transaction.atomic():
            rows = list(FollowUp.objects.select_for_update(skip_locked=True, of=("self",))
                        .filter(state=FollowUp.State.OPEN, overdue_notified_at__isnull=True, due_at__lt=now,
                                account__deleted_at__isnull=True)
                        .order_by("due_at", "id").values_list("pk", "owner_id", "title", "account__name")[:batch])
            if not rows:
                return told
            FollowUp.objects.filter(pk__in=[r[0] for r in rows]).update(overdue_notified_at=now)
            by_owner: dict[int, list[tuple[str, str]]] = defaultdict(list)
            pks: dict[int, list[int]] = defaultdict(list)
            for pk, owner_id, title, account_name in rows:
                by_owner[owner_id].append((title, account_name))
                pks[owner_id].append(pk)
            # Inactive owners have nobody to tell; reassigning their book clears the mark.
            for owner in User.objects.filter(pk__in=by_owner, is_active=True):
                # Only what the owner may still see (an account that moved on is not theirs to hear of).
                seen = set(followup_scope(owner).filter(pk__in=pks[owner.pk]).values_list("pk", flat=True))
                by_owner[owner.pk] = [item for pk, item in zip(pks[owner.pk], by_owner[owner.pk], strict=True)
                                      if pk in seen]
                if not by_owner[owner.pk]:
                    continue
                if owner.pk in notices:
                    note, items = notices[owner.pk]
                    items.extend(by_owner[owner.pk])
                    _word(note, owner, items)
                    note.save(update_fields=["title", "body"])
                else:
                    items = list(by_owner[owner.pk])
                    note = _word(Notification(user=owner, url=url), owner, items)
                    note.save()
                    notices[owner.pk] = (note, items)
            told += len(rows)
        if len(rows) < batch:
            return told


def _word(note: Notification, owner: User, items: list[tuple[str, str]]) -> Notification:
    """Title and body of an overdue notice, in the owner's language."""
    with translation.override(owner.language or None):
        count = len(items)
        note.title = (ngettext("%(count)d follow-up is overdue", "%(count)d follow-ups are overdue", count)
                      % {"count": count})[:200]
        lines = [f"{account_name} · {title}" for title, account_name in items[:NAMES_IN_NOTICE]]
        if count > NAMES_IN_NOTICE:
            lines.append(_("and %(count)d more") % {"count": count - NAMES_IN_NOTICE})
    note.body = "\n".join(lines)
    return note
