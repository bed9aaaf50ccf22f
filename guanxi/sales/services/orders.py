"""Orders (R4.3): new or from a quote, lines from the catalogue or free, status through delivery.

An order is ``draft`` while its lines may change; ``confirmed``, ``shipped`` and
``delivered`` orders are *counted*: they make the customer's cumulative figures
(``AccountSales`` through ``totals.refresh``) and the forecast's history (``SalesMonth``,
kept current here by :func:`sales_month_apply` and rebuilt nightly by
:func:`sales_month_rebuild`). Order prices include tax (含税价), as Chinese price lists do.

Every service locks the account row first (``_lock_account``) before it writes, so two
writers never race on the customer's figures row, and the order of locks is always
account → order → lines.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, DateField, F, Sum, Value
from django.db.models.functions import Greatest, Substr, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _
from huey.contrib.djhuey import db_periodic_task

from guanxi.core import audit, context, registry
from guanxi.core.errors import Conflict, Invalid, NotFound
from guanxi.core.models import SoftDeletable
from guanxi.core.services import records
from guanxi.customers.models import Account, Contact
from guanxi.customers.services.merge import register_relation
from guanxi.sales import signals
from guanxi.sales.models import CNY, Order, OrderLine, Product, Quote, SalesMonth
from guanxi.sales.selectors.scope import order_scope
from guanxi.sales.services import orders_export, totals  # noqa: F401  (orders_export registers its jobs)
from guanxi.sales.services.common import (
    FEN,
    HUNDRED,
    ZERO,
    decimal_field,
    line_figures,
    money,
    next_code,
    owner_department,
    raise_if,
    rate_to_cny,
    require,
)
from guanxi.sales.services.common import totals as line_totals

COUNTED = totals.COUNTED_ORDERS
ORDER_EDITABLE = ("contact", "order_date", "ship_date", "shipping_address", "remarks", "currency")
# What changes the order's money: only while it is a draft (a counted order is history).
DRAFT_ONLY = ("order_date", "currency")
LINE_FIELDS = ("product", "name", "model", "unit", "quantity", "unit_price", "discount", "tax_rate", "remarks")
MAX_LINES = 200
QTY = Decimal("0.001")
# A quote in one of these states is agreed with the customer and may become an order.
ORDERABLE_QUOTES = (Quote.State.APPROVED, Quote.State.SENT, Quote.State.ACCEPTED)
# The states an order moves to, and from which.
MOVES: dict[str, tuple[str, ...]] = {
    Order.State.CONFIRMED: (Order.State.DRAFT,),
    Order.State.SHIPPED: (Order.State.CONFIRMED,),
    Order.State.DELIVERED: (Order.State.SHIPPED,),
    Order.State.CANCELLED: (Order.State.DRAFT, Order.State.CONFIRMED, Order.State.SHIPPED),
}


def at_local_time(hhmm: str) -> Any:
    """A periodic-task schedule firing once a day at ``hhmm`` in guanxi's time zone (huey
    hands its validator naive UTC or naive local time; see activities.tasks)."""
    hour, minute = (int(part) for part in hhmm.split(":"))

    def validate(timestamp: dt.datetime) -> bool:
        from huey.contrib.djhuey import HUEY

        aware = (timestamp.replace(tzinfo=dt.UTC) if HUEY.utc else timezone.make_aware(timestamp)) \
            if timezone.is_naive(timestamp) else timestamp
        local = timezone.localtime(aware)
        return (local.hour, local.minute) == (hour, minute)

    return validate


R = TypeVar("R", bound=SoftDeletable)


def lock_account(account_id: int) -> None:
    """Lock the customer's row for the rest of the transaction (see the module docstring)."""
    Account.all_objects.select_for_update().filter(pk=account_id).first()


def delete_locked(*, actor: Any, obj: R, perm: str, expected_version: int | None) -> R:
    """Move a customer's order, contract or receipt to the recycle bin: the right ``perm`` first,
    then under the customer's lock (its figures are recounted by the record's registry hook)."""
    require(actor, perm)
    lock_account(obj.account_id)  # type: ignore[attr-defined]
    records.record_delete(actor=actor, obj=obj, expected_version=expected_version)
    return obj


def _date(value: Any, field: str, errors: dict[str, list[str]], *, required: bool = False) -> dt.date | None:
    if value in (None, ""):
        if required:
            errors.setdefault(field, []).append(_("Enter a date."))
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        errors.setdefault(field, []).append(_("Enter a valid date (YYYY-MM-DD)."))
        return None


