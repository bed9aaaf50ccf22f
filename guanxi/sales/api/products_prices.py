"""REST API: price lists with their prices (`/api/v1/price-lists`) and exchange rates
(`/api/v1/exchange-rates`), on the products router.

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Schema, Status
from ninja.pagination import CursorPagination, paginate

from guanxi.core.api import ErrorOut, Strict
from guanxi.core.errors import Invalid, NotFound
from guanxi.core.permissions import declare as requires
from guanxi.sales.api.products import router
from guanxi.sales.models import ExchangeRate, PriceList, PriceListItem, Product
from guanxi.sales.selectors import products as reads
from guanxi.sales.services import products_prices as services


# --- Price lists ----------------------------------------------------------------------------------
class PriceListOut(Schema):
    id: int
    name: str
    currency: str
    grade: str
    province: str
    channel: str
    valid_from: dt.date | None
    valid_until: dt.date | None
    priority: int
    active: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class PriceListIn(Strict):
    name: str
    currency: str = "CNY"
    grade: str = ""
    province: str = ""
    channel: str = ""
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    priority: int = 0
    active: bool = True


class PriceListPatch(Strict):
    version: int
    name: str | None = None
    currency: str | None = None
    grade: str | None = None
    province: str | None = None
    channel: str | None = None
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    priority: int | None = None
    active: bool | None = None


class PriceItemOut(Schema):
    id: int
    price_list: int
    product: int
    product_code: str
    product_name: str
    min_quantity: Decimal
    price: Decimal
    version: int

    @staticmethod
    def resolve_price_list(obj: PriceListItem) -> int:
        return obj.price_list_id

    @staticmethod
    def resolve_product(obj: PriceListItem) -> int:
        return obj.product_id

    @staticmethod
    def resolve_product_code(obj: PriceListItem) -> str:
        return obj.product.code

    @staticmethod
    def resolve_product_name(obj: PriceListItem) -> str:
        return str(obj.product)


class PriceItemIn(Strict):
    product: int
    price: Decimal
    min_quantity: Decimal = Decimal("1")


class PriceItemPatch(Strict):
    version: int
    price: Decimal | None = None
    min_quantity: Decimal | None = None


# Dates may be cleared (null = open-ended); everything else must have a value when sent.
NULLABLE = {"valid_from", "valid_until"}


def _no_nulls(data: dict[str, Any], nullable: set[str] = NULLABLE) -> None:
    nulls = sorted(k for k, v in data.items() if v is None and k not in nullable)
    if nulls:
        raise Invalid(errors={k: [_("This field cannot be empty.")] for k in nulls})


def _price_list(request: HttpRequest, pk: int) -> PriceList:
    return reads.get_pricelist(request.user, pk)


def _item(request: HttpRequest, pk: int, item_pk: int) -> PriceListItem:
    item = reads.get_item(request.user, item_pk)
    if item.price_list_id != pk:
        raise NotFound()
    return item


@router.get("/price-lists", response=list[PriceListOut], tags=["price lists"])
@requires("product.view")
@paginate(CursorPagination, ordering=("id",))
def pricelist_list(request: HttpRequest, active: str = "", currency: str = "") -> Any:
    """Live price lists: ``active`` (``true``/``false``), ``currency``."""
    return reads.pricelist_list_for(request.user, {"active": active, "currency": currency})


@router.post("/price-lists", response={201: PriceListOut, 422: ErrorOut}, tags=["price lists"])
@requires("product.manage")
def pricelist_create(request: HttpRequest, payload: PriceListIn) -> Any:
    """Empty ``grade``, ``province``, ``channel`` match every customer; ``currency`` other than CNY
    needs an exchange rate; ``valid_until`` not before ``valid_from``."""
    price_list = services.pricelist_create(actor=request.user, **payload.model_dump())
    return Status(201, price_list)


@router.get("/price-lists/{int:pk}", response=PriceListOut, tags=["price lists"])
@requires("product.view")
def pricelist_get(request: HttpRequest, pk: int) -> Any:
    return _price_list(request, pk)


@router.patch("/price-lists/{int:pk}", response={200: PriceListOut, 409: ErrorOut, 422: ErrorOut},
              tags=["price lists"])
@requires("product.manage")
def pricelist_update(request: HttpRequest, pk: int, payload: PriceListPatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    _no_nulls(data)
    return services.pricelist_update(actor=request.user, price_list=_price_list(request, pk), changes=data,
                                     expected_version=version)


@router.delete("/price-lists/{int:pk}", response={204: None, 409: ErrorOut}, tags=["price lists"])
@requires("product.manage")
def pricelist_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    """To the recycle bin with its prices (restore: ``POST /price-lists/{id}/restore``)."""
    services.pricelist_delete(actor=request.user, price_list=_price_list(request, pk), expected_version=version)
    return Status(204, None)


@router.post("/price-lists/{int:pk}/restore", response={200: PriceListOut, 422: ErrorOut}, tags=["price lists"])
@requires("product.manage")
def pricelist_restore(request: HttpRequest, pk: int) -> Any:
    price_list = reads.get_pricelist(request.user, pk, include_deleted=True)
    return services.pricelist_restore(actor=request.user, price_list=price_list)


@router.get("/price-lists/{int:pk}/items", response=list[PriceItemOut], tags=["price lists"])
@requires("product.view")
def pricelist_items(request: HttpRequest, pk: int) -> Any:
    """Every price on the list, by product code and quantity break."""
    return reads.items_of(_price_list(request, pk))


@router.post("/price-lists/{int:pk}/items", response={201: PriceItemOut, 422: ErrorOut}, tags=["price lists"])
@requires("product.manage")
def pricelist_item_add(request: HttpRequest, pk: int, payload: PriceItemIn) -> Any:
    """Price ``product`` from ``min_quantity`` (> 0, default 1) on; one price per product and
    quantity on a list (a second → 422)."""
    price_list = _price_list(request, pk)
    product = Product.objects.filter(pk=payload.product).first()
    item = services.price_item_add(actor=request.user, price_list=price_list, product=product, price=payload.price,
                                   min_quantity=payload.min_quantity)
    return Status(201, item)


@router.patch("/price-lists/{int:pk}/items/{int:item_pk}", response={200: PriceItemOut, 409: ErrorOut, 422: ErrorOut},
              tags=["price lists"])
@requires("product.manage")
def pricelist_item_update(request: HttpRequest, pk: int, item_pk: int, payload: PriceItemPatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    _no_nulls(data, set())
    return services.price_item_update(actor=request.user, item=_item(request, pk, item_pk), changes=data,
                                      expected_version=version)


@router.delete("/price-lists/{int:pk}/items/{int:item_pk}", response={204: None, 409: ErrorOut},
               tags=["price lists"])
@requires("product.manage")
def pricelist_item_delete(request: HttpRequest, pk: int, item_pk: int, version: int | None = None) -> Any:
    """Take the price off the list (the list's history keeps it)."""
    services.price_item_remove(actor=request.user, item=_item(request, pk, item_pk), expected_version=version)
    return Status(204, None)


# --- Exchange rates ----------------------------------------------------------------------------------
class RateOut(Schema):
    id: int
    currency: str
    rate: Decimal
    valid_from: dt.date
    version: int
    updated_at: dt.datetime


class RateIn(Strict):
    currency: str
    rate: Decimal
    valid_from: dt.date


class RatePatch(Strict):
    version: int
    rate: Decimal | None = None
    valid_from: dt.date | None = None


@router.get("/exchange-rates", response=list[RateOut], tags=["exchange rates"])
@requires("product.view")
@paginate(CursorPagination, ordering=("id",))
def rate_list(request: HttpRequest, currency: str = "") -> Any:
    """CNY per unit of each currency from ``valid_from`` on; ``currency`` filters."""
    return reads.rate_list_for(request.user, {"currency": currency})


@router.post("/exchange-rates", response={201: RateOut, 422: ErrorOut}, tags=["exchange rates"])
@requires("product.manage")
def rate_create(request: HttpRequest, payload: RateIn) -> Any:
    """An ISO 4217 ``currency`` (not CNY), ``rate`` > 0 (up to 6 decimals), one rate per currency and day."""
    return Status(201, services.exchange_rate_create(actor=request.user, **payload.model_dump()))


@router.patch("/exchange-rates/{int:pk}", response={200: RateOut, 409: ErrorOut, 422: ErrorOut},
              tags=["exchange rates"])
@requires("product.manage")
def rate_update(request: HttpRequest, pk: int, payload: RatePatch) -> Any:
    """Correct ``rate`` or ``valid_from``; documents already written keep their rate."""
    rate = ExchangeRate.objects.filter(pk=pk).first()
    if rate is None:
        raise NotFound()
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    _no_nulls(data, set())
    return services.exchange_rate_update(actor=request.user, rate=rate, changes=data, expected_version=version)
