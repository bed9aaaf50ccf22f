"""The mail outbox: queued with the change that causes it, delivered once through a real SMTP
server, retried with backoff, never sent twice; visible to administrators; purged."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from guanxi.activities.tests.smtp import free_port, parts, smtp_server
from guanxi.core import jobs
from guanxi.core import mail as outbox_mail
from guanxi.core.mail import deliver, deliver_pending, purge_sent, queue_mail
from guanxi.core.models import Outbox

pytestmark = pytest.mark.django_db


def message(to: str = "li@example.com", **kw: Any) -> EmailMultiAlternatives:
    m = EmailMultiAlternatives(subject=kw.get("subject", "您的报价单"), body="正文 text", from_email="crm@example.com",
                               to=[to], cc=kw.get("cc", []), bcc=kw.get("bcc", []), reply_to=["sales@example.com"],
                               headers={"Auto-Submitted": "auto-generated"})
    m.attach_alternative("<p>正文 html</p>", "text/html")
    return m


def test_nothing_is_sent_from_a_transaction_that_rolls_back():
    with pytest.raises(RuntimeError), transaction.atomic():
        queue_mail(message(), key="rolled-back")
        raise RuntimeError("the change failed")
    assert not Outbox.objects.exists()
    assert deliver_pending() == 0 and mail.outbox == []


def test_the_same_key_queues_one_mail(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        assert queue_mail(message(), key="k1") is True
        assert queue_mail(message(), key="k1") is False  # a retried job
    assert len(callbacks) == 1 and Outbox.objects.count() == 1
    assert deliver_pending() == 1 and deliver_pending() == 0
    assert len(mail.outbox) == 1


def test_the_whole_message_reaches_a_real_smtp_server_once(settings):
    m = message(cc=["cc@example.com"], bcc=["hidden@example.com"], subject="关于 70℃ 的改进")
    m.attach("报价.csv", "名称,数量\n螺丝,3\n", "text/csv")
    m.attach("logo.bin", b"\x00\x01\xff", "application/octet-stream")
    queue_mail(m, key="full")
    row = Outbox.objects.get()
    assert row.state == Outbox.State.PENDING and row.message_id.startswith(f"<outbox-{row.pk}.")
    assert row.to == "li@example.com, cc@example.com, hidden@example.com"
    with smtp_server(settings) as box:
        assert deliver(row.pk) is True
        assert deliver(row.pk) is False and deliver_pending() == 0  # sent is sent
    [got] = box.messages
    assert got["Message-ID"] == row.message_id and got["Date"]
    assert str(got["Subject"]) == "关于 70℃ 的改进" and got["Cc"] == "cc@example.com"
    assert got["Reply-To"] == "sales@example.com" and got["Auto-Submitted"] == "auto-generated"
    assert "hidden@example.com" not in str(got)  # Bcc travels in the envelope only
    text, html = parts(got)
    assert text.strip() == "正文 text" and "<p>正文 html</p>" in html
    attached = {a.get_filename(): a.get_content() for a in got.iter_attachments()}
    assert attached["报价.csv"].replace("\r\n", "\n") == "名称,数量\n螺丝,3\n"  # text travels with CRLF
    assert attached["logo.bin"] == b"\x00\x01\xff"
    row.refresh_from_db()
    assert row.state == Outbox.State.SENT and row.sent_at and row.attempts == 1
    assert row.message == {}  # the body (one-time links) does not stay at rest once sent


def test_refusals_are_retried_with_backoff_then_given_up(settings):
    settings.GUANXI_MAIL_MAX_ATTEMPTS = 3
    queue_mail(message("nobody@example.com"), key="refused")
    queue_mail(message("li@example.com"), key="fine")
    with smtp_server(settings) as box:
        box.refuse.add("nobody@example.com")
        assert deliver_pending() == 1
        row = Outbox.objects.get(key="refused")
        assert row.state == Outbox.State.PENDING and row.attempts == 1 and "550" in row.last_error
        first_wait = row.next_attempt_at - timezone.now()
        assert deliver_pending() == 0  # not due yet
        Outbox.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
        assert deliver_pending() == 0
        row.refresh_from_db()
        assert row.attempts == 2 and row.next_attempt_at - timezone.now() > first_wait  # backing off
        Outbox.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
        deliver_pending()
        row.refresh_from_db()
        assert row.state == Outbox.State.FAILED and row.attempts == 3
        Outbox.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
        assert deliver_pending() == 0  # given up: an administrator sees it in the outbox
    assert [str(m["To"]) for m in box.messages] == ["li@example.com"]


def test_an_unreachable_server_costs_no_attempt_and_stops_the_run(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    for i in range(3):
        queue_mail(message(), key=f"down-{i}")
    assert deliver_pending() == 0
    rows = list(Outbox.objects.order_by("pk"))
    assert [r.state for r in rows] == [Outbox.State.PENDING] * 3 and [r.attempts for r in rows] == [0, 0, 0]
    assert rows[0].last_error and not rows[1].last_error  # one try, then the run stopped


def test_a_row_being_sent_is_not_claimed_twice_until_its_sender_is_stale():
    queue_mail(message(), key="claim")
    row = Outbox.objects.get()
    now = timezone.now()
    assert outbox_mail._claim(row.pk, now) is not None
    assert outbox_mail._claim(row.pk, now) is None  # another sender: hands off
    assert deliver_pending() == 0 and mail.outbox == []
    # Its sender went silent for longer than the stale time: taken over (same Message-ID).
    Outbox.objects.filter(pk=row.pk).update(claimed_at=now - outbox_mail.sending_stale_after() - dt.timedelta(seconds=1))
    assert deliver_pending() == 1
    assert mail.outbox[0].extra_headers["Message-ID"] == row.message_id


def test_a_row_held_by_a_dead_process_of_this_machine_is_sent_at_once():
    import subprocess
    import sys

    queue_mail(message(), key="dead-owner")
    row = Outbox.objects.get()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    Outbox.objects.filter(pk=row.pk).update(state=Outbox.State.SENDING, claimed_at=timezone.now(),
                                            owner=f"{jobs._machine()}:{gone.stdout.strip()}")
    assert deliver_pending() == 1 and len(mail.outbox) == 1


def test_after_commit_the_queue_delivers(run_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        queue_mail(message(), key="on-commit")
    assert mail.outbox == []
    assert run_queue() == 1  # core.tasks.deliver_mail
    assert len(mail.outbox) == 1 and Outbox.objects.get().state == Outbox.State.SENT


def test_old_sent_and_failed_mail_is_purged(settings):
    settings.GUANXI_OUTBOX_KEEP_DAYS = 30
    for key, state, age in (("old-sent", "sent", 31), ("old-failed", "failed", 40), ("new-sent", "sent", 2),
                            ("old-pending", "pending", 60)):
        queue_mail(message(), key=key)
        Outbox.objects.filter(key=key).update(state=state, created_at=timezone.now() - dt.timedelta(days=age))
    assert purge_sent() == 2
    assert sorted(Outbox.objects.values_list("key", flat=True)) == ["new-sent", "old-pending"]


def test_administrators_see_the_outbox_others_do_not(org, login):
    queue_mail(message("wang@example.com", subject="生日祝福"), key="page-1")
    queue_mail(message("li@example.com", subject="报价单"), key="page-2")
    Outbox.objects.filter(key="page-2").update(state=Outbox.State.FAILED, last_error="550 no such user")
    admin = login(org.admin)
    page = admin.get("/outbox/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "wang@example.com" in html and "li@example.com" in html and "550 no such user" in html
    failed = admin.get("/outbox/", {"state": "failed"}).content.decode()
    assert "li@example.com" in failed and "wang@example.com" not in failed
    found = admin.get("/outbox/", {"q": "生日"}).content.decode()
    assert "wang@example.com" in found and "li@example.com" not in found
    for user in (org.gm, org.manager, org.salesperson, org.service_manager):
        assert login(user).get("/outbox/").status_code in {403, 404}
