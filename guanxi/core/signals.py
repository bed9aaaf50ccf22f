"""Login, logout and failed logins go into the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
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
