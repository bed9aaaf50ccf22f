"""Read replicas: reports, exports and analytics read from a streaming replica.

When ``DATABASE_REPLICA_URL`` is set, settings add ``DATABASES["replica"]`` and this router.
Code marked with :func:`replica_reads` — a view or API operation (decorator) or a block
(context manager) — reads from the replica; everything else reads from ``default``, and every
write goes to ``default`` whatever the mark. Inside a mark, reads still go to ``default``:

- inside a transaction on ``default`` (a service's ``atomic`` block sees its own writes and
  locks; ``select_for_update`` is a write query and so always on ``default``), and throughout a
  mark entered inside one (as in tests, which run in a transaction);
- for sessions and login throttling (a user who has just logged in must not look logged out
  because the replica is a moment behind);
- when the replica cannot be reached: entering a mark checks its connection (connecting if
  needed, else a ``SELECT 1`` on an open one) and, on failure, reads stay on ``default`` and
  the replica is left alone for ``REPLICA_RETRY_SECONDS`` — a report is slower, not broken.

A replica is behind by its replay lag (normally well under a second on one site): a report
may miss the last moment's changes. Pages that show what the user has just changed are never
marked. Without ``DATABASE_REPLICA_URL`` the mark does nothing.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, overload

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

log = logging.getLogger(__name__)

REPLICA = "replica"
REPLICA_RETRY_SECONDS = 30.0
# Apps whose rows must be read where they were just written.
PRIMARY_ONLY_APPS = frozenset({"sessions", "axes"})

_on_replica: ContextVar[bool] = ContextVar("guanxi_replica_reads", default=False)
_down_until = 0.0
_down_lock = threading.Lock()

F = TypeVar("F", bound=Callable[..., Any])


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def reading_from_replica() -> bool:
    """Would a read made here (outside a transaction) go to the replica?"""
    return _on_replica.get()


def mark_replica_down() -> None:
    global _down_until
    with _down_lock:
        _down_until = time.monotonic() + REPLICA_RETRY_SECONDS


def replica_available() -> bool:
    """Can the replica be read now? Connects (or checks an open connection) once; a failure
    makes reads stay on ``default`` for ``REPLICA_RETRY_SECONDS``."""
    if not replica_configured() or time.monotonic() < _down_until:
        return False
    conn = connections[REPLICA]
    try:
        if conn.connection is None:
            conn.ensure_connection()
        elif not conn.is_usable():
            conn.close()
            conn.ensure_connection()
    except DatabaseError as exc:
        log.warning("read replica unavailable, reading from the primary for %ss: %s", REPLICA_RETRY_SECONDS, exc)
        conn.close()
        mark_replica_down()
        return False
    return True


@contextmanager
def _replica_block() -> Iterator[None]:
    # A mark entered inside a transaction on default (a test's, a service's) reads from default
    # throughout, and does not touch the replica's connection.
    outside = not connections[DEFAULT_DB_ALIAS].in_atomic_block
    token = _on_replica.set(_on_replica.get() or (outside and replica_available()))
    try:
        yield
    finally:
        _on_replica.reset(token)


@overload
def replica_reads(func: F) -> F: ...


@overload
def replica_reads(func: None = None) -> Any: ...


def replica_reads(func: Callable[..., Any] | None = None) -> Any:
    """Read from the replica: ``@replica_reads`` on a view or API operation, or
    ``with replica_reads():`` around a block. Writes still go to ``default``."""
    if func is None:
        return _replica_block()

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _replica_block():
            return func(*args, **kwargs)

    return wrapper


class ReplicaRouter:
    """``DATABASE_ROUTERS`` entry used when ``DATABASES["replica"]`` exists."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        if (_on_replica.get() and model._meta.app_label not in PRIMARY_ONLY_APPS
                and not connections[DEFAULT_DB_ALIAS].in_atomic_block):
            return REPLICA
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # The replica holds the same rows as default: a record read from one may point at one of the other.
        both = {DEFAULT_DB_ALIAS, REPLICA}
        if obj1._state.db in both and obj2._state.db in both:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS  # the replica gets the schema by replication
