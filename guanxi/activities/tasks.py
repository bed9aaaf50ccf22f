"""Queue tasks of contact and follow-up: cadence planning, overdue notices, the morning digest."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guanxi.activities import services


@db_periodic_task(crontab(minute="5", hour="6"))
def plan_cadence_followups() -> int:
    """Every morning: every owned account with nothing open gets its next cadence follow-up."""
    return services.cadence_fill()
