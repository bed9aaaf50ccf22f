"""Outgoing mail through an outbox: queued in the transaction that decides to send it,
delivered by the queue after commit, never sent twice by guanxi.

``queue_mail(message, key=...)`` writes the whole message (addresses, headers, text, HTML
alternatives, attachments) into an ``Outbox`` row inside the caller's transaction: if that
transaction rolls back, no mail exists; if it commits, the mail will go out even when the
process dies the next instant (a periodic task delivers leftovers). The key is unique: a
retried job queueing the same mail again gets the row it queued before.

Delivery claims one row at a time with a conditional UPDATE (and SELECT ... FOR UPDATE SKIP
LOCKED where the database has it), so two workers never send the same row; it hands the
message to the SMTP server and marks the row SENT right after the server's "250 OK". A SENT
row is never claimed again. Failures are recorded on the row and retried with exponential
backoff, up to ``GUANXI_MAIL_MAX_ATTEMPTS``.

The one window no outbox can close: the SMTP server has accepted a message and the worker
is killed before the row is marked SENT (the few milliseconds of one UPDATE). The row stays
SENDING; once its claim is stale (``GUANXI_JOB_STALE_SECONDS``, at least four SMTP timeouts;
or at once when its process on this machine is gone) it is sent again, with the same Message-ID, which mail servers and
clients use to recognise a duplicate. A worker killed at any other moment loses nothing and
duplicates nothing.

An administrator can send a failed or waiting mail again at once (``outbox_retry``, the
"retry now" button of the outbox page): it waits again, due now, with a fresh count of attempts.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import smtplib
import uuid
from email.utils import format_datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.jobs import dead_owners, stale_after, this_process
from guanxi.core.models import Outbox
from guanxi.core.permissions import has_perm

log = logging.getLogger(__name__)
BACKOFF_CAP = dt.timedelta(hours=6)


# --- Queueing -------------------------------------------------------------------------------
def _serialise(message: EmailMessage) -> dict[str, Any]:
    attachments = []
    for attachment in message.attachments:
        if not isinstance(attachment, tuple):
            raise TypeError("queue_mail: attach files as (filename, content, mimetype), not MIME parts")
        filename, content, mimetype = attachment
        raw = content.encode() if isinstance(content, str) else bytes(content)
        attachments.append({"filename": filename, "content": base64.b64encode(raw).decode("ascii"),
                            "text": isinstance(content, str), "mimetype": mimetype})
    return {
        "subject": str(message.subject), "body": str(message.body), "from_email": message.from_email,
        "to": list(message.to), "cc": list(message.cc), "bcc": list(message.bcc),
        "reply_to": list(message.reply_to), "headers": dict(message.extra_headers),
        "content_subtype": message.content_subtype,
        "alternatives": [[str(content), mimetype]
                         for content, mimetype in getattr(message, "alternatives", [])],
        "attachments": attachments,
    }


def message_id_for(row: Outbox) -> str:
    domain = (settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip(" >") or "guanxi.localhost")
    digest = hashlib.sha256(row.key.encode()).hexdigest()[:16]
    return f"<outbox-{row.pk}.{digest}@{domain}>"


def queue_mail(message: EmailMessage, *, key: str) -> bool:
    """Put ``message`` in the outbox, in the caller's transaction; sent after commit.

    ``key`` names the mail for good (e.g. "digest:<user>:<day>"): queueing the same key again
    changes nothing and sends nothing more. True when queued now, False when it was before.
    """
    if not key or len(key) > 200:
        raise ValueError("queue_mail: key must be 1 to 200 characters")
    data = _serialise(message)
    recipients = [*data["to"], *data["cc"], *data["bcc"]]
    with transaction.atomic():
        row, created = Outbox.objects.get_or_create(key=key, defaults={
            "subject": data["subject"][:500], "to": ", ".join(recipients)[:2000], "message": data})
        if not created:
            return False
        row.message_id = message_id_for(row)
        data["headers"].setdefault("Date", format_datetime(timezone.localtime(row.created_at)))
        row.message = data
        row.save(update_fields=["message_id", "message"])
    pk = row.pk
    transaction.on_commit(lambda: _enqueue(pk))
    return True


def _enqueue(pk: int) -> None:
    from guanxi.core.tasks import deliver_mail

    try:
        deliver_mail(pk)
    except Exception:  # the queue is down: the periodic delivery sends it
        log.warning("could not queue delivery of outbox row %s", pk, exc_info=True)


def rebuild(row: Outbox, connection: Any = None) -> EmailMultiAlternatives:
    """The message stored in ``row``, ready for any mail backend."""
    data = row.message
    headers = dict(data.get("headers") or {})
    headers["Message-ID"] = row.message_id
    message = EmailMultiAlternatives(
        subject=data["subject"], body=data["body"], from_email=data["from_email"], to=data["to"],
        cc=data["cc"], bcc=data["bcc"], reply_to=data["reply_to"], headers=headers, connection=connection)
    message.content_subtype = data.get("content_subtype", "plain")
    for content, mimetype in data.get("alternatives", []):
        message.attach_alternative(content, mimetype)
    for item in data.get("attachments", []):
        raw = base64.b64decode(item["content"])
        message.attach(item["filename"], raw.decode() if item["text"] else raw, item["mimetype"])
    return message


# --- Delivery -------------------------------------------------------------------------------
def sending_stale_after() -> dt.timedelta:
    """A claim older than this belongs to a sender that died: the stale time of jobs, but never
    less than a slow SMTP conversation can take (a live sender must not be overtaken)."""
    return max(stale_after(), dt.timedelta(seconds=4 * (settings.EMAIL_TIMEOUT or 60)))


def _due(now: dt.datetime) -> Q:
    """Rows to send: waiting and due, or claimed by a sender silent for the stale time."""
    return (Q(state=Outbox.State.PENDING, next_attempt_at__lte=now)
            | Q(state=Outbox.State.SENDING, claimed_at__lt=now - sending_stale_after()))


def _claim(pk: int, now: dt.datetime) -> uuid.UUID | None:
    """Take row ``pk`` for this process if it is due: one conditional UPDATE, the guard
    that two senders never both hold a row (whatever the database)."""
    lease = uuid.uuid4()
    if Outbox.objects.filter(Q(pk=pk) & _due(now)).update(
            state=Outbox.State.SENDING, lease=lease, owner=this_process(), claimed_at=now,
            attempts=F("attempts") + 1):
        return lease
    return None


def _claim_next(now: dt.datetime, after: int) -> tuple[int, uuid.UUID | None] | None:
    """Pick and claim the next due row in one transaction; on PostgreSQL rows another
    sender is claiming are skipped (SKIP LOCKED) rather than waited for."""
    rows = Outbox.objects.filter(_due(now), pk__gt=after).order_by("pk")
    with transaction.atomic():
        if db_connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True)
        pk = rows.values_list("pk", flat=True).first()
        if pk is None:
            return None
        return pk, _claim(pk, now)


def _release_dead(now: dt.datetime) -> int:
    """Rows claimed by a process of this machine that no longer exists are due again at once
    (it may have been killed inside the window described above: sent again, same Message-ID)."""
    held = dict(Outbox.objects.filter(state=Outbox.State.SENDING).values_list("pk", "owner"))
    gone = dead_owners(set(held.values()))
    pks = [pk for pk, owner in held.items() if owner in gone]
    if not pks:
        return 0
    return Outbox.objects.filter(pk__in=pks, state=Outbox.State.SENDING, owner__in=gone).update(
        state=Outbox.State.PENDING, lease=None, claimed_at=None, next_attempt_at=now)


def _backoff(attempts: int) -> dt.timedelta:
    seconds = settings.GUANXI_MAIL_RETRY_SECONDS * 2 ** max(0, attempts - 1)
    return min(dt.timedelta(seconds=seconds), BACKOFF_CAP)


def _note(exc: BaseException, now: dt.datetime) -> str:
    return f"{timezone.localtime(now):%Y-%m-%d %H:%M:%S} {exc!r}"[:2000]


def _failed(pk: int, lease: uuid.UUID, exc: BaseException) -> None:
    """The server refused or dropped this mail: try again later, or give up after the last attempt."""
    attempts = Outbox.objects.filter(pk=pk).values_list("attempts", flat=True).first() or 0
    now = timezone.now()
    give_up = attempts >= settings.GUANXI_MAIL_MAX_ATTEMPTS
    Outbox.objects.filter(pk=pk, lease=lease).update(
        state=Outbox.State.FAILED if give_up else Outbox.State.PENDING, lease=None, claimed_at=None,
        next_attempt_at=now + _backoff(attempts), last_error=_note(exc, now))
    log.warning("mail %s failed (attempt %s): %s", pk, attempts, exc)


def _unreachable(pk: int, lease: uuid.UUID, exc: BaseException) -> None:
    """No SMTP server to talk to: not this mail's fault, so the attempt does not count."""
    now = timezone.now()
    Outbox.objects.filter(pk=pk, lease=lease).update(
        state=Outbox.State.PENDING, lease=None, claimed_at=None, attempts=F("attempts") - 1,
        next_attempt_at=now + _backoff(1), last_error=_note(exc, now))
    log.warning("SMTP server unreachable, mail %s waits: %s", pk, exc)


