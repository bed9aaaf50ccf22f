"""Secret link tokens (a customer's confirmation or survey link, an API token, a calendar feed):
the raw value is shown or mailed once and only its SHA-256 is stored, so a stolen database
holds no working link."""

from __future__ import annotations

import functools
import hashlib
import secrets
from typing import Any

from guanxi.core.errors import NotFound

TOKEN_MAX = 200  # a longer "token" from a link is refused before it is hashed


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh random token and its hash: (raw, SHA-256 hex)."""
    raw = secrets.token_urlsafe(32)
    return raw, hash_token(raw)


def token_lookup_hash(token: Any) -> str:
    """The hash to look ``token`` (from a link) up by; empty or longer than ``TOKEN_MAX`` → NotFound."""
    raw = str(token or "")
    if not raw or len(raw) > TOKEN_MAX:
        raise NotFound()
    return hash_token(raw)


LAST_USED_EVERY = 300  # seconds: an API token's last use is written at most this often


def api_token_user(raw: str) -> Any:
    """The active user a personal API token (its raw value) belongs to, with the user's role
    codes loaded, or None; the token's last use is noted at most every ``LAST_USED_EVERY`` s.

    Every API request asks this. It reads the token with its user, then the user's roles, in
    two plain statements: building the equivalent ORM queries cost several times more CPU than
    running them. Nothing is cached between requests, so a revoked token, an expired one or a
    deactivated user is refused on the very next request, in every process.
    """
    import datetime as dt

    from django.db import connections, router
    from django.utils import timezone

    from guanxi.core.models import ApiToken, User

    if not raw or len(raw) > TOKEN_MAX:
        return None
    db = router.db_for_read(ApiToken)
    token_sql, roles_sql = _api_token_sql(db)
    rows = list(User.objects.db_manager(db).raw(token_sql, [hash_token(raw)]))
    if not rows or not rows[0].is_active:
        return None
    user = rows[0]
    extra = user.__dict__
    # SQLite hands the token's datetimes back naive (in UTC), PostgreSQL aware.
    expires_at, last_used_at = (_aware(extra.pop(name), dt.UTC) for name in ("gx_expires_at", "gx_last_used_at"))
    token_id = extra.pop("gx_token_id")
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        return None
    if last_used_at is None or (now - last_used_at).total_seconds() > LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token_id).update(last_used_at=now)
    with connections[db].cursor() as cursor:
        cursor.execute(roles_sql, [user.pk])
        user._role_codes = frozenset(code for (code,) in cursor.fetchall())  # what User.role_codes() keeps
    return user


@functools.cache
def _api_token_sql(db: str) -> tuple[str, str]:
    """The two statements of :func:`api_token_user` for database ``db`` (names from the models)."""
    from django.db import connections

    from guanxi.core.models import ApiToken, Role, User

    qn = connections[db].ops.quote_name
    through = User.roles.through
    # The user's own columns (u.*) make the instance; the token's come along as gx_* attributes.
    token_sql = (
        f"SELECT u.*, t.id AS gx_token_id, t.expires_at AS gx_expires_at, t.last_used_at AS gx_last_used_at "  # noqa: S608
        f"FROM {qn(ApiToken._meta.db_table)} t JOIN {qn(User._meta.db_table)} u ON u.id = t.user_id "
        f"WHERE t.key_hash = %s AND t.revoked_at IS NULL")
    roles_sql = (
        f"SELECT r.code FROM {qn(through._meta.db_table)} ur JOIN {qn(Role._meta.db_table)} r "  # noqa: S608
        f"ON r.id = ur.{qn(through._meta.get_field('role').column)} "
        f"WHERE ur.{qn(through._meta.get_field('user').column)} = %s")
    return token_sql, roles_sql


def _aware(value: Any, tz: Any) -> Any:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=tz)
