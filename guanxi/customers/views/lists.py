"""HTML views: lists — saved views, bulk actions, inline edit, custom field settings,
attachments, the contact list. Thin: parse → service → render."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape  # plain str → str: Django's lazy-aware wrapper costs more per cell
from typing import Any

from django import forms
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.core.errors import Conflict, NotFound, ServiceError
from guanxi.core.models import ApprovalState, ChangeRequest, User
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import declare as requires
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.core.views import form_errors
from guanxi.customers import services
from guanxi.customers.forms import (
    AttachmentForm,
    CustomFieldEditForm,
    CustomFieldForm,
    SavedViewForm,
    category_choices,
)
from guanxi.customers.models import Account, AccountAttachment, Contact, CustomField
from guanxi.customers.selectors import lists as reads
from guanxi.customers.services import lists as list_services

ORDERING_CHOICES = [
    ("-id", gettext_lazy("Newest first")), ("name", gettext_lazy("Name")), ("code", gettext_lazy("Customer code")),
    ("grade", gettext_lazy("Grade")), ("-score", gettext_lazy("Score, highest first")),
    ("-last_activity_at", gettext_lazy("Last follow-up, latest first")),
    ("last_activity_at", gettext_lazy("Last follow-up, oldest first")),
    ("-updated_at", gettext_lazy("Recently changed")),
]
# Cells of the list that can be edited in place: field → choices (None: free text).
INLINE_FIELDS: dict[str, Any] = {
    "lifecycle": Account.Lifecycle.choices,
    "urgency": Account.Urgency.choices,
    "relationship_type": Account.RelationshipType.choices,
    "value_segment": Account.ValueSegment.choices,
    "phone": None,
}
ROW_COLUMNS = ("id", "code", "name", "region", "phone", "lifecycle", "urgency", "grade", "last_activity_at",
               "approval_state", "version", "owner_id", "relationship_type", "value_segment")


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next") or reverse("customers:account-list")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("customers:account-list")
    return redirect(target)


# --- Saved views (R13.6) ------------------------------------------------------------------------
@requires("account.view")
@require_POST
def saved_view_create(request: HttpRequest) -> HttpResponse:
    form = SavedViewForm(request.POST)
    params = QueryDict(request.POST.get("query", ""))
    try:
        if not form.is_valid():
            raise ServiceError(_("Give the view a name."))
        view = list_services.saved_view_create(actor=request.user, name=form.cleaned_data["name"], params=params)
    except ServiceError as exc:
        messages.error(request, "; ".join([exc.message, *[m for ms in exc.errors.values() for m in ms]]))
        return redirect(reverse("customers:account-list") + "?" + params.urlencode())
    messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
    return redirect(reverse("customers:account-list") + "?" + view_query(view.params))


def view_query(params: dict[str, Any]) -> str:
    q = QueryDict("", mutable=True)
    for key, value in params.items():
        q.setlist(key, value if isinstance(value, list) else [value])
    return q.urlencode()


@requires("account.view")
@require_POST
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    list_services.saved_view_delete(actor=request.user, view_id=pk)
    messages.success(request, _("View deleted."))
    return redirect("customers:account-list")


# --- Bulk actions -------------------------------------------------------------------------------
class BulkForm(forms.Form):
    action = forms.ChoiceField(choices=[("edit", gettext_lazy("Edit")), ("reassign", gettext_lazy("Reassign"))])
    lifecycle = forms.ChoiceField(label=gettext_lazy("Lifecycle stage"), required=False,
                                  choices=[("", gettext_lazy("(unchanged)")), *Account.Lifecycle.choices])
    relationship_type = forms.ChoiceField(label=gettext_lazy("Relationship type"), required=False,
                                          choices=[("", gettext_lazy("(unchanged)")),
                                                   *Account.RelationshipType.choices])
    value_segment = forms.ChoiceField(label=gettext_lazy("Value segment"), required=False,
                                      choices=[("", gettext_lazy("(unchanged)")), *Account.ValueSegment.choices])
    urgency = forms.ChoiceField(label=gettext_lazy("Follow-up urgency"), required=False,
                                choices=[("", gettext_lazy("(unchanged)")), *Account.Urgency.choices])
    category = forms.ChoiceField(label=gettext_lazy("Category"), required=False)
    tags_add = forms.CharField(label=gettext_lazy("Add tags"), required=False, max_length=500)
    tags_remove = forms.CharField(label=gettext_lazy("Remove tags"), required=False, max_length=500)
    to_user = forms.ChoiceField(label=gettext_lazy("New owner"), required=False)
    reason = forms.CharField(label=gettext_lazy("Reason"), required=False, max_length=500)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cats = category_choices()
        self.fields["category"].choices = [("", _("(unchanged)")), ("none", _("(no category)")), *cats[1:]]  # type: ignore[attr-defined]
        people = reads.people_choices(user) if has_perm(user, "account.reassign") else []
        self.fields["to_user"].choices = [("", "—"), *[(str(pk), label) for pk, label in people]]  # type: ignore[attr-defined]
        for name, field in self.fields.items():
            is_select = isinstance(field.widget, forms.Select)
            field.widget.attrs["class"] = "form-select form-select-sm" if is_select else "form-control form-control-sm"
            field.widget.attrs["id"] = f"bulk-{name}"


@requires("account.change")
@require_POST
def account_bulk(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    form = BulkForm(request.POST, user=user)
    ids = request.POST.getlist("ids")
    if not form.is_valid():
        messages.error(request, _("Please correct the bulk change."))
        return _back(request)
    data = form.cleaned_data
    try:
        if data["action"] == "reassign":
            result = _bulk_reassign(user, ids, data)
            messages.success(request, _("%(n)d accounts reassigned.") % {"n": result})
        else:
            changes: dict[str, Any] = {k: data[k] for k in ("lifecycle", "relationship_type", "value_segment",
                                                             "urgency") if data[k]}
            if data["category"]:
                changes["category"] = None if data["category"] == "none" else data["category"]
            if data["tags_add"]:
                changes["tags_add"] = data["tags_add"]
            if data["tags_remove"]:
                changes["tags_remove"] = data["tags_remove"]
            outcome = list_services.account_bulk_update(actor=user, ids=ids, changes=changes)
            messages.success(request, _("%(updated)d accounts changed, %(unchanged)d already as chosen.") % outcome)
            if outcome["skipped_approval"]:
                messages.warning(request, _("%(n)d approved accounts were skipped: change each of them on its own "
                                            "page, which sends the change to the approver.")
                                 % {"n": outcome["skipped_approval"]})
            if outcome["missing"]:
                messages.warning(request, _("%(n)d selected accounts were not found.") % {"n": outcome["missing"]})
    except ServiceError as exc:
        messages.error(request, "; ".join([exc.message, *[m for ms in exc.errors.values() for m in ms]]))
    return _back(request)


def _bulk_reassign(user: Any, ids: list[str], data: dict[str, Any]) -> int:
    """Managers only: the pool area's service moves the accounts (and records the history)."""
    from guanxi.core.errors import Forbidden, Invalid
    from guanxi.customers.selectors import account_scope

    if not has_perm(user, "account.reassign"):
        raise Forbidden()
    try:
        from guanxi.customers.services.pool import account_reassign  # type: ignore[attr-defined]
    except ImportError:
        raise Invalid(_("Reassignment is not available yet.")) from None
    to_user = User.objects.filter(pk=data["to_user"], is_active=True).first() if data["to_user"] else None
    if to_user is None:
        raise Invalid(errors={"to_user": [_("Choose the new owner.")]})
    accounts = list(account_scope(user).filter(pk__in=[int(i) for i in ids if str(i).isdigit()]))
    if not accounts:
        raise Invalid(_("Select at least one account."))
    result = account_reassign(actor=user, accounts=accounts, to_user=to_user, reason=data.get("reason", ""))
    return int(getattr(result, "moved", len(accounts)))


