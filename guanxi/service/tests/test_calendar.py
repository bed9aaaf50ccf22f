"""The business calendar: working days, business-minute arithmetic, holidays and their loading."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db.models import F
from django.utils import timezone

from guanxi.core.errors import Conflict, Forbidden, Invalid
from guanxi.core.models import AuditEvent
from guanxi.service.models import Holiday, ServiceCalendar
from guanxi.service.services import calendar as calendars
from guanxi.service.services.calendar import Calendar

TZ = timezone.get_default_timezone()


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=TZ)


@pytest.fixture(scope="module")
def china() -> Calendar:
    """09:00–18:00, Monday to Friday, with China's official days of 2025 and 2026 (no database)."""
    days = {day: (kind, name) for year in (2025, 2026) for day, kind, name in calendars.package_days(year)}
    return Calendar.build(dt.time(9), dt.time(18), "12345", days)


@pytest.fixture(scope="module")
def plain() -> Calendar:
    return Calendar.build(dt.time(9), dt.time(18), "12345")


# --- Working days -------------------------------------------------------------------------
def test_weekends_are_off_and_weekdays_work(plain: Calendar) -> None:
    assert plain.is_working_day(dt.date(2026, 3, 2))  # Monday
    assert not plain.is_working_day(dt.date(2026, 3, 7))  # Saturday
    assert not plain.is_working_day(dt.date(2026, 3, 8))


def test_spring_festival_is_off_and_the_adjusted_saturday_works(china: Calendar) -> None:
    assert not china.is_working_day(dt.date(2026, 2, 16))  # Monday of 春节
    assert not china.is_working_day(dt.date(2026, 2, 20))
    assert china.is_working_day(dt.date(2026, 2, 14))  # Saturday worked (调休)
    assert china.names[dt.date(2026, 2, 16)] == "春节"
    assert china.names[dt.date(2026, 10, 1)] == "国庆节"


def test_working_days_between_counts_weeks_and_overrides(plain: Calendar, china: Calendar) -> None:
    assert plain.working_days_between(dt.date(2026, 3, 2), dt.date(2026, 3, 9)) == 5
    assert plain.working_days_between(dt.date(2026, 1, 1), dt.date(2027, 1, 1)) == 261
    # 2026 in China: 365 days, 104 weekend days, weekday holidays off, 调休 Saturdays worked.
    holidays = sum(1 for d, w in china.overrides.items() if d.year == 2026 and not w)
    workdays = sum(1 for d, w in china.overrides.items() if d.year == 2026 and w)
    assert china.working_days_between(dt.date(2026, 1, 1), dt.date(2027, 1, 1)) == 261 - holidays + workdays


# --- Adding business minutes --------------------------------------------------------------
def test_within_one_day(plain: Calendar) -> None:
    assert plain.add_minutes(at(2026, 3, 2, 10, 0), 120) == at(2026, 3, 2, 12, 0)


def test_a_full_day_from_the_opening_ends_at_the_closing(plain: Calendar) -> None:
    assert plain.add_minutes(at(2026, 3, 2, 9, 0), 540) == at(2026, 3, 2, 18, 0)


def test_overnight(plain: Calendar) -> None:
    assert plain.add_minutes(at(2026, 3, 2, 17, 0), 120) == at(2026, 3, 3, 10, 0)


def test_over_the_weekend(plain: Calendar) -> None:
    assert plain.add_minutes(at(2026, 3, 6, 17, 30), 60) == at(2026, 3, 9, 9, 30)


def test_start_outside_hours_begins_at_the_next_opening(plain: Calendar) -> None:
    assert plain.add_minutes(at(2026, 3, 2, 7, 15), 30) == at(2026, 3, 2, 9, 30)  # before opening
    assert plain.add_minutes(at(2026, 3, 2, 20, 0), 60) == at(2026, 3, 3, 10, 0)  # evening
    assert plain.add_minutes(at(2026, 3, 7, 11, 0), 60) == at(2026, 3, 9, 10, 0)  # Saturday
    assert plain.add_minutes(at(2026, 3, 7, 11, 0), 0) == at(2026, 3, 9, 9, 0)
    assert plain.add_minutes(at(2026, 3, 2, 11, 0), 0) == at(2026, 3, 2, 11, 0)


