"""Interactions and follow-ups on the account timeline (one small indexed query each)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from guanxi.activities.models import FollowUp, Interaction
from guanxi.customers.models import Account
from guanxi.customers.selectors.timeline import Item, source


@source
def _interactions(user: Any, account: Account, limit: int) -> list[Item]:
    from guanxi.activities.selectors import PAGE_INTERACTIONS, page_interactions

    # The account page's contact tab shows the newest of the same rows: one read for both.
    rows = (page_interactions(account)[:limit] if limit <= PAGE_INTERACTIONS
            else Interaction.objects.filter(account_id=account.pk).select_related("owner")
            .order_by("-occurred_at", "-id")[:limit])
    return [Item(at=row.occurred_at, kind="interaction",
                 title=f"{row.get_kind_display()} · {row.get_purpose_display()}" + (f" · {row.subject}" if row.subject else ""),
                 detail=row.summary[:300], actor=str(row.owner), url=f"/activities/interactions/{row.pk}/")
            for row in rows]


@source
def _followups_done(user: Any, account: Account, limit: int) -> list[Item]:
    from guanxi.activities.selectors import PAGE_FOLLOWUPS, page_followups

    # The account page's contact tab lists the open ones: one read for both.
    rows = (page_followups(account)[1][:limit] if limit <= PAGE_FOLLOWUPS
            else FollowUp.objects.filter(account_id=account.pk, state=FollowUp.State.DONE).select_related("done_by")
            .order_by("-done_at", "-id")[:limit])
    return [Item(at=row.done_at or row.updated_at, kind="followup", title=_("Follow-up done: %(title)s") % {"title": row.title},
                 detail=row.outcome[:300], actor=str(row.done_by) if row.done_by_id else "",
                 url=f"/activities/followups/{row.pk}/")
            for row in rows]
