"""The demo company's sales (演示数据: 销售): deals, quotes, orders, contracts, receipts, leads.

``build_sales`` runs after the accounts and their contact history (``guanxi.demo``). Every
account draws its sales from its own ``random.Random`` (seed and account id), so the same
seed writes the same rows, and a build resumes after the last committed batch of accounts.

* **Orders** follow BENCHMARKS.md (S 20,000 order lines, M 1,000,000, L 10,000,000) over
  the three years of history: big accounts (grade A, distributors) buy most, months follow
  the Chinese business year (quiet at Spring Festival, strong in June and December) and the
  business grows, so the forecast has something to find.
* Large orders come from **won deals** with their stage history and accepted **quote**;
  lost deals and open ones (the kanban board) come with theirs, some quotes waiting for a
  discount approval, some sent in several revisions.
* Orders of 50,000 yuan and more are under a **contract** with execution steps and a
  payment plan; receipts pay most instalments, some late, some not yet (overdue).
* Then the monthly sales (the forecast's history), the customers' cumulative figures
  (a set-based recount: the per-account one costs six queries an account) and targets.

Rows are written by plain INSERTs (COPY on PostgreSQL) in committed batches.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from guanxi.core import demo_load
from guanxi.core.demo_load import Table
from guanxi.sales import demo_catalogue as cat
from guanxi.sales.demo_batch import Batch
from guanxi.sales.demo_world import (
    DELIVERY_TERMS,
    HUNDRED,
    PAYMENT_TERMS,
    QUOTE_TERMS,
    TAX_DIVISOR,
    AccountRow,
    World,
    money,
    order_weight,
)

MARKER = "demo-sales"  # CodeSequence: the last account id whose sales are written
SHOWCASE = "demo-sales-showcase"
ORDER_LINES = {"S": 20_000, "M": 1_000_000, "L": 10_000_000}
BATCH = 2_000  # accounts per committed batch
DISTRIBUTOR_STEP = 20  # about one company in twenty resells our drives and spares (经销商)

FEN = Decimal("0.01")
_Writer = Any


# --- Writing rows --------------------------------------------------------------------------
def reset_sequences() -> None:
    """After INSERTs with explicit ids, PostgreSQL's id sequences must move past them."""
    from guanxi.sales import models as m

    demo_load.reset_sequences(m.Opportunity, m.Quote, m.Order, m.Contract, m.PaymentPlan, m.Lead)


def bulk_models() -> tuple[type[Model], ...]:
    """The tables the batches fill (their secondary indexes are built after the load)."""
    from guanxi.sales import models as m

    return (m.Opportunity, m.StageChange, m.Quote, m.QuoteLine, m.QuoteRevision, m.Order, m.OrderLine, m.Contract,
            m.ContractStep, m.PaymentPlan, m.Payment, m.Lead)


# --- The accounts' side --------------------------------------------------------------------
def prepare_accounts(after: int, seed: int) -> None:
    """Province and city from the demo region text, and the distributors among the companies.

    The customer demo writes only the display region ("江苏省 苏州市"); price lists, the
    forecast by region and the rebates need the province and the distributor flag.
    """
    from django.db.models import F
    from django.db.models.functions import Mod

    from guanxi.customers.models import Account
    from guanxi.demo import CITIES

    # The customer demo writes both with the accounts it writes now; this fills those of a
    # company built before it did.
    alive = Account.all_objects.filter(pk__gt=after, province="")
    if alive.exists():
        for city in CITIES:
            alive.filter(region=city.region).update(province=city.province, city=city.name)
    Account.all_objects.filter(pk__gt=after, kind="enterprise", is_distributor=False).alias(
        slot=Mod(F("id") * 7 + seed % DISTRIBUTOR_STEP, DISTRIBUTOR_STEP)).filter(slot=0).update(is_distributor=True)


def is_distributor(pk: int, seed: int, kind: str) -> bool:
    """Whether account ``pk`` is one of the distributors (spread by id, as prepare_accounts picks them)."""
    return kind == "enterprise" and (pk * 7 + seed % DISTRIBUTOR_STEP) % DISTRIBUTOR_STEP == 0


