"""What the named service people's first screens show, whatever the year's draw gave them.

``service`` (刘芳) finds on her desk a hand-over offered to her by ``service2``, a complaint
escalated past both of its SLA timers, a reply waiting for ``servicemgr``'s review, a case the
customer reopened, an unmatched web message, a new message from last night and visits in the
coming working days; ``servicemgr`` (孙丽华) owns a critical complaint handed up to him;
``sales`` (张伟) sees a complaint of his best customer that he took by phone and handed to the
service desk. Three suggestions are linked to the first shipped improvement, so its
customers are told. Played out by the same story-teller as the year's cases
(``guanxi.service.demo.tell``), with the parts that matter given rather than drawn.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from guanxi.service import demo_texts as tx
from guanxi.service.demo import Draft, Person, World, _codes, day_at, demo_rng, fill_batch, tell, write

SHOWCASE = 1_000_000  # the showcase's draws start here, far from the year's case indexes


def _working_days(w: World, start: date, count: int, step: int) -> date:
    """The ``count``-th working day from ``start`` going by ``step`` (−1 back, +1 forward)."""
    day = start
    found = 0
    while True:
        day += timedelta(days=step)
        if w.cal.is_working_day(day):
            found += 1
            if found >= count:
                return day


def _free_slot(w: World, person: Person, day: date, preferred: tuple[tuple[int, int, int], ...]
               ) -> tuple[datetime, datetime]:
    taken = w.taken_slots[person.pk]
    for hour, minute, length in preferred:
        start = day_at(w, day, hour, minute)
        end = start + timedelta(minutes=length)
        if not any(a < end and start < b for a, b in taken):
            taken.append((start, end))
            return start, end
    start = day_at(w, day, 18, 0)
    return start, start + timedelta(hours=1)


def build_showcase(w: World) -> int:
    """Write the named people's cases (once: the build's done marker guards it); their number."""
    service = w.by_name.get("service")
    if service is None or not w.accounts:
        return 0
    service2 = w.by_name.get("service2") or service
    manager = w.by_name.get("servicemgr") or (w.managers[0] if w.managers else None)
    sales = w.by_name.get("sales")
    today = w.end.date()
    back = lambda n: _working_days(w, today, n, -1)  # noqa: E731
    ahead = lambda n: _working_days(w, today - timedelta(days=1), n, +1)  # noqa: E731 - today counts
    sales_accounts = [a for a in w.accounts if sales is not None and a[2] == sales.pk]
    drafts: list[Draft] = []

    def case(received: datetime, kind: str, category: str, template: tx.Template, **fields: Any) -> Draft:
        fields.setdefault("reply_wanted", True)
        d = Draft(index=SHOWCASE + len(drafts), received_at=received, kind=kind, category_name=category,
                  template=template, rng=demo_rng(w.seed, "showcase", len(drafts)), **fields)
        if d.account is None and not d.unmatched:
            index = w.account_index(d.rng)  # type: ignore[arg-type]
            d.account = w.accounts[index] if index is not None else None
        drafts.append(d)
        return d

    quality, delivery = tx.COMPLAINTS["产品质量"], tx.COMPLAINTS["交付延误"]
    # A hand-over waiting for service: service2 took the call and offers it to her.
    case(day_at(w, back(2), 10, 20), "complaint", "产品质量", quality[0], received_by=service2,
         stall="investigating", pending_to=service, late_response=False)
    # Escalated: both timers missed, the service manager and the general manager told.
    case(day_at(w, back(6), 9, 40), "complaint", "交付延误", delivery[3], severity="high", received_by=service,
         stall="investigating", late_response=True)
    # A reply waiting for the supervisor (产品质量 needs a review).
    case(day_at(w, back(3), 14, 10), "complaint", "产品质量", quality[1], channel="web", received_by=service,
         stall="review", late_response=False, x_share=0.25)
    # The customer reopened it.
    case(day_at(w, back(12), 11, 5), "complaint", "安装与维修", tx.COMPLAINTS["安装与维修"][1], received_by=service,
         force_reopen=True, late_response=False, x_share=0.3)
    # Last night's message from the web form, nobody has answered yet.
    case(day_at(w, today - timedelta(days=1), 21, 40), "complaint", "价格与账单", tx.COMPLAINTS["价格与账单"][0],
         channel="web", received_by=service, stall="new")
    # Every step of the workflow has a case on her desk: acknowledged, resolved and waiting for
    # the customer's answer, confirmed by the customer and ready to close.
    case(day_at(w, back(2), 16, 5), "ticket", "其他", tx.TICKETS["support"][0], ticket_type="support",
         received_by=service, stall="acknowledged", late_response=False)
    case(day_at(w, back(3), 9, 15), "complaint", "交付延误", delivery[2], received_by=service, stall="resolved",
         late_response=False, x_share=0.3)
    case(day_at(w, back(4), 10, 30), "complaint", "价格与账单", tx.COMPLAINTS["价格与账单"][1], received_by=service,
         stall="confirmed", answer="phone", late_response=False, x_share=0.25)
    # An unmatched sender (seen by the service managers too).
    case(day_at(w, back(2), 10, 30), "complaint", "其他", tx.COMPLAINTS["其他"][1], channel="web",
         received_by=service, unmatched=True, stall="investigating", late_response=False)
    # Visits in the coming working days, service the technician.
    plans = (("repair", ahead(1), ((14, 0, 120), (15, 30, 90))), ("maintenance", ahead(2), ((9, 30, 120),)),
             ("installation", ahead(3), ((10, 0, 180),)), ("inspection", ahead(4), ((13, 30, 150),)))
    for number, (ticket_type, day, preferred) in enumerate(plans):
        owner = service2 if number == 3 else service
        case(day_at(w, back(1 + number % 2), 9 + number, 15), "ticket",
             "安装与维修", tx.TICKETS[ticket_type][0], ticket_type=ticket_type, received_by=owner, visit=True,
             technician=service, visit_slot=_free_slot(w, service, day, preferred), late_response=False)
    if manager is not None:
        case(day_at(w, back(3), 8, 50), "complaint", "产品质量", quality[3], severity="critical", received_by=service,
             owner=manager, stall="investigating", late_response=False)
    if sales is not None and sales_accounts:
        top = sales_accounts[0]
        case(day_at(w, back(4), 15, 20), "complaint", "交付延误", delivery[1], channel="staff", received_by=sales,
             owner=service, account=top, stall="investigating", late_response=False)
        case(day_at(w, back(30), 10, 0), "ticket", "安装与维修", tx.TICKETS["maintenance"][0],
             ticket_type="maintenance", received_by=service, account=top, late_response=False, x_share=0.3,
             visit=True, technician=service)
    # Suggestions behind the first shipped improvement.
    shipped = next((t.title for t, c in zip(tx.IMPROVEMENTS, tx.IMPROVEMENT_COURSE, strict=True)
                    if c[0] == "shipped"), "")
    suggestion = next(t for t in tx.SUGGESTIONS["产品建议"] if tx.LINKS.get(t.title) == shipped)
    for number in range(3):
        received = day_at(w, w.start.date() + timedelta(days=70 + 25 * number), 10 + number, 0)
        case(received, "suggestion", "产品建议", suggestion, severity="low", channel="email",
             received_by=service2 if number else service, improvement=shipped, late_response=False, x_share=0.3)
    drafts = [d for d in drafts if d.received_at < w.end]
    fill_batch(w, drafts)
    stories = [tell(w, d, code) for d, code in zip(drafts, _codes(drafts), strict=True)]
    return write(stories)["cases"]
