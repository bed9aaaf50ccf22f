"""REST endpoints: imports.

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile

from guanxi.core.api import ErrorOut, Strict
from guanxi.core.errors import Invalid
from guanxi.core.permissions import declare as requires
from guanxi.customers.models import ImportMapping, ImportRun
from guanxi.customers.selectors import imports as reads
from guanxi.customers.services import imports as service

router = Router(tags=["imports"])


class ImportRunOut(Schema):
    id: int
    original_name: str
    columns: list[str]
    mapping: dict[str, str]
    mode: str
    state: str
    total_rows: int
    stats: dict[str, int]
    job: str | None
    created_at: dt.datetime

    @staticmethod
    def resolve_job(obj: ImportRun) -> str | None:
        return str(obj.job_id) if obj.job_id else None

    @staticmethod
    def resolve_stats(obj: ImportRun) -> dict[str, int]:
        return obj.stats if obj.state == ImportRun.State.DONE else service.import_counts(obj)


class MappingIn(Strict):
    mapping: dict[str, str]
    mode: str = ImportRun.Mode.SKIP
    save_as: str = ""


class PreviewOut(Schema):
    columns: list[str]
    rows: list[dict[str, Any]]


class SavedMappingIn(Strict):
    name: str
    columns: dict[str, str]


class SavedMappingOut(Schema):
    id: int
    name: str
    columns: dict[str, str]


def _run(request: HttpRequest, pk: int) -> ImportRun:
    return reads.import_run_for(request.user, pk)


@router.post("/imports", response={201: ImportRunOut, 422: ErrorOut})
@requires("account.import")
def import_upload(request: HttpRequest, file: UploadedFile = File(...)) -> Any:  # noqa: B008 (ninja's idiom)
    if file.size and file.size > service.MAX_UPLOAD_BYTES:
        raise Invalid(errors={"file": [_("The file is larger than %(mb)d MB; split it into smaller files.")
                                       % {"mb": service.MAX_UPLOAD_BYTES // (1024 * 1024)}]})
    return Status(201, service.import_upload(actor=request.user, name=file.name or "", data=file.read()))


@router.get("/imports/{int:pk}", response=ImportRunOut)
@requires("account.import")
def import_get(request: HttpRequest, pk: int) -> Any:
    return _run(request, pk)


@router.post("/imports/{int:pk}/mapping", response={200: ImportRunOut, 409: ErrorOut, 422: ErrorOut})
@requires("account.import")
def import_mapping(request: HttpRequest, pk: int, payload: MappingIn) -> Any:
    return service.import_set_mapping(actor=request.user, run=_run(request, pk), mapping=payload.mapping,
                                      mode=payload.mode, save_as=payload.save_as)


@router.get("/imports/{int:pk}/preview", response=PreviewOut)
@requires("account.import")
def import_preview(request: HttpRequest, pk: int) -> Any:
    run = _run(request, pk)
    rows = service.import_preview(actor=request.user, run=run)
    for row in rows:
        row.pop("error_list", None)
    return {"columns": run.columns, "rows": rows}


@router.post("/imports/{int:pk}/start", response={202: dict, 409: ErrorOut})
@requires("account.import")
def import_start(request: HttpRequest, pk: int) -> Any:
    job = service.import_start(actor=request.user, run=_run(request, pk))
    return Status(202, {"job": str(job.pk), "url": f"/api/v1/jobs/{job.pk}"})


@router.get("/imports/{int:pk}/errors")
@requires("account.import")
def import_errors(request: HttpRequest, pk: int, format: str = "csv") -> HttpResponse:
    content, content_type, filename = reads.import_error_report(_run(request, pk), "xlsx" if format == "xlsx" else "csv")
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@router.get("/import-mappings", response=list[SavedMappingOut])
@requires("account.import")
def mapping_list(request: HttpRequest) -> Any:
    return reads.import_mappings_for(request.user)


@router.post("/import-mappings", response={201: SavedMappingOut, 422: ErrorOut})
@requires("account.import")
def mapping_create(request: HttpRequest, payload: SavedMappingIn) -> Any:
    obj: ImportMapping = service.mapping_save(actor=request.user, name=payload.name, columns=payload.columns)
    return Status(201, obj)