def test_spring_festival_week_is_skipped(china: Calendar) -> None:
    # Friday 13 Feb 17:00 + 2 h: the Saturday 14th is worked (调休), so 10:00 that day.
    assert china.add_minutes(at(2026, 2, 13, 17, 0), 120) == at(2026, 2, 14, 10, 0)
    # Saturday 14th 17:00 + 2 h: Sunday off, then the festival week off until Tuesday 24th.
    first_after = china.add_minutes(at(2026, 2, 14, 17, 0), 120)
    assert first_after.date() > dt.date(2026, 2, 20)
    assert china.is_working_day(first_after.date())
    assert first_after.time() == dt.time(10, 0)
    assert all(not china.is_working_day(dt.date(2026, 2, d)) for d in range(15, first_after.day))


def test_national_day_holidays_are_skipped(china: Calendar) -> None:
    due = china.add_minutes(at(2026, 9, 30, 17, 0), 120)
    assert due.date() >= dt.date(2026, 10, 8)


def test_the_result_is_aware_local_time(plain: Calendar) -> None:
    utc = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
    due = plain.add_minutes(utc, 60)
    assert due == at(2026, 3, 2, 11, 0)
    assert due.utcoffset() == dt.timedelta(hours=8)


def test_seconds_are_kept(plain: Calendar) -> None:
    assert plain.add_minutes(at(2026, 3, 2, 10, 17, 33), 60) == at(2026, 3, 2, 11, 17, 33)


def test_negative_minutes_go_back(plain: Calendar) -> None:
    assert plain.add_minutes(at(2026, 3, 3, 10, 0), -540) == at(2026, 3, 2, 10, 0)
    assert plain.add_minutes(at(2026, 3, 9, 9, 30), -60) == at(2026, 3, 6, 17, 30)


def test_long_spans_are_exact(china: Calendar) -> None:
    start = at(2026, 1, 5, 10, 0)
    for minutes in (540 * 100, 540 * 200 + 17, 540 * 230 - 1):
        due = china.add_minutes(start, minutes)
        assert china.minutes_between(start, due) == minutes
        assert china.is_working_day(due.date())


# --- Minutes between ----------------------------------------------------------------------
def test_minutes_between_same_day_overnight_and_weekend(plain: Calendar) -> None:
    assert plain.minutes_between(at(2026, 3, 2, 10, 0), at(2026, 3, 2, 11, 30)) == 90
    assert plain.minutes_between(at(2026, 3, 2, 17, 0), at(2026, 3, 3, 10, 0)) == 120
    assert plain.minutes_between(at(2026, 3, 6, 17, 0), at(2026, 3, 9, 10, 0)) == 120
    assert plain.minutes_between(at(2026, 3, 7, 10, 0), at(2026, 3, 8, 10, 0)) == 0  # weekend only
    assert plain.minutes_between(at(2026, 3, 2, 19, 0), at(2026, 3, 3, 8, 0)) == 0  # the night


def test_minutes_between_is_negative_backwards(plain: Calendar) -> None:
    assert plain.minutes_between(at(2026, 3, 3, 10, 0), at(2026, 3, 2, 17, 0)) == -120
    assert plain.minutes_between(at(2026, 3, 2, 10, 0), at(2026, 3, 2, 10, 0)) == 0


def test_minutes_between_over_months_and_holidays(china: Calendar) -> None:
    a, b = at(2026, 1, 2, 9, 0), at(2026, 12, 31, 18, 0)
    days = china.working_days_between(dt.date(2026, 1, 2), dt.date(2027, 1, 1))
    assert china.minutes_between(a, b) == days * 540
    assert china.minutes_between(b, a) == -days * 540


def test_a_calendar_without_working_days_refuses_to_search() -> None:
    empty = Calendar.build(dt.time(9), dt.time(18), "")
    with pytest.raises(ValueError):
        empty.add_minutes(at(2026, 3, 2, 10, 0), 60)


def test_format_minutes() -> None:
    assert calendars.format_minutes(150) == "2 h 30 min"
    assert calendars.format_minutes(45) == "45 min"
    assert calendars.format_minutes(540, day_minutes=540) == "9 h (1 business day)"
    assert calendars.format_minutes(1080, day_minutes=540) == "18 h (2 business days)"
    assert calendars.format_minutes(-60) == "-1 h"


