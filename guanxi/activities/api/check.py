"""REST endpoints of contact and follow-up: the manager's business check (R10.6).

No `from __future__ import annotations` here: django-ninja reads the real annotations.
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema

from guanxi.activities.selectors import check as reads
from guanxi.core.dbrouter import replica_reads
from guanxi.core.permissions import declare as requires

router = Router(tags=["business check"])


class CheckQuery(Schema):
    user: int | None = None
    department: int | None = None
    team: bool = False
    days: int | None = None
    start: str | None = None
    end: str | None = None


class SubjectOut(Schema):
    kind: str
    label: str
    user: int | None
    department: int | None


class PeriodOut(Schema):
    start: dt.date
    end: dt.date
    days: int


class GradeCountOut(Schema):
    grade: str
    count: int


class CustomersOut(Schema):
    total: int
    by_grade: list[GradeCountOut]


class SeriesPointOut(Schema):
    date: dt.date
    total: int
    by_kind: dict[str, int]


class ContactsOut(Schema):
    total: int
    by_kind: dict[str, int]
    by_purpose: dict[str, int]
    unit: str
    series: list[SeriesPointOut]


class MissedOut(Schema):
    accounts_not_contacted: int
    not_contacted_by_grade: list[GradeCountOut]
    followups_missed: int
    cadence_followups_missed: int
    accounts_cadence_overdue: int


class RefOut(Schema):
    id: int
    name: str


class OverdueItemOut(Schema):
    id: int
    title: str
    due_at: dt.datetime
    source: str
    account: RefOut
    owner: RefOut
    contact: RefOut | None


class OverdueOut(Schema):
    count: int
    items: list[OverdueItemOut]


class RatingMoveOut(Schema):
    id: int
    account: RefOut
    rated_at: dt.datetime
    previous_grade: str
    grade: str
    direction: str
    note: str


class RatingsOut(Schema):
    up: int
    down: int
    items: list[RatingMoveOut]


class PersonOut(Schema):
    user: int
    name: str
    accounts: int
    by_grade: dict[str, int]
    contacts: int
    not_contacted: int
    overdue: int
    followups_missed: int
    rating_up: int
    rating_down: int


class BusinessCheckOut(Schema):
    subject: SubjectOut
    period: PeriodOut
    customers: CustomersOut
    contacts: ContactsOut
    missed: MissedOut
    overdue: OverdueOut
    ratings: RatingsOut
    people: list[PersonOut]


@router.get("/business-check", response=BusinessCheckOut)
@requires("activity.check")
@replica_reads
def business_check(request: HttpRequest, filters: Query[CheckQuery]) -> Any:
    """The business check of one salesperson (``user``), a department, or the whole team (the
    default, also ``team=1``) over ``days`` ending today or ``start``–``end`` (dates, inclusive;
    default the last 30 days). Someone outside the caller's management answers 404."""
    actor: Any = request.user
    reach = reads.reach_for(actor)
    subject = reads.subject_for(actor, user=None if filters.team else filters.user,
                                department=None if filters.team else filters.department, reach=reach)
    period = reads.period_for(days=filters.days, start=filters.start, end=filters.end)
    return reads.as_dict(reads.business_check(actor, subject, period, reach=reach))
