"""Reads of care (R3.5, R3.6): festivals, birthdays, care plans, greetings, support given.

:func:`care_events` is the one read the care calendar, the desk and the calendar feed share.
It costs at most three small queries (birthdays, care plans, greeting templates) whatever
the range: birthdays are matched by month and day in SQL, and both lists are capped.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import ExtractDay, ExtractMonth
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from lunardate import LunarDate

from guanxi.activities.models import CarePlan, GreetingTemplate, Occasion, Support
from guanxi.activities.selectors import care_scope, support_scope
from guanxi.customers.models import Account, Contact
from guanxi.customers.selectors import contact_scope
from guanxi.customers.selectors.timeline import Item, source

# --- Festivals ---------------------------------------------------------------------------------
# (occasion, calendar, month, day): the festivals the care calendar shows to everyone.
FESTIVALS: tuple[tuple[str, str, int, int], ...] = (
    (Occasion.NEW_YEAR, "solar", 1, 1),  # 元旦
    (Occasion.SPRING_FESTIVAL, "lunar", 1, 1),  # 春节, 正月初一
    (Occasion.LANTERN, "lunar", 1, 15),  # 元宵节, 正月十五
    (Occasion.DRAGON_BOAT, "lunar", 5, 5),  # 端午节, 五月初五
    (Occasion.MID_AUTUMN, "lunar", 8, 15),  # 中秋节, 八月十五
    (Occasion.NATIONAL_DAY, "solar", 10, 1),  # 国庆节
)


@dataclass(frozen=True)
class Festival:
    date: dt.date
    occasion: str

    @property
    def label(self) -> str:
        return str(Occasion(self.occasion).label)


def festival_date(occasion: str, year: int) -> dt.date | None:
    """The Gregorian date of ``occasion`` in ``year`` (lunar ones through ``lunardate``), or
    None for an occasion that is not a festival or a year the lunar tables do not cover."""
    for code, kind, month, day in FESTIVALS:
        if code != occasion:
            continue
        if kind == "solar":
            return dt.date(year, month, day)
        try:
            # Every festival here falls in the Gregorian year of its lunar year (Spring
            # Festival between 21 January and 20 February, the rest later).
            return LunarDate(year, month, day).to_solar_date()
        except (ValueError, IndexError):  # outside 1900–2099
            return None
    return None


def festivals(start: dt.date, end: dt.date) -> list[Festival]:
    """Every festival from ``start`` to ``end`` (both included), in date order."""
    found = []
    for year in range(start.year, end.year + 1):
        for code, *_rest in FESTIVALS:
            day = festival_date(code, year)
            if day is not None and start <= day <= end:
                found.append(Festival(day, code))
    return sorted(found, key=lambda f: (f.date, f.occasion))


# --- Greetings ---------------------------------------------------------------------------------
# The built-in greetings, one formal (for people we know less well, and any depth without a
# wording of its own) and one warm (friends and confidants) per occasion. A greeting template
# saved by an administrator for the same occasion (and depth) replaces them.
PLACEHOLDERS = ("{name}", "{title}", "{company}", "{me}")
WARM_DEPTHS = (Contact.Depth.FRIEND, Contact.Depth.CONFIDANT)
DEFAULT_GREETINGS: dict[str, tuple[Any, Any]] = {
    Occasion.BIRTHDAY: (
        # Translators: a birthday greeting to a customer. Suggested:
        # 尊敬的{name}：值此生日之际，谨向您致以诚挚的祝福，祝您身体健康、工作顺利、万事如意！
        gettext_lazy("Dear {name}, on your birthday please accept our sincere wishes for good health, success in "
                     "your work and every happiness."),
        # Translators: a warm birthday greeting to a friend. Suggested:
        # {name}，生日快乐！愿新的一岁身体健康、心想事成，天天开心！
        gettext_lazy("{name}, happy birthday! Wishing you good health, happiness and all you hope for in the year "
                     "ahead."),
    ),
    Occasion.SPRING_FESTIVAL: (
        # Translators: Suggested:
        # 尊敬的{name}：值此新春佳节之际，感谢您过去一年的信任与支持，恭祝您和家人新春快乐、身体健康、阖家幸福、万事如意！
        gettext_lazy("Dear {name}, as the Spring Festival arrives, thank you for your trust and support over the past "
                     "year. We wish you and your family good health, happiness and every success in the new year."),
        # Translators: Suggested:
        # {name}，新春快乐！感谢这一年来的关照，祝您和家人新年身体健康、阖家欢乐、好运连连！
        gettext_lazy("{name}, happy Spring Festival! Thank you for all your help this year. Wishing you and your "
                     "family health, joy and good fortune in the new year!"),
    ),
    Occasion.LANTERN: (
        # Translators: Suggested:
        # 尊敬的{name}：元宵佳节，恭祝您和家人节日快乐、团圆美满、万事顺意！
        gettext_lazy("Dear {name}, we wish you and your family a happy Lantern Festival, a joyful reunion and every "
                     "success."),
        # Translators: Suggested:
        # {name}，元宵节快乐！记得吃汤圆，祝您和家人团团圆圆、甜甜蜜蜜！
        gettext_lazy("{name}, happy Lantern Festival! Enjoy the sweet dumplings and the lanterns with your family!"),
    ),
    Occasion.DRAGON_BOAT: (
        # Translators: Suggested:
        # 尊敬的{name}：端午节将至，恭祝您端午安康、工作顺利、阖家幸福！
        gettext_lazy("Dear {name}, we wish you good health and peace at the Dragon Boat Festival, and every success "
                     "to you and your family."),
        # Translators: Suggested:
        # {name}，端午安康！祝您和家人健康平安、万事顺心，粽子要吃好！
        gettext_lazy("{name}, wishing you a healthy and peaceful Dragon Boat Festival! Enjoy the zongzi!"),
    ),
    Occasion.MID_AUTUMN: (
        # Translators: Suggested:
        # 尊敬的{name}：月圆中秋，恭祝您和家人中秋快乐、阖家团圆、身体健康、事业兴旺！
        gettext_lazy("Dear {name}, under the full moon of Mid-Autumn we wish you and your family a happy reunion, "
                     "good health and a prosperous business."),
        # Translators: Suggested:
        # {name}，中秋快乐！花好月圆，愿您和家人团团圆圆、幸福美满！
        gettext_lazy("{name}, happy Mid-Autumn Festival! May the full moon bring you and your family reunion and "
                     "happiness."),
    ),
    Occasion.NATIONAL_DAY: (
        # Translators: Suggested:
        # 尊敬的{name}：国庆佳节，恭祝您节日快乐、身体健康、事业蒸蒸日上！
        gettext_lazy("Dear {name}, we wish you a happy National Day holiday, good health and continued success."),
        # Translators: Suggested:
        # {name}，国庆快乐！祝您假期愉快，和家人好好放松一下！
        gettext_lazy("{name}, happy National Day! Have a relaxing holiday with your family."),
    ),
    Occasion.NEW_YEAR: (
        # Translators: Suggested:
        # 尊敬的{name}：新年伊始，感谢您一直以来的信任与支持，恭祝您元旦快乐、身体健康、事业顺利！
        gettext_lazy("Dear {name}, as the new year begins, thank you for your trust and support. We wish you a happy "
                     "New Year, good health and success in your work."),
        # Translators: Suggested:
        # {name}，元旦快乐！感谢过去一年的支持，愿新的一年更加精彩！
        gettext_lazy("{name}, happy New Year! Thank you for this past year; here is to an even better one."),
    ),
    Occasion.OTHER: (
        # Translators: Suggested:
        # 尊敬的{name}：诚挚问候，祝您一切顺利！
        gettext_lazy("Dear {name}, our warmest regards and best wishes."),
        # Translators: Suggested:
        # {name}，问候一声，祝一切都好！
        gettext_lazy("{name}, just saying hello and wishing you all the best!"),
    ),
}


def builtin_greeting(occasion: str, depth: str = "") -> str:
    formal, warm = DEFAULT_GREETINGS.get(occasion, DEFAULT_GREETINGS[Occasion.OTHER])
    return str(warm if depth in WARM_DEPTHS else formal)


def greeting_templates() -> dict[tuple[str, str], str]:
    """The administrators' templates as {(occasion, depth): body} (one query; the table is small)."""
    return {(occasion, depth): body for occasion, depth, body in
            GreetingTemplate.objects.values_list("occasion", "depth", "body")}


