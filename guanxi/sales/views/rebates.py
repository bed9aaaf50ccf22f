"""HTML views of distributor rebates (R4.5): rules, deductions and the yearly statements.

Rules and deductions are a manager's work (``rebate.manage``); statements are read by
whoever sees the distributor (``rebate.view``), who may also compute its draft. Only a
manager confirms a statement, which freezes it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.activities.views.confirm import download
from guanxi.core.errors import Invalid, NotFound, ServiceError
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import declare as requires
from guanxi.core.permissions import has_perm
from guanxi.core.views import error_text, form_errors, posted_version, style_form
from guanxi.customers.models import Account, Grade
from guanxi.sales.models import RebateDeduction, RebateRule, RebateStatement
from guanxi.sales.selectors import rebates as reads
from guanxi.sales.selectors.scope import get_one
from guanxi.sales.services import rebates as services
from guanxi.sales.services.rebates_documents import rebate_statement_export, sections
from guanxi.sales.views.common import act

PAGE_SIZE = 50
BLANK_TIER_ROWS = 3
DISTRIBUTOR_CHOICES = 500


def _year(value: Any, default: int) -> int:
    try:
        year = int(str(value))
    except (TypeError, ValueError):
        return default
    return year if reads.FIRST_YEAR <= year <= reads.LAST_YEAR else default


def _distributor(user: Any, value: Any) -> Account:
    if not str(value or "").isdigit():
        raise NotFound()
    account = reads.distributor_scope(user).filter(pk=int(value)).first()
    if account is None:
        raise NotFound()
    return account


# --- Rules ---------------------------------------------------------------------------------
class RuleForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    year = forms.CharField(label=gettext_lazy("Year"), max_length=4)
    basis = forms.ChoiceField(label=gettext_lazy("Volume counted"), choices=RebateRule.Basis.choices)
    grade = forms.ChoiceField(label=gettext_lazy("For distributors of grade"), required=False)
    target = forms.CharField(label=gettext_lazy("Target volume (CNY)"), required=False)
    target_rate = forms.CharField(label=gettext_lazy("Extra rate on reaching the target (%)"), required=False)
    points_per_10k = forms.CharField(label=gettext_lazy("Points per 10,000 CNY"), required=False)
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        grade_field = self.fields["grade"]
        assert isinstance(grade_field, forms.ChoiceField)
        grade_field.choices = [("", _("Every grade")), *[(g, g) for g in Grade.objects.order_by(
            "-min_score").values_list("code", flat=True)]]
        style_form(self)
        self.fields["active"].widget.attrs["class"] = "form-check-input"


def _tier_rows(request: HttpRequest, rule: RebateRule | None) -> list[tuple[str, str]]:
    if request.method == "POST":
        rows = list(zip(request.POST.getlist("tier_from"), request.POST.getlist("tier_rate"), strict=False))
    else:
        rows = [(t["from"], t["rate"]) for t in (rule.tiers if rule is not None else [])]
    return [*[(a, b) for a, b in rows if str(a).strip() or str(b).strip()], *[("", "")] * BLANK_TIER_ROWS]


def _rule_values(form: RuleForm, tiers: list[tuple[str, str]]) -> dict[str, Any]:
    data = form.cleaned_data
    return {"name": data["name"], "year": data["year"], "basis": data["basis"], "grade": data["grade"],
            "target": data["target"], "target_rate": data["target_rate"], "points_per_10k": data["points_per_10k"],
            "active": data["active"], "tiers": tiers}


@requires("rebate.manage")
def rule_list(request: HttpRequest) -> HttpResponse:
    rules = RebateRule.objects.order_by("-year", "name", "id")
    year = request.GET.get("year", "")
    if year.isdigit():
        rules = rules.filter(year=int(year))
    return render(request, "sales/rebates_rule_list.html", {
        "page": CappedPaginator(rules, PAGE_SIZE).get_page(request.GET.get("page")), "year": year})


def _rule_form(request: HttpRequest, rule: RebateRule | None) -> HttpResponse:
    initial: dict[str, Any] = {"year": timezone.localdate().year, "basis": RebateRule.Basis.RECEIVED, "active": True}
    if rule is not None:
        initial = {name: getattr(rule, name) for name in ("name", "year", "basis", "grade", "target", "target_rate",
                                                         "points_per_10k", "active", "version")}
    form = RuleForm(request.POST or None, initial=initial)
    tiers = _tier_rows(request, rule)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            values = _rule_values(form, tiers)
            try:
                if rule is None:
                    rule = services.rebate_rule_create(actor=request.user, **values)
                else:
                    services.rebate_rule_update(actor=request.user, rule=rule, changes=values,
                                                expected_version=form.cleaned_data["version"])
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Rebate rule saved: %(name)s.") % {"name": rule.name})
                return redirect(reverse("sales:rebaterule-list") + f"?year={rule.year}")
        else:
            status = 422
    return render(request, "sales/rebates_rule_form.html", {
        "form": form, "rule": rule, "tiers": tiers,
        "title": _("Edit the rebate rule %(name)s") % {"name": rule.name} if rule else _("New rebate rule"),
    }, status=status)


@requires("rebate.manage")
def rule_create(request: HttpRequest) -> HttpResponse:
    return _rule_form(request, None)


@requires("rebate.manage")
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = RebateRule.objects.filter(pk=pk).first()
    if rule is None:
        raise NotFound()
    return _rule_form(request, rule)


@requires("rebate.manage")
@require_POST
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = RebateRule.objects.filter(pk=pk).first()
    if rule is None:
        raise NotFound()
    return act(request, lambda: services.rebate_rule_delete(
        actor=request.user, rule=rule, expected_version=posted_version(request)),
        lambda: _("Rebate rule deleted: %(name)s.") % {"name": rule.name},
        "sales:rebaterule-list", failed_to=reverse("sales:rebaterule-edit", args=[pk]))


# --- Deductions ----------------------------------------------------------------------------
class DeductionForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    account = forms.ChoiceField(label=gettext_lazy("Distributor"))
    year = forms.CharField(label=gettext_lazy("Year"), max_length=4)
    amount = forms.CharField(label=gettext_lazy("Amount deducted (CNY)"), required=False)
    points = forms.CharField(label=gettext_lazy("Points deducted"), required=False)
    occurred_on = forms.CharField(label=gettext_lazy("Occurred on"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, user: Any, deduction: RebateDeduction | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        account_field = self.fields["account"]
        assert isinstance(account_field, forms.ChoiceField)
        if deduction is not None:
            account_field.choices = [(str(deduction.account_id), str(deduction.account))]
            account_field.disabled = True
            self.fields["year"].disabled = True
        else:
            account_field.choices = [("", "—"), *[(str(pk), name) for pk, name in reads.distributor_scope(user)
                                                  .order_by("name").values_list("pk", "name")[:DISTRIBUTOR_CHOICES]]]
        style_form(self)


@requires("rebate.view")
def deduction_list(request: HttpRequest) -> HttpResponse:
    status = 200
    try:
        qs = reads.deduction_list_for(request.user, request.GET)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        qs, status = RebateDeduction.objects.none(), exc.status
    return render(request, "sales/rebates_deduction_list.html", {
        "page": CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page")), "f": request.GET,
    }, status=status)


def _deduction_form(request: HttpRequest, deduction: RebateDeduction | None) -> HttpResponse:
    user: Any = request.user
    if deduction is not None:
        initial = {"account": str(deduction.account_id), "year": deduction.year, "amount": deduction.amount,
                   "points": deduction.points, "occurred_on": deduction.occurred_on.isoformat(),
                   "reason": deduction.reason, "version": deduction.version}
    else:
        today = timezone.localdate()
        initial = {"account": request.GET.get("account", ""), "year": request.GET.get("year", today.year),
                   "occurred_on": today.isoformat()}
    form = DeductionForm(request.POST or None, user=user, deduction=deduction, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                if deduction is None:
                    deduction = services.rebate_deduct(
                        actor=user, account=_distributor(user, data["account"]), year=data["year"],
                        amount=data["amount"], points=data["points"], reason=data["reason"],
                        occurred_on=data["occurred_on"])
                else:
                    services.rebate_deduction_update(
                        actor=user, deduction=deduction, expected_version=data["version"],
                        changes={k: data[k] for k in ("amount", "points", "reason", "occurred_on")})
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Deduction recorded."))
                return redirect(reverse("sales:rebatededuction-list") + f"?account={deduction.account_id}")
        else:
            status = 422
    return render(request, "sales/rebates_deduction_form.html", {
        "form": form, "deduction": deduction,
        "title": _("Edit the deduction") if deduction else _("Record a deduction from a rebate"),
    }, status=status)


def _deduction(request: HttpRequest, pk: int) -> RebateDeduction:
    return get_one(reads.deduction_scope, request.user, pk, "account")  # type: ignore[no-any-return]


@requires("rebate.manage")
def deduction_create(request: HttpRequest) -> HttpResponse:
    return _deduction_form(request, None)


@requires("rebate.manage")
def deduction_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _deduction_form(request, _deduction(request, pk))


@requires("rebate.manage")
@require_POST
def deduction_delete(request: HttpRequest, pk: int) -> HttpResponse:
    deduction = _deduction(request, pk)
    return act(request, lambda: services.rebate_deduction_delete(
        actor=request.user, deduction=deduction, expected_version=posted_version(request)),
        _("Deduction moved to the recycle bin."),
        reverse("sales:rebatededuction-list") + f"?account={deduction.account_id}")


# --- Statements ----------------------------------------------------------------------------
@requires("rebate.view")
def statement_list(request: HttpRequest) -> HttpResponse:
    """Statements by ``year``, ``state``, ``q``; the form to compute one distributor's or all."""
    user: Any = request.user
    status = 200
    try:
        qs = reads.statement_list_for(user, request.GET)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        qs, status = RebateStatement.objects.none(), exc.status
    year = _year(request.GET.get("year"), timezone.localdate().year)
    return render(request, "sales/rebates_statement_list.html", {
        "page": CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page")), "f": request.GET,
        "year": year, "states": RebateStatement.State.choices,
        "distributors": reads.distributor_scope(user).order_by("name").values_list("pk", "name")[:DISTRIBUTOR_CHOICES],
        "rules": RebateRule.objects.filter(active=True, year=year).order_by("name"),
    }, status=status)