class _Sender:
    """One SMTP connection for a run of deliveries, opened when the first mail is claimed."""

    def __init__(self) -> None:
        self.connection: Any = None
        self.unreachable = False

    def send(self, pk: int, lease: uuid.UUID) -> bool:
        row = Outbox.objects.get(pk=pk)
        if self.connection is None:
            try:
                self.connection = get_connection()
                self.connection.open()
            except (smtplib.SMTPException, OSError) as exc:
                self.connection, self.unreachable = None, True
                _unreachable(pk, lease, exc)
                return False
        try:
            if not self.connection.send_messages([rebuild(row)]):
                raise smtplib.SMTPException("the mail backend sent nothing")
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            _failed(pk, lease, exc)
            self.close()
            return False
        # The server has the message: mark it at once (the only window, see the module docstring).
        # The body (one-time links in it) need not stay at rest once the server has it.
        Outbox.objects.filter(pk=pk, lease=lease).update(
            state=Outbox.State.SENT, sent_at=timezone.now(), lease=None, last_error="", message={})
        return True

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:  # noqa: S110 (a broken connection is dropped either way)
                pass
            self.connection = None


def deliver(pk: int) -> bool:
    """Send one queued mail now if it is due and nobody else is sending it."""
    lease = _claim(pk, timezone.now())
    if lease is None:
        return False
    sender = _Sender()
    try:
        return sender.send(pk, lease)
    finally:
        sender.close()


