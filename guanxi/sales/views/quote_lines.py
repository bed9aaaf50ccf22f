"""HTML views of a quote's lines (R4.2): add from the catalogue or free, change, remove, move.

Each answers htmx with the quote's working area (state, actions, lines, totals) re-rendered,
so the version every form carries stays current; without htmx it goes back to the quote.
A refused change shows its message in the same place and changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.core.errors import Invalid, NotFound, ServiceError
from guanxi.core.permissions import declare as requires
from guanxi.core.views import error_text, posted_version
from guanxi.sales.models import Quote, QuoteLine
from guanxi.sales.selectors import quotes as reads
from guanxi.sales.services import quotes as services

LINE_INPUTS = ("name", "model", "specification", "packaging", "features", "unit", "quantity", "unit_price",
               "discount", "tax_rate", "remarks")


def quote_for(request: HttpRequest, pk: int) -> Quote:
    return reads.quote_detail(request.user, pk)


def detail_url(quote: Quote) -> str:
    return reverse("sales:quote-detail", args=[quote.pk])


def body_context(request: HttpRequest, quote: Quote, **extra: Any) -> dict[str, Any]:
    """What the quote's working area (state, actions, lines, totals) shows; htmx swaps it whole."""
    user: Any = request.user
    return {
        "quote": quote, "lines": reads.lines_of(quote), "editable": quote.state in services.EDITABLE,
        "revising": quote.state in services.REVISING, "needs_approval": reads.needs_approval(quote),
        "limit": reads.discount_limit(), "can_decide": reads.can_decide(user, quote),
        "orderable": quote.state in (Quote.State.APPROVED, Quote.State.SENT, Quote.State.ACCEPTED),
        "cancellable": quote.state in services.CANCELLABLE, **extra,
    }


def _line(quote: Quote, line_pk: int) -> QuoteLine:
    line = QuoteLine.objects.filter(quote=quote, pk=line_pk).first()
    if line is None:
        raise NotFound()
    return line


def _answer(request: HttpRequest, quote_pk: int, action: Any, done: str) -> HttpResponse:
    error = ""
    try:
        action()
    except ServiceError as exc:
        error = error_text(exc)
    quote = quote_for(request, quote_pk)  # read again: a refused change left it as it was
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "sales/quotes_body.html", body_context(request, quote, error=error, done=done
                                                                       if not error else ""))
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return redirect(detail_url(quote) + "#lines")


def _refuse(message: str) -> Any:
    def action() -> None:
        raise Invalid(errors={"product": [message]})

    return action


def _posted(request: HttpRequest, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: request.POST[name] for name in names if name in request.POST}


@requires("quote.change")
@require_POST
def line_add(request: HttpRequest, pk: int) -> HttpResponse:
    """``product`` (a catalogue line, priced by the price lists unless ``unit_price`` is given)
    or a free line (``name``, ``unit_price``); ``quantity``, ``discount``, ``tax_rate``."""
    quote = quote_for(request, pk)
    data = {k: v for k, v in _posted(request, LINE_INPUTS).items() if str(v).strip() != "" or k == "name"}
    if request.POST.get("kind") == "catalogue" or request.POST.get("product", "").strip():
        data.pop("name", None)
        data["product"] = request.POST.get("product", "").strip()
        if not data["product"]:
            return _answer(request, pk, _refuse(_("Pick a product from the list first.")), "")
    return _answer(request, pk, lambda: services.quote_line_add(
        actor=request.user, quote=quote, expected_version=posted_version(request), **data), _("Line added."))


@requires("quote.change")
@require_POST
def line_update(request: HttpRequest, pk: int, line_pk: int) -> HttpResponse:
    quote = quote_for(request, pk)
    line = _line(quote, line_pk)
    return _answer(request, pk, lambda: services.quote_line_update(
        actor=request.user, quote=quote, line=line, changes=_posted(request, LINE_INPUTS),
        expected_version=posted_version(request)), _("Line saved."))


@requires("quote.change")
@require_POST
def line_remove(request: HttpRequest, pk: int, line_pk: int) -> HttpResponse:
    quote = quote_for(request, pk)
    line = _line(quote, line_pk)
    return _answer(request, pk, lambda: services.quote_line_remove(
        actor=request.user, quote=quote, line=line, expected_version=posted_version(request)), _("Line removed."))


@requires("quote.change")
@require_POST
def line_move(request: HttpRequest, pk: int, line_pk: int) -> HttpResponse:
    """``direction`` = ``up`` or ``down``."""
    quote = quote_for(request, pk)
    line = _line(quote, line_pk)
    return _answer(request, pk, lambda: services.quote_line_move(
        actor=request.user, quote=quote, line=line, direction=request.POST.get("direction", ""),
        expected_version=posted_version(request)), _("Line moved."))


urlpatterns: list[URLPattern] = [
    path("quotes/<int:pk>/lines/add/", line_add, name="quote-line-add"),
    path("quotes/<int:pk>/lines/<int:line_pk>/", line_update, name="quote-line-update"),
    path("quotes/<int:pk>/lines/<int:line_pk>/remove/", line_remove, name="quote-line-remove"),
    path("quotes/<int:pk>/lines/<int:line_pk>/move/", line_move, name="quote-line-move"),
]
