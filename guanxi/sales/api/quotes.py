"""REST API: quotes (`/api/v1/quotes`), their lines, the discount approval, sending, the
customer's answer, and the documents (PDF, Excel) of the live quote or a sent revision.

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status
from ninja.pagination import CursorPagination, paginate

from guanxi.core.api import ErrorOut, Strict
from guanxi.core.errors import NotFound
from guanxi.core.permissions import declare as requires
from guanxi.core.services import records
from guanxi.customers.models import Account
from guanxi.sales.models import Quote, QuoteLine
from guanxi.sales.selectors import quotes as reads
from guanxi.sales.services import quote_documents as documents
from guanxi.sales.services import quotes as services
from guanxi.sales.views.quotes import download

router = Router(tags=["quotes"])


class LineOut(Schema):
    id: int
    position: int
    product: int | None = Field(None, alias="product_id")
    name: str
    model: str
    specification: str
    packaging: str
    features: str
    unit: str
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal
    tax_rate: Decimal
    total: Decimal
    remarks: str


class QuoteListOut(Schema):
    id: int
    code: str
    revision: int
    title: str
    subject: str
    account: int = Field(..., alias="account_id")
    account_name: str
    contact: int | None = Field(None, alias="contact_id")
    opportunity: int | None = Field(None, alias="opportunity_id")
    state: str
    quote_date: dt.date
    valid_until: dt.date | None
    currency: str
    rate_to_cny: Decimal
    prices_include_tax: bool
    subtotal: Decimal
    discount_total: Decimal
    tax_total: Decimal
    total: Decimal
    max_discount: Decimal
    needs_approval: bool
    approval_requested_at: dt.datetime | None
    approved_by: int | None = Field(None, alias="approved_by_id")
    approved_at: dt.datetime | None
    approval_note: str
    sent_at: dt.datetime | None
    owner: int = Field(..., alias="owner_id")
    owner_name: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_account_name(obj: Quote) -> str:
        return obj.account.name

    @staticmethod
    def resolve_owner_name(obj: Quote) -> str:
        return str(obj.owner)

    @staticmethod
    def resolve_needs_approval(obj: Quote) -> bool:
        return reads.needs_approval(obj)


class QuoteOut(QuoteListOut):
    payment_terms: str
    delivery_terms: str
    terms: str
    notes: str
    lines: list[LineOut]
    revisions: list[int]

    @staticmethod
    def resolve_lines(obj: Quote) -> list[QuoteLine]:
        return reads.lines_of(obj)

    @staticmethod
    def resolve_revisions(obj: Quote) -> list[int]:
        return [r.revision for r in reads.revisions_of(obj)]


class LineIn(Strict):
    product: int | None = None
    name: str | None = None
    model: str | None = None
    specification: str | None = None
    packaging: str | None = None
    features: str | None = None
    unit: str | None = None
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    discount: Decimal | None = None
    tax_rate: Decimal | None = None
    remarks: str | None = None


class LineAddIn(LineIn):
    version: int | None = None


class LinePatch(Strict):
    version: int | None = None
    name: str | None = None
    model: str | None = None
    specification: str | None = None
    packaging: str | None = None
    features: str | None = None
    unit: str | None = None
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    discount: Decimal | None = None
    tax_rate: Decimal | None = None
    remarks: str | None = None


class LinesPut(Strict):
    version: int | None = None
    lines: list[LineIn]


class QuoteIn(Strict):
    account: int
    subject: str
    opportunity: int | None = None
    contact: int | None = None
    title: str = ""
    quote_date: dt.date | None = None
    valid_until: dt.date | None = None
    currency: str = "CNY"
    prices_include_tax: bool = True
    payment_terms: str = ""
    delivery_terms: str = ""
    terms: str = ""
    notes: str = ""
    lines: list[LineIn] = []


class QuotePatch(Strict):
    version: int
    subject: str | None = None
    title: str | None = None
    contact: int | None = None
    quote_date: dt.date | None = None
    valid_until: dt.date | None = None
    currency: str | None = None
    prices_include_tax: bool | None = None
    payment_terms: str | None = None
    delivery_terms: str | None = None
    terms: str | None = None
    notes: str | None = None


class ActionIn(Strict):
    version: int | None = None
    note: str = ""


class RevisionOut(Schema):
    revision: int
    created_at: dt.datetime
    created_by: int | None = Field(None, alias="created_by_id")
    reason: str
    content: dict[str, Any] = Field(..., alias="snapshot")


def _quote(request: HttpRequest, pk: int) -> Quote:
    return reads.quote_detail(request.user, pk)


def _given(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _binary(content_type: str, description: str) -> dict[str, Any]:
    """The OpenAPI description of a 200 answer that is a file, not JSON."""
    return {"responses": {200: {"description": description,
                                "content": {content_type: {"schema": {"type": "string", "format": "binary"}}}}}}


@router.get("/quotes", response=list[QuoteListOut])
@requires("quote.view")
@paginate(CursorPagination, ordering=("-id",))
def quote_list(request: HttpRequest, state: str = "", owner: str = "", account: str = "", opportunity: str = "",
               q: str = "", approval: str = "") -> Any:
    """The quotes the caller sees, newest first: ``state``, ``owner`` (``me`` or a colleague the
    caller manages; others → 400), ``account``, ``opportunity``, ``q`` (number, title, subject),
    ``approval=mine`` (pending quotes the caller may approve)."""
    return reads.quote_list_for(request.user, request.GET)


@router.post("/quotes", response={201: QuoteOut, 404: ErrorOut, 422: ErrorOut})
@requires("quote.add")
def quote_create(request: HttpRequest, payload: QuoteIn) -> Any:
    """A draft quote to a visible account (hidden → 404), with ``lines``: ``product`` (priced
    by the price lists unless ``unit_price`` is given) or free (``name``, ``unit_price``).
    An empty ``title`` is generated from the customer, the subject and the date."""
    data = payload.model_dump()
    account = records.get_visible(request.user, Account, data.pop("account"))
    data["lines"] = [_given(line) for line in data["lines"]]
    quote = services.quote_create(actor=request.user, account=account, **data)
    return Status(201, _quote(request, quote.pk))


@router.get("/quotes/{int:pk}", response=QuoteOut)
@requires("quote.view")
def quote_get(request: HttpRequest, pk: int) -> Any:
    return _quote(request, pk)


@router.patch("/quotes/{int:pk}", response={200: QuoteOut, 409: ErrorOut, 422: ErrorOut})
@requires("quote.change")
def quote_update(request: HttpRequest, pk: int, payload: QuotePatch) -> Any:
    """Change the header (``version`` required; stale → 409). A sent quote starts its next
    revision; a pending or approved one returns to draft."""
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    services.quote_update(actor=request.user, quote=_quote(request, pk), changes=data, expected_version=version)
    return _quote(request, pk)


@router.delete("/quotes/{int:pk}", response={204: None, 409: ErrorOut})
@requires("quote.delete")
def quote_delete(request: HttpRequest, pk: int, version: int | None = None) -> Any:
    """To the recycle bin (restorable)."""
    services.quote_delete(actor=request.user, quote=_quote(request, pk), expected_version=version)
    return Status(204, None)


# --- Lines ------------------------------------------------------------------------------------
@router.get("/quotes/{int:pk}/lines", response=list[LineOut])
@requires("quote.view")
def line_list(request: HttpRequest, pk: int) -> Any:
    return reads.lines_of(_quote(request, pk))


@router.post("/quotes/{int:pk}/lines", response={201: LineOut, 409: ErrorOut, 422: ErrorOut})
@requires("quote.change")
def line_add(request: HttpRequest, pk: int, payload: LineAddIn) -> Any:
    """One line at the end (``version``: the quote's, optional)."""
    data = _given(payload.model_dump())
    version = data.pop("version", None)
    return Status(201, services.quote_line_add(actor=request.user, quote=_quote(request, pk),
                                               expected_version=version, **data))


@router.put("/quotes/{int:pk}/lines", response={200: list[LineOut], 409: ErrorOut, 422: ErrorOut})
@requires("quote.change")
def line_replace(request: HttpRequest, pk: int, payload: LinesPut) -> Any:
    """Every line at once, in this order."""
    quote = _quote(request, pk)
    services.quote_lines_replace(actor=request.user, quote=quote, expected_version=payload.version,
                                 lines=[_given(line.model_dump()) for line in payload.lines])
    return reads.lines_of(quote)


def _line(quote: Quote, line_pk: int) -> QuoteLine:
    line = QuoteLine.objects.filter(quote=quote, pk=line_pk).first()
    if line is None:
        raise NotFound()
    return line


@router.patch("/quotes/{int:pk}/lines/{int:line_pk}", response={200: LineOut, 409: ErrorOut, 422: ErrorOut})
@requires("quote.change")
def line_update(request: HttpRequest, pk: int, line_pk: int, payload: LinePatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version", None)
    quote = _quote(request, pk)
    return services.quote_line_update(actor=request.user, quote=quote, line=_line(quote, line_pk),
                                      changes=_given(data), expected_version=version)


@router.delete("/quotes/{int:pk}/lines/{int:line_pk}", response={204: None, 409: ErrorOut, 422: ErrorOut})
@requires("quote.change")
def line_delete(request: HttpRequest, pk: int, line_pk: int, version: int | None = None) -> Any:
    quote = _quote(request, pk)
    services.quote_line_remove(actor=request.user, quote=quote, line=_line(quote, line_pk), expected_version=version)
    return Status(204, None)


# --- Approval, sending, the customer's answer -------------------------------------------------------
ANSWERS = {200: QuoteOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut}


@router.post("/quotes/{int:pk}/request-approval", response=ANSWERS)
@requires("quote.change")
def quote_request_approval(request: HttpRequest, pk: int, payload: ActionIn) -> Any:
    """Ask the owner's managers to approve a discount above the limit (they are notified)."""
    services.quote_request_approval(actor=request.user, quote=_quote(request, pk),
                                    expected_version=payload.version, note=payload.note)
    return _quote(request, pk)


@router.post("/quotes/{int:pk}/approve", response=ANSWERS)
@requires("quote.approve")
def quote_approve(request: HttpRequest, pk: int, payload: ActionIn) -> Any:
    """By a manager of the owner, never the owner (403)."""
    services.quote_decide(actor=request.user, quote=_quote(request, pk), approve=True, note=payload.note,
                          expected_version=payload.version)
    return _quote(request, pk)


@router.post("/quotes/{int:pk}/reject", response=ANSWERS)
@requires("quote.approve")
def quote_reject(request: HttpRequest, pk: int, payload: ActionIn) -> Any:
    """Back to draft; ``note`` (why) is required."""
    services.quote_decide(actor=request.user, quote=_quote(request, pk), approve=False, note=payload.note,
                          expected_version=payload.version)
    return _quote(request, pk)


@router.post("/quotes/{int:pk}/send", response=ANSWERS)
@requires("quote.change")
def quote_send(request: HttpRequest, pk: int, payload: ActionIn) -> Any:
    """Mark sent and keep the revision (above the discount limit: approved first, else 422)."""
    services.quote_send(actor=request.user, quote=_quote(request, pk), expected_version=payload.version)
    return _quote(request, pk)


@router.post("/quotes/{int:pk}/accept", response=ANSWERS)
@requires("quote.change")
def quote_accept(request: HttpRequest, pk: int, payload: ActionIn) -> Any:
    services.quote_accept(actor=request.user, quote=_quote(request, pk), expected_version=payload.version,
                          note=payload.note)
    return _quote(request, pk)


@router.post("/quotes/{int:pk}/decline", response=ANSWERS)
@requires("quote.change")
def quote_decline(request: HttpRequest, pk: int, payload: ActionIn) -> Any:
    services.quote_decline(actor=request.user, quote=_quote(request, pk), expected_version=payload.version,
                           note=payload.note)
    return _quote(request, pk)


@router.post("/quotes/{int:pk}/cancel", response=ANSWERS)
@requires("quote.change")
def quote_cancel(request: HttpRequest, pk: int, payload: ActionIn) -> Any:
    services.quote_cancel(actor=request.user, quote=_quote(request, pk), expected_version=payload.version,
                          note=payload.note)
    return _quote(request, pk)


# --- Revisions and documents ------------------------------------------------------------------------
@router.get("/quotes/{int:pk}/revisions", response=list[RevisionOut])
@requires("quote.view")
def revision_list(request: HttpRequest, pk: int) -> Any:
    """Every sent revision with its content as it went out, newest first."""
    return reads.revisions_of(_quote(request, pk))


@router.get("/quotes/{int:pk}/pdf", response={200: None, 404: ErrorOut},
            openapi_extra=_binary("application/pdf", "The quote as a PDF."))
@requires("quote.view")
def quote_pdf(request: HttpRequest, pk: int, revision: int | None = None) -> HttpResponse:
    """The live quote, or sent ``revision`` n, as a PDF (audited)."""
    return download(*documents.quote_export(actor=request.user, quote=_quote(request, pk), fmt="pdf",
                                            revision=revision))


@router.get("/quotes/{int:pk}/xlsx", response={200: None, 404: ErrorOut},
            openapi_extra=_binary(documents.FORMATS["xlsx"], "The quote as an Excel workbook."))
@requires("quote.view")
def quote_xlsx(request: HttpRequest, pk: int, revision: int | None = None) -> HttpResponse:
    """The live quote, or sent ``revision`` n, as an Excel workbook: sheet 1 the quote, sheet 2
    the customer's data (audited)."""
    return download(*documents.quote_export(actor=request.user, quote=_quote(request, pk), fmt="xlsx",
                                            revision=revision))