# --- The stored calendar ------------------------------------------------------------------
def test_the_migration_seeds_hours_and_china_holidays(db: Any) -> None:
    row = ServiceCalendar.objects.get()
    assert (row.day_start, row.day_end, row.weekdays) == (dt.time(9), dt.time(18), "12345")
    assert Holiday.objects.get(day=dt.date(2026, 2, 16)).name == "春节"
    assert Holiday.objects.get(day=dt.date(2026, 2, 14)).type == Holiday.Type.WORKDAY
    assert Holiday.objects.filter(day__year=2024).exists()
    assert not calendars.is_working_day(dt.date(2026, 10, 1))


def test_the_calendar_row_is_created_with_defaults_when_missing(db: Any) -> None:
    ServiceCalendar.objects.all().delete()
    due = calendars.add_business_minutes(at(2026, 3, 2, 17, 0), 120)
    assert due == at(2026, 3, 3, 10, 0)
    assert ServiceCalendar.objects.count() == 1


def test_module_functions_read_the_stored_calendar(db: Any) -> None:
    assert calendars.add_business_minutes(at(2026, 2, 13, 17, 0), 120) == at(2026, 2, 14, 10, 0)
    assert calendars.business_minutes_between(at(2026, 2, 14, 17, 0), at(2026, 2, 13, 17, 0)) == -540


def test_a_change_through_the_services_is_seen_at_once(org: Any) -> None:
    monday = dt.date(2026, 3, 9)
    assert calendars.is_working_day(monday)
    holiday = calendars.holiday_create(actor=org.service_manager, day="2026-03-09", name="公司年会")
    assert not calendars.is_working_day(monday)
    assert calendars.add_business_minutes(at(2026, 3, 6, 17, 0), 120) == at(2026, 3, 10, 10, 0)
    calendars.holiday_delete(actor=org.service_manager, holiday=holiday)
    assert calendars.is_working_day(monday)
    row = ServiceCalendar.objects.get()
    calendars.hours_update(actor=org.service_manager, changes={"day_start": "08:30", "weekdays": "123456"},
                           expected_version=row.version)
    assert calendars.is_working_day(dt.date(2026, 3, 7))
    assert calendars.add_business_minutes(at(2026, 3, 2, 7, 0), 30) == at(2026, 3, 2, 9, 0)


def test_a_change_made_elsewhere_is_seen_too(db: Any) -> None:
    """Another process (or a rolled-back transaction) changed the rows: the stamp differs."""
    assert calendars.is_working_day(dt.date(2026, 3, 3))
    Holiday.objects.create(day=dt.date(2026, 3, 3), type=Holiday.Type.HOLIDAY, name="x")
    assert not calendars.is_working_day(dt.date(2026, 3, 3))
    Holiday.objects.filter(day=dt.date(2026, 3, 3)).delete()  # removed elsewhere: the count moves
    assert calendars.is_working_day(dt.date(2026, 3, 3))
    ServiceCalendar.objects.update(weekdays="1234567", version=F("version") + 1)
    assert calendars.is_working_day(dt.date(2026, 3, 7))


def test_the_held_calendar_costs_one_small_statement(db: Any, django_assert_num_queries: Any) -> None:
    calendars.current()
    with django_assert_num_queries(1):
        held = calendars.current()
    with django_assert_num_queries(1):
        assert calendars.current() is held  # unchanged: the same copy, not built again


# --- Business hours -----------------------------------------------------------------------
def test_hours_must_end_after_they_start(org: Any) -> None:
    row = ServiceCalendar.objects.get()
    with pytest.raises(Invalid) as exc:
        calendars.hours_update(actor=org.service_manager, changes={"day_start": "18:00", "day_end": "09:00"},
                               expected_version=row.version)
    assert exc.value.errors["day_end"] == ["The working day must end after it starts."]
    row.refresh_from_db()
    assert row.day_start == dt.time(9)


def test_hours_need_a_weekday_and_real_times(org: Any) -> None:
    with pytest.raises(Invalid) as exc:
        calendars.hours_update(actor=org.service_manager, changes={"weekdays": "", "day_start": "9h"},
                               expected_version=None)
    assert exc.value.errors == {"weekdays": ["Choose at least one working weekday."],
                                "day_start": ["Enter a time as HH:MM."]}
    with pytest.raises(Invalid) as exc:
        calendars.hours_update(actor=org.service_manager, changes={"weekdays": [1, 8]}, expected_version=None)
    assert "weekdays" in exc.value.errors


