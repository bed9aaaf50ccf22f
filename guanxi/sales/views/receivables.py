"""Receivables (应收): every visible contract with money outstanding, overdue ones flagged,
with sums and the customer's cumulative figures; and the owner's desk panel of overdue
instalments and contracts about to end."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from guanxi.core import desk
from guanxi.core.errors import ServiceError
from guanxi.core.models import User
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import declare as requires
from guanxi.core.permissions import has_perm
from guanxi.core.views import error_text
from guanxi.customers.selectors import account_scope
from guanxi.sales.selectors import contracts as reads
from guanxi.sales.services.orders_export import export_start

PAGE_SIZE = 50


def _owners(user: Any) -> list[User]:
    """Colleagues whose receivables the user may filter by (those they see records of)."""
    from guanxi.core import access

    vis = access.visibility_for(user)
    people = User.objects.filter(is_active=True)
    if not vis.everything:
        people = people.filter(pk__in=vis.owner_ids) | people.filter(department_id__in=vis.department_ids)
    return list(people.order_by("name", "username")[:300])


@requires("contract.view")
def receivable_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    today = timezone.localdate()
    filters = reads.parse_filters(user, request.GET)
    filters.pop("state", None)
    qs = reads.receivables_for(user, today=today, **filters)
    page = CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    account = account_scope(user).filter(pk=filters["account"]).only("id", "name").first() \
        if filters.get("account") else None
    return render(request, "sales/contracts_receivables.html", {
        "page": page, "sums": reads.receivable_sums(qs), "filters": filters, "account": account,
        "figures": reads.figures_of(account.pk) if account else None, "owners": _owners(user),
        "query": request.GET.urlencode(), "today": today,
    })


@requires("sales.export")
@require_POST
def receivable_export(request: HttpRequest) -> HttpResponse:
    filters = reads.parse_filters(request.user, QueryDict(request.POST.get("query", "")))
    filters.pop("state", None)
    try:
        job = export_start(actor=request.user, what="receivables", filters=filters,
                           format=request.POST.get("format", "csv"))
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        return redirect("sales:receivables")
    return redirect("core:job-detail", job_id=str(job.pk))


# Lazy: the expiry window is per contract (remind_days), read in Python over the owner's
# contracts in force, so the panel loads after the desk.
@desk.register("sales.receivables", template="sales/contracts_desk.html", order=55, lazy=True,
               visible=lambda user: has_perm(user, "contract.view"))
def receivables_panel(user: Any, now: dt.datetime) -> dict[str, Any] | None:
    """My overdue instalments and my contracts within their reminder window before the end."""
    if not has_perm(user, "contract.view"):
        return None
    today = timezone.localtime(now).date()
    return {"overdue": reads.my_overdue_instalments(user, today), "expiring": reads.my_expiring_contracts(user, today),
            "today": today, "list_url": reverse("sales:receivables") + "?owner=me&overdue=1"}


urlpatterns: list[URLPattern] = [
    path("receivables/", receivable_list, name="receivables"),
    path("receivables/export/", receivable_export, name="receivables-export"),
]
