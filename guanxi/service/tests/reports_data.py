"""A hand-made set of cases for the service report tests; every expected figure is worked out by
hand in ``test_reports_figures.py`` from the times written here.

Business calendar: 09:00–18:00, Monday to Friday; 2025-01-01 (Wednesday) a holiday, 2025-01-26
(Sunday) an adjusted working day; no other holiday. Times are local (Asia/Shanghai).

=====  ==========  =======  =====  =======  ======================  ==============  ===============  =====
case   kind        channel  categ  product  received                first response  resolved         owner
=====  ==========  =======  =====  =======  ======================  ==============  ===============  =====
c1     complaint   web      A      P1       Mon 01-06 10:00         +30             Tue 01-07 11:00  赵静
c2     complaint   hotline  A      P1       Fri 01-10 17:00         Mon 09:30 (90)  Mon 15:00 (420)  赵静
c3     suggestion  web      B      —        Wed 01-01 10:00 (hol.)  Thu 10:00 (60)  Fri 10:00 (600)  赵静
c4     ticket      staff    A      P2       Fri 01-24 14:00         Sun 01-26 10:00 (300, workday)  open 赵静
c5     complaint   web      B      P1       Mon 03-17 09:00         —               open             赵静
c6     complaint   card     —      —        Thu 03-20 08:00         —               open             钱峰
c7     complaint   web      A      P2       Mon 02-10 09:00         09:15 (15)      12:00 (180)      赵静
c8     complaint   hotline  A      —        Mon 03-03 10:00         11:00 (60)      Tue 10:00 (540)  郑爽
c9     (in the recycle bin, received 01-15)                                                          赵静
c10    complaint   hotline  —      —        2024-12-15 (before the period), open                      赵静
=====  ==========  =======  =====  =======  ======================  ==============  ===============  =====

SLA due times: c1 11:00 / Tue 12:00 (both on time); c2 Fri 18:00 (late) / Tue 01-14 17:00 (on time);
c4 Fri 16:00 (late) / 02-05 (unresolved, past due: late); c5 03-21 09:00 / 03-28 (pending on
``NOW`` = Thu 2025-03-20 12:00); c7 10:00 (on time) / 11:00 (late); c8 12:00 / 03-05 (on time);
c10 resolution due 2024-12-20 (past). c2 reopened once, c7 twice. Accounts: c1, c2, c7 王伟's
customer (East), c4 李娜's (East), c8 周杰's (South); c3, c5, c6, c10 unmatched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from guanxi.sales.models import Product
from guanxi.service.models import Case, CaseCategory, Holiday, ServiceCalendar, SlaPolicy

NOW_TEXT = "2025-03-20 12:00"
PERIOD = {"date_from": "2025-01-01", "date_to": "2025-03-31"}


def at(text: str) -> dt.datetime:
    """A local (Asia/Shanghai) time from "YYYY-MM-DD HH:MM"."""
    return timezone.make_aware(dt.datetime.strptime(text, "%Y-%m-%d %H:%M"), timezone.get_default_timezone())


def now() -> dt.datetime:
    return at(NOW_TEXT)


def reset_calendar() -> None:
    """09:00–18:00 Monday to Friday; the 2025-01-01 holiday and the 2025-01-26 working Sunday only."""
    row = ServiceCalendar.objects.order_by("id").first()
    if row is None:
        ServiceCalendar.objects.create(day_start=dt.time(9), day_end=dt.time(18), weekdays="12345")
    elif (row.day_start, row.day_end, row.weekdays) != (dt.time(9), dt.time(18), "12345"):
        ServiceCalendar.objects.filter(pk=row.pk).update(day_start=dt.time(9), day_end=dt.time(18), weekdays="12345",
                                                         version=row.version + 1, updated_at=timezone.now())
    Holiday.objects.all().delete()
    Holiday.objects.create(day=dt.date(2025, 1, 1), type=Holiday.Type.HOLIDAY, name="元旦")
    Holiday.objects.create(day=dt.date(2025, 1, 26), type=Holiday.Type.WORKDAY, name="春节调休")


@dataclass
class World:
    org: Any
    cat_a: CaseCategory
    cat_b: CaseCategory
    p1: Product
    p2: Product
    cases: dict[str, Case] = field(default_factory=dict)


_codes = iter(range(1, 10**6))


def make_case(owner: Any, *, received: str, kind: str = "complaint", channel: str = "web", category: Any = None,
              product: Any = None, account: Any = None, responded: str | None = None, resolved: str | None = None,
              response_due: str | None = None, resolution_due: str | None = None, state: str = "closed",
              reopen: int = 0, **extra: Any) -> Case:
    policy = SlaPolicy.objects.filter(category__isnull=True, severity="normal").first() if response_due else None
    return Case.objects.create(
        code=f"TS{next(_codes):06d}", kind=kind, title=f"{kind} {received}", description="…", channel=channel,
        category=category, product=product, account=account, owner=owner, department=owner.department,
        received_by=owner, received_at=at(received), state=state, sla_policy=policy,
        first_responded_at=at(responded) if responded else None, resolved_at=at(resolved) if resolved else None,
        first_response_due=at(response_due) if response_due else None,
        resolution_due=at(resolution_due) if resolution_due else None, reopen_count=reopen, **extra)


def build(org: Any, account_factory: Any) -> World:
    reset_calendar()
    w = World(org=org, cat_a=CaseCategory.objects.create(name="测试产品质量"),
              cat_b=CaseCategory.objects.create(name="测试服务态度"),
              p1=Product.objects.create(code="RP-1", name="离心泵", model="IS80"),
              p2=Product.objects.create(code="RP-2", name="闸阀", model="Z41H"))
    sales_acc, team_acc, south_acc = (account_factory(org.salesperson), account_factory(org.teammate),
                                      account_factory(org.outsider))
    agent = org.service
    c = w.cases
    c["c1"] = make_case(agent, received="2025-01-06 10:00", category=w.cat_a, product=w.p1, account=sales_acc,
                        responded="2025-01-06 10:30", resolved="2025-01-07 11:00",
                        response_due="2025-01-06 11:00", resolution_due="2025-01-07 12:00")
    c["c2"] = make_case(agent, received="2025-01-10 17:00", channel="hotline", category=w.cat_a, product=w.p1,
                        account=sales_acc, responded="2025-01-13 09:30", resolved="2025-01-13 15:00",
                        response_due="2025-01-10 18:00", resolution_due="2025-01-14 17:00", state="resolved", reopen=1)
    c["c3"] = make_case(agent, received="2025-01-01 10:00", kind="suggestion", category=w.cat_b,
                        responded="2025-01-02 10:00", resolved="2025-01-03 10:00")
    c["c4"] = make_case(agent, received="2025-01-24 14:00", kind="ticket", channel="staff", category=w.cat_a,
                        product=w.p2, account=team_acc, responded="2025-01-26 10:00",
                        response_due="2025-01-24 16:00", resolution_due="2025-02-05 14:00", state="investigating",
                        ticket_type="repair")
    c["c5"] = make_case(agent, received="2025-03-17 09:00", category=w.cat_b, product=w.p1,
                        response_due="2025-03-21 09:00", resolution_due="2025-03-28 09:00", state="new")
    c["c6"] = make_case(org.service_lead, received="2025-03-20 08:00", channel="card", state="new")
    c["c7"] = make_case(agent, received="2025-02-10 09:00", category=w.cat_a, product=w.p2, account=sales_acc,
                        responded="2025-02-10 09:15", resolved="2025-02-10 12:00",
                        response_due="2025-02-10 10:00", resolution_due="2025-02-10 11:00", reopen=2)
    c["c8"] = make_case(org.service2, received="2025-03-03 10:00", channel="hotline", category=w.cat_a,
                        account=south_acc, responded="2025-03-03 11:00", resolved="2025-03-04 10:00",
                        response_due="2025-03-03 12:00", resolution_due="2025-03-05 10:00")
    c["c9"] = make_case(agent, received="2025-01-15 10:00", category=w.cat_a, responded="2025-01-15 10:05",
                        resolved="2025-01-15 11:00", deleted_at=at("2025-01-16 10:00"))
    c["c10"] = make_case(agent, received="2024-12-15 10:00", channel="hotline", responded="2024-12-16 10:00",
                         resolution_due="2024-12-20 10:00", state="acknowledged")
    return w
