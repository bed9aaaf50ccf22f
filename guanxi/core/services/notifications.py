"""In-app notifications (R13.10); the e-mail digest reads the same rows."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from guanxi.core.models import Notification, User


def notify(user: User, *, title: str, body: str = "", url: str = "") -> Notification:
    return Notification.objects.create(user=user, title=str(title)[:200], body=body, url=url)


def notify_role(role_code: str, *, title: str, body: str = "", url: str = "", exclude: Any = None) -> int:
    users = User.objects.filter(is_active=True, roles__code=role_code).distinct()
    if exclude is not None:
        users = users.exclude(pk=exclude.pk)
    rows = [Notification(user=u, title=str(title)[:200], body=body, url=url) for u in users]
    Notification.objects.bulk_create(rows)
    return len(rows)


def notification_mark_read(*, actor: Any, ids: list[int] | None = None) -> int:
    qs = Notification.objects.filter(user=actor, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(id__in=ids)
    return qs.update(read_at=timezone.now())
