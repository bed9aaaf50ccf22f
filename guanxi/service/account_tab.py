"""The account 360 page gains its service (R5): a lazy Service tab with the account's cases the
user sees, and the cases received and closed on the timeline (``selectors.cases_account``
registers the timeline source when imported here).

The page itself pays nothing: the tab's list loads when the tab is opened.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy

from guanxi.core.permissions import declare as requires
from guanxi.customers import account_page
from guanxi.customers.selectors import account_scope
from guanxi.sales.selectors.scope import get_one
from guanxi.service.selectors import cases_account as reads

TAB = "service"  # the pane is #tab-service, its button's data-testid "service-tab"


@requires("case.view")
def account_cases(request: HttpRequest, account_pk: int) -> HttpResponse:
    """The Service tab of an account the user sees (404 otherwise), fetched when opened."""
    account = get_one(account_scope, request.user, account_pk)
    return render(request, "service/account_panel.html", reads.account_panel(request.user, account))


account_page.register(account_page.Tab(
    key=TAB, label=gettext_lazy("Service"), template="service/account_tab.html", perm="case.view", order=30,
))

urlpatterns: list[URLPattern] = [
    path("accounts/<int:account_pk>/cases/", account_cases, name="account-cases"),
]
# Routes outside /service/ that need no login (served below /feedback/).
public_urlpatterns: list[URLPattern] = []
