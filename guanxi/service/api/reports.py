"""REST API of the service app: reports."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["service"])