# --- List rows and inline edit ----------------------------------------------------------------------
# A page of the account list is 50 rows of 12 cells; through the template engine that is
# some 1,600 variable look-ups, which cost more than the page's SQL (BENCHMARKS.md B1). The
# row is therefore written here, every value escaped, and both the list and the inline
# edit's answer use it, so there is one row markup.
_INLINE_LINK = ('<a href="#" class="link-body-emphasis text-decoration-none border-bottom border-secondary-subtle" '
                'hx-get="{url}{pk}/inline/{field}/?version={version}" hx-target="#cell-{pk}-{field}" '
                'hx-swap="innerHTML" data-testid="inline-{field}-{pk}">{shown}</a>')
_ROW = (
    '<tr id="account-row-{pk}" data-testid="account-row">\n'
    '<td><input class="form-check-input" type="checkbox" name="ids" value="{pk}" form="bulk-form" data-bulk-row '
    'aria-label="{select} {name}"></td>\n'
    '<td class="text-nowrap">{code}</td>\n'
    '<td><a href="{url}{pk}/">{name}</a>{notice}</td>\n'
    '<td class="hide-sm">{region}</td>\n'
    '<td class="hide-sm" id="cell-{pk}-phone">{phone}</td>\n'
    '<td id="cell-{pk}-lifecycle">{lifecycle}</td>\n'
    '<td class="hide-sm" id="cell-{pk}-urgency">{urgency}</td>\n'
    '<td>{grade}</td>\n'
    '<td>{owner}</td>\n'
    '<td class="hide-sm text-nowrap">{last}</td>\n'
    '<td>{state}</td></tr>'
)


