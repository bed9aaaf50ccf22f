"""The service report's figures against the hand-made cases of ``reports_data.py`` (worked out by
hand there and below): volume, SLA compliance, business times (holiday and adjusted working day
included), reopen rate, backlog; the scope; the filters."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from guanxi.core.errors import Forbidden, Invalid
from guanxi.service.models import Holiday
from guanxi.service.selectors import reports as reads
from guanxi.service.services import calendar
from guanxi.service.tests.reports_data import PERIOD, World, at, build, now

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(org: Any, account_factory: Any) -> World:
    return build(org, account_factory)


def report(user: Any, **params: Any) -> reads.Report:
    return reads.service_report(user, reads.parse_filters({**PERIOD, **params}), now=now())


def counts(rows: list[reads.Row]) -> dict[str, int]:
    return {r.label: r.count for r in rows}


# --- Volume ------------------------------------------------------------------------------------
def test_volume_by_kind_channel_category_product_and_month(world: World) -> None:
    r = report(world.org.service_manager)
    # c1–c8: c9 is in the recycle bin, c10 was received before the period.
    assert r.total == 8
    assert [(row.key, row.count, row.share) for row in r.by_kind] == [
        ("complaint", 6, 75.0), ("suggestion", 1, 12.5), ("ticket", 1, 12.5)]
    assert [(row.key, row.count) for row in r.by_channel] == [
        ("web", 4), ("hotline", 2), ("card", 1), ("email", 0), ("visit", 0), ("staff", 1), ("api", 0)]
    assert counts(r.by_category) == {"测试产品质量": 5, "测试服务态度": 2, "No category": 1}
    assert [row.key for row in r.by_category] == [str(world.cat_a.pk), str(world.cat_b.pk), ""]
    assert [(row.label, row.count, row.share) for row in r.by_product] == [
        ("离心泵 IS80", 3, 37.5), ("No product", 3, 37.5), ("闸阀 Z41H", 2, 25.0)]
    assert [(m.label, m.count, m.by_kind) for m in r.by_month] == [
        ("2025-01", 4, {"complaint": 2, "suggestion": 1, "ticket": 1}),
        ("2025-02", 1, {"complaint": 1, "suggestion": 0, "ticket": 0}),
        ("2025-03", 3, {"complaint": 3, "suggestion": 0, "ticket": 0}),
    ]


def test_months_are_local_months(world: World) -> None:
    """A case received at 00:30 on 1 February in Shanghai (16:30 UTC on 31 January) is February's."""
    from guanxi.service.tests.reports_data import make_case

    make_case(world.org.service, received="2025-02-01 00:30", state="new")
    r = report(world.org.service_manager)
    assert [m.count for m in r.by_month] == [4, 2, 3]


# --- SLA compliance ----------------------------------------------------------------------------
def test_sla_compliance(world: World) -> None:
    sla = report(world.org.service_manager).sla
    assert sla.cases == 6  # c1, c2, c4, c5, c7, c8 have due times
    # First response: on time c1, c7, c8; late c2 (after due), c4 (after due); pending c5.
    assert sla.response.as_dict() == {"on_time": 3, "late": 2, "pending": 1, "rate": 60.0}
    # Resolution: on time c1, c2, c8; late c7 (after due), c4 (unresolved, past due); pending c5.
    assert sla.resolution.as_dict() == {"on_time": 3, "late": 2, "pending": 1, "rate": 60.0}
    # Met (both on time): c1, c8; missed: c2, c4, c7; pending: c5.
    assert (sla.overall.on_time, sla.overall.late, sla.overall.pending, sla.overall.rate) == (2, 3, 1, 40.0)
    assert [(r.label, r.cases, r.response_late, r.resolution_late, r.met, r.missed, r.rate)
            for r in sla.by_category] == [("测试产品质量", 5, 2, 2, 2, 3, 40.0), ("测试服务态度", 1, 0, 0, 0, 0, None)]


def test_a_breach_flag_without_a_response_counts_as_late_before_the_due_time(world: World) -> None:
    c5 = world.cases["c5"]
    c5.response_breached = True
    c5.save(update_fields=["response_breached"])
    sla = report(world.org.service_manager).sla
    assert sla.response.as_dict() == {"on_time": 3, "late": 3, "pending": 0, "rate": 50.0}


