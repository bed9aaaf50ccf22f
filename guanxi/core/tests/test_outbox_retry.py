"""The outbox's "retry now": an administrator sends a failed or waiting mail again at once; the
queue delivers it exactly once; nobody else can, and a sent mail is never sent again."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from guanxi.activities.tests.smtp import smtp_server
from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.mail import deliver_pending, outbox_retry, queue_mail
from guanxi.core.models import AuditEvent, Outbox

pytestmark = pytest.mark.django_db


def queued(key: str, to: str = "li@example.com", **state: Any) -> Outbox:
    queue_mail(EmailMessage(subject=f"报价单 {key}", body="正文", from_email="crm@example.com", to=[to]), key=key)
    if state:
        Outbox.objects.filter(key=key).update(**state)
    return Outbox.objects.get(key=key)


def snapshot(row: Outbox) -> tuple[Any, ...]:
    fresh = Outbox.objects.get(pk=row.pk)
    return (fresh.state, fresh.attempts, fresh.next_attempt_at, fresh.last_error, fresh.sent_at, fresh.message,
            AuditEvent.objects.exclude(action=AuditEvent.Action.LOGIN).count(), HUEY.pending_count())


def retry_audits(row: Outbox) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(content_type__model="outbox", object_id=str(row.pk)))


def test_an_administrator_retries_a_failed_mail_and_the_queue_delivers_it_once(
        org, login, settings, run_queue, django_capture_on_commit_callbacks):
    settings.GUANXI_MAIL_MAX_ATTEMPTS = 1
    with smtp_server(settings) as box:
        box.refuse.add("li@example.com")
        row = queued("refused")
        assert deliver_pending() == 0
        row.refresh_from_db()
        assert row.state == Outbox.State.FAILED and row.attempts == 1 and "550" in row.last_error
        box.refuse.clear()  # the mailbox exists now
        run_queue()  # nothing left from queueing
        with django_capture_on_commit_callbacks(execute=True):
            response = login(org.admin).post(f"/outbox/{row.pk}/retry/", {"state": "failed", "q": "报价"})
        assert response.status_code == 302
        assert response["Location"] == "/outbox/?state=failed&q=%E6%8A%A5%E4%BB%B7"
        row.refresh_from_db()
        assert (row.state, row.attempts, row.lease, row.claimed_at) == (Outbox.State.PENDING, 0, None, None)
        assert row.next_attempt_at <= timezone.now()
        assert box.messages == []  # not sent in the request: the queue does it
        assert run_queue() == 1  # core.tasks.deliver_mail
        assert run_queue() == 0 and deliver_pending() == 0
    assert len(box.messages) == 1 and str(box.messages[0]["To"]) == "li@example.com"
    row.refresh_from_db()
    assert row.state == Outbox.State.SENT and row.last_error == "" and row.attempts == 1
    [event] = retry_audits(row)
    assert (event.actor, event.action, event.channel, event.note) == (org.admin, "update", "web", "retry now")
    assert event.changes["state"] == ["failed", "pending"] and event.changes["attempts"] == [1, 0]
    assert event.object_repr == "报价单 refused"


def test_a_mail_held_back_after_a_refusal_goes_out_now(org, run_queue, django_capture_on_commit_callbacks):
    later = timezone.now() + dt.timedelta(hours=2)
    row = queued("held", attempts=3, next_attempt_at=later, last_error="451 try again later")
    run_queue()
    assert deliver_pending() == 0  # not due for two hours
    with django_capture_on_commit_callbacks(execute=True):
        retried = outbox_retry(actor=org.admin, outbox_id=row.pk)
    assert retried.state == Outbox.State.PENDING and retried.attempts == 0 and retried.next_attempt_at <= timezone.now()
    assert run_queue() == 1
    assert len(mail.outbox) == 1 and Outbox.objects.get(pk=row.pk).state == Outbox.State.SENT
    assert deliver_pending() == 0 and len(mail.outbox) == 1


def test_nobody_else_may_retry_and_nothing_changes(org, login, run_queue):
    row = queued("failed", state=Outbox.State.FAILED, attempts=8, last_error="550 no such user")
    run_queue()
    before = snapshot(row)
    for user in (org.gm, org.manager, org.salesperson, org.service_manager, org.marketing):
        assert login(user).post(f"/outbox/{row.pk}/retry/").status_code in {403, 404}
        with pytest.raises(Forbidden):
            outbox_retry(actor=user, outbox_id=row.pk)
    from django.test import Client

    anonymous = Client().post(f"/outbox/{row.pk}/retry/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert snapshot(row) == before and retry_audits(row) == []


def test_a_sent_mail_is_refused_with_a_clear_message(org, login, run_queue):
    row = queued("sent")
    assert deliver_pending() == 1
    run_queue()
    before = snapshot(row)
    client = login(org.admin)
    page = client.post(f"/outbox/{row.pk}/retry/", follow=True)
    assert page.status_code == 200
    sent_at = timezone.localtime(Outbox.objects.get(pk=row.pk).sent_at)
    # In the administrator's language (zh-hans, the default).
    assert f"这封邮件已于 {sent_at:%Y-%m-%d %H:%M} 发出，不会再次发送。" in page.content.decode()
    with pytest.raises(Invalid):
        outbox_retry(actor=org.admin, outbox_id=row.pk)
    assert snapshot(row) == before and retry_audits(row) == [] and len(mail.outbox) == 1


def test_a_mail_being_sent_is_refused(org, run_queue):
    row = queued("sending", state=Outbox.State.SENDING, attempts=1, claimed_at=timezone.now(), owner="elsewhere:1")
    run_queue()
    before = snapshot(row)
    with pytest.raises(Conflict):
        outbox_retry(actor=org.admin, outbox_id=row.pk)
    assert snapshot(row) == before


def test_a_missing_mail_is_404_and_get_is_refused(org, login):
    client = login(org.admin)
    assert client.post("/outbox/999999/retry/").status_code == 404
    with pytest.raises(NotFound):
        outbox_retry(actor=org.admin, outbox_id=999999)
    row = queued("get", state=Outbox.State.FAILED)
    assert client.get(f"/outbox/{row.pk}/retry/").status_code == 405
    assert Outbox.objects.get(pk=row.pk).state == Outbox.State.FAILED


def test_the_page_offers_retry_for_failed_and_waiting_mail_only(org, login):
    failed = queued("p-failed", state=Outbox.State.FAILED)
    waiting = queued("p-waiting", attempts=2, last_error="451")
    sent = queued("p-sent", state=Outbox.State.SENT, sent_at=timezone.now())
    sending = queued("p-sending", state=Outbox.State.SENDING)
    html = login(org.admin).get("/outbox/").content.decode()
    assert f'data-testid="outbox-retry-{failed.pk}"' in html and f'data-testid="outbox-retry-{waiting.pk}"' in html
    assert f'data-testid="outbox-retry-{sent.pk}"' not in html and f'data-testid="outbox-retry-{sending.pk}"' not in html
    assert f'action="/outbox/{failed.pk}/retry/"' in html and 'name="csrfmiddlewaretoken"' in html
