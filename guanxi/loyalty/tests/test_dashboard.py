"""The satisfaction dashboard: RATER, NPS, CSAT and response rate by touchpoint, team, department
and month against a hand-made set of invitations and responses; scope, filters, the page, the
Excel export and GET /api/v1/survey-dashboard.

The data (times local; the period 2025-01-01 – 2025-03-31)::

    inv  touchpoint       responsible (team, department)    sent   answered  NPS CSAT  R   A   T   E   Rs
    I1   case_closed      赵静 (客服一组, 客户服务部)       01-05  01-06     10  5     5   4   4   5   5
    I2   case_closed      郑爽 (客服一组, 客户服务部)       01-10  01-11      9  4     4   4   3   4   4
    I3   case_closed      赵静                              01-20  02-01      6  2     2   3   3   2   1
    I4   case_closed      赵静                              02-03  —
    I5   visit_done       钱峰 (no team, 客户服务部)        02-10  02-12      7  3     3   —   4   3   3
    I6   visit_done       钱峰                              03-01  —
    I7   order_delivered  王伟 (华东一组, 华东销售部)       03-05  03-06      0  1     1   1   1   1   1
    I8   manual           王伟                              03-10  03-10      —  —     5   —   —   —   —
    I9   case_closed      赵静                              2024-12-20 (before the period), answered, NPS 10
    I10  order_delivered  周杰 (no team, 华南销售部)        03-12  03-12     10  5     —   —   —   —   —
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
from typing import Any

import pytest
from django.utils import timezone
from django.utils.http import urlencode

from guanxi.core.errors import Forbidden, Invalid
from guanxi.core.models import AuditEvent, User
from guanxi.loyalty.models import Invitation, Response, Survey
from guanxi.loyalty.selectors import dashboard as reads

pytestmark = pytest.mark.django_db
PERIOD = {"date_from": "2025-01-01", "date_to": "2025-03-31"}
URL = "/surveys/dashboard/"
EXPORT = "/surveys/dashboard/export/"
API = "/api/v1/survey-dashboard"
DIMS = ("reliability", "assurance", "tangibles", "empathy", "responsiveness")


def at(text: str) -> dt.datetime:
    return timezone.make_aware(dt.datetime.strptime(text, "%Y-%m-%d %H:%M"), timezone.get_default_timezone())


@pytest.fixture
def data(org: Any, account_factory: Any) -> Any:
    User.objects.update(language="en")
    return build(org, account_factory)


def build(org: Any, account_factory: Any) -> Any:
    """The invitations and responses of the module's docstring (also used by browser tests)."""
    # The seeded survey of each automatic touchpoint where there is one (one active per touchpoint).
    surveys = {tp: Survey.objects.filter(touchpoint=tp, active=True).first()
               or Survey.objects.create(name=f"问卷 {tp}", touchpoint=tp)
               for tp in ("case_closed", "visit_done", "order_delivered", "manual")}
    accounts = {"sales": account_factory(org.salesperson), "south": account_factory(org.outsider)}

    def invite(n: int, touchpoint: str, owner: Any, sent: str, answered: str | None = None,
               nps: int | None = None, csat: int | None = None, dims: tuple[Any, ...] = (None,) * 5,
               account: Any = None) -> Invitation:
        invitation = Invitation.objects.create(
            survey=surveys[touchpoint], touchpoint=touchpoint, source=f"test:{n}", account=account,
            token_hash=hashlib.sha256(f"token-{n}".encode()).hexdigest(), owner=owner, department=owner.department,
            created_at=at(f"{sent} 10:00"), expires_at=at(f"{sent} 10:00") + dt.timedelta(days=14),
            answered_at=at(f"{answered} 10:00") if answered else None)
        if answered:
            Response.objects.create(invitation=invitation, survey=invitation.survey, touchpoint=touchpoint,
                                    account=account, owner=owner, department=owner.department,
                                    submitted_at=at(f"{answered} 10:00"), nps=nps, csat=csat,
                                    **{d: v for d, v in zip(DIMS, dims, strict=True)})
        return invitation

    invite(1, "case_closed", org.service, "2025-01-05", "2025-01-06", 10, 5, (5, 4, 4, 5, 5))
    invite(2, "case_closed", org.service2, "2025-01-10", "2025-01-11", 9, 4, (4, 4, 3, 4, 4))
    invite(3, "case_closed", org.service, "2025-01-20", "2025-02-01", 6, 2, (2, 3, 3, 2, 1))
    invite(4, "case_closed", org.service, "2025-02-03")
    invite(5, "visit_done", org.service_lead, "2025-02-10", "2025-02-12", 7, 3, (3, None, 4, 3, 3))
    invite(6, "visit_done", org.service_lead, "2025-03-01")
    invite(7, "order_delivered", org.salesperson, "2025-03-05", "2025-03-06", 0, 1, (1, 1, 1, 1, 1),
           account=accounts["sales"])
    invite(8, "manual", org.salesperson, "2025-03-10", "2025-03-10", None, None, (5, None, None, None, None),
           account=accounts["sales"])
    invite(9, "case_closed", org.service, "2024-12-20", "2024-12-21", 10, 5)
    invite(10, "order_delivered", org.outsider, "2025-03-12", "2025-03-12", 10, 5, account=accounts["south"])
    return org


