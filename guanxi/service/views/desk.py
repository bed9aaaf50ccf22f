"""My desk (R3.3, R5.2): the service panels on the home page.

* **My open cases** — the cases I own, the nearest due time first, with their SLA colours;
* **Hand-overs waiting for me** — accept or decline right there;
* **Replies awaiting my review** — for supervisors (``case.review``).

Each reads one small indexed query with a LIMIT (core/desk.py's rules); the SLA colours come
from the due-time columns through one calendar for the whole panel.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Exists
from django.urls import URLPattern, reverse

from guanxi.core import desk
from guanxi.core.permissions import has_perm
from guanxi.service.selectors import cases as reads


@desk.fact("service")
def service_facts(user: Any, now: dt.datetime) -> dict[str, Any] | None:
    """Whether I own any open case and have any hand-over waiting: most salespeople have
    neither, and their desk then asks nothing more of the service panels."""
    if not has_perm(user, "case.change"):
        return None
    return {"open_cases": Exists(reads.owned_open_cases(user)), "handovers": Exists(reads.handovers_offered(user))}


def owns_open_cases(user: Any, now: dt.datetime) -> bool:
    return bool((desk.facts(user, now, "service") or {}).get("open_cases", True))


@desk.register("service.cases", template="service/desk_cases.html", order=12, width="half")
def open_cases_panel(user: Any, now: dt.datetime) -> dict[str, Any] | None:
    if not has_perm(user, "case.change"):
        return None
    rows = reads.my_open_cases(user) if owns_open_cases(user, now) else []
    if not rows and not has_perm(user, "case.review") and not user.has_role("service_agent"):
        return None  # a salesperson without cases is not shown an empty service panel
    # The SLA colours need the business calendar: only when there is a case to colour.
    return {"cases": reads.with_sla(rows, now) if rows else rows,
            "list_url": reverse("service:case-list") + "?mine=1&status=open&sort=due"}


@desk.register("service.handovers", template="service/desk_handovers.html", order=11, width="half")
def handovers_panel(user: Any, now: dt.datetime) -> dict[str, Any] | None:
    if not has_perm(user, "case.change"):
        return None
    if not (desk.facts(user, now, "service") or {}).get("handovers", True):
        return None
    rows = reads.handovers_waiting(user)
    return {"handovers": rows} if rows else None


@desk.register("service.reviews", template="service/desk_reviews.html", order=13, width="half")
def reviews_panel(user: Any, now: dt.datetime) -> dict[str, Any] | None:
    if not has_perm(user, "case.review"):
        return None
    return {"cases": reads.reviews_waiting(user)}


urlpatterns: list[URLPattern] = []
# Routes outside /service/ that need no login (served below /feedback/).
public_urlpatterns: list[URLPattern] = []