def test_pending_cases_turn_late_once_due(world: World) -> None:
    later = reads.service_report(world.org.service_manager, reads.parse_filters(PERIOD), now=at("2025-03-29 09:00"))
    assert later.sla.response.as_dict() == {"on_time": 3, "late": 3, "pending": 0, "rate": 50.0}
    assert later.sla.resolution.as_dict() == {"on_time": 3, "late": 3, "pending": 0, "rate": 50.0}


# --- Business times ----------------------------------------------------------------------------
BUSINESS_MINUTES = {  # case: (first response, resolution), worked out by hand in reports_data.py
    "c1": (30, 600), "c2": (90, 420), "c3": (60, 600), "c4": (300, None), "c7": (15, 180), "c8": (60, 540),
}


def test_hand_figures_agree_with_the_sla_clock(world: World) -> None:
    for name, (response, resolution) in BUSINESS_MINUTES.items():
        case = world.cases[name]
        assert calendar.business_minutes_between(case.received_at, case.first_responded_at) == response, name
        if resolution is not None:
            assert calendar.business_minutes_between(case.received_at, case.resolved_at) == resolution, name


def test_time_to_first_response_and_resolution(world: World) -> None:
    times = report(world.org.service_manager).times
    # Responses 15, 30, 60, 60, 90, 300: mean 555 / 6 = 92.5, median (60 + 60) / 2.
    assert times.response.as_dict() == {"count": 6, "mean_minutes": 92.5, "median_minutes": 60.0,
                                        "mean_hours": 1.54, "median_hours": 1.0}
    # Resolutions 180, 420, 540, 600, 600: mean 2340 / 5 = 468, median 540.
    assert times.resolution.as_dict() == {"count": 5, "mean_minutes": 468.0, "median_minutes": 540.0,
                                          "mean_hours": 7.8, "median_hours": 9.0}


def test_times_by_month_and_category(world: World) -> None:
    times = report(world.org.service_manager).times
    by_month = {r.label: (r.response.count, r.response.mean, r.response.median,
                          r.resolution.count, r.resolution.mean, r.resolution.median) for r in times.by_month}
    assert by_month == {
        "2025-01": (4, 120.0, 75.0, 3, 540.0, 600.0),  # 30, 60, 90, 300 / 420, 600, 600
        "2025-02": (1, 15.0, 15.0, 1, 180.0, 180.0),
        "2025-03": (1, 60.0, 60.0, 1, 540.0, 540.0),
    }
    by_category = {r.label: (r.response.count, r.response.mean, r.response.median,
                             r.resolution.count, r.resolution.mean, r.resolution.median) for r in times.by_category}
    assert by_category == {
        "测试产品质量": (5, 99.0, 60.0, 4, 435.0, 480.0),  # 15, 30, 60, 90, 300 / 180, 420, 540, 600
        "测试服务态度": (1, 60.0, 60.0, 1, 600.0, 600.0),
    }


def test_a_holiday_taken_out_of_the_calendar_lengthens_business_time(world: World) -> None:
    """Without the New Year holiday, c3 (received Wed 01-01 10:00) waits 480 + 60 = 540 minutes for
    its response and 480 + 540 + 60 = 1080 for its resolution."""
    assert report(world.org.service_manager, kind="suggestion").times.response.mean == 60.0
    Holiday.objects.filter(day=dt.date(2025, 1, 1)).delete()
    times = report(world.org.service_manager, kind="suggestion").times
    assert (times.response.mean, times.resolution.mean) == (540.0, 1080.0)


def test_an_adjusted_working_sunday_counts(world: World) -> None:
    """c4 (Fri 14:00 → Sun 01-26 10:00, a working Sunday): 240 + 60 = 300; as a plain Sunday the
    response would come at Monday's opening: 240 + 0 = 240."""
    assert report(world.org.service_manager, kind="ticket").times.response.mean == 300.0
    Holiday.objects.filter(day=dt.date(2025, 1, 26)).delete()
    assert report(world.org.service_manager, kind="ticket").times.response.mean == 240.0


