"""Sales services: a quote's lines (R4.2), and what every change of a quote shares.

A line from the catalogue copies the product's description and takes the price the
customer's price lists give; a free line is typed in. Every change takes the quote's row
(its version moves on, a stale writer gets Conflict), then recounts the totals with
``common.totals`` and reopens the quote: a pending or approved quote returns to draft, a
sent, declined or expired one starts its next revision.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.errors import Conflict, Invalid, NotFound
from guanxi.core.models import AuditEvent
from guanxi.customers.models import Account
from guanxi.sales.models import CNY, Product, Quote, QuoteLine
from guanxi.sales.services.common import decimal_field, line_figures, money, raise_if, rate_to_cny, require, totals

State = Quote.State
MAX_LINES = 200
TEXT_LIMIT = 5000
# Changing a quote in these states is allowed; in the revising ones it starts a new revision.
EDITABLE = frozenset({State.DRAFT, State.PENDING, State.APPROVED, State.SENT, State.DECLINED, State.EXPIRED})
REVISING = frozenset({State.SENT, State.DECLINED, State.EXPIRED})
LINE_TEXT = ("name", "model", "specification", "packaging", "features", "unit", "remarks")
LINE_FIELDS = ("product", *LINE_TEXT, "quantity", "unit_price", "discount", "tax_rate")
DEFAULT_TAX_RATE = Decimal("13")
QUANTITY_MAX = Decimal("99999999999")
PRICE_MAX = Decimal("99999999999999")


def _text(value: Any, field: str, errors: dict[str, list[str]], limit: int) -> str:
    text = str(value or "").replace("\x00", "").strip()
    if len(text) > limit:
        errors[field] = [_("Use at most %(limit)s characters.") % {"limit": limit}]
    return text


# --- Lines ----------------------------------------------------------------------------------
def catalogue_price(product: Product, account: Account, quantity: Decimal, quote: Quote) -> Decimal:
    """The unit price the price lists give ``account`` for ``quantity`` on the quote's date,
    in the quote's currency (converted through CNY at that date's rates)."""
    from guanxi.sales.services import products as catalogue

    price, currency, _price_list = catalogue.price_for(product, account, quantity, quote.quote_date)
    currency = (currency or CNY).upper()
    if currency != quote.currency:
        price = Decimal(price) * rate_to_cny(currency, quote.quote_date) / Decimal(quote.rate_to_cny)
    return money(price)


def _line_values(quote: Quote, data: dict[str, Any], errors: dict[str, list[str]], *, prefix: str = "",
                 line: QuoteLine | None = None) -> dict[str, Any]:
    """A line's fields from form or API data. A catalogue line copies the product's
    description (fields given override it) and, without a unit price, is priced by the lists."""
    out: dict[str, Any] = {}
    product: Product | None = line.product if line is not None else None
    if line is None:
        value = data.get("product")
        if value not in (None, ""):
            product_id = getattr(value, "pk", value)
            product = (Product.objects.filter(pk=int(product_id), active=True).first()
                       if str(product_id).isdigit() else None)
            if product is None:
                errors[f"{prefix}product"] = [_("Choose a product that is on sale.")]
                return {}
            out.update(name=product.name, model=product.model, specification=product.specification,
                       packaging=product.packaging, features=product.features, unit=product.unit,
                       tax_rate=product.tax_rate)
        out["product"] = product
    for name in LINE_TEXT:
        if data.get(name) is not None and (line is not None or product is None or str(data[name]).strip()):
            field: Any = QuoteLine._meta.get_field(name)
            limit = field.max_length or TEXT_LIMIT
            out[name] = _text(data[name], f"{prefix}{name}", errors, limit)
    if ("name" in out or line is None) and not out.get("name"):
        errors[f"{prefix}name"] = [_("Name the product or service.")]
    if line is None or "quantity" in data:
        quantity = decimal_field(data.get("quantity", 1), f"{prefix}quantity", errors, minimum=Decimal("0.001"),
                                 maximum=QUANTITY_MAX)
        if quantity is not None:
            out["quantity"] = quantity.quantize(Decimal("0.001"))
    if line is None or "discount" in data:
        discount = decimal_field(data.get("discount") or 0, f"{prefix}discount", errors, maximum=Decimal("100"))
        if discount is not None:
            out["discount"] = discount.quantize(Decimal("0.01"))
    if data.get("tax_rate") not in (None, "") or line is None:
        tax = decimal_field(data.get("tax_rate") if data.get("tax_rate") not in (None, "")
                            else out.get("tax_rate", DEFAULT_TAX_RATE), f"{prefix}tax_rate", errors,
                            maximum=Decimal("100"))
        if tax is not None:
            out["tax_rate"] = tax.quantize(Decimal("0.01"))
    if data.get("unit_price") not in (None, ""):
        price = decimal_field(data.get("unit_price"), f"{prefix}unit_price", errors, maximum=PRICE_MAX)
        if price is not None:
            out["unit_price"] = money(price)
    elif line is None:
        if product is None:
            errors[f"{prefix}unit_price"] = [_("Enter the unit price.")]
        elif "quantity" in out:
            try:
                out["unit_price"] = catalogue_price(product, quote.account, out["quantity"], quote)
            except Invalid as exc:
                errors[f"{prefix}unit_price"] = [m for ms in exc.errors.values() for m in ms] or [exc.message]
    return out


def _line_total(quote: Quote, values: dict[str, Any]) -> Decimal:
    return line_figures(values["quantity"], values["unit_price"], values["discount"], values["tax_rate"],
                        prices_include_tax=quote.prices_include_tax).total


def _editable(quote: Quote) -> None:
    if quote.state not in EDITABLE:
        raise Invalid(_("An accepted or cancelled quote cannot be changed."))


def _reopen(quote: Quote) -> dict[str, Any]:
    """What changing the quote does to its state: a sent one starts its next revision."""
    if quote.state in REVISING:
        return {"state": State.DRAFT, "revision": quote.revision + 1, "sent_at": None, "approval_requested_at": None}
    if quote.state in (State.PENDING, State.APPROVED):
        return {"state": State.DRAFT, "approval_requested_at": None}
    return {}


def _claim(quote: Quote, expected_version: int | None) -> None:
    """Take the quote for a change of its lines: its version moves on (the row is locked until
    commit), so a writer who read an older version gets Conflict."""
    if expected_version is not None and int(expected_version) != quote.version:
        raise Conflict()
    now = timezone.now()
    rows = Quote.all_objects.filter(pk=quote.pk, version=quote.version, deleted_at__isnull=True).update(
        version=F("version") + 1, updated_at=now)
    if rows != 1:
        raise Conflict()
    quote.version += 1
    quote.updated_at = now


def _settle(actor: Any, quote: Quote, *, changes: dict[str, Any] | None = None, note: str = "") -> None:
    """Recount the totals from the lines, reopen the quote, write one audit row."""
    lines = list(QuoteLine.objects.filter(quote=quote))
    for line in lines:
        total = _line_total(quote, {n: getattr(line, n) for n in ("quantity", "unit_price", "discount", "tax_rate")})
        if total != line.total:
            QuoteLine.objects.filter(pk=line.pk).update(total=total)
    figures = totals(lines, prices_include_tax=quote.prices_include_tax)
    values: dict[str, Any] = {"subtotal": figures.subtotal, "discount_total": figures.discount,
                              "tax_total": figures.tax, "total": figures.total,
                              "max_discount": figures.max_discount, **_reopen(quote)}
    delta = {k: [audit.serialise(getattr(quote, k)), audit.serialise(v)] for k, v in values.items()
             if getattr(quote, k) != v}
    Quote.all_objects.filter(pk=quote.pk).update(**values)
    for name, value in values.items():
        setattr(quote, name, value)
    audit.record(actor=actor, action=AuditEvent.Action.UPDATE, obj=quote, changes={**(changes or {}), **delta},
                 note=note)


def _renumber(quote: Quote) -> None:
    for position, pk in enumerate(QuoteLine.objects.filter(quote=quote).order_by("position", "id")
                                  .values_list("pk", flat=True), 1):
        QuoteLine.objects.filter(pk=pk).exclude(position=position).update(position=position)


def _line_label(line: QuoteLine | dict[str, Any]) -> str:
    name = line.name if isinstance(line, QuoteLine) else line.get("name", "")
    model = line.model if isinstance(line, QuoteLine) else line.get("model", "")
    return f"{name} {model}".strip()


def _insert_lines(quote: Quote, specs: Iterable[dict[str, Any]], *, start: int = 1,
                  numbered: bool = False) -> list[QuoteLine]:
    """Check every line first (errors keyed ``lines.<n>.<field>`` when ``numbered``), then write."""
    errors: dict[str, list[str]] = {}
    rows: list[dict[str, Any]] = []
    for index, spec in enumerate(specs):
        rows.append(_line_values(quote, dict(spec), errors, prefix=f"lines.{index}." if numbered else ""))
    if start - 1 + len(rows) > MAX_LINES:
        errors["lines"] = [_("A quote has at most %(count)s lines.") % {"count": MAX_LINES}]
    raise_if(errors)
    created = [QuoteLine(quote=quote, position=start + i, total=_line_total(quote, row), **row)
               for i, row in enumerate(rows)]
    return QuoteLine.objects.bulk_create(created)


@transaction.atomic
def quote_line_add(*, actor: Any, quote: Quote, expected_version: int | None = None, **data: Any) -> QuoteLine:
    """Add one line at the end: ``product`` (id) for a catalogue line, else ``name`` and
    ``unit_price``; ``quantity``, ``discount``, ``tax_rate`` and the description fields."""
    require(actor, "quote.change")
    _editable(quote)
    unknown = set(data) - set(LINE_FIELDS)
    if unknown:
        raise Invalid(errors={k: [_("This field cannot be set here.")] for k in sorted(unknown)})
    last = QuoteLine.objects.filter(quote=quote).aggregate(last=Max("position"))["last"] or 0
    (line,) = _insert_lines(quote, [data], start=last + 1)
    _claim(quote, expected_version)
    _settle(actor, quote, changes={"lines": [None, _line_label(line)]}, note=_("Line added"))
    return line


@transaction.atomic
def quote_line_update(*, actor: Any, quote: Quote, line: QuoteLine, changes: dict[str, Any],
                      expected_version: int | None = None) -> QuoteLine:
    """Change a line's quantity, price, discount, tax rate or description (not its product)."""
    require(actor, "quote.change")
    _editable(quote)
    if line.quote_id != quote.pk:
        raise NotFound()
    unknown = (set(changes) - set(LINE_FIELDS)) | ({"product"} & set(changes))
    if unknown:
        raise Invalid(errors={k: [_("This field cannot be changed here.")] for k in sorted(unknown)})
    errors: dict[str, list[str]] = {}
    values = _line_values(quote, changes, errors, line=line)
    raise_if(errors)
    delta = {k: [audit.serialise(getattr(line, k)), audit.serialise(v)] for k, v in values.items()
             if getattr(line, k) != v}
    _claim(quote, expected_version)
    if delta:
        for name, value in values.items():
            setattr(line, name, value)
        line.total = _line_total(quote, {n: getattr(line, n) for n in ("quantity", "unit_price", "discount",
                                                                       "tax_rate")})
        line.save()
        _settle(actor, quote, changes={f"line {line.position}.{k}": v for k, v in delta.items()},
                note=_("Line changed: %(line)s") % {"line": _line_label(line)})
    return line


