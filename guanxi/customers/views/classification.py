"""HTML views: classification — the account's rating actions and the settings pages for the
category tree, grades and rating factors. Thin: parse → service → render."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.core.errors import ServiceError
from guanxi.core.permissions import declare as requires
from guanxi.core.services import records
from guanxi.core.views import form_errors
from guanxi.customers.models import Account, Category, Grade, RatingFactor
from guanxi.customers.selectors import classification as reads
from guanxi.customers.services import classification as services


def _back_to_rating(pk: int) -> HttpResponse:
    response = redirect("customers:account-detail", pk=pk)
    response["Location"] += "?tab=rating"
    return response


# --- The account's rating -------------------------------------------------------------------------
@requires("account.rate")
@require_POST
def rating_rate(request: HttpRequest, pk: int) -> HttpResponse:
    account = records.get_visible(request.user, Account, pk)
    try:
        rating = services.account_rate(actor=request.user, account=account, note=request.POST.get("note", ""))
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Re-rated: grade %(grade)s, score %(score)s.") % {
            "grade": rating.grade, "score": rating.score})
    return _back_to_rating(pk)


@requires("account.rate")
@require_POST
def rating_factor_scores(request: HttpRequest, pk: int) -> HttpResponse:
    """Save the hand-given points of the manual factors (one field per factor: ``factor-<key>``)."""
    account = records.get_visible(request.user, Account, pk)
    saved = 0
    for factor in RatingFactor.objects.filter(method=RatingFactor.Method.MANUAL, active=True):
        value = request.POST.get(f"factor-{factor.key}", "").strip()
        if value == "":
            continue
        try:
            services.account_score_factor(actor=request.user, account=account, factor=factor, score=value)
        except ServiceError as exc:
            detail = "; ".join(m for msgs in exc.errors.values() for m in msgs) or exc.message
            messages.error(request, f"{factor.name}: {detail}")
        else:
            saved += 1
    if saved:
        messages.success(request, _("Factor scores saved. They count from the next rating."))
    return _back_to_rating(pk)


# --- Settings: category tree -----------------------------------------------------------------------
class CategoryForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    parent = forms.ModelChoiceField(label=gettext_lazy("Parent category"), queryset=Category.objects.none(),
                                    required=False, empty_label=gettext_lazy("(top level)"))
    sort_order = forms.IntegerField(label=gettext_lazy("Sort order"), min_value=0, initial=0, required=False)
    description = forms.CharField(label=gettext_lazy("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, exclude: Category | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        qs = Category.objects.filter(active=True)
        if exclude is not None:
            qs = qs.exclude(path__startswith=exclude.path)
        self.fields["parent"].queryset = qs  # type: ignore[attr-defined]


class CategoryEditForm(CategoryForm):
    version = forms.IntegerField(widget=forms.HiddenInput)
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False)


@requires("category.manage")
def category_list(request: HttpRequest) -> HttpResponse:
    form = CategoryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.category_create(actor=request.user, name=data["name"], parent=data["parent"],
                                     description=data["description"], sort_order=data["sort_order"] or 0)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Category created."))
            return redirect("customers:category-list")
    return render(request, "customers/classification_categories.html",
                  {"form": form, "categories": reads.category_tree()})


@requires("category.manage")
def category_edit(request: HttpRequest, pk: int) -> HttpResponse:
    category = get_object_or_404(Category, pk=pk)
    initial = {"name": category.name, "parent": category.parent_id, "sort_order": category.sort_order,
               "description": category.description, "active": category.active, "version": category.version}
    form = CategoryEditForm(request.POST or None, initial=initial, exclude=category)
    if category.parent_id and not category.parent.active:  # type: ignore[union-attr]
        form.fields["parent"].queryset = form.fields["parent"].queryset | Category.objects.filter(  # type: ignore[attr-defined]
            pk=category.parent_id)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.category_update(actor=request.user, category=category, expected_version=data["version"],
                                     name=data["name"], parent=data["parent"], active=data["active"],
                                     description=data["description"], sort_order=data["sort_order"] or 0)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("customers:category-list")
    return render(request, "core/form.html", {"form": form, "title": _("Edit category %(name)s") % {"name": category}})


# --- Settings: grades --------------------------------------------------------------------------------
class GradeForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=50)
    min_score = forms.DecimalField(label=gettext_lazy("Minimum score"), max_digits=6, decimal_places=2,
                                   min_value=0, max_value=100)
    pool_return_days = forms.IntegerField(label=gettext_lazy("Days before return to the pool"), min_value=1,
                                          required=False,
                                          help_text=gettext_lazy("Empty: the pool settings' default."))
    service_policy = forms.CharField(label=gettext_lazy("Service policy"), required=False,
                                     widget=forms.Textarea(attrs={"rows": 3}))


@requires("rating.manage")
def grade_list(request: HttpRequest) -> HttpResponse:
    return render(request, "customers/classification_grades.html", {"grades": reads.grade_list()})


@requires("rating.manage")
def grade_edit(request: HttpRequest, pk: int) -> HttpResponse:
    grade = get_object_or_404(Grade, pk=pk)
    form = GradeForm(request.POST or None, initial={
        "version": grade.version, "name": grade.name, "min_score": grade.min_score,
        "pool_return_days": grade.pool_return_days, "service_policy": grade.service_policy})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        version = data.pop("version")
        try:
            services.grade_update(actor=request.user, grade=grade, expected_version=version, **data)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Saved. The new thresholds apply from the next rating."))
            return redirect("customers:grade-list")
    return render(request, "core/form.html", {"form": form, "title": _("Edit grade %(code)s") % {"code": grade.code}})


# --- Settings: rating factors ------------------------------------------------------------------------
class FactorForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    weight = forms.DecimalField(label=gettext_lazy("Weight"), max_digits=6, decimal_places=2, min_value=0,
                                max_value=1000, initial=1)
    method = forms.ChoiceField(label=gettext_lazy("Method"), choices=RatingFactor.Method.choices)
    rule = forms.ChoiceField(label=gettext_lazy("Rule"), required=False,
                             help_text=gettext_lazy("Only for factors scored by rule."))
    sort_order = forms.IntegerField(label=gettext_lazy("Sort order"), min_value=0, initial=0, required=False)
    description = forms.CharField(label=gettext_lazy("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["rule"].choices = [("", "—"), *services.rule_choices()]  # type: ignore[attr-defined]


class FactorCreateForm(FactorForm):
    key = forms.SlugField(label=gettext_lazy("Key"), max_length=50)
    field_order = ["key", "name", "weight", "method", "rule", "sort_order", "description"]


class FactorEditForm(FactorForm):
    version = forms.IntegerField(widget=forms.HiddenInput)
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False)


@requires("rating.manage")
def factor_list(request: HttpRequest) -> HttpResponse:
    form = FactorCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        data["sort_order"] = data["sort_order"] or 0
        try:
            services.factor_create(actor=request.user, **data)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Rating factor created."))
            return redirect("customers:factor-list")
    rules = dict(services.rule_choices())
    return render(request, "customers/classification_factors.html",
                  {"form": form, "factors": reads.factor_list(), "rules": rules})


@requires("rating.manage")
def factor_edit(request: HttpRequest, pk: int) -> HttpResponse:
    factor = get_object_or_404(RatingFactor, pk=pk)
    form = FactorEditForm(request.POST or None, initial={
        "version": factor.version, "name": factor.name, "weight": factor.weight, "method": factor.method,
        "rule": factor.rule, "sort_order": factor.sort_order, "description": factor.description,
        "active": factor.active})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        version = data.pop("version")
        data["sort_order"] = data["sort_order"] or 0
        try:
            services.factor_update(actor=request.user, factor=factor, expected_version=version, **data)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Saved. The change applies from the next rating."))
            return redirect("customers:factor-list")
    return render(request, "core/form.html",
                  {"form": form, "title": _("Edit rating factor %(name)s") % {"name": factor.name}})


@requires("rating.manage")
@require_POST
def rerate_all(request: HttpRequest) -> HttpResponse:
    try:
        job = services.rerate_all_start(actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("customers:grade-list")
    messages.info(request, _("Re-rating every account in the background."))
    return redirect("core:job-detail", job_id=str(job.pk))


urlpatterns: list[URLPattern] = [
    path("<int:pk>/rating/rate/", rating_rate, name="rating-rate"),
    path("<int:pk>/rating/factors/", rating_factor_scores, name="rating-factor-scores"),
    path("settings/categories/", category_list, name="category-list"),
    path("settings/categories/<int:pk>/", category_edit, name="category-edit"),
    path("settings/grades/", grade_list, name="grade-list"),
    path("settings/grades/<int:pk>/", grade_edit, name="grade-edit"),
    path("settings/grades/rerate-all/", rerate_all, name="rerate-all"),
    path("settings/rating-factors/", factor_list, name="factor-list"),
    path("settings/rating-factors/<int:pk>/", factor_edit, name="factor-edit"),
]