def account_rows_html(accounts: Iterable[Account], *, list_url: str, can_change: bool, notice: str = "") -> SafeString:
    """The ``<tr>`` of each account (``id="account-row-<pk>"``): code, name, region, the
    phone, lifecycle and urgency cells (links that open the inline editor when the user may
    change accounts), grade, owner, last follow-up and approval state. ``accounts`` come
    from the scoped list query with ``owner`` joined."""
    lifecycle = {value: str(label) for value, label in Account.Lifecycle.choices}
    urgency = {value: str(label) for value, label in Account.Urgency.choices}
    approval = {value: str(label) for value, label in ApprovalState.choices}
    pool, select = escape(_("(pool)")), escape(_("Select"))
    url = escape(list_url)
    badge = format_html(' <span class="badge text-bg-info" data-testid="row-notice">{}</span>', notice) if notice else ""

    def cell(a: Account, field: str, display: str) -> str:
        shown = escape(display or "—")
        if not can_change:
            return shown
        return _INLINE_LINK.format(url=url, pk=a.pk, field=field, version=a.version, shown=shown)

    rows = []
    for a in accounts:
        last = localtime(a.last_activity_at).strftime("%Y-%m-%d") if a.last_activity_at else "—"
        rows.append(_ROW.format(
            pk=a.pk, select=select, name=escape(a.name), code=escape(a.code), url=url, notice=badge,
            region=escape(a.region), phone=cell(a, "phone", a.phone),
            lifecycle=cell(a, "lifecycle", lifecycle.get(a.lifecycle, a.lifecycle)),
            urgency=cell(a, "urgency", urgency.get(a.urgency, a.urgency)),
            grade=escape(a.grade or "—"), owner=escape(str(a.owner)) if a.owner_id else pool, last=last,
            state=escape(approval.get(a.approval_state, a.approval_state)),
        ))
    return mark_safe("\n".join(rows))  # noqa: S308 (every value above is escaped)


def _row(request: HttpRequest, account: Account, *, notice: str = "", status: int = 200) -> HttpResponse:
    return HttpResponse(account_rows_html([account], list_url=reverse("customers:account-list"),
                                          can_change=has_perm(request.user, "account.change"), notice=notice),
                        status=status)


@requires("account.view")
def account_row(request: HttpRequest, pk: int) -> HttpResponse:
    account = records.get_visible(request.user, Account, pk)
    return _row(request, account)


@requires("account.change")
def account_inline(request: HttpRequest, pk: int, field: str) -> HttpResponse:
    if field not in INLINE_FIELDS:
        raise NotFound()
    account = records.get_visible(request.user, Account, pk)
    version = request.POST.get("version") or request.GET.get("version") or str(account.version)
    context: dict[str, Any] = {"a": account, "field": field, "choices": INLINE_FIELDS[field],
                               "value": getattr(account, field), "version": version, "error": ""}
    if request.method == "POST":
        value = request.POST.get("value", "")
        try:
            result = services.account_update(actor=request.user, account=account, changes={field: value},
                                             expected_version=int(version) if version.isdigit() else None)
        except ServiceError as exc:
            msgs = [m for ms in exc.errors.values() for m in ms] or [exc.message]
            context.update(error="; ".join(msgs), value=value)
            response = render(request, "customers/_inline_form.html", context,
                              status=409 if isinstance(exc, Conflict) else 422)
            # The form stays in its cell with the message (lists.js lets htmx swap 409/422).
            response["HX-Retarget"] = f"#cell-{account.pk}-{field}"
            response["HX-Reswap"] = "innerHTML"
            return response
        if isinstance(result, ChangeRequest):
            return _row(request, account, notice=_("Sent to the approver."))
        return _row(request, account)
    return render(request, "customers/_inline_form.html", context)


# --- Custom fields (R13.7) -------------------------------------------------------------------------
@requires("customfield.manage")
def customfield_list(request: HttpRequest) -> HttpResponse:
    return render(request, "customers/customfield_list.html", {
        "fields": CustomField.objects.order_by("target", "sort_order", "key")})