def test_hours_update_is_versioned_and_audited(org: Any) -> None:
    row = ServiceCalendar.objects.get()
    calendars.hours_update(actor=org.admin, changes={"day_end": "17:30"}, expected_version=row.version)
    with pytest.raises(Conflict):
        calendars.hours_update(actor=org.admin, changes={"day_end": "17:00"}, expected_version=row.version)
    assert ServiceCalendar.objects.get().day_end == dt.time(17, 30)
    assert AuditEvent.objects.filter(object_id=str(row.pk), action="update", actor=org.admin).exists()


def test_an_agent_cannot_change_the_calendar(org: Any) -> None:
    with pytest.raises(Forbidden):
        calendars.hours_update(actor=org.service, changes={"day_end": "20:00"}, expected_version=None)
    with pytest.raises(Forbidden):
        calendars.holiday_create(actor=org.service, day="2026-03-02")
    with pytest.raises(Forbidden):
        calendars.holidays_load(actor=org.service, year=2026)
    assert ServiceCalendar.objects.get().day_end == dt.time(18)
    assert not Holiday.objects.filter(day=dt.date(2026, 3, 2)).exists()


# --- Holidays -----------------------------------------------------------------------------
def test_holiday_validation(org: Any) -> None:
    with pytest.raises(Invalid) as exc:
        calendars.holiday_create(actor=org.service_manager, day="2026-02-16", type="vacation")
    assert exc.value.errors["day"] == ["This day is already in the calendar; change it instead."]
    assert exc.value.errors["type"] == ["Choose a public holiday or an adjusted working day."]
    with pytest.raises(Invalid) as exc:
        calendars.holiday_create(actor=org.service_manager, day="16/02/2026")
    assert exc.value.errors["day"] == ["Enter a valid date (YYYY-MM-DD)."]


def test_holiday_update_changes_the_type(org: Any) -> None:
    holiday = Holiday.objects.get(day=dt.date(2026, 2, 14))
    calendars.holiday_update(actor=org.service_manager, holiday=holiday, changes={"type": "holiday"},
                             expected_version=holiday.version)
    assert not calendars.is_working_day(dt.date(2026, 2, 14))


def test_holidays_load_fills_2026(org: Any) -> None:
    Holiday.objects.filter(day__year=2026).delete()
    Holiday.objects.create(day=dt.date(2026, 6, 1), type=Holiday.Type.HOLIDAY, name="公司假日")
    result = calendars.holidays_load(actor=org.service_manager, year=2026)
    assert result["created"] == len(calendars.package_days(2026)) and result["updated"] == 0
    spring = Holiday.objects.get(day=dt.date(2026, 2, 16))
    assert (spring.type, spring.name) == (Holiday.Type.HOLIDAY, "春节")
    saturday = Holiday.objects.get(day=dt.date(2026, 2, 14))
    assert (saturday.type, saturday.name) == (Holiday.Type.WORKDAY, "春节")
    assert Holiday.objects.get(day=dt.date(2026, 10, 1)).name == "国庆节"
    assert Holiday.objects.filter(day=dt.date(2026, 6, 1)).exists()  # entered by hand: kept
    # Only weekday holidays are stored (weekend days are off anyway).
    assert all(h.day.isoweekday() <= 5 for h in Holiday.objects.filter(day__year=2026, type="holiday"))
    assert all(h.day.isoweekday() > 5 for h in Holiday.objects.filter(day__year=2026, type="workday"))
    assert not calendars.is_working_day(dt.date(2026, 2, 16))
    assert calendars.is_working_day(dt.date(2026, 2, 14))
    assert AuditEvent.objects.filter(action="create", note="chinesecalendar").count() == result["created"]


def test_holidays_load_twice_changes_nothing_and_corrects_edits(org: Any) -> None:
    calendars.holidays_load(actor=org.service_manager, year=2026)
    Holiday.objects.filter(day=dt.date(2026, 2, 16)).update(name="改过")
    again = calendars.holidays_load(actor=org.service_manager, year=2026)
    assert again == {"year": 2026, "created": 0, "updated": 1}
    assert Holiday.objects.get(day=dt.date(2026, 2, 16)).name == "春节"


def test_holidays_load_refuses_an_unknown_year(org: Any) -> None:
    first, last = calendars.package_years()
    with pytest.raises(Invalid) as exc:
        calendars.holidays_load(actor=org.service_manager, year=last + 1)
    message = exc.value.errors["year"][0]
    assert f"{last + 1}" in message and f"{first} to {last}" in message
    with pytest.raises(Invalid) as exc:
        calendars.holidays_load(actor=org.service_manager, year="next")
    assert exc.value.errors["year"] == ["Enter a year, e.g. 2026."]
