"""The morning e-mail digest (R13.10): one mail a day per person, in their language.

Exactly once per person and day: a ``DigestSent`` row is written in the same transaction
as the mail is handed to the SMTP server, under a unique (user, day) constraint. A second
run the same day skips whoever has a row; a run that crashed half-way resumes with those
it did not reach; a mail the server refused rolls its row back, so the next run retries
it. Two runs at once: the second waits on the first one's row and then skips.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from guanxi.activities.models import DeskPreference, DigestSent
from guanxi.activities.selectors.desk import Digest, digest_for
from guanxi.activities.services.desk import overdue_list_url
from guanxi.core.models import User

log = logging.getLogger(__name__)


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
    """Send ``user`` their digest for the local day of ``now`` unless they had it already.

    Returns "sent", "empty" (nothing to tell: no mail, but the day counts as done) or
    "skipped" (already done today).
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
            # Inside the transaction: a refused mail rolls the row back and is retried.
            digest_message(digest, connection=connection).send()
    except IntegrityError:
        return "skipped"
    return "sent"


def digest_send_all(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The morning job: everyone's digest over one SMTP connection. Safe to run again.

    A mail that fails for one person (a refused address) is counted in ``failed`` and
    the others still go; the caller may run the job again to retry them. An SMTP server
    that cannot be reached at all raises before anything is recorded.
    """
    now = now or timezone.now()
    day = timezone.localtime(now).date()
    stats = {"sent": 0, "empty": 0, "skipped": 0, "failed": 0}
    users = list(digest_recipients(day))
    if not users:
        return stats
    connection = get_connection()
    connection.open()
    try:
        for user in users:
            try:
                stats[digest_send(user=user, now=now, connection=connection)] += 1
            except (smtplib.SMTPException, OSError) as exc:
                # One bad address or a dropped connection must not stop everybody else's mail.
                log.warning("morning digest to user %s failed: %s", user.pk, exc)
                stats["failed"] += 1
                connection.close()
    finally:
        connection.close()
    return stats
