"""Fixtures shared by the quote tests (imported by each test_quotes_* module)."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.base import ContentFile

CUSTOMER = "杭州西湖精密机械有限公司"


def png(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (120, 80)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def customer(org: Any, account_factory: Any) -> Any:
    """The salesperson's account with an attention-of contact."""
    from guanxi.customers.models import Contact

    account = account_factory(org.salesperson, name=CUSTOMER, address="杭州市西湖区文三路 100 号",
                              phone="0571-88886666", province="浙江", city="杭州")
    account.buyer = Contact.objects.create(account=account, name="陈国华", title="采购经理",
                                           mobile="13800138000", email="chen@xihu.example")
    return account


@pytest.fixture
def product(db: Any) -> Any:
    from guanxi.sales.models import Product

    item = Product.objects.create(code="HY-080", name="液压油缸", model="HSG-80/45", specification="缸径 80 mm，行程 500 mm",
                                  packaging="木箱，每箱 2 台", features="耐高压\n寿命长", unit="台",
                                  list_price=Decimal("1200.00"), tax_rate=Decimal("13"))
    item.picture.save("cylinder.png", ContentFile(png()), save=True)
    return item


@pytest.fixture
def make_quote(org: Any, customer: Any) -> Any:
    """A draft quote of the salesperson with free lines: make_quote(discount=15, price=1000)."""
    from guanxi.sales.services import quotes

    def make(*, actor: Any = None, account: Any = None, discount: Any = 0, price: Any = "1000", quantity: Any = 2,
             subject: str = "液压油缸", **fields: Any) -> Any:
        account = account or customer
        lines = fields.pop("lines", None) or [{"name": "液压油缸", "model": "HSG-80", "unit": "台",
                                               "quantity": quantity, "unit_price": price, "discount": discount}]
        return quotes.quote_create(actor=actor or org.salesperson, account=account, subject=subject,
                                   contact=getattr(account, "buyer", None), lines=lines, **fields)

    return make
