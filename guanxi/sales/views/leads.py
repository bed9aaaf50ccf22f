"""Sales views: leads — list (filters, search, bulk assign), capture form, detail with
history, edit, delete, assign, working, qualify, disqualify. Conversion and the import have
their own modules (``lead_convert``, ``lead_imports``); their routes are listed here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from guanxi.core import selectors as core_selectors
from guanxi.core.errors import ServiceError
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import declare as requires
from guanxi.core.permissions import has_perm
from guanxi.core.views import error_text, form_errors, posted_version, style_form
from guanxi.sales.models import Lead, Product
from guanxi.sales.selectors import leads as reads
from guanxi.sales.services import leads as service
from guanxi.sales.views.common import act, save_edit

PAGE_SIZE = 50
# What staff pick when they type a lead in; import, API and web form are set by their channel.
STAFF_SOURCES = (Lead.Source.PHONE, Lead.Source.EXHIBITION, Lead.Source.REFERRAL, Lead.Source.MAIL,
                 Lead.Source.MANUAL)
ME, NOBODY = "me", "none"


def _lead(request: HttpRequest, pk: int) -> Lead:
    return reads.lead_for(request.user, pk)


def _detail(lead: Lead) -> str:
    return reverse("sales:lead-detail", args=[lead.pk])


def owner_choices(user: Any) -> list[tuple[str, str]]:
    """For the capture and import forms: me, unassigned, or a salesperson I manage."""
    if not has_perm(user, "lead.assign"):
        return []
    choices = [(ME, _("Me")), (NOBODY, _("Unassigned (hand out later)"))]
    choices += [(str(u.pk), f"{u} · {u.department or ''}".rstrip(" ·")) for u in reads.assignee_choices(user)
                if u.pk != user.pk]
    return choices


def owner_value(user: Any, choice: str) -> Any:
    """The service's owner argument for a form's choice (``...``: the default, the actor)."""
    if choice in ("", ME):
        return ...
    if choice == NOBODY:
        return None
    return int(choice) if choice.isdigit() else -1


# --- Forms --------------------------------------------------------------------------------------------
class LeadForm(forms.Form):
    company = forms.CharField(label=gettext_lazy("Company"), max_length=200, required=False)
    person_name = forms.CharField(label=gettext_lazy("Person"), max_length=100, required=False)
    title = forms.CharField(label=gettext_lazy("Job title"), max_length=100, required=False)
    mobile = forms.CharField(label=gettext_lazy("Mobile"), max_length=32, required=False)
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=32, required=False)
    email = forms.CharField(label=gettext_lazy("E-mail"), max_length=254, required=False)
    wechat = forms.CharField(label=gettext_lazy("WeChat"), max_length=64, required=False)
    province = forms.CharField(label=gettext_lazy("Province"), max_length=32, required=False)
    city = forms.CharField(label=gettext_lazy("City"), max_length=32, required=False)
    credit_code = forms.CharField(label=gettext_lazy("Unified social credit code"), max_length=18, required=False)
    interest = forms.CharField(label=gettext_lazy("Interested in"), required=False,
                               widget=forms.Textarea(attrs={"rows": 2}))
    products = forms.MultipleChoiceField(label=gettext_lazy("Products"), required=False)
    estimated_amount = forms.CharField(label=gettext_lazy("Estimated amount (CNY)"), max_length=24, required=False)
    source = forms.ChoiceField(label=gettext_lazy("Source"))
    source_detail = forms.CharField(label=gettext_lazy("Source detail"), max_length=200, required=False,
                                    help_text=gettext_lazy("Which fair, who referred them, which campaign."))
    owner = forms.ChoiceField(label=gettext_lazy("Owner"), required=False)
    notes = forms.CharField(label=gettext_lazy("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, user: Any, lead: Lead | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sources = [(s.value, s.label) for s in Lead.Source if s in STAFF_SOURCES or (lead and s == lead.source)]
        self.fields["source"].choices = sources  # type: ignore[attr-defined]
        owners = owner_choices(user) if lead is None else []
        if owners:
            self.fields["owner"].choices = owners  # type: ignore[attr-defined]
        else:
            del self.fields["owner"]
        products = list(Product.objects.filter(active=True).order_by("code").values_list("id", "code", "name")[:300])
        if products and lead is None:
            self.fields["products"].choices = [(str(pk), f"{code} {name}") for pk, code, name in products]  # type: ignore[attr-defined]
        else:
            del self.fields["products"]
        style_form(self)


class LeadEditForm(LeadForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


def _payload(form: forms.Form) -> dict[str, Any]:
    data = dict(form.cleaned_data)
    data.pop("version", None)
    data.pop("owner", None)
    if "products" in data:
        data["products"] = [int(p) for p in data["products"]]
    return data


# --- List and bulk assign -------------------------------------------------------------------------------
@requires("lead.view")
def lead_list(request: HttpRequest) -> HttpResponse:
    """Filters: ``state`` (a state or ``open``), ``source``, ``owner`` (``me`` or an id),
    ``unassigned``, ``q`` (company, person, pinyin, phone digits, e-mail, code)."""
    user: Any = request.user
    status = 200
    try:
        qs = reads.lead_list_for(user, request.GET)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        qs, status = Lead.objects.none(), exc.status
    page = CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    assignees = reads.assignee_choices(user) if has_perm(user, "lead.assign") else []
    return render(request, "sales/leads_list.html", {
        "page": page, "f": request.GET, "states": [("open", _("Open")), *Lead.State.choices],
        "sources": Lead.Source.choices, "assignees": assignees,
        "people": assignees if len(assignees) > 1 else [],
    }, status=status)


@requires("lead.assign")
@require_POST
def lead_bulk_assign(request: HttpRequest) -> HttpResponse:
    """Assign the ticked leads (``ids``) to ``owner``; all or nothing."""
    user: Any = request.user
    ids = [int(v) for v in request.POST.getlist("ids") if v.isdigit()]
    back = reverse("sales:lead-list") + (f"?{request.POST['query']}" if request.POST.get("query") else "")
    if not ids:
        messages.error(request, _("Tick the leads to assign first."))
        return redirect(back)
    owner = request.POST.get("owner", "")
    leads = list(reads.lead_list_for(user).filter(pk__in=ids))
    try:
        n = service.lead_assign_many(actor=user, leads=leads, owner=int(owner) if owner.isdigit() else None,
                                     note=request.POST.get("note", ""))
    except ServiceError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, ngettext("%(n)d lead assigned.", "%(n)d leads assigned.", n) % {"n": n})
    return redirect(back)


# --- Capture, detail, edit, delete -------------------------------------------------------------------------
@requires("lead.add")
def lead_create(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    form = LeadForm(request.POST or None, user=user, initial={"source": Lead.Source.MANUAL, "owner": ME})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = _payload(form)
            source = data.pop("source")
            if "owner" in form.fields:
                owner = owner_value(user, form.cleaned_data.get("owner") or "")
                if owner is not ...:
                    data["owner"] = owner
            try:
                lead = service.lead_capture(actor=user, source=source, data=data)
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Lead %(code)s saved.") % {"code": lead.code})
                return redirect(_detail(lead))
        else:
            status = 422
    return render(request, "sales/leads_form.html", {"form": form, "title": _("New lead")}, status=status)


@requires("lead.view")
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    lead = _lead(request, pk)
    is_open = lead.state in service.OPEN_STATES
    return render(request, "sales/leads_detail.html", {
        "lead": lead, "is_open": is_open,
        "history": core_selectors.history_for(lead)[:50],
        "duplicates": reads.lead_duplicates_for(user, lead),
        "assignees": [u for u in reads.assignee_choices(user) if u.pk != lead.owner_id]
        if has_perm(user, "lead.assign") and lead.state != Lead.State.CONVERTED else [],
        "may_work": lead.owner_id is not None and lead.state in (Lead.State.NEW, Lead.State.ASSIGNED),
        "may_reopen": lead.owner_id is not None and lead.state == Lead.State.DISQUALIFIED,
        "may_qualify": lead.state in (Lead.State.NEW, Lead.State.ASSIGNED, Lead.State.WORKING),
        "products": list(lead.products.all()),
    })


@requires("lead.change")
def lead_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    lead = _lead(request, pk)
    initial = {name: getattr(lead, name) for name in service.EDITABLE}
    initial["version"] = lead.version
    form = LeadEditForm(request.POST or None, user=user, lead=lead, initial=initial)
    status = save_edit(request, form, lambda _changes, version: service.lead_update(
        actor=user, lead=lead, changes=_payload(form), expected_version=version))
    if status is None:
        return redirect(_detail(lead))
    return render(request, "sales/leads_form.html", {"form": form, "lead": lead,
                                                     "title": _("Edit lead %(code)s") % {"code": lead.code}},
                  status=status)


@requires("lead.delete")
@require_POST
def lead_delete(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead(request, pk)
    return act(request, lambda: service.lead_delete(
        actor=request.user, lead=lead, expected_version=posted_version(request)),
        lambda: _("%(lead)s was moved to the recycle bin.") % {"lead": lead},
        "sales:lead-list", failed_to=_detail(lead))


# --- Actions ----------------------------------------------------------------------------------------
def _act(request: HttpRequest, lead: Lead, action: Any, done: str) -> HttpResponse:
    return act(request, action, done, _detail(lead))


@requires("lead.assign")
@require_POST
def lead_assign(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead(request, pk)
    owner = request.POST.get("owner", "")
    return _act(request, lead, lambda: service.lead_assign(
        actor=request.user, lead=lead, owner=int(owner) if owner.isdigit() else None,
        expected_version=posted_version(request), note=request.POST.get("note", "")), _("Lead assigned."))


@requires("lead.change")
@require_POST
def lead_working(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead(request, pk)
    return _act(request, lead, lambda: service.lead_start_working(
        actor=request.user, lead=lead, expected_version=posted_version(request)), _("Marked as working."))


@requires("lead.change")
@require_POST
def lead_qualify(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead(request, pk)
    return _act(request, lead, lambda: service.lead_qualify(
        actor=request.user, lead=lead, expected_version=posted_version(request)), _("Lead qualified."))


@requires("lead.change")
@require_POST
def lead_disqualify(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead(request, pk)
    return _act(request, lead, lambda: service.lead_disqualify(
        actor=request.user, lead=lead, reason=request.POST.get("reason", ""),
        expected_version=posted_version(request)), _("Lead disqualified."))


def _routes() -> list[URLPattern]:
    from guanxi.sales.views import lead_convert, lead_imports

    return [
        path("leads/", lead_list, name="lead-list"),
        path("leads/new/", lead_create, name="lead-create"),
        path("leads/assign/", lead_bulk_assign, name="lead-bulk-assign"),
        path("leads/<int:pk>/", lead_detail, name="lead-detail"),
        path("leads/<int:pk>/edit/", lead_edit, name="lead-edit"),
        path("leads/<int:pk>/delete/", lead_delete, name="lead-delete"),
        path("leads/<int:pk>/assign/", lead_assign, name="lead-assign"),
        path("leads/<int:pk>/working/", lead_working, name="lead-working"),
        path("leads/<int:pk>/qualify/", lead_qualify, name="lead-qualify"),
        path("leads/<int:pk>/disqualify/", lead_disqualify, name="lead-disqualify"),
        *lead_convert.urlpatterns,
        *lead_imports.urlpatterns,
    ]


urlpatterns: list[URLPattern] = _routes()
