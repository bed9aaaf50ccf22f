"""Sales views: importing leads — upload, match the columns, check every row, import all or nothing."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from guanxi.core.errors import ServiceError
from guanxi.core.permissions import declare as requires
from guanxi.core.views import error_text
from guanxi.sales.models import Lead
from guanxi.sales.services import lead_imports as service
from guanxi.sales.views.leads import ME, owner_choices, owner_value

REPORT_LIMIT = 500


@requires("lead.import")
def lead_import(request: HttpRequest) -> HttpResponse:
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
                result = service.lead_import_upload(actor=request.user, name=upload.name or "", data=upload.read())
            except ServiceError as exc:
                error = error_text(exc)
            else:
                return redirect(reverse("sales:lead-import-map", args=[result.token])
                                + f"?name={_safe_name(upload.name or '')}")
    return render(request, "sales/leads_import.html", {
        "error": error, "max_rows": service.MAX_ROWS, "fields": [str(v) for v in service.FIELDS.values()],
        "max_mb": service.MAX_UPLOAD_BYTES // (1024 * 1024)}, status=422 if error else 200)


def _safe_name(name: str) -> str:
    from urllib.parse import quote

    return quote(name[:100])


@requires("lead.import")
def lead_import_map(request: HttpRequest, token: str) -> HttpResponse:
    """Match the columns, then ``check`` (a report, nothing written) or ``import`` (all or nothing)."""
    user: Any = request.user
    try:
        upload = service.lead_import_open(actor=user, token=token)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        return redirect("sales:lead-import")
    name = (request.POST.get("name") or request.GET.get("name") or "")[:200]
    params = request.POST if request.method == "POST" else {}
    mapping = ({c: request.POST.get(f"col-{i}", "") for i, c in enumerate(upload.columns)}
               if request.method == "POST" else upload.mapping)
    options = {"source": params.get("source", Lead.Source.IMPORT), "source_detail": params.get("source_detail", ""),
               "owner": params.get("owner", ME), "duplicates": params.get("duplicates", "skip")}
    report: service.Report | None = None
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "check")
        try:
            if action == "import":
                report = service.lead_import_commit(
                    actor=user, token=token, mapping=mapping, source=options["source"],
                    source_detail=options["source_detail"], owner=owner_value(user, options["owner"]),
                    duplicates=options["duplicates"], file_name=name)
            else:
                report = service.lead_import_check(actor=user, token=token, mapping=mapping,
                                                   duplicates=options["duplicates"])
        except ServiceError as exc:
            status = exc.status
            if action == "import" and exc.errors and "mapping" not in exc.errors and "file" not in exc.errors \
                    and "source" not in exc.errors and "owner" not in exc.errors:
                errors = [exc.message]  # row errors: show the report below
                try:
                    report = service.lead_import_check(actor=user, token=token, mapping=mapping,
                                                       duplicates=options["duplicates"])
                except ServiceError:
                    report = None
            else:
                errors = [m for msgs in exc.errors.values() for m in msgs] or [exc.message]
        else:
            if action == "import":
                messages.success(request, ngettext("%(n)d lead imported.", "%(n)d leads imported.", report.created)
                                 % {"n": report.created})
                return render(request, "sales/leads_import_done.html", {
                    "report": report, "issues": report.issues[:REPORT_LIMIT], "name": name,
                    "source": options["source"]})
    rows = [{"index": i, "column": c, "target": mapping.get(c, "")} for i, c in enumerate(upload.columns)]
    return render(request, "sales/leads_import_map.html", {
        "upload": upload, "name": name, "rows": rows, "choices": [("", _("— do not import —")),
                                                                  *[(k, str(v)) for k, v in service.FIELDS.items()]],
        "sources": Lead.Source.choices, "owners": owner_choices(user), "options": options,
        "report": report, "issues": report.issues[:REPORT_LIMIT] if report else [], "errors": errors,
    }, status=status)


urlpatterns: list[URLPattern] = [
    path("leads/import/", lead_import, name="lead-import"),
    path("leads/import/<slug:token>/", lead_import_map, name="lead-import-map"),
]
