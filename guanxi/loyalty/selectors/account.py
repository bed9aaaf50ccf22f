"""The surveys on the account 360 page: each response on the timeline ("满意度调查: NPS 9, CSAT 5 …")
and the lazy Satisfaction tab (the account's responses and invitations the user sees)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Avg, Count
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.customers.models import Account
from guanxi.customers.selectors.timeline import Item, source
from guanxi.loyalty.models import Dimension
from guanxi.loyalty.selectors.scope import invitation_scope, response_scope
from guanxi.loyalty.services.invitations import can_send, status
from guanxi.loyalty.services.responses import figures_text, points_from, response_url

PANEL_ROWS = 20


@source
def _responses(user: Any, account: Account, limit: int) -> list[Item]:
    """The account's survey responses the user sees, newest first."""
    rows = response_scope(user).filter(account_id=account.pk).select_related("survey", "invitation") \
        .order_by("-submitted_at", "-id")[:limit]
    items = []
    for response in rows:
        title = _("Satisfaction survey: %(figures)s") % {"figures": figures_text(response)}
        detail = " · ".join(part for part in (
            response.get_touchpoint_display(), response.invitation.recipient_name, response.comment[:120]) if part)
        items.append(Item(at=response.submitted_at, kind="survey", title=title, detail=detail,
                          url=response_url(response)))
    return items


def account_panel(user: Any, account: Account) -> dict[str, Any]:
    """The Satisfaction tab: the averages of the last 12 months, the latest responses and invitations."""
    since = timezone.now() - dt.timedelta(days=365)
    responses = response_scope(user).filter(account_id=account.pk)
    summary = responses.filter(submitted_at__gte=since).aggregate(
        count=Count("id"), nps=Avg("nps"), csat=Avg("csat"), **{d: Avg(d) for d in Dimension.values})
    count = summary.pop("count")
    nps_average = summary.pop("nps")
    averages = {k: v for k, v in summary.items()}
    invitations = list(invitation_scope(user).filter(account_id=account.pk).select_related("survey")
                       .order_by("-id")[:PANEL_ROWS])
    now = timezone.now()
    for invitation in invitations:
        invitation.status = status(invitation, now)  # type: ignore[attr-defined]
    return {
        "account": account,
        "responses": list(responses.select_related("survey").order_by("-submitted_at", "-id")[:PANEL_ROWS]),
        "invitations": invitations,
        "year_count": count,
        "year_nps": nps_average,
        "year_csat": averages.get("csat"),
        "year_dimensions": [(label, averages.get(code)) for code, label in Dimension.choices],
        "year_points": points_from({k: v for k, v in averages.items()}) if count else None,
        "can_send": can_send(user),
    }
