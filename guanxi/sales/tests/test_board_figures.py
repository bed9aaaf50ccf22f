"""The deal board's column figures (``BoardFigures``) kept by the deal services: after every
kind of write — create, edit, move, win, lose, reopen, delete, restore, lead conversion, an
account deleted and restored, merged and unmerged, an owner moving department — the stored
figures equal a recount from the deals, and the board shows what counting the deals shows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum
from django.utils import timezone

from guanxi.core import access
from guanxi.core.services import records
from guanxi.core.services.org import user_update
from guanxi.customers.services.merge import account_merge, account_merge_undo
from guanxi.sales.models import BoardFigures, ExchangeRate, LossReason, Opportunity
from guanxi.sales.selectors import pipeline as reads
from guanxi.sales.services import board
from guanxi.sales.services import pipeline as services
from guanxi.sales.services.lead_convert import lead_convert
from guanxi.sales.services.leads import lead_capture
from guanxi.sales.tests.pipeline_helpers import deal, stages

pytestmark = pytest.mark.django_db


def counted_board(user: Any) -> dict[int, tuple[int, Decimal, Decimal]]:
    """The board's columns counted straight from the deals the user sees (the old way)."""
    pipeline = services.default_pipeline()
    since = timezone.localdate() - dt.timedelta(days=reads.CLOSED_DAYS)
    rows = (reads._board_deals(user, pipeline, None, since).order_by().values("stage_id")
            .annotate(n=Count("id"), total=Sum(reads.IN_CNY), weighted=Sum(reads.WEIGHTED_CNY)))
    return {r["stage_id"]: (r["n"], reads._cny(r["total"]), reads._cny(r["weighted"])) for r in rows}


def shown_board(user: Any) -> dict[int, tuple[int, Decimal, Decimal]]:
    board_now = reads.board(user, services.default_pipeline())
    return {c.stage.pk: (c.count, c.total, c.weighted) for c in board_now.columns if c.count}


def check(org: Any) -> None:
    assert board.differences() == []
    for user in (org.gm, org.manager, org.salesperson, org.teammate, org.south_manager, org.outsider):
        access.forget(user)
        assert shown_board(user) == counted_board(user), user.username


def test_the_figures_equal_a_recount_after_every_kind_of_write(org: Any, account_factory: Any) -> None:
    s = stages()
    ExchangeRate.objects.create(currency="USD", rate=Decimal("7.1234"), valid_from=dt.date(2020, 1, 1))
    mine, theirs, south = (account_factory(org.salesperson), account_factory(org.teammate),
                           account_factory(org.outsider))
    a = deal(org.salesperson, mine, amount="1000.10", currency="USD")
    b = deal(org.salesperson, mine, amount="2500", probability=35)
    c = deal(org.teammate, theirs, amount="777.77")
    d = deal(org.outsider, south, amount="5000")
    check(org)
    assert shown_board(org.gm)[s["初步接洽"].pk][0] == 4

    # Edits: amount, probability, owner (the manager takes one over).
    a = services.opportunity_update(actor=org.salesperson, opportunity=a, expected_version=a.version,
                                    changes={"amount": "1200.55", "probability": "25"})
    b = services.opportunity_update(actor=org.manager, opportunity=Opportunity.objects.get(pk=b.pk),
                                    expected_version=None, changes={"owner": org.manager.pk})
    check(org)
    # Moves, won, lost, reopened; a card reordered inside its column changes nothing.
    services.opportunity_move(actor=org.salesperson, opportunity=Opportunity.objects.get(pk=a.pk),
                              stage=s["方案报价"].pk)
    services.opportunity_mark_won(actor=org.manager, opportunity=Opportunity.objects.get(pk=b.pk))
    reason = LossReason.objects.filter(active=True).first()
    services.opportunity_mark_lost(actor=org.teammate, opportunity=Opportunity.objects.get(pk=c.pk),
                                   loss_reason=reason.pk)
    services.opportunity_move(actor=org.outsider, opportunity=Opportunity.objects.get(pk=d.pk),
                              stage=s["初步接洽"].pk, rank_after=None)
    check(org)
    services.opportunity_move(actor=org.teammate, opportunity=Opportunity.objects.get(pk=c.pk),
                              stage=s["谈判审批"].pk)
    check(org)
    assert shown_board(org.gm)[s["赢单"].pk][:2] == (1, Decimal("2500.00"))
    # A deal closed long ago leaves the won column (the board shows the last 30 days).
    as_read = Opportunity.all_objects.get(pk=b.pk)  # the place it was read at is recounted too
    Opportunity.all_objects.filter(pk=b.pk).update(closed_on=timezone.localdate() - dt.timedelta(days=45))
    board.refresh_deal(as_read)
    check(org)

    # Delete and restore a deal (the recycle bin).
    services.opportunity_delete(actor=org.manager, opportunity=Opportunity.objects.get(pk=a.pk))
    check(org)
    records.record_restore(actor=org.manager, obj=Opportunity.all_objects.get(pk=a.pk))
    check(org)

    # A lead becomes an account and a deal.
    lead = lead_capture(actor=org.salesperson, source="exhibition", data={
        "company": "杭州西湖茶业有限公司", "person_name": "王建国", "mobile": "13812345678",
        "estimated_amount": "88000"})
    converted = lead_convert(actor=org.salesperson, lead=lead).opportunity
    check(org)
    assert shown_board(org.salesperson)[converted.stage_id][0] >= 1

    # The account goes to the recycle bin: its deals leave the board; restored, they come back.
    records.record_delete(actor=org.manager, obj=mine)
    check(org)
    assert s["方案报价"].pk not in shown_board(org.gm)
    records.record_restore(actor=org.manager, obj=mine.__class__.all_objects.get(pk=mine.pk))
    check(org)
    assert shown_board(org.gm)[s["方案报价"].pk][0] == 1

    # Merge two accounts (the merged one goes to the recycle bin) and undo the merge.
    record = account_merge(actor=org.manager, kept=theirs, merged=mine.__class__.objects.get(pk=mine.pk))
    check(org)
    account_merge_undo(actor=org.manager, record=record)
    check(org)

    # The owner moves to the South: the East manager no longer sees their deals, the South's does.
    user_update(actor=org.admin, user=org.teammate, expected_version=None, department=org.south)
    check(org)
    assert board.differences() == [] and BoardFigures.objects.filter(count=0).count() == 0