@requires("customfield.manage")
def customfield_create(request: HttpRequest) -> HttpResponse:
    form = CustomFieldForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            field = list_services.customfield_create(actor=request.user, **form.cleaned_data)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Custom field %(label)s created.") % {"label": field.label})
            return redirect("customers:customfield-list")
    return render(request, "core/form.html", {"form": form, "title": _("New custom field")})


@requires("customfield.manage")
def customfield_edit(request: HttpRequest, pk: int) -> HttpResponse:
    field = CustomField.objects.filter(pk=pk).first()
    if field is None:
        raise NotFound()
    initial = {"target": field.target, "key": field.key, "label": field.label, "type": field.type,
               "choices": "\n".join(field.choices), "required": field.required, "active": field.active,
               "sort_order": field.sort_order, "version": field.version}
    form = CustomFieldEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = {k: form.cleaned_data[k] for k in list_services.CUSTOMFIELD_EDITABLE}
        try:
            list_services.customfield_update(actor=request.user, field=field, changes=data,
                                             expected_version=form.cleaned_data["version"])
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("customers:customfield-list")
    return render(request, "core/form.html", {"form": form, "title": _("Edit %(name)s") % {"name": field.label}})


# --- Attachments (R1.7, S12) ----------------------------------------------------------------------
@requires("account.change")
@require_POST
def attachment_upload(request: HttpRequest, pk: int) -> HttpResponse:
    account = records.get_visible(request.user, Account, pk)
    form = AttachmentForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _("Choose a file and its kind."))
    else:
        try:
            attachment = list_services.attachment_upload(actor=request.user, account=account,
                                                         upload=form.cleaned_data["file"],
                                                         kind=form.cleaned_data["kind"])
        except ServiceError as exc:
            messages.error(request, "; ".join([m for ms in exc.errors.values() for m in ms] or [exc.message]))
        else:
            messages.success(request, _("%(name)s uploaded.") % {"name": attachment.original_name})
    return redirect(reverse("customers:account-detail", args=[pk]) + "#tab-files")


def attachment_response(attachment: AccountAttachment) -> FileResponse:
    """Always a download, never rendered by the browser (S12)."""
    response = FileResponse(attachment.file.open("rb"), as_attachment=True, filename=attachment.original_name,
                            content_type=attachment.content_type or "application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@requires("account.view")
def attachment_download(request: HttpRequest, pk: int) -> FileResponse:
    attachment = records.get_visible(request.user, AccountAttachment, pk)
    return attachment_response(attachment)


@requires("account.delete")
@require_POST
def attachment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    attachment = records.get_visible(request.user, AccountAttachment, pk)
    try:
        list_services.attachment_delete(actor=request.user, attachment=attachment)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("%(name)s was moved to the recycle bin.") % {"name": attachment.original_name})
    return redirect(reverse("customers:account-detail", args=[attachment.account_id]) + "#tab-files")


# --- Contacts -----------------------------------------------------------------------------------
@requires("contact.view")
def contact_list(request: HttpRequest) -> HttpResponse:
    status = 200
    try:
        qs = reads.contact_list_filtered(request.user, request.GET)
    except ServiceError as exc:
        messages.error(request, exc.message)
        qs, status = Contact.objects.none(), 400
    qs = qs.only("id", "name", "title", "role", "depth", "mobile", "account_id", "account__id", "account__name")
    page = CappedPaginator(qs, 50).get_page(request.GET.get("page"))
    context = {"page": page, "q": request.GET.get("q", ""), "depth": request.GET.get("depth", ""),
               "role": request.GET.get("role", ""), "depths": Contact.Depth.choices, "roles": Contact.Role.choices}
    template = "customers/_contact_rows.html" if request.htmx else "customers/contact_list.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=status)


urlpatterns: list[URLPattern] = [
    path("views/", saved_view_create, name="saved-view-create"),
    path("views/<int:pk>/delete/", saved_view_delete, name="saved-view-delete"),
    path("bulk/", account_bulk, name="account-bulk"),
    path("<int:pk>/row/", account_row, name="account-row"),
    path("<int:pk>/inline/<str:field>/", account_inline, name="account-inline"),
    path("custom-fields/", customfield_list, name="customfield-list"),
    path("custom-fields/new/", customfield_create, name="customfield-create"),
    path("custom-fields/<int:pk>/edit/", customfield_edit, name="customfield-edit"),
    path("<int:pk>/attachments/", attachment_upload, name="attachment-upload"),
    path("attachments/<int:pk>/download/", attachment_download, name="attachment-download"),
    path("attachments/<int:pk>/delete/", attachment_delete, name="attachment-delete"),
    path("contacts/", contact_list, name="contact-list"),
]
