"""What every sales service shares: the rights check, money arithmetic, currencies, codes.

Money is ``Decimal`` rounded half-up to the fen. A line's total is
``quantity × unit_price × (1 − discount%)``; with ``prices_include_tax`` (the Chinese
default: 含税价) the tax is the part of the total above ``total / (1 + rate)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from guanxi.core import codes
from guanxi.core.errors import Forbidden, Invalid
from guanxi.core.permissions import has_perm
from guanxi.sales.models import CNY, ExchangeRate

FEN = Decimal("0.01")
ZERO = Decimal("0")
HUNDRED = Decimal("100")


def require(actor: Any, perm: str) -> None:
    """The right first: every sales service starts here."""
    if not has_perm(actor, perm):
        raise Forbidden()


def raise_if(errors: dict[str, list[str]]) -> None:
    """Every field's messages at once, before anything is written."""
    if errors:
        raise Invalid(errors=errors)


def parse_day(value: Any, field: str, errors: dict[str, list[str]]) -> dt.date | None:
    """A date from a form or API value (a date passes as is); the field's message on anything else."""
    if isinstance(value, dt.date):
        return value
    try:
        parsed = parse_date(str(value or "").strip())
    except ValueError:
        parsed = None
    if parsed is None:
        errors.setdefault(field, []).append(_("Enter a valid date (YYYY-MM-DD)."))
    return parsed


def money(value: Decimal | int | str) -> Decimal:
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def decimal_field(value: Any, field: str, errors: dict[str, list[str]], *, minimum: Decimal | None = ZERO,
                  maximum: Decimal | None = None, required: bool = True) -> Decimal | None:
    """A Decimal from a form or API value, with the field's message on bad input."""
    if value in (None, ""):
        if required:
            errors.setdefault(field, []).append(_("This field is required."))
        return None
    try:
        number = Decimal(str(value).strip().replace(",", "").replace("，", ""))
    except (InvalidOperation, ValueError):
        errors.setdefault(field, []).append(_("Enter a number."))
        return None
    if not number.is_finite():
        errors.setdefault(field, []).append(_("Enter a number."))
        return None
    if minimum is not None and number < minimum:
        errors.setdefault(field, []).append(_("Enter a number of at least %(min)s.") % {"min": minimum})
        return None
    if maximum is not None and number > maximum:
        errors.setdefault(field, []).append(_("Enter a number of at most %(max)s.") % {"max": maximum})
        return None
    return number


@dataclass(frozen=True)
class LineFigures:
    total: Decimal  # after discount, as priced (tax included when prices include tax)
    discount: Decimal  # the amount taken off by the discount
    tax: Decimal


def line_figures(quantity: Decimal, unit_price: Decimal, discount_pct: Decimal, tax_rate: Decimal, *,
                 prices_include_tax: bool = True) -> LineFigures:
    gross = quantity * unit_price
    total = money(gross * (HUNDRED - discount_pct) / HUNDRED)
    if prices_include_tax:
        tax = money(total - total / (1 + tax_rate / HUNDRED))
    else:
        tax = money(total * tax_rate / HUNDRED)
    return LineFigures(total=total, discount=money(gross) - total, tax=tax)


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal  # before discounts
    discount: Decimal
    tax: Decimal
    total: Decimal  # what the customer pays
    max_discount: Decimal


def totals(lines: Iterable[Any], *, prices_include_tax: bool = True) -> Totals:
    """Totals of lines with quantity, unit_price, discount and tax_rate attributes."""
    subtotal = discount = tax = net = ZERO
    largest = ZERO
    for line in lines:
        figures = line_figures(line.quantity, line.unit_price, line.discount, line.tax_rate,
                               prices_include_tax=prices_include_tax)
        subtotal += money(line.quantity * line.unit_price)
        discount += figures.discount
        tax += figures.tax
        net += figures.total
        largest = max(largest, Decimal(line.discount))
    total = net if prices_include_tax else net + tax
    return Totals(subtotal=subtotal, discount=discount, tax=tax, total=total, max_discount=largest)


def rate_to_cny(currency: str, on: dt.date | None = None) -> Decimal:
    """CNY per unit of ``currency`` on a date: the latest rate valid then (CNY is 1)."""
    currency = (currency or CNY).upper()
    if currency == CNY:
        return Decimal("1")
    rate = (ExchangeRate.objects.filter(currency=currency, valid_from__lte=on or timezone.localdate())
            .order_by("-valid_from").values_list("rate", flat=True).first())
    if rate is None:
        raise Invalid(errors={"currency": [_("No exchange rate is set for %(currency)s.") % {"currency": currency}]})
    return rate


def next_code(sequence: str, prefix: str) -> str:
    """The next number of a sales document, e.g. BJ-2026-000123 for quotes (never reused)."""
    (number,) = codes.reserve(sequence)
    return f"{prefix}-{timezone.localdate().year}-{number:06d}"


def owner_department(owner: Any) -> Any:
    """An owned record's department is its owner's (what department scope filters on)."""
    return getattr(owner, "department_id", None)
