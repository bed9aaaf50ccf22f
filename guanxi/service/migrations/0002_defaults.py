"""Seed the service desk: business hours (09:00–18:00, Monday to Friday), the case categories,
a default SLA policy per severity and China's public holidays and adjusted working days
(调休) of every year the installed ``chinesecalendar`` knows from 2024 on.

Data, not UI strings: the names are the company's own words, edited on the service settings
pages, so they stay in Chinese here. What already exists is left alone (a category of the
same name, a default policy of the same severity, a day already in the calendar).
"""

import datetime

from django.db import migrations

# name, needs a supervisor's review of the reply
CATEGORIES = [
    ("产品质量", True),
    ("交付延误", False),
    ("服务态度", True),
    ("价格与账单", False),
    ("安装与维修", False),
    ("产品建议", False),
    ("其他", False),
]

DAY = 9 * 60  # business minutes of a working day (09:00–18:00)
# severity, first response, resolution (business minutes)
POLICIES = [
    ("critical", 30, DAY),
    ("high", 2 * 60, 2 * DAY),
    ("normal", 4 * 60, 5 * DAY),
    ("low", DAY, 10 * DAY),
]

HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}
FIRST_YEAR = 2024
WEEKDAYS = {1, 2, 3, 4, 5}


def official_days():
    """(day, type, name) of the holidays on Monday–Friday and the working weekend days."""
    try:
        import chinese_calendar
    except ImportError:  # pragma: no cover - the package is a dependency
        return []
    rows = []
    for day, english in chinese_calendar.holidays.items():
        if day.year >= FIRST_YEAR and day.isoweekday() in WEEKDAYS:
            rows.append((day, "holiday", HOLIDAY_NAMES.get(english, english)))
    for day, english in chinese_calendar.workdays.items():
        if day.year >= FIRST_YEAR and day.isoweekday() not in WEEKDAYS:
            rows.append((day, "workday", HOLIDAY_NAMES.get(english, english)))
    return sorted(rows)


def seed(apps, schema_editor):
    ServiceCalendar = apps.get_model("service", "ServiceCalendar")
    CaseCategory = apps.get_model("service", "CaseCategory")
    SlaPolicy = apps.get_model("service", "SlaPolicy")
    Holiday = apps.get_model("service", "Holiday")
    if not ServiceCalendar.objects.exists():
        ServiceCalendar.objects.create(day_start=datetime.time(9, 0), day_end=datetime.time(18, 0), weekdays="12345")
    for position, (name, review) in enumerate(CATEGORIES, start=1):
        if not CaseCategory.objects.filter(name=name).exists():
            CaseCategory.objects.create(name=name, needs_review=review, position=position)
    for severity, response, resolution in POLICIES:
        if not SlaPolicy.objects.filter(category__isnull=True, severity=severity).exists():
            SlaPolicy.objects.create(severity=severity, first_response_minutes=response,
                                     resolution_minutes=resolution, warn_percent=75)
    known = set(Holiday.objects.values_list("day", flat=True))
    Holiday.objects.bulk_create([Holiday(day=day, type=kind, name=name)
                                 for day, kind, name in official_days() if day not in known])


class Migration(migrations.Migration):

    dependencies = [
        ("service", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
