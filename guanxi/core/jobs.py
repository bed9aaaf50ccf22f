"""Background jobs: a Job row the user can watch, run by the task queue.

A handler is a function ``handler(job, progress)`` registered under a kind. It must be
idempotent and resumable: it reads ``job.checkpoint`` to skip what a crashed attempt
already committed, and calls ``progress.advance`` after each committed chunk.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from guanxi.core.models import Job, User

log = logging.getLogger(__name__)
Handler = Callable[[Job, "Progress"], dict[str, Any] | None]
_handlers: dict[str, Handler] = {}
MAX_ERRORS_KEPT = 500


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _handlers[kind] = fn
        return fn

    return register


class Progress:
    def __init__(self, job: Job) -> None:
        self.job = job

    def set_total(self, total: int) -> None:
        Job.objects.filter(pk=self.job.pk).update(total=total, heartbeat_at=timezone.now())
        self.job.total = total

    def advance(self, done: int = 0, failed: int = 0, *, checkpoint: dict[str, Any] | None = None,
                errors: list[dict[str, Any]] | None = None) -> None:
        """Record progress; call inside the transaction that committed the chunk."""
        fields: dict[str, Any] = {"done": F("done") + done, "failed": F("failed") + failed,
                                  "heartbeat_at": timezone.now()}
        if checkpoint is not None:
            fields["checkpoint"] = checkpoint
            self.job.checkpoint = checkpoint
        if errors:
            kept = (self.job.errors + errors)[:MAX_ERRORS_KEPT]
            fields["errors"] = kept
            self.job.errors = kept
        Job.objects.filter(pk=self.job.pk).update(**fields)
        self.job.done += done
        self.job.failed += failed


def job_start(*, actor: User | None, kind: str, params: dict[str, Any] | None = None) -> Job:
    """Create a job and queue it once the surrounding transaction commits."""
    if kind not in _handlers:
        raise KeyError(kind)
    job = Job.objects.create(kind=kind, params=params or {}, created_by=actor)
    from guanxi.core.tasks import run_job

    transaction.on_commit(lambda: run_job(str(job.pk)))
    return job


def execute(job_id: str) -> Job | None:
    """Run one job to its end. Called by the queue worker; safe to call again after a crash."""
    claimed = Job.objects.filter(pk=job_id, state__in=[Job.State.QUEUED, Job.State.RUNNING]).update(
        state=Job.State.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now(), attempts=F("attempts") + 1
    )
    if not claimed:
        return Job.objects.filter(pk=job_id).first()  # already finished: running it again is a no-op
    job = Job.objects.get(pk=job_id)
    fn = _handlers[job.kind]
    try:
        from guanxi.core import context

        with context.origin(None, "job"):
            result = fn(job, Progress(job)) or {}
    except Exception as exc:  # the job records its failure; the worker lives on
        log.exception("job %s failed", job_id)
        Job.objects.filter(pk=job_id).update(
            state=Job.State.FAILED, finished_at=timezone.now(),
            errors=[*job.errors, {"message": str(exc), "trace": traceback.format_exc()[-2000:]}][:MAX_ERRORS_KEPT],
        )
    else:
        Job.objects.filter(pk=job_id).update(state=Job.State.DONE, finished_at=timezone.now(), result=result)
    return Job.objects.get(pk=job_id)
