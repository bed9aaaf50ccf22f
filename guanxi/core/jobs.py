"""Background jobs: a Job row the user can watch, run by the task queue — at most once at a
time, to completion exactly once.

A handler is a function ``handler(job, progress)`` registered under a kind. It must be
idempotent and resumable: it reads ``job.checkpoint`` to skip what a crashed attempt
already committed, and calls ``progress.advance`` after each committed chunk, inside the
chunk's transaction.

Claims: ``execute`` takes a job with one conditional UPDATE (atomic on PostgreSQL and
SQLite) only if it is QUEUED, or RUNNING without a sign of life for
``GUANXI_JOB_STALE_SECONDS`` (or held by a process of this machine that no longer exists).
Each claim writes a fresh lease token; the heartbeat, the progress and the end are written
only under that token, so a worker that lost its claim (paused for minutes, then woke up)
cannot commit another chunk: ``Progress.advance`` raises ``LeaseLost`` in the chunk's
transaction, which rolls the chunk back. ``recover_jobs`` (a periodic task, and once when a
worker starts) hands lost jobs to the queue again.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from guanxi.core.models import Job, User

log = logging.getLogger(__name__)
Handler = Callable[[Job, "Progress"], dict[str, Any] | None]
_handlers: dict[str, Handler] = {}
MAX_ERRORS_KEPT = 500


class LeaseLost(RuntimeError):
    """Another worker has taken this job over; this one must stop without writing."""


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _handlers[kind] = fn
        return fn

    return register


def stale_after() -> dt.timedelta:
    return dt.timedelta(seconds=settings.GUANXI_JOB_STALE_SECONDS)


def heartbeat_every() -> float:
    return max(0.2, min(10.0, settings.GUANXI_JOB_STALE_SECONDS / 4))


def _machine() -> str:
    """This machine and process-id space: the host name and the PID namespace (containers
    sharing a host name do not share process ids)."""
    try:
        space = os.readlink("/proc/self/ns/pid")
    except OSError:
        space = ""
    return f"{socket.gethostname()}/{space}"


def this_process() -> str:
    return f"{_machine()}:{os.getpid()}"


def dead_owners(owners: set[str]) -> set[str]:
    """Of ``owners`` ("machine:pid"), those that are processes of this machine that no longer
    exist. Anything else (another machine, a process alive or not ours to ask) is left alone:
    it is taken over only once silent for the stale time."""
    host, me = _machine(), os.getpid()
    dead = set()
    for owner in owners:
        name, _, pid_text = owner.rpartition(":")
        if name != host or not pid_text.isdigit() or int(pid_text) == me:
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            dead.add(owner)
        except PermissionError:  # alive, someone else's
            continue
    return dead


def _claimable(now: dt.datetime) -> Q:
    """QUEUED, or RUNNING without a sign of life for the stale time."""
    cutoff = now - stale_after()
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff) | Q(
        heartbeat_at__isnull=True, started_at__isnull=True)
    return Q(state=Job.State.QUEUED) | Q(state=Job.State.RUNNING) & silent


class Progress:
    def __init__(self, job: Job, lease: uuid.UUID | None = None) -> None:
        self.job = job
        self.lease = lease

    def _mine(self) -> Any:
        rows = Job.objects.filter(pk=self.job.pk)
        return rows.filter(lease=self.lease) if self.lease is not None else rows

    def set_total(self, total: int) -> None:
        if not self._mine().update(total=total, heartbeat_at=timezone.now()):
            raise LeaseLost(str(self.job.pk))
        self.job.total = total

    def advance(self, done: int = 0, failed: int = 0, *, checkpoint: dict[str, Any] | None = None,
                errors: list[dict[str, Any]] | None = None) -> None:
        """Record progress; call inside the transaction that committed the chunk (a lost
        claim raises ``LeaseLost`` there, so the chunk is rolled back)."""
        fields: dict[str, Any] = {"done": F("done") + done, "failed": F("failed") + failed,
                                  "heartbeat_at": timezone.now()}
        if checkpoint is not None:
            fields["checkpoint"] = checkpoint
        kept = self.job.errors
        if errors:
            kept = (self.job.errors + errors)[:MAX_ERRORS_KEPT]
            fields["errors"] = kept
        if not self._mine().update(**fields):
            raise LeaseLost(str(self.job.pk))
        if checkpoint is not None:
            self.job.checkpoint = checkpoint
        self.job.errors = kept
        self.job.done += done
        self.job.failed += failed


class Heartbeat(threading.Thread):
    """Refreshes ``heartbeat_at`` while a handler runs, on a database connection of its own."""

    def __init__(self, job_id: Any, lease: uuid.UUID) -> None:
        super().__init__(name=f"job-heartbeat-{job_id}", daemon=True)
        self.job_id, self.lease = job_id, lease
        self.stop = threading.Event()
        self.lost = False

    def run(self) -> None:
        try:
            while not self.stop.wait(heartbeat_every()):
                try:
                    if not Job.objects.filter(pk=self.job_id, lease=self.lease).update(heartbeat_at=timezone.now()):
                        self.lost = True
                        return
                except Exception:  # a busy database: try again on the next beat
                    log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)
        finally:
            connection.close()


def job_start(*, actor: User | None, kind: str, params: dict[str, Any] | None = None) -> Job:
    """Create a job and queue it once the surrounding transaction commits."""
    if kind not in _handlers:
        raise KeyError(kind)
    job = Job.objects.create(kind=kind, params=params or {}, created_by=actor, queued_at=timezone.now())
    from guanxi.core.tasks import run_job

    transaction.on_commit(lambda: run_job(str(job.pk)))
    return job


def claim(job_id: str) -> uuid.UUID | None:
    """Take the job for this process, if nobody alive holds it; the lease token, or None."""
    now = timezone.now()
    lease = uuid.uuid4()
    fields: dict[str, Any] = {"state": Job.State.RUNNING, "started_at": now, "heartbeat_at": now,
                              "attempts": F("attempts") + 1, "lease": lease, "owner": this_process()}
    if Job.objects.filter(Q(pk=job_id) & _claimable(now)).update(**fields):
        return lease
    # Held by a process of this machine that is gone (killed, machine restarted): no need to wait.
    held = Job.objects.filter(pk=job_id, state=Job.State.RUNNING).values_list("owner", "lease").first()
    if held and held[0] in dead_owners({held[0]}):
        if Job.objects.filter(pk=job_id, state=Job.State.RUNNING, lease=held[1]).update(**fields):
            return lease
    return None


def execute(job_id: str) -> Job | None:
    """Run one job to its end. Called by the queue worker; safe to call again after a crash,
    and from several workers at once: only one runs it."""
    lease = claim(job_id)
    if lease is None:
        return Job.objects.filter(pk=job_id).first()  # finished, or running elsewhere: a no-op here
    job = Job.objects.get(pk=job_id)
    fn = _handlers[job.kind]
    mine = Job.objects.filter(pk=job_id, lease=lease)
    # Inside a caller's transaction (a test, a benchmark) nobody else sees the job: no heartbeat.
    beat = None if connection.in_atomic_block else Heartbeat(job.pk, lease)
    if beat is not None:
        beat.start()
    try:
        from guanxi.core import context

        with context.origin(None, "job"):
            result = fn(job, Progress(job, lease)) or {}
    except LeaseLost:
        log.warning("job %s was taken over by another worker; this run stops", job_id)
        return Job.objects.filter(pk=job_id).first()
    except Exception as exc:  # the job records its failure; the worker lives on
        log.exception("job %s failed", job_id)
        mine.update(
            state=Job.State.FAILED, finished_at=timezone.now(), lease=None,
            errors=[*job.errors, {"message": str(exc), "trace": traceback.format_exc()[-2000:]}][:MAX_ERRORS_KEPT],
        )
    else:
        if not mine.update(state=Job.State.DONE, finished_at=timezone.now(), result=result, lease=None):
            log.warning("job %s finished here but was taken over meanwhile", job_id)
    finally:
        if beat is not None:
            beat.stop.set()
            beat.join(timeout=5)  # a beat stuck on a busy database ends on its own, harmlessly
    return Job.objects.get(pk=job_id)


def recover_jobs(*, now: dt.datetime | None = None) -> int:
    """Hand lost jobs to the queue again: RUNNING ones without a sign of life (or whose
    process on this machine is gone) and QUEUED ones not handed to the queue for the stale
    time (their queue message was lost). A job handed twice still runs once: only one claim wins."""
    from guanxi.core.tasks import run_job

    now = now or timezone.now()
    cutoff = now - stale_after()
    # Handed to the queue since its last claim, and recently: its message is on the way.
    handed = Q(queued_at__gt=F("started_at"), queued_at__gte=cutoff)
    running = Q(state=Job.State.RUNNING) & ~handed
    silent = running & (Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True))
    waiting = Q(state=Job.State.QUEUED) & (Q(queued_at__lt=cutoff) | Q(queued_at__isnull=True, created_at__lt=cutoff))
    lost = set(Job.objects.filter(silent | waiting).values_list("pk", flat=True))
    alive = dict(Job.objects.filter(running).exclude(pk__in=lost).values_list("pk", "owner"))
    gone = dead_owners(set(alive.values()))
    lost |= {pk for pk, owner in alive.items() if owner in gone}
    for pk in sorted(lost, key=str):
        Job.objects.filter(pk=pk, state__in=[Job.State.QUEUED, Job.State.RUNNING]).update(queued_at=now)
        run_job(str(pk))
    if lost:
        log.info("recovered %d job(s)", len(lost))
    return len(lost)
