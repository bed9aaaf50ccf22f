"""Sales services: price lists, their prices, and the exchange-rate table.

Everything here needs ``product.manage``. A price list's prices (product × from-quantity)
are part of the list: adding, changing or removing one is audited on the list, so its
history tells who changed which price. Rates are never removed: documents fix the rate of
their day when written (``common.rate_to_cny``), and a new rate from a later date
supersedes an earlier one; a mistyped rate is corrected in place.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

from babel.core import get_global
from babel.numbers import get_territory_currencies
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.errors import Conflict, Invalid
from guanxi.core.services import records
from guanxi.customers.services import clean_fields
from guanxi.sales.models import CNY, ExchangeRate, PriceList, PriceListItem, Product
from guanxi.sales.services.common import raise_if, require
from guanxi.sales.services.products import money_value, restore, soft_delete

PRICELIST_EDITABLE = ("name", "currency", "grade", "province", "channel", "valid_from", "valid_until", "priority",
                      "active")
ITEM_EDITABLE = ("min_quantity", "price")
RATE_EDITABLE = ("rate", "valid_from")
MAX_QUANTITY = Decimal("99999999999.999")  # 14 digits, 3 decimals
MAX_RATE = Decimal("9999999999.999999")  # 16 digits, 6 decimals


# --- Currencies -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def iso_currencies() -> frozenset[str]:
    """ISO 4217 codes legal tender somewhere today (CLDR, through babel)."""
    codes: set[str] = set()
    for territory in get_global("territory_currencies"):
        codes.update(get_territory_currencies(territory))
    return frozenset(codes)


def clean_currency(value: Any, errors: dict[str, list[str]], field: str = "currency") -> str:
    code = str(value or "").strip().upper()
    if not code:
        errors.setdefault(field, []).append(_("Enter the currency's ISO code, e.g. USD."))
    elif code not in iso_currencies():
        errors.setdefault(field, []).append(_("%(code)s is not an ISO 4217 currency code (e.g. USD, EUR, HKD).")
                                            % {"code": code[:8]})
    return code


def currency_errors(code: str, errors: dict[str, list[str]], field: str = "currency") -> None:
    """Prices in a currency other than CNY need a rate to CNY (documents convert with it)."""
    code = clean_currency(code, errors, field)
    if field in errors or code == CNY:
        return
    if not ExchangeRate.objects.filter(currency=code).exists():
        errors.setdefault(field, []).append(_("No exchange rate is set for %(currency)s: add one under Exchange "
                                              "rates first.") % {"currency": code})


# --- Price lists -----------------------------------------------------------------------------------
def _validate_pricelist(obj: PriceList | None, changes: dict[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - set(PRICELIST_EDITABLE)
    if unknown:
        raise Invalid(errors={k: [_("This field cannot be set here.")] for k in sorted(unknown)})
    cleaned, errors = clean_fields(PriceList, obj, changes, required={"name": _("Give the price list a name.")},
                                   upper=("currency",))
    if "currency" in cleaned and "currency" not in errors and (obj is None or cleaned["currency"] != obj.currency):
        currency_errors(cleaned["currency"], errors)
    if "grade" in cleaned and cleaned["grade"] and "grade" not in errors:
        from guanxi.customers.models import Grade

        grade = Grade.objects.filter(code__iexact=cleaned["grade"]).values_list("code", flat=True).first()
        if grade is None:
            errors["grade"] = [_("Choose one of the customer grades.")]
        else:
            cleaned["grade"] = grade
    starts = cleaned.get("valid_from", obj.valid_from if obj else None)
    ends = cleaned.get("valid_until", obj.valid_until if obj else None)
    if starts and ends and ends < starts and not ({"valid_from", "valid_until"} & set(errors)):
        errors["valid_until"] = [_("The end date cannot be before the start date.")]
    raise_if(errors)
    return cleaned


@transaction.atomic
def pricelist_create(*, actor: Any, name: str, **fields: Any) -> PriceList:
    """A price list for some customers (grade, province, channel; empty = everyone) over a period."""
    require(actor, "product.manage")
    cleaned = _validate_pricelist(None, {"currency": CNY, **fields, "name": name})
    price_list = PriceList.objects.create(**cleaned)
    audit.record(actor=actor, action="create", obj=price_list,
                 changes=audit.creation_changes(price_list, [*PRICELIST_EDITABLE], skip_empty=True))
    return price_list


@transaction.atomic
def pricelist_update(*, actor: Any, price_list: PriceList, changes: dict[str, Any],
                     expected_version: int | None) -> PriceList:
    require(actor, "product.manage")
    if price_list.deleted_at is not None:
        raise Invalid(_("This price list is in the recycle bin; restore it first."))
    cleaned = _validate_pricelist(price_list, changes)
    records.apply_update(actor=actor, obj=price_list, changes=cleaned, expected_version=expected_version)
    return price_list


@transaction.atomic
def pricelist_delete(*, actor: Any, price_list: PriceList, expected_version: int | None = None) -> PriceList:
    """To the recycle bin with its prices (they stay on it and come back with it)."""
    require(actor, "product.manage")
    return soft_delete(actor=actor, obj=price_list, expected_version=expected_version)  # type: ignore[no-any-return]


@transaction.atomic
def pricelist_restore(*, actor: Any, price_list: PriceList) -> PriceList:
    require(actor, "product.manage")
    return restore(actor=actor, obj=price_list)  # type: ignore[no-any-return]


# --- Prices on a list ---------------------------------------------------------------------------------
def item_label(item: PriceListItem) -> str:
    return f"{item.product.code} ≥{item.min_quantity.normalize():f}: {item.price}"


def _validate_item(changes: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if "min_quantity" in changes:
        cleaned["min_quantity"] = money_value(changes["min_quantity"], "min_quantity", errors, places=3,
                                              maximum=MAX_QUANTITY, positive=True)
    if "price" in changes:
        cleaned["price"] = money_value(changes["price"], "price", errors)
    raise_if(errors)
    # As stored: the returned item and its audit row read like the database's.
    if "min_quantity" in cleaned:
        cleaned["min_quantity"] = cleaned["min_quantity"].quantize(Decimal("0.001"))
    if "price" in cleaned:
        cleaned["price"] = cleaned["price"].quantize(Decimal("0.01"))
    return cleaned


def _usable(price_list: PriceList) -> None:
    if price_list.deleted_at is not None:
        raise Invalid(_("This price list is in the recycle bin; restore it first."))


def _taken() -> Invalid:
    return Invalid(errors={"min_quantity": [_("This product already has a price from this quantity on this list; "
                                              "change that price instead.")]})


@transaction.atomic
def price_item_add(*, actor: Any, price_list: PriceList, product: Product | None, price: Any,
                   min_quantity: Any = 1) -> PriceListItem:
    """Price ``product`` on the list from ``min_quantity`` on (a quantity break)."""
    require(actor, "product.manage")
    _usable(price_list)
    errors: dict[str, list[str]] = {}
    if product is None or product.deleted_at is not None:
        errors["product"] = [_("Choose a product of the catalogue.")]
    try:
        cleaned = _validate_item({"min_quantity": min_quantity, "price": price})
    except Invalid as exc:
        errors.update(exc.errors)
        cleaned = {}
    raise_if(errors)
    assert product is not None
    if PriceListItem.objects.filter(price_list=price_list, product=product,
                                    min_quantity=cleaned["min_quantity"]).exists():
        raise _taken()
    try:
        with transaction.atomic():
            item = PriceListItem.objects.create(price_list=price_list, product=product, **cleaned)
    except IntegrityError:
        raise _taken() from None
    audit.record(actor=actor, action="update", obj=price_list, changes={"price": [None, item_label(item)]})
    return item


@transaction.atomic
def price_item_update(*, actor: Any, item: PriceListItem, changes: dict[str, Any],
                      expected_version: int | None) -> PriceListItem:
    """Change a price or its from-quantity (stale ``expected_version`` → Conflict)."""
    require(actor, "product.manage")
    _usable(item.price_list)
    unknown = set(changes) - set(ITEM_EDITABLE)
    if unknown:
        raise Invalid(errors={k: [_("This field cannot be set here.")] for k in sorted(unknown)})
    cleaned = _validate_item(changes)
    if expected_version is not None and int(expected_version) != item.version:
        raise Conflict()
    if not any(getattr(item, k) != v for k, v in cleaned.items()):
        return item
    before = item_label(item)
    now = timezone.now()
    try:
        with transaction.atomic():
            rows = PriceListItem.objects.filter(pk=item.pk, version=item.version).update(
                **cleaned, version=F("version") + 1, updated_at=now)
    except IntegrityError:
        raise _taken() from None
    if rows != 1:
        raise Conflict()
    for name, value in cleaned.items():
        setattr(item, name, value)
    item.version += 1
    item.updated_at = now
    audit.record(actor=actor, action="update", obj=item.price_list, changes={"price": [before, item_label(item)]})
    return item


@transaction.atomic
def price_item_remove(*, actor: Any, item: PriceListItem, expected_version: int | None = None) -> None:
    """Take a price off its list; the list's history keeps what it was."""
    require(actor, "product.manage")
    _usable(item.price_list)
    if expected_version is not None and int(expected_version) != item.version:
        raise Conflict()
    if PriceListItem.objects.filter(pk=item.pk, version=item.version).delete()[0] != 1:
        raise Conflict()
    audit.record(actor=actor, action="update", obj=item.price_list, changes={"price": [item_label(item), None]})