def test_business_hours_changed(world: World) -> None:
    """Working hours 08:00–18:00: c7's resolution (Mon 09:00 → 12:00) stays 180, c2's response (Fri
    17:00 → Mon 09:30) becomes 60 + 90 = 150."""
    from guanxi.service.models import ServiceCalendar

    row = ServiceCalendar.objects.order_by("id").first()
    ServiceCalendar.objects.filter(pk=row.pk).update(day_start=dt.time(8), version=row.version + 1)
    r = report(world.org.service_manager, channel="hotline", category=str(world.cat_a.pk), product=str(world.p1.pk))
    assert r.total == 1 and r.times.response.mean == 150.0


# --- Reopen rate and backlog ---------------------------------------------------------------------
def test_reopen_rate(world: World) -> None:
    reopen = report(world.org.service_manager).reopen
    # Resolved at least once: c1, c2, c3, c7, c8; reopened: c2 (once), c7 (twice).
    assert (reopen.resolved, reopen.reopened, reopen.rate) == (5, 2, 40.0)


def test_backlog_by_age_counts_open_cases_whenever_received(world: World) -> None:
    backlog = report(world.org.service_manager).backlog
    # Open now: c6 (4 h), c5 (3 days 3 h), c4 (55 days), c10 (95 days, before the period).
    assert [(b.key, b.count) for b in backlog.buckets] == [
        ("0-1", 1), ("1-3", 0), ("3-7", 1), ("7-14", 0), ("14-30", 0), ("30+", 2)]
    assert (backlog.total, backlog.overdue) == (4, 2)  # c4 and c10 are past their resolution time


# --- Scope -------------------------------------------------------------------------------------
def test_a_service_agent_counts_only_the_cases_they_see(world: World) -> None:
    r = report(world.org.service)  # 赵静 owns c1–c5 and c7; c6 is 钱峰's, c8 郑爽's
    assert r.total == 6
    assert r.times.response.count == 5 and r.times.response.median == 60.0  # 15, 30, 60, 90, 300
    assert r.backlog.total == 3  # c4, c5, c10


def test_a_sales_manager_counts_only_the_cases_of_the_departments_customers(world: World) -> None:
    r = report(world.org.manager)  # East's customers: c1, c2, c7 (王伟's), c4 (李娜's)
    assert r.total == 4
    assert counts(r.by_kind) == {"Complaint": 3, "Suggestion": 0, "Service ticket": 1}
    assert r.sla.response.as_dict() == {"on_time": 2, "late": 2, "pending": 0, "rate": 50.0}
    assert (r.reopen.resolved, r.reopen.reopened) == (3, 2)


def test_the_south_sales_manager_sees_the_south_customers_case(world: World) -> None:
    assert report(world.org.south_manager).total == 1  # c8


def test_the_general_manager_sees_everything(world: World) -> None:
    assert report(world.org.gm).total == 8


@pytest.mark.parametrize("persona", ["salesperson", "marketing", "admin"])
def test_without_the_report_right_the_report_is_refused(world: World, persona: str) -> None:
    with pytest.raises(Forbidden):
        report(getattr(world.org, persona))


# --- Filters -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("params", "total"), [
    ({"kind": "complaint"}, 6),
    ({"channel": "web"}, 4),
    ({"channel": "hotline", "kind": "complaint"}, 2),
    ({"date_from": "2025-03-01"}, 3),
    ({"date_from": "2025-02-01", "date_to": "2025-02-28"}, 1),
    ({"date_to": "2025-01-31"}, 4),
])
def test_filters(world: World, params: dict[str, str], total: int) -> None:
    assert report(world.org.service_manager, **params).total == total


def test_record_filters(world: World) -> None:
    org = world.org
    manager = org.service_manager
    assert report(manager, category=world.cat_a.pk).total == 5
    assert report(manager, product=world.p1.pk).total == 3
    assert report(manager, team=org.service_team.pk).total == 7  # not c6: 钱峰 leads the team but is no member
    assert report(manager, department=org.service_dept.pk).total == 8
    assert report(manager, department=org.hq.pk).total == 8  # with the departments below it
    assert report(manager, department=org.east.pk).total == 0
    filtered = report(manager, category=world.cat_a.pk, kind="complaint")
    assert filtered.total == 4 and filtered.times.resolution.count == 4
    assert filtered.sla.response.as_dict() == {"on_time": 3, "late": 1, "pending": 0, "rate": 75.0}
    assert filtered.backlog.total == 0  # c4 is a ticket, c5 of category B


