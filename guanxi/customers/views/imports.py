"""HTML views: imports (upload → mapping → preview → background job → results) and business cards."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.core.errors import NotFound, ServiceError
from guanxi.core.models import User
from guanxi.core.permissions import declare as requires
from guanxi.core.permissions import has_perm
from guanxi.customers.models import ImportRun
from guanxi.customers.selectors import imports as reads
from guanxi.customers.services import imports as service

CARD_COLUMNS = [("company", gettext_lazy("Company")), ("name", gettext_lazy("Person")),
                ("title", gettext_lazy("Job title")), ("mobile", gettext_lazy("Mobile")),
                ("email", gettext_lazy("E-mail")), ("wechat", gettext_lazy("WeChat")), ("notes", gettext_lazy("Notes"))]


def _field_choices() -> list[tuple[str, str]]:
    return [("", _("— do not import —"))] + [(k, str(v)) for k, v in service.FIELDS.items()]


@requires("account.import")
def import_upload(request: HttpRequest) -> HttpResponse:
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = _("Choose a file.")
        elif upload.size and upload.size > service.MAX_UPLOAD_BYTES:
            error = _("The file is larger than %(mb)d MB; split it into smaller files.") % {
                "mb": service.MAX_UPLOAD_BYTES // (1024 * 1024)}
        else:
            try:
                run = service.import_upload(actor=request.user, name=upload.name or "", data=upload.read())
            except ServiceError as exc:
                error = "; ".join(m for msgs in exc.errors.values() for m in msgs) or exc.message
            else:
                return redirect("customers:import-mapping", pk=run.pk)
    return render(request, "customers/import_upload.html", {
        "error": error, "runs": reads.import_runs_for(request.user)[:10],
        "max_mb": service.MAX_UPLOAD_BYTES // (1024 * 1024)})


@requires("account.import")
def import_mapping(request: HttpRequest, pk: int) -> HttpResponse:
    run = reads.import_run_for(request.user, pk)
    if run.state not in (ImportRun.State.UPLOADED, ImportRun.State.MAPPED):
        return redirect("customers:import-result", pk=run.pk)
    mapping = dict(run.mapping)
    mode, save_as, errors = run.mode, "", []
    saved_id = request.GET.get("saved", "")
    if saved_id.isdigit():
        saved = reads.import_mappings_for(request.user).filter(pk=int(saved_id)).first()
        if saved is not None:
            mapping = service.apply_saved_mapping(run, saved)
    if request.method == "POST":
        mapping = {c: request.POST.get(f"col-{i}", "") for i, c in enumerate(run.columns)}
        mode, save_as = request.POST.get("mode", ""), request.POST.get("save_as", "")
        try:
            service.import_set_mapping(actor=request.user, run=run, mapping=mapping, mode=mode, save_as=save_as)
        except ServiceError as exc:
            errors = [m for msgs in exc.errors.values() for m in msgs] or [exc.message]
        else:
            return redirect("customers:import-preview", pk=run.pk)
    rows = [{"index": i, "column": c, "target": mapping.get(c, "")} for i, c in enumerate(run.columns)]
    return render(request, "customers/import_mapping.html", {
        "run": run, "rows": rows, "choices": _field_choices(), "modes": ImportRun.Mode.choices, "mode": mode,
        "save_as": save_as, "errors": errors, "saved": reads.import_mappings_for(request.user),
        "may_assign": has_perm(request.user, "account.reassign")})


@requires("account.import")
def import_preview(request: HttpRequest, pk: int) -> HttpResponse:
    run = reads.import_run_for(request.user, pk)
    if run.state != ImportRun.State.MAPPED:
        return redirect("customers:import-mapping" if run.state == ImportRun.State.UPLOADED else "customers:import-result",
                        pk=run.pk)
    rows = service.import_preview(actor=request.user, run=run)
    labels = {k: str(v) for k, v in service.FIELDS.items()}
    header = [{"column": c, "target": labels.get(run.mapping.get(c, ""), "")} for c in run.columns]
    for row in rows:
        row["cell_list"] = [{"value": v, "errors": row["errors"].get(c, [])} for c, v in zip(run.columns, row["cells"],
                                                                                           strict=True)]
    return render(request, "customers/import_preview.html", {"run": run, "rows": rows, "header": header,
                                                              "mode_label": run.get_mode_display()})


@requires("account.import")
@require_POST
def import_start(request: HttpRequest, pk: int) -> HttpResponse:
    run = reads.import_run_for(request.user, pk)
    try:
        service.import_start(actor=request.user, run=run)
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("customers:import-result", pk=run.pk)


@requires("account.import")
@require_POST
def import_resume(request: HttpRequest, pk: int) -> HttpResponse:
    run = reads.import_run_for(request.user, pk)
    try:
        service.import_resume(actor=request.user, run=run)
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("customers:import-result", pk=run.pk)


@requires("account.import")
def import_result(request: HttpRequest, pk: int) -> HttpResponse:
    run = reads.import_run_for(request.user, pk)
    counts = run.stats if run.state == ImportRun.State.DONE else service.import_counts(run)
    context = {"run": run, "job": run.job, "counts": counts, "report": reads.import_error_rows(run)[:50],
               "failed": run.job is not None and (run.job.state == "failed" or run.job.stalled)}
    template = "customers/import_result_body.html" if request.htmx else "customers/import_result.html"  # type: ignore[attr-defined]
    return render(request, template, context)


@requires("account.import")
def import_errors(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    if fmt not in ("csv", "xlsx"):
        raise NotFound()
    run = reads.import_run_for(request.user, pk)
    content, content_type, filename = reads.import_error_report(run, fmt)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- Business cards -----------------------------------------------------------------------------
@requires("account.add")
def cards(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    may_assign = has_perm(user, "account.reassign")
    colleagues = list(User.objects.filter(is_active=True, department__isnull=False).exclude(pk=user.pk)
                      .order_by("name")[:500]) if may_assign else []
    if may_assign:
        from guanxi.core import access

        colleagues = [u for u in colleagues if access.manages_user(user, u)]
    count = min(max(int(request.POST.get("count") or request.GET.get("rows") or service.CARD_ROWS)
                    if (request.POST.get("count") or request.GET.get("rows") or "").isdigit() else service.CARD_ROWS,
                    1), service.MAX_CARD_ROWS)
    values = [{k: request.POST.get(f"{k}-{i}", "") for k, _label in CARD_COLUMNS} for i in range(count)]
    errors: dict[str, list[str]] = {}
    general: list[str] = []
    owner_choice = request.POST.get("owner", "self")
    if request.method == "POST":
        owner: Any = ...
        if owner_choice == "pool":
            owner = None
        elif owner_choice.isdigit():
            owner = next((u for u in colleagues if u.pk == int(owner_choice)), False)
        if owner is False:
            general.append(_("Choose an active colleague you manage."))
        else:
            try:
                results = service.cards_create(actor=user, rows=values, owner=owner)
            except ServiceError as exc:
                errors = exc.errors
                general = [m for k, msgs in exc.errors.items() if "." not in k for m in msgs]
                if not exc.errors:
                    general = [exc.message]
            else:
                messages.success(request, _("%(n)d business cards entered.") % {"n": len(results)})
                return redirect("customers:account-list")
    grid = [{"index": i, "cells": [{"key": k, "label": label, "value": values[i][k],
                                    "errors": errors.get(f"{i}.{k}", [])} for k, label in CARD_COLUMNS]}
            for i in range(count)]
    return render(request, "customers/import_cards.html", {
        "grid": grid, "columns": CARD_COLUMNS, "count": count, "general": general, "may_assign": may_assign,
        "colleagues": colleagues, "owner_choice": owner_choice})


urlpatterns: list[URLPattern] = [
    path("import/", import_upload, name="import-upload"),
    path("import/<int:pk>/", import_result, name="import-result"),
    path("import/<int:pk>/mapping/", import_mapping, name="import-mapping"),
    path("import/<int:pk>/preview/", import_preview, name="import-preview"),
    path("import/<int:pk>/start/", import_start, name="import-start"),
    path("import/<int:pk>/resume/", import_resume, name="import-resume"),
    path("import/<int:pk>/errors.<str:fmt>", import_errors, name="import-errors"),
    path("cards/", cards, name="import-cards"),
]
