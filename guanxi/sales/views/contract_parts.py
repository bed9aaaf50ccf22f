"""HTML views of a contract's parts: execution steps, payment plan instalments and receipts.

Each action is posted from the contract page and comes back to it (at its section); an
edit of a step or an instalment has its own small form page.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.core.errors import NotFound, ServiceError
from guanxi.core.models import User
from guanxi.core.permissions import declare as requires
from guanxi.core.views import error_text, posted_version, style_form
from guanxi.sales.models import ContractStep, Payment, PaymentPlan
from guanxi.sales.selectors.scope import get_one, payment_scope, plan_scope
from guanxi.sales.services import contracts as services
from guanxi.sales.services import payments as payment_services
from guanxi.sales.views.common import act, save_edit
from guanxi.sales.views.contracts import contract_of

OWNER_CHOICES = 500


def _date(label: Any, required: bool = False) -> forms.DateField:
    return forms.DateField(label=label, required=required, widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}))


def _labelled(form: forms.Form) -> forms.Form:
    """Inline forms on the contract page show no labels: screen readers and placeholders get them."""
    style_form(form)
    for field in form.fields.values():
        field.widget.attrs.setdefault("aria-label", str(field.label))
        if isinstance(field, forms.CharField | forms.DecimalField):
            field.widget.attrs.setdefault("placeholder", str(field.label))
    return form


def form_text(form: forms.Form) -> str:
    """A form's messages as one line for the banner (inline forms show no field errors)."""
    return "; ".join(str(m) for ms in form.errors.values() for m in ms)


def _back_url(contract_id: int, section: str) -> str:
    return reverse("sales:contract-detail", args=[contract_id]) + f"#{section}"


def _back(contract_id: int, section: str) -> HttpResponse:
    return redirect(_back_url(contract_id, section))


def _failed(request: HttpRequest, exc: ServiceError) -> None:
    messages.error(request, error_text(exc))


class StepForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Step"), max_length=200)
    due_on = _date(gettext_lazy("Due on"))
    owner = forms.ChoiceField(label=gettext_lazy("Responsible"), required=False)
    state = forms.ChoiceField(label=gettext_lazy("State"), choices=ContractStep.State.choices,
                              initial=ContractStep.State.PENDING)
    done_on = _date(gettext_lazy("Done on"))
    notes = forms.CharField(label=gettext_lazy("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ChoiceField)
        owner.choices = [("", _("Responsible")), *[(str(u.pk), str(u)) for u in User.objects.filter(is_active=True)
                                                   .order_by("name", "username")[:OWNER_CHOICES]]]
        _labelled(self)


class StepEditForm(StepForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


class PlanForm(forms.Form):
    description = forms.CharField(label=gettext_lazy("Description"), max_length=200, required=False,
                                  help_text=gettext_lazy("e.g. advance payment, payment on delivery, retention"))
    due_on = _date(gettext_lazy("Due on"), required=True)
    amount = forms.DecimalField(label=gettext_lazy("Amount due"), max_digits=16, decimal_places=2, min_value=0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _labelled(self)


class PlanEditForm(PlanForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


class PaymentForm(forms.Form):
    amount = forms.DecimalField(label=gettext_lazy("Amount received"), max_digits=16, decimal_places=2)
    received_on = _date(gettext_lazy("Received on"), required=True)
    method = forms.ChoiceField(label=gettext_lazy("Payment method"), choices=Payment.Method.choices)
    plan = forms.ChoiceField(label=gettext_lazy("Instalment"), required=False)
    reference = forms.CharField(label=gettext_lazy("Bank reference"), max_length=100, required=False)
    notes = forms.CharField(label=gettext_lazy("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, plans: list[PaymentPlan], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plan = self.fields["plan"]
        assert isinstance(plan, forms.ChoiceField)
        plan.choices = [("", _("The oldest open instalments first")), *[
            (str(p.pk), f"{p.position}. {p.description or _('Instalment')} · {p.due_on:%Y-%m-%d} · {p.outstanding}")
            for p in plans]]
        style_form(self)


# --- Steps -----------------------------------------------------------------------------------
def _step(request: HttpRequest, pk: int) -> ContractStep:
    step = ContractStep.objects.select_related("contract").filter(pk=pk).first()
    if step is None:
        raise NotFound()
    contract_of(request, step.contract_id)  # hidden contract → 404
    return step


@requires("contract.change")
@require_POST
def step_create(request: HttpRequest, pk: int) -> HttpResponse:
    contract = contract_of(request, pk)
    form = StepForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_text(form))
        return _back(contract.pk, "steps")
    data = dict(form.cleaned_data)
    data.pop("done_on", None)
    try:
        services.step_add(actor=request.user, contract=contract, **data)
    except ServiceError as exc:
        _failed(request, exc)
    return _back(contract.pk, "steps")


@requires("contract.change")
def step_edit(request: HttpRequest, pk: int) -> HttpResponse:
    step = _step(request, pk)
    initial = {f: getattr(step, f) for f in ("name", "due_on", "state", "done_on", "notes")}
    form = StepEditForm(request.POST or None, initial={**initial, "owner": step.owner_id or "",
                                                       "version": step.version})
    status = save_edit(request, form, lambda changes, version: services.step_update(
        actor=request.user, step=step, changes=changes, expected_version=version))
    if status is None:
        return _back(step.contract_id, "steps")
    return render(request, "core/form.html", {
        "form": form, "title": _("Step %(name)s of %(code)s") % {"name": step.name, "code": step.contract.code}},
        status=status)


@requires("contract.change")
@require_POST
def step_action(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a step up or down, or set its state (start, done, blocked) in one click."""
    step = _step(request, pk)
    action = request.POST.get("action", "")
    try:
        if action in ("up", "down"):
            services.step_move(actor=request.user, step=step, position=step.position + (-1 if action == "up" else 1))
        elif action in ContractStep.State.values:
            services.step_update(actor=request.user, step=step, changes={"state": action},
                                 expected_version=posted_version(request))
    except ServiceError as exc:
        _failed(request, exc)
    return _back(step.contract_id, "steps")


# --- Payment plan ----------------------------------------------------------------------------
def _plan(request: HttpRequest, pk: int) -> PaymentPlan:
    return get_one(plan_scope, request.user, pk, "contract")  # type: ignore[no-any-return]


@requires("contract.change")
@require_POST
def plan_create(request: HttpRequest, pk: int) -> HttpResponse:
    contract = contract_of(request, pk)
    form = PlanForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_text(form))
        return _back(contract.pk, "plan")
    try:
        services.plan_add(actor=request.user, contract=contract, **form.cleaned_data)
    except ServiceError as exc:
        _failed(request, exc)
    else:
        messages.success(request, _("Instalment added."))
    return _back(contract.pk, "plan")


@requires("contract.change")
def plan_edit(request: HttpRequest, pk: int) -> HttpResponse:
    plan = _plan(request, pk)
    form = PlanEditForm(request.POST or None, initial={"description": plan.description, "due_on": plan.due_on,
                                                       "amount": plan.amount, "version": plan.version})
    status = save_edit(request, form, lambda changes, version: services.plan_update(
        actor=request.user, plan=plan, changes=changes, expected_version=version))
    if status is None:
        return _back(plan.contract_id, "plan")
    return render(request, "core/form.html", {
        "form": form, "title": _("Instalment %(n)d of %(code)s") % {"n": plan.position, "code": plan.contract.code}},
        status=status)


@requires("contract.change")
@require_POST
def plan_delete(request: HttpRequest, pk: int) -> HttpResponse:
    plan = _plan(request, pk)
    return act(request, lambda: services.plan_delete(actor=request.user, plan=plan), _("Instalment removed."),
               _back_url(plan.contract_id, "plan"))


# --- Receipts --------------------------------------------------------------------------------
@requires("payment.add")
@require_POST
def payment_create(request: HttpRequest, pk: int) -> HttpResponse:
    from guanxi.sales.selectors.contracts import plan_of

    contract = contract_of(request, pk)
    form = PaymentForm(request.POST, plans=plan_of(contract))
    if not form.is_valid():
        messages.error(request, form_text(form))
        return _back(contract.pk, "receipts")
    data = dict(form.cleaned_data)
    try:
        payment = payment_services.payment_record(actor=request.user, contract=contract,
                                                  plan=data.pop("plan") or None, **data)
    except ServiceError as exc:
        _failed(request, exc)
    else:
        messages.success(request, _("Receipt of %(amount)s recorded.") % {"amount": payment.amount})
    return _back(contract.pk, "receipts")


@requires("payment.delete")
@require_POST
def payment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    payment = get_one(payment_scope, request.user, pk)
    return act(request, lambda: payment_services.payment_delete(
        actor=request.user, payment=payment, expected_version=posted_version(request)),
        _("The receipt was reversed (it is in the recycle bin)."), _back_url(payment.contract_id, "receipts"))


urlpatterns: list[URLPattern] = [
    path("contracts/<int:pk>/steps/new/", step_create, name="contract-step-create"),
    path("contract-steps/<int:pk>/edit/", step_edit, name="contract-step-edit"),
    path("contract-steps/<int:pk>/action/", step_action, name="contract-step-action"),
    path("contracts/<int:pk>/plan/new/", plan_create, name="contract-plan-create"),
    path("payment-plans/<int:pk>/edit/", plan_edit, name="contract-plan-edit"),
    path("payment-plans/<int:pk>/delete/", plan_delete, name="contract-plan-delete"),
    path("contracts/<int:pk>/payments/new/", payment_create, name="payment-create"),
    path("payments/<int:pk>/delete/", payment_delete, name="payment-delete"),
]
