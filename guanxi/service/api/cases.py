"""REST API of the service app: cases."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["service"])
