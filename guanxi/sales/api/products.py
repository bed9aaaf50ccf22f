"""REST API: products (`/api/v1/products`) and the price a customer gets
(`/api/v1/products/{id}/price`). Price lists and exchange rates share this router
(``products_prices``, imported at the bottom).

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import CursorPagination, paginate

from guanxi.core.api import ErrorOut, Strict
from guanxi.core.errors import Invalid, NotFound
from guanxi.core.permissions import declare as requires
from guanxi.customers.selectors import account_scope
from guanxi.sales.models import Product
from guanxi.sales.selectors import products as reads
from guanxi.sales.services import products as services
from guanxi.sales.views.products import picture_response

router = Router(tags=["products"])


class ProductOut(Schema):
    id: int
    code: str
    name: str
    model: str
    specification: str
    packaging: str
    unit: str
    features: str
    description: str
    category: str
    list_price: Decimal
    currency: str
    tax_rate: Decimal
    active: bool
    picture_url: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_picture_url(obj: Product) -> str | None:
        return reverse("api:product_picture", args=[obj.pk]) if obj.picture else None


class ProductIn(Strict):
    code: str
    name: str
    model: str = ""
    specification: str = ""
    packaging: str = ""
    unit: str = "件"
    features: str = ""
    description: str = ""
    category: str = ""
    list_price: Decimal = Decimal("0")
    currency: str = "CNY"
    tax_rate: Decimal = Decimal("13")
    active: bool = True


class ProductPatch(Strict):
    version: int
    code: str | None = None
    name: str | None = None
    model: str | None = None
    specification: str | None = None
    packaging: str | None = None
    unit: str | None = None
    features: str | None = None
    description: str | None = None
    category: str | None = None
    list_price: Decimal | None = None
    currency: str | None = None
    tax_rate: Decimal | None = None
    active: bool | None = None


class PriceOut(Schema):
    product: int
    account: int | None
    quantity: Decimal
    on: dt.date
    price: Decimal
    currency: str
    price_list: int | None
    price_list_name: str | None


def _product(request: HttpRequest, pk: int) -> Product:
    return reads.get_product(request.user, pk)


@router.get("/products", response=list[ProductOut])
@requires("product.view")
@paginate(CursorPagination, ordering=("id",))
def product_list(request: HttpRequest, q: str = "", category: str = "", active: str = "") -> Any:
    """The catalogue: ``q`` (name, pinyin, initials, code, model), ``category`` (product line),
    ``active`` (``true`` on sale, ``false`` not on sale)."""
    return reads.product_list_for(request.user, {"q": q, "category": category, "active": active})


@router.post("/products", response={201: ProductOut, 422: ErrorOut})
@requires("product.manage")
def product_create(request: HttpRequest, payload: ProductIn) -> Any:
    """Add a product (codes are unique; a code held by a product in the recycle bin is taken too)."""
    data = payload.model_dump()
    product = services.product_create(actor=request.user, **data)
    return Status(201, _product(request, product.pk))


@router.get("/products/{int:pk}", response=ProductOut)
@requires("product.view")
def product_get(request: HttpRequest, pk: int) -> Any:
    return _product(request, pk)


@router.patch("/products/{int:pk}", response={200: ProductOut, 409: ErrorOut, 422: ErrorOut})
@requires("product.manage")
def product_update(request: HttpRequest, pk: int, payload: ProductPatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    nulls = sorted(k for k, v in data.items() if v is None)
    if nulls:
        raise Invalid(errors={k: [_("This field cannot be empty.")] for k in nulls})
    services.product_update(actor=request.user, product=_product(request, pk), changes=data, expected_version=version)
    return _product(request, pk)


@router.delete("/products/{int:pk}", response={204: None, 409: ErrorOut})
@requires("product.manage")
def product_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    """To the recycle bin (restore: ``POST /products/{id}/restore``)."""
    services.product_delete(actor=request.user, product=_product(request, pk), expected_version=version)
    return Status(204, None)


@router.post("/products/{int:pk}/restore", response={200: ProductOut, 422: ErrorOut})
@requires("product.manage")
def product_restore(request: HttpRequest, pk: int) -> Any:
    product = reads.get_product(request.user, pk, include_deleted=True)
    services.product_restore(actor=request.user, product=product)
    return _product(request, pk)


@router.get("/products/{int:pk}/picture", response={200: None}, url_name="product_picture")
@requires("product.view")
def product_picture(request: HttpRequest, pk: int) -> Any:
    """The picture (PNG or JPEG); 404 when the product has none."""
    return picture_response(reads.get_product(request.user, pk, include_deleted=True))


@router.post("/products/{int:pk}/picture", response={200: ProductOut, 409: ErrorOut, 422: ErrorOut})
@requires("product.manage")
def product_picture_set(request: HttpRequest, pk: int, picture: File[UploadedFile],
                        version: int | None = None) -> Any:
    """Multipart ``picture``: PNG, JPEG, GIF or WebP up to the attachment size limit; stored
    re-encoded (JPEG stays JPEG, the others become PNG)."""
    services.product_picture_set(actor=request.user, product=_product(request, pk), upload=picture,
                                 expected_version=version)
    return _product(request, pk)


@router.delete("/products/{int:pk}/picture", response={200: ProductOut, 409: ErrorOut})
@requires("product.manage")
def product_picture_remove(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    services.product_picture_remove(actor=request.user, product=_product(request, pk), expected_version=version)
    return _product(request, pk)


@router.get("/products/{int:pk}/price", response={200: PriceOut, 422: ErrorOut})
@requires("product.view")
def product_price(request: HttpRequest, pk: int, account: int | None = None, quantity: Decimal = Decimal("1"),
                  on: dt.date | None = None) -> Any:
    """The unit price ``account`` (visible to the caller, else 404; absent: lists without
    criteria only) gets for ``quantity`` on ``on`` (today): the best matching price list's, else
    the list price (``price_list`` null)."""
    product = _product(request, pk)
    customer = None
    if account is not None:
        customer = account_scope(request.user).filter(pk=account).first()
        if customer is None:
            raise NotFound()
    if not quantity.is_finite() or quantity <= 0:
        raise Invalid(errors={"quantity": [_("Enter a number greater than zero.")]})
    day = on or timezone.localdate()
    price, currency, price_list = services.price_for(product, customer, quantity, day)
    return {"product": product.pk, "account": account, "quantity": quantity, "on": day, "price": price,
            "currency": currency, "price_list": price_list.pk if price_list else None,
            "price_list_name": price_list.name if price_list else None}


from guanxi.sales.api import products_prices  # noqa: E402, F401  (price lists and rates: the same router)
