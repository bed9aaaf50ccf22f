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
from guanxi.core.services import records
from guanxi.core.views import form_errors
from guanxi.customers import selectors, services
from guanxi.customers.forms import AccountEditForm, AccountForm, ContactEditForm, ContactForm
from guanxi.customers.models import Account, Contact
from guanxi.customers.selectors import classification as classification_reads
from guanxi.customers.selectors import lists as lists_reads
from guanxi.customers.selectors import merge as merge_reads
from guanxi.customers.selectors import pool as pool_reads
from guanxi.customers.selectors import timeline

PAGE_SIZE = 50
# What the list shows; loading only these keeps the page cheap at hundreds of thousands of rows.
LIST_COLUMNS = ("id", "code", "name", "region", "phone", "approval_state", "owner_id",
                "owner__id", "owner__name", "owner__username")


@requires("account.view")
def account_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    state = request.GET.get("approval_state", "")
    qs = selectors.account_list_for(request.user, q=q, approval_state=state).only(*LIST_COLUMNS)
    page = CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    # One reverse() for the page instead of one per row.
    context = {"page": page, "q": q, "approval_state": state, "list_url": reverse("customers:account-list")}
    template = "customers/_account_rows.html" if request.htmx else "customers/account_list.html"  # type: ignore[attr-defined]
    return render(request, template, context)


@requires("account.view")
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = records.get_visible(request.user, Account, pk)
    user: Any = request.user
    pending = core_selectors.change_request_list_for(user).filter(
        content_type__app_label="customers", content_type__model="account", object_id=str(pk), state="pending")
    context: dict[str, Any] = {
        "account": account, "history": core_selectors.history_for(account)[:50], "pending": pending,
        "contacts": selectors.contact_list_for(user, account=account.pk)[:200],
        "approval_required": records.needs_change_request(account),
        "timeline": timeline.account_timeline(user, account),
    }
    # Each area of the customer file adds its part of the 360 page.
    for area in (classification_reads, pool_reads, merge_reads, lists_reads):
        context.update(area.account_panel(user, account))
    return render(request, "customers/account_detail.html", context)


@requires("account.add")
def account_create(request: HttpRequest) -> HttpResponse:
    form = AccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.account_create(actor=request.user, **form.cleaned_data)  # type: ignore[arg-type]
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Account %(name)s created.") % {"name": account})
            return redirect("customers:account-detail", pk=account.pk)
    return render(request, "core/form.html", {"form": form, "title": _("New account")})


@requires("account.change")
def account_edit(request: HttpRequest, pk: int) -> HttpResponse:
    account = records.get_visible(request.user, Account, pk)
    initial = {f: getattr(account, f) for f in ("name", "kind", "credit_code", "phone", "region", "address", "notes")}
    form = AccountEditForm(request.POST or None, initial={**initial, "version": account.version})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        version, reason = data.pop("version"), data.pop("reason")
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
    return render(request, "core/form.html", {
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
    job = services.account_export_start(actor=request.user, filters={"q": request.POST.get("q", "")})  # type: ignore[arg-type]
    return redirect("core:job-detail", job_id=str(job.pk))


# --- Contacts ------------------------------------------------------------------------------------
@requires("contact.add")
def contact_create(request: HttpRequest, pk: int) -> HttpResponse:
    account = records.get_visible(request.user, Account, pk)
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            contact = services.contact_create(actor=request.user, account=account, **form.cleaned_data)
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
        "contact": contact, "history": core_selectors.history_for(contact)[:50]})


@requires("contact.change")
def contact_edit(request: HttpRequest, pk: int) -> HttpResponse:
    contact = records.get_visible(request.user, Contact, pk)
    initial = {f: getattr(contact, f) for f in services.CONTACT_EDITABLE}
    form = ContactEditForm(request.POST or None, initial={**initial, "version": contact.version})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        version = data.pop("version")
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
