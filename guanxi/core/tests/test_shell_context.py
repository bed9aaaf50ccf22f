"""The page shell's context: the unread-notification badge is counted when a page shows it, and
an htmx fragment (no shell) does not pay for it."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from guanxi.core.models import Notification

pytestmark = pytest.mark.django_db


def test_the_badge_counts_unread_notifications_once_per_page(org: Any, login: Any, account_factory: Any) -> None:
    for i in range(3):
        Notification.objects.create(user=org.salesperson, title=f"提醒{i}")
    Notification.objects.create(user=org.salesperson, title="已读", read_at=timezone.now())
    Notification.objects.create(user=org.teammate, title="别人的")
    client = login(org.salesperson)
    account = account_factory(org.salesperson)
    client.get(f"/accounts/{account.pk}/")
    with CaptureQueriesContext(connection) as ctx:
        body = client.get(f"/accounts/{account.pk}/").content.decode()
    assert 'data-testid="unread-count">3<' in body
    assert len([q for q in ctx.captured_queries if 'FROM "core_notification"' in q["sql"]]) == 1


def test_an_htmx_fragment_does_not_count_the_badge(org: Any, login: Any, account_factory: Any) -> None:
    Notification.objects.create(user=org.salesperson, title="提醒")
    client = login(org.salesperson)
    account = account_factory(org.salesperson)
    path = f"/accounts/{account.pk}/timeline/"
    client.get(path, HTTP_HX_REQUEST="true")
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path, HTTP_HX_REQUEST="true").status_code == 200
    assert not [q for q in ctx.captured_queries if 'FROM "core_notification"' in q["sql"]]
    # The same tab as a page of its own (no JavaScript) has the shell and its badge.
    assert 'data-testid="unread-count">1<' in client.get(path).content.decode()
