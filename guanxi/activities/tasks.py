"""Queue tasks of contact and follow-up: cadence planning, overdue notices, the morning digest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.conf import settings as django_settings
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guanxi.activities import services
from guanxi.activities.services.desk import followup_notify_overdue
from guanxi.activities.services.digest import digest_job_run
from guanxi.core import context


# --- My desk: overdue notices and the morning digest (R3.2, R13.10) ------------------------
def at_local_time(hhmm: str) -> Callable[[dt.datetime], bool]:
    """A periodic-task schedule firing once a day at ``hhmm`` in guanxi's time zone.

    huey hands the validator naive UTC (``utc=True``, the default) or naive local time;
    crontab() would compare either directly, which puts "07:30" at 15:30 in Shanghai.
    """
    hour, minute = (int(part) for part in hhmm.split(":"))

    def validate(timestamp: dt.datetime) -> bool:
        from huey.contrib.djhuey import HUEY

        aware = (timestamp.replace(tzinfo=dt.UTC) if HUEY.utc else timezone.make_aware(timestamp)) \
            if timezone.is_naive(timestamp) else timestamp
        local = timezone.localtime(aware)
        return (local.hour, local.minute) == (hour, minute)

    return validate


@db_periodic_task(at_local_time("06:05"))
def plan_cadence_followups() -> int:
    """Every morning before the digest: every owned account with nothing open gets its next
    cadence follow-up (so it is on the desk and in the digest the same day)."""
    with context.origin(None, "job"):
        return services.cadence_fill()


@db_periodic_task(crontab(minute="*/15"))
def notify_overdue_followups() -> int:
    """Every quarter of an hour: tell owners about follow-ups that became overdue."""
    with context.origin(None, "job"):
        return followup_notify_overdue()


@db_periodic_task(at_local_time(django_settings.GUANXI_DIGEST_TIME), retries=3, retry_delay=600)
def send_morning_digest() -> dict[str, int]:
    """Every morning: each person's digest mail, once (a retry or second run sends nothing twice)."""
    with context.origin(None, "job"):
        return digest_job_run()
