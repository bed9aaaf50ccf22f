"""The tabs of the account 360 page that load after it: Timeline, Rating, Ownership, Files and
History.

The page itself shows the header, the figures, the profile and the people, and leaves in each
of these tabs a loader that htmx fills when the tab is first opened (as the tabs other apps add
do, see account_page.py). Each tab is one route here, scoped exactly like the page: an
account the caller cannot see answers 404 as a missing one does. Asked for without htmx (no
JavaScript: the loader's plain link), the same route answers a whole page holding that tab.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import is_aware, localtime
from django.utils.translation import gettext_lazy as _

from guanxi.core import selectors as core_selectors
from guanxi.core.errors import NotFound
from guanxi.core.permissions import declare as requires
from guanxi.customers import selectors
from guanxi.customers.models import Account
from guanxi.customers.selectors import classification as classification_reads
from guanxi.customers.selectors import lists as lists_reads
from guanxi.customers.selectors import merge as merge_reads
from guanxi.customers.selectors import pool as pool_reads
from guanxi.customers.selectors import timeline

HISTORY_ROWS = 50


@dataclass(frozen=True)
class Part:
    key: str  # the pane is #tab-<key>; its loader's data-testid "<key>-loader"
    label: Any
    template: str
    context: Callable[[Any, Account], dict[str, Any]]
    # How the account is read: "page" as the page reads it (owner, category path, tags),
    # "owner" with its owner, "" the row alone.
    load: str = ""

    @property
    def route(self) -> str:
        return f"customers:account-{self.key}"


_ITEM = ('<li class="border-start border-3 ps-3 pb-2 timeline-{kind}" data-kind="{kind}">'
         '<div class="small text-muted">{at}{actor}</div><div>{title}</div>{detail}</li>')


def timeline_html(items: Iterable[timeline.Item]) -> SafeString:
    """The ``<li>`` of each timeline item, built in Python as the account list builds its rows
    (views/lists.py): fifty items through the template engine took about a tenth of the tab's
    time at M."""
    rows = []
    for item in items:
        title = conditional_escape(item.title)
        rows.append(_ITEM.format(
            kind=conditional_escape(item.kind),
            at=(localtime(item.at) if is_aware(item.at) else item.at).strftime("%Y-%m-%d %H:%M"),
            actor=f" · {conditional_escape(item.actor)}" if item.actor else "",
            title=f'<a href="{conditional_escape(item.url)}">{title}</a>' if item.url else title,
            detail=f'<div class="small">{conditional_escape(item.detail)}</div>' if item.detail else "",
        ))
    return mark_safe("\n".join(rows))  # noqa: S308 (every value above is escaped)


def _timeline(user: Any, account: Account) -> dict[str, Any]:
    items = timeline.account_timeline(user, account)
    return {"items": items, "items_html": timeline_html(items)}


def _history(user: Any, account: Account) -> dict[str, Any]:
    # The audit rows' own columns only: the table shows no joined field.
    return {"history": core_selectors.history_for(account).select_related(None)[:HISTORY_ROWS],
            **merge_reads.account_panel(user, account)}


PARTS: dict[str, Part] = {part.key: part for part in (
    Part("timeline", _("Timeline"), "customers/_timeline.html", _timeline),
    Part("rating", _("Rating"), "customers/_panel_classification.html", classification_reads.account_panel,
         load="page"),
    Part("ownership", _("Ownership"), "customers/_panel_pool.html", pool_reads.account_panel, load="owner"),
    Part("files", _("Files and fields"), "customers/_panel_lists.html", lists_reads.account_panel),
    Part("history", _("History"), "customers/_part_history.html", _history),
)}


def _account(user: Any, pk: Any, load: str) -> Account:
    """The account through the caller's scope, as the page fetches it (hidden or missing: NotFound)."""
    if load == "page":
        return selectors.account_for_page(user, pk)
    qs = selectors.account_scope(user)
    try:
        return (qs.select_related("owner") if load == "owner" else qs).get(pk=pk)
    except (Account.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def _part_view(part: Part) -> Callable[[HttpRequest, int], HttpResponse]:
    @requires("account.view")
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        user: Any = request.user
        account = _account(user, pk, part.load)
        context = {"account": account, "part": part, **part.context(user, account)}
        if request.htmx:  # type: ignore[attr-defined]
            return render(request, part.template, context)
        return render(request, "customers/account_part.html", context)

    view.__name__ = view.__qualname__ = f"account_{part.key}"
    view.__doc__ = f"The {part.key} tab of an account's 360 page (htmx: the pane's content; otherwise a page)."
    return view


account_timeline = _part_view(PARTS["timeline"])
account_rating = _part_view(PARTS["rating"])
account_ownership = _part_view(PARTS["ownership"])
account_files = _part_view(PARTS["files"])
account_history = _part_view(PARTS["history"])

urlpatterns: list[URLPattern] = [
    path("<int:pk>/timeline/", account_timeline, name="account-timeline"),
    path("<int:pk>/rating/", account_rating, name="account-rating"),
    path("<int:pk>/ownership/", account_ownership, name="account-ownership"),
    path("<int:pk>/files/", account_files, name="account-files"),
    path("<int:pk>/history/", account_history, name="account-history"),
]
