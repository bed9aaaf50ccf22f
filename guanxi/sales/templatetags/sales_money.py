"""Money in sales pages: two decimals, thousands separated, with the currency (¥ for CNY)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import template

register = template.Library()
SYMBOLS = {"CNY": "¥"}


@register.filter
def amount(value: Any, currency: str = "CNY") -> str:
    """``{{ contract.amount|amount:contract.currency }}`` → ``¥12,345.00`` or ``USD 1,200.00``."""
    if value in (None, ""):
        return ""
    try:
        number = Decimal(value).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError, TypeError):
        return str(value)
    code = (currency or "CNY").upper()
    text = f"{number:,.2f}"
    symbol = SYMBOLS.get(code)
    return f"{symbol}{text}" if symbol else f"{code} {text}"
