"""HTML views for accounts: list (htmx filtering), detail with history, create, edit,
delete to the recycle bin, approve, export."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.core import selectors as core_selectors
from guanxi.core.errors import ServiceError
from guanxi.core.models import ChangeRequest
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import declare as requires
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.core.views import form_errors
from guanxi.customers import account_page, selectors, services
from guanxi.customers.forms import AccountEditForm, AccountForm, ContactEditForm, ContactForm, account_initial
from guanxi.customers.models import Account, Contact, CustomField
from guanxi.customers.selectors import lists as lists_reads
from guanxi.customers.views import lists as lists_views
from guanxi.customers.views import page

PAGE_SIZE = 50
# What the list shows; loading only these keeps the page cheap at hundreds of thousands of rows.
LIST_COLUMNS = ("id", "code", "name", "region", "phone", "lifecycle", "urgency", "grade", "last_activity_at",
                "approval_state", "version", "owner_id", "owner__id", "owner__name", "owner__username")
# Column headers that sort the list (each must be in selectors.lists.ORDERINGS).
SORTABLE_COLUMNS = ("code", "name", "grade", "last_activity_at")


def _sort_links(request: HttpRequest, current: str) -> dict[str, dict[str, str]]:
    """For each sortable column: the URL that sorts by it (toggling direction) and its arrow."""
    links: dict[str, dict[str, str]] = {}
    for column in SORTABLE_COLUMNS:
        params = request.GET.copy()
        params.pop("page", None)
        params["ordering"] = f"-{column}" if current == column else column
        arrow = "▲" if current == column else "▼" if current == f"-{column}" else ""
        links[column] = {"url": "?" + params.urlencode(), "arrow": arrow}
    return links


@requires("account.view")
def account_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    status = 200
    full_page = not request.htmx  # type: ignore[attr-defined]
    # Read once: the filter parser checks cf_<key> against them and the filter bar lists them.
    custom_defs = lists_reads.custom_fields() if full_page else None
    try:
        filters = lists_reads.parse_filters(user, request.GET, defs=custom_defs)
    except ServiceError as exc:
        # A filter that cannot be applied (e.g. a custom field that does not exist): say so (S4: 400).
        messages.error(request, "; ".join([exc.message, *[m for ms in exc.errors.values() for m in ms]]))
        filters, status = {}, 400
    qs = selectors.account_list_for(user, **filters).only(*LIST_COLUMNS)
    if status != 200:
        qs = qs.none()
    page = CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    list_url = reverse("customers:account-list")
    context: dict[str, Any] = {
        "page": page, "q": filters.get("q", ""), "approval_state": filters.get("approval_state", ""),
        "filters": filters, "list_url": list_url,
        "rows": lists_views.account_rows_html(page, list_url=list_url, can_change=has_perm(user, "account.change")),
        "sort_links": _sort_links(request, filters.get("ordering", "")), "query": request.GET.urlencode(),
    }
    if not full_page:
        return render(request, "customers/_account_rows.html", context, status=status)
    context.update(lists_reads.filter_choices(user, defs=custom_defs))
    context.update({
        "saved_views": lists_reads.saved_views_for(user), "kinds": Account.Kind.choices,
        "roles": [("customer", _("Customer")), ("distributor", _("Distributor")), ("supplier", _("Supplier")),
                  ("partner", _("Partner"))],
        "lifecycles": Account.Lifecycle.choices, "relationship_types": Account.RelationshipType.choices,
        "value_segments": Account.ValueSegment.choices, "urgencies": Account.Urgency.choices,
        "orderings": lists_views.ORDERING_CHOICES,
        "custom_filters": [(f, filters.get("custom", {}).get(f.key, "")) for f in context["custom_defs"]],
        "more_open": bool(set(filters) - {"q", "lifecycle", "kind", "ordering"}),
        "owner_selected": filters.get("owner"),
    })
    context["saved_views"] = [(v, lists_views.view_query(v.params)) for v in context["saved_views"]]
    return render(request, "customers/account_list.html", context, status=status)


@requires("account.view")
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The header, the figures, the profile and the people; the Timeline, Rating, Ownership,
    Files and History tabs load when opened (views/page.py), as the tabs other apps add do."""
    user: Any = request.user
    account = selectors.account_for_page(user, pk)
    # The page shows only the request numbers and the people's own columns: no joins for them
    # (each joined row costs more to build than to read).
    pending = core_selectors.change_request_list_for(user).filter(
        content_type__app_label="customers", content_type__model="account", object_id=str(pk), state="pending",
    ).select_related(None).only("pk")
    context: dict[str, Any] = {
        "account": account, "pending": pending,
        "contacts": selectors.contact_list_for(user, account=account.pk).select_related(None)
        .only("id", "name", "title", "role", "depth", "mobile", "birthday")[:200],
        "approval_required": records.needs_change_request(account),
        # The profile's custom fields: their definitions are read only when the account has a value.
        "custom_values": lists_reads.custom_values(account, CustomField.Target.ACCOUNT)
        if any(v not in (None, "") for v in (account.custom or {}).values()) else [],
        "lazy_tabs": page.PARTS.values(),
    }
    # Tabs that apps built on the customer file register (account_page.py).
    context["extra_tabs"], extra = account_page.tabs_for(user, account)
    context.update(extra)
    return render(request, "customers/account_detail.html", context)


