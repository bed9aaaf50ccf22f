"""One batch of demo accounts' sales, drawn account by account (see ``guanxi.sales.demo``).

Each account draws its orders, deals (with stage history), quotes (with revisions),
contracts (steps, payment plan, receipts) and the lead it came from out of its own
``Random``; the batch then writes every row with explicit ids and codes reserved in one go
per kind, so a batch costs a handful of statements however many rows it holds.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections import defaultdict
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from guanxi.sales import demo_catalogue as cat
from guanxi.sales.demo_world import (
    AVG_LINES,
    CONTRACT_FROM,
    DEAL_FROM,
    DELIVERY_TERMS,
    DISQUALIFY,
    EXTRA_LINES,
    FAIRS,
    HUNDRED,
    PAYMENT_TERMS,
    PROJECT_FROM,
    QUOTE_TERMS,
    REMARKS,
    SUBJECTS,
    TAX_DIVISOR,
    AccountRow,
    Item,
    World,
    _next_ids,
    _table,
    money,
    order_weight,
    pick,
)

_METHODS = _table((("transfer", 78), ("acceptance", 17), ("cheque", 3), ("cash", 2)))
_SOURCES = _table((("form", 25), ("exhibition", 20), ("phone", 15), ("referral", 15), ("import", 10), ("mail", 5),
                   ("api", 5), ("manual", 5)))
OPEN_DEALS = {"intent": 0.35, "closed": 0.18, "potential": 0.05}
OPEN_STAGE_WEIGHTS = (35, 30, 22, 13)
OPEN_QUOTES = _table((("pending", 20), ("approved", 12), ("draft", 13), ("sent", 55)))
NEXT_STEPS = ("约技术交流会", "发送正式报价", "安排客户来厂参观", "确认技术方案", "跟进采购审批", "准备投标文件")


class Batch:
    """The rows of one batch of accounts, drawn account by account, then written at once."""

    def __init__(self, world: World) -> None:
        from guanxi.sales import models as m

        self.w, self.m = world, m
        self.ids = _next_ids(m.Opportunity, m.Quote, m.Order, m.Contract, m.PaymentPlan, m.Lead)
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.codes: dict[str, list[tuple[dict[str, Any], str, int]]] = defaultdict(list)
        self.contacts: dict[int, int] = {}
        self.first_pk = 0

    # --- Plumbing ---
    def new(self, model: str) -> int:
        pk = self.ids[model]
        self.ids[model] = pk + 1
        return pk

    def add(self, table: str, row: dict[str, Any], *, code: tuple[str, str, date] | None = None) -> dict[str, Any]:
        self.rows[table].append(row)
        if code is not None:
            sequence, prefix, day = code
            self.codes[sequence].append((row, prefix, day.year))
        return row

    def load_contacts(self, account_ids: list[int]) -> None:
        from guanxi.customers.models import Contact

        self.first_pk = account_ids[0] if account_ids else 0
        for account_id, pk in (Contact.all_objects.filter(account_id__in=account_ids).order_by("account_id", "pk")
                               .values_list("account_id", "pk")):
            self.contacts.setdefault(account_id, pk)

    def write(self) -> dict[str, int]:
        from guanxi.core import codes, search
        from guanxi.core.demo_load import Table

        for sequence, rows in self.codes.items():
            for (row, prefix, year), number in zip(rows, codes.reserve(sequence, len(rows)), strict=True):
                row["code"] = f"{prefix}-{year}-{number:06d}"
        for revision in self.rows.get("revisions", ()):
            revision["snapshot"]["code"] = revision["quote"]["code"]
        for lead in self.rows.get("leads", ()):
            lead["search_text"] = search.build(names=[lead["company"], lead["person_name"]], phones=[lead["mobile"]],
                                               codes=[lead["code"]])
        m = self.m
        written = {}
        for name, model, with_id in (("deals", m.Opportunity, True), ("changes", m.StageChange, False),
                                     ("quotes", m.Quote, True), ("quote_lines", m.QuoteLine, False),
                                     ("revisions", m.QuoteRevision, False), ("orders", m.Order, True),
                                     ("lines", m.OrderLine, False), ("contracts", m.Contract, True),
                                     ("steps", m.ContractStep, False), ("plans", m.PaymentPlan, True),
                                     ("payments", m.Payment, False), ("leads", m.Lead, True)):
            table = Table(model, with_id=with_id)
            for row in self.rows.get(name, ()):
                table.add(row)
            written[name] = table.flush()
        return written

    # --- One account ---
    def account(self, row: AccountRow) -> None:
        w = self.w
        owner = row.owner_id or row.created_by_id
        if owner is None:
            return
        rng = random.Random(w.seed * 5_000_011 + row.pk)  # noqa: S311 (a demo, not a secret)
        start = max(timezone.localdate(row.created_at), w.first_day)
        if start >= w.today:
            return
        main = w.main_line(rng, row.is_distributor)
        first_deal: list[int] = []
        weight = order_weight(row.grade, row.lifecycle, row.is_distributor, start, w.first_day, w.today)
        if weight > 0:
            expected = w.lines_target * weight / w.weight_total / AVG_LINES
            count = int(expected * rng.lognormvariate(0, 0.35) / 1.063 + rng.random())
            stop = w.today if row.lifecycle != "lost" else start + (w.today - start) * 3 // 5
            for _ in range(count):
                self.order(rng, row, owner, w.season_day(rng, start, stop), main, first_deal)
        if row.lifecycle in ("closed", "intent", "lost"):
            for _ in range((rng.random() < 0.35) + (rng.random() < 0.12)):
                self.lost_deal(rng, row, owner, start, main, first_deal)
        chance = OPEN_DEALS.get(row.lifecycle, 0.0) * (1.6 if owner in w.personas else 1.0) * w.workload(owner)
        if row.owner_id is not None and rng.random() < chance:
            for _ in range(1 + (rng.random() < 0.25)):
                self.open_deal(rng, row, owner, start, main, first_deal)
        if row.lifecycle != "potential" and row.owner_id is not None and rng.random() < 0.08:
            self.converted_lead(rng, row, owner, first_deal[0] if first_deal else None)

    def owned(self, owner: int) -> dict[str, Any]:
        return {"owner_id": owner, "department_id": self.w.users.get(owner, (None, "", ""))[0]}

    def order(self, rng: random.Random, row: AccountRow, owner: int, day: date, main: int,
              first_deal: list[int]) -> None:
        w = self.w
        focus = w.order_line(rng, main)
        count = 1 + min(int(rng.expovariate(1 / EXTRA_LINES[cat.LINES[focus].name])), 11)
        items = w.items(rng, focus, count, row.is_distributor, row.grade)
        age = (w.today - day).days
        if age < 3:
            state = "draft" if rng.random() < 0.25 else "confirmed"
        elif age < 20:
            state = "confirmed" if rng.random() < 0.4 else "shipped"
        else:
            state = "cancelled" if rng.random() < 0.04 else "delivered"
        ship = day + timedelta(days=5 + int(rng.random() * 20))
        if state == "shipped":
            ship = min(ship, w.today - timedelta(days=1))
        delivered = min(ship + timedelta(days=1 + int(rng.random() * 6)), w.today - timedelta(days=1))
        total = sum((i.total for i in items), Decimal(0))
        order_id = self.new("Order")
        created = w.moment(rng, day)
        deal_id = quote_id = None
        counted = state in ("confirmed", "shipped", "delivered")
        if counted and total >= DEAL_FROM and rng.random() < 0.8:
            opened = max(day - timedelta(days=20 + int(rng.random() * 100)), timezone.localdate(row.created_at))
            deal_id = self.deal(rng, row, owner, opened, items, "won", closed=day)
            first_deal.append(deal_id)
            quoted = min(max(day - timedelta(days=3 + int(rng.random() * 12)), opened), day)
            quote_id = self.quote(rng, row, owner, deal_id, quoted, items, "accepted")
        self.add("orders", {
            "id": order_id, "account_id": row.pk, "contact_id": self.contacts.get(row.pk), "quote_id": quote_id,
            "opportunity_id": deal_id, "state": state, "order_date": day, "currency": "CNY",
            "rate_to_cny": Decimal(1), "ship_date": ship if state != "draft" else None,
            "delivered_on": delivered if state == "delivered" else None,
            "shipping_address": row.address, "remarks": REMARKS[int(rng.random() * len(REMARKS))],
            "subtotal": sum((money(i.quantity * i.unit_price) for i in items), Decimal(0)),
            "tax_total": sum((i.tax for i in items), Decimal(0)), "total": total, "version": 1,
            "created_at": created, "updated_at": created, **self.owned(owner)}, code=("order", "DD", day))
        for position, item in enumerate(items, 1):
            self.add("lines", {
                "order_id": order_id, "position": position, "product_id": item.product.pk, "name": item.spec.name,
                "model": item.spec.model, "unit": item.spec.unit, "quantity": item.quantity,
                "unit_price": item.unit_price, "discount": item.discount, "tax_rate": cat.VAT, "total": item.total,
                "remarks": ""})
        if counted and ((total >= CONTRACT_FROM and rng.random() < 0.9)
                        or (row.is_distributor and total >= CONTRACT_FROM / 2 and rng.random() < 0.5)):
            self.contract(rng, row, owner, order_id, deal_id, quote_id, day, items, total,
                          delivered if state == "delivered" else None)

    # --- Deals and their quotes ---
    def deal(self, rng: random.Random, row: AccountRow, owner: int, opened: date, items: list[Item], outcome: str, *,
             closed: date | None = None, reached: int = 3, expected: date | None = None) -> int:
        """A deal with its stage history: ``won`` on ``closed``, ``lost`` after stage ``reached``, or
        ``open`` in stage ``reached``."""
        w = self.w
        amount = sum((i.total for i in items), Decimal(0))
        pipeline = w.catalogue["project"] if amount >= PROJECT_FROM else w.catalogue["default"]
        stages = w.catalogue["stages"][pipeline.pk]
        path = list(stages["open"]) if outcome == "won" else list(stages["open"][:reached + 1])
        if outcome in ("won", "lost"):
            path.append(stages[outcome][0])
        deal_id = self.new("Opportunity")
        start = w.moment(rng, opened)
        finish = w.moment(rng, closed) if closed else w.end - timedelta(hours=2 + rng.random() * 24 * max(
            (w.today - opened).days // 3, 1))
        finish = max(finish, start + timedelta(minutes=30))
        moments = sorted(start + (finish - start) * (k / max(len(path) - 1, 1)) * (0.6 + 0.4 * rng.random())
                         for k in range(len(path)))
        moments[0] = start
        previous = None
        for stage, at in zip(path, moments, strict=True):
            self.add("changes", {"opportunity_id": deal_id, "from_stage_id": previous, "to_stage_id": stage.pk,
                                 "probability": stage.probability, "amount": amount, "changed_by_id": owner,
                                 "changed_at": at})
            previous = stage.pk
        stage = path[-1]
        main = items[0].spec
        name = (f"{row.city.removesuffix('市') or '客户'}新厂设备项目" if pipeline == w.catalogue["project"]
                else f"{main.name}{'等' if len(items) > 1 else ''}采购")
        lost = outcome == "lost"
        rival = cat.COMPETITORS[int(rng.random() * len(cat.COMPETITORS))]
        reasons = w.catalogue["loss_reasons"]
        self.add("deals", {
            "id": deal_id, "name": name, "account_id": row.pk, "contact_id": self.contacts.get(row.pk),
            "pipeline_id": pipeline.pk, "stage_id": stage.pk, "state": outcome, "probability": stage.probability,
            "amount": amount, "currency": "CNY", "rate_to_cny": Decimal(1),
            "expected_close": closed or expected, "closed_on": closed,
            "competitors": rival if rng.random() < 0.6 else "",
            "loss_reason_id": reasons[int(rng.random() * len(reasons))].pk if lost and reasons else None,
            "loss_note": f"客户最终选择了{rival}，对方报价低约 {5 + int(rng.random() * 10)}%。" if lost else "",
            "description": f"{cat.LINE_OF[main.code]}：{'、'.join(i.spec.name for i in items[:3])}",
            "next_step": NEXT_STEPS[int(rng.random() * len(NEXT_STEPS))] if outcome == "open" else "",
            # The service puts a card that moves into a column on top: the latest moved first.
            "rank": -int(moments[-1].timestamp() // 60), "stage_changed_at": moments[-1], "version": 1, "created_at": start,
            "updated_at": moments[-1], **self.owned(owner)}, code=("opportunity", "SJ", opened))
        return deal_id

    def lost_deal(self, rng: random.Random, row: AccountRow, owner: int, start: date, main: int,
                  first_deal: list[int]) -> None:
        w = self.w
        if (w.today - start).days < 20:
            return
        opened = w.season_day(rng, start, w.today - timedelta(days=15))
        share = rng.random()
        closed = opened + timedelta(days=10 + int(share * 80))
        if closed >= w.today:
            # Spread over the days since it opened (clamping these onto yesterday put a quarter of
            # all lost deals on one day); no extra draw, so the rest of the demo stays the same.
            closed = opened + timedelta(days=int(share * (w.today - opened).days))
        items = w.items(rng, main, 1 + int(rng.random() * 3), row.is_distributor, row.grade)
        reached = int(rng.random() * 4)
        deal_id = self.deal(rng, row, owner, opened, items, "lost", closed=closed, reached=reached)
        first_deal.append(deal_id)
        if reached >= 2 and rng.random() < 0.6:
            self.quote(rng, row, owner, deal_id, min(opened + timedelta(days=5), closed), items, "declined")

    def open_deal(self, rng: random.Random, row: AccountRow, owner: int, start: date, main: int,
                  first_deal: list[int]) -> None:
        w = self.w
        opened = max(w.today - timedelta(days=5 + int(rng.random() * 145)), start)
        if opened >= w.today:
            return
        items = w.items(rng, main, 1 + int(rng.random() * 4), row.is_distributor, row.grade)
        reached = bisect.bisect(list(itertools.accumulate(OPEN_STAGE_WEIGHTS)), rng.random() * 100)
        expected = opened + timedelta(days=30 + int(rng.random() * 130))
        deal_id = self.deal(rng, row, owner, opened, items, "open", reached=min(reached, 3), expected=expected)
        first_deal.append(deal_id)
        if reached >= 2:
            quoted = min(opened + timedelta(days=3 + int(rng.random() * 20)), w.today - timedelta(days=1))
            self.quote(rng, row, owner, deal_id, max(quoted, opened), items, pick(rng, OPEN_QUOTES))

    def quote(self, rng: random.Random, row: AccountRow, owner: int, deal_id: int | None, day: date,
              items: list[Item], state: str) -> int:
        w = self.w
        if state in ("pending", "approved") and not any(i.discount > w.limit for i in items):
            first = items[0]
            discount = w.limit + (2, 5, 8)[int(rng.random() * 3)]
            total = money(first.quantity * first.unit_price * (HUNDRED - discount) / HUNDRED)
            items = [first._replace(discount=discount, total=total, tax=money(total - total / TAX_DIVISOR)),
                     *items[1:]]
        quote_id = self.new("Quote")
        subtotal = sum((money(i.quantity * i.unit_price) for i in items), Decimal(0))
        total = sum((i.total for i in items), Decimal(0))
        largest = max(i.discount for i in items)
        asked = w.moment(rng, day)
        decided = largest > w.limit and state not in ("draft", "pending")
        sent = state in ("sent", "accepted", "declined")
        revision = 1 + (int(rng.random() * 3) if sent and rng.random() < 0.3 else 0)
        subject = SUBJECTS.get(cat.LINE_OF[items[0].spec.code], "设备采购")
        header = {
            "id": quote_id, "revision": revision, "title": f"{row.name} {subject} 报价单 {day.isoformat()}",
            "subject": subject, "account_id": row.pk, "contact_id": self.contacts.get(row.pk),
            "opportunity_id": deal_id, "state": state, "quote_date": day, "valid_until": day + timedelta(days=30),
            "currency": "CNY", "rate_to_cny": Decimal(1), "prices_include_tax": True,
            "payment_terms": PAYMENT_TERMS, "delivery_terms": DELIVERY_TERMS, "terms": QUOTE_TERMS, "notes": "",
            "subtotal": subtotal, "discount_total": subtotal - total,
            "tax_total": sum((i.tax for i in items), Decimal(0)), "total": total, "max_discount": largest,
            "approval_requested_at": asked if largest > w.limit else None,
            "approved_by_id": w.approver_of(owner) if decided else None,
            "approved_at": asked + timedelta(hours=3) if decided else None,
            "approval_note": "同意，注意回款条件。" if decided else "",
            "sent_at": asked + timedelta(hours=5) if sent else None,
            "version": revision, "created_at": asked, "updated_at": asked + timedelta(hours=5), **self.owned(owner)}
        self.add("quotes", header, code=("quote", "BJ", day))
        lines = [{"quote_id": quote_id, "position": n, "product_id": i.product.pk, "name": i.spec.name,
                  "model": i.spec.model, "specification": i.spec.specification, "packaging": i.spec.packaging,
                  "features": i.spec.features, "unit": i.spec.unit, "quantity": i.quantity,
                  "unit_price": i.unit_price, "discount": i.discount, "tax_rate": cat.VAT, "total": i.total,
                  "remarks": ""} for n, i in enumerate(items, 1)]
        for line in lines:
            self.add("quote_lines", line)
        for earlier in range(1, revision):
            self.add("revisions", {"quote_id": quote_id, "revision": earlier, "quote": header,
                                   "snapshot": self.snapshot(header, row, owner, lines, earlier, revision),
                                   "reason": "客户要求调整价格和交期", "created_by_id": owner,
                                   "created_at": asked - timedelta(days=3 * (revision - earlier))})
        return quote_id

    def snapshot(self, header: dict[str, Any], row: AccountRow, owner: int, lines: list[dict[str, Any]],
                 revision: int, latest: int) -> dict[str, Any]:
        """A superseded revision as the quote's documents print it (the shape of ``quote_content``):
        each earlier revision priced 3 % higher than the next."""
        factor = Decimal("1.03") ** (latest - revision)
        priced = []
        for line in lines:
            price = money(line["unit_price"] * factor)
            total = money(line["quantity"] * price * (HUNDRED - line["discount"]) / HUNDRED)
            priced.append({**line, "unit_price": price, "total": total})
        total = sum((line["total"] for line in priced), Decimal(0))
        subtotal = sum((money(line["quantity"] * line["unit_price"]) for line in priced), Decimal(0))
        _department, _username, name = self.w.users.get(owner, (None, "", ""))

        def plain(value: Any) -> Any:
            return str(value) if isinstance(value, Decimal) else value.isoformat() if hasattr(value, "isoformat") \
                else value

        return {
            "id": header["id"], "code": "", "revision": revision, "title": header["title"],
            "subject": header["subject"], "state": "sent", "quote_date": plain(header["quote_date"]),
            "valid_until": plain(header["valid_until"]), "currency": "CNY", "rate_to_cny": "1.000000",
            "prices_include_tax": True, "payment_terms": header["payment_terms"],
            "delivery_terms": header["delivery_terms"], "terms": header["terms"], "notes": "",
            "subtotal": plain(subtotal), "discount_total": plain(subtotal - total),
            "tax_total": plain(money(total - total / TAX_DIVISOR)), "total": plain(total),
            "max_discount": plain(header["max_discount"]),
            "account": {"id": row.pk, "name": row.name, "province": row.province, "city": row.city,
                        "address": row.address, "grade": row.grade},
            "contact": None, "owner": {"name": name, "phone": "", "email": "", "department": ""},
            "company": {"name": self.w.company}, "approval": None, "opportunity": None,
            "lines": [{"product": line["product_id"], "product_code": "", "picture": "",
                       **{k: plain(v) for k, v in line.items() if k not in ("quote_id", "product_id")}}
                      for line in priced],
            "written_at": plain(header["created_at"]),
        }

    # --- Contracts, plans, receipts ---
    def contract(self, rng: random.Random, row: AccountRow, owner: int, order_id: int, deal_id: int | None,
                 quote_id: int | None, day: date, items: list[Item], amount: Decimal,
                 delivered: date | None) -> None:
        w = self.w
        contract_id = self.new("Contract")
        recent = (w.today - day).days < 7
        draft = recent and rng.random() < 0.3
        signed = None if draft else min(day + timedelta(days=int(rng.random() * 5)), w.today - timedelta(days=1))
        base = signed or day
        ends = base + timedelta(days=365)
        arrival = (delivered or day + timedelta(days=30)) + timedelta(days=30)
        first, second = money(amount * Decimal("0.3")), money(amount * Decimal("0.6"))
        plan = [("预付款", base + timedelta(days=7), first), ("到货款", arrival, second),
                ("质保金", ends, amount - first - second)]
        persona = owner in w.personas
        received_total = Decimal(0)
        fully_paid = True
        for position, (description, due, due_amount) in enumerate(plan, 1):
            plan_id = self.new("PaymentPlan")
            got = Decimal(0)
            if not draft and due < w.today:
                late = (w.today - due).days <= 120
                unpaid = rng.random() < ((0.45 if persona else 0.12) if late else 0.015)
                share = (Decimal(30 + int(rng.random() * 40)) / HUNDRED if rng.random() < 0.3 else Decimal(0)) \
                    if unpaid else Decimal(1)
                got = money(due_amount * share)
                parts = [got] if got == 0 or rng.random() > 0.12 else [money(got * Decimal("0.4")),
                                                                     got - money(got * Decimal("0.4"))]
                paid_on = due + timedelta(days=int(rng.gauss(8, 10)))
                for part in parts:
                    if part <= 0:
                        continue
                    paid_on = min(max(paid_on, base), w.today - timedelta(days=1))
                    method = pick(rng, _METHODS)
                    self.add("payments", {
                        "contract_id": contract_id, "plan_id": plan_id, "account_id": row.pk, "received_on": paid_on,
                        "amount": part, "method": method, "reference": f"HD{paid_on:%Y%m%d}{plan_id % 10_000:04d}",
                        "notes": "银行承兑汇票，6 个月期" if method == "acceptance" else "",
                        "recorded_by_id": owner, "version": 1, "created_at": w.moment(rng, paid_on),
                        "updated_at": w.moment(rng, paid_on)})
                    paid_on += timedelta(days=10 + int(rng.random() * 20))
            if got < due_amount:
                fully_paid = False
            received_total += got
            overdue = not draft and got < due_amount and due < w.today - timedelta(days=1)
            self.add("plans", {
                "id": plan_id, "contract_id": contract_id, "position": position, "description": description,
                "due_on": due, "amount": due_amount, "received": got,
                "overdue_notified_at": datetime.combine(due + timedelta(days=1), dtime(9), tzinfo=w.end.tzinfo)
                if overdue else None, "version": 1, "created_at": w.moment(rng, base), "updated_at": w.moment(rng, base)})
        state = "draft" if draft else "completed" if fully_paid and ends < w.today else "active"
        ship = day + timedelta(days=5 + int(rng.random() * 20))
        steps = (("签订合同", base), ("生产备货", base + timedelta(days=15)), ("发货", ship),
                 ("安装调试", ship + timedelta(days=10)), ("客户验收", ship + timedelta(days=30)))
        pending_seen = False
        for position, (name, due) in enumerate(steps, 1):
            done = not draft and due < w.today and (delivered is not None or position <= 2)
            step_state = "done" if done else "pending" if pending_seen else "active"
            pending_seen = pending_seen or not done
            self.add("steps", {"contract_id": contract_id, "position": position, "name": name, "due_on": due,
                               "done_on": due if done else None, "state": step_state, "owner_id": owner, "notes": "",
                               "version": 1, "created_at": w.moment(rng, base), "updated_at": w.moment(rng, base)})
        main = items[0].spec
        created = w.moment(rng, base)
        self.add("contracts", {
            "id": contract_id, "title": f"{main.name}{'等设备' if len(items) > 1 else ''}购销合同",
            "account_id": row.pk, "contact_id": self.contacts.get(row.pk), "order_id": order_id, "quote_id": quote_id,
            "opportunity_id": deal_id, "party_a": row.name, "party_b": w.company, "state": state, "amount": amount,
            "currency": "CNY", "rate_to_cny": Decimal(1), "signed_on": signed, "starts_on": signed, "ends_on": ends,
            "remind_days": 30, "expiry_notified_at": datetime.combine(ends - timedelta(days=30), dtime(9),
                                                                      tzinfo=w.end.tzinfo)
            if ends <= w.today + timedelta(days=30) else None,
            "terms": "质保期一年，自验收合格之日起计算。\n" + PAYMENT_TERMS, "received": received_total,
            "version": 1, "created_at": created, "updated_at": created, **self.owned(owner)},
            code=("contract", "HT", base))

    # --- Leads ---
    def converted_lead(self, rng: random.Random, row: AccountRow, owner: int, deal_id: int | None) -> None:
        created = row.created_at - timedelta(days=2 + rng.random() * 28)
        self.lead(rng, {"company": row.name, "province": row.province, "city": row.city, "state": "converted",
                        "account_id": row.pk, "contact_id": self.contacts.get(row.pk), "opportunity_id": deal_id,
                        "converted_at": row.created_at, "assigned_at": created + timedelta(hours=3),
                        **self.owned(owner)}, created)
        if deal_id is not None:
            next(d for d in reversed(self.rows["deals"]) if d["id"] == deal_id)["lead_id"] = self.ids["Lead"] - 1

    def random_leads(self, count: int) -> None:
        """Leads not (yet) customers: new and unassigned lately, worked, qualified or dropped before."""
        from guanxi.demo import CITIES, company_name

        w = self.w
        rng = random.Random(w.seed * 7_000_003 + self.first_pk)  # noqa: S311 (a demo, not a secret)
        cities_cum = list(itertools.accumulate(c.weight for c in CITIES))
        for _ in range(count):
            age = int(540 * rng.random() ** 2)
            created = w.end - timedelta(days=age, hours=rng.random() * 10)
            city = CITIES[bisect.bisect(cities_cum, rng.random() * cities_cum[-1])]
            if age < 7:
                state = "new" if rng.random() < 0.6 else "assigned"
            elif age < 30:
                state = "assigned" if rng.random() < 0.4 else "working"
            else:
                state = pick(rng, _table((("working", 20), ("qualified", 25), ("disqualified", 55))))
            owner = None if state == "new" or not w.salespeople else w.salespeople[int(rng.random() * len(w.salespeople))]
            self.lead(rng, {"company": company_name(rng, city), "province": city.province, "city": city.name,
                            "state": state, "assigned_at": created + timedelta(hours=5) if owner else None,
                            "disqualify_reason": DISQUALIFY[int(rng.random() * len(DISQUALIFY))]
                            if state == "disqualified" else "",
                            **(self.owned(owner) if owner else {})}, created)

    def lead(self, rng: random.Random, fields: dict[str, Any], created: datetime) -> None:
        from guanxi.demo import mobile, person_name

        line = cat.LINES[int(rng.random() * len(cat.LINES))]
        source = pick(rng, _SOURCES)
        person = person_name(rng)
        phone = mobile(rng)
        row = {"id": self.new("Lead"), "person_name": person, "title": ("采购经理", "设备科长", "总经理", "技术总监")[
            int(rng.random() * 4)], "mobile": phone, "email": "", "wechat": phone if rng.random() < 0.4 else "",
            "interest": f"{line.name}：{line.products[int(rng.random() * len(line.products))].name}",
            "estimated_amount": Decimal(10_000 * (1 + int(rng.random() * 60))), "source": source,
            "source_detail": FAIRS[int(rng.random() * len(FAIRS))] if source == "exhibition" else
            "老客户介绍" if source == "referral" else "", "notes": "", "version": 1, "created_at": created,
            "updated_at": created, **fields}
        self.add("leads", row, code=("lead", "XS", timezone.localdate(created)))
