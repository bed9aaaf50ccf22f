"""REST API of the surveys: /surveys, /survey-invitations, /survey-responses."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["surveys"])
