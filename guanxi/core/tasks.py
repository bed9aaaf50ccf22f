"""Queue tasks of the core app: the job runner, lost-job recovery, the mail outbox and
periodic housekeeping."""

from __future__ import annotations

import datetime as dt
import threading

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from guanxi.core import jobs, mail
from guanxi.core.models import AccessGrant, IdempotencyRecord


@db_task(retries=2, retry_delay=5)
def run_job(job_id: str) -> None:
    jobs.execute(job_id)


@db_periodic_task(crontab(minute="*"))
def recover_jobs() -> int:
    """Every minute: jobs whose worker died (or whose queue message was lost) go back on the queue."""
    return jobs.recover_jobs()


@db_task(retries=0)
def deliver_mail(outbox_id: int) -> bool:
    """Right after the transaction that queued it commits: send one mail."""
    return mail.deliver(outbox_id)


@db_periodic_task(crontab(minute="*"))
def deliver_outbox() -> int:
    """Every minute: mail still waiting (a retry is due, or its sender died) goes out."""
    return mail.deliver_pending()


@db_periodic_task(crontab(minute="17", hour="3"))
def purge_outbox() -> int:
    """Sent and failed mail leaves the outbox after GUANXI_OUTBOX_KEEP_DAYS."""
    return mail.purge_sent()


_started = threading.Lock()
_recovered: list[bool] = []


@HUEY.on_startup()
def recover_on_start() -> None:
    """When a worker process starts (each of its threads calls this; the first one acts):
    what the previous worker left behind is picked up at once, not at the next minute."""
    with _started:
        if _recovered:
            return
        _recovered.append(True)
    recover_jobs()
    deliver_outbox()


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
