"""Jobs run at most once at a time and to completion once: claims, leases, heartbeats and the
recovery of jobs whose worker died (the S17 crash test runs real workers; these are the rules)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from guanxi.core import jobs
from guanxi.core.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def counting_kind() -> Any:
    """A job of three chunks; each chunk writes its effect (a checkpoint count) and progress together."""
    kind = "tests.three-chunks"
    runs: list[str] = []

    @jobs.handler(kind)
    def three(job: Job, progress: jobs.Progress) -> dict[str, Any]:
        runs.append(str(job.pk))
        progress.set_total(3)
        for step in range(job.checkpoint.get("step", 0), 3):
            with transaction.atomic():
                progress.advance(1, checkpoint={"step": step + 1})
        return {"steps": 3}

    yield kind, runs
    jobs._handlers.pop(kind, None)


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def running(kind: str, **fields: Any) -> Job:
    now = timezone.now()
    base = {"state": Job.State.RUNNING, "started_at": now, "heartbeat_at": now, "attempts": 1,
            "owner": "elsewhere:1", "lease": None}
    return Job.objects.create(kind=kind, **{**base, **fields})


def test_a_job_held_by_a_live_worker_is_not_run_again(counting_kind):
    kind, runs = counting_kind
    job = running(kind, owner=f"{jobs._machine()}:1")  # pid 1 is alive
    assert jobs.execute(str(job.pk)).state == Job.State.RUNNING
    assert runs == [] and Job.objects.get(pk=job.pk).attempts == 1


def test_a_silent_job_is_taken_over_and_finished_from_its_checkpoint(counting_kind, settings):
    kind, runs = counting_kind
    old = timezone.now() - dt.timedelta(seconds=settings.GUANXI_JOB_STALE_SECONDS + 5)
    job = running(kind, heartbeat_at=old, done=1, total=3, checkpoint={"step": 1})
    result = jobs.execute(str(job.pk))
    assert result.state == Job.State.DONE and result.done == 3 and result.attempts == 2 and result.lease is None
    assert runs == [str(job.pk)]
    assert jobs.execute(str(job.pk)).attempts == 2  # done is done


def test_a_job_whose_process_on_this_machine_is_gone_is_taken_over_at_once(counting_kind):
    kind, runs = counting_kind
    job = running(kind, owner=f"{jobs._machine()}:{dead_pid()}")
    assert jobs.execute(str(job.pk)).state == Job.State.DONE and runs == [str(job.pk)]


def test_a_worker_that_lost_its_claim_cannot_commit_another_chunk(counting_kind):
    kind, _runs = counting_kind
    job = Job.objects.create(kind=kind)
    first = jobs.claim(str(job.pk))
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - dt.timedelta(days=1))
    second = jobs.claim(str(job.pk))  # another worker took it over
    assert first and second and first != second
    stale = jobs.Progress(Job.objects.get(pk=job.pk), first)
    with pytest.raises(jobs.LeaseLost), transaction.atomic():
        Job.objects.filter(pk=job.pk).update(result={"written": "by the old worker"})  # the chunk's own write
        stale.advance(1)
    fresh = Job.objects.get(pk=job.pk)
    assert fresh.done == 0 and fresh.result == {}  # the chunk was rolled back with it
    jobs.Progress(fresh, second).advance(1)
    assert Job.objects.get(pk=job.pk).done == 1


def test_recover_jobs_hands_lost_jobs_to_the_queue_once_each(counting_kind, settings, run_queue):
    kind, runs = counting_kind
    long_ago = timezone.now() - dt.timedelta(seconds=settings.GUANXI_JOB_STALE_SECONDS + 5)
    silent = running(kind, heartbeat_at=long_ago)
    orphan = running(kind, owner=f"{jobs._machine()}:{dead_pid()}")
    lost_message = Job.objects.create(kind=kind, queued_at=long_ago)
    busy = running(kind)  # alive, elsewhere
    just_queued = Job.objects.create(kind=kind, queued_at=timezone.now())
    finished = Job.objects.create(kind=kind, state=Job.State.DONE, queued_at=long_ago)
    assert jobs.recover_jobs() == 3
    assert jobs.recover_jobs() == 0  # handed to the queue once, not again while that message is on its way
    assert run_queue() == 3
    states = {j.pk: Job.objects.get(pk=j.pk).state for j in (silent, orphan, lost_message, busy, just_queued,
                                                              finished)}
    assert states == {silent.pk: "done", orphan.pk: "done", lost_message.pk: "done", busy.pk: "running",
                      just_queued.pk: "queued", finished.pk: "done"}
    assert sorted(runs) == sorted(str(j.pk) for j in (silent, orphan, lost_message))  # each ran once


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # as the queue tests in test_jobs.py
def test_the_heartbeat_keeps_a_long_job_alive(settings):
    settings.GUANXI_JOB_STALE_SECONDS = 0.8  # a beat every 0.2 s
    kind = "tests.waits-for-a-beat"
    seen = threading.Event()

    @jobs.handler(kind)
    def wait_for_beat(job: Job, progress: jobs.Progress) -> dict[str, Any]:
        started = Job.objects.get(pk=job.pk).heartbeat_at
        for _ in range(200):  # until the heartbeat thread has written (no chunk in between)
            if Job.objects.get(pk=job.pk).heartbeat_at != started:
                seen.set()
                break
            threading.Event().wait(0.05)
        return {}

    try:
        job = Job.objects.create(kind=kind)
        assert jobs.execute(str(job.pk)).state == Job.State.DONE
        assert seen.is_set()
    finally:
        jobs._handlers.pop(kind, None)