@transaction.atomic
def quote_line_remove(*, actor: Any, quote: Quote, line: QuoteLine, expected_version: int | None = None) -> None:
    require(actor, "quote.change")
    _editable(quote)
    if line.quote_id != quote.pk:
        raise NotFound()
    _claim(quote, expected_version)
    label = _line_label(line)
    line.delete()
    _renumber(quote)
    _settle(actor, quote, changes={"lines": [label, None]}, note=_("Line removed"))


@transaction.atomic
def quote_line_move(*, actor: Any, quote: Quote, line: QuoteLine, direction: str,
                    expected_version: int | None = None) -> None:
    """Move a line one place ``up`` or ``down`` (the order the documents print)."""
    require(actor, "quote.change")
    _editable(quote)
    if line.quote_id != quote.pk:
        raise NotFound()
    if direction not in ("up", "down"):
        raise Invalid(errors={"direction": [_("Choose up or down.")]})
    _claim(quote, expected_version)
    _renumber(quote)
    ordered = list(QuoteLine.objects.filter(quote=quote).order_by("position", "id"))
    index = next(i for i, other in enumerate(ordered) if other.pk == line.pk)
    target = index - 1 if direction == "up" else index + 1
    if not 0 <= target < len(ordered):
        return
    a, b = ordered[index], ordered[target]
    QuoteLine.objects.filter(pk=a.pk).update(position=b.position)
    QuoteLine.objects.filter(pk=b.pk).update(position=a.position)
    _settle(actor, quote, changes={"lines": [a.position, b.position]},
            note=_("Line moved: %(line)s") % {"line": _line_label(a)})


@transaction.atomic
def quote_lines_replace(*, actor: Any, quote: Quote, lines: Iterable[dict[str, Any]],
                        expected_version: int | None = None) -> list[QuoteLine]:
    """Replace every line at once (the API's PUT), in the order given."""
    require(actor, "quote.change")
    _editable(quote)
    specs = [dict(spec) for spec in lines]
    for spec in specs:
        unknown = set(spec) - set(LINE_FIELDS)
        if unknown:
            raise Invalid(errors={k: [_("This field cannot be set here.")] for k in sorted(unknown)})
    before = [_line_label(line) for line in QuoteLine.objects.filter(quote=quote).order_by("position", "id")]
    QuoteLine.objects.filter(quote=quote).delete()
    created = _insert_lines(quote, specs, numbered=True)
    _claim(quote, expected_version)
    _settle(actor, quote, changes={"lines": [before, [_line_label(line) for line in created]]},
            note=_("Lines replaced"))
    return created