@requires("rebate.view")
@require_POST
def statement_compute(request: HttpRequest) -> HttpResponse:
    """Compute the drafts of ``year`` for ``account`` (or every visible distributor), under
    ``rule`` when one is chosen."""
    user: Any = request.user
    year = request.POST.get("year", "")
    back = reverse("sales:rebate-list") + f"?year={_year(year, timezone.localdate().year)}"
    try:
        account = _distributor(user, request.POST["account"]) if request.POST.get("account") else None
        rule = None
        if request.POST.get("rule"):
            rule = RebateRule.objects.filter(pk=request.POST["rule"]).first() \
                if request.POST["rule"].isdigit() else None
            if rule is None:
                raise Invalid(errors={"rule": [_("Choose an active rule of the year.")]})
        result = services.rebate_compute(actor=user, year=year, account=account, rule=rule)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        return redirect(back)
    if account is not None and result.statements:
        messages.success(request, _("Statement computed."))
        return redirect("sales:rebate-detail", pk=result.statements[0].pk)
    messages.success(request, _("%(count)s statements computed.") % {"count": len(result.statements)})
    for item, why in result.skipped[:20]:
        messages.warning(request, f"{item.name}: {why}")
    if len(result.skipped) > 20:
        messages.warning(request, _("…and %(count)s more distributors skipped.") % {"count": len(result.skipped) - 20})
    return redirect(back)