def greeting_text(occasion: str, depth: str, templates: dict[tuple[str, str], str] | None = None) -> str:
    """The wording for ``occasion`` × ``depth``: the administrators' template for both, else
    theirs for the occasion with no depth, else the built-in one (placeholders unfilled)."""
    if templates is None:
        templates = greeting_templates()
    return (templates.get((occasion, depth)) or templates.get((occasion, ""))
            or builtin_greeting(occasion, depth))


def fill_greeting(text: str, *, name: str = "", title: str = "", company: str = "", me: str = "") -> str:
    """Put the person's details into the placeholders. Only the four known placeholders are
    replaced (no format-string evaluation), so any other brace in the text stays as written."""
    for key, value in (("{name}", name), ("{title}", title), ("{company}", company), ("{me}", me)):
        text = text.replace(key, value)
    return text


def greeting_for(contact: Contact, occasion: str, *, me: Any = None,
                 templates: dict[tuple[str, str], str] | None = None) -> str:
    """The suggested greeting for ``contact`` on ``occasion``, placeholders filled."""
    return fill_greeting(greeting_text(occasion, contact.depth, templates), name=contact.name, title=contact.title,
                         company=contact.account.name if contact.account_id else "", me=str(me or ""))


# --- The care calendar -------------------------------------------------------------------------
@dataclass(frozen=True)
class CareEvent:
    """One dated item of the care calendar.

    ``kind`` is "festival" (company-wide: no account or contact), "birthday" (a contact's;
    ``plan_*`` set when a care plan for that birthday exists) or "plan" (a care plan for any
    other occasion). ``greeting`` is the suggested wording with the placeholders filled
    (birthdays; empty when not asked for). ``url`` is the app link for the event.
    """

    date: dt.date
    kind: str
    occasion: str
    title: str
    account_id: int | None = None
    account_name: str = ""
    contact_id: int | None = None
    contact_name: str = ""
    depth: str = ""
    greeting: str = ""
    plan_id: int | None = None
    plan_state: str = ""
    plan_version: int | None = None
    owner_id: int | None = None
    url: str = ""

    @property
    def occasion_label(self) -> str:
        return str(Occasion(self.occasion).label) if self.occasion in Occasion.values else self.occasion

    @property
    def depth_label(self) -> str:
        return str(Contact.Depth(self.depth).label) if self.depth in Contact.Depth.values else ""

    @property
    def plan_state_label(self) -> str:
        return str(CarePlan.State(self.plan_state).label) if self.plan_state in CarePlan.State.values else ""

    @property
    def uid(self) -> str:
        """Stable across calls (the calendar feed's UID)."""
        if self.kind == "festival":
            return f"festival-{self.occasion}-{self.date:%Y}"
        if self.kind == "birthday":
            return f"birthday-{self.contact_id}-{self.date:%Y%m%d}"
        return f"careplan-{self.plan_id}"


