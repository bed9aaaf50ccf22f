"""Secret link tokens (a customer's confirmation or survey link, an API token, a calendar feed):
the raw value is shown or mailed once and only its SHA-256 is stored, so a stolen database
holds no working link."""

from __future__ import annotations

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
