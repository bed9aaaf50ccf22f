"""Weekly status report per account and per project (R3.4): the right week, HTML, PDF, API, rights."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone, translation
from pypdf import PdfReader

from guanxi.activities import services
from guanxi.activities.models import CarePlan, CostChange, FollowUp, Phase, Project, Support
from guanxi.activities.selectors.reports import Week, parse_week, week_of, weekly_report
from guanxi.core.errors import Invalid
from guanxi.core.models import AuditEvent

pytestmark = pytest.mark.django_db
MISSING_ID = 987654321


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def _at(day: dt.date, hour: int = 10, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


@pytest.fixture
def week() -> Week:
    """A week two weeks back, so "overdue" and "next week" do not depend on today's weekday."""
    return week_of(timezone.localdate() - dt.timedelta(days=14))


@pytest.fixture
def book(org: Any, account_factory: Any, week: Week) -> dict[str, Any]:
    """One account's two weeks: everything marked 本周 is in ``week``, everything marked 上周 the week before."""
    sp = org.salesperson
    account = account_factory(sp, name="宁波海天注塑机械有限公司")
    monday, previous_sunday = week.monday, week.monday - dt.timedelta(days=1)

    def contact(when: dt.datetime, summary: str, kind: str = "visit", **fields: Any) -> Any:
        return services.interaction_create(actor=sp, account=account, kind=kind, summary=summary,
                                           occurred_at=when, **fields)

    contact(_at(monday, 0, 0), "本周一零点：开工会", kind="meeting")
    contact(_at(monday + dt.timedelta(days=2)), "本周拜访：确认二期排产", agreements="十二月十日前交付首批")
    contact(_at(monday + dt.timedelta(days=6), 23, 59), "本周日深夜：电话回访", kind="call")
    contact(_at(previous_sunday, 23, 30), "上周电话：旧话题", kind="call")
    contact(_at(monday + dt.timedelta(days=7), 0, 0), "下周一零点：不属于本周")

    def followup(title: str, due: dt.datetime, *, done_at: dt.datetime | None = None) -> FollowUp:
        f = services.followup_create(actor=sp, account=account, title=title, due_at=due)
        if done_at is not None:
            services.followup_complete(actor=sp, followup=f, outcome=f"{title}已完成")
            FollowUp.objects.filter(pk=f.pk).update(done_at=done_at)  # move the clock by the row
        return f

    followup("本周完成：寄样品", _at(monday), done_at=_at(monday + dt.timedelta(days=3)))
    followup("上周完成：旧事项", _at(previous_sunday), done_at=_at(previous_sunday, 9))
    followup("逾期：回访采购部", _at(monday + dt.timedelta(days=1)))
    followup("下周：报价跟进", _at(monday + dt.timedelta(days=8)))
    followup("两周后：不在报告里", _at(monday + dt.timedelta(days=15)))

    CarePlan.objects.create(account=account, occasion="mid_autumn", date=monday + dt.timedelta(days=4),
                            gift="本周中秋月饼", owner=sp, state="sent")
    CarePlan.objects.create(account=account, occasion="birthday", date=previous_sunday, gift="上周生日蛋糕",
                            owner=sp, state="sent")
    CarePlan.objects.create(account=account, occasion="national_day", date=monday + dt.timedelta(days=1),
                            gift="本周未寄出的礼品", owner=sp, state="planned")
    Support.objects.create(account=account, kind="training", description="本周安装调试培训", owner=sp,
                           given_on=monday + dt.timedelta(days=2), value=Decimal("3000"))
    Support.objects.create(account=account, kind="policy", description="上周返利政策", owner=sp, given_on=previous_sunday)

    project = Project.objects.create(account=account, name="二期产线改造", goal="提升产能百分之二十", owner=sp)
    design = Phase.objects.create(project=project, position=1, name="方案设计", owner=sp, state="done", cost=50000)
    install = Phase.objects.create(project=project, position=2, name="设备安装", owner=sp, state="active", cost=80000)
    CostChange.objects.create(phase=install, amount=Decimal("12000"), reason="增加防尘罩", requested_by=sp)
    CostChange.objects.create(phase=design, amount=Decimal("-2000"), reason="本周批准：减少一次现场勘察",
                              requested_by=sp, state="approved", decided_at=_at(monday + dt.timedelta(days=2)))
    CostChange.objects.create(phase=design, amount=Decimal("5000"), reason="上周拒绝：加急费", requested_by=sp,
                              state="declined", decided_at=_at(previous_sunday))
    other = Project.objects.create(account=account, name="其他项目：仓库扩建", owner=sp)
    Phase.objects.create(project=other, position=1, name="仓库选址", owner=sp)
    Project.objects.create(account=account, name="已取消的项目", owner=sp, state="cancelled")
    return {"account": account, "project": project, "other": other}


