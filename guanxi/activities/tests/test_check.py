"""The manager's business check (R10.6): figures, reach, period and query budget."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from guanxi.activities.models import FollowUp, Interaction
from guanxi.activities.selectors import check as reads
from guanxi.core.errors import Invalid, NotFound
from guanxi.core.models import AccessGrant
from guanxi.customers.models import AccountRating, Contact

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def contact(account: Any, owner: Any, days: float, kind: str = "visit", purpose: str = "information",
            **fields: Any) -> Interaction:
    return Interaction.objects.create(account=account, owner=owner, kind=kind, purpose=purpose,
                                      occurred_at=ago(days), summary="谈了下季度的订单", **fields)


def followup(account: Any, owner: Any, due_days_ago: float, *, state: str = "open", done_days_ago: float | None = None,
             source: str = "manual") -> FollowUp:
    return FollowUp.objects.create(account=account, owner=owner, title="回访", due_at=ago(due_days_ago), state=state,
                                   source=source, done_at=ago(done_days_ago) if done_days_ago is not None else None)


def rating(account: Any, days: float, previous: str, grade: str, note: str = "") -> AccountRating:
    return AccountRating.objects.create(account=account, rated_at=ago(days), previous_grade=previous, grade=grade,
                                        score=50, note=note)


@pytest.fixture
def book(org: Any, account_factory: Any) -> Any:
    """The salesperson's book over the last 30 days, with one thing of each kind to count or to leave out."""
    s = org.salesperson

    class Book:
        pass

    b = Book()
    b.a1 = account_factory(s, name="杭州西湖茶叶有限公司", grade="A")
    b.a2 = account_factory(s, name="宁波港通物流有限公司", grade="A")
    b.b1 = account_factory(s, name="苏州精密机械有限公司", grade="B")
    b.new = account_factory(s, name="上海新创科技有限公司")  # ungraded
    gone = account_factory(s, name="已删除的公司", grade="A")
    gone.deleted_at = ago(1)
    gone.save(update_fields=["deleted_at"])
    b.mate = account_factory(org.teammate, name="无锡华盛电气有限公司", grade="C")
    b.south = account_factory(org.outsider, name="深圳南山电子有限公司", grade="A")

    # Contacts made in the period: three visits and a care call; one before it, one deleted,
    # one by the teammate, one on the deleted account (still a contact the salesperson made).
    contact(b.a1, s, 2, "visit", "deal")
    contact(b.a1, s, 3, "call", "care")
    contact(b.b1, s, 10, "visit", "information")
    contact(gone, s, 12, "visit", "service")
    contact(b.a2, s, 40, "visit")  # before the period
    deleted = contact(b.new, s, 5, "meeting")
    deleted.deleted_at = ago(1)
    deleted.save(update_fields=["deleted_at"])
    contact(b.mate, org.teammate, 4, "message", "care")
    contact(b.south, org.outsider, 4, "visit")

    # Follow-ups: two overdue now (one by cadence), two missed in the period (the open cadence
    # one and one done late), the rest in time, in the future or cancelled.
    followup(b.a2, s, 3, source="cadence")
    followup(b.new, s, 40)  # overdue now, but due before the period
    followup(b.b1, s, 10, state="done", done_days_ago=8)  # done two days late
    followup(b.a1, s, 5, state="done", done_days_ago=6)  # done in time
    followup(b.a1, s, -1)  # due tomorrow
    followup(b.b1, s, 2, state="cancelled")
    followup(b.mate, org.teammate, 1)
    followup(b.south, org.outsider, 1)

    # Rating movements: a1 up B→A, b1 down A→B in the period; the rest are left out.
    rating(b.a1, 5, "B", "A", note="签订年度协议")
    rating(b.b1, 3, "A", "B", note="拖欠货款")
    rating(b.b1, 50, "C", "A")  # before the period
    rating(b.a2, 4, "", "A")  # first rating: no movement
    rating(b.a2, 2, "A", "A")  # re-rated, same grade
    rating(b.mate, 6, "B", "C")
    return b