KIND_ORDER = {"festival": 0, "birthday": 1, "plan": 2}
MAX_SPAN_DAYS = 366


def _birthday_filter(start: dt.date, end: dt.date) -> Q | None:
    """Which (month, day) of birth fall in the range; None when every day does.

    29 February birthdays are kept on 28 February in other years.
    """
    if (end - start).days >= 365:
        return None
    days: dict[int, set[int]] = {}
    day = start
    while day <= end:
        days.setdefault(day.month, set()).add(day.day)
        if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
            days[2].add(29)
        day += dt.timedelta(days=1)
    q = Q()
    for month, in_month in sorted(days.items()):
        if len(in_month) >= calendar.monthrange(2000, month)[1]:  # a leap year: 29 February counts
            q |= Q(birth_month=month)
        else:
            q |= Q(birth_month=month, birth_day__in=sorted(in_month))
    return q


def _occurrences(month: int, day: int, start: dt.date, end: dt.date) -> Iterable[dt.date]:
    for year in range(start.year, end.year + 1):
        if month == 2 and day == 29 and not calendar.isleap(year):
            when = dt.date(year, 2, 28)
        else:
            when = dt.date(year, month, day)
        if start <= when <= end:
            yield when


def birthday_contacts(user: Any, start: dt.date, end: dt.date, *, mine: bool = False,
                      limit: int = 500) -> QuerySet[Contact]:
    """Live contacts (at live accounts the user sees) born on a day in the range, earliest
    first from ``start`` onwards; ``mine``: only at accounts the user owns."""
    qs = contact_scope(user).filter(birthday__isnull=False)
    if mine:
        qs = qs.filter(account__owner_id=getattr(user, "pk", None))
    qs = qs.annotate(birth_month=ExtractMonth("birthday"), birth_day=ExtractDay("birthday"))
    where = _birthday_filter(start, end)
    if where is not None:
        qs = qs.filter(where)
    # Order from the range's start: a range over New Year lists December before January.
    after_start = Q(birth_month__gt=start.month) | Q(birth_month=start.month, birth_day__gte=start.day)
    qs = qs.annotate(wrap=Case(When(after_start, then=Value(0)), default=Value(1), output_field=IntegerField()))
    return qs.select_related("account").only(
        "id", "name", "title", "depth", "birthday", "account_id", "account__id", "account__name", "account__owner_id",
    ).order_by("wrap", "birth_month", "birth_day", "id")[:limit]


