"""The service report page (/service/reports/), its Excel export and GET /api/v1/service-reports:
rights, figures, charts and tables, formula-safe cells, the audit row."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from django.urls import reverse
from django.utils.http import urlencode

from guanxi.core.models import AuditEvent, User
from guanxi.service.models import CaseCategory
from guanxi.service.tests.reports_data import PERIOD, World, build, make_case

pytestmark = pytest.mark.django_db
URL = "/service/reports/"
EXPORT = "/service/reports/export/"
API = "/api/v1/service-reports"


@pytest.fixture
def world(org: Any, account_factory: Any) -> World:
    User.objects.update(language="en")
    return build(org, account_factory)


def page(client: Any, **params: str) -> str:
    response = client.get(URL, {**PERIOD, **params})
    assert response.status_code == 200
    return response.content.decode()


def chart(html: str) -> Any:
    found = re.search(r'<script id="report-chart-data" type="application/json">(.*?)</script>', html, re.S)
    assert found
    return json.loads(found.group(1))


def workbook(content: bytes) -> Any:
    from openpyxl import load_workbook

    return load_workbook(io.BytesIO(content))


def rows(sheet: Any) -> list[list[Any]]:
    return [list(r) for r in sheet.iter_rows(values_only=True)]


# --- The page ----------------------------------------------------------------------------------
def test_the_page_shows_figures_charts_and_tables(world: World, login: Any) -> None:
    html = page(login(world.org.service_manager))
    assert 'data-testid="fig-total">8<' in html
    assert 'data-testid="fig-response-time">1 h<' in html  # median 60 business minutes
    assert 'data-testid="fig-resolution-time">9 h<' in html  # median 540
    assert "business time · mean 1 h 33 min" in html  # 92.5 minutes
    assert 'data-testid="fig-reopen">40.0%<' in html
    for key in ("month", "channel", "category", "product", "kind", "sla", "times", "backlog"):
        assert f'id="chart-{key}"' in html and f'data-testid="table-{key}"' in html
    assert 'data-testid="table-times-category"' in html
    assert '<th scope="row" class="fw-normal text-nowrap">测试产品质量</th><td class="text-end">5</td>' in html
    data = chart(html)
    assert data["month"]["labels"] == ["2025-01", "2025-02", "2025-03"]
    assert data["month"]["series"][0] == {"name": "Complaint", "values": [2, 1, 3]}
    assert data["times"]["response"] == [1.25, 0.25, 1.0]  # medians 75, 15, 60 minutes
    # Scripts carry the CSP nonce; plotly is served locally.
    assert re.search(r'<script src="/static/vendor/plotly\.min\.js" nonce="[^"]+"></script>', html)
    assert re.search(r'<script src="/static/service/reports\.js" nonce="[^"]+"></script>', html)


def test_the_page_is_in_chinese_for_chinese_users(world: World, login: Any) -> None:
    world.org.service_manager.language = "zh-hans"
    world.org.service_manager.save(update_fields=["language"])
    response = login(world.org.service_manager).get(URL, PERIOD)
    assert response.status_code == 200 and 'lang="zh-hans"' in response.content.decode()


def test_filters_on_the_page(world: World, login: Any) -> None:
    html = page(login(world.org.service_manager), kind="complaint", channel="web")
    assert 'data-testid="fig-total">3<' in html  # c1, c5, c7
    assert f'<option value="{world.cat_a.pk}">' in html  # category choices offered


def test_bad_filters_show_a_message_and_the_default_period(world: World, login: Any) -> None:
    html = page(login(world.org.service_manager), date_from="2025-04-01", date_to="2025-01-01")
    assert 'data-testid="report-errors"' in html and "The start must not be after the end." in html
    assert 'value="2025-04-01"' in html  # what was typed stays in the form


def test_a_salesperson_may_not_open_the_report(world: World, login: Any) -> None:
    assert login(world.org.salesperson).get(URL).status_code == 403
    assert login(world.org.marketing).get(URL).status_code == 403


def test_the_page_needs_a_sign_in(world: World, client: Any) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and "/login" in response["Location"]


def test_a_sales_manager_sees_the_report_of_the_departments_customers(world: World, login: Any) -> None:
    assert 'data-testid="fig-total">4<' in page(login(world.org.manager))


# --- Excel export --------------------------------------------------------------------------------
def test_the_export_holds_the_figures_and_is_audited(world: World, login: Any) -> None:
    user = world.org.service_manager
    response = login(user).post(EXPORT, {"query": urlencode(PERIOD)})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert "attachment" in response["Content-Disposition"]
    book = workbook(response.content)
    assert book.sheetnames == ["Summary", "By month", "By channel", "By category", "By product", "By kind",
                               "SLA compliance", "Response and resolution", "Open backlog"]
    summary = {r[0]: r[1] for r in rows(book["Summary"]) if r and r[0]}
    assert summary["Period"] == "2025-01-01 – 2025-03-31"
    assert summary["Cases received"] == 8
    # The page counts at the real time: c5's timers (March 2025) have run out, so it is late.
    assert summary["First response on time (%)"] == 50.0
    assert summary["SLA met (%)"] == 33.3
    assert summary["Median time to first response (business hours)"] == 1.0
    assert summary["Mean time to resolution (business hours)"] == 7.8
    assert summary["Reopen rate (%)"] == 40.0
    assert rows(book["By month"])[1] == ["2025-01", 4, 2, 1, 1]
    assert ["测试产品质量", 5, 62.5] in rows(book["By category"])
    assert ["测试产品质量", 5, 2, 2, 2, 3, 40.0] in rows(book["SLA compliance"])
    event = AuditEvent.objects.get(action="export", actor=user)
    assert event.changes["filters"] == PERIOD and event.changes["cases"] == 8
    assert event.object_repr == "service report (8)"


def test_the_export_is_formula_safe(world: World, login: Any) -> None:
    evil = CaseCategory.objects.create(name='=HYPERLINK("http://evil.example","点我")')
    make_case(world.org.service, received="2025-02-03 10:00", category=evil, state="new")
    response = login(world.org.service_manager).post(EXPORT, {"query": urlencode(PERIOD)})
    sheet = workbook(response.content)["By category"]
    cells = [row[0] for row in sheet.iter_rows() if row[0].value and "HYPERLINK" in str(row[0].value)]
    assert cells and all(c.value.startswith("'=") and c.data_type == "s" for c in cells)
    raw = response.content
    import zipfile

    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        xml = b"".join(archive.read(n) for n in archive.namelist() if n.startswith("xl/worksheets/"))
    assert b"<f>" not in xml  # no formula anywhere


def test_the_export_is_scoped(world: World, login: Any) -> None:
    response = login(world.org.manager).post(EXPORT, {"query": urlencode(PERIOD)})
    summary = {r[0]: r[1] for r in rows(workbook(response.content)["Summary"]) if r and r[0]}
    assert summary["Cases received"] == 4


def test_without_the_right_there_is_no_export_and_no_audit_row(world: World, login: Any) -> None:
    response = login(world.org.salesperson).post(EXPORT, {"query": urlencode(PERIOD)})
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="export").exists()


def test_an_export_with_bad_filters_is_refused(world: World, login: Any) -> None:
    response = login(world.org.service_manager).post(EXPORT, {"query": "kind=praise"})
    assert response.status_code == 422
    assert not AuditEvent.objects.filter(action="export").exists()


def test_the_export_is_a_post(world: World, login: Any) -> None:
    assert login(world.org.service_manager).get(EXPORT).status_code == 405
    assert reverse("service:reports-export") == EXPORT and reverse("service:reports") == URL


# --- API -----------------------------------------------------------------------------------------
def test_the_api_gives_the_same_figures(world: World, api: Any) -> None:
    caller = api(world.org.service_manager)
    caller.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = caller.get(API, PERIOD)
    assert response.status_code == 200
    body = response.json()
    assert body["filters"]["date_from"] == "2025-01-01" and body["total"] == 8
    assert body["volume"]["by_kind"][0] == {"key": "complaint", "label": "Complaint", "count": 6, "share": 75.0}
    assert [m["count"] for m in body["volume"]["by_month"]] == [4, 1, 3]
    assert body["sla"]["overall"]["met"] == 2 and body["sla"]["cases"] == 6
    assert body["times"]["response"] == {"count": 6, "mean_minutes": 92.5, "median_minutes": 60.0,
                                         "mean_hours": 1.54, "median_hours": 1.0}
    assert body["times"]["unit"] == "business minutes"
    assert body["reopen"] == {"resolved": 5, "reopened": 2, "rate": 40.0}
    assert [b["key"] for b in body["backlog"]["by_age"]] == ["0-1", "1-3", "3-7", "7-14", "14-30", "30+"]


def test_the_api_speaks_the_callers_language(world: World, api: Any) -> None:
    caller = api(world.org.service_manager)
    caller.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    response = caller.get(API, PERIOD)
    assert response.status_code == 200 and response["Content-Language"] == "zh-hans"
    assert response.json()["volume"]["by_kind"][0]["label"] == "投诉"


def test_the_api_filters_and_scope(world: World, api: Any) -> None:
    assert api(world.org.service_manager).get(API, {**PERIOD, "category": world.cat_a.pk}).json()["total"] == 5
    assert api(world.org.manager).get(API, PERIOD).json()["total"] == 4
    assert api(world.org.service).get(API, PERIOD).json()["total"] == 6


def test_the_api_refuses_without_the_right_and_bad_filters(world: World, api: Any) -> None:
    caller = api(world.org.salesperson)
    caller.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = caller.get(API, PERIOD)
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    caller = api(world.org.service_manager)
    caller.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = caller.get(API, {"kind": "praise", "team": 999999})
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"kind", "team"}
    assert caller.get(API, {"date_from": "not a date"}).status_code == 422
