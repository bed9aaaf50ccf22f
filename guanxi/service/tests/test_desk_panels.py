"""My desk's service panels (R3.3, R5.2) as a whole: someone who owns no open case and has no
hand-over waiting costs the desk one flag in its statement of facts (no list, no business
calendar); cases and hand-overs are listed without a query per row."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from guanxi.service.services import handovers
from guanxi.service.tests.cases_support import make_case

pytestmark = pytest.mark.django_db

DESK_BUDGET = 15  # BENCHMARKS.md: no page issues more than 15 queries


def desk_queries(client: Any) -> tuple[list[str], str]:
    client.get("/")  # warm: session, language
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/")
    assert response.status_code == 200
    return [q["sql"] for q in ctx.captured_queries], response.content.decode()


def reads_calendar(sqls: list[str]) -> bool:
    return any('"service_holiday"' in sql or '"service_servicecalendar"' in sql for sql in sqls)


def test_a_salesperson_without_cases_asks_one_flag_and_no_calendar(org: Any, login: Any) -> None:
    sqls, html = desk_queries(login(org.salesperson))
    assert not reads_calendar(sqls)
    # Cases appear only in the facts' one statement (do I own an open one, is one offered to me).
    assert [sql for sql in sqls if '"service_case"' in sql] == [sql for sql in sqls if "fact_0" in sql]
    assert 'data-testid="desk-cases"' not in html and 'data-testid="desk-handovers"' not in html
    assert 'data-testid="desk-sla"' in html  # the SLA panel says nothing is at risk, without asking


def test_cases_and_hand_overs_cost_the_same_however_many(org: Any, login: Any, account_factory: Any) -> None:
    client = login(org.salesperson)
    account = account_factory(org.salesperson)
    mine = [make_case(org.salesperson, account=account, title="漏水一")]
    offered = [handovers.handover_offer(actor=org.service, case=make_case(org.service, title="转交一"),
                                        to_user=org.salesperson)]
    one, html = desk_queries(client)
    assert reads_calendar(one)  # a case to colour: the calendar is asked for (one small statement)
    assert f'data-case="{mine[0].pk}"' in html and f'data-handover="{offered[0].pk}"' in html
    for i in range(9):
        mine.append(make_case(org.salesperson, account=account, title=f"漏水{i + 2}"))
        offered.append(handovers.handover_offer(actor=org.service, case=make_case(org.service, title=f"转交{i + 2}"),
                                                to_user=org.salesperson))
    many, html = desk_queries(client)
    assert len(many) == len(one) <= DESK_BUDGET, (len(one), len(many))
    assert html.count('data-case="') == 8 and html.count('data-handover="') == 8  # the panels' limit


def test_a_service_manager_sees_the_department_at_risk_without_cases_of_their_own(org: Any, login: Any) -> None:
    from guanxi.core import desk

    case = make_case(org.service2, severity="critical")
    type(case).objects.filter(pk=case.pk).update(response_breached=True)
    panel = desk.render_one(org.service_manager, "service.sla-at-risk")
    assert panel is not None and [c.pk for c in panel.context["cases"]] == [case.pk]
    shown = {p.key: p for p in desk.panels_for(org.service_manager)}
    assert [c.pk for c in shown["service.sla-at-risk"].context["cases"]] == [case.pk]
    # The agent who owns it sees it too; a colleague who owns nothing does not.
    assert [c.pk for c in desk.render_one(org.service2, "service.sla-at-risk").context["cases"]] == [case.pk]  # type: ignore[union-attr]
    assert desk.render_one(org.service, "service.sla-at-risk").context["cases"] == []  # type: ignore[union-attr]