def _statement(request: HttpRequest, pk: int) -> RebateStatement:
    return get_one(reads.statement_scope, request.user, pk, "account", "rule",  # type: ignore[no-any-return]
                   "confirmed_by")


@requires("rebate.view")
def statement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    statement = _statement(request, pk)
    return render(request, "sales/rebates_statement_detail.html", {
        "statement": statement, "s": sections(statement), "details": statement.details,
        "can_confirm": has_perm(request.user, "rebate.manage") and statement.state == RebateStatement.State.DRAFT,
    })


@requires("rebate.manage")
@require_POST
def statement_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    statement = _statement(request, pk)
    try:
        services.rebate_confirm(actor=request.user, statement=statement, expected_version=posted_version(request))
    except ServiceError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Statement confirmed: it will not change any more."))
    return redirect("sales:rebate-detail", pk=pk)


def _export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    content, content_type, filename = rebate_statement_export(actor=request.user, statement=_statement(request, pk),
                                                              fmt=fmt)
    return download(content, content_type, filename)


@requires("rebate.view")
def statement_xlsx(request: HttpRequest, pk: int) -> HttpResponse:
    return _export(request, pk, "xlsx")


@requires("rebate.view")
def statement_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    return _export(request, pk, "pdf")


urlpatterns: list[URLPattern] = [
    path("rebates/", statement_list, name="rebate-list"),
    path("rebates/compute/", statement_compute, name="rebate-compute"),
    path("rebates/<int:pk>/", statement_detail, name="rebate-detail"),
    path("rebates/<int:pk>/confirm/", statement_confirm, name="rebate-confirm"),
    path("rebates/<int:pk>/xlsx/", statement_xlsx, name="rebate-xlsx"),
    path("rebates/<int:pk>/pdf/", statement_pdf, name="rebate-pdf"),
    path("rebates/rules/", rule_list, name="rebaterule-list"),
    path("rebates/rules/new/", rule_create, name="rebaterule-create"),
    path("rebates/rules/<int:pk>/edit/", rule_edit, name="rebaterule-edit"),
    path("rebates/rules/<int:pk>/delete/", rule_delete, name="rebaterule-delete"),
    path("rebates/deductions/", deduction_list, name="rebatededuction-list"),
    path("rebates/deductions/new/", deduction_create, name="rebatededuction-create"),
    path("rebates/deductions/<int:pk>/edit/", deduction_edit, name="rebatededuction-edit"),
    path("rebates/deductions/<int:pk>/delete/", deduction_delete, name="rebatededuction-delete"),
]