def _currency(value: Any, on: dt.date | None, errors: dict[str, list[str]]) -> tuple[str, Decimal]:
    code = str(value or CNY).strip().upper()
    if len(code) != 3 or not code.isalpha():
        errors.setdefault("currency", []).append(_("Enter a three-letter currency code such as CNY or USD."))
        return CNY, Decimal("1")
    try:
        return code, rate_to_cny(code, on)
    except Invalid as exc:
        for field, msgs in exc.errors.items():
            errors.setdefault(field, []).extend(msgs)
        return code, Decimal("1")


def _contact(value: Any, account: Account, errors: dict[str, list[str]]) -> Contact | None:
    if value in (None, ""):
        return None
    contact_id = getattr(value, "pk", value)
    found = Contact.objects.filter(pk=contact_id, account_id=account.pk).first() if str(contact_id).isdigit() else None
    if found is None:
        errors.setdefault("contact", []).append(_("Choose a contact of this account."))
    return found


def _product(value: Any) -> Product | None:
    if value in (None, ""):
        return None
    if isinstance(value, Product):
        return value if value.deleted_at is None else None
    return Product.objects.filter(pk=value).first() if str(value).isdigit() else None


def catalogue_price(product: Product, account: Account, quantity: Decimal, on: dt.date, currency: str) -> Decimal:
    """The price the price lists give ``account`` for ``product``, in ``currency``."""
    from guanxi.sales.services.products import price_for

    price, price_currency, _list = price_for(product, account, quantity, on)
    if (price_currency or CNY).upper() != currency:
        price = Decimal(price) * rate_to_cny(price_currency, on) / rate_to_cny(currency, on)
    return money(price)


def clean_lines(lines: Iterable[dict[str, Any]], *, account: Account, on: dt.date,
                currency: str) -> list[dict[str, Any]]:
    """Validate order lines (product or free) and fill what the catalogue knows.

    A line with a product takes the product's name, model, unit and tax rate unless given,
    and its price from the price lists when no unit price is given. Errors are keyed
    ``lines.<n>.<field>`` (n from 1), all of them at once.
    """
    errors: dict[str, list[str]] = {}
    cleaned: list[dict[str, Any]] = []
    rows = list(lines)
    if len(rows) > MAX_LINES:
        raise Invalid(errors={"lines": [_("An order has at most %(max)d lines.") % {"max": MAX_LINES}]})
    for n, raw in enumerate(rows, start=1):
        unknown = set(raw) - set(LINE_FIELDS)
        key = f"lines.{n}."
        if unknown:
            for name in sorted(unknown):
                errors[key + name] = [_("This field cannot be set here.")]
            continue
        product = _product(raw.get("product"))
        if raw.get("product") not in (None, "") and product is None:
            errors[key + "product"] = [_("Choose a product of the catalogue.")]
            continue
        name = str(raw.get("name") or (product.name if product else "")).strip()
        if not name:
            errors[key + "name"] = [_("Enter the product or a description.")]
        quantity = decimal_field(raw.get("quantity", 1), key + "quantity", errors, minimum=Decimal("0.001"),
                                 maximum=Decimal("99999999999"))
        discount = decimal_field(raw.get("discount") or 0, key + "discount", errors, maximum=HUNDRED)
        tax_default = product.tax_rate if product else Decimal("13")
        tax_rate = decimal_field(raw.get("tax_rate") if raw.get("tax_rate") not in (None, "") else tax_default,
                                 key + "tax_rate", errors, maximum=HUNDRED)
        unit_price = decimal_field(raw.get("unit_price"), key + "unit_price", errors,
                                   maximum=Decimal("99999999999999"), required=product is None)
        if unit_price is None and product is not None and quantity is not None and key + "unit_price" not in errors:
            try:
                unit_price = catalogue_price(product, account, quantity, on, currency)
            except Invalid as exc:
                errors[key + "unit_price"] = [m for ms in exc.errors.values() for m in ms] or [exc.message]
        if quantity is None or discount is None or tax_rate is None or unit_price is None:
            continue
        quantity, discount, tax_rate = quantity.quantize(QTY), discount.quantize(FEN), tax_rate.quantize(FEN)
        line: dict[str, Any] = {
            "product": product, "name": name[:200],
            "model": str(raw.get("model") or (product.model if product else "")).strip()[:100],
            "unit": str(raw.get("unit") or (product.unit if product else "")).strip()[:20],
            "quantity": quantity, "unit_price": money(unit_price), "discount": discount, "tax_rate": tax_rate,
            "remarks": str(raw.get("remarks") or "").strip()[:300],
        }
        figures = line_figures(quantity, line["unit_price"], discount, tax_rate)
        if figures.total >= Decimal("1e14"):
            errors[key + "quantity"] = [_("The line total is too large.")]
            continue
        line["total"] = figures.total
        cleaned.append(line)
    raise_if(errors)
    return cleaned


