"""Login, logout and failed logins go into the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_migrate
from django.dispatch import receiver

from guanxi.core import audit, context
from guanxi.core.middleware import client_ip


def _with_origin(request: Any, fn: Any) -> None:
    if request is None:
        fn()
        return
    with context.origin(client_ip(request), "api" if request.path.startswith("/api/") else "web"):
        fn()


@receiver(user_logged_in)
def on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    _with_origin(request, lambda: audit.record(actor=user, action="login", obj=user))


@receiver(user_logged_out)
def on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        _with_origin(request, lambda: audit.record(actor=user, action="logout", obj=user))


@receiver(user_login_failed)
def on_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))[:150]
    _with_origin(request, lambda: audit.record(actor=None, action="login_failed", obj=None, object_repr=username))


def refresh_planner_statistics(using: str = "default", **kwargs: Any) -> None:
    """After migrations on SQLite: give indexes added since the last ANALYZE their statistics.

    SQLite plans with the statistics ANALYZE left (the demo loader and bulk loads run it); an
    index a later migration adds has none, and the planner may then prefer it wrongly
    (measured at M: the desk's overdue list read 2,759 accounts through a new index, 11 ms,
    instead of 10 follow-ups, 1 ms). A database never analysed is left alone (small, and the
    planner's defaults serve it). PostgreSQL's autovacuum keeps its own statistics.
    """
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
        if cursor.fetchone() is None:
            return
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                       "AND name NOT IN (SELECT idx FROM sqlite_stat1 WHERE idx IS NOT NULL)")
        for (name,) in cursor.fetchall():
            cursor.execute('ANALYZE "%s"' % name.replace('"', '""'))  # noqa: UP031 (an index name read from sqlite_master)


post_migrate.connect(refresh_planner_statistics, dispatch_uid="guanxi.core.refresh_planner_statistics")
