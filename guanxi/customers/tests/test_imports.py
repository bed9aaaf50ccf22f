"""Import (R12.1): upload, mapping, preview, the resumable job (S16), the error report, business cards."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from guanxi.core.errors import Conflict, Forbidden, Invalid
from guanxi.core.models import AuditEvent, Job
from guanxi.core.validators import credit_code_check_char
from guanxi.customers.models import Account, Contact, ImportMapping, ImportRun, OwnershipChange
from guanxi.customers.services import imports

pytestmark = pytest.mark.django_db


def credit(body17: str) -> str:
    return body17 + credit_code_check_char(body17)


GOOD_A = credit("91310000MA1FL0001")
GOOD_B = credit("91310000MA1FL0002")
GOOD_C = credit("91310000MA1FL0003")
EXISTING_CODE = credit("91310000MA1FL0009")
HIDDEN_CODE = credit("91440300MA5F00008")
BAD_CHECK = GOOD_A[:17] + ("0" if GOOD_A[17] != "0" else "1")

HEADER = ["客户名称", "统一社会信用代码", "联系电话", "联系人", "手机", "省份", "城市", "地址", "备注"]
MESSY_ROWS = [
    ["上海甲乙贸易有限公司", GOOD_A, "021-55550001", "张三", "13800000001", "上海", "上海市", "浦东新区1号",
     "=cmd|' /C calc'!A0"],
    ["上海丙丁科技有限公司", BAD_CHECK, "", "李四", "12345", "上海", "上海市", "", ""],  # bad code, bad mobile
    ["ＡＢＣ　咨询有限公司", "", "", "王五", "13800000003", "", "", "", ""],  # full-width name
    ["上海甲乙贸易", "", "", "赵六", "13800000004", "", "", "", "same as row 2 without the suffix"],
    ["已有客户", EXISTING_CODE, "", "", "", "江苏", "南京市", "新地址", "update me"],
    ["", "", "021-55550009", "", "", "", "", "", "no name"],
    ["深圳隐藏公司", HIDDEN_CODE, "", "", "", "", "", "", "hidden duplicate"],
    ["abc咨询", GOOD_C, "", "", "", "", "", "", "half-width duplicate of row 4"],
    ["北京新客户有限公司", GOOD_B, "010-66660000", "", "", "北京", "北京市", "", ""],
]


def gbk_csv(rows: list[list[str]] = MESSY_ROWS, header: list[str] = HEADER) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("gbk")


def xlsx(rows: list[list[Any]], header: list[str] = HEADER) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture
def existing(org: Any, account_factory: Any) -> Any:
    mine = account_factory(owner=org.salesperson, name="已有客户有限公司", credit_code=EXISTING_CODE, address="")
    hidden = account_factory(owner=org.outsider, name="深圳隐藏有限公司", credit_code=HIDDEN_CODE)
    return mine, hidden


def run_import(org: Any, data: bytes, *, name: str = "客户.csv", mode: str = "skip", actor: Any = None,
               mapping: dict[str, str] | None = None) -> ImportRun:
    from guanxi.core import jobs

    actor = actor or org.manager
    run = imports.import_upload(actor=actor, name=name, data=data)
    imports.import_set_mapping(actor=actor, run=run, mapping=mapping or run.mapping, mode=mode)
    job = imports.import_start(actor=actor, run=run)
    jobs.execute(str(job.pk))
    run.refresh_from_db()
    return run


def statuses(run: ImportRun) -> dict[int, str]:
    return dict(run.rows.values_list("row_number", "status"))


def test_upload_detects_gbk_columns_and_guesses_the_mapping(org: Any) -> None:
    run = imports.import_upload(actor=org.manager, name="客户.csv", data=gbk_csv())
    assert run.columns == HEADER
    assert run.total_rows == len(MESSY_ROWS)
    assert run.mapping == {"客户名称": "name", "统一社会信用代码": "credit_code", "联系电话": "phone",
                           "联系人": "contact_name", "手机": "contact_mobile", "省份": "province", "城市": "city",
                           "地址": "address", "备注": "notes"}
    assert not run.file.name.endswith(".csv") and "客户" not in run.file.name  # random stored name (S12)
    assert AuditEvent.objects.filter(action="create", object_repr="客户.csv").exists()


@pytest.mark.parametrize("data", ["名称\n中文公司\n".encode("utf-8-sig"), "名称\n中文公司\n".encode(),
                                  "名称\n中文公司\n".encode("gb18030")])
def test_upload_reads_utf8_with_and_without_bom_and_gb18030(org: Any, data: bytes) -> None:
    run = imports.import_upload(actor=org.manager, name="a.csv", data=data)
    assert run.columns == ["名称"] and run.mapping == {"名称": "name"}
    assert imports.import_preview(actor=org.manager, run=run)[0]["cells"] == ["中文公司"]


def test_upload_rejects_other_types_huge_files_and_non_managers(org: Any, monkeypatch: Any) -> None:
    for name, data in [("a.xls", b"\xd0\xcf\x11\xe0"), ("a.exe", b"MZ"), ("a.xlsx", b"not a zip"),
                       ("a.csv", b"a\0b")]:
        with pytest.raises(Invalid) as exc:
            imports.import_upload(actor=org.manager, name=name, data=data)
        assert "file" in exc.value.errors
    monkeypatch.setattr(imports, "MAX_UPLOAD_BYTES", 10)
    with pytest.raises(Invalid) as exc:
        imports.import_upload(actor=org.manager, name="a.csv", data=b"name\n" + b"x" * 20)
    assert "MB" in exc.value.errors["file"][0]
    with pytest.raises(Forbidden):
        imports.import_upload(actor=org.salesperson, name="a.csv", data=b"name\nx\n")
    assert ImportRun.objects.count() == 0


def test_preview_shows_cell_errors_and_duplicates_without_writing(org: Any, existing: Any) -> None:
    run = imports.import_upload(actor=org.manager, name="客户.csv", data=gbk_csv())
    before = Account.objects.count()
    rows = imports.import_preview(actor=org.manager, run=run)
    assert Account.objects.count() == before
    by_row = {r["row"]: r for r in rows}
    assert set(by_row[3]["errors"]) == {"统一社会信用代码", "手机"}
    assert by_row[4]["errors"] == {} and by_row[4]["duplicate"] is None
    assert by_row[5]["duplicate"]["kind"] == "row" and by_row[5]["duplicate"]["row"] == 2
    assert by_row[6]["duplicate"]["kind"] == "existing"
    assert by_row[6]["duplicate"]["account_name"] == "已有客户有限公司"
    assert "客户名称" in by_row[7]["errors"]
    hidden = by_row[8]["duplicate"]
    assert hidden["kind"] == "hidden" and "account_id" not in hidden and "深圳隐藏" not in str(hidden)
    assert by_row[9]["duplicate"]["kind"] == "row" and by_row[9]["duplicate"]["row"] == 4  # full/half width
    assert by_row[10]["duplicate"] is None and not by_row[10]["errors"]


def test_skip_mode_creates_valid_new_rows_once_and_reports_the_rest(org: Any, existing: Any) -> None:
    mine, _hidden = existing
    accounts_before = Account.objects.count()
    run = run_import(org, gbk_csv(), mode="skip")
    assert run.state == ImportRun.State.DONE
    assert statuses(run) == {2: "created", 3: "invalid", 4: "created", 5: "skipped", 6: "skipped", 7: "invalid",
                             8: "skipped", 9: "skipped", 10: "created"}
    assert run.stats == {"created": 3, "updated": 0, "merged": 0, "skipped": 4, "invalid": 2}
    assert Account.objects.count() == accounts_before + 3
    assert Account.objects.filter(name="ＡＢＣ　咨询有限公司").count() == 1
    created = Account.objects.get(credit_code=GOOD_A)
    assert created.owner == org.manager and created.department == org.manager.department
    assert created.code.startswith("KH-") and "张三" in created.search_text and "zhangsan" in created.search_text
    assert Contact.objects.get(account=created).mobile == "13800000001"
    assert OwnershipChange.objects.filter(account=created, kind="imported", to_user=org.manager).count() == 1
    assert AuditEvent.objects.filter(object_id=str(created.pk), action="create",
                                     content_type__model="account").count() == 1
    event = AuditEvent.objects.get(object_id=str(created.pk), content_type__model="account")
    assert event.actor == org.manager and event.channel == "job"
    # The hidden account is neither changed nor duplicated nor named.
    hidden_row = run.rows.get(row_number=8)
    assert hidden_row.account_id is None and "深圳隐藏有限公司" not in str(hidden_row.errors)
    assert Account.objects.filter(credit_code=HIDDEN_CODE).count() == 1
    mine.refresh_from_db()
    assert mine.address == "" and mine.version == 1
    job = Job.objects.get(pk=run.job_id)
    assert (job.done, job.failed, job.total) == (7, 2, 9)


def test_update_mode_overwrites_and_merge_mode_fills_only_empty_fields(org: Any, existing: Any) -> None:
    mine, _hidden = existing
    mine.notes = "keep me"
    mine.save()
    run = run_import(org, gbk_csv(), mode="merge")
    mine.refresh_from_db()
    assert statuses(run)[6] == "merged"
    assert mine.address == "新地址" and mine.notes == "keep me" and mine.city == "南京市"
    assert mine.version == 2
    event = AuditEvent.objects.filter(object_id=str(mine.pk), action="update").latest("id")
    assert event.changes["address"] == ["", "新地址"] and "notes" not in event.changes

    run2 = run_import(org, gbk_csv([["已有客户", EXISTING_CODE, "", "", "", "", "", "", "replaced"]]), mode="update")
    mine.refresh_from_db()
    assert statuses(run2) == {2: "updated"} and mine.notes == "replaced" and mine.version == 3
    # Row 5 ("上海甲乙贸易") merged into the account row 2 created in the same run.
    created = Account.objects.get(credit_code=GOOD_A)
    assert sorted(created.contacts.values_list("name", flat=True)) == ["张三", "赵六"]
    assert statuses(run)[5] == "merged"


def test_approved_accounts_are_not_changed_by_update_mode(org: Any, existing: Any) -> None:
    mine, _hidden = existing
    Account.objects.filter(pk=mine.pk).update(approval_state="approved")
    run = run_import(org, gbk_csv([["已有客户", EXISTING_CODE, "", "", "", "", "", "新地址", ""]]), mode="update")
    mine.refresh_from_db()
    assert statuses(run) == {2: "skipped"} and mine.address == ""
    message = run.rows.get().errors[0]["message"]
    assert "approved" in message or "批准" in message  # English, or Chinese once translated


def test_xlsx_with_numbers_and_duplicates(org: Any, existing: Any) -> None:
    rows = [["杭州一号有限公司", GOOD_A, "0571-88880000", "钱七", 13900000001, "浙江", "杭州市", "", ""],
            ["杭州一号", "", "", "", "", "", "", "", ""],
            ["已有客户有限公司", "", "", "", "", "", "", "", ""]]
    run = run_import(org, xlsx(rows), name="名单.xlsx")
    assert statuses(run) == {2: "created", 3: "skipped", 4: "skipped"}
    account = Account.objects.get(credit_code=GOOD_A)
    assert account.phone == "0571-88880000" and account.contacts.get().mobile == "13900000001"


def test_error_report_lists_row_column_value_message_and_neutralises_formulas(org: Any, existing: Any,
                                                                               login: Any) -> None:
    run = run_import(org, gbk_csv([['=HYPERLINK("x")', BAD_CHECK, "", "", "", "", "", "", ""], *MESSY_ROWS[1:3]]))
    response = login(org.manager).get(f"/accounts/import/{run.pk}/errors.csv")
    assert response.status_code == 200
    text = b"".join(response.streaming_content if response.streaming else [response.content]).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][:4] == ["行号", "列", "值", "问题"] or lines[0][:4] == ["row", "column", "value", "message"]
    flat = {(r[0], r[1], r[2]) for r in lines[1:]}
    assert ("2", "统一社会信用代码", BAD_CHECK) in flat
    assert ("3", "统一社会信用代码", BAD_CHECK) in flat
    assert ("3", "手机", "12345") in flat
    assert not any(r[2].startswith("=") for r in lines[1:])
    xlsx_response = login(org.manager).get(f"/accounts/import/{run.pk}/errors.xlsx")
    assert xlsx_response.status_code == 200 and xlsx_response["Content-Type"].startswith("application/vnd.openxml")
    # Someone else's run is not found.
    assert login(org.south_manager).get(f"/accounts/import/{run.pk}/errors.csv").status_code == 404


def test_an_import_whose_worker_died_can_be_resumed_once_it_stalls(org: Any, existing: Any, monkeypatch: Any,
                                                                   login: Any) -> None:
    """A killed worker leaves its job "running"; after the stall time the user may resume it."""
    import datetime as dt

    from django.utils import timezone

    from guanxi.core import jobs

    monkeypatch.setattr(imports, "CHUNK", 3)

    def killed(run: ImportRun, last_row: int) -> None:
        raise KeyboardInterrupt  # not an Exception: the job cannot record a failure, as with SIGKILL

    monkeypatch.setattr(imports, "_after_chunk", killed)
    run = imports.import_upload(actor=org.manager, name="客户.csv", data=gbk_csv())
    imports.import_set_mapping(actor=org.manager, run=run, mapping=run.mapping, mode="skip")
    job = imports.import_start(actor=org.manager, run=run)
    with pytest.raises(KeyboardInterrupt):
        jobs.execute(str(job.pk))
    job.refresh_from_db()
    assert job.state == Job.State.RUNNING and not job.stalled  # it might still be working
    with pytest.raises(Conflict):
        imports.import_resume(actor=org.manager, run=run)
    page = login(org.manager).get(f"/accounts/import/{run.pk}/")
    assert f"/accounts/import/{run.pk}/resume/" not in page.content.decode()

    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - Job.STALLED_AFTER - dt.timedelta(seconds=1))
    page = login(org.manager).get(f"/accounts/import/{run.pk}/")
    assert f"/accounts/import/{run.pk}/resume/" in page.content.decode()
    monkeypatch.setattr(imports, "_after_chunk", lambda run, last_row: None)
    imports.import_resume(actor=org.manager, run=run)
    jobs.execute(str(job.pk))
    run.refresh_from_db()
    assert run.state == ImportRun.State.DONE
    assert sorted(run.rows.values_list("row_number", flat=True)) == list(range(2, 11))
    assert Account.objects.filter(credit_code=GOOD_A).count() == 1


def test_resume_after_a_crash_writes_each_row_once(org: Any, existing: Any, monkeypatch: Any) -> None:
    from guanxi.core import jobs

    monkeypatch.setattr(imports, "CHUNK", 3)
    calls: list[int] = []

    def crash(run: ImportRun, last_row: int) -> None:
        calls.append(last_row)
        if len(calls) == 1:
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(imports, "_after_chunk", crash)
    run = imports.import_upload(actor=org.manager, name="客户.csv", data=gbk_csv())
    imports.import_set_mapping(actor=org.manager, run=run, mapping=run.mapping, mode="skip")
    job = imports.import_start(actor=org.manager, run=run)
    jobs.execute(str(job.pk))
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert run.rows.count() == 3  # the first chunk committed
    before = Account.objects.count()
    imports.import_resume(actor=org.manager, run=run)
    jobs.execute(str(job.pk))
    run.refresh_from_db()
    job.refresh_from_db()
    assert job.state == Job.State.DONE and run.state == ImportRun.State.DONE
    assert run.rows.count() == 9 and sorted(run.rows.values_list("row_number", flat=True)) == list(range(2, 11))
    assert run.stats == {"created": 3, "updated": 0, "merged": 0, "skipped": 4, "invalid": 2}
    assert Account.objects.count() == before + 1  # row 10 only: rows 2 and 4 were committed before the crash
    assert Account.objects.filter(credit_code=GOOD_A).count() == 1
    assert Account.objects.filter(name="ＡＢＣ　咨询有限公司").count() == 1
    assert (job.done, job.failed) == (7, 2)


def test_mapping_rules_saved_mappings_and_rights(org: Any, api: Any) -> None:
    run = imports.import_upload(actor=org.manager, name="a.csv", data="公司,负责人,其他\nx,sales,y\n".encode())
    with pytest.raises(Invalid) as exc:
        imports.import_set_mapping(actor=org.manager, run=run, mapping={"其他": "notes"}, mode="skip")
    assert "mapping" in exc.value.errors
    with pytest.raises(Invalid):
        imports.import_set_mapping(actor=org.manager, run=run, mapping={"公司": "name", "其他": "name"}, mode="skip")
    with pytest.raises(Invalid):
        imports.import_set_mapping(actor=org.manager, run=run, mapping={"公司": "name"}, mode="bogus")
    imports.import_set_mapping(actor=org.manager, run=run, mapping={"公司": "name", "负责人": "owner"}, mode="skip",
                               save_as="展会名单")
    saved = ImportMapping.objects.get(name="展会名单")
    assert saved.columns == {"公司": "name", "负责人": "owner"}
    assert imports.apply_saved_mapping(run, saved) == {"公司": "name", "负责人": "owner"}
    from guanxi.core import jobs

    job = imports.import_start(actor=org.manager, run=run)
    with pytest.raises(Conflict):
        imports.import_start(actor=org.manager, run=run)
    jobs.execute(str(job.pk))
    assert Account.objects.get(name="x").owner == org.salesperson  # a manager may assign a colleague they manage


def test_owner_column_rejects_people_the_importer_does_not_manage(org: Any) -> None:
    run = run_import(org, "公司,负责人\n甲公司,outsider\n乙公司,sales\n".encode(),
                     mapping={"公司": "name", "负责人": "owner"})
    assert statuses(run) == {2: "invalid", 3: "created"}
    assert not Account.objects.filter(name="甲公司").exists()


def test_denied_import_changes_nothing(org: Any) -> None:
    run = imports.import_upload(actor=org.manager, name="a.csv", data="名称\n某公司\n".encode())
    for user in (org.salesperson, org.service, org.marketing):
        with pytest.raises(Forbidden):
            imports.import_set_mapping(actor=user, run=run, mapping={"名称": "name"}, mode="skip")
        with pytest.raises(Forbidden):
            imports.import_start(actor=user, run=run)
        with pytest.raises(Forbidden):
            imports.mapping_save(actor=user, name="x", columns={"名称": "name"})
    run.refresh_from_db()
    assert run.state == ImportRun.State.UPLOADED and not ImportMapping.objects.exists()
    assert not Job.objects.exists()


# --- HTML views and API -----------------------------------------------------------------------------
def test_html_flow_upload_map_preview_start_results(org: Any, existing: Any, login: Any, run_queue: Any,
                                                    django_capture_on_commit_callbacks: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = login(org.manager)
    assert client.get("/accounts/").content.count(b"/accounts/import/") >= 1
    response = client.post("/accounts/import/", {"file": SimpleUploadedFile("客户.csv", gbk_csv())})
    run = ImportRun.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/accounts/import/{run.pk}/mapping/")
    page = client.get(f"/accounts/import/{run.pk}/mapping/")
    assert page.status_code == 200 and "统一社会信用代码".encode() in page.content
    data = {f"col-{i}": run.mapping.get(c, "") for i, c in enumerate(run.columns)}
    response = client.post(f"/accounts/import/{run.pk}/mapping/", {**data, "mode": "skip", "save_as": "标准"})
    assert response.status_code == 302 and response["Location"].endswith("/preview/")
    preview = client.get(f"/accounts/import/{run.pk}/preview/")
    assert preview.status_code == 200 and BAD_CHECK.encode() in preview.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/accounts/import/{run.pk}/start/")
    assert response.status_code == 302
    assert run_queue() == 1
    result = client.get(f"/accounts/import/{run.pk}/")
    assert result.status_code == 200 and b"data-testid=\"import-counts\"" in result.content
    run.refresh_from_db()
    assert run.stats["created"] == 3


def test_html_views_are_refused_to_salespeople(org: Any, login: Any) -> None:
    client = login(org.salesperson)
    assert client.get("/accounts/import/").status_code == 403
    assert b"/accounts/import/" not in client.get("/accounts/").content


def test_api_flow(org: Any, existing: Any, api: Any, run_queue: Any, django_capture_on_commit_callbacks: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    manager = api(org.manager)
    response = manager.client.post("/api/v1/imports", {"file": SimpleUploadedFile("客户.csv", gbk_csv())})
    assert response.status_code == 201, response.content
    body = response.json()
    run_id = body["id"]
    assert body["columns"] == HEADER and body["mapping"]["客户名称"] == "name"
    response = manager.post(f"/api/v1/imports/{run_id}/mapping", {"mapping": body["mapping"], "mode": "skip"})
    assert response.status_code == 200 and response.json()["state"] == "mapped"
    preview = manager.get(f"/api/v1/imports/{run_id}/preview").json()
    assert preview["rows"][3]["duplicate"]["kind"] == "row"
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(f"/api/v1/imports/{run_id}/start")
    assert response.status_code == 202 and response.json()["job"]
    assert run_queue() == 1
    got = manager.get(f"/api/v1/imports/{run_id}").json()
    assert got["state"] == "done" and got["stats"]["created"] == 3
    errors = manager.get(f"/api/v1/imports/{run_id}/errors")
    assert errors.status_code == 200 and BAD_CHECK in errors.content.decode("utf-8-sig")
    response = manager.post("/api/v1/import-mappings", {"name": "API", "columns": {"客户名称": "name"}})
    assert response.status_code == 201
    assert [m["name"] for m in manager.get("/api/v1/import-mappings").json()] == ["API"]
    # Others: refused or not found; nothing written.
    sales = api(org.salesperson)
    assert sales.post(f"/api/v1/imports/{run_id}/start").status_code == 403
    assert api(org.south_manager).get(f"/api/v1/imports/{run_id}").status_code == 404
    assert sales.post("/api/v1/import-mappings", {"name": "x", "columns": {}}).status_code == 403


# --- Business cards ---------------------------------------------------------------------------------
def test_cards_create_accounts_and_people_or_join_visible_accounts(org: Any, existing: Any) -> None:
    mine, _hidden = existing
    before = Account.objects.count()
    results = imports.cards_create(actor=org.salesperson, rows=[
        {"company": "展会新公司有限公司", "name": "陈一", "mobile": "13700000001", "title": "采购经理"},
        {"company": "展会新公司", "name": "陈二"},
        {"company": "已有客户有限公司", "name": "陈三", "wechat": "chen3"},
        {},
    ])
    assert [r.status for r in results] == ["created", "merged", "merged"]
    assert Account.objects.count() == before + 1
    new = Account.objects.get(name="展会新公司有限公司")
    assert new.owner == org.salesperson
    assert sorted(new.contacts.values_list("name", flat=True)) == ["陈一", "陈二"]
    assert mine.contacts.get().wechat == "chen3"
    assert "陈三" in Account.objects.get(pk=mine.pk).search_text


def test_cards_are_all_or_nothing_with_errors_per_cell(org: Any, existing: Any) -> None:
    before = (Account.objects.count(), Contact.objects.count(), AuditEvent.objects.count())
    with pytest.raises(Invalid) as exc:
        imports.cards_create(actor=org.salesperson, rows=[
            {"company": "好公司", "name": "甲"},
            {"company": "坏手机公司", "name": "乙", "mobile": "123"},
            {"company": "深圳隐藏有限公司", "name": "丙"},
            {"company": "", "name": "丁"},
        ])
    assert set(exc.value.errors) == {"1.mobile", "2.company", "3.company"}
    assert "深圳隐藏" not in str(exc.value.errors)
    assert (Account.objects.count(), Contact.objects.count(), AuditEvent.objects.count()) == before


def test_cards_assignment_rules(org: Any) -> None:
    with pytest.raises(Forbidden):
        imports.cards_create(actor=org.salesperson, rows=[{"company": "x", "name": "y"}], owner=org.teammate)
    with pytest.raises(Forbidden):
        imports.cards_create(actor=org.salesperson, rows=[{"company": "x", "name": "y"}], owner=None)
    with pytest.raises(Invalid):
        imports.cards_create(actor=org.manager, rows=[{"company": "x", "name": "y"}], owner=org.outsider)
    with pytest.raises(Forbidden):
        imports.cards_create(actor=org.service, rows=[{"company": "x", "name": "y"}])
    assert not Account.objects.exists()
    imports.cards_create(actor=org.manager, rows=[{"company": "给同事", "name": "y"}], owner=org.teammate)
    imports.cards_create(actor=org.manager, rows=[{"company": "进公海", "name": "z"}], owner=None)
    assert Account.objects.get(name="给同事").owner == org.teammate
    pooled = Account.objects.get(name="进公海")
    assert pooled.owner is None and pooled.pool_entered_at is not None


def test_cards_page(org: Any, login: Any) -> None:
    client = login(org.salesperson)
    page = client.get("/accounts/cards/")
    assert page.status_code == 200 and b"name=\"company-0\"" in page.content
    response = client.post("/accounts/cards/", {"owner": "self", "company-0": "页面公司", "name-0": "页面人",
                                                "mobile-0": "123", "company-1": "第二家", "name-1": "某人"})
    assert response.status_code == 200 and not Account.objects.exists()
    assert "页面公司".encode() in response.content  # the entered values stay in place
    response = client.post("/accounts/cards/", {"owner": "self", "company-0": "页面公司", "name-0": "页面人",
                                                "mobile-0": "13700000009", "company-1": "第二家", "name-1": "某人"})
    assert response.status_code == 302
    assert Account.objects.count() == 2 and Contact.objects.count() == 2
    assert login(org.service).get("/accounts/cards/").status_code == 403


# --- Bulk writing -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["上海甲乙贸易有限公司", "ＡＢＣ　咨询有限公司", "中国银行股份有限公司", "重庆长安汽车",
                                  "导入测试1-19999号贸易有限公司", "abc-123", "〇号工作室", "厦门·鼓浪屿 文化传媒有限公司",
                                  "长沙行长银行", "𠀀字公司", ""])
def test_search_text_of_imported_accounts_is_the_models_own(name: str) -> None:
    account = Account(name=name, phone="021-5555 0001", credit_code=GOOD_A, code="KH-2026-000001")
    people = ["张三", "Li Si", "欧阳娜娜"]
    expected = account.derived_fields(contact_names=people)["search_text"]
    for _round in range(2):  # the second time from the pinyin caches
        got = imports.search_text(names=[name, *people], phone=account.phone, codes=(account.code, account.credit_code))
        assert got == expected


def test_big_file_in_several_chunks_dedupes_across_chunks_and_audits_every_record(org: Any, existing: Any,
                                                                                    monkeypatch: Any) -> None:
    monkeypatch.setattr(imports, "CHUNK", 4)
    rows = [[f"分块公司{i}有限公司", "", f"021-6000{i:04d}", f"联系人{i}", "", "", "", "", ""] for i in range(10)]
    rows += [["分块公司3", "", "", "", "", "", "", "", ""],  # duplicate of a row of an earlier chunk
             ["另一家", "", "021-60000007", "", "", "", "", "", ""],  # same phone as row 9
             ["已有客户有限公司", "", "", "", "", "", "", "", ""]]
    audit_before = AuditEvent.objects.count()
    run = run_import(org, gbk_csv(rows), mode="skip")
    got = statuses(run)
    assert [got[n] for n in range(2, 12)] == ["created"] * 10
    assert (got[12], got[13], got[14]) == ("skipped", "skipped", "skipped")
    assert "5" in run.rows.get(row_number=12).errors[0]["message"]  # "row 5 of this file"
    assert "9" in run.rows.get(row_number=13).errors[0]["message"]
    created = Account.objects.filter(name__startswith="分块公司")
    assert created.count() == 10 and Contact.objects.filter(account__in=created).count() == 10
    assert set(run.rows.filter(status="created").values_list("account_id", flat=True)) == set(
        created.values_list("id", flat=True))
    assert len(set(created.values_list("code", flat=True))) == 10
    # One create row per account and per person written by the job (S15).
    job_rows = AuditEvent.objects.filter(note__startswith=f"import #{run.pk} ", action="create")
    assert job_rows.count() == 20
    assert set(job_rows.filter(content_type__model="account").values_list("object_id", flat=True)) == {
        str(pk) for pk in created.values_list("id", flat=True)}
    assert OwnershipChange.objects.filter(account__in=created, kind="imported").count() == 10
    first = created.get(name="分块公司0有限公司")
    assert first.search_text == first.derived_fields()["search_text"]
    assert AuditEvent.objects.count() > audit_before
