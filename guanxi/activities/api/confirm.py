"""REST endpoints of contact and follow-up: confirm.

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

from ninja import Router

router = Router(tags=["confirm"])