def board(user: Any, **params: Any) -> reads.Dashboard:
    return reads.dashboard(user, reads.parse_filters({**PERIOD, **params}))


def summary(s: reads.Scores) -> tuple[Any, ...]:
    """(responses, NPS, promoters, passives, detractors, CSAT average, % satisfied, sent, answered, rate)."""
    return (s.responses, s.nps, s.promoters, s.passives, s.detractors, s.csat_average, s.satisfied_pct, s.sent,
            s.answered, s.response_rate)


def by_key(items: list[reads.Scores]) -> dict[str, tuple[Any, ...]]:
    return {s.label: summary(s) for s in items}


# --- The maths -----------------------------------------------------------------------------------
def test_overall_figures(data: Any) -> None:
    o = board(data.gm).overall
    # NPS: 10, 9, 6, 7, 0, 10 → 3 promoters, 1 passive, 2 detractors of 6: (3 − 2) / 6 = 16.7.
    # CSAT: 5, 4, 2, 3, 1, 5 → 20 / 6 = 3.33; satisfied 3 of 6. Invitations: 9 sent, 7 answered.
    assert summary(o) == (7, 16.7, 3, 1, 2, 3.33, 50.0, 9, 7, 77.8)
    assert (o.promoters_pct, o.detractors_pct) == (50.0, 33.3)
    # RATER: R 5, 4, 2, 3, 1, 5 → 3.33; A 4, 4, 3, 1 → 3; T 4, 3, 3, 4, 1 → 3; E 5, 4, 2, 3, 1 → 3;
    # Rs 5, 4, 1, 3, 1 → 2.8.
    assert o.rater == {"reliability": 3.33, "assurance": 3.0, "tangibles": 3.0, "empathy": 3.0,
                       "responsiveness": 2.8}


def test_by_touchpoint(data: Any) -> None:
    groups = board(data.gm).by_touchpoint
    assert [s.key for s in groups] == ["case_closed", "visit_done", "order_delivered", "manual"]
    assert by_key(groups) == {
        "Case closed": (3, 33.3, 2, 0, 1, 3.67, 66.7, 4, 3, 75.0),
        "Field visit done": (1, 0.0, 0, 1, 0, 3.0, 0.0, 2, 1, 50.0),
        "Order delivered": (2, 0.0, 1, 0, 1, 3.0, 50.0, 2, 2, 100.0),
        "Sent by hand": (1, None, 0, 0, 0, None, None, 1, 1, 100.0),
    }
    assert groups[0].rater["reliability"] == 3.67 and groups[3].rater["reliability"] == 5.0
    assert groups[1].rater["assurance"] is None


