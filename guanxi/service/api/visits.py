"""REST API of the service app: visits."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["service"])