def care_events(user: Any, start: dt.date, end: dt.date, *, mine: bool = False, greetings: bool = True,
                limit: int = 500) -> list[CareEvent]:
    """The care calendar from ``start`` to ``end`` (both included, at most 366 days) for ``user``.

    Festivals are company-wide; birthdays are those of the contacts the user sees (``mine``:
    at accounts the user owns), care plans those of visible accounts in state planned or
    sent (``mine``: the user's own plans). Birthdays and plans are each capped at ``limit``,
    taken from the start of the range. Sorted by date, then festivals, birthdays, plans.
    """
    if end < start:
        return []
    end = min(end, start + dt.timedelta(days=MAX_SPAN_DAYS - 1))
    events: list[CareEvent] = [
        CareEvent(date=f.date, kind="festival", occasion=f.occasion, title=f.label) for f in festivals(start, end)
    ]
    plans_qs = care_scope(user).filter(date__gte=start, date__lte=end,
                                       state__in=[CarePlan.State.PLANNED, CarePlan.State.SENT])
    if mine:
        plans_qs = plans_qs.filter(owner_id=getattr(user, "pk", None))
    plans = list(plans_qs.select_related("account", "contact").order_by("date", "id")[:limit])
    birthday_plans = {(p.contact_id, p.date): p for p in plans if p.occasion == Occasion.BIRTHDAY and p.contact_id}
    templates = greeting_templates() if greetings else {}
    me = getattr(user, "name", "") or str(user)
    used: set[int] = set()
    for contact in birthday_contacts(user, start, end, mine=mine, limit=limit):
        assert contact.birthday is not None
        for when in _occurrences(contact.birthday.month, contact.birthday.day, start, end):
            plan = birthday_plans.get((contact.pk, when))
            if plan is not None:
                used.add(plan.pk)
            events.append(CareEvent(
                date=when, kind="birthday", occasion=Occasion.BIRTHDAY,
                title=_("%(name)s's birthday") % {"name": contact.name},
                account_id=contact.account_id, account_name=contact.account.name, contact_id=contact.pk,
                contact_name=contact.name, depth=contact.depth,
                greeting=greeting_for(contact, Occasion.BIRTHDAY, me=me, templates=templates) if greetings else "",
                plan_id=plan.pk if plan else None, plan_state=plan.state if plan else "",
                plan_version=plan.version if plan else None, owner_id=plan.owner_id if plan else None,
                url=reverse("customers:contact-detail", args=[contact.pk]),
            ))
    for plan in plans:
        if plan.pk in used:
            continue
        who = plan.contact.name if plan.contact_id and plan.contact else plan.account.name
        events.append(CareEvent(
            date=plan.date, kind="plan", occasion=plan.occasion,
            title=pgettext("care plan title", "%(occasion)s: %(who)s") % {
                "occasion": plan.get_occasion_display(), "who": who},
            account_id=plan.account_id, account_name=plan.account.name, contact_id=plan.contact_id,
            contact_name=plan.contact.name if plan.contact_id and plan.contact else "",
            depth=plan.contact.depth if plan.contact_id and plan.contact else "",
            greeting=plan.message, plan_id=plan.pk, plan_state=plan.state, plan_version=plan.version,
            owner_id=plan.owner_id, url=reverse("activities:care-plan-edit", args=[plan.pk]),
        ))
    events.sort(key=lambda e: (e.date, KIND_ORDER[e.kind], e.title))
    return events


def festival_contacts(user: Any, *, limit: int = 200) -> list[Contact]:
    """The people at the user's own accounts to greet on a festival, closest first."""
    rank = Case(*[When(depth=d, then=Value(i)) for i, d in enumerate(reversed(Contact.Depth.values))],
                default=Value(9), output_field=IntegerField())
    return list(contact_scope(user).filter(account__owner_id=getattr(user, "pk", None))
                .select_related("account").annotate(rank=rank).order_by("rank", "account__name", "name", "id")[:limit])


def care_plans_of(user: Any, account_id: int, *, limit: int = 50) -> list[CarePlan]:
    return list(care_scope(user).filter(account_id=account_id).select_related("contact", "owner")
                .order_by("-date", "-id")[:limit])


# --- Support given (R3.6) ------------------------------------------------------------------------
def support_of(user: Any, account_id: int, *, limit: int = 200) -> list[Support]:
    return list(support_scope(user).filter(account_id=account_id).select_related("owner")
                .order_by("-given_on", "-id")[:limit])


def _support_at(row: Support) -> dt.datetime:
    """When to place support on the timeline: when it was recorded if that was the day it was
    given, else the start of the day it was given."""
    created = timezone.localtime(row.created_at)
    if created.date() == row.given_on:
        return created
    return timezone.make_aware(dt.datetime.combine(row.given_on, dt.time.min))


@source
def _support(user: Any, account: Account, limit: int) -> list[Item]:
    rows = (Support.objects.filter(account_id=account.pk).select_related("owner")
            .order_by("-given_on", "-id")[:limit])
    items = []
    for row in rows:
        value = f" · ¥{row.value:,.2f}" if row.value is not None else ""
        detail = row.description[:300] + (f" → {row.outcome[:200]}" if row.outcome else "")
        items.append(Item(at=_support_at(row), kind="support",
                          title=_("Support given: %(kind)s") % {"kind": row.get_kind_display()} + value,
                          detail=detail, actor=str(row.owner),
                          url=reverse("activities:support-list", args=[account.pk])))
    return items
