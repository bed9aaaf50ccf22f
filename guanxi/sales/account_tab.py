"""The account 360 page gains its sales (R11.4): a figures block above the tabs, a lazy Sales
tab with open deals, quotes, orders and contracts, and the sales events on the timeline
(``selectors.account`` registers the timeline source when imported here).

The page pays one query for the figures; the tab's lists load when the tab is opened.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy

from guanxi.core.permissions import declare as requires
from guanxi.customers import account_page
from guanxi.customers.selectors import account_scope
from guanxi.sales.selectors import account as reads
from guanxi.sales.selectors.scope import get_one

TAB = "sales"  # the pane is #tab-sales, its button's data-testid "sales-tab"


@requires("opportunity.view")
def account_sales(request: HttpRequest, account_pk: int) -> HttpResponse:
    """The Sales tab of an account the user sees (404 otherwise), fetched when opened."""
    account = get_one(account_scope, request.user, account_pk)
    return render(request, "sales/account_panel.html", reads.account_panel(request.user, account))


account_page.register(account_page.Tab(
    key=TAB, label=gettext_lazy("Sales"), template="sales/account_tab.html", perm="opportunity.view",
    context=reads.page_context, summary_template="sales/account_figures.html", order=20,
))

urlpatterns: list[URLPattern] = [
    path("accounts/<int:account_pk>/sales/", account_sales, name="account-sales"),
]
