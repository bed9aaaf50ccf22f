"""What every demo account's sales draw shares (see ``guanxi.sales.demo``): the catalogue,
the people and who approves for whom, the stages, the calendar (seasons, growth) and the
small draws (a product mix with its prices, a moment in office hours, a day of the season).
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from django.conf import settings
from django.db.models import Model

from guanxi.sales import demo_catalogue as cat

FEN = Decimal("0.01")
HUNDRED = Decimal("100")
TAX_DIVISOR = Decimal("1.13")
# Month factors of the Chinese business year: Spring Festival in Jan/Feb, a push before the
# half-year and the year-end closing, a dip around National Day.
SEASON = (0.85, 0.45, 1.05, 1.0, 1.0, 1.15, 0.9, 0.85, 1.05, 0.8, 1.1, 1.4)
GROWTH = 0.45  # the business grows about 45 % over the three years
AVG_LINES = 3.1  # measured: lines per order over the product mix (keeps the documented volume)
EXTRA_LINES = {"数控机床": 0.6, "伺服与驱动": 2.5, "工业机器人与自动化": 1.5, "注塑与包装设备": 0.6, "备件与耗材": 3.2}
# How often an order is for the customer's main line: a machine-tool customer buys a machine
# now and then and spares and drives for it in between.
MAIN_SHARE = (0.3, 0.85, 0.35, 0.3, 0.9)
SPARES, DRIVES = 4, 1
BOOK_WORKED = 150
DIRECT_DISCOUNTS = ((0, 62), (3, 14), (5, 13), (8, 8), (10, 3))
DISTRIBUTOR_DISCOUNTS = ((0, 90), (2, 10))
CONTRACT_FROM = Decimal("80000")
DEAL_FROM = Decimal("100000")
PROJECT_FROM = Decimal("500000")
PAYMENT_TERMS = "合同签订后预付 30%，货到验收后 30 天内付 60%，余款 10% 为质保金，验收满一年后付清。"
DELIVERY_TERMS = "合同生效后 30 天内交货，送货上门并负责安装调试。"
QUOTE_TERMS = "报价含 13% 增值税专用发票及运费；质保一年，终身维护。"
REMARKS = ("", "", "", "", "请开增值税专用发票", "月底前发货", "分两批发货", "随货附合格证和说明书", "送货前电话联系")
FAIRS = ("中国国际工业博览会（上海）", "中国（广州）国际机床展", "青岛国际机床展", "东莞国际模具及金属加工展",
         "华南国际工业自动化展", "中国国际塑料橡胶工业展（深圳）")
DISQUALIFY = ("预算不足", "只是询价比较", "需求不匹配", "联系不上", "同行打听价格")
SUBJECTS = {"数控机床": "加工中心及数控车床采购", "伺服与驱动": "伺服电机及驱动器", "工业机器人与自动化": "自动化产线改造",
            "注塑与包装设备": "注塑及包装设备", "备件与耗材": "机床备件及耗材"}


def money(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def _table(values: tuple[tuple[str | int, int], ...]) -> tuple[list[Any], list[int]]:
    return [v for v, _w in values], list(itertools.accumulate(w for _v, w in values))


def pick(rng: random.Random, table: tuple[list[Any], list[int]]) -> Any:
    values, cum = table
    return values[bisect.bisect(cum, rng.random() * cum[-1])]


_DIRECT, _DISTRIBUTOR = _table(DIRECT_DISCOUNTS), _table(DISTRIBUTOR_DISCOUNTS)


class AccountRow(NamedTuple):
    pk: int
    name: str
    owner_id: int | None
    created_by_id: int | None
    created_at: datetime
    grade: str
    lifecycle: str
    is_distributor: bool
    province: str
    city: str
    address: str


class Item(NamedTuple):
    product: Any  # the Product row
    spec: cat.ProductSpec
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal
    total: Decimal
    tax: Decimal


@dataclass
class World:
    """What every account's draw shares: loaded once per build."""

    catalogue: dict[str, Any]
    seed: int
    today: date
    first_day: date
    end: datetime
    lines_target: int
    weight_total: float
    users: dict[int, tuple[int | None, str, str]] = field(default_factory=dict)  # id → (department, username, name)
    salespeople: list[int] = field(default_factory=list)
    approver: dict[int | None, int | None] = field(default_factory=dict)  # department → manager (else the GM)
    personas: set[int] = field(default_factory=set)
    company: str = ""
    books: dict[int, int] = field(default_factory=dict)  # owner → accounts owned
    # (line, [(spec, product)], cumulative popularity) per product line; cumulative line weights
    lines: list[tuple[Any, list[tuple[Any, Any]], list[int]]] = field(default_factory=list)
    line_cum: list[int] = field(default_factory=list)
    limit: Decimal = Decimal("10")

    @classmethod
    def load(cls, catalogue: dict[str, Any], **kwargs: Any) -> World:
        from django.db.models import Count

        from guanxi.core.models import User
        from guanxi.customers.models import Account

        world = cls(catalogue=catalogue, **kwargs)
        gm = None
        for pk, department_id, username, name, role in User.objects.values_list(
                "pk", "department_id", "username", "name", "roles__code").order_by("pk"):
            world.users[pk] = (department_id, username, name or username)
            if role == "salesperson":
                world.salespeople.append(pk)
            elif role == "sales_manager":
                world.approver.setdefault(department_id, pk)
            elif role == "general_manager":
                gm = gm or pk
        world.approver[None] = gm
        world.books = dict(Account.all_objects.exclude(owner=None).values("owner_id").annotate(n=Count("id"))
                           .order_by().values_list("owner_id", "n"))
        world.personas = {pk for pk, (_d, username, _n) in world.users.items() if username in ("sales", "sales2")}
        world.company = (getattr(settings, "GUANXI_COMPANY_NAME", "") or "").strip() or cat.COMPANY
        world.limit = Decimal(str(getattr(settings, "GUANXI_QUOTE_DISCOUNT_LIMIT", 10)))
        products = catalogue["products"]
        world.lines = [(line, [(spec, products[spec.code]) for spec in line.products],
                        list(itertools.accumulate(spec.popularity for spec in line.products)))
                       for line in cat.LINES]
        world.line_cum = list(itertools.accumulate(line.weight for line in cat.LINES))
        return world

    # --- Small draws ---
    def moment(self, rng: random.Random, day: date) -> datetime:
        """A working-hours moment of ``day``, never after the start of today."""
        at = datetime.combine(day, dtime(8 + int(rng.random() * 10), int(rng.random() * 60)), tzinfo=self.end.tzinfo)
        return min(at, self.end - timedelta(minutes=1 + int(rng.random() * 600)))

    def season_day(self, rng: random.Random, start: date, stop: date) -> date:
        span = (stop - start).days
        history = max((self.today - self.first_day).days, 1)
        top = max(SEASON) * (1 + GROWTH)
        for _ in range(50):
            day = start + timedelta(days=int(rng.random() * span))
            if day.weekday() >= 5 and rng.random() < 0.8:
                continue
            factor = SEASON[day.month - 1] * (1 + GROWTH * (day - self.first_day).days / history)
            if rng.random() * top < factor:
                return day
        return start + timedelta(days=int(rng.random() * span))

    def workload(self, owner: int) -> float:
        """Scale of an owner's open deals: nobody works more than about a hundred and fifty
        customers' deals at once, however large the book."""
        return min(1.0, BOOK_WORKED / max(self.books.get(owner, 1), 1))

    def approver_of(self, owner_id: int) -> int | None:
        department = self.users.get(owner_id, (None, "", ""))[0]
        return self.approver.get(department) or self.approver.get(None)

    def items(self, rng: random.Random, main: int, count: int, distributor: bool, grade: str) -> list[Item]:
        chosen: dict[str, Item] = {}
        for _ in range(count * 3):
            if len(chosen) >= count:
                break
            line_index = main if rng.random() < 0.8 else SPARES if rng.random() < 0.6 else int(rng.random() * 5)
            _line, products, cum = self.lines[line_index]
            spec, product = products[bisect.bisect(cum, rng.random() * cum[-1])]
            if spec.code in chosen:
                continue
            low, high = spec.quantity
            quantity = low + int((high - low + 1) * rng.random() ** 2)
            if distributor and high > 4:
                quantity = min(quantity * 2, high * 2)
            price = Decimal(spec.price)
            if distributor:
                price = (price * cat.PRICE_FACTORS[cat.DISTRIBUTOR_LIST][spec.code[:2]]).quantize(Decimal("1"))
                if spec.code[:2] in ("BJ", "HC") and quantity >= cat.VOLUME_BREAK:
                    price = (price * Decimal("0.95")).quantize(Decimal("1"))
            elif grade == "A":
                price = (price * cat.PRICE_FACTORS[cat.A_GRADE_LIST][spec.code[:2]]).quantize(Decimal("1"))
            discount = Decimal(pick(rng, _DISTRIBUTOR if distributor else _DIRECT))
            qty = Decimal(quantity)
            total = money(qty * price * (HUNDRED - discount) / HUNDRED)
            chosen[spec.code] = Item(product, spec, qty, price, discount, total, money(total - total / TAX_DIVISOR))
        return list(chosen.values())

    def main_line(self, rng: random.Random, distributor: bool) -> int:
        if distributor:
            return DRIVES if rng.random() < 0.5 else SPARES
        return bisect.bisect(self.line_cum, rng.random() * self.line_cum[-1])

    def order_line(self, rng: random.Random, main: int) -> int:
        """The product line one order is mainly for."""
        if rng.random() < MAIN_SHARE[main]:
            return main
        return SPARES if rng.random() < 0.7 else DRIVES


def _next_ids(*models: type[Model]) -> dict[str, int]:
    ids = {}
    for model in models:
        manager = getattr(model, "all_objects", model._default_manager)
        ids[model.__name__] = (manager.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    return ids


GRADE_WEIGHT = {"A": 9.0, "B": 3.5, "C": 1.4, "D": 0.6}
ORDERING = ("closed", "lost")  # lifecycles of accounts that have bought


def order_weight(grade: str, lifecycle: str, distributor: bool, created: date, first_day: date,
                 end_day: date) -> float:
    """How much of the orders an account places, relative to the others (0: none)."""
    if lifecycle not in ORDERING:
        return 0.0
    weight = GRADE_WEIGHT.get(grade, 1.0) * (2.5 if distributor else 1.0) * (0.5 if lifecycle == "lost" else 1.0)
    life = (end_day - max(created, first_day)).days / max((end_day - first_day).days, 1)
    return weight * max(life, 0.02)

