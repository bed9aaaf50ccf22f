"""Who sees which leads (S1 for leads): a salesperson their own, a manager the department, marketing
its own department's, the general manager all; unassigned leads only those who hand leads out.
Hidden is missing (404). Then the list's filters and search."""

from __future__ import annotations

from typing import Any

import pytest

from guanxi.core.errors import Invalid, NotFound
from guanxi.sales.models import Lead
from guanxi.sales.selectors import leads as reads
from guanxi.sales.selectors.scope import lead_scope
from guanxi.sales.services import leads as service

pytestmark = pytest.mark.django_db


def capture(actor: Any, mobile: str, **data: Any) -> Lead:
    data.setdefault("company", f"公司{mobile[-4:]}")
    return service.lead_capture(actor=actor, source=data.pop("source", "manual"), data={"mobile": mobile, **data})


@pytest.fixture
def leads(org: Any) -> dict[str, Lead]:
    return {
        "mine": capture(org.salesperson, "13800000001"),
        "teammate": capture(org.teammate, "13800000002"),
        "sub": capture(org.sub_sales, "13800000003"),
        "south": capture(org.outsider, "13800000004"),
        "marketing": capture(org.marketing, "13800000005"),
        "unassigned": capture(org.marketing, "13800000006", owner=None),
    }


def seen(user: Any, leads: dict[str, Lead]) -> set[str]:
    ids = set(lead_scope(user).values_list("pk", flat=True))
    return {name for name, lead in leads.items() if lead.pk in ids}


def test_a_salesperson_sees_only_their_own_leads(org: Any, leads: dict[str, Lead]) -> None:
    assert seen(org.salesperson, leads) == {"mine"}
    assert seen(org.outsider, leads) == {"south"}


def test_a_manager_sees_the_department_and_the_unassigned(org: Any, leads: dict[str, Lead]) -> None:
    assert seen(org.manager, leads) == {"mine", "teammate", "sub", "unassigned"}
    assert seen(org.south_manager, leads) == {"south", "unassigned"}


def test_marketing_sees_its_own_department_and_the_unassigned(org: Any, leads: dict[str, Lead]) -> None:
    assert seen(org.marketing, leads) == {"marketing", "unassigned"}


def test_the_general_manager_sees_every_lead(org: Any, leads: dict[str, Lead]) -> None:
    assert seen(org.gm, leads) == set(leads)


def test_unassigned_leads_are_hidden_from_those_who_do_not_hand_leads_out(org: Any, leads: dict[str, Lead]) -> None:
    for user in (org.salesperson, org.teammate, org.service):
        assert "unassigned" not in seen(user, leads)
    assert seen(org.service, leads) == set()


def test_a_hidden_lead_is_missing(org: Any, leads: dict[str, Lead]) -> None:
    for user, name in ((org.salesperson, "teammate"), (org.outsider, "mine"), (org.salesperson, "unassigned"),
                       (org.south_manager, "sub")):
        with pytest.raises(NotFound):
            reads.lead_for(user, leads[name].pk)
    assert reads.lead_for(org.manager, leads["sub"].pk) == leads["sub"]


def test_deleted_leads_leave_every_list(org: Any, leads: dict[str, Lead]) -> None:
    service.lead_delete(actor=org.manager, lead=leads["teammate"])
    assert "teammate" not in seen(org.manager, leads)
    with pytest.raises(NotFound):
        reads.lead_for(org.manager, leads["teammate"].pk)


def test_duplicates_are_shown_only_among_visible_leads(org: Any) -> None:
    mine = capture(org.salesperson, "13900000000")
    theirs = capture(org.teammate, "13900000000")
    assert reads.lead_duplicates_for(org.salesperson, mine) == []
    assert reads.lead_duplicates_for(org.manager, mine) == [theirs]


# --- The list's filters and search ---------------------------------------------------------------------------
def listed(user: Any, **params: str) -> list[str]:
    return [lead.company for lead in reads.lead_list_for(user, params)]


def test_filters_by_state_source_owner_and_unassigned(org: Any) -> None:
    a = capture(org.salesperson, "13700000001", company="甲", source="exhibition")
    b = capture(org.teammate, "13700000002", company="乙")
    capture(org.manager, "13700000003", company="丙", owner=None)
    service.lead_disqualify(actor=org.teammate, lead=b, reason="空号")
    assert listed(org.manager) == ["丙", "乙", "甲"]
    assert listed(org.manager, state="disqualified") == ["乙"]
    assert listed(org.manager, state="open") == ["丙", "甲"]
    assert listed(org.manager, source="exhibition") == ["甲"]
    assert listed(org.manager, owner=str(org.salesperson.pk)) == ["甲"]
    assert listed(org.salesperson, owner="me") == ["甲"]
    assert listed(org.manager, unassigned="1") == ["丙"]
    assert a.pk


def test_unknown_filter_values_are_refused(org: Any) -> None:
    with pytest.raises(Invalid) as exc:
        reads.lead_list_for(org.manager, {"state": "won", "source": "fax", "owner": "boss"})
    assert set(exc.value.errors) == {"state", "source", "owner"}


@pytest.mark.parametrize("q", ["西湖茶业", "xihuchaye", "xhcy", "王建国", "wjg", "5678", "138-1234-5678",
                               "wang@xihu"])
def test_search_finds_company_person_pinyin_phone_digits_email_and_code(org: Any, q: str) -> None:
    capture(org.salesperson, "13812345678", company="杭州西湖茶业有限公司", person_name="王建国",
            email="wang@xihutea.cn")
    capture(org.salesperson, "13911112222", company="宁波港口物流有限公司")
    assert listed(org.salesperson, q=q) == ["杭州西湖茶业有限公司"]


def test_search_finds_the_lead_number(org: Any) -> None:
    capture(org.salesperson, "13911112222", company="宁波港口物流有限公司")
    lead = capture(org.salesperson, "13812345678", company="杭州西湖茶业有限公司")
    assert listed(org.salesperson, q=lead.code) == ["杭州西湖茶业有限公司"]


def test_search_stays_inside_the_scope(org: Any) -> None:
    capture(org.teammate, "13812345678", company="杭州西湖茶业有限公司")
    assert listed(org.salesperson, q="西湖") == []
    assert listed(org.manager, q="西湖") == ["杭州西湖茶业有限公司"]


def test_assignees_are_the_lead_workers_one_manages(org: Any) -> None:
    names = {u.username for u in reads.assignee_choices(org.manager)}
    assert names == {"manager", "sales", "sales2", "sales3"}
    assert {u.username for u in reads.assignee_choices(org.marketing)} == {"marketing"}
    assert {"gm", "outsider", "manager_s", "marketing"} <= {u.username for u in reads.assignee_choices(org.gm)}
    assert "service" not in {u.username for u in reads.assignee_choices(org.gm)}