class _Line:
    """A cleaned line as ``common.totals`` reads it."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.quantity = data["quantity"]
        self.unit_price = data["unit_price"]
        self.discount = data["discount"]
        self.tax_rate = data["tax_rate"]


def _figures(lines: list[dict[str, Any]]) -> dict[str, Decimal]:
    sums = line_totals([_Line(line) for line in lines])
    return {"subtotal": sums.subtotal, "tax_total": sums.tax, "total": sums.total}


def _write_lines(order: Order, lines: list[dict[str, Any]]) -> None:
    OrderLine.objects.filter(order=order).delete()
    OrderLine.objects.bulk_create([OrderLine(order=order, position=n, **line) for n, line in enumerate(lines, 1)])


def line_snapshot(lines: Iterable[Any]) -> list[str]:
    """Lines as the audit row keeps them: one readable string each."""
    out = []
    for line in lines:
        data = line if isinstance(line, dict) else {name: getattr(line, name) for name in (*LINE_FIELDS, "total")}
        name = f"{data['name']} {data['model']}".strip()
        out.append(f"{name} × {data['quantity']} @ {data['unit_price']} -{data['discount']}% = {data['total']}")
    return out


# --- Create --------------------------------------------------------------------------------
@transaction.atomic
def order_create(*, actor: Any, account: Account, lines: Iterable[dict[str, Any]] = (), contact: Any = None,
                 order_date: Any = None, ship_date: Any = None, shipping_address: str | None = None,
                 remarks: str = "", currency: str = CNY) -> Order:
    """A draft order for a visible account, owned by the actor, with its lines."""
    require(actor, "order.add")
    if not _visible_account(actor, account):
        raise NotFound()
    lock_account(account.pk)
    errors: dict[str, list[str]] = {}
    on = _date(order_date, "order_date", errors) or timezone.localdate()
    ships = _date(ship_date, "ship_date", errors)
    if ships and ships < on:
        errors.setdefault("ship_date", []).append(_("The ship date cannot be before the order date."))
    code, rate = _currency(currency, on, errors)
    chosen_contact = _contact(contact, account, errors)
    try:
        cleaned = clean_lines(lines, account=account, on=on, currency=code) if not errors else []
    except Invalid as exc:
        errors.update(exc.errors)
        cleaned = []
    raise_if(errors)
    order = Order.objects.create(
        code=next_code("order", "DD"), account=account, contact=chosen_contact, order_date=on, ship_date=ships,
        currency=code, rate_to_cny=rate, remarks=(remarks or "").strip(),
        shipping_address=(account.address if shipping_address is None else shipping_address).strip()[:300],
        owner=actor, department_id=owner_department(actor), **_figures(cleaned))
    _write_lines(order, cleaned)
    changes = audit.creation_changes(order, skip_empty=True)
    if cleaned:
        changes["lines"] = [None, line_snapshot(cleaned)]
    audit.record(actor=actor, action="create", obj=order, changes=changes)
    return order


def _visible_account(actor: Any, account: Account) -> bool:
    from guanxi.customers.selectors import account_scope

    return account_scope(actor).filter(pk=account.pk).exists()


@transaction.atomic
def order_from_quote(*, actor: Any, quote: Quote) -> Order:
    """A draft order from an agreed quote (approved, sent or accepted): its lines copied, the
    quote and its opportunity linked, the quote marked accepted. The caller fetched the quote
    through its scope. A quote waiting for approval, or one that already has a live order,
    is refused.
    """
    require(actor, "order.add")
    lock_account(quote.account_id)
    quote = Quote.all_objects.select_for_update().get(pk=quote.pk)
    if quote.state not in ORDERABLE_QUOTES:
        if quote.state == Quote.State.PENDING:
            raise Invalid(_("This quote is waiting for a manager's approval; it can become an order once approved."))
        raise Invalid(_("Only an approved, sent or accepted quote can become an order (this one is %(state)s).")
                      % {"state": str(quote.get_state_display()).lower()})
    existing = Order.objects.filter(quote=quote).exclude(state=Order.State.CANCELLED).first()
    if existing is not None:
        raise Invalid(_("Order %(code)s was already made from this quote.") % {"code": existing.code})
    owner = quote.owner if quote.owner.is_active else actor
    lines = []
    for line in quote.lines.all():
        price = line.unit_price if quote.prices_include_tax else money(line.unit_price * (1 + line.tax_rate / HUNDRED))
        figures = line_figures(line.quantity, price, line.discount, line.tax_rate)
        lines.append({"product": line.product, "name": line.name, "model": line.model, "unit": line.unit,
                      "quantity": line.quantity, "unit_price": price, "discount": line.discount,
                      "tax_rate": line.tax_rate, "remarks": line.remarks, "total": figures.total})
    account = Account.all_objects.get(pk=quote.account_id)
    order = Order.objects.create(
        code=next_code("order", "DD"), account=account, contact=quote.contact, quote=quote,
        opportunity=quote.opportunity, currency=quote.currency, rate_to_cny=quote.rate_to_cny,
        shipping_address=account.address[:300], remarks=quote.delivery_terms.strip(),
        owner=owner, department_id=owner_department(owner), **_figures(lines))
    _write_lines(order, lines)
    changes = audit.creation_changes(order, skip_empty=True)
    changes["lines"] = [None, line_snapshot(lines)]
    audit.record(actor=actor, action="create", obj=order, changes=changes,
                 note=_("from quote %(code)s") % {"code": quote.code})
    if quote.state != Quote.State.ACCEPTED:
        records.apply_update(actor=actor, obj=quote, changes={"state": Quote.State.ACCEPTED}, expected_version=None,
                             note=_("order %(code)s") % {"code": order.code})
    return order


# --- Update --------------------------------------------------------------------------------
def _validate(order: Order, changes: dict[str, Any]) -> dict[str, Any]:
    """Clean a header change of ``order`` (also the registry's validator for generic edits)."""
    errors: dict[str, list[str]] = {}
    unknown = set(changes) - set(ORDER_EDITABLE)
    if unknown:
        raise Invalid(errors={name: [_("This field cannot be changed here.")] for name in sorted(unknown)})
    if order.state == Order.State.CANCELLED:
        raise Invalid(_("A cancelled order cannot change."))
    cleaned: dict[str, Any] = {}
    account = Account.all_objects.get(pk=order.account_id)
    if "order_date" in changes:
        cleaned["order_date"] = _date(changes["order_date"], "order_date", errors, required=True)
    if "ship_date" in changes:
        cleaned["ship_date"] = _date(changes["ship_date"], "ship_date", errors)
    on = cleaned.get("order_date") or order.order_date
    if "currency" in changes:
        cleaned["currency"], cleaned["rate_to_cny"] = _currency(changes["currency"], on, errors)
    elif "order_date" in changes and order.currency != CNY and cleaned.get("order_date"):
        _code, cleaned["rate_to_cny"] = _currency(order.currency, on, errors)
    if "contact" in changes:
        cleaned["contact"] = _contact(changes["contact"], account, errors)
    for name in ("shipping_address", "remarks"):
        if name in changes:
            cleaned[name] = str(changes[name] or "").strip()
    if len(cleaned.get("shipping_address", "")) > 300:
        errors.setdefault("shipping_address", []).append(_("At most 300 characters."))
    ships = cleaned.get("ship_date", order.ship_date)
    if ships and on and ships < on:
        errors.setdefault("ship_date", []).append(_("The ship date cannot be before the order date."))
    if order.state != Order.State.DRAFT:
        for name in DRAFT_ONLY:
            if name in cleaned and cleaned[name] != getattr(order, name):
                errors.setdefault(name, []).append(_("Only a draft order's date and currency can change."))
    raise_if(errors)
    if "currency" in cleaned and cleaned["currency"] == order.currency and "order_date" not in cleaned:
        cleaned.pop("rate_to_cny", None)
    return cleaned


@transaction.atomic
def order_update(*, actor: Any, order: Order, changes: dict[str, Any], expected_version: int | None) -> Order:
    """Change an order's header (stale ``expected_version`` → Conflict)."""
    require(actor, "order.change")
    lock_account(order.account_id)
    if expected_version is not None and int(expected_version) != order.version:
        raise Conflict()
    cleaned = _validate(order, changes)
    records.apply_update(actor=actor, obj=order, changes=cleaned, expected_version=expected_version)
    return order


@transaction.atomic
def order_lines_set(*, actor: Any, order: Order, lines: Iterable[dict[str, Any]],
                    expected_version: int | None) -> Order:
    """Replace a draft order's lines and recompute its totals (stale version → Conflict)."""
    require(actor, "order.change")
    lock_account(order.account_id)
    if expected_version is not None and int(expected_version) != order.version:
        raise Conflict()
    if order.state != Order.State.DRAFT:
        raise Invalid(_("Only a draft order's lines can change."))
    account = Account.all_objects.get(pk=order.account_id)
    cleaned = clean_lines(lines, account=account, on=order.order_date, currency=order.currency)
    before = line_snapshot(order.lines.all())
    figures = _figures(cleaned)
    now = timezone.now()
    rows = Order.all_objects.filter(pk=order.pk, version=order.version).update(
        **figures, version=F("version") + 1, updated_at=now)
    if rows != 1:
        raise Conflict()
    _write_lines(order, cleaned)
    changes: dict[str, Any] = {name: [str(getattr(order, name)), str(value)] for name, value in figures.items()
                               if getattr(order, name) != value}
    after = line_snapshot(cleaned)
    if after != before:
        changes["lines"] = [before, after]
    for name, value in figures.items():
        setattr(order, name, value)
    order.version += 1
    order.updated_at = now
    audit.record(actor=actor, action="update", obj=order, changes=changes)
    return order


# --- Status through delivery ---------------------------------------------------------------
@transaction.atomic
def order_move(*, actor: Any, order: Order, to: str, on: Any = None, expected_version: int | None = None) -> Order:
    """Move an order along draft → confirmed → shipped → delivered, or cancel it.

    ``on`` is the ship date (shipped) or the delivery date (delivered), today by default.
    Confirming needs at least one line. Entering or leaving the counted states updates the
    customer's figures and the monthly sales in the same transaction. Delivering sends
    ``signals.order_delivered`` (the satisfaction survey listens) once it is saved.
    """
    require(actor, "order.change")
    if to not in MOVES:
        raise Invalid(errors={"state": [_("Choose a valid state.")]})
    lock_account(order.account_id)
    if expected_version is not None and int(expected_version) != order.version:
        raise Conflict()
    fresh = Order.all_objects.select_for_update().get(pk=order.pk)
    if fresh.version != order.version:
        raise Conflict()
    if order.state not in MOVES[to]:
        raise Invalid(_("A %(state)s order cannot become %(to)s.") % {
            "state": str(order.get_state_display()).lower(), "to": str(Order.State(to).label).lower()})
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {"state": to}
    when = _date(on, "on", errors) or timezone.localdate()
    if to == Order.State.CONFIRMED and not order.lines.exists():
        errors["lines"] = [_("Add at least one line before confirming the order.")]
    if to == Order.State.SHIPPED:
        if when < order.order_date:
            errors["on"] = [_("The ship date cannot be before the order date.")]
        changes["ship_date"] = when
    if to == Order.State.DELIVERED:
        if order.ship_date and when < order.ship_date:
            errors["on"] = [_("The delivery date cannot be before the ship date.")]
        changes["delivered_on"] = when
    raise_if(errors)
    was_counted = order.state in COUNTED
    records.apply_update(actor=actor, obj=order, changes=changes, expected_version=order.version)
    is_counted = to in COUNTED
    if is_counted != was_counted:
        sales_month_apply(order, 1 if is_counted else -1)
    # The customer's figures were recounted by the registry hook (``_after_change``).
    if to == Order.State.DELIVERED:
        signals.order_delivered.send(sender=Order, order=order, actor=actor)
    return order


def order_confirm(*, actor: Any, order: Order, expected_version: int | None = None) -> Order:
    return order_move(actor=actor, order=order, to=Order.State.CONFIRMED, expected_version=expected_version)


def order_ship(*, actor: Any, order: Order, on: Any = None, expected_version: int | None = None) -> Order:
    return order_move(actor=actor, order=order, to=Order.State.SHIPPED, on=on, expected_version=expected_version)


def order_deliver(*, actor: Any, order: Order, on: Any = None, expected_version: int | None = None) -> Order:
    return order_move(actor=actor, order=order, to=Order.State.DELIVERED, on=on, expected_version=expected_version)


def order_cancel(*, actor: Any, order: Order, expected_version: int | None = None) -> Order:
    return order_move(actor=actor, order=order, to=Order.State.CANCELLED, expected_version=expected_version)


@transaction.atomic
def order_delete(*, actor: Any, order: Order, expected_version: int | None = None) -> Order:
    """Move an order to the recycle bin (its figures and monthly sales leave with it)."""
    return delete_locked(actor=actor, obj=order, perm="order.delete", expected_version=expected_version)


def _after_change(order: Order) -> None:
    """Registry hook, after any generic update, delete or restore of an order.

    ``records.record_delete`` hands over the record as it was before (alive), and
    ``records.record_restore`` as it was in the bin; the row now says where it went. So
    a difference between the two is a delete or a restore, and a counted order's lines
    leave or rejoin the monthly sales. The customer's figures are recounted either way.
    """
    lock_account(order.account_id)
    now = Order.all_objects.filter(pk=order.pk).values("deleted_at", "state").first()
    if now is None:
        return
    was_alive, is_alive = order.deleted_at is None, now["deleted_at"] is None
    if was_alive != is_alive and now["state"] in COUNTED:
        sales_month_apply(order, 1 if is_alive else -1)
    totals.refresh([order.account_id])


# --- Monthly sales (the forecast's history) -----------------------------------------------
def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _order_rows(order_id: int) -> tuple[dt.date, str, dict[int, tuple[Decimal, Decimal]]] | None:
    """(month, province, {product: (quantity, amount CNY)}) of one order, as the rollup counts it."""
    head = Order.all_objects.filter(pk=order_id).values("order_date", "rate_to_cny", "account__province").first()
    if head is None:
        return None
    sums: dict[int, tuple[Decimal, Decimal]] = {}
    for product_id, quantity, total in OrderLine.objects.filter(order_id=order_id, product__isnull=False) \
            .values_list("product_id", "quantity", "total"):
        qty, amount = sums.get(product_id, (ZERO, ZERO))
        sums[product_id] = (qty + quantity, amount + money(total * head["rate_to_cny"]))
    return _month(head["order_date"]), head["account__province"] or "", sums


def _bump(month: dt.date, product_id: int, province: str, quantity: Decimal, amount: Decimal, orders: int) -> None:
    key = {"month": month, "product_id": product_id, "province": province}
    values = {"quantity": F("quantity") + quantity, "amount": F("amount") + amount,
              "orders": Greatest(F("orders") + orders, Value(0)),
              "changes": F("changes") + 1}  # a new generation of the rollup: the forecast's cache moves on
    if SalesMonth.objects.filter(**key).update(**values):
        return
    try:
        with transaction.atomic():  # another account of the province may create the row at the same time
            SalesMonth.objects.create(**key, quantity=quantity, amount=amount, orders=max(orders, 0))
    except IntegrityError:
        SalesMonth.objects.filter(**key).update(**values)


def sales_month_apply(order: Order, sign: int) -> None:
    """Add (``sign`` = 1) or take away (-1) one order's catalogue lines in the monthly sales.

    Call inside the transaction that makes the order counted or uncounted (confirm,
    cancel, delete, restore). Free lines have no product and are not forecast. The
    province is the account's now: when it moved since, the nightly rebuild corrects it.
    """
    rows = _order_rows(order.pk)
    if rows is None:
        return
    month, province, sums = rows
    for product_id, (quantity, amount) in sums.items():
        _bump(month, product_id, province, quantity * sign, amount * sign, sign)


def _month_of_order() -> Any:
    """The month of a line's order as the database groups it: SQLite keeps dates as ISO text, whose
    first seven characters are the month (no function call per row); PostgreSQL truncates."""
    if connection.vendor == "sqlite":
        return Substr("order__order_date", 1, 7)
    return TruncMonth("order__order_date", output_field=DateField())


def _as_month(value: Any) -> dt.date:
    if isinstance(value, str):  # "YYYY-MM" from SQLite
        return dt.date(int(value[:4]), int(value[5:7]), 1)
    return _month(value)


def _monthly_sums() -> dict[tuple[dt.date, int, str], list[Any]]:
    """{(month, product, province): [quantity, amount in CNY, order count]} of the counted orders'
    catalogue lines.

    A line's amount is its total times its order's rate, rounded to the fen line by line (as
    ``sales_month_apply`` adds it). At the rate 1 (orders in CNY, most of them) that is the total
    itself, so the database sums those lines by month; lines of orders in another currency are
    summed here line by line. An order has one rate: its lines are in one part only."""
    lines = OrderLine.objects.filter(product__isnull=False, order__deleted_at__isnull=True,
                                     order__state__in=COUNTED).order_by()
    sums: dict[tuple[dt.date, int, str], list[Any]] = defaultdict(lambda: [ZERO, ZERO, 0])
    grouped = (lines.filter(order__rate_to_cny=1).annotate(ym=_month_of_order())
               .values_list("ym", "product_id", "order__account__province")
               .annotate(quantity=Sum("quantity"), amount=Sum("total"), orders=Count("order_id", distinct=True)))
    for ym, product_id, province, quantity, amount, orders in grouped:
        row = sums[(_as_month(ym), product_id, province or "")]
        row[0] += Decimal(quantity).quantize(Decimal("0.001"))
        row[1] += money(amount)
        row[2] += orders
    foreign: dict[tuple[dt.date, int, str], set[int]] = defaultdict(set)
    for order_id, day, rate, province, product_id, quantity, total in lines.exclude(order__rate_to_cny=1).values_list(
            "order_id", "order__order_date", "order__rate_to_cny", "order__account__province", "product_id",
            "quantity", "total").iterator(chunk_size=5000):
        key = (_month(day), product_id, province or "")
        row = sums[key]
        row[0] += quantity
        row[1] += money(total * rate)
        foreign[key].add(order_id)
    for key, ids in foreign.items():
        sums[key][2] += len(ids)
    return sums


@transaction.atomic
def sales_month_rebuild() -> int:
    """Recount the whole monthly sales from the counted orders and write what differs; returns
    the number of rows the recount holds.

    A corrected row has its ``changes`` bumped and a new one gets a new id, so the forecast's
    cache generation moves on with any correction; a night without drift writes nothing."""
    sums = _monthly_sums()
    stored = {(month, product_id, province): (pk, quantity, amount, orders) for
              pk, month, product_id, province, quantity, amount, orders in SalesMonth.objects.order_by().values_list(
                  "pk", "month", "product_id", "province", "quantity", "amount", "orders").iterator(chunk_size=5000)}
    new: list[SalesMonth] = []
    changed: list[tuple[int, Decimal, Decimal, int]] = []
    for (month, product_id, province), (quantity, amount, orders) in sums.items():
        old = stored.get((month, product_id, province))
        if old is None:
            new.append(SalesMonth(month=month, product_id=product_id, province=province, quantity=quantity,
                                  amount=amount, orders=orders))
        elif (old[1], old[2], old[3]) != (quantity, amount, orders):
            changed.append((old[0], quantity, amount, orders))
    gone = [old[0] for key, old in stored.items() if key not in sums]
    for start in range(0, len(gone), 500):
        SalesMonth.objects.filter(pk__in=gone[start:start + 500]).delete()
    SalesMonth.objects.bulk_create(new, batch_size=1000)
    for pk, quantity, amount, orders in changed:  # few on a normal night
        SalesMonth.objects.filter(pk=pk).update(quantity=quantity, amount=amount, orders=orders,
                                                changes=F("changes") + 1)
    return len(sums)


# --- Registration with the generic machinery (recycle bin, history) --------------------------
# A merged customer's orders move to the account kept (the figures follow at the next
# write or the nightly recount, the monthly sales at the nightly rebuild).
register_relation("account", "orders", Order, "account", audited=True)
registry.register(registry.Entry(
    model=Order, perm="order", scope=lambda user, qs: order_scope(user, qs), editable=ORDER_EDITABLE,
    detail_url=lambda obj: f"/sales/orders/{obj.pk}/", validate=_validate, after_change=_after_change,
))


@db_periodic_task(at_local_time(settings.GUANXI_SALES_NIGHTLY_TIME))
def rebuild_sales_months() -> int:
    """Every night: the monthly sales rebuilt from the orders, every customer's figures and the
    deal board's figures recounted (corrects any drift, e.g. after a merge or an account's
    province changed)."""
    from guanxi.sales.services import board, totals

    with context.origin(None, "job"):
        months = sales_month_rebuild()
        totals.recount_all()
        board.rebuild()
        return months
