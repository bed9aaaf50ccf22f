"""The performance page (R11.2): per person, targets and attainment next to contacts made,
follow-ups kept, grades improved, new customers and deals won and lost; who sees whom; the
export for the appraisal (formula-safe, audited)."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone, translation
from openpyxl import load_workbook

from guanxi.activities.models import FollowUp, Interaction
from guanxi.core.models import AuditEvent, User
from guanxi.customers.models import AccountRating, Grade
from guanxi.sales.models import Opportunity, Pipeline, SalesTarget, Stage
from guanxi.sales.selectors.performance import performance_for, preset_period
from guanxi.sales.selectors.targets import Period
from guanxi.sales.tests.rebates_targets_helpers import code, order

pytestmark = pytest.mark.django_db
D = Decimal
MARCH = Period(dt.date(2025, 3, 1), dt.date(2025, 3, 31))
QUERY = "start=2025-03-01&end=2025-03-31"


def at(d: int, hour: int = 10, month: int = 3) -> dt.datetime:
    return timezone.make_aware(dt.datetime(2025, month, d, hour))


@pytest.fixture(autouse=True)
def english(org: Any) -> Any:
    User.objects.update(language="en")
    with translation.override("en"):
        yield


@pytest.fixture
def work(org: Any, account_factory: Any) -> Any:
    """The salesperson's March: 2 visits and a call; follow-ups due in March — one done on time,
    one done late, one still open (one cancelled, one due in April); two accounts up a grade,
    one down; a deal won (80,000) and one lost; orders of 370,000 against a target of 500,000."""
    for grade, score in (("A", 80), ("B", 60), ("C", 40)):
        Grade.objects.update_or_create(code=grade, defaults={"name": grade, "min_score": score})
    one, two, three = (account_factory(org.salesperson) for _ in range(3))
    for kind, day in (("visit", 3), ("visit", 9), ("call", 20)):
        Interaction.objects.create(account=one, kind=kind, summary="拜访", owner=org.salesperson, occurred_at=at(day))
    Interaction.objects.create(account=one, kind="visit", summary="二月", owner=org.salesperson,
                               occurred_at=at(27, month=2))
    Interaction.objects.create(account=one, kind="call", summary="同事", owner=org.teammate, occurred_at=at(5))
    FollowUp.objects.create(account=one, owner=org.salesperson, title="准时", due_at=at(5), state="done",
                            done_at=at(5, 9))
    FollowUp.objects.create(account=one, owner=org.salesperson, title="迟了", due_at=at(6), state="done",
                            done_at=at(8))
    FollowUp.objects.create(account=two, owner=org.salesperson, title="没做", due_at=at(7))
    FollowUp.objects.create(account=two, owner=org.salesperson, title="取消", due_at=at(7), state="cancelled")
    FollowUp.objects.create(account=two, owner=org.salesperson, title="四月", due_at=at(2, month=4))
    AccountRating.objects.create(account=one, score=70, grade="B", previous_grade="C", rated_at=at(4))
    AccountRating.objects.create(account=one, score=85, grade="A", previous_grade="B", rated_at=at(25))
    AccountRating.objects.create(account=two, score=65, grade="B", previous_grade="C", rated_at=at(12))
    AccountRating.objects.create(account=three, score=45, grade="C", previous_grade="B", rated_at=at(12))
    pipe = Pipeline.objects.create(name="项目")
    won, lost = (Stage.objects.create(pipeline=pipe, name=n, kind=k, position=i) for i, (n, k) in
                 enumerate((("赢单", "won"), ("输单", "lost")), 1))
    for stage, amount in ((won, "80000"), (lost, "50000")):
        Opportunity.objects.create(code=code("SJ"), name="项目", account=one, pipeline=pipe, stage=stage,
                                   state=stage.kind, amount=D(amount), closed_on=dt.date(2025, 3, 18),
                                   owner=org.salesperson, department=org.east)
    order(one, org.salesperson, "370000", dt.date(2025, 3, 3))
    SalesTarget.objects.create(user=org.salesperson, metric="orders", period_start=dt.date(2025, 3, 1),
                               period_end=dt.date(2025, 3, 31), amount=D("500000"))
    # A quarter's receipts target counts for March by its 31 of 90 days: 90,000 → 31,000.
    SalesTarget.objects.create(user=org.salesperson, metric="receipts", period_start=dt.date(2025, 1, 1),
                               period_end=dt.date(2025, 3, 31), amount=D("90000"))
    return one


def test_a_persons_results_beside_their_relationship_work(org: Any, work: Any) -> None:
    (row,) = performance_for(org.salesperson, MARCH).rows
    assert row.user_id == org.salesperson.pk
    assert (row.targets["orders"], row.actuals["orders"], row.attainment["orders"]) == (
        D("500000.00"), D("370000.00"), D("74.0"))
    assert (row.targets["receipts"], row.actuals["receipts"], row.attainment["receipts"]) == (
        D("31000.00"), D("0.00"), D("0.0"))
    assert row.targets["contracts"] is None and row.attainment["contracts"] is None
    assert row.contacts == 3 and row.contacts_by_kind == {"visit": 2, "call": 1}
    assert (row.followups_on_time, row.followups_late, row.followups_open) == (1, 1, 1)
    assert row.grades_improved == 2
    assert (row.deals_won, row.won_amount, row.deals_lost) == (1, D("80000.00"), 1)


def test_a_salesperson_sees_only_themselves(org: Any, login: Any, work: Any) -> None:
    client = login(org.salesperson)
    page = client.get(f"/sales/performance/?{QUERY}")
    text = page.content.decode()
    assert page.status_code == 200 and f'data-testid="person-{org.salesperson.pk}"' in text
    assert f'data-testid="person-{org.teammate.pk}"' not in text and "74.0%" in text
    assert client.get(f"/sales/performance/?{QUERY}&user={org.teammate.pk}").status_code == 404
    assert 'data-testid="performance-export"' not in text
    assert client.get(f"/sales/performance/export/?{QUERY}").status_code == 403


def test_a_manager_sees_the_people_they_manage(org: Any, login: Any, work: Any) -> None:
    ids = {r.user_id for r in performance_for(org.manager, MARCH).rows}
    assert ids == {org.salesperson.pk, org.teammate.pk, org.sub_sales.pk, org.manager.pk}
    assert {r.user_id for r in performance_for(org.south_manager, MARCH).rows} == {org.outsider.pk,
                                                                                   org.south_manager.pk}
    assert login(org.south_manager).get(f"/sales/performance/?user={org.salesperson.pk}").status_code == 404
    page = login(org.manager).get(f"/sales/performance/?{QUERY}&user={org.salesperson.pk}")
    assert page.status_code == 200 and f'data-testid="person-{org.teammate.pk}"' not in page.content.decode()
    assert login(org.service).get("/sales/performance/").status_code == 403


def test_a_preset_button_wins_over_the_dates_shown(org: Any, login: Any) -> None:
    page = login(org.salesperson).get("/sales/performance/?start=2025-03-01&end=2025-03-31&period=year")
    year = timezone.localdate().year
    assert f"{year}-01-01 – {year}-12-31" in page.content.decode()


def test_unreadable_dates_are_a_message_and_this_month_is_shown(org: Any, login: Any) -> None:
    response = login(org.salesperson).get("/sales/performance/?start=2025-13-01&end=2025-03-31")
    assert response.status_code == 422 and "Enter a valid date" in response.content.decode()
    assert preset_period("month").start.isoformat() in response.content.decode()


def test_the_export_has_one_row_per_person_and_no_formula(org: Any, login: Any, work: Any) -> None:
    User.objects.filter(pk=org.teammate.pk).update(name="=cmd|' /C calc'!A0")
    response = login(org.manager).get(f"/sales/performance/export/?{QUERY}")
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    header, people = rows[0], {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert len(people) == 4 and "'=cmd|' /C calc'!A0" in people
    mine = people["王伟"]
    assert mine["Orders (amount): actual"] == 370000 and mine["Orders (amount): attainment (%)"] == 74
    assert mine["Contacts made"] == 3 and mine["Accounts whose grade improved"] == 2
    assert mine["Deals won"] == 1 and header[-1] == "Deals lost"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert AuditEvent.objects.filter(action="export", note="performance.xlsx").exists()
