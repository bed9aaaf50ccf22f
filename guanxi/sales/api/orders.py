"""REST API: orders (`/api/v1/orders`), their lines and their status through delivery.

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.pagination import CursorPagination, paginate

from guanxi.core.api import ErrorOut, Strict
from guanxi.core.errors import Invalid
from guanxi.core.permissions import declare as requires
from guanxi.core.services import records
from guanxi.customers.models import Account
from guanxi.sales.models import Order
from guanxi.sales.selectors import orders as reads
from guanxi.sales.selectors.scope import get_one, order_scope, quote_scope
from guanxi.sales.services import orders as services
from guanxi.sales.services.orders_export import export_start

router = Router(tags=["orders"])


class OrderLineOut(Schema):
    id: int
    position: int
    product: int | None = Field(None, alias="product_id")
    name: str
    model: str
    unit: str
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal
    tax_rate: Decimal
    total: Decimal
    remarks: str


class OrderOut(Schema):
    id: int
    code: str
    account: int = Field(..., alias="account_id")
    account_name: str
    contact: int | None = Field(None, alias="contact_id")
    quote: int | None = Field(None, alias="quote_id")
    opportunity: int | None = Field(None, alias="opportunity_id")
    state: str
    order_date: dt.date
    ship_date: dt.date | None
    delivered_on: dt.date | None
    currency: str
    rate_to_cny: Decimal
    shipping_address: str
    remarks: str
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    owner: int = Field(..., alias="owner_id")
    lines: list[OrderLineOut]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_account_name(obj: Order) -> str:
        return obj.account.name

    @staticmethod
    def resolve_lines(obj: Order) -> list[Any]:
        return sorted(obj.lines.all(), key=lambda line: (line.position, line.pk))  # prefetched by the list


class OrderLineIn(Strict):
    product: int | None = None
    name: str = ""
    model: str = ""
    unit: str = ""
    quantity: Decimal = Decimal("1")
    unit_price: Decimal | None = None
    discount: Decimal = Decimal("0")
    tax_rate: Decimal | None = None
    remarks: str = ""


class OrderIn(Strict):
    account: int | None = None
    quote: int | None = None
    contact: int | None = None
    order_date: dt.date | None = None
    ship_date: dt.date | None = None
    shipping_address: str | None = None
    remarks: str = ""
    currency: str = "CNY"
    lines: list[OrderLineIn] = []


class OrderPatch(Strict):
    version: int
    contact: int | None = None
    order_date: dt.date | None = None
    ship_date: dt.date | None = None
    shipping_address: str | None = None
    remarks: str | None = None
    currency: str | None = None
    lines: list[OrderLineIn] | None = None


class MoveIn(Strict):
    version: int | None = None
    on: dt.date | None = None


class ExportIn(Strict):
    format: str = "csv"
    filters: dict[str, str] = {}


def _order(request: HttpRequest, pk: int) -> Order:
    return get_one(order_scope, request.user, pk, "account")  # type: ignore[no-any-return]


def _lines(lines: list[OrderLineIn]) -> list[dict[str, Any]]:
    return [line.model_dump(exclude_none=True) for line in lines]


@router.get("/orders", response=list[OrderOut])
@requires("order.view")
@paginate(CursorPagination, ordering=("-id",))
def order_list(request: HttpRequest, q: str = "", state: str = "", account: int | None = None, owner: str = "",
               date_from: str = "", date_to: str = "") -> Any:
    """The orders the caller sees, newest first: ``q`` (number or account), ``state``,
    ``account``, ``owner`` (``me`` or an id), ``date_from``/``date_to`` (order date)."""
    return reads.order_list_for(request.user, **reads.parse_filters(request.user, request.GET)) \
        .prefetch_related("lines")


@router.post("/orders", response={201: OrderOut, 404: ErrorOut, 422: ErrorOut})
@requires("order.add")
def order_create(request: HttpRequest, payload: OrderIn) -> Any:
    """A draft order for a visible account with its ``lines`` (product or free; a product line
    without ``unit_price`` takes the price list's). With ``quote`` (approved, sent or accepted)
    the order is made from that quote instead and nothing else may be given."""
    data = payload.model_dump(exclude_unset=True)
    if payload.quote is not None:
        extra = set(data) - {"quote"}
        if extra:
            raise Invalid(errors={name: [_("An order from a quote takes everything from the quote.")]
                                  for name in sorted(extra)})
        quote = get_one(quote_scope, request.user, payload.quote)
        order = services.order_from_quote(actor=request.user, quote=quote)
        return Status(201, _order(request, order.pk))
    if payload.account is None:
        raise Invalid(errors={"account": [_("This field is required.")]})
    account: Account = records.get_visible(request.user, Account, data.pop("account"))
    lines = _lines(payload.lines)
    data.pop("lines", None)
    data.pop("quote", None)
    order = services.order_create(actor=request.user, account=account, lines=lines, **data)
    return Status(201, _order(request, order.pk))


@router.get("/orders/{int:pk}", response=OrderOut)
@requires("order.view")
def order_get(request: HttpRequest, pk: int) -> Any:
    return _order(request, pk)


@router.patch("/orders/{int:pk}", response={200: OrderOut, 409: ErrorOut, 422: ErrorOut})
@requires("order.change")
def order_update(request: HttpRequest, pk: int, payload: OrderPatch) -> Any:
    """Change the header (``contact``, ``ship_date``, ``shipping_address``, ``remarks``; a draft's
    ``order_date`` and ``currency``) and, given ``lines``, replace a draft's lines. One
    ``version`` for both: stale → 409 and nothing changes."""
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    lines = data.pop("lines", None)
    order = _order(request, pk)
    with transaction.atomic():
        if data:
            services.order_update(actor=request.user, order=order, changes=data, expected_version=version)
            version = order.version
        if lines is not None:
            services.order_lines_set(actor=request.user, order=order, lines=_lines(payload.lines or []),
                                     expected_version=version)
    return _order(request, pk)


@router.delete("/orders/{int:pk}", response={204: None, 409: ErrorOut})
@requires("order.delete")
def order_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    services.order_delete(actor=request.user, order=_order(request, pk), expected_version=version)
    return Status(204, None)


def _move(request: HttpRequest, pk: int, to: str, payload: MoveIn) -> Any:
    services.order_move(actor=request.user, order=_order(request, pk), to=to, on=payload.on,
                        expected_version=payload.version)
    return _order(request, pk)


@router.post("/orders/{int:pk}/confirm", response={200: OrderOut, 409: ErrorOut, 422: ErrorOut})
@requires("order.change")
def order_confirm(request: HttpRequest, pk: int, payload: MoveIn) -> Any:
    """Draft → confirmed (needs a line); the order now counts in the customer's totals."""
    return _move(request, pk, Order.State.CONFIRMED, payload)


@router.post("/orders/{int:pk}/ship", response={200: OrderOut, 409: ErrorOut, 422: ErrorOut})
@requires("order.change")
def order_ship(request: HttpRequest, pk: int, payload: MoveIn) -> Any:
    """Confirmed → shipped on ``on`` (today by default)."""
    return _move(request, pk, Order.State.SHIPPED, payload)


@router.post("/orders/{int:pk}/deliver", response={200: OrderOut, 409: ErrorOut, 422: ErrorOut})
@requires("order.change")
def order_deliver(request: HttpRequest, pk: int, payload: MoveIn) -> Any:
    """Shipped → delivered on ``on`` (today by default)."""
    return _move(request, pk, Order.State.DELIVERED, payload)


@router.post("/orders/{int:pk}/cancel", response={200: OrderOut, 409: ErrorOut, 422: ErrorOut})
@requires("order.change")
def order_cancel(request: HttpRequest, pk: int, payload: MoveIn) -> Any:
    """Draft, confirmed or shipped → cancelled (it leaves the customer's totals)."""
    return _move(request, pk, Order.State.CANCELLED, payload)


@router.post("/orders/export", response={202: dict, 422: ErrorOut})
@requires("sales.export")
def order_export(request: HttpRequest, payload: ExportIn) -> Any:
    """Queue a CSV or Excel export of the caller's orders with the list's ``filters``."""
    filters = reads.parse_filters(request.user, payload.filters)
    job = export_start(actor=request.user, what="orders", filters=filters, format=payload.format)
    return Status(202, {"job": str(job.pk), "url": f"/api/v1/jobs/{job.pk}"})
