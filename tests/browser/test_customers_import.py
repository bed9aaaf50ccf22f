"""Import in a real browser: the manager uploads a messy GBK CSV, maps, previews, runs it and
reads the error report that lists the rows with a bad credit code."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.browser.helpers import expect

pytestmark = pytest.mark.browser


def test_manager_imports_a_messy_csv(browser_org: Any, session: Any, tmp_path: Any) -> None:
    from guanxi.core import jobs
    from guanxi.core.validators import credit_code_check_char
    from guanxi.customers.models import Account, ImportRun

    good = "91310000MA1FL0001" + credit_code_check_char("91310000MA1FL0001")
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["客户名称", "统一社会信用代码", "联系人", "手机"])
    writer.writerow(["浏览器导入有限公司", good, "张三", "13800000001"])
    writer.writerow(["坏代码有限公司", bad, "李四", "13800000002"])
    writer.writerow(["浏览器导入", "", "王五", "13800000003"])  # duplicate of row 2
    path = tmp_path / "客户名单.csv"
    path.write_bytes(buffer.getvalue().encode("gbk"))

    page = session.page
    session.login("manager")
    session.goto("/accounts/")
    page.get_by_test_id("import-button").click()
    page.locator("input[type=file]").set_input_files(str(path))
    session.submit(page.get_by_test_id("upload"))
    expect(page.get_by_test_id("map-1")).to_have_value("credit_code")
    page.locator("#mode-skip").check()
    session.submit(page.get_by_test_id("to-preview"))
    preview = page.get_by_test_id("preview")
    expect(preview.locator("tr[data-row='3'] td.table-danger")).to_contain_text(bad)
    expect(preview.locator("tr[data-row='4']")).to_contain_text("2")
    session.submit(page.get_by_test_id("start-import"))
    run = ImportRun.objects.get()
    jobs.execute(str(run.job_id))  # drain: the live server's queue is not running here
    page.reload()
    counts = page.get_by_test_id("import-counts")
    expect(counts.locator("[data-count=created]")).to_have_text("1")
    expect(counts.locator("[data-count=invalid]")).to_have_text("1")
    expect(counts.locator("[data-count=skipped]")).to_have_text("1")
    expect(page.get_by_test_id("import-report")).to_contain_text(bad)
    with page.expect_download() as info:
        page.get_by_test_id("error-report-csv").click()
    text = open(info.value.path(), encoding="utf-8-sig").read()
    rows = list(csv.reader(io.StringIO(text)))
    assert any(r[0] == "3" and r[2] == bad for r in rows[1:]), rows
    assert Account.objects.filter(credit_code=good).count() == 1
    assert session.console_errors == [] and session.csp_violations() == []