# --- Exchange rates ----------------------------------------------------------------------------------
def _rate_taken(currency: str) -> Invalid:
    return Invalid(errors={"valid_from": [_("%(currency)s already has a rate from this date; change that one.")
                                          % {"currency": currency}]})


def _validate_rate(obj: ExchangeRate | None, changes: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if "currency" in changes:
        cleaned["currency"] = clean_currency(changes["currency"], errors)
        if cleaned["currency"] == CNY:
            errors["currency"] = [_("CNY is the home currency; its rate is always 1.")]
    if "rate" in changes:
        rate = money_value(changes["rate"], "rate", errors, places=6, maximum=MAX_RATE, positive=True)
        cleaned["rate"] = rate.quantize(Decimal("0.000001")) if rate is not None else None
    if "valid_from" in changes:
        dates, date_errors = clean_fields(ExchangeRate, obj, {"valid_from": changes["valid_from"]},
                                          required={"valid_from": _("Enter the date the rate applies from.")})
        errors.update(date_errors)
        cleaned.update(dates)
    raise_if(errors)
    currency = cleaned.get("currency", obj.currency if obj else "")
    valid_from = cleaned.get("valid_from", obj.valid_from if obj else None)
    if valid_from is None:  # cannot happen: required on create, kept on update
        return cleaned
    same_day = ExchangeRate.objects.filter(currency=currency, valid_from=valid_from)
    if (same_day.exclude(pk=obj.pk) if obj is not None else same_day).exists():
        raise _rate_taken(currency)
    return cleaned


@transaction.atomic
def exchange_rate_create(*, actor: Any, currency: str, rate: Any, valid_from: Any) -> ExchangeRate:
    """CNY per unit of ``currency`` from ``valid_from`` on (until a later rate)."""
    require(actor, "product.manage")
    cleaned = _validate_rate(None, {"currency": currency, "rate": rate, "valid_from": valid_from})
    try:
        with transaction.atomic():
            row = ExchangeRate.objects.create(**cleaned)
    except IntegrityError:
        raise _rate_taken(cleaned["currency"]) from None
    audit.record(actor=actor, action="create", obj=row, changes=audit.creation_changes(row, ["currency", "rate",
                                                                                             "valid_from"]))
    return row


@transaction.atomic
def exchange_rate_update(*, actor: Any, rate: ExchangeRate, changes: dict[str, Any],
                         expected_version: int | None) -> ExchangeRate:
    """Correct a rate or its date; documents already written keep the rate they fixed."""
    require(actor, "product.manage")
    unknown = set(changes) - set(RATE_EDITABLE)
    if unknown:
        raise Invalid(errors={k: [_("This field cannot be set here.")] for k in sorted(unknown)})
    cleaned = _validate_rate(rate, changes)
    try:
        records.apply_update(actor=actor, obj=rate, changes=cleaned, expected_version=expected_version)
    except Invalid as exc:
        if not exc.errors:
            raise _rate_taken(rate.currency) from None
        raise
    return rate
