"""Sales views: converting a lead — one screen, pre-filled from the lead, that makes the
account (or uses an existing one, offered when it looks like the same company), the contact
and the opportunity."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.core.errors import Invalid, NotFound, ServiceError
from guanxi.core.permissions import declare as requires
from guanxi.core.permissions import has_perm
from guanxi.core.views import style_form
from guanxi.customers.selectors import account_scope
from guanxi.sales.models import Lead, Pipeline
from guanxi.sales.selectors import leads as reads
from guanxi.sales.services import lead_convert as service
from guanxi.sales.services.leads import OPEN_STATES

NEW, OTHER = "new", "other"


class ConvertForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    account_choice = forms.CharField(initial=NEW)
    other_code = forms.CharField(label=gettext_lazy("Customer code"), max_length=32, required=False)
    confirm_new = forms.BooleanField(label=gettext_lazy("None of these is the same company: make a new account"),
                                     required=False)
    account_name = forms.CharField(label=gettext_lazy("Account name"), max_length=200, required=False)
    account_credit_code = forms.CharField(label=gettext_lazy("Unified social credit code"), max_length=18,
                                          required=False)
    account_phone = forms.CharField(label=gettext_lazy("Phone"), max_length=32, required=False)
    account_email = forms.CharField(label=gettext_lazy("E-mail"), max_length=254, required=False)
    account_province = forms.CharField(label=gettext_lazy("Province"), max_length=32, required=False)
    account_city = forms.CharField(label=gettext_lazy("City"), max_length=32, required=False)
    create_contact = forms.BooleanField(label=gettext_lazy("Add the person as a contact"), required=False)
    contact_name = forms.CharField(label=gettext_lazy("Name"), max_length=100, required=False)
    contact_title = forms.CharField(label=gettext_lazy("Job title"), max_length=100, required=False)
    contact_mobile = forms.CharField(label=gettext_lazy("Mobile"), max_length=32, required=False)
    contact_phone = forms.CharField(label=gettext_lazy("Phone"), max_length=32, required=False)
    contact_email = forms.CharField(label=gettext_lazy("E-mail"), max_length=254, required=False)
    contact_wechat = forms.CharField(label=gettext_lazy("WeChat"), max_length=64, required=False)
    opportunity_name = forms.CharField(label=gettext_lazy("Name"), max_length=200, required=False)
    opportunity_amount = forms.CharField(label=gettext_lazy("Amount (CNY)"), max_length=24, required=False)
    opportunity_expected_close = forms.CharField(label=gettext_lazy("Expected close date"), required=False,
                                                 widget=forms.DateInput(attrs={"type": "date"}))
    opportunity_pipeline = forms.ChoiceField(label=gettext_lazy("Pipeline"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        pipelines = list(Pipeline.objects.filter(active=True).order_by("-is_default", "sort_order", "id"))
        self.fields["opportunity_pipeline"].choices = (  # type: ignore[attr-defined]
            [(str(p.pk), p.name) for p in pipelines] or [("", _("Sales pipeline (made on the first conversion)"))])
        style_form(self)
        self.fields["create_contact"].widget.attrs["class"] = "form-check-input"
        self.fields["confirm_new"].widget.attrs["class"] = "form-check-input"

    def section(self, prefix: str) -> list[Any]:
        return [self[name] for name in self.fields if name.startswith(prefix)]


def _initial(lead: Lead) -> dict[str, Any]:
    initial: dict[str, Any] = {"version": lead.version, "account_choice": NEW,
                               "create_contact": bool(lead.person_name)}
    for name, value in service.account_defaults(lead).items():
        initial[f"account_{name}"] = value
    for name, value in service.contact_defaults(lead).items():
        initial[f"contact_{name}"] = value
    deal = service.opportunity_defaults(lead)
    initial.update(opportunity_name=deal["name"], opportunity_amount=f"{deal['amount']:.2f}")
    return initial


def _section(data: dict[str, Any], prefix: str, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: data[prefix + name] for name in names if prefix + name in data}


def _field(key: str) -> str | None:
    """The form field a service error key names ("account.name" → account_name)."""
    if key == "account":
        return "account_choice"
    name = key.replace(".", "_")
    return name if name in ConvertForm.base_fields else None


@requires("lead.convert")
def lead_convert(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    lead = reads.lead_for(user, pk)
    if lead.state not in OPEN_STATES:
        messages.error(request, _("Only an open lead can be converted; this one is %(state)s.")
                       % {"state": lead.get_state_display()})
        return redirect("sales:lead-detail", pk=lead.pk)
    form = ConvertForm(request.POST or None, initial=_initial(lead))
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        choice = data["account_choice"]
        try:
            account = None
            if choice == OTHER:
                account = account_scope(user).filter(code=data["other_code"].strip().upper()).first()
                if account is None:
                    raise Invalid(errors={"other_code": [_("No account you can see has this customer code.")]})
            elif choice != NEW:
                if not choice.isdigit():
                    raise NotFound()
                account = account_scope(user).filter(pk=int(choice)).first()
                if account is None:
                    raise NotFound()
            deal = _section(data, "opportunity_", service.OPPORTUNITY_FIELDS)
            deal["pipeline"] = deal["pipeline"] or None
            new_account = _section(data, "account_", service.ACCOUNT_FIELDS) if account is None else None
            result = service.lead_convert(
                actor=user, lead=lead, account=account, new_account=new_account, create_contact=data["create_contact"],
                contact=_section(data, "contact_", service.CONTACT_FIELDS), opportunity=deal,
                new_account_confirmed=data["confirm_new"], expected_version=data["version"])
        except ServiceError as exc:
            status = exc.status
            if not exc.errors:
                form.add_error(None, exc.message)
            for key, msgs in exc.errors.items():
                for msg in msgs:
                    form.add_error(_field(key), msg)
        else:
            messages.success(request, _("Lead %(code)s converted: account %(account)s, opportunity %(deal)s.") % {
                "code": lead.code, "account": result.account.name, "deal": f"{result.opportunity.code} "
                                                                         f"{result.opportunity.name}"})
            return redirect(reverse("customers:account-detail", args=[result.account.pk]))
    elif request.method == "POST":
        status = 422
    matches = reads.lead_account_candidates(user, lead)
    choice = form["account_choice"].value() or NEW
    return render(request, "sales/leads_convert.html", {
        "lead": lead, "form": form, "matches": matches, "choice": str(choice),
        "may_create_account": has_perm(user, "account.add"),
    }, status=status)


urlpatterns: list[URLPattern] = [
    path("leads/<int:pk>/convert/", lead_convert, name="lead-convert"),
]