def test_by_team_of_the_responsible_person(data: Any) -> None:
    assert by_key(board(data.gm).by_team) == {
        "客服一组": (3, 33.3, 2, 0, 1, 3.67, 66.7, 4, 3, 75.0),
        "华东一组": (2, -100.0, 0, 0, 1, 1.0, 0.0, 2, 2, 100.0),
        "No team": (2, 50.0, 1, 1, 0, 4.0, 50.0, 3, 2, 66.7),  # 钱峰 and 周杰
    }


def test_a_person_in_two_teams_counts_in_both(data: Any) -> None:
    from guanxi.core.models import Team

    second = Team.objects.create(name="投诉专班", department=data.service_dept)
    second.members.set([data.service])
    teams = by_key(board(data.gm).by_team)
    assert teams["投诉专班"][0] == 2  # 赵静's R1 and R3
    assert teams["客服一组"][0] == 3


def test_by_department(data: Any) -> None:
    assert by_key(board(data.gm).by_department) == {
        "客户服务部": (4, 25.0, 2, 1, 1, 3.5, 50.0, 6, 4, 66.7),
        "华东销售部": (2, -100.0, 0, 0, 1, 1.0, 0.0, 2, 2, 100.0),
        "华南销售部": (1, 100.0, 1, 0, 0, 5.0, 100.0, 1, 1, 100.0),
    }


def test_by_month(data: Any) -> None:
    """Scores by month of the answer; the response rate by month of sending (I3, sent in January
    and answered in February, counts as answered for January)."""
    assert by_key(board(data.gm).by_month) == {
        "2025-01": (2, 100.0, 2, 0, 0, 4.5, 100.0, 3, 3, 100.0),
        "2025-02": (2, -50.0, 0, 1, 1, 2.5, 0.0, 2, 1, 50.0),
        "2025-03": (3, 0.0, 1, 0, 1, 3.0, 50.0, 4, 3, 75.0),
    }


def test_filters(data: Any) -> None:
    assert summary(board(data.gm, touchpoint="case_closed").overall) == (3, 33.3, 2, 0, 1, 3.67, 66.7, 4, 3, 75.0)
    assert board(data.gm, team=data.service_team.pk).overall.responses == 3
    assert board(data.gm, department=data.service_dept.pk).overall.responses == 4
    assert board(data.gm, department=data.hq.pk).overall.responses == 7
    assert board(data.gm, date_from="2025-03-01").overall.responses == 3
    assert board(data.gm, date_from="2024-12-01", date_to="2024-12-31").overall.nps == 100.0  # I9 only
    with pytest.raises(Invalid) as caught:
        reads.parse_filters({"touchpoint": "party", "team": "x", "department": "999999", "date_to": "31/03/2025"})
    assert set(caught.value.errors) == {"touchpoint", "team", "department", "date_to"}


# --- Scope ---------------------------------------------------------------------------------------
def test_a_service_manager_sees_the_service_departments_answers(data: Any) -> None:
    o = board(data.service_manager).overall
    assert summary(o) == (4, 25.0, 2, 1, 1, 3.5, 50.0, 6, 4, 66.7)


def test_a_service_agent_sees_the_answers_about_their_own_work(data: Any) -> None:
    o = board(data.service).overall  # I1, I3, I4
    assert summary(o) == (2, 0.0, 1, 0, 1, 3.5, 50.0, 3, 2, 66.7)


def test_a_salesperson_sees_their_customers_answers(data: Any) -> None:
    assert board(data.salesperson).overall.responses == 2  # I7, I8
    assert board(data.outsider).overall.responses == 1  # I10


def test_marketing_sees_only_its_departments_answers(data: Any) -> None:
    assert board(data.marketing).overall.responses == 0


def test_without_the_survey_right_the_dashboard_is_refused(data: Any) -> None:
    with pytest.raises(Forbidden):
        board(data.admin)


def test_an_empty_dashboard(org: Any) -> None:
    b = board(org.gm)
    assert summary(b.overall) == (0, None, 0, 0, 0, None, None, 0, 0, None)
    assert [s.label for s in b.by_month] == ["2025-01", "2025-02", "2025-03"]


