"""Queue tasks of the core app: the job runner and periodic housekeeping."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from guanxi.core import jobs
from guanxi.core.models import AccessGrant, IdempotencyRecord


@db_task(retries=2, retry_delay=5)
def run_job(job_id: str) -> None:
    jobs.execute(job_id)


@db_periodic_task(crontab(minute="*/15"))
def expire_grants() -> int:
    """Mark approved grants whose time is over as revoked, so lists show them as ended."""
    return AccessGrant.objects.filter(
        state=AccessGrant.State.APPROVED, expires_at__lte=timezone.now()
    ).update(state=AccessGrant.State.REVOKED)


@db_periodic_task(crontab(minute="7", hour="3"))
def purge_idempotency_records() -> int:
    """Idempotency keys are honoured for 24 hours, as the API documentation promises."""
    cutoff = timezone.now() - dt.timedelta(hours=24)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