def check_of(actor: Any, **who: Any) -> reads.BusinessCheck:
    return reads.business_check(actor, reads.subject_for(actor, **who), reads.period_for(days=30), now=NOW)


def test_a_salespersons_figures_over_thirty_days(org: Any, book: Any) -> None:
    check = check_of(org.manager, user=org.salesperson.pk)
    assert check.accounts == 4
    assert check.by_grade == {"A": 2, "B": 1, "": 1}
    assert check.grades == ["A", "B", "C", "D", ""]
    assert check.contacts == 4
    assert check.by_kind == {"visit": 3, "call": 1}
    assert check.by_purpose == {"deal": 1, "care": 1, "information": 1, "service": 1}
    assert check.not_contacted == 2  # a2 (contacted 40 days ago) and the new account
    assert check.not_contacted_by_grade == {"A": 1, "B": 0, "": 1}
    assert check.overdue == 2
    assert check.overdue_cadence_accounts == 1
    assert [f["account_id"] for f in check.overdue_items] == [book.new.pk, book.a2.pk]  # oldest first
    assert check.missed_followups == 2
    assert check.missed_cadence == 1
    assert (check.rating_up, check.rating_down) == (1, 1)
    assert [(r["account_id"], r["direction"]) for r in check.rating_items] == [(book.b1.pk, "down"),
                                                                                (book.a1.pk, "up")]
    assert check.people == []  # one person: no table
    # Every day of the period is on the chart, the quiet ones with zero.
    assert check.series_unit == "day" and len(check.series) == 30
    assert sum(p["total"] for p in check.series) == 4
    assert check.series[-1]["date"] == timezone.localdate()


