"""The demo company's customer service (演示数据: 客户服务): forms, cases, visits, improvements.

``build_service`` runs after the sales (``guanxi.demo``): it reads the accounts, their people
and orders, the catalogue, the service categories and SLA policies seeded by the migrations
(``service/migrations/0002_defaults``), and writes a year of service:

* the public forms: the default ``/feedback/`` (``kefu``, first responder ``service``), the
  distributors' ``/feedback/jingxiaoshang/`` and the comment cards' ``/feedback/yijianka/``;
* **cases** (S 400, M 30,000, L 300,000) over the last twelve months, busier lately and quiet
  at Spring Festival: complaints ~60 %, service tickets ~30 %, suggestions ~10 %, from the web
  form, the hotline, comment cards, e-mail and staff; most matched to an account and contact,
  ~15 % unmatched. Each case is *told*: received, handed over (the form's responder triages),
  acknowledged, investigated, visited, proposed, its reply reviewed when the category says so,
  resolved, confirmed by the customer (or reopened, or closed after the customer's time ran
  out) and closed — every step a ``CaseEvent`` and, for listen/clarify/apologise/propose/
  follow up, a ``HandlingStep``. The history stops at the start of today, so recent cases are
  still open where their story had got to;
* the **SLA** columns exactly as the sweep (``services.sla``) would have left them: due times
  from the service calendar (``services.calendar``: working hours, holidays, 调休), warnings,
  breaches and escalations with their events;
* **visits** of the tickets (done, confirmed on site or by the link, a few cancelled, the
  recent ones still scheduled), and **improvements** the suggestions lead to, five shipped
  with their customers told;
* the named people's screens (:func:`build_showcase`): ``service`` has a hand-over waiting,
  an escalated case, a reply awaiting review, a reopened case and visits in the coming days.

Deterministic: each case draws from its own ``random.Random`` (seed and its place in the
year), the year is drawn from the seed alone, and the database is read in primary-key
order. Rows are bulk-inserted per batch of cases, each batch committed with a progress
marker (``CodeSequence`` ``demo-service``), so an interrupted build resumes; a company later
grown to a larger size keeps the year of service it was first built with. The satisfaction
surveys of closed cases, done visits and delivered orders follow in ``guanxi.loyalty.demo``.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from guanxi.core.demo_load import Table, analyze, bulk_load, bulk_session, next_ids, reset_sequences
from guanxi.service import demo_texts as tx

MARKER = "demo-service"  # CodeSequence: how many of the year's cases are written
DONE = "demo-service-done"  # present once the forms, cases, improvements and showcase are all there
CASES = {"S": 400, "M": 30_000, "L": 300_000}
HISTORY_DAYS = 365
BATCH = 2_000  # cases per committed batch
UNMATCHED = 0.15
US_PER_MINUTE = 60_000_000
SALES_DONE = "demo-sales-showcase"  # written by guanxi.sales.demo once every account has its sales
_Writer = Any

KINDS = (("complaint", 60), ("ticket", 30), ("suggestion", 10))
CHANNELS = {
    "complaint": (("hotline", 34), ("web", 26), ("email", 10), ("card", 10), ("staff", 16), ("visit", 3), ("api", 1)),
    "ticket": (("hotline", 42), ("web", 22), ("email", 10), ("staff", 20), ("api", 6)),
    "suggestion": (("card", 40), ("web", 28), ("email", 12), ("staff", 14), ("hotline", 6)),
}
COMPLAINT_CATEGORIES = (("产品质量", 38), ("交付延误", 20), ("服务态度", 12), ("价格与账单", 14), ("安装与维修", 9),
                        ("其他", 7))
SUGGESTION_CATEGORIES = (("产品建议", 70), ("服务态度", 12), ("其他", 18))
TICKET_TYPES = (("repair", 38), ("maintenance", 26), ("installation", 22), ("inspection", 6), ("support", 8))
SEVERITIES = {
    "complaint": (("low", 12), ("normal", 56), ("high", 26), ("critical", 6)),
    "ticket": (("low", 10), ("normal", 58), ("high", 26), ("critical", 6)),
    "suggestion": (("low", 62), ("normal", 38)),
}
# Staff who enter what they took themselves: the received event names them as the actor.
ENTERED_BY_STAFF = ("hotline", "card", "email", "staff", "visit", "api")
SLOTS = ((9, 0), (9, 30), (10, 0), (13, 30), (14, 0), (15, 0))


def _pick(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _w in table], weights=[w for _v, w in table])[0]


def fake_hash(*parts: Any) -> str:
    """A stored token hash nobody holds the token of (the link is renewed from the page)."""
    return hashlib.sha256(":".join(str(p) for p in ("guanxi-demo", *parts)).encode()).hexdigest()


def _zh(text: Any) -> str:
    """A system text as the system writes it into a case's story. The build runs in the
    company's language (``build_service``), as the services write the story in it."""
    return str(text)


def demo_rng(*parts: Any) -> random.Random:
    """A draw of its own for one record of the demo (the same parts, the same draw)."""
    return random.Random(":".join(str(p) for p in ("guanxi-demo", *parts)))  # noqa: S311 (a demo, not a secret)


def _when(moment: datetime) -> str:
    return f"{timezone.localtime(moment, timezone.get_default_timezone()):%Y-%m-%d %H:%M}"


# --- What the build reads ------------------------------------------------------------------------
@dataclass
class Person:
    pk: int
    username: str
    name: str
    department_id: int | None
    roles: frozenset[str]

    def __str__(self) -> str:
        return self.name or self.username


@dataclass
class Policy:
    pk: int
    response: int
    resolution: int
    warn: int


