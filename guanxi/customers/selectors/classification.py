"""Customer-file reads: classification, always scoped by the access engine first."""

from __future__ import annotations

from typing import Any

from guanxi.customers.models import Account


def account_panel(user: Any, account: Account) -> dict[str, Any]:
    """Context for this area's part of the account 360 page (customers/_panel_classification.html)."""
    return {}