THIS_WEEK = ["本周一零点：开工会", "本周拜访：确认二期排产", "十二月十日前交付首批", "本周日深夜：电话回访", "本周完成：寄样品",
             "逾期：回访采购部", "下周：报价跟进", "本周中秋月饼", "本周安装调试培训", "二期产线改造", "设备安装", "增加防尘罩",
             "本周批准：减少一次现场勘察"]
NOT_THIS_WEEK = ["上周电话：旧话题", "下周一零点：不属于本周", "上周完成：旧事项", "两周后：不在报告里", "上周生日蛋糕",
                 "本周未寄出的礼品", "上周返利政策", "上周拒绝：加急费", "已取消的项目"]


def _pdf_text(content: bytes) -> str:
    return "".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages).replace("\n", "").replace(" ", "")


def test_the_report_holds_exactly_the_weeks_items(org: Any, book: dict[str, Any], week: Week) -> None:
    report = weekly_report(org.salesperson, book["account"], week)
    assert [i.summary for i in report.interactions] == ["本周一零点：开工会", "本周拜访：确认二期排产", "本周日深夜：电话回访"]
    assert [f.title for f in report.followups_done] == ["本周完成：寄样品"]
    assert [f.title for f in report.followups_open] == ["逾期：回访采购部"]
    assert report.followups_open[0].is_overdue and report.overdue_count == 1
    assert [f.title for f in report.followups_next_week] == ["下周：报价跟进"]
    assert [c.gift for c in report.care] == ["本周中秋月饼"]
    assert [s.description for s in report.support] == ["本周安装调试培训"]
    status, other = report.projects  # the active projects only
    assert status.project == book["project"] and other.project == book["other"]
    assert [p.name for p in status.phases] == ["方案设计", "设备安装"]
    assert [c.reason for c in status.pending] == ["增加防尘罩"]
    assert [c.reason for c in status.decided] == ["本周批准：减少一次现场勘察"]
    assert week.label in report.title and "宁波海天注塑机械有限公司" in report.title


def test_the_previous_week_has_its_own_items(org: Any, book: dict[str, Any], week: Week) -> None:
    report = weekly_report(org.salesperson, book["account"], week.shifted(-1))
    assert [i.summary for i in report.interactions] == ["上周电话：旧话题"]
    assert [f.title for f in report.followups_done] == ["上周完成：旧事项"]
    assert [c.gift for c in report.care] == ["上周生日蛋糕"]
    assert [c.reason for s in report.projects for c in s.decided] == ["上周拒绝：加急费"]


def test_the_html_page_shows_the_week_and_not_the_previous_one(org: Any, login: Any, book: dict[str, Any],
                                                               week: Week) -> None:
    page = login(org.salesperson).get(f"/activities/accounts/{book['account'].pk}/weekly/?week={week.label}")
    assert page.status_code == 200
    html = page.content.decode()
    for text in THIS_WEEK:
        assert text in html, text
    for text in NOT_THIS_WEEK:
        assert text not in html, text
    assert f"?week={week.shifted(-1).label}" in html and f"?week={week.shifted(1).label}" in html
    assert f"?week={week.label}&amp;format=pdf" in html


