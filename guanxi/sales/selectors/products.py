"""Sales reads: the catalogue, price lists and exchange rates.

The catalogue is the company's, not anyone's own: whoever holds ``product.view`` reads every
live product, price list and rate; nobody else reads any (an empty scope, so details
answer 404). The recycle bin's products and price lists are read by ``product.manage``
holders only (to restore them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from guanxi.core import search
from guanxi.core.errors import NotFound
from guanxi.core.permissions import has_perm
from guanxi.sales.models import ExchangeRate, PriceList, PriceListItem, Product

SEARCH_LIMIT = 20


def product_scope(user: Any, queryset: QuerySet[Product] | None = None) -> QuerySet[Product]:
    """Live products for ``product.view`` holders; a queryset given (history, restore) is kept as is."""
    qs = queryset if queryset is not None else Product.objects.all()
    return qs if has_perm(user, "product.view") else qs.none()


def pricelist_scope(user: Any, queryset: QuerySet[PriceList] | None = None) -> QuerySet[PriceList]:
    qs = queryset if queryset is not None else PriceList.objects.all()
    return qs if has_perm(user, "product.view") else qs.none()


def product_deleted_for(user: Any) -> QuerySet[Product]:
    """Products in the recycle bin, for whoever may restore them."""
    if not has_perm(user, "product.manage"):
        return Product.all_objects.none()
    return Product.all_objects.filter(deleted_at__isnull=False).select_related("deleted_by").order_by("-deleted_at")


def pricelist_deleted_for(user: Any) -> QuerySet[PriceList]:
    if not has_perm(user, "product.manage"):
        return PriceList.all_objects.none()
    return PriceList.all_objects.filter(deleted_at__isnull=False).select_related("deleted_by").order_by("-deleted_at")


def get_product(user: Any, pk: Any, *, include_deleted: bool = False) -> Product:
    """One product the user may read (hidden = missing → NotFound)."""
    base = Product.all_objects.all() if include_deleted and has_perm(user, "product.manage") else None
    try:
        return product_scope(user, base).get(pk=pk)
    except (Product.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def get_pricelist(user: Any, pk: Any, *, include_deleted: bool = False) -> PriceList:
    base = PriceList.all_objects.all() if include_deleted and has_perm(user, "product.manage") else None
    try:
        return pricelist_scope(user, base).get(pk=pk)
    except (PriceList.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def get_item(user: Any, pk: Any) -> PriceListItem:
    """One price of a live price list."""
    if not has_perm(user, "product.view"):
        raise NotFound()
    try:
        return PriceListItem.objects.select_related("price_list", "product").get(
            pk=pk, price_list__deleted_at__isnull=True)
    except (PriceListItem.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def _matching(qs: QuerySet[Product], q: str) -> QuerySet[Product]:
    """Products whose name, pinyin, initials, code or model contain ``q``, best match first."""
    typed, needle = q.strip(), search.normalise(q)
    if not needle:
        return qs
    return qs.filter(search_text__contains=needle).annotate(rank=Case(
        When(Q(code__iexact=typed) | Q(model__iexact=typed), then=Value(0)),
        When(Q(name__startswith=typed) | Q(code__istartswith=typed), then=Value(1)),
        When(search_text__startswith=needle, then=Value(2)),
        default=Value(3), output_field=IntegerField())).order_by("rank", "code")


def product_list_for(user: Any, params: Mapping[str, Any]) -> QuerySet[Product]:
    """The catalogue filtered by ``q`` (name, pinyin, code, model), ``category`` (product
    line) and ``active`` (``1`` on sale, ``0`` not on sale, else both)."""
    qs = product_scope(user)
    category = str(params.get("category") or "").strip()
    if category:
        qs = qs.filter(category=category)
    active = str(params.get("active") or "")
    if active in ("1", "true"):
        qs = qs.filter(active=True)
    elif active in ("0", "false"):
        qs = qs.filter(active=False)
    q = str(params.get("q") or "")
    if q.strip():
        return _matching(qs, q)
    return qs.order_by("code")


def product_search(user: Any, q: str, *, limit: int = SEARCH_LIMIT) -> list[Product]:
    """On-sale products for a line picker: the best ``limit`` matches (every one when ``q`` is empty)."""
    qs = product_scope(user).filter(active=True)
    qs = _matching(qs, q) if q.strip() else qs.order_by("code")
    return list(qs[:limit])


def categories() -> list[str]:
    """Product lines in use, for the filter and the form's suggestions."""
    return list(Product.objects.exclude(category="").order_by("category").values_list("category", flat=True)
                .distinct())


@dataclass(frozen=True)
class ListPrices:
    """One price list's prices of one product: quantity breaks in order."""

    price_list: PriceList
    items: list[PriceListItem]
    current: bool  # active and valid today


def prices_of(product: Product, *, on: Any = None) -> list[ListPrices]:
    """Every live price list that prices ``product``, with its quantity breaks (best list first)."""
    from django.utils import timezone

    today = on or timezone.localdate()
    items = (PriceListItem.objects.filter(product=product, price_list__deleted_at__isnull=True)
             .select_related("price_list").order_by("-price_list__priority", "price_list__name", "price_list_id",
                                                    "min_quantity"))
    grouped: dict[int, ListPrices] = {}
    for item in items:
        pl = item.price_list
        if pl.pk not in grouped:
            current = (pl.active and (pl.valid_from is None or pl.valid_from <= today)
                       and (pl.valid_until is None or pl.valid_until >= today))
            grouped[pl.pk] = ListPrices(price_list=pl, items=[], current=current)
        grouped[pl.pk].items.append(item)
    return list(grouped.values())


def pricelist_list_for(user: Any, params: Mapping[str, Any] | None = None) -> QuerySet[PriceList]:
    """Price lists, highest priority first; ``active`` (``1``/``0``) and ``currency`` filter."""
    params = params or {}
    qs = pricelist_scope(user)
    active = str(params.get("active") or "")
    if active in ("1", "true"):
        qs = qs.filter(active=True)
    elif active in ("0", "false"):
        qs = qs.filter(active=False)
    currency = str(params.get("currency") or "").strip().upper()
    if currency:
        qs = qs.filter(currency=currency)
    return qs.order_by("-priority", "name", "id")


def items_of(price_list: PriceList) -> list[PriceListItem]:
    return list(price_list.items.select_related("product").order_by("product__code", "min_quantity"))


def rate_list_for(user: Any, params: Mapping[str, Any] | None = None) -> QuerySet[ExchangeRate]:
    if not has_perm(user, "product.view"):
        return ExchangeRate.objects.none()
    params = params or {}
    qs = ExchangeRate.objects.all()
    currency = str(params.get("currency") or "").strip().upper()
    if currency:
        qs = qs.filter(currency=currency)
    return qs.order_by("currency", "-valid_from", "-id")


def current_rates(on: Any = None) -> dict[str, Decimal]:
    """The rate each currency has today (the latest valid one)."""
    from django.utils import timezone

    today = on or timezone.localdate()
    out: dict[str, Decimal] = {}
    for currency, rate in (ExchangeRate.objects.filter(valid_from__lte=today).order_by("currency", "-valid_from")
                           .values_list("currency", "rate")):
        out.setdefault(currency, rate)
    return out
