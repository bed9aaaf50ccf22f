"""Importing leads: headers matched by their Chinese or English names, every row checked with the
form's rules, duplicates (inside the file, against live leads — hidden ones unnamed) reported and
skipped or kept, all rows written in one transaction or none, per-row errors reported."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from guanxi.core.errors import Forbidden, Invalid
from guanxi.core.models import AuditEvent, Notification, User
from guanxi.sales.models import Lead
from guanxi.sales.services import lead_imports as importing
from guanxi.sales.services import leads as service

pytestmark = pytest.mark.django_db
HEADER = "公司名称,联系人,手机,邮箱,意向产品,预计金额,备注\n"
GOOD = ("杭州西湖茶业有限公司,王建国,13812345678,wang@xihutea.cn,龙井,88000,展会名片\n"
        "宁波港口物流有限公司,李娜,13912345678,,物流箱,,\n")


@pytest.fixture(autouse=True)
def _english(org: Any, settings: Any, tmp_path: Any) -> Iterator[None]:
    settings.MEDIA_ROOT = str(tmp_path)
    User.objects.update(language="en")
    with translation.override("en"):
        yield


def upload(actor: Any, text: str, name: str = "leads.csv", encoding: str = "utf-8") -> importing.Upload:
    return importing.lead_import_upload(actor=actor, name=name, data=text.encode(encoding))


def test_headers_are_matched_by_their_chinese_or_english_names() -> None:
    assert importing.guess_mapping(["公司名称*", "姓名", "手机号码", "E-mail", "微信号", "Budget", "来源", "whatever"]) == {
        "公司名称*": "company", "姓名": "person_name", "手机号码": "mobile", "E-mail": "email", "微信号": "wechat",
        "Budget": "estimated_amount", "来源": "source_detail"}
    assert importing.guess_mapping(["Company", "Contact", "Mobile", "Tel", "Notes", "公司"]) == {
        "Company": "company", "Contact": "person_name", "Mobile": "mobile", "Tel": "phone", "Notes": "notes"}


def test_a_gbk_csv_is_imported_all_at_once(org: Any, django_capture_on_commit_callbacks: Any) -> None:
    up = upload(org.marketing, HEADER + GOOD, encoding="gb18030")
    assert (up.total, up.mapping["手机"], up.mapping["预计金额"]) == (2, "mobile", "estimated_amount")
    with django_capture_on_commit_callbacks(execute=True):
        report = importing.lead_import_commit(actor=org.marketing, token=up.token, mapping=up.mapping,
                                              source="exhibition", source_detail="2026 广交会", file_name="leads.csv")
    assert (report.total, report.created, report.issues) == (2, 2, [])
    first = Lead.objects.get(mobile="13812345678")
    assert (first.company, first.person_name, first.email, str(first.estimated_amount), first.interest) == (
        "杭州西湖茶业有限公司", "王建国", "wang@xihutea.cn", "88000.00", "龙井")
    assert (first.source, first.source_detail, first.owner, first.notes) == (
        "exhibition", "2026 广交会", org.marketing, "展会名片")
    event = AuditEvent.objects.get(action="import")
    assert event.changes["created"] == 2 and event.changes["file"] == "leads.csv"
    assert not default_storage.exists(f"imports/leads/{org.marketing.pk}/{up.token}")


def test_an_excel_workbook_is_read_too(org: Any) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Company", "Person", "Mobile", "Amount"])
    sheet.append(["温州五金制品厂", "陈先生", 13512345678, 5000])
    buffer = io.BytesIO()
    book.save(buffer)
    up = importing.lead_import_upload(actor=org.manager, name="cards.xlsx", data=buffer.getvalue())
    importing.lead_import_commit(actor=org.manager, token=up.token, mapping=up.mapping)
    lead = Lead.objects.get()
    assert (lead.company, lead.mobile, str(lead.estimated_amount), lead.source) == (
        "温州五金制品厂", "13512345678", "5000.00", "import")


def test_one_bad_row_imports_nothing_and_every_problem_is_reported(org: Any) -> None:
    text = HEADER + GOOD + "温州五金制品厂,陈先生,12345,bad-mail,,很多,\n,,,,,,只有备注\n"
    up = upload(org.manager, text)
    with pytest.raises(Invalid) as exc:
        importing.lead_import_commit(actor=org.manager, token=up.token, mapping=up.mapping)
    assert "2 rows have errors" in exc.value.message
    assert {"row 4: 手机", "row 4: 邮箱", "row 4: 预计金额", "row 5: 公司名称"} <= set(exc.value.errors)
    assert not Lead.objects.exists()
    report = importing.lead_import_check(actor=org.manager, token=up.token, mapping=up.mapping)
    assert (report.total, len(report.ready), report.error_rows) == (4, 2, 2)
    assert {(i.row, i.column) for i in report.issues} >= {(4, "手机"), (4, "邮箱"), (4, "预计金额")}


def test_duplicates_inside_the_file_and_against_live_leads(org: Any) -> None:
    mine = service.lead_capture(actor=org.manager, source="manual", data={"company": "老线索", "mobile": "13912345678"})
    service.lead_capture(actor=org.outsider, source="manual", data={"company": "别人的", "email": "chen@wz.cn"})
    text = HEADER + GOOD + ("西湖茶业分号,王建国,13812345678,,,,\n"
                            "温州五金制品厂,陈先生,13512345678,chen@wz.cn,,,\n")
    up = upload(org.manager, text)
    report = importing.lead_import_check(actor=org.manager, token=up.token, mapping=up.mapping)
    duplicates = {i.row: i.message for i in report.issues if i.kind == "duplicate"}
    assert duplicates[3] == f"The same mobile as the existing lead {mine.code}."
    assert duplicates[4] == "The same mobile as row 2 of this file."
    assert duplicates[5] == "The same e-mail as an existing lead of a colleague."
    assert [row for row, _values in report.ready] == [2]
    report = importing.lead_import_commit(actor=org.manager, token=up.token, mapping=up.mapping)
    assert report.created == 1 and Lead.objects.count() == 3


def test_duplicates_can_be_imported_on_request(org: Any) -> None:
    up = upload(org.manager, HEADER + GOOD + "西湖茶业分号,王建国,13812345678,,,,\n")
    report = importing.lead_import_commit(actor=org.manager, token=up.token, mapping=up.mapping, duplicates="keep")
    assert report.created == 3 and report.duplicate_rows == 1
    assert Lead.objects.filter(mobile="13812345678").count() == 2


def test_a_manager_imports_unassigned_or_for_a_salesperson_who_is_told_once(org: Any) -> None:
    up = upload(org.manager, HEADER + GOOD)
    importing.lead_import_commit(actor=org.manager, token=up.token, mapping=up.mapping, owner=org.teammate)
    assert set(Lead.objects.values_list("owner_id", "state")) == {(org.teammate.pk, "assigned")}
    assert Notification.objects.filter(user=org.teammate).count() == 1
    Lead.objects.all().delete()
    up = upload(org.manager, HEADER + GOOD)
    importing.lead_import_commit(actor=org.manager, token=up.token, mapping=up.mapping, owner=None)
    assert set(Lead.objects.values_list("owner_id", flat=True)) == {None}


def test_marketing_cannot_import_for_a_sales_department(org: Any) -> None:
    up = upload(org.marketing, HEADER + GOOD)
    with pytest.raises(Invalid) as exc:
        importing.lead_import_commit(actor=org.marketing, token=up.token, mapping=up.mapping, owner=org.salesperson)
    assert "owner" in exc.value.errors and not Lead.objects.exists()


def test_the_mapping_must_name_someone_and_be_unambiguous(org: Any) -> None:
    up = upload(org.manager, HEADER + GOOD)
    with pytest.raises(Invalid) as exc:
        importing.lead_import_check(actor=org.manager, token=up.token, mapping={"手机": "mobile"})
    assert "company or the person" in exc.value.errors["mapping"][0]
    with pytest.raises(Invalid):
        importing.lead_import_check(actor=org.manager, token=up.token,
                                    mapping={"公司名称": "company", "联系人": "company"})


def test_uploads_are_checked(org: Any) -> None:
    for name, data in (("a.xls", b"x"), ("a.csv", b""), ("a.xlsx", b"not a zip"), ("a.csv", b"\0\0binary")):
        with pytest.raises(Invalid):
            importing.lead_import_upload(actor=org.manager, name=name, data=data)
    with pytest.raises(Invalid) as exc:
        importing.lead_import_upload(actor=org.manager, name="a.csv", data=HEADER.encode())
    assert "no rows" in exc.value.errors["file"][0]


def test_too_many_rows_are_refused(org: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(importing, "MAX_ROWS", 1)
    with pytest.raises(Invalid) as exc:
        upload(org.manager, HEADER + GOOD)
    assert "at most 1" in exc.value.errors["file"][0]


def test_an_upload_belongs_to_its_uploader(org: Any) -> None:
    up = upload(org.manager, HEADER + GOOD)
    with pytest.raises(Invalid) as exc:
        importing.lead_import_commit(actor=org.south_manager, token=up.token, mapping=up.mapping)
    assert "no longer available" in exc.value.errors["file"][0]
    with pytest.raises(Invalid):
        importing.lead_import_open(actor=org.manager, token="../../etc/passwd")
    assert not Lead.objects.exists()


def test_importing_needs_the_right(org: Any) -> None:
    with pytest.raises(Forbidden):
        upload(org.salesperson, HEADER + GOOD)


# --- The pages ----------------------------------------------------------------------------------------------------
def test_upload_match_check_and_import_in_the_pages(org: Any, login: Any,
                                                   django_capture_on_commit_callbacks: Any) -> None:
    client = login(org.manager)
    assert client.get("/sales/leads/import/").status_code == 200
    response = client.post("/sales/leads/import/", {"file": SimpleUploadedFile("名片.csv", (HEADER + GOOD).encode())})
    assert response.status_code == 302
    url = response["Location"].split("?")[0]
    page = client.get(response["Location"]).content.decode()
    assert 'name="col-0"' in page and '<option value="company" selected>' in page
    form = {f"col-{i}": t for i, t in enumerate(["company", "person_name", "mobile", "email", "interest",
                                                  "estimated_amount", "notes"])}
    form.update(source="exhibition", owner="none", duplicates="skip", name="名片.csv")
    checked = client.post(url, {**form, "action": "check"})
    assert checked.status_code == 200 and "2 rows: 2 to import" in checked.content.decode()
    assert not Lead.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(url, {**form, "action": "import"})
    assert done.status_code == 200 and "2 leads imported" in done.content.decode()
    assert set(Lead.objects.values_list("source", "owner")) == {("exhibition", None)}
    again = client.post(url, {**form, "action": "import"})
    assert again.status_code == 302 and Lead.objects.count() == 2  # the upload is used up


def test_a_failed_import_page_lists_the_rows(org: Any, login: Any) -> None:
    client = login(org.manager)
    response = client.post("/sales/leads/import/", {"file": SimpleUploadedFile(
        "bad.csv", (HEADER + "甲公司,张三,12345,,,,\n").encode())})
    url = response["Location"].split("?")[0]
    failed = client.post(url, {"col-0": "company", "col-1": "person_name", "col-2": "mobile", "action": "import"})
    body = failed.content.decode()
    assert failed.status_code == 422 and "nothing was imported" in body and 'data-testid="issue-2"' in body
    assert not Lead.objects.exists()


def test_a_wrong_file_is_a_message_on_the_upload_page(org: Any, login: Any) -> None:
    response = login(org.manager).post("/sales/leads/import/", {"file": SimpleUploadedFile("a.xls", b"x")})
    assert response.status_code == 422 and "Upload a CSV file" in response.content.decode()


def test_salespeople_cannot_open_the_import(org: Any, login: Any) -> None:
    assert login(org.salesperson).get("/sales/leads/import/").status_code == 403