# --- The page, the export, the API ---------------------------------------------------------------
def test_the_page(data: Any, login: Any) -> None:
    response = login(data.gm).get(URL, PERIOD)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="fig-responses">7<' in html and 'data-testid="fig-nps">+16.7<' in html
    assert 'data-testid="fig-csat">3.33<' in html and 'data-testid="fig-rate">77.8%<' in html
    for key in ("rater", "trend", "touchpoint", "department", "team"):
        assert f'id="chart-{key}"' in html and f'data-testid="table-{key}"' in html
    found = re.search(r'<script id="dashboard-chart-data" type="application/json">(.*?)</script>', html, re.S)
    chart = json.loads(found.group(1))  # type: ignore[union-attr]
    assert chart["rater"][0] == {"name": "All", "values": [3.33, 3.0, 3.0, 3.0, 2.8]}
    assert chart["trend"]["labels"] == ["2025-01", "2025-02", "2025-03"] and chart["trend"]["nps"] == [100.0, -50.0, 0.0]
    assert re.search(r'<script src="/static/service/reports\.js" nonce="[^"]+"></script>', html)
    assert login(data.marketing).get(URL).status_code == 200
    assert login(data.admin).get(URL).status_code == 403


def test_bad_filters_on_the_page(data: Any, login: Any) -> None:
    html = login(data.gm).get(URL, {"touchpoint": "party"}).content.decode()
    assert 'data-testid="dashboard-errors"' in html


def test_the_export(data: Any, login: Any) -> None:
    from openpyxl import load_workbook

    from guanxi.core.models import Team

    Team.objects.create(name="@SUM(1+1)*cmd|' /C calc'!A0", department=data.east).members.set([data.salesperson])
    response = login(data.gm).post(EXPORT, {"query": urlencode(PERIOD)})
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Summary", "By touchpoint", "By department", "By team", "By month"]
    header, *rows = [list(r) for r in book["By touchpoint"].iter_rows(values_only=True)]
    assert header[:8] == ["Touchpoint", "Responses", "Reliability", "Assurance", "Tangibles", "Empathy",
                          "Responsiveness", "NPS"]
    assert rows[0] == ["Case closed", 3, 3.67, 3.67, 3.33, 3.67, 3.33, 33.3, 2, 0, 1, 3.67, 3, 66.7, 4, 3, 75]
    teams = [row[0] for row in book["By team"].iter_rows() if row[0].value and "SUM" in str(row[0].value)]
    assert teams and all(c.value.startswith("'@") and c.data_type == "s" for c in teams)
    event = AuditEvent.objects.get(action="export", actor=data.gm)
    assert event.changes["what"] == "survey dashboard" and event.changes["responses"] == 7


def test_the_export_needs_the_right(data: Any, login: Any) -> None:
    assert login(data.admin).post(EXPORT, {"query": urlencode(PERIOD)}).status_code == 403
    assert not AuditEvent.objects.filter(action="export").exists()


def test_the_api(data: Any, api: Any) -> None:
    caller = api(data.service_manager)
    caller.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    body = caller.get(API, PERIOD).json()
    assert body["overall"]["nps"] == {"score": 25.0, "count": 4, "promoters": 2, "passives": 1, "detractors": 1,
                                      "promoters_pct": 50.0, "detractors_pct": 25.0}
    assert body["overall"]["csat"] == {"average": 3.5, "count": 4, "satisfied": 2, "satisfied_pct": 50.0}
    assert body["overall"]["invitations"] == {"sent": 6, "answered": 4, "response_rate": 66.7}
    assert [d["key"] for d in body["dimensions"]] == list(DIMS)
    assert [m["key"] for m in body["by_month"]] == ["2025-01", "2025-02", "2025-03"]
    assert body["by_touchpoint"][0]["rater"]["reliability"] == 3.67
    assert caller.get(API, {**PERIOD, "touchpoint": "visit_done"}).json()["overall"]["responses"] == 1
    bad = caller.get(API, {"touchpoint": "party"})
    assert bad.status_code == 422 and list(bad.json()["errors"]) == ["touchpoint"]
    refused = api(data.admin)
    refused.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert refused.get(API).status_code == 403
