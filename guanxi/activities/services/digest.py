"""The morning e-mail digest (R13.10): one mail a day per person, in their language.

Exactly once per person and day: a ``DigestSent`` row and the mail (into the outbox,
``guanxi.core.mail.queue_mail`` keyed by person and day) are written in one transaction,
under a unique (user, day) constraint. A second run the same day skips whoever has a row; a
run that crashed half-way resumes with those it did not reach; the outbox delivers each
mail once after commit and retries what the SMTP server refused. Two runs at once: the
second waits on the first one's row and then skips.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from guanxi.activities.models import DeskPreference, DigestSent
from guanxi.activities.selectors.desk import Digest, digest_for
from guanxi.activities.services.desk import overdue_list_url
from guanxi.core import jobs
from guanxi.core.mail import queue_mail
from guanxi.core.models import Job, User

log = logging.getLogger(__name__)
DIGEST_JOB = "activities.digest"
CHUNK = 25  # people per committed step of the digest job


def absolute(path: str) -> str:
    return settings.GUANXI_BASE_URL.rstrip("/") + path


def digest_recipients(day: dt.date) -> Any:
    """Active users with an address and the digest on, who have not had today's yet."""
    off = DeskPreference.objects.filter(user=OuterRef("pk"), morning_digest=False)
    sent = DigestSent.objects.filter(user=OuterRef("pk"), day=day)
    return (User.objects.filter(is_active=True).exclude(email="").exclude(Exists(off)).exclude(Exists(sent))
            .order_by("pk"))


def digest_message(digest: Digest, *, connection: Any = None) -> EmailMultiAlternatives:
    """The mail (plain text and HTML) of one digest, in its reader's language."""
    user = digest.user
    for note in digest.notifications:
        # Only our own paths become links in a mail.
        note.link = absolute(note.url) if note.url.startswith("/") and not note.url.startswith("//") else ""  # type: ignore[attr-defined]
    with translation.override(user.language or settings.LANGUAGE_CODE):
        context = {
            "digest": digest, "user": user, "base_url": settings.GUANXI_BASE_URL.rstrip("/"),
            "desk_url": absolute("/"), "overdue_url": absolute(overdue_list_url()),
            "notifications_url": absolute(reverse("core:notifications")),
        }
        subject = " ".join(render_to_string("activities/mail/digest_subject.txt", context).split())
        text = render_to_string("activities/mail/digest.txt", context)
        html = render_to_string("activities/mail/digest.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL,
                                     to=[user.email], connection=connection,
                                     headers={"Auto-Submitted": "auto-generated"})
    message.attach_alternative(html, "text/html")
    return message


def digest_send(*, user: User, now: dt.datetime, connection: Any = None) -> str:
    """Queue ``user``'s digest for the local day of ``now`` unless they had it already.

    Returns "sent" (queued in the outbox, delivered after commit), "empty" (nothing to tell:
    no mail, but the day counts as done) or "skipped" (already done today).
    """
    day = timezone.localtime(now).date()
    try:
        with transaction.atomic():
            row = DigestSent.objects.create(user=user, day=day, sent_at=now)
            with translation.override(user.language or settings.LANGUAGE_CODE):
                digest = digest_for(user, now)
            row.items = digest.items
            row.save(update_fields=["items"])
            if digest.items == 0:
                return "empty"
            queue_mail(digest_message(digest, connection=connection), key=f"digest:{user.pk}:{day.isoformat()}")
    except IntegrityError:
        return "skipped"
    return "sent"


def digest_send_all(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The morning job: everyone's digest into the outbox. Safe to run again.

    The outbox delivers the mails after each commit, retries what the SMTP server refuses and
    records failures (``failed`` stays 0 here: nothing is handed to SMTP by this job itself).
    """
    now = now or timezone.now()
    day = timezone.localtime(now).date()
    stats = {"sent": 0, "empty": 0, "skipped": 0, "failed": 0}
    for user in list(digest_recipients(day)):
        stats[digest_send(user=user, now=now)] += 1
    return stats


@jobs.handler(DIGEST_JOB)
def _digest_job(job: Job, progress: jobs.Progress) -> dict[str, int]:
    """The morning job as a Job: people in chunks, each chunk's digests, outbox rows and
    progress committed together. A worker killed half-way leaves whole chunks; the next run
    (recovered by ``core.tasks.recover_jobs``) carries on with those not reached yet."""
    now = dt.datetime.fromisoformat(job.params["now"])
    day = timezone.localtime(now).date()
    stats = {"sent": 0, "empty": 0, "skipped": 0, "failed": 0, **job.checkpoint.get("stats", {})}
    users = list(digest_recipients(day))
    progress.set_total(job.done + job.failed + len(users))
    for start in range(0, len(users), CHUNK):
        chunk = users[start:start + CHUNK]
        with transaction.atomic():
            for user in chunk:
                stats[digest_send(user=user, now=now)] += 1
            progress.advance(done=len(chunk), checkpoint={"stats": stats, "user": chunk[-1].pk})
    return stats


def digest_job_run(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Run the morning digest as a job in this process (the periodic task calls it): the job
    row shows its progress and lets another worker finish it if this one dies."""
    now = now or timezone.now()
    job = Job.objects.create(kind=DIGEST_JOB, params={"now": now.isoformat()}, queued_at=timezone.now())
    done = jobs.execute(str(job.pk))
    return dict(done.result) if done is not None and done.state == Job.State.DONE else {}