def deliver_pending(*, limit: int | None = None) -> int:
    """Send every due mail (the periodic task; tests call it too); stops early when the SMTP
    server cannot be reached. Returns how many were sent."""
    sent = tried = after = 0
    _release_dead(timezone.now())
    sender = _Sender()
    try:
        while limit is None or tried < limit:
            picked = _claim_next(timezone.now(), after)
            if picked is None:
                break
            after, lease = picked
            if lease is None:
                continue
            tried += 1
            if sender.send(after, lease):
                sent += 1
            elif sender.unreachable:
                break  # the others wait for the next run
    finally:
        sender.close()
    return sent


# --- By hand -------------------------------------------------------------------------------
# The administrators' right: who runs the organisation runs its mail (the outbox page itself
# is read with ``audit.view_all``, also theirs alone).
RETRY_PERMISSION = "org.manage"


@transaction.atomic
def outbox_retry(*, actor: Any, outbox_id: int) -> Outbox:
    """Send a failed or waiting mail again now (administrators): it waits again, due at once,
    its attempts counted afresh, and the queue delivers it after commit. A mail sent or being
    sent is refused: guanxi never sends a mail twice."""
    if not has_perm(actor, RETRY_PERMISSION):
        raise Forbidden()
    row = Outbox.objects.select_for_update().defer("message").filter(pk=outbox_id).first()
    if row is None:
        raise NotFound()
    if row.state == Outbox.State.SENT:
        raise Invalid(_("This mail was sent at %(time)s; it is not sent again.") % {
            "time": f"{timezone.localtime(row.sent_at):%Y-%m-%d %H:%M}" if row.sent_at else "?"})
    if row.state == Outbox.State.SENDING:
        raise Conflict(_("This mail is being sent right now; look again in a minute."))
    now = timezone.now()
    # Conditional on the state read: a sender that claimed the row meanwhile keeps it.
    if not Outbox.objects.filter(pk=row.pk, state=row.state).update(
            state=Outbox.State.PENDING, attempts=0, next_attempt_at=now, lease=None, claimed_at=None, owner=""):
        raise Conflict(_("This mail is being sent right now; look again in a minute."))
    audit.record(actor=actor, action="update", obj=row, object_repr=row.subject or row.key, note="retry now",
                 changes={"state": [row.state, Outbox.State.PENDING.value], "attempts": [row.attempts, 0],
                          "next_attempt_at": [audit.serialise(row.next_attempt_at), audit.serialise(now)]})
    pk = row.pk
    transaction.on_commit(lambda: _enqueue(pk))
    row.refresh_from_db()
    return row


def purge_sent(*, now: dt.datetime | None = None) -> int:
    """Sent and failed mail older than ``GUANXI_OUTBOX_KEEP_DAYS`` leaves the outbox."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.GUANXI_OUTBOX_KEEP_DAYS)
    deleted, _ = Outbox.objects.filter(state__in=[Outbox.State.SENT, Outbox.State.FAILED],
                                       created_at__lt=cutoff).delete()
    return deleted