@requires("account.add")
def account_create(request: HttpRequest) -> HttpResponse:
    form = AccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.account_create(actor=request.user, **form.to_service())
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Account %(name)s created.") % {"name": account})
            return redirect("customers:account-detail", pk=account.pk)
    return render(request, "customers/account_form.html", {"form": form, "title": _("New account")})


@requires("account.change")
def account_edit(request: HttpRequest, pk: int) -> HttpResponse:
    account = records.get_visible(request.user, Account, pk)
    form = AccountEditForm(request.POST or None, initial=account_initial(account), custom=account.custom)
    if request.method == "POST" and form.is_valid():
        version, reason = form.cleaned_data["version"], form.cleaned_data["reason"]
        data = form.to_service()
        try:
            result = services.account_update(actor=request.user, account=account, changes=data,  # type: ignore[arg-type]
                                             expected_version=version, reason=reason)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            if isinstance(result, ChangeRequest):
                messages.info(request, _("The account is approved; your change was sent to the approver."))
            else:
                messages.success(request, _("Saved."))
            return redirect("customers:account-detail", pk=pk)
    return render(request, "customers/account_form.html", {
        "form": form, "title": _("Edit %(name)s") % {"name": account},
        "notice": _("This account is approved: saving sends your change to the approver.")
        if records.needs_change_request(account) else "",
    })


@requires("account.delete")
@require_POST
def account_delete(request: HttpRequest, pk: int) -> HttpResponse:
    account = records.get_visible(request.user, Account, pk)
    try:
        records.record_delete(actor=request.user, obj=account)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("customers:account-detail", pk=pk)
    messages.success(request, _("%(name)s was moved to the recycle bin.") % {"name": account})
    return redirect("customers:account-list")


@requires("account.approve")
@require_POST
def account_approve(request: HttpRequest, pk: int) -> HttpResponse:
    account = records.get_visible(request.user, Account, pk)
    try:
        records.record_approve(actor=request.user, obj=account)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Approved."))
    return redirect("customers:account-detail", pk=pk)


@requires("account.export")
@require_POST
def account_export(request: HttpRequest) -> HttpResponse:
    # The export takes the list's current filters (sent as the list's query string).
    from django.http import QueryDict

    params = QueryDict(request.POST.get("query", ""), mutable=True)
    if "q" in request.POST and "q" not in params:
        params["q"] = request.POST["q"]
    try:
        filters = lists_reads.parse_filters(request.user, params)
        job = services.account_export_start(actor=request.user, filters=filters,
                                            format=request.POST.get("format", "csv"))
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("customers:account-list")
    return redirect("core:job-detail", job_id=str(job.pk))


# --- Contacts ------------------------------------------------------------------------------------
@requires("contact.add")
def contact_create(request: HttpRequest, pk: int) -> HttpResponse:
    account = records.get_visible(request.user, Account, pk)
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            contact = services.contact_create(actor=request.user, account=account, **form.to_service())
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Contact %(name)s added.") % {"name": contact})
            return redirect("customers:account-detail", pk=account.pk)
    return render(request, "core/form.html", {"form": form, "title": _("New contact at %(account)s") % {"account": account}})


@requires("contact.view")
def contact_detail(request: HttpRequest, pk: int) -> HttpResponse:
    contact = records.get_visible(request.user, Contact, pk)
    return render(request, "customers/contact_detail.html", {
        "contact": contact, "history": core_selectors.history_for(contact)[:50],
        "custom_values": lists_reads.custom_values(contact, "contact")})


@requires("contact.change")
def contact_edit(request: HttpRequest, pk: int) -> HttpResponse:
    contact = records.get_visible(request.user, Contact, pk)
    initial = {f: getattr(contact, f) for f in services.CONTACT_EDITABLE if f != "custom"}
    form = ContactEditForm(request.POST or None, initial={**initial, "version": contact.version},
                           custom=contact.custom)
    if request.method == "POST" and form.is_valid():
        version = form.cleaned_data["version"]
        data = form.to_service()
        try:
            services.contact_update(actor=request.user, contact=contact, changes=data, expected_version=version)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("customers:contact-detail", pk=pk)
    return render(request, "core/form.html", {"form": form, "title": _("Edit %(name)s") % {"name": contact}})


@requires("contact.delete")
@require_POST
def contact_delete(request: HttpRequest, pk: int) -> HttpResponse:
    contact = records.get_visible(request.user, Contact, pk)
    try:
        records.record_delete(actor=request.user, obj=contact)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("customers:contact-detail", pk=pk)
    messages.success(request, _("%(name)s was moved to the recycle bin.") % {"name": contact})
    return redirect("customers:account-detail", pk=contact.account_id)
