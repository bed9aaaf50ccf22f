"""Personal API tokens: shown once, stored as a SHA-256 hash, revoked on deactivation."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.errors import Invalid, NotFound
from guanxi.core.models import ApiToken
from guanxi.core.tokens import hash_token

TOKEN_PREFIX = "gx_"  # noqa: S105  (a public prefix, not a secret)


@transaction.atomic
def token_create(*, actor: Any, name: str) -> tuple[ApiToken, str]:
    """Create a token for ``actor``; return it with the raw value, which is never stored."""
    name = (name or "").strip()[:100] or _("API token")
    if not actor.is_active:
        raise Invalid(_("This account is inactive."))
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=actor, name=name, prefix=raw[:10], key_hash=hash_token(raw))
    audit.record(actor=actor, action="create", obj=token, changes={"name": [None, name]})
    return token, raw


@transaction.atomic
def token_revoke(*, actor: Any, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(pk=token_id, user=actor, revoked_at__isnull=True).first()
    if token is None:
        raise NotFound()
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit.record(actor=actor, action="delete", obj=token)
    return token


def actor_repr(actor: Any) -> str:
    return actor.get_username() if getattr(actor, "is_authenticated", False) else "anonymous"