def test_many_rating_moves_are_counted_by_sql_with_the_same_result(org: Any, book: Any, account_factory: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    gone = account_factory(org.salesperson, name="回收站里的公司", grade="A")
    rating(gone, 2, "C", "A")
    gone.deleted_at = ago(1)
    gone.save(update_fields=["deleted_at"])  # its moves count no more, in either way of counting
    read = check_of(org.manager, user=org.salesperson.pk)  # a person's moves: read and counted here
    monkeypatch.setattr(reads, "MOVES_READ", 1)
    counted = check_of(org.manager, user=org.salesperson.pk)  # more than MOVES_READ: counted by SQL
    assert (counted.rating_up, counted.rating_down) == (read.rating_up, read.rating_down) == (1, 1)
    assert len(counted.rating_items) == 2  # the list stops at what was read
    # A group's moves are always counted by SQL; its list is the newest, however many there are.
    team = check_of(org.manager)
    assert (team.rating_up, team.rating_down) == (1, 2) and len(team.rating_items) == 3
    assert [r["account_id"] for r in team.rating_items] == [book.b1.pk, book.a1.pk, book.mate.pk]
    assert {(p.user_id, p.up, p.down) for p in team.people if p.up or p.down} == {
        (org.salesperson.pk, 1, 1), (org.teammate.pk, 0, 1)}


def test_a_shorter_period_counts_less(org: Any, book: Any) -> None:
    subject = reads.subject_for(org.manager, user=org.salesperson.pk)
    check = reads.business_check(org.manager, subject, reads.period_for(days=7), now=NOW)
    assert check.contacts == 2
    assert check.not_contacted == 3  # b1's visit was ten days ago
    assert check.missed_followups == 1  # only the cadence one due three days ago
    assert check.overdue == 2  # "overdue now" does not depend on the period
    assert (check.rating_up, check.rating_down) == (1, 1)


def test_the_team_adds_a_row_per_salesperson(org: Any, book: Any) -> None:
    check = check_of(org.manager)
    assert check.subject.kind == "team"
    rows = {p.user_id: p for p in check.people}
    assert set(rows) == {org.salesperson.pk, org.teammate.pk}  # the outsider is in the south
    mine, mate = rows[org.salesperson.pk], rows[org.teammate.pk]
    assert (mine.accounts, mine.contacts, mine.overdue, mine.missed_followups, mine.up, mine.down) == (4, 4, 2, 2, 1, 1)
    assert (mate.accounts, mate.contacts, mate.overdue, mate.not_contacted, mate.down) == (1, 1, 1, 0, 1)
    assert mate.by_grade == {"C": 1}
    assert mate.name == org.teammate.name
    assert check.accounts == 5 and check.contacts == 5 and check.overdue == 3
    assert check.people[0].user_id == org.salesperson.pk  # the biggest book first


def test_a_department_counts_the_people_in_it_and_below(org: Any, book: Any, account_factory: Any) -> None:
    account_factory(org.sub_sales, grade="B")
    check = check_of(org.manager, department=org.east_sub.pk)
    assert check.subject.kind == "department"
    assert check.accounts == 1 and [p.user_id for p in check.people] == [org.sub_sales.pk]
    check = check_of(org.gm, department=org.east.pk)
    assert check.accounts == 6


def test_the_general_manager_checks_the_whole_company(org: Any, book: Any) -> None:
    check = check_of(org.gm)
    assert check.subject.owner_ids is None
    assert check.accounts == 6
    assert {p.user_id for p in check.people} == {org.salesperson.pk, org.teammate.pk, org.outsider.pk}
    assert check_of(org.gm, user=org.outsider.pk).contacts == 1


@pytest.mark.parametrize("who", ["outsider", "south_manager", "gm"])
def test_a_manager_cannot_check_people_outside_their_reach(org: Any, who: str) -> None:
    with pytest.raises(NotFound):
        reads.subject_for(org.manager, user=getattr(org, who).pk)
    with pytest.raises(NotFound):
        reads.subject_for(org.south_manager, user=org.salesperson.pk)
    with pytest.raises(NotFound):
        reads.subject_for(org.manager, department=org.south.pk)
    with pytest.raises(NotFound):
        reads.subject_for(org.manager, user="abc")


def test_a_grant_lets_one_look_but_not_check(org: Any) -> None:
    AccessGrant.objects.create(grantee=org.manager, target_user=org.outsider, state=AccessGrant.State.APPROVED,
                               starts_at=ago(1), expires_at=ago(-1), reason="代管")
    with pytest.raises(NotFound):
        reads.subject_for(org.manager, user=org.outsider.pk)


def test_periods_from_presets_dates_and_mistakes() -> None:
    today = dt.date(2026, 3, 31)
    assert reads.period_for(today=today) == reads.Period(dt.date(2026, 3, 2), today, 30)
    assert reads.period_for(days="7", today=today) == reads.Period(dt.date(2026, 3, 25), today, 7)
    assert reads.period_for(start="2026-01-01", end="2026-01-31", today=today).days == 31
    assert reads.period_for(start="2026-03-20", today=today).end == today
    # The preset buttons send the dates shown along: the preset wins.
    assert reads.period_for(days=90, start="2026-01-01", end="2026-01-31", today=today).days == 90
    for bad in ({"start": "2026-02-30"}, {"start": "2026-03-10", "end": "2026-03-01"},
                {"start": "2024-01-01", "end": "2026-01-01"}, {"days": "0"}, {"days": "many"}):
        with pytest.raises(Invalid):
            reads.period_for(today=today, **bad)
    period = reads.period_for(days=90, today=today)
    assert period.start_at < period.end_at


def test_a_long_period_charts_weeks(org: Any, book: Any) -> None:
    subject = reads.subject_for(org.manager, user=org.salesperson.pk)
    check = reads.business_check(org.manager, subject, reads.period_for(days=90), now=NOW)
    assert check.series_unit == "week"
    assert all(p["date"].weekday() == 0 for p in check.series)
    assert sum(p["total"] for p in check.series) == check.contacts == 5


def test_the_overdue_list_hides_accounts_the_manager_does_not_see(org: Any, book: Any) -> None:
    # The salesperson helps on a south account: their overdue step there stays off the manager's list.
    followup(book.south, org.salesperson, 2)
    check = check_of(org.manager, user=org.salesperson.pk)
    assert check.overdue == 2
    assert book.south.pk not in [f["account_id"] for f in check.overdue_items]
    assert check_of(org.gm, user=org.salesperson.pk).overdue == 3


# --- The page and the API ------------------------------------------------------------------------
def test_the_page_shows_the_figures(org: Any, book: Any, login: Any) -> None:
    response = login(org.manager).get("/activities/check/", {"user": org.salesperson.pk, "days": 30})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="fig-contacts">4<' in html
    assert 'data-testid="fig-overdue">2<' in html
    assert "宁波港通物流有限公司" in html  # the overdue cadence follow-up
    assert "签订年度协议" in html  # the rating movement's note
    assert 'id="check-chart-data"' in html and "vendor/plotly.min.js" in html
    assert 'data-testid="people-table"' not in html


def test_the_page_for_the_team_and_the_picker(org: Any, book: Any, login: Any) -> None:
    client = login(org.manager)
    html = client.get("/activities/check/", {"who": "team", "days": 7}).content.decode()
    assert 'data-testid="people-table"' in html and org.teammate.name in html
    html = client.get("/activities/check/", {"who": f"u{org.teammate.pk}",
                                             "start": "2020-01-01", "end": "2020-01-31"}).content.decode()
    assert 'data-testid="fig-contacts">0<' in html and "2020-01-31" in html
    # A mistaken period shows a warning and the default period, not an error page.
    response = client.get("/activities/check/", {"start": "2026-13-01"})
    assert response.status_code == 200 and 'data-testid="period-error"' in response.content.decode()


def test_the_page_refuses_salespeople_and_hides_people_out_of_reach(org: Any, book: Any, login: Any) -> None:
    assert login(org.salesperson).get("/activities/check/").status_code == 403
    assert login(org.service).get("/activities/check/").status_code == 403
    manager = login(org.manager)
    assert manager.get("/activities/check/", {"user": org.outsider.pk}).status_code == 404
    assert manager.get("/activities/check/", {"who": f"u{org.outsider.pk}"}).status_code == 404
    assert manager.get("/activities/check/", {"who": f"d{org.south.pk}"}).status_code == 404
    assert login(org.south_manager).get("/activities/check/", {"user": org.salesperson.pk}).status_code == 404
    # Business check shows in the menu for managers only.
    assert "/activities/check/" in manager.get("/accounts/").content.decode()
    assert "/activities/check/" not in login(org.salesperson).get("/accounts/").content.decode()


def test_the_api_answers_the_same_figures(org: Any, book: Any, api: Any) -> None:
    client = api(org.manager)
    body = client.get("/api/v1/business-check", {"user": org.salesperson.pk}).json()
    assert body["subject"] == {"kind": "user", "label": org.salesperson.name, "user": org.salesperson.pk,
                               "department": None}
    assert body["period"]["days"] == 30
    assert body["customers"]["total"] == 4
    assert {g["grade"]: g["count"] for g in body["customers"]["by_grade"]} == {"A": 2, "B": 1, "C": 0, "D": 0, "": 1}
    assert body["contacts"]["total"] == 4 and body["contacts"]["by_kind"]["visit"] == 3
    assert body["contacts"]["by_purpose"]["care"] == 1
    assert len(body["contacts"]["series"]) == 30
    assert body["missed"] == {
        "accounts_not_contacted": 2,
        "not_contacted_by_grade": [{"grade": "A", "count": 1}, {"grade": "B", "count": 0}, {"grade": "C", "count": 0},
                                   {"grade": "D", "count": 0}, {"grade": "", "count": 1}],
        "followups_missed": 2, "cadence_followups_missed": 1, "accounts_cadence_overdue": 1,
    }
    assert body["overdue"]["count"] == 2
    assert body["overdue"]["items"][0]["account"] == {"id": book.new.pk, "name": "上海新创科技有限公司"}
    assert (body["ratings"]["up"], body["ratings"]["down"]) == (1, 1)
    assert body["ratings"]["items"][0]["note"] == "拖欠货款"
    team = client.get("/api/v1/business-check", {"team": 1, "user": org.salesperson.pk, "days": 7}).json()
    assert team["subject"]["kind"] == "team" and team["period"]["days"] == 7
    assert {p["user"] for p in team["people"]} == {org.salesperson.pk, org.teammate.pk}
    dated = client.get("/api/v1/business-check", {"user": org.salesperson.pk, "start": "2026-01-01",
                                                  "end": "2026-01-10"}).json()
    assert dated["period"] == {"start": "2026-01-01", "end": "2026-01-10", "days": 10}


def test_the_api_refuses_and_hides_like_the_page(org: Any, book: Any, api: Any) -> None:
    assert api(org.salesperson).get("/api/v1/business-check").status_code == 403
    manager = api(org.manager)
    response = manager.get("/api/v1/business-check", {"user": org.outsider.pk})
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    response = manager.get("/api/v1/business-check", {"start": "2026-03-10", "end": "2026-03-01"})
    assert response.status_code == 422 and "start" in response.json()["errors"]


def test_the_query_count_does_not_grow_with_the_team(org: Any, book: Any, login: Any, account_factory: Any) -> None:
    client = login(org.manager)

    def count(params: dict[str, Any]) -> int:
        client.get("/activities/check/", params)  # warm
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/activities/check/", params).status_code == 200
        return len(ctx.captured_queries)

    team, one = {"who": "team", "days": 30}, {"user": org.salesperson.pk, "days": 30}
    before = count(team), count(one)
    for i in range(5):
        account = account_factory(org.sub_sales if i % 2 else org.salesperson, grade="BCD"[i % 3])
        contact(account, account.owner, i + 1, kind="call")
        followup(account, account.owner, 2, source="cadence")
        followup(account, account.owner, 5, state="done", done_days_ago=1)
        rating(account, 3, "A", account.grade)
        Contact.objects.create(account=account, name=f"联系人{i}")
    after = count(team), count(one)
    assert after == before
    # The shell (session, user, roles, reach, notifications) and one query per figure.
    assert after[0] <= 15 and after[1] <= 14, after


def test_a_salespersons_check_costs_the_same_queries_however_many_rows(org: Any, book: Any, login: Any,
                                                                        account_factory: Any) -> None:
    """B4: the manager's check of one salesperson over 30 days, with more rows of every list
    than a page shows (LIST_LIMIT), stays within 15 queries."""
    client = login(org.manager)
    params = {"user": org.salesperson.pk, "days": 30}

    def count() -> tuple[int, str]:
        client.get("/activities/check/", params)  # warm
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/activities/check/", params)
        assert response.status_code == 200
        return len(ctx.captured_queries), response.content.decode()

    few, _html = count()
    for i in range(reads.LIST_LIMIT + 5):
        account = account_factory(org.salesperson, grade="AB"[i % 2])
        contact(account, org.salesperson, i % 20 + 1, kind="call")
        followup(account, org.salesperson, i % 20 + 1, source="cadence")
        rating(account, i % 20 + 1, "C", account.grade)
    many, html = count()
    assert few == many <= 15, (few, many)
    check = check_of(org.manager, user=org.salesperson.pk)
    assert len(check.rating_items) == len(check.overdue_items) == reads.LIST_LIMIT
    assert check.rating_up == reads.LIST_LIMIT + 5 + 1  # with a1's move of the book
    moves = html.split('data-testid="rating-moves"')[1].split("</table>")[0]
    assert moves.count("<tr><td") == reads.LIST_LIMIT