def test_the_pdf_holds_the_week_and_is_audited(org: Any, login: Any, book: dict[str, Any], week: Week) -> None:
    response = login(org.salesperson).get(f"/activities/accounts/{book['account'].pk}/weekly/",
                                          {"week": week.label, "format": "pdf"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment")
    text = _pdf_text(response.content)
    for expected in THIS_WEEK:
        assert expected in text, expected
    for unexpected in NOT_THIS_WEEK:
        assert unexpected not in text, unexpected
    assert week.label in text
    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORT)
    assert event.object_id == str(book["account"].pk) and event.changes["week"] == week.label
    assert event.actor_id == org.salesperson.pk


def test_the_default_is_the_current_week(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson, name="嘉兴今日客户有限公司")
    services.interaction_create(actor=org.salesperson, account=account, kind="call", summary="今天刚打的电话")
    page = login(org.salesperson).get(f"/activities/accounts/{account.pk}/weekly/")
    assert page.context["report"].week == week_of(timezone.localdate())
    assert "今天刚打的电话" in page.content.decode()


def test_the_api_answers_json_and_pdf(org: Any, api: Any, book: dict[str, Any], week: Week) -> None:
    client = api(org.salesperson)
    response = client.get(f"/api/v1/accounts/{book['account'].pk}/weekly-report", {"week": week.label})
    assert response.status_code == 200
    data = json.loads(response.content)
    assert data["week"] == week.label and data["starts_on"] == week.monday.isoformat()
    assert data["ends_on"] == week.sunday.isoformat()
    assert data["account"] == {"id": book["account"].pk, "name": "宁波海天注塑机械有限公司"}
    assert [i["summary"] for i in data["interactions"]] == ["本周一零点：开工会", "本周拜访：确认二期排产",
                                                            "本周日深夜：电话回访"]
    assert data["interactions"][1]["agreements"] == ["十二月十日前交付首批"]
    assert [f["title"] for f in data["followups_done"]] == ["本周完成：寄样品"]
    assert [(f["title"], f["overdue"]) for f in data["followups_open"]] == [("逾期：回访采购部", True)]
    assert [f["title"] for f in data["followups_next_week"]] == ["下周：报价跟进"]
    assert [c["gift"] for c in data["care"]] == ["本周中秋月饼"]
    assert [s["description"] for s in data["support"]] == ["本周安装调试培训"]
    project, other = data["projects"]
    assert (project["name"], other["name"]) == ("二期产线改造", "其他项目：仓库扩建")
    assert [c["reason"] for c in project["cost_changes_pending"]] == ["增加防尘罩"]
    assert not AuditEvent.objects.filter(action="export").exists()  # JSON is a read, not a document
    pdf = client.get(f"/api/v1/accounts/{book['account'].pk}/weekly-report", {"week": week.label, "format": "pdf"})
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert "本周拜访：确认二期排产" in _pdf_text(pdf.content)
    assert AuditEvent.objects.filter(action="export", channel="api").count() == 1


def test_the_project_report_covers_that_project_only(org: Any, login: Any, api: Any, book: dict[str, Any],
                                                     week: Week) -> None:
    page = login(org.salesperson).get(f"/activities/projects/{book['project'].pk}/weekly/?week={week.label}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "二期产线改造" in html and "增加防尘罩" in html and "本周拜访：确认二期排产" in html
    assert "仓库选址" not in html and "上周电话：旧话题" not in html
    data = json.loads(api(org.salesperson).get(f"/api/v1/projects/{book['project'].pk}/weekly-report",
                                               {"week": week.label}).content)
    assert data["project"]["id"] == book["project"].pk
    assert [p["name"] for p in data["projects"]] == ["二期产线改造"]
    pdf = login(org.salesperson).get(f"/activities/projects/{book['other'].pk}/weekly/",
                                     {"week": week.label, "format": "pdf"})
    text = _pdf_text(pdf.content)
    assert "仓库选址" in text and "设备安装" not in text
    assert AuditEvent.objects.get(action="export").object_id == str(book["other"].pk)


def test_hidden_accounts_and_projects_answer_404_like_missing_ones(org: Any, login: Any, api: Any,
                                                                   book: dict[str, Any], week: Week) -> None:
    client, api_client = login(org.outsider), api(org.outsider)
    account, project = book["account"].pk, book["project"].pk
    for path in (f"/activities/accounts/{{}}/weekly/?week={week.label}",
                 f"/activities/accounts/{{}}/weekly/?week={week.label}&format=pdf",
                 f"/activities/projects/{{}}/weekly/?week={week.label}",
                 "/activities/projects/{}/weekly/?format=pdf"):
        target = account if "/accounts/" in path else project
        assert client.get(path.format(target)).status_code == 404, path
        assert client.get(path.format(MISSING_ID)).status_code == 404, path
    for path, target in ((f"/api/v1/accounts/{{}}/weekly-report?week={week.label}", account),
                         ("/api/v1/accounts/{}/weekly-report?format=pdf", account),
                         ("/api/v1/accounts/{}/weekly-report?week=nonsense", account),
                         ("/api/v1/projects/{}/weekly-report", project),
                         ("/api/v1/projects/{}/weekly-report?format=pdf", project)):
        hidden, missing = api_client.get(path.format(target)), api_client.get(path.format(MISSING_ID))
        assert hidden.status_code == missing.status_code == 404, path
        assert hidden.content == missing.content
    assert not AuditEvent.objects.filter(action="export").exists()
    # The manager of the owner's department sees the same report.
    assert login(org.manager).get(f"/activities/accounts/{account}/weekly/").status_code == 200


def test_a_bad_week_is_refused_by_the_api_and_explained_on_the_page(org: Any, login: Any, api: Any,
                                                                    book: dict[str, Any]) -> None:
    org.salesperson.language = "en"
    org.salesperson.save()
    response = api(org.salesperson).get(f"/api/v1/accounts/{book['account'].pk}/weekly-report", {"week": "2025-W53"})
    assert response.status_code == 422 and "week" in json.loads(response.content)["errors"]
    response = api(org.salesperson).get(f"/api/v1/accounts/{book['account'].pk}/weekly-report", {"format": "xlsx"})
    assert response.status_code == 422 and "format" in json.loads(response.content)["errors"]
    page = login(org.salesperson).get(f"/activities/accounts/{book['account'].pk}/weekly/?week=W99")
    assert page.status_code == 200 and page.context["report"].week == week_of(timezone.localdate())
    assert "Enter an ISO week" in page.content.decode()


def test_iso_weeks_are_parsed_strictly() -> None:
    assert parse_week("2026-W48") == Week(2026, 48)
    assert parse_week("2026W05") == Week(2026, 5)
    assert parse_week("2026-W53").monday == dt.date(2026, 12, 28)  # 2026 has 53 ISO weeks
    assert parse_week("", today=dt.date(2026, 1, 1)) == Week(2026, 1)
    assert parse_week(None, today=dt.date(2027, 1, 1)) == Week(2026, 53)
    for bad in ("2025-W53", "2026-W00", "2026-W54", "2026-48", "abc", "2026-W4a"):
        with pytest.raises(Invalid):
            parse_week(bad)


def test_week_bounds_are_local_midnights(settings: Any) -> None:
    week = Week(2026, 48)
    assert week.monday == dt.date(2026, 11, 23) and week.sunday == dt.date(2026, 11, 29)
    assert timezone.localtime(week.start).isoformat() == "2026-11-23T00:00:00+08:00"
    assert week.end - week.start == dt.timedelta(days=7)
    assert week.shifted(-1) == Week(2026, 47) and Week(2026, 53).shifted(1) == Week(2027, 1)


def test_the_account_page_links_to_the_report(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    html = login(org.salesperson).get(f"/accounts/{account.pk}/").content.decode()
    assert 'data-testid="weekly-report-form"' in html
    assert f'action="/activities/accounts/{account.pk}/weekly/"' in html