def test_bad_filters_are_refused_field_by_field(world: World) -> None:
    with pytest.raises(Invalid) as caught:
        reads.parse_filters({"date_from": "yesterday", "kind": "praise", "channel": "fax", "category": "x",
                             "product": "999999", "department": "-1", "team": "999999"})
    assert set(caught.value.errors) == {"date_from", "kind", "channel", "category", "product", "department", "team"}
    with pytest.raises(Invalid) as caught:
        reads.parse_filters({"date_from": "2025-03-01", "date_to": "2025-02-01"})
    assert caught.value.errors == {"date_from": ["The start must not be after the end."]}
    with pytest.raises(Invalid) as caught:
        reads.parse_filters({"date_from": "2015-01-01", "date_to": "2025-01-01"})
    assert list(caught.value.errors) == ["date_from"]


def test_the_default_period_is_the_last_twelve_months() -> None:
    f = reads.parse_filters({}, today=dt.date(2025, 3, 20))
    assert (f.start, f.end) == (dt.date(2024, 4, 1), dt.date(2025, 3, 20))
    assert len(f.months) == 12
    f = reads.parse_filters({"date_to": "2025-01-15"}, today=dt.date(2025, 3, 20))
    assert (f.start, f.end) == (dt.date(2024, 2, 1), dt.date(2025, 1, 15))
    f = reads.parse_filters({"date_from": "2025-01-15"}, today=dt.date(2025, 3, 20))
    assert (f.start, f.end) == (dt.date(2025, 1, 15), dt.date(2025, 3, 20))


def test_an_empty_report(org: Any) -> None:
    r = reads.service_report(org.service_manager, reads.parse_filters(PERIOD))
    assert r.total == 0 and r.times.response.count == 0 and r.times.response.median is None
    assert r.sla.response.rate is None and r.reopen.rate is None and r.backlog.total == 0
    assert [m.count for m in r.by_month] == [0, 0, 0]


def test_the_report_takes_a_fixed_number_of_queries(world: World, django_assert_max_num_queries: Any) -> None:
    from guanxi.service.tests.reports_data import make_case

    for n in range(30):
        make_case(world.org.service, received=f"2025-02-{n % 27 + 1:02d} 10:00", responded=f"2025-02-{n % 27 + 1:02d} 11:00",
                  resolved="2025-03-10 10:00")
    filters = reads.parse_filters(PERIOD)
    with django_assert_max_num_queries(25):
        r = reads.service_report(world.org.service_manager, filters, now=now())
    assert r.total == 38


# --- Through the services ---------------------------------------------------------------------------
def test_a_case_received_and_moved_through_the_services_counts(org: Any, account_factory: Any) -> None:
    """Taken on the phone by the salesperson (A's intake, C's timers; the first responder owns it),
    acknowledged now (B's workflow): counted in June, its first response late, its response time
    the SLA clock's."""
    from guanxi.service.services import cases, intake
    from guanxi.service.tests.reports_data import reset_calendar

    reset_calendar()
    case = intake.case_receive(actor=org.salesperson, kind="complaint", title="泵漏水", description="客户来电：泵漏水。",
                               channel="hotline", account=account_factory(org.salesperson),
                               received_at=at("2025-06-02 10:00"))
    assert case.first_response_due is not None  # the default SLA policy applied
    moved = cases.case_move(actor=org.salesperson, case=case, to="acknowledged")
    r = reads.service_report(org.gm, reads.parse_filters({"date_from": "2025-06-01",
                                                                          "date_to": "2025-06-30"}))
    assert r.total == 1 and [row.count for row in r.by_channel if row.key == "hotline"] == [1]
    assert r.sla.response.as_dict() == {"on_time": 0, "late": 1, "pending": 0, "rate": 0.0}
    expected = calendar.business_minutes_between(case.received_at, moved.first_responded_at)
    assert r.times.response.count == 1
    assert r.times.response.median == pytest.approx(expected, abs=1)  # whole minutes there, seconds here
    assert report(org.manager, date_from="2025-06-01", date_to="2025-06-30").total == 1  # 王伟's customer
