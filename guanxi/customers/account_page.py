"""Extension point of the account 360 page: apps built on the customer file add a tab (and
buttons beside "Edit") without the customer file knowing them.

Apps depend downward: customers never imports them. An app registers its :class:`Tab`
once (from its views module or ``AppConfig.ready``), optionally with a summary block shown
above the tabs (e.g. sales figures); the page asks each registered tab for
its context — one or two small queries at most, the page has a query budget
(customers/tests/test_page_queries.py) — and includes its templates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from guanxi.core.permissions import has_perm


@dataclass(frozen=True)
class Tab:
    key: str  # unique; the pane's id is "tab-<key>", its button's data-testid "<key>-tab"
    label: Any  # a lazy translation
    template: str  # the pane
    perm: str  # shown only to those holding this right
    context: Callable[[Any, Any], dict[str, Any]] | None = None  # (user, account) → context
    actions_template: str = ""  # buttons in the page header, beside "Edit"
    summary_template: str = ""  # a compact block above the tabs (key figures), fed by ``context``
    order: int = 100


_tabs: dict[str, Tab] = {}


def register(tab: Tab) -> Tab:
    _tabs[tab.key] = tab
    return tab


def tabs_for(user: Any, account: Any) -> tuple[list[Tab], dict[str, Any]]:
    """The registered tabs ``user`` may see on ``account``'s page, and their merged context."""
    shown = sorted((t for t in _tabs.values() if has_perm(user, t.perm)), key=lambda t: (t.order, t.key))
    context: dict[str, Any] = {}
    for tab in shown:
        if tab.context is not None:
            context.update(tab.context(user, account))
    return shown, context