def total_weight(first_day: date, end_day: date) -> float:
    from guanxi.customers.models import Account

    total = 0.0
    for grade, lifecycle, distributor, created in Account.all_objects.values_list(
            "grade", "lifecycle", "is_distributor", "created_at").iterator(chunk_size=20_000):
        total += order_weight(grade, lifecycle, distributor, timezone.localdate(created), first_day, end_day)
    return total


# --- The build -----------------------------------------------------------------------------
def load_world(size: str, seed: int, now: datetime, *, prepare_after: int | None = None) -> World:
    """The catalogue (written if missing) and what every account's draw shares; with
    ``prepare_after``, the accounts after that id get their province and distributor flag first."""
    from guanxi.demo import HISTORY_DAYS, _anchor

    today = _anchor(now)
    first_day = today - timedelta(days=HISTORY_DAYS)
    end = datetime.combine(today, dtime(0), tzinfo=timezone.get_default_timezone())
    catalogue = cat.ensure_catalogue(first_day, today, end - timedelta(days=HISTORY_DAYS))
    if prepare_after is not None:
        prepare_accounts(prepare_after, seed)
    return World.load(catalogue, seed=seed, today=today, first_day=first_day, end=end,
                      lines_target=ORDER_LINES[size.upper()], weight_total=total_weight(first_day, today))


def build_sales(*, size: str, seed: int, now: datetime, stdout: _Writer | None = None,
                max_batches: int | None = None) -> bool:
    """Write the sales of every demo account that has none yet; False when there was nothing to do.

    ``max_batches`` stops early, as an interrupted build would (tests).
    """
    from guanxi.core.models import CodeSequence
    from guanxi.customers.models import Account
    from guanxi.sales.services import board

    done = CodeSequence.objects.filter(name=MARKER).values_list("value", flat=True).first()
    if done is not None and not Account.all_objects.filter(pk__gt=done).exists():
        return False
    started = time.perf_counter()
    if stdout is not None:
        stdout.write("正在生成销售数据 / building sales (products, deals, quotes, orders, contracts) …\n")
    demo_load.bulk_session()
    with transaction.atomic():
        CodeSequence.objects.get_or_create(name=MARKER)
        world = load_world(size, seed, now, prepare_after=done or 0)
    with demo_load.bulk_load(*bulk_models()):
        written = _write_batches(world, stdout, max_batches)
    if max_batches is not None and Account.all_objects.filter(
            pk__gt=CodeSequence.objects.get(name=MARKER).value).exists():
        return True
    reset_sequences()
    build_showcase(world)
    ensure_targets(world.today)
    months_started = time.perf_counter()
    months = rebuild_sales_months()
    months_seconds = time.perf_counter() - months_started
    figures_started = time.perf_counter()
    figures = recount_bulk()
    board.rebuild()  # the deal board's column figures, from the deals written in bulk
    figures_seconds = time.perf_counter() - figures_started
    from guanxi.sales import models as m

    demo_load.analyze(*bulk_models(), m.SalesMonth, m.AccountSales, m.SalesTarget, m.BoardFigures)
    if stdout is not None:
        stdout.write(f"  {written['lines']:,} order lines in {written['orders']:,} orders, {written['deals']:,} deals, "
                     f"{written['quotes']:,} quotes, {written['contracts']:,} contracts, "
                     f"{written['payments']:,} receipts, {written['leads']:,} leads; "
                     f"{months:,} monthly rows ({months_seconds:.1f} s), {figures:,} customer figures "
                     f"({figures_seconds:.1f} s); {time.perf_counter() - started:.1f} s\n")
    return True