@dataclass
class World:
    """What every case's draw shares, loaded once per build."""

    size: str
    seed: int
    end: datetime  # the history ends at the start of today
    start: datetime
    cal: Any
    company: str = ""
    people: dict[int, Person] = field(default_factory=dict)
    by_name: dict[str, Person] = field(default_factory=dict)
    agents: list[Person] = field(default_factory=list)
    agent_cum: list[float] = field(default_factory=list)
    managers: list[Person] = field(default_factory=list)
    gms: list[Person] = field(default_factory=list)
    # (pk, name, owner_id, address, region, is_distributor)
    accounts: list[tuple[Any, ...]] = field(default_factory=list)
    account_cum: list[float] = field(default_factory=list)
    distributors: list[int] = field(default_factory=list)  # indexes into accounts
    products: dict[str, list[tuple[int, str, str, str]]] = field(default_factory=dict)  # line → (pk, code, name, model)
    product_line: dict[int, str] = field(default_factory=dict)
    catalogue: dict[int, tuple[int, str, str, str]] = field(default_factory=dict)
    categories: dict[str, tuple[int, bool]] = field(default_factory=dict)  # name → (pk, needs review)
    policies: dict[tuple[int | None, str], Policy] = field(default_factory=dict)
    forms: dict[str, Any] = field(default_factory=dict)
    improvements: dict[str, tuple[int, str, datetime, datetime | None]] = field(default_factory=dict)
    day_cum: list[float] = field(default_factory=list)
    tz: Any = None
    _ordinals: list[int] = field(default_factory=list)
    _start_us: int = 0
    _length: int = 0
    taken_slots: dict[int, list[tuple[datetime, datetime]]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def load(cls, size: str, seed: int, now: datetime) -> World:
        from guanxi.customers.models import Account
        from guanxi.demo import _anchor
        from guanxi.sales import demo_catalogue as cat
        from guanxi.service.services import calendar as calendars

        tz = timezone.get_default_timezone()
        end = datetime.combine(_anchor(now), dtime(0), tzinfo=tz)
        w = cls(size=size, seed=seed, end=end, start=end - timedelta(days=HISTORY_DAYS), cal=calendars.current())
        w.tz = tz
        w._index_days()
        w.company = getattr(settings, "GUANXI_COMPANY_NAME", "") or cat.COMPANY
        w._load_people()
        accounts = list(Account.objects.order_by("pk").values_list(
            "pk", "name", "owner_id", "address", "region", "is_distributor", "lifecycle", "grade"))
        weights = []
        for row in accounts:
            lifecycle, grade, distributor = row[6], row[7], row[5]
            weight = {"closed": 5.0, "intent": 1.5, "lost": 1.0}.get(lifecycle, 0.4)
            weight *= {"A": 3.0, "B": 2.0, "C": 1.0}.get(grade, 0.8) * (3.0 if distributor else 1.0)
            weights.append(weight)
        w.accounts = [row[:6] for row in accounts]
        w.account_cum = list(itertools.accumulate(weights))
        w.distributors = [i for i, row in enumerate(w.accounts) if row[5]]
        w._load_catalogue(cat.LINE_OF)
        w._load_configuration()
        w._plan_days()
        return w

    def _load_people(self) -> None:
        from guanxi.core.models import User

        roles: dict[int, set[str]] = defaultdict(set)
        for pk, code in User.roles.through.objects.values_list("user_id", "role__code"):
            roles[pk].add(code)
        for pk, username, name, department_id in User.objects.filter(is_active=True).order_by("pk").values_list(
                "pk", "username", "name", "department_id"):
            person = Person(pk, username, name, department_id, frozenset(roles.get(pk, ())))
            self.people[pk] = person
            self.by_name[username] = person
        ordered = sorted(self.people.values(), key=lambda p: p.username)
        self.agents = [p for p in ordered if "service_agent" in p.roles]
        self.managers = [p for p in ordered if "service_manager" in p.roles]
        self.gms = [p for p in ordered if "general_manager" in p.roles]
        if not self.agents:  # a company without service agents: the managers answer
            self.agents = list(self.managers or self.gms)
        # The named agents carry a realistic load: a third of a small desk, capped at larger sizes.
        expected = CASES[self.size] * 0.8
        shares = {"service": min(0.35, 1_200 / expected), "service2": min(0.3, 900 / expected)}
        named = {p.username for p in self.agents} & set(shares)
        rest = [p for p in self.agents if p.username not in named]
        left = max(1.0 - sum(shares[n] for n in named), 0.2 if rest else 0.0)
        self.agent_cum = list(itertools.accumulate(
            shares[p.username] if p.username in named else left / len(rest) for p in self.agents))

    def _load_catalogue(self, line_of: dict[str, str]) -> None:
        from guanxi.sales.models import Product

        for pk, code, name, model in Product.objects.filter(active=True).order_by("pk").values_list(
                "pk", "code", "name", "model"):
            line = line_of.get(code, "")
            self.products.setdefault(line, []).append((pk, code, name, model))
            self.product_line[pk] = line
            self.catalogue[pk] = (pk, code, name, model)

    def _load_configuration(self) -> None:
        from guanxi.service.models import CaseCategory, FeedbackForm, SlaPolicy

        for pk, name, review, kind in CaseCategory.objects.filter(active=True).order_by("position", "pk").values_list(
                "pk", "name", "needs_review", "kind"):
            self.categories[name] = (pk, review) if not kind else self.categories.get(name, (pk, review))
        for pk, category_id, severity, response, resolution, warn in SlaPolicy.objects.filter(
                active=True).order_by("pk").values_list("pk", "category_id", "severity", "first_response_minutes",
                                                        "resolution_minutes", "warn_percent"):
            self.policies[(category_id, severity)] = Policy(pk, response, resolution, warn)
        self.forms = {f.slug: f for f in FeedbackForm.objects.filter(active=True)}

    def _plan_days(self) -> None:
        """Weights of the year's days: growing business, fewer cases on days off and at Spring
        Festival, more in the busy months before the summer and the year's end."""
        season = {1: 0.8, 2: 0.55, 3: 1.0, 4: 1.05, 5: 1.05, 6: 1.15, 7: 1.0, 8: 0.95, 9: 1.05, 10: 0.9,
                  11: 1.1, 12: 1.2}
        weights = []
        first = self.start.date()
        for n in range(HISTORY_DAYS):
            day = first + timedelta(days=n)
            working = self.cal.is_working_day(day)
            weights.append((0.8 + 0.4 * n / HISTORY_DAYS) * season[day.month] * (1.0 if working else 0.3))
        self.day_cum = list(itertools.accumulate(weights))

    def _index_days(self) -> None:
        """The working days around the history (a month before it to a year after), for
        :meth:`add`: the calendar's own arithmetic, without its search per call."""
        first = self.start.date() - timedelta(days=31)
        self._ordinals = [first.toordinal() + n for n in range(HISTORY_DAYS + 31 + 400)
                          if self.cal.is_working_day(first + timedelta(days=n))]
        self._start_us = (self.cal.day_start.hour * 60 + self.cal.day_start.minute) * US_PER_MINUTE
        self._length = self.cal.day_length

    def add(self, moment: datetime, minutes: int) -> datetime:
        """``calendar.add_business_minutes(moment, minutes)`` (the same instant, ``minutes`` > 0):
        business positions counted from the indexed working days, the calendar itself outside them."""
        local = moment.astimezone(self.tz)
        ordinal = local.toordinal()
        k = bisect.bisect_left(self._ordinals, ordinal)
        if minutes > 0 and 0 < k < len(self._ordinals) and self._length > 0:
            into = ((local.hour * 60 + local.minute) * 60 + local.second) * 1_000_000 + local.microsecond
            position = k * self._length
            if self._ordinals[k] == ordinal:
                position += min(max(into - self._start_us, 0), self._length)
            target = position + minutes * US_PER_MINUTE
            day = -(-target // self._length)  # the answer lies in this working day (1-based)
            if day - 1 < len(self._ordinals):
                opening = datetime.combine(date.fromordinal(self._ordinals[day - 1]), self.cal.day_start,
                                           tzinfo=self.tz)
                return opening + timedelta(microseconds=target - (day - 1) * self._length)
        result: datetime = self.cal.add_minutes(moment, minutes)
        return result

    # -- draws
    def agent(self, rng: random.Random) -> Person:
        return self.agents[bisect.bisect(self.agent_cum, rng.random() * self.agent_cum[-1], hi=len(self.agents) - 1)]

    def account_index(self, rng: random.Random, *, distributor: bool = False) -> int | None:
        if not self.accounts:
            return None
        if distributor and self.distributors:
            return self.distributors[rng.randrange(len(self.distributors))]
        return bisect.bisect(self.account_cum, rng.random() * self.account_cum[-1], hi=len(self.accounts) - 1)

    def fits(self, product: tuple[int, str, str, str], lines: str) -> bool:
        """Whether ``product`` is one ``lines`` names: product lines, or code prefixes ("BJ-")."""
        wanted = [part for part in lines.split("|") if part]
        return not wanted or any(product[1].startswith(part) if part.endswith("-")
                                 else self.product_line.get(product[0]) == part for part in wanted)

    def product(self, rng: random.Random, lines: str) -> tuple[int, str, str, str] | None:
        pool = [p for ps in self.products.values() for p in ps if self.fits(p, lines)]
        if not pool:
            pool = [p for ps in self.products.values() for p in ps]
        return rng.choice(pool) if pool else None

    def policy(self, category_id: int | None, severity: str) -> Policy | None:
        if category_id is not None and (category_id, severity) in self.policies:
            return self.policies[(category_id, severity)]
        return self.policies.get((None, severity))

    def received_times(self) -> list[datetime]:
        """The year's receipt times, drawn from the seed alone and sorted."""
        rng = demo_rng(self.seed, "service-times")
        total = CASES[self.size]
        tz = timezone.get_default_timezone()
        first = self.start.date()
        times = []
        for i in range(total):
            position = (i + rng.random()) / total * self.day_cum[-1]
            n = bisect.bisect(self.day_cum, position, hi=HISTORY_DAYS - 1)
            day = first + timedelta(days=n)
            if rng.random() < 0.8:
                minutes = int(rng.triangular(8 * 60, 18 * 60, 10 * 60 + 30))
            else:
                minutes = rng.randrange(7 * 60, 23 * 60)
            times.append(datetime.combine(day, dtime(minutes // 60, minutes % 60, rng.randrange(60)), tzinfo=tz))
        times.sort()
        return times

    def told(self, level: int, owner: Person) -> str:
        people = self.managers if level == 1 else self.gms
        return "、".join(str(p) for p in people if p.pk != owner.pk) or "—"


# --- One case's draw -----------------------------------------------------------------------------
@dataclass
class Draft:
    """A case's attributes and the way its story goes (what :func:`tell` plays out)."""

    index: int
    received_at: datetime
    kind: str = "complaint"
    channel: str = "hotline"
    template: tx.Template | None = None
    category_name: str = ""
    severity: str = "normal"
    ticket_type: str = ""
    account: tuple[Any, ...] | None = None
    contact: tuple[Any, ...] | None = None  # (pk, name, mobile, email)
    order: tuple[Any, ...] | None = None  # (pk, code, product_id)
    product: tuple[int, str, str, str] | None = None
    sender_name: str = ""
    sender_company: str = ""
    sender_phone: str = ""
    sender_email: str = ""
    wants_reply: bool = True
    form: Any = None
    received_by: Person | None = None
    owner: Person | None = None  # the owner once the triage hand-over is accepted
    handover_declined: bool = False
    pending_to: Person | None = None  # a hand-over still offered at the end (showcase)
    # Where the story stops, whatever the time: "new", "acknowledged", "investigating", "proposed",
    # "review" (the reply awaits the supervisor), "resolved" (the customer's answer awaits) or
    # "confirmed" (not yet closed); "" plays it out to the end of the history.
    stall: str = ""
    late_response: bool | None = None
    late_resolution: bool | None = None
    force_reopen: bool = False
    answer: str = ""  # how the customer answers the resolution, when given: "link", "phone", "none"
    reply_wanted: bool | None = None  # whether the sender wants a reply, when given
    improvement: str = ""  # the improvement's title a suggestion is linked to
    visit: bool = False
    technician: Person | None = None
    visit_slot: tuple[datetime, datetime] | None = None
    card_rating: int | None = None
    unmatched: bool = False  # no account, whatever the draw
    x_share: float | None = None  # the resolution's share of the SLA time, when given
    rng: random.Random | None = None


def draw_case(w: World, index: int, received_at: datetime) -> Draft:
    """The attributes of the year's case ``index`` that need no database (accounts come later)."""
    rng = demo_rng(w.seed, "case", index)
    d = Draft(index=index, received_at=received_at, rng=rng)
    d.kind = _pick(rng, KINDS)
    d.channel = _pick(rng, CHANNELS[d.kind])
    if d.kind == "complaint":
        d.category_name = _pick(rng, COMPLAINT_CATEGORIES)
        d.template = rng.choice(tx.COMPLAINTS[d.category_name])
        d.visit = d.category_name in ("产品质量", "安装与维修") and rng.random() < 0.2
    elif d.kind == "ticket":
        d.ticket_type = _pick(rng, TICKET_TYPES)
        d.template = rng.choice(tx.TICKETS[d.ticket_type])
        d.category_name = "其他" if d.ticket_type == "support" else (
            "产品质量" if d.ticket_type == "repair" and rng.random() < 0.2 else "安装与维修")
        d.visit = rng.random() < (0.1 if d.ticket_type == "support" else 0.92)
    else:
        d.category_name = _pick(rng, SUGGESTION_CATEGORIES)
        d.template = rng.choice(tx.SUGGESTIONS[d.category_name])
        d.improvement = tx.LINKS.get(d.template.title, "") if rng.random() < 0.75 else ""
    if d.kind == "complaint" and d.template.title in tx.LINKS and rng.random() < 0.3:
        d.improvement = tx.LINKS[d.template.title]
    d.severity = _pick(rng, SEVERITIES[d.kind])
    if d.ticket_type == "repair" and rng.random() < 0.3:
        d.severity = "high"
    # Stuck cases: a few among the recent ones, a handful from long ago (the backlog's tail).
    age = (w.end - received_at).days
    roll = rng.random()
    if (age <= 60 and roll < 0.05) or roll < 0.003:
        d.stall = rng.choice(("new", "investigating", "investigating", "proposed"))
    return d


def _sender(w: World, d: Draft, rng: random.Random) -> None:
    """The account, contact and sender details (accounts chosen before the batch's contacts load)."""
    from guanxi.demo import CITIES, company_name, mobile, person_name

    if d.account is None:
        d.sender_name = person_name(rng)
        if rng.random() < 0.75:
            d.sender_company = company_name(rng, rng.choice(CITIES))
        d.sender_phone = mobile(rng) if rng.random() < 0.9 else ""
    else:
        d.sender_company = d.account[1]
        if d.contact is not None:
            d.sender_name, d.sender_phone = d.contact[1], d.contact[2]
        else:
            d.sender_name = person_name(rng)
            d.sender_phone = mobile(rng)
    email_share = {"email": 1.0, "web": 0.5, "api": 0.6}.get(d.channel, 0.1)
    if d.contact is not None and d.contact[3]:
        d.sender_email = d.contact[3]
    elif rng.random() < email_share:
        handle = rng.choice(("caigou", "shebei", "service", "info", "sb", "admin", "office"))
        d.sender_email = f"{handle}{rng.randrange(10, 9999)}@{rng.choice(tx.EMAIL_DOMAINS)}"
    if d.channel == "card":
        d.card_rating = rng.choice((None, 2, 3, 3, 4, 4, 5)) if d.kind != "suggestion" else rng.choice((None, 4, 5))
        if not d.sender_phone and not d.sender_email:
            d.wants_reply = False
        elif rng.random() < 0.25:
            d.wants_reply = False
    elif rng.random() < 0.03:
        d.wants_reply = False
    if not (d.sender_phone or d.sender_email or d.account):
        d.wants_reply = False
    if d.reply_wanted is not None:
        d.wants_reply = d.reply_wanted


def _people(w: World, d: Draft, rng: random.Random) -> None:
    """Who received the case (the first responder), who owns it in the end, who visits."""
    if d.received_by is not None:  # given (the showcase)
        d.owner = d.owner or d.received_by
        if d.visit and d.technician is None:
            d.technician = d.owner
        return
    final = w.agent(rng)
    if d.form is not None:
        responder = w.people.get(d.form.responder_id) or final
        d.received_by = responder  # the responder triages: keeps it when the draw says so, else hands it over
        d.owner = final
    elif d.channel == "staff" and d.account is not None and d.account[2] in w.people and (
            w.people[d.account[2]].roles & {"salesperson", "sales_manager"}):
        d.received_by = w.people[d.account[2]]
        # The salesperson hands technical matters to the service desk, keeps the rest.
        d.owner = final if (d.kind == "ticket" or rng.random() < 0.5) else d.received_by
    else:
        d.received_by = final
        d.owner = final
    if d.kind == "complaint" and d.severity == "critical" and w.managers and rng.random() < 0.5:
        d.owner = w.managers[0]
    d.handover_declined = d.owner.pk != d.received_by.pk and rng.random() < 0.03
    if d.visit:
        d.technician = d.owner if "service_agent" in d.owner.roles and rng.random() < 0.5 else w.agent(rng)


def fill_batch(w: World, drafts: list[Draft]) -> None:
    """Accounts, contacts, orders, products, forms and people of a batch of drafts."""
    from guanxi.customers.models import Contact
    from guanxi.sales.models import Order, OrderLine

    for d in drafts:
        rng = d.rng
        assert rng is not None
        if d.account is None and not d.unmatched and rng.random() >= UNMATCHED:
            distributor = d.kind == "ticket" and d.channel in ("web", "api") and rng.random() < 0.7
            index = w.account_index(rng, distributor=distributor)
            d.account = w.accounts[index] if index is not None else None
        if d.channel == "web" and d.form is None:
            slug = "jingxiaoshang" if d.kind == "ticket" and (d.account is None or d.account[5]) else "kefu"
            d.form = w.forms.get(slug) or w.forms.get("kefu")
        elif d.channel == "card" and d.form is None and rng.random() < 0.5:
            d.form = w.forms.get("yijianka")
    ids = sorted({d.account[0] for d in drafts if d.account is not None})
    contacts: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    orders: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for start in range(0, len(ids), 1_000):
        chunk = ids[start:start + 1_000]
        for row in Contact.objects.filter(account_id__in=chunk).order_by("pk").values_list(
                "account_id", "pk", "name", "mobile", "email"):
            contacts[row[0]].append(row[1:])
        for row in Order.objects.filter(account_id__in=chunk, state__in=("shipped", "delivered")).order_by(
                "pk").values_list("account_id", "pk", "code", "order_date"):
            orders[row[0]].append(row[1:])
    picked: dict[int, Draft] = {}
    for d in drafts:
        rng = d.rng
        assert rng is not None and d.template is not None
        if d.account is not None:
            people = contacts.get(d.account[0], [])
            if people and rng.random() < 0.85:
                d.contact = people[0] if rng.random() < 0.5 else rng.choice(people)
            needs_order = "{order}" in d.template.title + d.template.text or d.ticket_type == "installation"
            before = d.received_at.date() - timedelta(days=3)
            mine = [o for o in orders.get(d.account[0], []) if o[2] <= before]
            if mine and (needs_order or rng.random() < 0.2):
                order = mine[-1] if rng.random() < 0.6 else rng.choice(mine[-5:])
                d.order = (order[0], order[1], None)
                picked[order[0]] = d
        _sender(w, d, rng)
        _people(w, d, rng)
    firsts: dict[int, int] = {}
    order_ids = sorted(picked)
    for start in range(0, len(order_ids), 1_000):
        for order_id, product_id in OrderLine.objects.filter(
                order_id__in=order_ids[start:start + 1_000], product__isnull=False).order_by(
                "order_id", "position", "pk").values_list("order_id", "product_id"):
            firsts.setdefault(order_id, product_id)
    for d in drafts:
        rng = d.rng
        assert rng is not None and d.template is not None
        lines = d.template.lines
        first_product = firsts.get(d.order[0]) if d.order else None
        ordered = w.catalogue.get(first_product) if first_product is not None else None
        if ordered is not None and w.fits(ordered, lines):
            d.product = ordered
        if d.product is None and ("{product}" in d.template.title + d.template.text or d.kind == "ticket"
                                  or rng.random() < 0.5):
            d.product = w.product(rng, lines)


# --- Telling the story ---------------------------------------------------------------------------
class Story:
    """The rows one case's story writes, up to the end of the history."""

    def __init__(self, w: World, d: Draft, code: str) -> None:
        self.w, self.d, self.code = w, d, code
        self.limit = w.end
        self.events: list[dict[str, Any]] = []
        self.steps: list[dict[str, Any]] = []
        self.handovers: list[dict[str, Any]] = []
        self.visits: list[dict[str, Any]] = []
        self.mails: list[dict[str, Any]] = []
        self.state = "new"
        self.fields: dict[str, Any] = {}
        self.open_since: list[datetime] = [d.received_at]  # starts of the open periods
        self.open_until: list[datetime] = []  # their ends (resolutions); one fewer while still open
        self.first_response: datetime | None = None
        self.owners: list[tuple[datetime, Person]] = [(d.received_at, d.received_by)] if d.received_by else []
        self.saves = 1
        self.last = d.received_at

    def reached(self, moment: datetime) -> bool:
        return moment <= self.limit

    def event(self, type: str, at: datetime, actor: Person | None = None, *, to_user: Person | None = None,
              from_state: str = "", to_state: str = "", note: str = "") -> None:
        self.events.append({"type": type, "at": at, "actor_id": actor.pk if actor else None,
                            "to_user_id": to_user.pk if to_user else None, "from_state": from_state,
                            "to_state": to_state, "note": note})
        self.last = max(self.last, at)

    def move(self, to: str, at: datetime, actor: Person | None, note: str = "") -> None:
        self.event("state", at, actor, from_state=self.state, to_state=to, note=note)
        self.state = to
        self.saves += 1

    def step(self, step: str, at: datetime, actor: Person, note: str) -> None:
        self.steps.append({"step": step, "note": note, "actor_id": actor.pk, "at": at})
        self.event("step", at, actor, note=note)


def _fill(d: Draft, text: str) -> str:
    rng = d.rng
    assert rng is not None
    product = d.product
    if d.order is None:  # no order to name: the customer says which one
        for pattern, instead in (("订单 {order} 的", "上月订单的"), ("（订单 {order}）", ""),
                                 ("订单 {order} ", "上月的订单"), ("订单 {order}", "上月的订单")):
            text = text.replace(pattern, instead)
    return text.format(
        product=product[2] if product else "设备", model=product[3] if product else "—",
        order=d.order[1] if d.order else rng.choice(("上月的订单", "我们上次的订单")),
        n=rng.randint(2, 12), amount=f"{rng.randint(3, 80) * 100:,}", code=rng.choice(tx.ALARMS),
        name=d.sender_name or "客户", region=(d.account[4] if d.account else "") or "外地", date="")


def tell(w: World, d: Draft, code: str) -> Story:
    """Play a case out from receipt to where its story stands at the end of the history."""
    s = Story(w, d, code)
    rng, t = d.rng, d.template
    assert rng is not None and t is not None and d.received_by is not None and d.owner is not None
    received = d.received_at
    s.event("received", received, d.received_by if d.channel in ENTERED_BY_STAFF else None, to_user=d.received_by,
            note=_zh(_channel_label(d.channel)))
    owner = d.received_by
    policy = w.policy(w.categories.get(d.category_name, (None, False))[0], d.severity)
    R = policy.response if policy else 240
    X = policy.resolution if policy else 2_700
    late_response = d.late_response if d.late_response is not None else rng.random() < 0.05
    r_minutes = R * (1 + rng.expovariate(1.5)) if late_response else R * rng.uniform(0.05, 0.85)
    late_resolution = d.late_resolution if d.late_resolution is not None else rng.random() < 0.06
    x_minutes = X * (1 + rng.expovariate(2.0)) if late_resolution else X * rng.uniform(0.15, 0.85)
    if d.x_share is not None:
        x_minutes = X * d.x_share

    # The first responder answers first (首问负责), then hands over when someone else should handle it.
    ack = w.add(received, max(int(r_minutes), 1))
    if d.stall == "new" or not s.reached(ack):
        return _finish(s, owner)
    s.first_response = ack
    s.move("acknowledged", ack, owner)
    s.step("listen", ack, owner, rng.choice(tx.LISTEN).format(name=d.sender_name or "客户"))
    moment = ack
    if d.owner.pk != owner.pk:
        offer = w.add(ack, rng.randint(3, 45))
        if not s.reached(offer):
            return _finish(s, owner)
        note = (tx.ESCALATE_HANDOVER if d.owner in w.managers else rng.choice(tx.HANDOVER_NOTES)).format(
            region=(d.account[4] if d.account else "") or "外地")
        handover = {"from_user_id": owner.pk, "to_user_id": d.owner.pk, "note": note, "state": "offered",
                    "created_at": offer, "updated_at": offer, "decided_at": None, "answer": "", "version": 1}
        s.handovers.append(handover)
        s.event("handover", offer, owner, to_user=d.owner, note=note)
        decided = w.add(offer, rng.randint(5, 120))
        if not s.reached(decided):
            return _finish(s, owner)
        if d.handover_declined:
            answer = rng.choice(tx.HANDOVER_DECLINE)
            handover.update(state="declined", decided_at=decided, answer=answer, updated_at=decided, version=2)
            s.event("declined", decided, d.owner, to_user=owner, note=answer)
        else:
            answer = rng.choice(tx.HANDOVER_ACCEPT)
            handover.update(state="accepted", decided_at=decided, answer=answer, updated_at=decided, version=2)
            s.event("accepted", decided, d.owner, to_user=d.owner, note=answer)
            owner = d.owner
            s.owners.append((decided, owner))
            s.saves += 1
        moment = decided
    if d.stall == "acknowledged":
        return _finish(s, owner)
    investigating = w.add(moment, rng.randint(5, 90))
    if not s.reached(investigating):
        return _finish(s, owner)
    s.move("investigating", investigating, owner)
    clarify = w.add(investigating, rng.randint(10, 240))
    if s.reached(clarify):
        s.step("clarify", clarify, owner, _fill(d, t.clarify) if t.clarify else rng.choice(tx.CLARIFY))
    if d.stall == "investigating" and not d.visit:
        return _finish(s, owner)
    after = clarify
    if d.visit:
        visited = _visits(w, s, owner, investigating)
        if visited is None or d.stall == "investigating":
            return _finish(s, owner)
        after = visited
    proposal = _fill(d, t.proposal)
    resolved = _resolve_round(w, s, owner, received, x_minutes, after, proposal, first=True)
    if resolved is None:
        return _finish(s, owner)
    _customer(w, s, owner, resolved, received, X, proposal)
    return _finish(s, owner)


def _channel_label(channel: str) -> Any:
    from guanxi.service.models import Channel

    return Channel(channel).label


def _resolve_round(w: World, s: Story, owner: Person, received: datetime, x_minutes: float, after: datetime,
                   proposal: str, *, first: bool) -> datetime | None:
    """Propose, write the reply (reviewed when the category asks), resolve; the resolution time,
    or None where the story stops."""
    d = s.d
    rng = d.rng
    assert rng is not None
    proposed = max(w.add(received, int(x_minutes * 0.6)), w.add(after, rng.randint(10, 120)))
    if not s.reached(proposed):
        return None
    if d.kind == "complaint" and rng.random() < 0.6:
        s.step("apologise", proposed, owner, rng.choice(tx.APOLOGISE).format(name=d.sender_name or "客户"))
    s.step("propose", proposed, owner, proposal if first else f"补充方案：{proposal}")
    s.fields["proposal"] = proposal
    s.move("proposed", proposed, owner)
    if first and d.improvement and d.improvement in w.improvements:
        pk, code, since, shipped = w.improvements[d.improvement]
        if since <= proposed and (shipped is None or proposed < shipped):
            s.fields["improvement_id"] = pk
            linked = proposed + timedelta(minutes=1)
            s.event("improvement", linked, owner, note=f"{code} {d.improvement}: {_zh(_('linked to this case.'))}")
    if d.stall == "proposed":
        return None
    replied = w.add(proposed, rng.randint(5, 60))
    if not s.reached(replied):
        return None
    template = {"suggestion": tx.REPLY_SUGGESTION, "ticket": tx.REPLY_TICKET}.get(d.kind, tx.REPLY)
    assert d.template is not None
    reply = template.format(name=d.sender_name or "客户", title=_fill(d, d.template.title), proposal=proposal,
                            company=w.company)
    s.fields["reply"] = reply
    s.event("reply", replied, owner, note=reply)
    s.saves += 1
    if w.categories.get(d.category_name, (0, False))[1]:
        reviewer = next((m for m in w.managers if m.pk != owner.pk), None) or (w.gms[0] if w.gms else owner)
        s.fields.update(review_state="pending", reviewed_by_id=None, review_note="")
        if first and rng.random() < 0.08:
            returned = w.add(replied, rng.randint(30, 300))
            if not s.reached(returned):
                return None
            text = rng.choice(tx.REVIEW_RETURN)
            s.event("review", returned, reviewer, note=_zh(_review_label("returned")) + f": {text}")
            s.fields.update(review_state="returned", reviewed_by_id=reviewer.pk, review_note=text)
            s.saves += 1
            replied = w.add(returned, rng.randint(20, 180))
            if not s.reached(replied):
                return None
            s.event("reply", replied, owner, note=reply)
            s.fields.update(review_state="pending", reviewed_by_id=None, review_note="")
            s.saves += 1
        approved = w.add(replied, rng.randint(15, 180))
        if d.stall == "review" or not s.reached(approved):
            return None
        text = rng.choice(tx.REVIEW_APPROVE)
        s.event("review", approved, reviewer, note=_zh(_review_label("approved")) + (f": {text}" if text else ""))
        s.fields.update(review_state="approved", reviewed_by_id=reviewer.pk, review_note=text)
        s.saves += 1
        replied = approved
    resolved = max(w.add(received, int(x_minutes)), w.add(replied, rng.randint(5, 120)))
    if not s.reached(resolved):
        return None
    s.move("resolved", resolved, owner)
    s.fields.update(resolved_at=resolved, resolution=proposal,
                    confirm_token_hash=fake_hash(w.seed, "case", s.code, len(s.open_until)))
    s.open_until.append(resolved)
    return resolved


def _review_label(state: str) -> Any:
    from guanxi.service.models import Case

    return Case.Review(state).label


def _customer(w: World, s: Story, owner: Person, resolved: datetime, received: datetime, X: int,
              proposal: str) -> None:
    """The customer's answer to the resolution, and the closing."""
    d = s.d
    rng = d.rng
    assert rng is not None
    if d.stall == "resolved":
        return
    if not d.wants_reply:
        closed = w.add(resolved, rng.randint(10, 240))
        if s.reached(closed):
            _close(s, closed, owner, tx.CLOSE_NO_REPLY)
        return
    roll = {"link": 0.5, "phone": 0.75, "none": 0.9}.get(d.answer) or rng.random()
    confirmed: datetime | None = None
    if d.force_reopen or roll < 0.05:
        rejected = resolved + timedelta(hours=rng.uniform(3, 72))
        if not s.reached(rejected):
            return
        comment = rng.choice(tx.REOPEN.get(d.category_name, tx.REOPEN[""]))
        s.event("customer", rejected, None, from_state="resolved", to_state="investigating",
                note=_zh(_("The customer is not satisfied.")) + f" {comment}")
        s.event("reopened", rejected, None, from_state="resolved", to_state="investigating", note=comment)
        s.state = "investigating"
        s.fields.update(reopen_count=1, resolved_at=None, confirm_token_hash="")
        s.open_since.append(rejected)
        s.saves += 1
        if d.force_reopen:
            return
        again = _resolve_round(w, s, owner, rejected, X * rng.uniform(0.1, 0.3), rejected, proposal, first=False)
        if again is None:
            return
        resolved, roll = again, 0.5  # the second answer is a confirmation by the link
    if roll < 0.70:
        confirmed = resolved + timedelta(hours=rng.uniform(1, 72))
        if not s.reached(confirmed):
            return
        comment = rng.choice(tx.CONFIRM_COMMENT)
        s.event("customer", confirmed, None, from_state="resolved", to_state="confirmed",
                note=_zh(_("The customer confirmed the resolution.")) + (f" {comment}" if comment else ""))
        s.state = "confirmed"
        s.saves += 1
    elif roll < 0.82:
        confirmed = w.add(resolved, rng.randint(30, 600))
        if not s.reached(confirmed):
            return
        s.move("confirmed", confirmed, owner, rng.choice(tx.PHONE_CONFIRM))
    else:
        closed = resolved + timedelta(days=7, hours=rng.uniform(1, 30))
        if s.reached(closed):
            _close(s, closed, owner, tx.CLOSE_UNANSWERED)
        return
    s.fields.update(confirmed_at=confirmed, confirm_token_hash="")
    if d.stall == "confirmed":
        return
    closed = w.add(confirmed, rng.randint(10, 600))
    if s.reached(closed):
        _close(s, closed, owner, "")


def _close(s: Story, closed: datetime, owner: Person, note: str) -> None:
    d = s.d
    rng = d.rng
    assert rng is not None
    s.move("closed", closed, owner, note)
    s.fields.update(closed_at=closed, confirm_token_hash="")
    if d.kind == "complaint" and rng.random() < 0.35:
        follow = closed + timedelta(days=rng.randint(3, 10), hours=rng.uniform(-3, 3))
        if s.reached(follow):
            s.step("follow_up", follow, owner, rng.choice(tx.FOLLOW_UP).format(name=d.sender_name or "客户"))


def _slot_after(w: World, moment: datetime, rng: random.Random, technician: Person,
                urgent: bool = False) -> tuple[datetime, datetime]:
    """A visit slot on one of the next working days (an urgent one the same afternoon when it
    can), not overlapping the technician's future visits."""
    cal = w.cal
    tz = timezone.get_default_timezone()
    local = timezone.localtime(moment, tz)
    if urgent and local.hour < 12 and cal.is_working_day(local.date()):
        start = datetime.combine(local.date(), dtime(14, 0), tzinfo=tz)
        end = start + timedelta(minutes=rng.choice((90, 120, 180)))
        if end <= w.end or not any(a < end and start < b for a, b in w.taken_slots[technician.pk]):
            if end > w.end:
                w.taken_slots[technician.pk].append((start, end))
            return start, end
    day = local.date() + timedelta(days=1)
    skip = 0 if urgent else rng.choice((0, 0, 1, 1, 2))
    for _attempt in range(60):
        while not cal.is_working_day(day):
            day += timedelta(days=1)
        if skip > 0:
            skip -= 1
            day += timedelta(days=1)
            continue
        hour, minute = rng.choice(SLOTS)
        start = datetime.combine(day, dtime(hour, minute), tzinfo=tz)
        end = start + timedelta(minutes=rng.choice((90, 120, 150, 180, 240)))
        taken = w.taken_slots[technician.pk]
        if end <= w.end or not any(a < end and start < b for a, b in taken):
            if end > w.end:
                taken.append((start, end))
            return start, end
        day += timedelta(days=1)
    return start, end


def _visits(w: World, s: Story, owner: Person, investigating: datetime) -> datetime | None:
    """The case's visits; the moment the last report was written, or None while one is to come."""
    from guanxi.service.services.visits import slot_text

    d = s.d
    rng = d.rng
    assert rng is not None and d.technician is not None
    tech = d.technician
    purpose = d.ticket_type if d.ticket_type in tx.VISIT_REPORTS else "repair"
    address = ((d.account[3] or d.account[4]) if d.account else "")[:300]
    scheduled_at = w.add(investigating, rng.randint(10, 120))
    rounds = 2 if rng.random() < 0.06 and d.visit_slot is None else 1
    for number in range(rounds):
        if not s.reached(scheduled_at):
            return None
        start, end = d.visit_slot if d.visit_slot and number == 0 else _slot_after(
            w, scheduled_at, rng, tech, urgent=d.severity in ("high", "critical"))
        visit: dict[str, Any] = {"purpose": purpose, "technician_id": tech.pk, "scheduled_start": start,
                                 "scheduled_end": end, "address": address, "state": "scheduled",
                                 "created_at": scheduled_at, "updated_at": scheduled_at, "version": 1}
        s.visits.append(visit)
        label = f"{s.code} {_zh(_ticket_label(purpose))} {slot_text(start, end)}"
        s.event("note", scheduled_at, owner, to_user=tech,
                note=_zh(_("Visit scheduled: %(visit)s, technician %(technician)s.") % {
                    "visit": label, "technician": tech}))
        if number == 0 and rounds == 2:  # the customer asked for another day
            cancelled = scheduled_at + timedelta(hours=rng.uniform(2, 20))
            if not s.reached(cancelled) or cancelled >= start:
                cancelled = min(cancelled, start - timedelta(hours=1))
            if not s.reached(cancelled):
                return None
            reason = rng.choice(tx.CANCEL_REASONS)
            visit.update(state="cancelled", updated_at=cancelled, version=2)
            s.event("note", cancelled, owner, note=_zh(_("Visit cancelled: %(visit)s. Reason: %(reason)s") % {
                "visit": label, "reason": reason}))
            scheduled_at = cancelled + timedelta(minutes=5)
            continue
        arrived = start + timedelta(minutes=rng.randint(-10, 25))
        finished = end + timedelta(minutes=rng.randint(-30, 40))
        reported = finished + timedelta(minutes=rng.randint(5, 60))
        if not s.reached(reported):
            return None
        report, parts = rng.choice(tx.VISIT_REPORTS[purpose])
        report = report.format(n=rng.randint(2, 8))
        visit.update(state="done", arrived_at=arrived, finished_at=finished, report=report, parts=parts,
                     updated_at=reported, version=2, confirm_token_hash=fake_hash(w.seed, "visit", s.code, number))
        s.event("note", reported, tech, note=_zh(_("Visit done: %(visit)s. %(report)s") % {
            "visit": label, "report": report}))
        signer = (d.contact[1] if d.contact else "") or d.sender_name or "客户"
        comment = rng.choice(tx.VISIT_COMMENTS)
        roll = rng.random()
        if roll < 0.7:
            confirmed = reported + timedelta(minutes=2)
            visit.update(state="confirmed", customer_signature=signer, customer_confirmed_at=confirmed,
                         customer_comment=comment, confirm_token_hash="", updated_at=confirmed, version=3)
            s.event("customer", confirmed, tech, note=_zh(_(
                "Visit confirmed on site by %(name)s: %(visit)s.") % {"name": signer, "visit": label})
                + (f" {comment}" if comment else ""))
        elif roll < 0.85:
            confirmed = reported + timedelta(hours=rng.uniform(2, 72))
            if s.reached(confirmed):
                visit.update(state="confirmed", customer_signature=signer, customer_confirmed_at=confirmed,
                             customer_comment=comment, confirm_token_hash="", updated_at=confirmed, version=3)
                s.event("customer", confirmed, None, note=_zh(_(
                    "The customer %(name)s confirmed the visit %(visit)s.") % {"name": signer, "visit": label})
                    + (f" {comment}" if comment else ""))
        return reported
    return None


def _ticket_label(purpose: str) -> Any:
    from guanxi.service.models import Case

    return Case.TicketType(purpose).label


def _finish(s: Story, owner: Person) -> Story:
    """The SLA columns and events as the sweep leaves them, then the case's own row."""
    w, d = s.w, s.d
    s.fields["owner_id"] = owner.pk
    s.fields["department_id"] = owner.department_id
    pending = d.pending_to
    if pending is not None and s.state != "closed":
        offer = min(s.last + timedelta(minutes=15), w.end - timedelta(minutes=1))
        s.handovers.append({"from_user_id": owner.pk, "to_user_id": pending.pk, "note": tx.HANDOVER_NOTES[2],
                            "state": "offered", "created_at": offer, "updated_at": offer, "decided_at": None,
                            "answer": "", "version": 1})
        s.event("handover", offer, owner, to_user=pending, note=tx.HANDOVER_NOTES[2])
    _sla(s, owner)
    return s


def _sla(s: Story, owner: Person) -> None:
    w, d = s.w, s.d
    policy = w.policy(w.categories.get(d.category_name, (None, False))[0], d.severity)
    f = s.fields
    f.update(sla_policy_id=None, first_response_due=None, resolution_due=None, response_warned_at=None,
             resolution_warned_at=None, response_breached=False, resolution_breached=False, escalation_level=0,
             escalated_at=None, first_responded_at=s.first_response)
    if policy is None:
        return
    received = d.received_at
    response_due = w.add(received, policy.response)
    resolution_due = w.add(received, policy.resolution)
    f.update(sla_policy_id=policy.pk, first_response_due=response_due, resolution_due=resolution_due)
    names = {"response": lambda: _("first response"), "resolution": lambda: _("resolution")}
    raises: list[tuple[datetime, int, str]] = []

    def warned(timer: str, at: datetime, due: datetime) -> None:
        f[f"{timer}_warned_at"] = at
        s.event("warned", at, None, note=_zh(_("The %(timer)s is due at %(due)s.") % {
            "timer": names[timer](), "due": _when(due)}))

    def breached(timer: str, at: datetime, due: datetime, level: int) -> None:
        f[f"{timer}_breached"] = True
        s.event("breached", at, None, note=_zh(_("The %(timer)s was due at %(due)s.") % {
            "timer": names[timer](), "due": _when(due)}))
        raises.append((at, level, _zh(_("the %(timer)s was due at %(due)s.") % {
            "timer": names[timer](), "due": _when(due)})))

    # First response: stops at the first answer (or when the case stopped being open).
    stop = s.first_response or (s.open_until[0] if s.open_until else w.end)
    warn_at = w.add(received, max(math.ceil(policy.response * policy.warn / 100), 1))
    if policy.warn < 100 and warn_at < min(stop, response_due) and warn_at <= w.end:
        warned("response", warn_at, response_due)
    if stop > response_due and response_due <= w.end:
        breached("response", response_due, response_due, 1)
        second = w.add(response_due, policy.response)
        if (s.first_response is None or s.first_response > second) and second <= w.end:
            raises.append((second, 2, _zh(_("the first response was due at %(due)s and is still missing.")
                                              % {"due": _when(response_due)})))
    # Resolution: runs while the case is open (again after a reopening, against the same due time).
    periods = list(zip(s.open_since, [*s.open_until, None][:len(s.open_since)], strict=True))
    warn_at = w.add(received, max(math.ceil(policy.resolution * policy.warn / 100), 1))
    warn_moment = _first_open_moment(periods, warn_at, w.end)
    if policy.warn < 100 and warn_moment is not None and warn_moment < resolution_due:
        warned("resolution", warn_moment, resolution_due)
    breach_moment = _first_open_moment(periods, resolution_due, w.end)
    if breach_moment is not None:
        breached("resolution", breach_moment, resolution_due, 2)
    level = 0
    for at, target, reason in sorted(raises):
        if target <= level:
            continue
        then = next((person for since, person in reversed(s.owners) if since <= at), owner)
        told = "、".join(dict.fromkeys(
            name for step in range(level + 1, target + 1) for name in w.told(step, then).split("、") if name != "—"))
        s.event("escalated", at, None, note=_zh(_("Level %(level)d: %(reason)s Told: %(names)s.") % {
            "level": target, "reason": reason, "names": told or "—"}))
        level = target
        f.update(escalation_level=level, escalated_at=at)


def _first_open_moment(periods: list[tuple[datetime, datetime | None]], moment: datetime,
                       end: datetime) -> datetime | None:
    """The first moment at or after ``moment`` when the case was open (before ``end``)."""
    for since, until in periods:
        stop = until if until is not None else end
        if until is None and moment <= end and since <= end:
            return max(since, moment)
        if stop > moment:
            return max(since, moment)
    return None


# --- Writing -------------------------------------------------------------------------------------
def case_row(s: Story) -> dict[str, Any]:
    d = s.d
    assert d.template is not None and d.received_by is not None
    description = _fill(d, d.template.text)
    if d.card_rating is not None:
        description += "\n\n" + _zh(_("Rating on the card: %(n)d of 5") % {"n": d.card_rating})
    row = {
        "code": s.code, "kind": d.kind, "ticket_type": d.ticket_type, "title": _fill(d, d.template.title)[:200],
        "description": description, "channel": d.channel, "form_id": d.form.pk if d.form is not None else None,
        "category_id": s.w.categories.get(d.category_name, (None, False))[0], "severity": d.severity,
        "product_id": d.product[0] if d.product else None, "order_id": d.order[0] if d.order else None,
        "account_id": d.account[0] if d.account else None, "contact_id": d.contact[0] if d.contact else None,
        "sender_name": d.sender_name, "sender_company": d.sender_company, "sender_phone": d.sender_phone,
        "sender_email": d.sender_email, "wants_reply": d.wants_reply, "state": s.state,
        "received_by_id": d.received_by.pk, "received_at": d.received_at, "proposal": "", "reply": "",
        "review_state": "", "reviewed_by_id": None, "review_note": "", "resolution": "", "reopen_count": 0,
        "resolved_at": None, "confirmed_at": None, "closed_at": None, "improvement_id": None,
        "confirm_token_hash": "", "created_at": d.received_at, "updated_at": s.last, "version": s.saves,
    }
    row.update(s.fields)
    return row


def write(stories: list[Story]) -> dict[str, int]:
    """Insert a batch of told cases and everything hanging off them: bulk inserts of plain rows
    (COPY on PostgreSQL, ``guanxi.sales.demo.Table``), the cases with ids taken after the last."""
    from guanxi.core import search
    from guanxi.service.models import Case, CaseEvent, HandlingStep, Handover, Visit

    pk = next_ids(Case)["Case"]
    tables = {name: Table(model, with_id=name == "cases") for name, model in (
        ("cases", Case), ("events", CaseEvent), ("steps", HandlingStep), ("handovers", Handover), ("visits", Visit))}
    for s in stories:
        row = case_row(s)
        row["id"] = pk
        row["search_text"] = search.build(names=[row["title"], row["sender_name"], row["sender_company"]],
                                          phones=[row["sender_phone"]], codes=[row["code"], row["sender_email"]])
        tables["cases"].add(row)
        for event in sorted(s.events, key=lambda e: e["at"]):
            tables["events"].add({"case_id": pk, **event})
        for name, rows in (("steps", s.steps), ("handovers", s.handovers), ("visits", s.visits)):
            for one in rows:
                tables[name].add({"case_id": pk, **one})
        pk += 1
    written = {name: table.flush() for name, table in tables.items()}
    reset_sequences(Case)
    return written


def bulk_models() -> tuple[Any, ...]:
    """The tables the batches fill (their secondary indexes are built after the load)."""
    from guanxi.service.models import Case, CaseEvent, HandlingStep, Handover, Visit

    return Case, CaseEvent, HandlingStep, Handover, Visit


def _codes(stories_or_drafts: list[Draft]) -> list[str]:
    from guanxi.core import codes

    numbers = codes.reserve("case", len(stories_or_drafts))
    return [f"FW-{timezone.localtime(d.received_at, timezone.get_default_timezone()).year}-{n:06d}"
            for d, n in zip(stories_or_drafts, numbers, strict=True)]


# --- Configuration: forms and improvements -------------------------------------------------------
def ensure_forms(w: World) -> None:
    """The public forms (left alone when a form of that address exists)."""
    from guanxi.service.models import FeedbackForm

    fallback = w.by_name.get("service") or (w.agents[0] if w.agents else None)
    if fallback is None:
        return
    has_default = FeedbackForm.objects.filter(is_default=True).exists()
    for slug, title, intro, kind, category, responder, channel, default in tx.FORMS:
        if FeedbackForm.objects.filter(slug=slug).exists():
            continue
        person = w.by_name.get(responder) or fallback
        FeedbackForm.objects.create(
            slug=slug, title=title, intro=intro, kind=kind, category_id=w.categories.get(category, (None, False))[0],
            responder_id=person.pk, channel=channel, allow_attachments=True, active=True,
            is_default=default and not has_default, created_at=w.start, updated_at=w.start)
    w.forms = {f.slug: f for f in FeedbackForm.objects.filter(active=True)}


def ensure_improvements(w: World) -> None:
    """The year's improvements with their course (proposed, planned … shipped), once."""
    from guanxi.core import codes
    from guanxi.sales.models import Product
    from guanxi.service.models import Improvement

    existing = {i.title: i for i in Improvement.objects.filter(title__in=[t.title for t in tx.IMPROVEMENTS])}
    owner = w.managers[0] if w.managers else (w.gms[0] if w.gms else None)
    products = dict(Product.objects.values_list("code", "pk"))
    tz = timezone.get_default_timezone()
    missing = [(t, c) for t, c in zip(tx.IMPROVEMENTS, tx.IMPROVEMENT_COURSE, strict=True) if t.title not in existing]
    if owner is not None and missing:
        numbers = codes.reserve("improvement", len(missing))
        for (text, (state, since, shipped)), number in zip(missing, numbers, strict=True):
            created = datetime.combine((w.start + timedelta(days=int(since * HISTORY_DAYS))).date(), dtime(10),
                                       tzinfo=tz)
            shipped_on = (w.start + timedelta(days=int(shipped * HISTORY_DAYS))).date() if shipped else None
            existing[text.title] = Improvement.objects.create(
                code=f"GJ-{created.year}-{number:06d}", title=text.title, description=text.description,
                product_id=products.get(text.product), state=state,
                release_note=text.release_note if shipped_on else (tx.REJECTED_NOTE if state == "rejected" else ""),
                shipped_on=shipped_on, owner_id=owner.pk, created_at=created,
                updated_at=datetime.combine(shipped_on, dtime(10), tzinfo=tz) if shipped_on else created)
    for title, improvement in existing.items():
        shipped_at = (datetime.combine(improvement.shipped_on, dtime(10), tzinfo=tz)
                      if improvement.state == "shipped" and improvement.shipped_on else None)
        open_for_links = improvement.state not in ("rejected",)
        if open_for_links:
            w.improvements[title] = (improvement.pk, improvement.code, improvement.created_at, shipped_at)


def announce_shipped(w: World) -> int:
    """Each shipped improvement's linked cases are told (an event) and their senders mailed."""
    from guanxi.service.models import Case, CaseEvent, Improvement, ImprovementMail

    tz = timezone.get_default_timezone()
    events, mails = [], []
    for improvement in Improvement.objects.filter(state="shipped", shipped_on__isnull=False).order_by("pk"):
        if ImprovementMail.objects.filter(improvement=improvement).exists() or CaseEvent.objects.filter(
                case__improvement=improvement, type="improvement", note__contains=str(improvement.shipped_on)).exists():
            continue
        at = datetime.combine(improvement.shipped_on, dtime(10), tzinfo=tz)
        text = _("Improvement shipped on %(day)s: %(note)s") % {
            "day": f"{improvement.shipped_on:%Y-%m-%d}", "note": improvement.release_note}
        seen: set[str] = set()
        for pk, email, wants in Case.objects.filter(improvement=improvement).order_by("pk").values_list(
                "pk", "sender_email", "wants_reply"):
            events.append(CaseEvent(case_id=pk, type="improvement", at=at, actor_id=improvement.owner_id,
                                    note=f"{improvement.code} {improvement.title}: {text}"))
            address = (email or "").strip().lower()
            if wants and address and address not in seen:
                seen.add(address)
                mails.append(ImprovementMail(improvement=improvement, email=address, sent_at=at + timedelta(minutes=5)))
                events.append(CaseEvent(case_id=pk, type="improvement", at=at + timedelta(minutes=5), note=(
                    f"{improvement.code} {improvement.title}: "
                    + _("the customer was told by e-mail (%(email)s).") % {"email": address})))
    CaseEvent.objects.bulk_create(events, batch_size=BATCH)
    ImprovementMail.objects.bulk_create(mails, batch_size=BATCH)
    return len(mails)


# --- The build -----------------------------------------------------------------------------------
def build_service(*, size: str, seed: int, now: datetime, stdout: _Writer | None = None,
                  max_batches: int | None = None) -> bool:
    """Write the demo company's year of service unless it is there; False when there was nothing to do.

    ``max_batches`` stops early, as an interrupted build would (tests)."""
    from guanxi.core.models import CodeSequence, User

    size = size.upper()
    if CodeSequence.objects.filter(name=DONE).exists() or not User.objects.filter(username="admin").exists():
        return False
    if not CodeSequence.objects.filter(name=SALES_DONE).exists():
        return False  # the cases name the customers' orders: the sales first
    started = time.perf_counter()
    if stdout is not None:
        stdout.write("正在生成客户服务数据 / building service (cases, visits, improvements) …\n")
    bulk_session()
    with translation.override(settings.LANGUAGE_CODE):
        return _build(size, seed, now, stdout, max_batches, started)


def _build(size: str, seed: int, now: datetime, stdout: _Writer | None, max_batches: int | None,
           started: float) -> bool:
    from guanxi.core.models import CodeSequence
    from guanxi.service.demo_showcase import build_showcase

    w = World.load(size, seed, now)
    with transaction.atomic():
        CodeSequence.objects.get_or_create(name=MARKER)
        ensure_forms(w)
        ensure_improvements(w)
    times = w.received_times()
    counts: dict[str, int] = defaultdict(int)
    batches = 0
    with bulk_load(*bulk_models()):
        while max_batches is None or batches < max_batches:
            done = CodeSequence.objects.get(name=MARKER).value
            if done >= len(times):
                break
            batches += 1
            drafts = [draw_case(w, i, times[i]) for i in range(done, min(done + BATCH, len(times)))]
            with transaction.atomic():
                fill_batch(w, drafts)
                stories = [tell(w, d, code) for d, code in zip(drafts, _codes(drafts), strict=True)]
                for key, value in write(stories).items():
                    counts[key] += value
                CodeSequence.objects.filter(name=MARKER).update(value=done + len(drafts))
            if stdout is not None and (done + len(drafts)) * 10 // len(times) > done * 10 // len(times):
                stdout.write(f"  服务 cases: {done + len(drafts):,} / {len(times):,}\n")
    if CodeSequence.objects.get(name=MARKER).value < len(times):
        return True
    with transaction.atomic():
        showcase = build_showcase(w)
        mails = announce_shipped(w)
        CodeSequence.objects.get_or_create(name=DONE)
    from guanxi.service.models import ImprovementMail

    analyze(*bulk_models(), ImprovementMail)
    if stdout is not None:
        stdout.write(f"  {counts['cases']:,} cases ({showcase} showcase), {counts['events']:,} events, "
                     f"{counts['steps']:,} handling steps, {counts['handovers']:,} hand-overs, {counts['visits']:,} "
                     f"visits, {mails:,} improvement mails; {time.perf_counter() - started:.1f} s\n")
    return True


def day_at(w: World, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, dtime(hour, minute), tzinfo=timezone.get_default_timezone())
