"""Where the current change comes from (address, channel), for the audit log.

Services take the acting user explicitly; the request's address and the door it came
through (web, api, cli, job) travel in a context variable so that services need not
know about requests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    ip: str | None = None
    channel: str = "cli"


_DEFAULT = Origin()
_origin: ContextVar[Origin] = ContextVar("guanxi_origin", default=_DEFAULT)


def current() -> Origin:
    return _origin.get()


@contextlib.contextmanager
def origin(ip: str | None, channel: str) -> Iterator[None]:
    token = _origin.set(Origin(ip=ip, channel=channel))
    try:
        yield
    finally:
        _origin.reset(token)


def set_origin(ip: str | None, channel: str) -> None:
    _origin.set(Origin(ip=ip, channel=channel))
