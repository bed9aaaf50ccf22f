"""Helpers for the public pages that need no login (the feedback forms, the case, visit and
survey links): the company they speak for, the allowance per client address, and the language
an anonymous visitor reads the page in."""

from __future__ import annotations

import re
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import translation

from guanxi.core.middleware import client_ip

_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def company_name() -> str:
    """The company the public pages speak for (``GUANXI_COMPANY_NAME``; empty when unset)."""
    return (getattr(settings, "GUANXI_COMPANY_NAME", "") or "").strip()


def rate_setting(name: str, default: str) -> tuple[int, int]:
    """(requests, seconds) from the setting ``name`` ("30/10m": thirty per ten minutes); the
    ``default`` (same form) when it is unset or unreadable."""
    raw = str(getattr(settings, name, default) or default)
    found = _RATE_RE.match(raw) or _RATE_RE.match(default)
    assert found is not None
    count, number, unit = found.groups()
    return int(count), int(number or 1) * _UNIT_SECONDS[unit]


def over_rate(request: HttpRequest, prefix: str, rate: tuple[int, int]) -> bool:
    """Count this request against the client address's allowance of ``rate`` (requests,
    seconds), counted in the cache under ``<prefix>:<address>:<window>``; True once it is used up."""
    count, seconds = rate
    window = int(time.time() // seconds)
    key = f"{prefix}:{client_ip(request) or '-'}:{window}"
    cache.add(key, 0, timeout=seconds + 5)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=seconds + 5)
        used = 1
    return used > count


def activate_visitor_language(request: HttpRequest) -> None:
    """An anonymous visitor reads the page in the language they chose (the switch's cookie), else
    in their browser's between Chinese and English, else Chinese; signed-in staff keep their own."""
    if getattr(request.user, "is_authenticated", False):
        return
    language = translation.get_language_from_request(request)
    if language not in dict(settings.LANGUAGES):
        language = settings.LANGUAGE_CODE
    translation.activate(language)
    request.LANGUAGE_CODE = language  # type: ignore[attr-defined]
