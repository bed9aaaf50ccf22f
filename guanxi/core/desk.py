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

Small numbers and yes/no answers (a capped count, "do I have any open case?") are *facts*:
an app registers the SQL expressions of a fact once, and the desk reads the facts of every
panel in one statement before it calls the providers, which ask for them with ``facts``::

    @desk.fact("sales.open-deals")
    def open_deal_facts(user, now):
        if not has_perm(user, "deal.view"):
            return None
        return {"any": Exists(deal_scope(user).filter(state="open"))}

    # in the provider: skip the list's query when there is nothing to list
    if not desk.facts(user, now, "sales.open-deals")["any"]:
        return {"deals": []}

Outside a desk render (one panel fetched on its own, a test) ``facts`` reads that one fact
alone. A fact's expressions must be as cheap as a panel's read: an ``Exists``, a
``CappedCount``, a one-row ``Subquery`` on an index.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, IntegerField, QuerySet, Subquery
from django.utils import timezone

Provider = Callable[[Any, dt.datetime], dict[str, Any] | None]
# (user, now) -> {name: SQL expression}, or None when the fact means nothing for this user.
FactReader = Callable[[Any, dt.datetime], dict[str, Any] | None]

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
    """The panels ``user`` sees now, in order, each with its context.

    The facts of every panel are read first, in one statement; the providers then find them
    with ``facts`` instead of asking the database one small question each.
    """
    now = now or timezone.now()
    token = _batch.set(_Batch(user.pk, now, _read_facts(user, now, list(_facts))))
    try:
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
    finally:
        _batch.reset(token)
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


# --- Facts: the panels' small numbers and flags, in one statement ---------------------------------
class CappedCount(Subquery):
    """How many rows ``queryset`` has, counting at most ``cap + 1`` of them, as an SQL expression
    (what ``guanxi.core.paginator.capped_count`` asks, inside another statement). Read it with
    ``capped``."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) AS capped_rows)"
    output_field = IntegerField()

    def __init__(self, queryset: QuerySet[Any], cap: int) -> None:
        super().__init__(queryset.order_by().values("pk")[: cap + 1])


def capped(n: int | None, cap: int) -> tuple[int, bool]:
    """A ``CappedCount``'s value as (count up to ``cap``, more than ``cap``)."""
    n = n or 0
    return min(n, cap), n > cap


@dataclass
class _Batch:
    """The facts read for one desk render (one user, one clock)."""

    user_pk: Any
    now: dt.datetime
    values: dict[str, dict[str, Any] | None] = field(default_factory=dict)


_facts: dict[str, FactReader] = {}
_batch: ContextVar[_Batch | None] = ContextVar("guanxi_desk_facts", default=None)


def fact(key: str) -> Callable[[FactReader], FactReader]:
    """Register the decorated reader as the fact ``key``: ``(user, now) -> {name: expression}``
    (None when the fact means nothing for this user, e.g. without the right)."""

    def decorator(reader: FactReader) -> FactReader:
        _facts[key] = reader
        return reader

    return decorator


def unregister_fact(key: str) -> None:
    _facts.pop(key, None)


def facts(user: Any, now: dt.datetime, key: str) -> dict[str, Any] | None:
    """The values of the fact ``key`` for ``user`` at ``now`` ({name: value}; None when its
    reader says it means nothing for them): from the desk's one statement while the desk is
    being put together, else read on its own (one query)."""
    batch = _batch.get()
    if batch is not None and batch.user_pk == user.pk and batch.now == now and key in batch.values:
        return batch.values[key]
    return _read_facts(user, now, [key]).get(key)


def _read_facts(user: Any, now: dt.datetime, keys: list[str]) -> dict[str, dict[str, Any] | None]:
    """Every expression of the facts ``keys`` as columns of one SELECT on the user's own row."""
    from guanxi.core.models import User

    values: dict[str, dict[str, Any] | None] = {}
    columns: dict[str, Any] = {}
    names: dict[str, tuple[str, str]] = {}
    for key in keys:
        reader = _facts.get(key)
        wanted = reader(user, now) if reader is not None else None
        if wanted is None:
            values[key] = None
            continue
        values[key] = {}
        for name, expression in wanted.items():
            alias = f"fact_{len(columns)}"
            columns[alias] = expression
            names[alias] = (key, name)
    if columns:
        row = User.objects.filter(pk=user.pk).values(**columns).first() or {}
        for alias, (key, name) in names.items():
            values[key][name] = row.get(alias)  # type: ignore[index]
    return values


# --- core's own panels ----------------------------------------------------------------------------
@fact("core")
def _core_facts(user: Any, now: dt.datetime) -> dict[str, Any]:
    """Whether the core panels have anything to list, and how many accounts I see."""
    from guanxi.core.models import AccessGrant, Notification
    from guanxi.core.permissions import has_perm

    found: dict[str, Any] = {
        "requests": Exists(_requests_waiting(user)),
        "unread": Exists(Notification.objects.filter(user_id=user.pk, read_at__isnull=True)),
        "my_grants": Exists(AccessGrant.objects.filter(grantee_id=user.pk)),
    }
    if has_perm(user, "account.view"):
        from guanxi.core.paginator import COUNT_CAP
        from guanxi.customers.selectors import account_scope  # the customer file sits right above core

        found["accounts"] = CappedCount(account_scope(user), COUNT_CAP)
    return found


def _requests_waiting(user: Any) -> QuerySet[Any]:
    """Pending change requests that my roles decide and that someone else asked for."""
    from guanxi.core import selectors

    return (selectors.change_request_list_for(user).filter(state="pending").exclude(requested_by=user)
            .filter(approver_role__in=user.role_codes()))


@register("core.approvals", template="core/desk_approvals.html", order=60)
def _approvals(user: Any, now: dt.datetime) -> dict[str, Any]:
    """Change requests my roles decide, and access-grant requests I may decide."""
    from guanxi.core import selectors
    from guanxi.core.models import AccessGrant
    from guanxi.core.permissions import has_perm
    from guanxi.core.services.grants import can_decide

    known = facts(user, now, "core") or {}
    requests = list(_requests_waiting(user)[:8]) if known.get("requests", True) else []
    grants: list[Any] = []
    if has_perm(user, "grant.decide"):
        pending = (selectors.grant_list_for(user).filter(state=AccessGrant.State.REQUESTED).exclude(grantee=user)
                   .order_by("-id")[:5])
        grants = [g for g in pending if can_decide(user, g)]
    return {"requests": requests, "grants": grants}


@register("core.notifications", template="core/desk_notifications.html", order=70)
def _notifications(user: Any, now: dt.datetime) -> dict[str, Any]:
    from guanxi.core.models import Notification

    if not (facts(user, now, "core") or {}).get("unread", True):
        return {"items": []}
    return {"items": list(Notification.objects.filter(user=user, read_at__isnull=True)[:8])}


@register("core.grants", template="core/desk_grants.html", order=80)
def _grants(user: Any, now: dt.datetime) -> dict[str, Any]:
    from guanxi.core import selectors

    if not (facts(user, now, "core") or {}).get("my_grants", True):
        return {"items": []}
    return {"items": list(selectors.grant_list_for(user).filter(grantee=user).order_by("-id")[:5])}


@register("core.accounts", template="core/desk_accounts.html", order=90)
def _accounts(user: Any, now: dt.datetime) -> dict[str, Any] | None:
    from guanxi.core.paginator import COUNT_CAP
    from guanxi.core.permissions import has_perm

    if not has_perm(user, "account.view"):
        return None
    return {"count": capped((facts(user, now, "core") or {}).get("accounts"), COUNT_CAP)}