def test_the_repair_command_finds_and_fixes_drift(org: Any, account_factory: Any) -> None:
    deal(org.salesperson, account_factory(org.salesperson), amount="100")
    deal(org.teammate, account_factory(org.teammate), amount="300")
    out = StringIO()
    call_command("sales_recount", "--check", stdout=out)
    assert "0 board figures differ" in out.getvalue()
    BoardFigures.objects.filter(owner=org.salesperson).update(count=7, amount=Decimal("1"))
    BoardFigures.objects.filter(owner=org.teammate).delete()
    with pytest.raises(SystemExit):
        call_command("sales_recount", "--check", stdout=StringIO())
    assert len(board.differences()) == 2
    out = StringIO()
    call_command("sales_recount", "--board-only", stdout=out)
    assert "board figures: 2 rows" in out.getvalue()
    assert board.differences() == []
    assert shown_board(org.gm) == counted_board(org.gm)


def test_a_move_writes_the_figures_in_a_fixed_number_of_queries(org: Any, account_factory: Any,
                                                                  django_assert_max_num_queries: Any) -> None:
    account = account_factory(org.salesperson)
    for n in range(30):
        deal(org.salesperson, account, name=f"批量{n}", amount="10")
    one = Opportunity.objects.filter(account=account).first()
    s = stages()
    with django_assert_max_num_queries(5):
        board.refresh_deal(one)  # upsert, recount, two updates at most … here one place
    services.opportunity_move(actor=org.salesperson, opportunity=one, stage=s["需求确认"].pk)
    assert board.differences() == []
    assert shown_board(org.salesperson)[s["初步接洽"].pk][0] == 29


def test_both_ways_of_picking_the_first_cards_pick_the_same(org: Any, account_factory: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from guanxi.sales.tests.pipeline_helpers import bulk_deals

    s = stages()
    today = timezone.localdate()
    mine, theirs = account_factory(org.salesperson), account_factory(org.outsider)
    bulk_deals(org.salesperson, mine, s["初步接洽"], 9, prefix="甲")
    bulk_deals(org.outsider, theirs, s["初步接洽"], 4, prefix="南")  # the manager does not see these
    bulk_deals(org.teammate, account_factory(org.teammate), s["需求确认"], 3, prefix="乙")
    bulk_deals(org.salesperson, mine, s["赢单"], 6, state="won", closed_on=today, prefix="新")
    bulk_deals(org.salesperson, mine, s["赢单"], 6, state="won", closed_on=today - dt.timedelta(days=60), prefix="旧")
    pipeline = services.default_pipeline()
    for user in (org.manager, org.gm):
        narrow = reads.board(user, pipeline, per_column=5)
        monkeypatch.setattr(reads, "NARROW_ROWS", 0)  # as on a board of thousands of deals
        limited = reads.board(user, pipeline, per_column=5)
        monkeypatch.undo()
        picked = [[card.name for card in column.cards] for column in limited.columns]
        assert picked == [[card.name for card in column.cards] for column in narrow.columns]
        columns = {c.stage.name: [card.name for card in c.cards] for c in limited.columns}
        assert columns["初步接洽"][:5] == ["甲0", "甲1", "甲2", "甲3", "甲4"] or user == org.gm
        assert columns["赢单"] == ["新0", "新1", "新2", "新3", "新4"]
        assert columns["需求确认"] == ["乙0", "乙1", "乙2"]
