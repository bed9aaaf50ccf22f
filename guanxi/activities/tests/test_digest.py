"""The morning digest (R13.10): content, once a day, resumable, in the reader's language, and
delivered through a real SMTP server started by the tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone, translation

from guanxi.activities import tasks
from guanxi.activities.models import DeskPreference, DigestSent, FollowUp
from guanxi.activities.services import digest as digest_services
from guanxi.activities.services.digest import digest_send_all
from guanxi.activities.tests.smtp import parts, smtp_server
from guanxi.core.mail import deliver_pending
from guanxi.core.models import Job, Notification, Outbox
from guanxi.customers.models import Contact

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _base_url(settings: Any) -> None:
    settings.GUANXI_BASE_URL = "https://crm.example.com"


@pytest.fixture
def morning() -> dt.datetime:
    """07:30 today, local time, when the job runs."""
    return timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time(7, 30)))


@pytest.fixture
def reader(org: Any) -> Any:
    org.salesperson.email = "wangwei@example.com"
    org.salesperson.language = "en"
    org.salesperson.save(update_fields=["email", "language"])
    return org.salesperson


def day_of(account: Any, owner: Any, morning: dt.datetime) -> tuple[FollowUp, FollowUp]:
    late = FollowUp.objects.create(account=account, owner=owner, title="催回款", due_at=morning - dt.timedelta(days=1))
    today = FollowUp.objects.create(account=account, owner=owner, title="送样品", due_at=morning + dt.timedelta(hours=3))
    FollowUp.objects.create(account=account, owner=owner, title="下周的事", due_at=morning + dt.timedelta(days=5))
    return late, today


def test_the_digest_lists_overdue_today_care_and_unread_notifications(org, reader, account_factory, morning):
    account = account_factory(reader, name="宁波港务有限公司")
    day_of(account, reader, morning)
    Contact.objects.create(account=account, name="赵总", birthday=morning.date().replace(year=1975))
    Notification.objects.create(user=reader, title="2 of your accounts return to the pool", url="/accounts/")
    Notification.objects.create(user=reader, title="已读的", read_at=morning)
    assert digest_send_all(now=morning) == {"sent": 1, "empty": 0, "skipped": 0, "failed": 0}
    assert mail.outbox == []  # in the outbox until its transaction commits and the queue delivers it
    assert deliver_pending() == 1
    [message] = mail.outbox
    assert message.extra_headers["Message-ID"] == Outbox.objects.get().message_id
    assert message.to == ["wangwei@example.com"]
    assert message.subject == f"{reader}, your day {morning:%Y-%m-%d}: 1 overdue, 1 due today"
    text = message.body
    assert "Overdue follow-ups (1)" in text and "宁波港务有限公司 · 催回款" in text
    assert "Due today (1)" in text and "宁波港务有限公司 · 送样品" in text and "下周的事" not in text
    assert "Care today (1)" in text and "赵总" in text
    assert "Unread notifications (1)" in text and "return to the pool" in text and "已读的" not in text
    assert "https://crm.example.com/" in text
    html, kind = message.alternatives[0]
    assert kind == "text/html"
    assert f'href="https://crm.example.com/accounts/{account.pk}/"' in html and "催回款" in html
    assert 'href="https://crm.example.com/accounts/"' in html
    row = DigestSent.objects.get(user=reader)
    assert (row.day, row.items) == (morning.date(), 4)


def test_once_a_day_however_often_the_job_runs(org, reader, account_factory, morning):
    day_of(account_factory(reader), reader, morning)
    digest_send_all(now=morning)
    assert digest_send_all(now=morning + dt.timedelta(hours=2)) == {"sent": 0, "empty": 0, "skipped": 0, "failed": 0}
    assert deliver_pending() == 1 and len(mail.outbox) == 1
    # A lost race (another worker wrote the row first) is a skip, not a second mail.
    assert digest_services.digest_send(user=reader, now=morning) == "skipped"
    assert deliver_pending() == 0 and len(mail.outbox) == 1
    # The next morning is a new day.
    digest_send_all(now=morning + dt.timedelta(days=1))
    assert deliver_pending() == 1 and len(mail.outbox) == 2


def test_who_gets_no_mail(org, reader, account_factory, morning):
    for user, change in ((org.teammate, {"email": ""}), (org.manager, {"is_active": False}), (org.gm, {})):
        if change:
            for name, value in change.items():
                setattr(user, name, value)
        else:
            user.email = "gm@example.com"
        user.save()
        day_of(account_factory(user), user, morning)
    DeskPreference.objects.create(user=org.gm, morning_digest=False)  # switched it off
    org.service.email = "service@example.com"
    org.service.save(update_fields=["email"])  # nothing to tell: no mail, but the day is done
    day_of(account_factory(reader), reader, morning)
    stats = digest_send_all(now=morning)
    assert stats == {"sent": 1, "empty": 1, "skipped": 0, "failed": 0}
    deliver_pending()
    assert [m.to for m in mail.outbox] == [["wangwei@example.com"]]
    assert DigestSent.objects.get(user=org.service).items == 0


def test_a_crash_half_way_resumes_without_sending_twice(org, reader, account_factory, morning, monkeypatch):
    org.teammate.email = "lina@example.com"
    org.teammate.save(update_fields=["email"])
    day_of(account_factory(reader), reader, morning)
    day_of(account_factory(org.teammate), org.teammate, morning)
    real = digest_services.digest_for

    def crash_on_teammate(user: Any, now: dt.datetime, **kw: Any) -> Any:
        if user.pk == org.teammate.pk:
            raise RuntimeError("worker killed")
        return real(user, now, **kw)

    monkeypatch.setattr(digest_services, "digest_for", crash_on_teammate)
    with pytest.raises(RuntimeError):
        digest_send_all(now=morning)
    deliver_pending()
    assert [m.to for m in mail.outbox] == [["wangwei@example.com"]]
    assert not DigestSent.objects.filter(user=org.teammate).exists()  # rolled back with the crash
    monkeypatch.setattr(digest_services, "digest_for", real)
    assert digest_send_all(now=morning + dt.timedelta(minutes=10))["sent"] == 1
    deliver_pending()
    assert [m.to for m in mail.outbox] == [["wangwei@example.com"], ["lina@example.com"]]


def test_each_mail_is_in_its_readers_language(org, reader, account_factory, morning):
    org.teammate.email, org.teammate.language = "lina@example.com", "zh-hans"
    org.teammate.save(update_fields=["email", "language"])
    day_of(account_factory(reader), reader, morning)
    day_of(account_factory(org.teammate), org.teammate, morning)
    with translation.override("en"):  # whatever the job's own language is
        digest_send_all(now=morning)
        deliver_pending()
    by_address = {m.to[0]: m for m in mail.outbox}
    assert '<html lang="en">' in by_address["wangwei@example.com"].alternatives[0][0]
    assert '<html lang="zh-hans">' in by_address["lina@example.com"].alternatives[0][0]
    with translation.override("zh-hans"):
        heading = translation.gettext("Overdue follow-ups")
    assert heading in by_address["lina@example.com"].body


def test_the_task_runs_on_the_real_queue(org, reader, account_factory, morning, run_queue):
    day_of(account_factory(reader), reader, timezone.now())
    tasks.send_morning_digest()  # enqueue, as the scheduler does at 07:30
    assert run_queue() == 1
    [job] = Job.objects.filter(kind=digest_services.DIGEST_JOB)
    assert job.state == Job.State.DONE and job.done == job.total == 1 and job.attempts == 1
    assert job.result == {"sent": 1, "empty": 0, "skipped": 0, "failed": 0}
    assert deliver_pending() == 1
    assert len(mail.outbox) == 1


# --- Through a real SMTP server ------------------------------------------------------------------
def test_the_digest_reaches_a_real_smtp_server_once_with_chinese_intact(org, reader, account_factory, morning,
                                                                        settings):
    reader.language = "zh-hans"
    reader.save(update_fields=["language"])
    account = account_factory(reader, name="宁波港务有限公司")
    day_of(account, reader, morning)
    Notification.objects.create(user=reader, title="您的授权申请已批准", url="/grants/")
    with smtp_server(settings) as box:
        assert digest_send_all(now=morning)["sent"] == 1
        assert digest_send_all(now=morning + dt.timedelta(minutes=5))["sent"] == 0  # the job ran twice
        assert deliver_pending() == 1
        assert deliver_pending() == 0  # a sent mail is never sent again
    [message] = box.messages
    row = Outbox.objects.get()
    assert row.state == Outbox.State.SENT and message["Message-ID"] == row.message_id
    assert message["To"] == "wangwei@example.com" and message["From"] == settings.DEFAULT_FROM_EMAIL
    subject = str(message["Subject"])
    assert "王伟" in subject and f"{morning:%Y-%m-%d}" in subject  # RFC 2047 decoded back to Chinese
    text, html = parts(message)
    for body in (text, html):
        assert "宁波港务有限公司" in body and "催回款" in body and "送样品" in body and "您的授权申请已批准" in body
    assert "https://crm.example.com/" in text


def test_a_refused_address_is_retried_by_the_outbox_and_others_still_get_theirs(org, reader, account_factory,
                                                                                 morning, settings):
    settings.GUANXI_MAIL_RETRY_SECONDS = 0  # retries due at once (the backoff itself: core's outbox tests)
    org.teammate.email = "nobody@example.com"
    org.teammate.save(update_fields=["email"])
    day_of(account_factory(reader), reader, morning)
    day_of(account_factory(org.teammate), org.teammate, morning)
    with smtp_server(settings) as box:
        box.refuse.add("nobody@example.com")
        assert digest_send_all(now=morning) == {"sent": 2, "empty": 0, "skipped": 0, "failed": 0}
        assert deliver_pending() == 1
        refused = Outbox.objects.get(to="nobody@example.com")
        assert refused.state == Outbox.State.PENDING and refused.attempts == 1 and "550" in refused.last_error
        assert DigestSent.objects.filter(user=org.teammate).exists()  # the day is done; the mail waits
        box.refuse.clear()  # the mailbox was fixed
        assert deliver_pending() == 1
    assert sorted(str(m["To"]) for m in box.messages) == ["nobody@example.com", "wangwei@example.com"]
    assert set(Outbox.objects.values_list("state", flat=True)) == {Outbox.State.SENT}


def test_an_unreachable_smtp_server_loses_nothing_the_mail_waits_in_the_outbox(org, reader, account_factory,
                                                                              morning, settings):
    from guanxi.activities.tests.smtp import free_port

    day_of(account_factory(reader), reader, morning)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 5
    assert digest_send_all(now=morning)["sent"] == 1
    assert deliver_pending() == 0
    row = Outbox.objects.get()
    assert row.state == Outbox.State.PENDING and row.attempts == 0 and row.last_error  # not the mail's fault
    assert row.next_attempt_at > timezone.now()
    with smtp_server(settings) as box:  # the server is back; the retry is due
        Outbox.objects.update(next_attempt_at=timezone.now())
        assert deliver_pending() == 1
    assert [str(m["To"]) for m in box.messages] == ["wangwei@example.com"]