def _write_batches(world: World, stdout: _Writer | None, max_batches: int | None) -> dict[str, int]:
    from guanxi.core.models import CodeSequence
    from guanxi.customers.models import Account

    counts: dict[str, int] = defaultdict(int)
    total = Account.all_objects.count()
    done = Account.all_objects.filter(pk__lte=CodeSequence.objects.get(name=MARKER).value).count()
    batches = 0
    last_report = -1
    while max_batches is None or batches < max_batches:
        batches += 1
        last_id = CodeSequence.objects.get(name=MARKER).value
        accounts = list(Account.all_objects.filter(pk__gt=last_id).order_by("pk").values_list(
            "pk", "name", "owner_id", "created_by_id", "created_at", "grade", "lifecycle", "is_distributor",
            "province", "city", "address")[:BATCH])
        if not accounts:
            break
        with transaction.atomic():
            batch = Batch(world)
            batch.load_contacts([a[0] for a in accounts])
            for account in accounts:
                batch.account(AccountRow(*account))
            batch.random_leads(max(1, len(accounts) * 2 // 25))
            for key, value in batch.write().items():
                counts[key] += value
            CodeSequence.objects.filter(name=MARKER).update(value=accounts[-1][0])
        done += len(accounts)
        if stdout is not None:
            if done * 10 // max(total, 1) > last_report:
                last_report = done * 10 // max(total, 1)
                stdout.write(f"  订单 order lines: {counts['lines']:,} ({done:,} / {total:,} accounts)\n")
    return counts


# --- After the batches ---------------------------------------------------------------------
def rebuild_sales_months() -> int:
    """The forecast's monthly history, from the orders (the orders service's own rebuild)."""
    from guanxi.sales.services import orders

    rebuild = getattr(orders, "sales_month_rebuild", None)
    if rebuild is not None:
        return int(rebuild())
    return sales_months_grouped()


def sales_months_grouped() -> int:
    """One grouped read of the counted catalogue lines by month, product and province."""
    from django.db.models import Count, DecimalField, ExpressionWrapper, F, Sum
    from django.db.models.functions import TruncMonth

    from guanxi.sales.models import OrderLine, SalesMonth
    from guanxi.sales.services.totals import COUNTED_ORDERS

    rows = (OrderLine.objects.filter(product__isnull=False, order__deleted_at__isnull=True,
                                     order__state__in=COUNTED_ORDERS)
            .annotate(month=TruncMonth("order__order_date"))
            .values("month", "product_id", "order__account__province")
            .annotate(quantity=Sum("quantity"), orders=Count("order_id", distinct=True),
                      amount=Sum(ExpressionWrapper(F("total") * F("order__rate_to_cny"),
                                                   output_field=DecimalField(max_digits=24, decimal_places=8))))
            .order_by())
    with transaction.atomic():
        SalesMonth.objects.all().delete()
        made = SalesMonth.objects.bulk_create(
            [SalesMonth(month=r["month"], product_id=r["product_id"], province=r["order__account__province"] or "",
                        quantity=r["quantity"], amount=money(Decimal(r["amount"])), orders=r["orders"])
             for r in rows], batch_size=2_000)
    return len(made)


def recount_bulk(today: date | None = None) -> int:
    """Every customer's cumulative figures in five grouped reads (``totals.recount_all`` asks six
    queries per account: minutes at size M). The same definitions as ``totals.figures``."""
    from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, Min, Sum

    from guanxi.sales.models import AccountSales, Contract, Opportunity, Order, Payment, PaymentPlan
    from guanxi.sales.services.totals import COUNTED_CONTRACTS, COUNTED_ORDERS

    today = today or timezone.localdate()
    cny = DecimalField(max_digits=24, decimal_places=8)
    zero = Decimal("0")

    def grouped(qs: Any, **aggregates: Any) -> dict[int, dict[str, Any]]:
        return {row.pop("account_id"): row for row in qs.values("account_id").annotate(**aggregates).order_by()}

    orders = grouped(Order.objects.filter(deleted_at__isnull=True, state__in=COUNTED_ORDERS),
                     total=Sum(ExpressionWrapper(F("total") * F("rate_to_cny"), output_field=cny)),
                     count=Count("id"), first=Min("order_date"), last=Max("order_date"))
    contracts = grouped(Contract.objects.filter(deleted_at__isnull=True, state__in=COUNTED_CONTRACTS),
                        total=Sum(ExpressionWrapper(F("amount") * F("rate_to_cny"), output_field=cny)))
    received = grouped(Payment.objects.filter(deleted_at__isnull=True, contract__deleted_at__isnull=True),
                       total=Sum(ExpressionWrapper(F("amount") * F("contract__rate_to_cny"), output_field=cny)))
    overdue = {row["contract__account_id"]: row["total"] for row in PaymentPlan.objects.filter(
        contract__deleted_at__isnull=True, contract__state=Contract.State.ACTIVE, due_on__lt=today,
        amount__gt=F("received")).values("contract__account_id").annotate(total=Sum(ExpressionWrapper(
            (F("amount") - F("received")) * F("contract__rate_to_cny"), output_field=cny))).order_by()}
    open_deals = grouped(Opportunity.objects.filter(deleted_at__isnull=True, state=Opportunity.State.OPEN),
                         total=Sum(ExpressionWrapper(F("amount") * F("rate_to_cny"), output_field=cny)))
    now = timezone.now()
    table = Table(AccountSales, with_id=True)
    for account_id in sorted(set(orders) | set(contracts) | set(received) | set(overdue) | set(open_deals)):
        o = orders.get(account_id, {})
        contracted = Decimal(contracts.get(account_id, {}).get("total") or zero)
        got = Decimal(received.get(account_id, {}).get("total") or zero)
        table.add({
            "account_id": account_id, "orders_count": o.get("count", 0),
            "orders_total": Decimal(o.get("total") or zero).quantize(FEN),
            "contracts_total": contracted.quantize(FEN), "received_total": got.quantize(FEN),
            "receivable_total": max(contracted - got, zero).quantize(FEN),
            "overdue_total": Decimal(overdue.get(account_id) or zero).quantize(FEN),
            "open_deals_total": Decimal(open_deals.get(account_id, {}).get("total") or zero).quantize(FEN),
            "first_order_on": o.get("first"), "last_order_on": o.get("last"), "updated_at": now})
    with transaction.atomic():
        AccountSales.objects.all().delete()
        return table.flush()


def ensure_targets(today: date) -> int:
    """Quarterly order targets for every salesperson, team and sales department this year
    (last year's orders plus 15 %), and a yearly receipts target for the named salespeople."""
    from django.db.models import DecimalField, ExpressionWrapper, F, Sum

    from guanxi.core.models import Team, User
    from guanxi.sales.models import Order, SalesTarget

    if SalesTarget.objects.exists():
        return 0
    year = today.year
    last_year = dict(Order.objects.filter(deleted_at__isnull=True, state__in=("confirmed", "shipped", "delivered"),
                                          order_date__year=year - 1).values("owner_id")
                     .annotate(total=Sum(ExpressionWrapper(F("total") * F("rate_to_cny"),
                                                           output_field=DecimalField(max_digits=24, decimal_places=2))))
                     .order_by().values_list("owner_id", "total"))

    def quarterly(amount: Decimal) -> Decimal:
        return max(Decimal(math.ceil(amount * Decimal("1.15") / 4 / 10_000) * 10_000), Decimal("100000"))

    quarters = [(date(year, m, 1), date(year + (m + 3 > 12), (m + 3 - 1) % 12 + 1, 1) - timedelta(days=1))
                for m in (1, 4, 7, 10)]
    rows: list[SalesTarget] = []
    people = list(User.objects.filter(is_active=True, roles__code="salesperson").distinct().values_list(
        "pk", "username", "department_id"))
    by_department: dict[int, Decimal] = defaultdict(Decimal)
    per_person: dict[int, Decimal] = {}
    for pk, username, department_id in people:
        amount = quarterly(Decimal(last_year.get(pk) or 0))
        per_person[pk] = amount
        if department_id:
            by_department[department_id] += amount
        rows.extend(SalesTarget(metric="orders", period_start=start, period_end=stop, user_id=pk, amount=amount)
                    for start, stop in quarters)
        if username in ("sales", "sales2"):
            rows.append(SalesTarget(metric="receipts", period_start=date(year, 1, 1), period_end=date(year, 12, 31),
                                    user_id=pk, amount=amount * 4, notes="年度回款目标"))
    for team in Team.objects.prefetch_related("members"):
        amount = sum((per_person.get(u.pk, Decimal(0)) for u in team.members.all()), Decimal(0))
        if amount:
            rows.extend(SalesTarget(metric="orders", period_start=start, period_end=stop, team_id=team.pk,
                                    amount=amount) for start, stop in quarters)
    for department_id, amount in by_department.items():
        rows.extend(SalesTarget(metric="orders", period_start=start, period_end=stop, department_id=department_id,
                                amount=amount, notes="部门季度订货目标") for start, stop in quarters)
    SalesTarget.objects.bulk_create(rows, batch_size=2_000)
    return len(rows)


def build_showcase(world: World) -> bool:
    """What the named salespeople's first screens show, whatever the draw gave them: an
    overdue receivable on their desk and a quote waiting for their manager's approval."""
    from django.db.models import F

    from guanxi.core.models import CodeSequence, User
    from guanxi.customers.models import Account
    from guanxi.sales.models import PaymentPlan, Quote

    if CodeSequence.objects.filter(name=SHOWCASE).exists():
        return False
    with transaction.atomic():
        for user in User.objects.filter(username__in=("sales", "sales2")).order_by("username"):
            account = Account.objects.filter(owner=user).exclude(grade="").order_by("-score", "pk").first()
            if account is None:
                continue
            if not PaymentPlan.objects.filter(contract__owner=user, contract__state="active", due_on__lt=world.today,
                                              amount__gt=F("received")).exists():
                showcase_contract(world, user, account)
            if not Quote.objects.filter(owner=user, state=Quote.State.PENDING).exists():
                showcase_quote(world, user, account)
        CodeSequence.objects.create(name=SHOWCASE, value=1)
    return True


def showcase_contract(w: World, user: Any, account: Any) -> None:
    """A contract of the user's best account with its second instalment three weeks overdue."""
    from guanxi.sales.models import Contract, ContractStep, Payment, PaymentPlan
    from guanxi.sales.services.common import next_code

    reset_sequences()
    signed = w.today - timedelta(days=75)
    contract = Contract.objects.create(
        code=next_code("contract", "HT"), title="数控车床及备件购销合同", account=account, party_a=account.name,
        party_b=w.company, state=Contract.State.ACTIVE, amount=Decimal("368000"), signed_on=signed,
        starts_on=signed, ends_on=signed + timedelta(days=365), terms=PAYMENT_TERMS, owner=user,
        department_id=user.department_id, received=Decimal("110400"))
    first = PaymentPlan.objects.create(contract=contract, position=1, description="预付款",
                                       due_on=signed + timedelta(days=7), amount=Decimal("110400"),
                                       received=Decimal("110400"))
    PaymentPlan.objects.create(contract=contract, position=2, description="到货款",
                               due_on=w.today - timedelta(days=21), amount=Decimal("220800"))
    PaymentPlan.objects.create(contract=contract, position=3, description="质保金",
                               due_on=signed + timedelta(days=365), amount=Decimal("36800"))
    Payment.objects.create(contract=contract, plan=first, account=account, received_on=signed + timedelta(days=5),
                           amount=Decimal("110400"), reference=f"HD{signed:%Y%m%d}0001", recorded_by=user)
    ContractStep.objects.bulk_create([
        ContractStep(contract=contract, position=n, name=name, due_on=signed + timedelta(days=days),
                     done_on=signed + timedelta(days=days) if days < 75 else None,
                     state="done" if days < 75 else "active" if n == 4 else "pending", owner=user)
        for n, (name, days) in enumerate((("签订合同", 0), ("生产备货", 15), ("发货", 30), ("安装调试", 80),
                                          ("客户验收", 110)), 1)])


def showcase_quote(w: World, user: Any, account: Any) -> None:
    """A quote with a discount above the limit, waiting for the manager's decision."""
    from guanxi.sales.models import Quote, QuoteLine
    from guanxi.sales.services.common import next_code

    reset_sequences()
    spec = cat.PRODUCTS[0]
    product = w.catalogue["products"][spec.code]
    discount = w.limit + 5
    quantity = Decimal("2")
    total = money(quantity * Decimal(spec.price) * (HUNDRED - discount) / HUNDRED)
    subject = "立式加工中心采购"
    quote = Quote.objects.create(
        code=next_code("quote", "BJ"), title=f"{account.name} {subject} 报价单 {w.today.isoformat()}",
        subject=subject, account=account, state=Quote.State.PENDING, quote_date=w.today,
        valid_until=w.today + timedelta(days=30), payment_terms=PAYMENT_TERMS, delivery_terms=DELIVERY_TERMS,
        terms=QUOTE_TERMS, subtotal=quantity * spec.price, discount_total=quantity * spec.price - total,
        tax_total=money(total - total / TAX_DIVISOR), total=total, max_discount=discount,
        approval_requested_at=timezone.now(), owner=user, department_id=user.department_id,
        notes="客户为年度重点客户，竞争对手报价低约 10%，申请特价。")
    QuoteLine.objects.create(quote=quote, position=1, product=product, name=spec.name, model=spec.model,
                             specification=spec.specification, packaging=spec.packaging, features=spec.features,
                             unit=spec.unit, quantity=quantity, unit_price=Decimal(spec.price),
                             discount=discount, total=total)
