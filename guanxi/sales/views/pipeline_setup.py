"""HTML views of the sales process's configuration (``pipeline.manage``): pipelines, their
stages and the loss reasons. Thin: parse → service → render; the rules live in
``services.pipeline_setup``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_POST

from guanxi.core.errors import NotFound, ServiceError
from guanxi.core.permissions import declare as requires
from guanxi.core.views import form_errors, posted_version, style_form
from guanxi.sales.models import LossReason, Opportunity, Pipeline, Stage
from guanxi.sales.selectors import pipeline as reads
from guanxi.sales.services import pipeline_setup as services
from guanxi.sales.views.common import act, save_edit


class PipelineForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    is_default = forms.BooleanField(label=gettext_lazy("Default pipeline (new deals go here)"), required=False)
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)
    sort_order = forms.IntegerField(label=gettext_lazy("Sort order"), min_value=0, initial=0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_form(self)


class PipelineEditForm(PipelineForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


class StageForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=Stage.Kind.choices, initial=Stage.Kind.OPEN,
                             help_text=gettext_lazy("Open: the deal is being worked; won and lost close it."))
    probability = forms.IntegerField(label=gettext_lazy("Default probability (%)"), min_value=0, max_value=100,
                                     required=False, help_text=gettext_lazy("Won stages are always 100 %, lost "
                                                                            "stages 0 %."))
    position = forms.IntegerField(label=pgettext_lazy("position in a list", "Order"), min_value=1, required=False,
                                  help_text=gettext_lazy("Columns are shown from the lowest number up."))
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_form(self)


class StageEditForm(StageForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


class LossReasonForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Reason"), max_length=100)
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)
    sort_order = forms.IntegerField(label=gettext_lazy("Sort order"), min_value=0, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_form(self)


class LossReasonEditForm(LossReasonForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


def _one(model: Any, pk: int) -> Any:
    found = model.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found


def _form_page(request: HttpRequest, form: forms.Form, title: str, status: int = 200) -> HttpResponse:
    return render(request, "core/form.html", {"form": form, "title": title}, status=status)


# --- The overview ----------------------------------------------------------------------------
@requires("pipeline.manage")
def pipeline_list(request: HttpRequest) -> HttpResponse:
    services.ensure_defaults()
    rows = reads.pipelines_with_stages()
    used = set(Opportunity.all_objects.order_by().values_list("stage_id", flat=True).distinct())
    for pipeline in rows:
        for stage in pipeline.stages.all():
            stage.in_use = stage.pk in used  # type: ignore[attr-defined]
    used_reasons = set(Opportunity.all_objects.filter(loss_reason__isnull=False).order_by()
                       .values_list("loss_reason_id", flat=True).distinct())
    reasons = list(LossReason.objects.all())
    for reason in reasons:
        reason.in_use = reason.pk in used_reasons  # type: ignore[attr-defined]
    return render(request, "sales/pipeline_config.html", {"pipelines": rows, "reasons": reasons})


# --- Pipelines -------------------------------------------------------------------------------
@requires("pipeline.manage")
def pipeline_create(request: HttpRequest) -> HttpResponse:
    form = PipelineForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                pipeline = services.pipeline_create(actor=request.user, **form.cleaned_data)
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Pipeline %(name)s created with the default pipeline's stages; adjust "
                                            "them below.") % {"name": pipeline.name})
                return redirect(f"{_list_url()}#pipeline-{pipeline.pk}")
        else:
            status = 422
    return _form_page(request, form, _("New pipeline"), status)


def _list_url() -> str:
    return reverse("sales:pipeline-list")


@requires("pipeline.manage")
def pipeline_edit(request: HttpRequest, pk: int) -> HttpResponse:
    pipeline = _one(Pipeline, pk)
    form = PipelineEditForm(request.POST or None, initial={
        "name": pipeline.name, "is_default": pipeline.is_default, "active": pipeline.active,
        "sort_order": pipeline.sort_order, "version": pipeline.version})
    status = save_edit(request, form, lambda changes, version: services.pipeline_update(
        actor=request.user, pipeline=pipeline, changes=changes, expected_version=version))
    if status is None:
        return redirect(f"{_list_url()}#pipeline-{pipeline.pk}")
    return _form_page(request, form, _("Edit pipeline %(name)s") % {"name": pipeline.name}, status)


# --- Stages ----------------------------------------------------------------------------------
@requires("pipeline.manage")
def stage_create(request: HttpRequest, pk: int) -> HttpResponse:
    pipeline = _one(Pipeline, pk)
    form = StageForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.stage_create(actor=request.user, pipeline=pipeline, **form.cleaned_data)
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Stage added."))
                return redirect(f"{_list_url()}#pipeline-{pipeline.pk}")
        else:
            status = 422
    return _form_page(request, form, _("New stage of %(name)s") % {"name": pipeline.name}, status)


@requires("pipeline.manage")
def stage_edit(request: HttpRequest, pk: int) -> HttpResponse:
    stage = _one(Stage, pk)
    form = StageEditForm(request.POST or None, initial={
        "name": stage.name, "kind": stage.kind, "probability": stage.probability, "position": stage.position,
        "active": stage.active, "version": stage.version})
    def save(changes: dict[str, Any], version: int | None) -> None:
        for name in ("probability", "position"):
            if changes.get(name) is None:
                changes.pop(name)
        services.stage_update(actor=request.user, stage=stage, changes=changes, expected_version=version)

    status = save_edit(request, form, save)
    if status is None:
        return redirect(f"{_list_url()}#pipeline-{stage.pipeline_id}")
    return _form_page(request, form, _("Edit stage %(name)s") % {"name": stage.name}, status)


@requires("pipeline.manage")
@require_POST
def stage_delete(request: HttpRequest, pk: int) -> HttpResponse:
    stage = _one(Stage, pk)
    return act(request, lambda: services.stage_delete(
        actor=request.user, stage=stage, expected_version=posted_version(request)),
        lambda: _("Stage %(name)s deleted.") % {"name": stage.name}, f"{_list_url()}#pipeline-{stage.pipeline_id}")


# --- Loss reasons ----------------------------------------------------------------------------
@requires("pipeline.manage")
def lossreason_create(request: HttpRequest) -> HttpResponse:
    form = LossReasonForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.loss_reason_create(actor=request.user, **form.cleaned_data)
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Loss reason added."))
                return redirect(f"{_list_url()}#loss-reasons")
        else:
            status = 422
    return _form_page(request, form, _("New loss reason"), status)


@requires("pipeline.manage")
def lossreason_edit(request: HttpRequest, pk: int) -> HttpResponse:
    reason = _one(LossReason, pk)
    form = LossReasonEditForm(request.POST or None, initial={
        "name": reason.name, "active": reason.active, "sort_order": reason.sort_order, "version": reason.version})
    def save(changes: dict[str, Any], version: int | None) -> None:
        if changes.get("sort_order") is None:
            changes.pop("sort_order")
        services.loss_reason_update(actor=request.user, reason=reason, changes=changes, expected_version=version)

    status = save_edit(request, form, save)
    if status is None:
        return redirect(f"{_list_url()}#loss-reasons")
    return _form_page(request, form, _("Edit loss reason %(name)s") % {"name": reason.name}, status)


@requires("pipeline.manage")
@require_POST
def lossreason_delete(request: HttpRequest, pk: int) -> HttpResponse:
    reason = _one(LossReason, pk)
    return act(request, lambda: services.loss_reason_delete(
        actor=request.user, reason=reason, expected_version=posted_version(request)),
        lambda: _("Loss reason %(name)s deleted.") % {"name": reason.name}, f"{_list_url()}#loss-reasons")


urlpatterns: list[URLPattern] = [
    path("pipelines/", pipeline_list, name="pipeline-list"),
    path("pipelines/new/", pipeline_create, name="pipeline-create"),
    path("pipelines/<int:pk>/edit/", pipeline_edit, name="pipeline-edit"),
    path("pipelines/<int:pk>/stages/new/", stage_create, name="stage-create"),
    path("stages/<int:pk>/edit/", stage_edit, name="stage-edit"),
    path("stages/<int:pk>/delete/", stage_delete, name="stage-delete"),
    path("loss-reasons/new/", lossreason_create, name="lossreason-create"),
    path("loss-reasons/<int:pk>/edit/", lossreason_edit, name="lossreason-edit"),
    path("loss-reasons/<int:pk>/delete/", lossreason_delete, name="lossreason-delete"),
]
