"""Helpers shared by the order and contract tests.

Everything is made through the services, as a user would: products straight in the
catalogue, quotes through the quote service (approved through the real approval when a
discount is above the limit), orders, contracts, plans and receipts through ours.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from guanxi.sales.models import AccountSales, Contract, Order, Product, Quote
from guanxi.sales.services import contracts as contract_services
from guanxi.sales.services import orders as order_services
from guanxi.sales.services import payments as payment_services
from guanxi.sales.services import totals

D = Decimal


def days(n: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=n)


def product(code: str = "P-100", price: str = "100.00", **fields: Any) -> Product:
    """The catalogue product ``code`` (made on first use with ``price`` as its list price)."""
    found = Product.objects.filter(code=code).first()
    if found is not None:
        return found
    fields.setdefault("name", f"产品{code}")
    fields.setdefault("model", f"M-{code}")
    fields.setdefault("unit", "台")
    return Product.objects.create(code=code, list_price=D(price), **fields)


def quote_factory(owner: Any, account: Any, *, state: str = Quote.State.APPROVED, discount: str = "15",
                  lines: list[dict[str, Any]] | None = None, **fields: Any) -> Quote:
    """A quote of ``owner`` for ``account`` in ``state``: approved by a manager of the owner
    through the real approval (one line above the discount limit), sent, or accepted."""
    from guanxi.sales.selectors.quotes import approvers_for
    from guanxi.sales.services import quotes as quote_services

    specs = lines or [{"product": product("Q-1", "1000.00").pk, "quantity": "2", "discount": discount},
                      {"name": "安装调试", "unit": "次", "quantity": "1", "unit_price": "500", "tax_rate": "6"}]
    quote = quote_services.quote_create(actor=owner, account=account, subject="数控机床", lines=specs,
                                        delivery_terms="款到发货", **fields)
    if state == Quote.State.DRAFT:
        return quote
    if D(discount) > D("10") and state in (Quote.State.PENDING, Quote.State.APPROVED, Quote.State.SENT,
                                          Quote.State.ACCEPTED):
        quote_services.quote_request_approval(actor=owner, quote=quote)
        if state == Quote.State.PENDING:
            return quote
        quote_services.quote_decide(actor=approvers_for(owner)[0], quote=quote, approve=True)
    if state in (Quote.State.SENT, Quote.State.ACCEPTED):
        quote_services.quote_send(actor=owner, quote=quote)
        quote.refresh_from_db()
    if state == Quote.State.ACCEPTED:
        quote_services.quote_accept(actor=owner, quote=quote)
    quote.refresh_from_db()
    assert quote.state == state, quote.state
    return quote


def order_factory(owner: Any, account: Any, *, state: str = Order.State.DRAFT,
                  lines: list[dict[str, Any]] | None = None, **fields: Any) -> Order:
    """An order moved to ``state`` (default lines: 3 × P-100 at 100 and 50 of freight = 350)."""
    specs = lines if lines is not None else [
        {"product": product("P-100", "100.00"), "quantity": "3"},
        {"name": "运费", "quantity": "1", "unit_price": "50", "tax_rate": "9"},
    ]
    order = order_services.order_create(actor=owner, account=account, lines=specs, **fields)
    path = [Order.State.CONFIRMED, Order.State.SHIPPED, Order.State.DELIVERED]
    if state == Order.State.CANCELLED:
        order_services.order_cancel(actor=owner, order=order)
    elif state in path:
        for to in path[:path.index(state) + 1]:
            order_services.order_move(actor=owner, order=order, to=to)
    order.refresh_from_db()
    return order


def contract_factory(owner: Any, account: Any, *, amount: str = "10000", plan: Any = (), active: bool = True,
                     **fields: Any) -> Contract:
    """A contract with a plan of (due in n days, amount) instalments, signed yesterday unless ``active=False``."""
    contract = contract_services.contract_create(actor=owner, account=account, amount=amount, **fields)
    for due_in, instalment in plan:
        contract_services.plan_add(actor=owner, contract=contract, due_on=days(due_in), amount=instalment,
                                   description=f"第{due_in}天")
    if active:
        contract.refresh_from_db()
        contract_services.contract_move(actor=owner, contract=contract, to=Contract.State.ACTIVE,
                                        signed_on=fields.get("signed_on") or days(-1))
    contract.refresh_from_db()
    return contract


def receive(actor: Any, contract: Contract, amount: str, **fields: Any) -> Any:
    contract.refresh_from_db()
    return payment_services.payment_record(actor=actor, contract=contract, amount=amount, **fields)


def figures_row(account: Any) -> dict[str, Any]:
    """The stored AccountSales row as figures() returns it (the invariant's left side)."""
    row = AccountSales.objects.get(account=account)
    return {name: getattr(row, name) for name in totals.figures(account.pk)}


def assert_figures(account: Any, **expected: Any) -> None:
    """The stored row equals a full recount, and the named figures equal the hand-computed ones."""
    stored = figures_row(account)
    assert stored == totals.figures(account.pk)
    for name, value in expected.items():
        assert stored[name] == (D(value) if isinstance(value, str) else value), (name, stored[name], value)
