"""Exports (CSV and Excel): scoped by access, audited, formula-injection safe (S9)."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.storage import default_storage
from django.db import connection

from guanxi.core.models import AuditEvent, Job
from guanxi.customers.models import CustomField

pytestmark = pytest.mark.django_db

PAYLOADS = ["=1+1", "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1", "\0=1", " =1", "＝1+1", "=HYPERLINK(\"http://x\")"]


def stored_payloads() -> list[str]:
    """The payloads the database can hold (PostgreSQL stores no NUL in text)."""
    return [p for p in PAYLOADS if not ("\0" in p and connection.vendor == "postgresql")]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def seeded(org, account_factory):
    CustomField.objects.create(key="memo", label="备注项", type="text")
    for n, payload in enumerate(stored_payloads()):
        account_factory(org.salesperson, name=f"{payload}公司{n}", notes=payload, address=payload,
                        lifecycle="intent", custom={"memo": payload})
    account_factory(org.salesperson, name="普通公司", lifecycle="lost")
    account_factory(org.outsider, name="外区机密公司", lifecycle="intent")


@pytest.fixture
def export(run_queue, django_capture_on_commit_callbacks):
    def run(client, fmt, **filters):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/api/v1/accounts/export", {"format": fmt, "filters": filters})
        return response, run_queue
    return run


def finish(response, run_queue):
    assert response.status_code == 202, response.content
    run_queue()
    job = Job.objects.get(pk=response.json()["job"])
    assert job.state == "done", job.errors if hasattr(job, "errors") else job.result
    return job, default_storage.open(job.result["file"], "rb").read()


def dangerous(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    return value.lstrip(" ")[:1] in ("=", "+", "-", "@", "＝", "＋", "－", "＠") or value[0] in "\t\r\n\0"


def test_csv_export_is_scoped_filtered_neutralised_and_audited(org, api, seeded, export):
    _job, content = finish(*export(api(org.manager), "csv", lifecycle="intent"))
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert "备注项" in header and len(header) > 40
    assert len(body) == len(stored_payloads())
    text = content.decode("utf-8-sig")
    assert "外区机密公司" not in text and "普通公司" not in text
    assert not [cell for row in body for cell in row if dangerous(cell)]
    event = AuditEvent.objects.get(action="export")
    assert event.changes["rows"] == len(stored_payloads()) and event.changes["format"] == "csv"
    assert event.changes["filters"] == {"lifecycle": "intent"}


def test_xlsx_export_has_no_formula_cells(org, api, seeded, export):
    from openpyxl import load_workbook

    job, content = finish(*export(api(org.manager), "xlsx"))
    assert job.result["file"].endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(content)).active
    values = [cell for row in sheet.iter_rows() for cell in row]
    assert not [c.coordinate for c in values if c.data_type == "f"]
    assert not [c.value for c in values if dangerous(c.value)]
    names = [row[1].value for row in sheet.iter_rows(min_row=2)]
    assert "普通公司" in names and "外区机密公司" not in names
    assert len(names) == len(stored_payloads()) + 1
    assert AuditEvent.objects.filter(action="export", changes__format="xlsx").exists()


def test_export_needs_the_right_and_a_valid_format(org, api, login, seeded):
    assert api(org.salesperson).post("/api/v1/accounts/export", {"format": "csv"}).status_code in (403, 404)
    assert api(org.manager).post("/api/v1/accounts/export", {"format": "pdf"}).status_code == 422
    assert api(org.manager).post("/api/v1/accounts/export", {"filters": {"cf_nope": "x"}}).status_code == 400
    assert not Job.objects.exists()
    page = login(org.manager).post("/accounts/export/", {"format": "xlsx", "query": "lifecycle=intent"})
    assert page.status_code == 302
    job = Job.objects.get()
    assert job.params == {"filters": {"lifecycle": "intent"}, "format": "xlsx"}


def test_nul_is_refused_with_a_message_and_neutralised_in_exports(org):
    from django.utils import translation

    from guanxi.core.errors import Invalid
    from guanxi.customers.models import Account
    from guanxi.customers.services import account_create, neutralise_cell

    with translation.override("en"), pytest.raises(Invalid) as caught:
        account_create(actor=org.salesperson, name="\0=1公司", notes="ok")
    assert "Null characters are not allowed." in caught.value.errors["name"]
    assert not Account.objects.exists()
    assert neutralise_cell("\0=1") == "'\0=1"
