"""Records for the rebates, targets and forecast tests, written straight to the tables (the
order, contract and payment services are tested on their own; here only what they leave
behind matters)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from guanxi.core import codes
from guanxi.customers.models import Account
from guanxi.sales.models import Contract, Order, Payment, RebateRule

D = Decimal


def code(prefix: str) -> str:
    return f"{prefix}-T-{codes.reserve(f'h6-{prefix}')[0]:06d}"


def contract(account: Account, owner: Any, *, amount: str = "1000000", signed_on: dt.date | None = None,
             state: str = Contract.State.ACTIVE, currency: str = "CNY", rate: str = "1", **fields: Any) -> Contract:
    return Contract.objects.create(
        code=code("HT"), title=fields.pop("title", "年度供货合同"), account=account, party_a=account.name,
        party_b="本公司", amount=D(amount), currency=currency, rate_to_cny=D(rate), state=state,
        signed_on=signed_on, owner=owner, department=owner.department, **fields)


def payment(of: Contract, amount: str, received_on: dt.date, **fields: Any) -> Payment:
    return Payment.objects.create(contract=of, account=of.account, amount=D(amount), received_on=received_on,
                                  **fields)


def order(account: Account, owner: Any, total: str, order_date: dt.date, *, state: str = Order.State.CONFIRMED,
          rate: str = "1", currency: str = "CNY") -> Order:
    return Order.objects.create(code=code("DD"), account=account, owner=owner, department=owner.department,
                                state=state, order_date=order_date, total=D(total), subtotal=D(total),
                                currency=currency, rate_to_cny=D(rate))


TIERS = [{"from": "0", "rate": "1"}, {"from": "1000000", "rate": "2"}, {"from": "3000000", "rate": "3"}]


def rule(year: int, **fields: Any) -> RebateRule:
    """A rule as a manager would set it: 1 % from the first yuan, 2 % from 1 million, 3 % from
    3 million; 0.5 % more on reaching 2.5 million; 1 point per 10,000 CNY."""
    values: dict[str, Any] = {"name": "经销商年度返利", "year": year, "basis": RebateRule.Basis.RECEIVED,
                              "tiers": TIERS, "target": D("2500000"), "target_rate": D("0.5"),
                              "points_per_10k": D("1")}
    values.update(fields)
    return RebateRule.objects.create(**values)
