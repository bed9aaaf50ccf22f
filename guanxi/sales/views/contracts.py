"""HTML views of contracts (R4.4): list, new (or from an order), one contract with its
execution steps, payment plan and receipts. Steps, plan and receipts live in
``contract_parts``, the receivables page and the desk panel in ``receivables``; their
routes are part of this area's ``urlpatterns``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.core import selectors as core_selectors
from guanxi.core.errors import NotFound, ServiceError
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import declare as requires
from guanxi.core.permissions import has_perm
from guanxi.core.views import error_text, form_errors, posted_version
from guanxi.customers.selectors import account_scope
from guanxi.sales.models import CNY, Contract, Payment
from guanxi.sales.selectors import contracts as reads
from guanxi.sales.selectors.scope import contract_scope, get_one, order_scope
from guanxi.sales.services import contracts as services
from guanxi.sales.services.orders_export import export_start
from guanxi.sales.views.common import AccountContactForm, act, save_edit
from guanxi.sales.views.orders import ACCOUNT_CHOICES, _contacts, optional_url

PAGE_SIZE = 50


def _date(label: Any) -> forms.DateField:
    return forms.DateField(label=label, required=False, widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}))


class ContractForm(AccountContactForm):
    account = forms.ChoiceField(label=gettext_lazy("Account"))
    code = forms.CharField(label=gettext_lazy("Contract number"), max_length=40, required=False,
                           help_text=gettext_lazy("Leave empty to take the next number."))
    title = forms.CharField(label=gettext_lazy("Title"), max_length=300, required=False)
    party_a = forms.CharField(label=gettext_lazy("Party A (customer)"), max_length=200, required=False)
    party_b = forms.CharField(label=gettext_lazy("Party B (us)"), max_length=200, required=False)
    amount = forms.DecimalField(label=gettext_lazy("Contract amount"), max_digits=16, decimal_places=2)
    currency = forms.CharField(label=gettext_lazy("Currency"), max_length=3, initial=CNY)
    contact = forms.ChoiceField(label=gettext_lazy("Signed by (customer)"), required=False)
    signed_on = _date(gettext_lazy("Signed on"))
    starts_on = _date(gettext_lazy("Starts on"))
    ends_on = _date(gettext_lazy("Ends on"))
    remind_days = forms.IntegerField(label=gettext_lazy("Remind days before expiry"), min_value=0, max_value=365,
                                     initial=30)
    terms = forms.CharField(label=gettext_lazy("Main terms"), required=False, widget=forms.Textarea(attrs={"rows": 4}))


class ContractEditForm(ContractForm):
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, accounts=None, **kwargs)
        self.fields["code"].required = True
        self.fields["code"].help_text = ""


# --- The list --------------------------------------------------------------------------------
@requires("contract.view")
def contract_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    filters = reads.parse_filters(user, request.GET)
    filters.pop("overdue", None)
    page = CappedPaginator(reads.contract_list_for(user, **filters), PAGE_SIZE).get_page(request.GET.get("page"))
    account = account_scope(user).filter(pk=filters["account"]).only("id", "name").first() \
        if filters.get("account") else None
    return render(request, "sales/contracts_list.html", {
        "page": page, "filters": filters, "states": Contract.State.choices, "account": account,
        "mine": request.GET.get("owner") == "me", "query": request.GET.urlencode()})


@requires("sales.export")
@require_POST
def contract_export(request: HttpRequest) -> HttpResponse:
    params = QueryDict(request.POST.get("query", ""))
    filters = reads.parse_filters(request.user, params)
    filters.pop("overdue", None)
    try:
        job = export_start(actor=request.user, what="contracts", filters=filters,
                           format=request.POST.get("format", "csv"))
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        return redirect("sales:contract-list")
    return redirect("core:job-detail", job_id=str(job.pk))


# --- New ---------------------------------------------------------------------------------------
@requires("contract.add")
def contract_create(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    visible = account_scope(user)
    fixed = request.GET.get("account") or request.POST.get("account") or ""
    account = visible.filter(pk=fixed).first() if str(fixed).isdigit() else None
    choices = [(str(account.pk), account.name)] if account else [
        (str(a.pk), f"{a.name} ({a.code})") for a in visible.order_by("name").only("id", "name", "code")
        [:ACCOUNT_CHOICES]]
    form = ContractForm(request.POST or None, accounts=choices, contacts=_contacts(account),
                        initial={"account": fixed, "currency": CNY, "remind_days": 30,
                                 "party_a": account.name if account else "", "party_b": services.our_name()})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = dict(form.cleaned_data)
            chosen = visible.filter(pk=data.pop("account")).first()
            if chosen is None:
                form.add_error("account", _("Choose an account you can see."))
            else:
                data["contact"] = data["contact"] or None
                try:
                    contract = services.contract_create(actor=user, account=chosen, **data)
                except ServiceError as exc:
                    form_errors(form, exc)
                else:
                    messages.success(request, _("Contract %(code)s created.") % {"code": contract.code})
                    return redirect("sales:contract-detail", pk=contract.pk)
        status = 422
    title = _("New contract with %(account)s") % {"account": account.name} if account else _("New contract")
    return render(request, "core/form.html", {"form": form, "title": title}, status=status)


@requires("contract.add")
@require_POST
def contract_from_order(request: HttpRequest, pk: int) -> HttpResponse:
    order = get_one(order_scope, request.user, pk)
    try:
        contract = services.contract_from_order(actor=request.user, order=order)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        return redirect("sales:order-detail", pk=pk)
    messages.success(request, _("Contract %(code)s was prefilled from the order: check it, add the payment plan, "
                                "then activate it once signed.") % {"code": contract.code})
    return redirect("sales:contract-detail", pk=contract.pk)


# --- One contract ------------------------------------------------------------------------------
def contract_of(request: HttpRequest, pk: int) -> Contract:
    return get_one(contract_scope, request.user, pk, "account", "owner", "contact", "order", "quote")  # type: ignore[no-any-return]


@requires("contract.view")
def contract_detail(request: HttpRequest, pk: int) -> HttpResponse:
    from guanxi.sales.views.contract_parts import PaymentForm, PlanForm, StepForm

    user: Any = request.user
    contract = contract_of(request, pk)
    today = timezone.localdate()
    plan = reads.plan_of(contract, today)
    can_change = has_perm(user, "contract.change") and contract.state != Contract.State.TERMINATED
    planned = sum((p.amount for p in plan), start=contract.amount * 0)
    return render(request, "sales/contracts_detail.html", {
        "contract": contract, "steps": reads.steps_of(contract), "plan": plan, "planned": planned,
        "unplanned": contract.amount - planned, "overdue": sum((p.outstanding for p in plan if p.overdue),  # type: ignore[attr-defined]
                                                                start=contract.amount * 0),
        "payments": reads.payments_of(contract), "figures": reads.figures_of(contract.account_id),
        "days_left": services.days_left(contract, today), "history": core_selectors.history_for(contract)[:50],
        "can_change": can_change, "can_delete": has_perm(user, "contract.delete"),
        "plan_open": can_change and contract.state in services.PLAN_OPEN,
        "can_receive": has_perm(user, "payment.add") and contract.state in (
            Contract.State.ACTIVE, Contract.State.COMPLETED, Contract.State.EXPIRED) and contract.outstanding > 0,
        "can_reverse": has_perm(user, "payment.delete"),
        "moves": [to for to, sources in services.MOVES.items() if contract.state in sources],
        "step_form": StepForm(), "plan_form": PlanForm(),
        "payment_form": PaymentForm(plans=plan, initial={"received_on": today, "method": Payment.Method.TRANSFER}),
        "quote_url": optional_url("sales:quote-detail", contract.quote_id) if contract.quote_id else "",
    })


@requires("contract.change")
def contract_edit(request: HttpRequest, pk: int) -> HttpResponse:
    contract = contract_of(request, pk)
    fields = ("code", "title", "party_a", "party_b", "amount", "currency", "signed_on", "starts_on", "ends_on",
              "remind_days", "terms")
    form = ContractEditForm(request.POST or None, contacts=_contacts(contract.account), initial={
        **{f: getattr(contract, f) for f in fields}, "contact": contract.contact_id or "", "version": contract.version})
    status = save_edit(request, form, lambda changes, version: services.contract_update(
        actor=request.user, contract=contract, changes={**changes, "contact": changes["contact"] or None},
        expected_version=version))
    if status is None:
        return redirect("sales:contract-detail", pk=pk)
    return render(request, "core/form.html", {
        "form": form, "title": _("Edit contract %(code)s") % {"code": contract.code}}, status=status)


ACTIONS = {"activate": Contract.State.ACTIVE, "complete": Contract.State.COMPLETED,
           "terminate": Contract.State.TERMINATED, "expire": Contract.State.EXPIRED}


@requires("contract.change")
@require_POST
def contract_state(request: HttpRequest, pk: int) -> HttpResponse:
    contract = contract_of(request, pk)
    to = ACTIONS.get(request.POST.get("action", ""))
    if to is None:
        raise NotFound()
    return act(request, lambda: services.contract_move(
        actor=request.user, contract=contract, to=to, signed_on=request.POST.get("signed_on") or None,
        expected_version=posted_version(request)),
        lambda: _("Contract %(code)s is now %(state)s.") % {"code": contract.code,
                                                            "state": contract.get_state_display()},
        reverse("sales:contract-detail", args=[pk]))


@requires("contract.delete")
@require_POST
def contract_delete(request: HttpRequest, pk: int) -> HttpResponse:
    contract = contract_of(request, pk)
    return act(request, lambda: services.contract_delete(
        actor=request.user, contract=contract, expected_version=posted_version(request)),
        lambda: _("%(code)s was moved to the recycle bin.") % {"code": contract.code},
        "sales:contract-list", failed_to=reverse("sales:contract-detail", args=[pk]))


def _patterns() -> list[URLPattern]:
    from guanxi.sales.views import contract_parts, receivables

    return [
        path("contracts/", contract_list, name="contract-list"),
        path("contracts/new/", contract_create, name="contract-create"),
        path("contracts/export/", contract_export, name="contract-export"),
        path("contracts/<int:pk>/", contract_detail, name="contract-detail"),
        path("contracts/<int:pk>/edit/", contract_edit, name="contract-edit"),
        path("contracts/<int:pk>/state/", contract_state, name="contract-state"),
        path("contracts/<int:pk>/delete/", contract_delete, name="contract-delete"),
        path("orders/<int:pk>/contract/", contract_from_order, name="contract-from-order"),
        *contract_parts.urlpatterns,
        *receivables.urlpatterns,
    ]


urlpatterns: list[URLPattern] = _patterns()
