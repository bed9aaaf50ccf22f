"""Reads of deals: who sees which (S1), the board's columns and sums, the list's filters, and
the open and weighted pipeline the forecast uses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from guanxi.core import access
from guanxi.core.errors import NotFound
from guanxi.core.models import Team
from guanxi.sales.models import ExchangeRate, Opportunity, Stage
from guanxi.sales.selectors import pipeline as reads
from guanxi.sales.selectors.scope import get_one, opportunity_scope
from guanxi.sales.services import pipeline as services
from guanxi.sales.tests.pipeline_helpers import bulk_deals, deal, stages

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(org: Any, account_factory: Any) -> dict[str, Opportunity]:
    """One deal per salesperson: mine, my teammate's, one in the Shanghai office below East, the South's."""
    return {who: deal(getattr(org, who), account_factory(getattr(org, who)), name=who)
            for who in ("salesperson", "teammate", "sub_sales", "outsider")}


def names(qs: Any) -> set[str]:
    return {d.name for d in qs}


# --- Scope ----------------------------------------------------------------------------------
def test_salespeople_see_their_own_deals_only(org: Any, book: dict[str, Opportunity]) -> None:
    assert names(opportunity_scope(org.salesperson)) == {"salesperson"}
    with pytest.raises(NotFound):
        get_one(opportunity_scope, org.salesperson, book["teammate"].pk)


def test_managers_see_their_department_and_below(org: Any, book: dict[str, Opportunity]) -> None:
    assert names(opportunity_scope(org.manager)) == {"salesperson", "teammate", "sub_sales"}
    assert names(opportunity_scope(org.south_manager)) == {"outsider"}
    assert names(opportunity_scope(org.gm)) == {"salesperson", "teammate", "sub_sales", "outsider"}


def test_outsiders_and_other_roles_see_nothing(org: Any, book: dict[str, Opportunity]) -> None:
    assert names(opportunity_scope(org.outsider)) == {"outsider"}
    for person in (org.outsider, org.service, org.marketing):
        with pytest.raises(NotFound):
            get_one(opportunity_scope, person, book["salesperson"].pk)


def test_a_team_leader_sees_the_team(org: Any, book: dict[str, Opportunity]) -> None:
    Team.objects.filter(pk=org.team.pk).update(leader=org.salesperson)
    access.forget(org.salesperson)
    assert names(opportunity_scope(org.salesperson)) == {"salesperson", "teammate"}


def test_deals_of_a_deleted_account_are_hidden(org: Any, book: dict[str, Opportunity]) -> None:
    account = book["salesperson"].account
    type(account).objects.filter(pk=account.pk).update(deleted_at=timezone.now())
    assert names(opportunity_scope(org.salesperson)) == set()


# --- The list -------------------------------------------------------------------------------
def test_list_filters_and_sorts(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson, name="江南造船")
    s = stages()
    ExchangeRate.objects.create(currency="USD", rate=Decimal("7"), valid_from=dt.date(2020, 1, 1))
    deal(org.salesperson, account, name="大单", amount="1000", currency="USD", expected_close="2030-05-01")
    small = deal(org.salesperson, account, name="小单", amount="5000", expected_close="2030-06-15")
    deal(org.teammate, account_factory(org.teammate), name="队友的单")
    services.opportunity_move(actor=org.salesperson, opportunity=small, stage=s["方案报价"])

    def run(**params: Any) -> list[str]:
        filters = reads.parse_filters(params, org.manager)
        assert not filters.errors
        return [d.name for d in reads.opportunity_list_for(org.manager, filters)]

    assert run(stage=s["方案报价"].pk) == ["小单"]
    assert run(owner=org.salesperson.pk, sort="-amount") == ["大单", "小单"]  # 7000 CNY > 5000
    assert run(owner=org.salesperson.pk, sort="amount") == ["小单", "大单"]
    assert run(close_from="2030-06-01") == ["小单"]
    assert run(close_to="2030-05-31") == ["大单"]
    assert run(q="江南", sort="expected_close") == ["大单", "小单"]
    assert run(state="open", owner=org.teammate.pk) == ["队友的单"]
    assert run(state="won") == []
    assert [d.name for d in reads.opportunity_list_for(org.salesperson, reads.parse_filters({"owner": "me"},
                                                                                             org.salesperson))] == [
        "小单", "大单"]
    totals = reads.list_totals(reads.opportunity_list_for(org.salesperson, reads.parse_filters({}, org.salesperson)))
    assert totals == {"count": 2, "total": Decimal("12000.00"), "weighted": Decimal("3200.00")}  # 7000×10% + 5000×50%


def test_bad_filters_are_reported_and_ignored(org: Any) -> None:
    filters = reads.parse_filters({"state": "maybe", "close_from": "yesterday", "pipeline": "x", "sort": "evil"},
                                  org.salesperson)
    assert set(filters.errors) == {"state", "close_from", "pipeline"}
    assert (filters.state, filters.close_from, filters.pipeline, filters.sort) == ("", None, None, "-id")


# --- The board ------------------------------------------------------------------------------
def test_board_columns_count_and_sum_in_cny(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    ExchangeRate.objects.create(currency="USD", rate=Decimal("7"), valid_from=dt.date(2020, 1, 1))
    deal(org.salesperson, account, amount="1000", currency="USD")
    deal(org.salesperson, account, amount="3000")
    won = deal(org.salesperson, account, amount="500")
    services.opportunity_mark_won(actor=org.salesperson, opportunity=won)
    deal(org.teammate, account_factory(org.teammate), amount="99999")
    board = reads.board(org.salesperson, services.default_pipeline())
    columns = {c.stage.name: c for c in board.columns}
    assert list(columns) == ["初步接洽", "需求确认", "方案报价", "谈判审批", "赢单", "输单"]
    first = columns["初步接洽"]
    assert (first.count, first.total, first.weighted) == (2, Decimal("10000.00"), Decimal("1000.00"))
    assert first.total_text == "¥10,000.00" and {c.amount_text for c in first.cards} == {"USD 1,000.00", "¥3,000.00"}
    assert (columns["赢单"].count, columns["赢单"].total, columns["赢单"].weighted) == (1, Decimal("500.00"),
                                                                                     Decimal("500.00"))
    assert board.open_total == Decimal("10000.00") and columns["输单"].count == 0
    team = reads.board(org.manager, services.default_pipeline())
    assert {c.stage.name: c.count for c in team.columns}["初步接洽"] == 3
    only_mine = reads.board(org.manager, services.default_pipeline(), owner=org.teammate.pk)
    assert {c.stage.name: c.total for c in only_mine.columns}["初步接洽"] == Decimal("99999.00")


def test_board_caps_cards_shows_old_closed_deals_no_more_and_keeps_retired_stages_with_deals(
        org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    s = stages()
    bulk_deals(org.salesperson, account, s["需求确认"], 7)
    bulk_deals(org.salesperson, account, s["赢单"], 2, state="won", closed_on=timezone.localdate())
    bulk_deals(org.salesperson, account, s["赢单"], 3, state="won", closed_on=timezone.localdate() - dt.timedelta(days=40),
               prefix="旧")
    bulk_deals(org.salesperson, account, s["谈判审批"], 1)
    Stage.objects.filter(pk=s["谈判审批"].pk).update(active=False)
    Stage.objects.filter(pk=s["方案报价"].pk).update(active=False)
    board = reads.board(org.salesperson, services.default_pipeline(), per_column=5)
    columns = {c.stage.name: c for c in board.columns}
    assert "方案报价" not in columns and columns["谈判审批"].count == 1  # retired: shown only while it holds deals
    assert (columns["需求确认"].count, len(columns["需求确认"].cards), columns["需求确认"].more) == (7, 5, 2)
    assert [c.name for c in columns["需求确认"].cards] == ["批量0", "批量1", "批量2", "批量3", "批量4"]
    assert columns["赢单"].count == 2


def test_the_board_costs_four_queries_at_any_size(org: Any, account_factory: Any,
                                                   django_assert_num_queries: Any) -> None:
    account = account_factory(org.salesperson)
    s = stages()
    pipeline = services.default_pipeline()
    for stage in s.values():
        bulk_deals(org.salesperson, account, stage, 60, prefix=stage.name)
    access.visibility_for(org.manager)
    with django_assert_num_queries(4):  # stages, totals, the (stage, rank, id) rows, the cards kept
        board = reads.board(org.manager, pipeline)
    assert all(len(c.cards) == 50 and c.count == 60 and c.more == 10 for c in board.columns
               if c.stage.kind == "open")


# --- For the forecast -----------------------------------------------------------------------
def test_open_deals_are_scoped_and_filtered(org: Any, account_factory: Any, book: dict[str, Opportunity]) -> None:
    services.opportunity_mark_won(actor=org.teammate, opportunity=book["teammate"])
    assert names(reads.open_deals(org.manager)) == {"salesperson", "sub_sales"}
    assert names(reads.open_deals(org.manager, owner=org.sub_sales)) == {"sub_sales"}
    assert names(reads.open_deals(org.salesperson, owner=org.sub_sales.pk)) == set()
    other = services.default_pipeline()
    assert names(reads.open_deals(org.gm, pipeline=other.pk)) == {"salesperson", "sub_sales", "outsider"}


def test_weighted_pipeline_by_month_owner_and_team(org: Any, account_factory: Any,
                                                   django_assert_num_queries: Any) -> None:
    today = timezone.localdate()
    this_month = today.replace(day=1)
    next_month = reads.month_starts(2)[1]
    ExchangeRate.objects.create(currency="USD", rate=Decimal("7"), valid_from=dt.date(2020, 1, 1))
    mine, theirs, south = (account_factory(org.salesperson), account_factory(org.teammate),
                           account_factory(org.outsider))
    deal(org.salesperson, mine, amount="1000", probability=50, expected_close=next_month)  # 500
    deal(org.salesperson, mine, amount="100", currency="USD", probability=20, expected_close=next_month)  # 140
    deal(org.salesperson, mine, amount="2000", probability=10, expected_close=this_month - dt.timedelta(days=20))  # late
    deal(org.teammate, theirs, amount="4000", probability=25, expected_close=next_month)  # 1000
    deal(org.sub_sales, account_factory(org.sub_sales), amount="800", probability=50, expected_close=today)  # 400
    deal(org.salesperson, mine, amount="9999", expected_close=None)  # no date: left out
    deal(org.salesperson, mine, amount="9999", expected_close=this_month + dt.timedelta(days=400))  # beyond
    lost = deal(org.salesperson, mine, amount="9999", expected_close=next_month)
    services.opportunity_mark_lost(actor=org.salesperson, opportunity=lost,
                                   loss_reason=reads.active_loss_reasons()[0])
    deal(org.outsider, south, amount="5000", expected_close=next_month)  # another department
    access.visibility_for(org.manager)
    with django_assert_num_queries(1):
        by_owner = reads.weighted_by_month(org.manager, months=3, group_by="owner")
    got = {(r.month, r.label): (r.count, r.amount, r.weighted) for r in by_owner}
    assert got == {
        (this_month, "王伟"): (1, Decimal("2000.00"), Decimal("200.00")),
        (this_month, "张敏"): (1, Decimal("800.00"), Decimal("400.00")),
        (next_month, "王伟"): (2, Decimal("1700.00"), Decimal("640.00")),
        (next_month, "李娜"): (1, Decimal("4000.00"), Decimal("1000.00")),
    }
    by_team = {(r.month, r.key): (r.label, r.weighted) for r in
               reads.weighted_by_month(org.manager, months=3, group_by="team")}
    assert by_team == {(this_month, org.team.pk): ("华东一组", Decimal("200.00")),
                       (this_month, None): ("No team", Decimal("400.00")),
                       (next_month, org.team.pk): ("华东一组", Decimal("1640.00"))}
    total = reads.weighted_by_month(org.manager, months=[next_month], group_by=None)
    assert [(r.month, r.key, r.count, r.weighted) for r in total] == [(next_month, None, 3, Decimal("1640.00"))]
    assert reads.weighted_by_month(org.salesperson, months=1, group_by=None)[0].weighted == Decimal("200.00")
    with pytest.raises(ValueError):
        reads.weighted_by_month(org.manager, months=3, group_by="region")
