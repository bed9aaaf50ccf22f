"""My desk (R3.3): the home page is a column of panels that the apps register.

core knows none of the apps above it (apps depend downward), so each app registers a
*provider* for every panel it shows: ``(user, now) -> context | None``. The home view
calls the providers in ``order`` and renders each panel's template with its context as
``panel``; a provider returning ``None`` hides its panel (no right, nothing to say).

A provider must be cheap: the whole desk answers in 50 ms at 100,000 accounts (B4), so
each panel reads one or two small indexed queries with a ``LIMIT``, never counts an
unbounded set (use ``guanxi.core.paginator.capped_count``) and never queries per row.

Registering a panel, in an app's views (imported at start-up)::

    from guanxi.core import desk

    @desk.register("sales.open-deals", template="sales/desk_deals.html", order=40)
    def open_deals(user, now):
        if not has_perm(user, "deal.view"):
            return None
        return {"deals": deal_scope(user).filter(state="open").order_by("-id")[:8]}

and ``sales/desk_deals.html`` renders one card, reading ``panel.deals``. A panel whose
read cannot be made that cheap registers with ``lazy=True`` (and a cheap ``visible(user)``
check): the desk then shows a placeholder that loads it from ``core:desk-panel`` after the
page, so the desk itself stays fast.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

Provider = Callable[[Any, dt.datetime], dict[str, Any] | None]

# Column widths on a large screen; phones always get the full width.
WIDTHS = {"full": "col-12", "wide": "col-12 col-xl-8", "half": "col-12 col-lg-6", "third": "col-12 col-md-6 col-xl-4"}


@dataclass(frozen=True)
class Panel:
    key: str  # "<app>.<name>", unique; also the panel's data-testid
    template: str
    provide: Provider
    order: int = 100  # lower comes first
    width: str = "third"
    # A panel whose read is slow (a calendar over many people) comes after the page:
    # the desk shows a placeholder that fetches it from core:desk-panel once loaded.
    lazy: bool = False


@dataclass(frozen=True)
class Shown:
    """A panel with its context, as the home template renders it."""

    key: str
    template: str
    context: dict[str, Any]
    css: str
    lazy: bool = False


_panels: dict[str, Panel] = {}
_visible: dict[str, Callable[[Any], bool]] = {}


def register(key: str, *, template: str, order: int = 100, width: str = "third", lazy: bool = False,
             visible: Callable[[Any], bool] | None = None) -> Callable[[Provider], Provider]:
    """Register the decorated provider as the desk panel ``key`` (registering a key again replaces it).

    ``lazy``: render a placeholder and fetch the panel after the page (for a slow read);
    ``visible(user)`` then decides cheaply whether the placeholder is shown at all.
    """
    if width not in WIDTHS:
        raise ValueError(f"width must be one of {sorted(WIDTHS)}")

    def decorator(provide: Provider) -> Provider:
        _panels[key] = Panel(key=key, template=template, provide=provide, order=order, width=width, lazy=lazy)
        if visible is not None:
            _visible[key] = visible
        return provide

    return decorator


def unregister(key: str) -> None:
    _panels.pop(key, None)
    _visible.pop(key, None)


def get(key: str) -> Panel | None:
    return _panels.get(key)


def panels() -> list[Panel]:
    return sorted(_panels.values(), key=lambda p: (p.order, p.key))


def panels_for(user: Any, now: dt.datetime | None = None) -> list[Shown]:
    """The panels ``user`` sees now, in order, each with its context."""
    now = now or timezone.now()
    shown = []
    for panel in panels():
        if panel.lazy:
            visible = _visible.get(panel.key)
            if visible is None or visible(user):
                shown.append(Shown(panel.key, panel.template, {}, WIDTHS[panel.width], lazy=True))
            continue
        context = panel.provide(user, now)
        if context is not None:
            shown.append(Shown(panel.key, panel.template, context, WIDTHS[panel.width]))
    return shown


def render_one(user: Any, key: str, now: dt.datetime | None = None) -> Shown | None:
    """One panel with its context (what a lazy placeholder fetches); None when hidden or unknown."""
    panel = _panels.get(key)
    if panel is None:
        return None
    context = panel.provide(user, now or timezone.now())
    if context is None:
        return None
    return Shown(panel.key, panel.template, context, WIDTHS[panel.width])


# --- core's own panels ----------------------------------------------------------------------------
@register("core.approvals", template="core/desk_approvals.html", order=60)
def _approvals(user: Any, now: dt.datetime) -> dict[str, Any]:
    """Change requests my roles decide, and access-grant requests I may decide."""
    from guanxi.core import selectors
    from guanxi.core.models import AccessGrant
    from guanxi.core.permissions import has_perm
    from guanxi.core.services.grants import can_decide

    requests = list(selectors.change_request_list_for(user).filter(state="pending").exclude(requested_by=user)
                    .filter(approver_role__in=user.role_codes())[:8])
    grants: list[Any] = []
    if has_perm(user, "grant.decide"):
        pending = (selectors.grant_list_for(user).filter(state=AccessGrant.State.REQUESTED).exclude(grantee=user)
                   .order_by("-id")[:5])
        grants = [g for g in pending if can_decide(user, g)]
    return {"requests": requests, "grants": grants}


@register("core.notifications", template="core/desk_notifications.html", order=70)
def _notifications(user: Any, now: dt.datetime) -> dict[str, Any]:
    from guanxi.core.models import Notification

    return {"items": list(Notification.objects.filter(user=user, read_at__isnull=True)[:8])}


@register("core.grants", template="core/desk_grants.html", order=80)
def _grants(user: Any, now: dt.datetime) -> dict[str, Any]:
    from guanxi.core import selectors

    return {"items": list(selectors.grant_list_for(user).filter(grantee=user).order_by("-id")[:5])}


@register("core.accounts", template="core/desk_accounts.html", order=90)
def _accounts(user: Any, now: dt.datetime) -> dict[str, Any] | None:
    from guanxi.core.paginator import capped_count
    from guanxi.core.permissions import has_perm
    from guanxi.customers.selectors import account_scope  # the customer file sits right above core

    if not has_perm(user, "account.view"):
        return None
    return {"count": capped_count(account_scope(user))}
