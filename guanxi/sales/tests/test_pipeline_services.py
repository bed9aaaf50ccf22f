"""Deals through their services: open, edit, move through the stages, win, lose, delete.

Probability follows the stage unless set by hand; the state follows the stage's kind; a
lost deal needs its reason; every move leaves a StageChange and an audit row and recounts
the account's open-deal total; stale versions are refused and change nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from guanxi.core.errors import Conflict, Forbidden, Invalid
from guanxi.core.models import AuditEvent
from guanxi.core.services import records
from guanxi.customers.models import Contact
from guanxi.sales.models import AccountSales, ExchangeRate, LossReason, Opportunity, Pipeline, Product, Stage, StageChange
from guanxi.sales.services import pipeline as services
from guanxi.sales.services import pipeline_setup
from guanxi.sales.tests.pipeline_helpers import deal, stages

pytestmark = pytest.mark.django_db


def open_total(account: Any) -> Decimal:
    return AccountSales.objects.get(account=account).open_deals_total


def snapshot(obj: Opportunity) -> tuple[Any, ...]:
    obj.refresh_from_db()
    return (obj.stage_id, obj.state, obj.probability, obj.closed_on, obj.loss_reason_id, obj.version,
            StageChange.objects.filter(opportunity=obj).count())


# --- The defaults ---------------------------------------------------------------------------
def test_the_default_pipeline_is_created_once_with_chinese_stages_and_loss_reasons(org: Any) -> None:
    assert not Pipeline.objects.exists()
    pipeline = services.default_pipeline()
    assert services.default_pipeline() == pipeline and Pipeline.objects.count() == 1
    pipeline_setup.ensure_defaults()
    assert Pipeline.objects.count() == 1 and pipeline.is_default and pipeline.name == "标准销售流程"
    got = [(s.name, s.probability, s.kind) for s in pipeline.stages.order_by("position")]
    assert got == [("初步接洽", 10, "open"), ("需求确认", 25, "open"), ("方案报价", 50, "open"), ("谈判审批", 75, "open"),
                   ("赢单", 100, "won"), ("输单", 0, "lost")]
    assert {"价格", "竞争对手", "需求取消", "无预算"} <= set(LossReason.objects.values_list("name", flat=True))
    count = LossReason.objects.count()
    pipeline_setup.ensure_defaults()
    assert LossReason.objects.count() == count


def test_the_marked_default_wins_over_the_first_pipeline(org: Any) -> None:
    services.default_pipeline()
    other = pipeline_setup.pipeline_create(actor=org.gm, name="经销商订货", sort_order=0)
    assert services.default_pipeline().name == "标准销售流程"
    pipeline_setup.pipeline_update(actor=org.gm, pipeline=other, changes={"is_default": True}, expected_version=1)
    assert services.default_pipeline() == other


# --- Opening a deal -------------------------------------------------------------------------
def test_open_a_deal_in_the_first_stage_with_its_probability(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    boss = Contact.objects.create(account=account, name="张总")
    opened = deal(org.salesperson, account, amount="120000", contact=boss, expected_close="2030-03-31",
                  competitors="西门子")
    s = stages()
    assert (opened.stage, opened.state, opened.probability, opened.owner, opened.department) == (
        s["初步接洽"], "open", 10, org.salesperson, org.east)
    assert opened.code.startswith(f"SJ-{timezone.localdate().year}-") and opened.contact == boss
    assert opened.expected_close == dt.date(2030, 3, 31) and opened.rate_to_cny == 1
    first = StageChange.objects.get(opportunity=opened)
    assert (first.from_stage, first.to_stage, first.probability, first.amount, first.changed_by) == (
        None, s["初步接洽"], 10, Decimal("120000"), org.salesperson)
    row = AuditEvent.objects.get(action="create", object_id=str(opened.pk), content_type__model="opportunity")
    assert row.actor == org.salesperson and row.changes["name"] == [None, "数控机床项目"]
    assert open_total(account) == Decimal("120000.00")


def test_a_foreign_currency_deal_keeps_its_rate_and_counts_in_cny(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    ExchangeRate.objects.create(currency="USD", rate=Decimal("7.1"), valid_from=dt.date(2020, 1, 1))
    opened = deal(org.salesperson, account, amount="1000", currency="usd", probability=40)
    assert (opened.currency, opened.rate_to_cny, opened.probability) == ("USD", Decimal("7.1"), 40)
    assert opened.weighted_amount == Decimal("2840.00")
    assert open_total(account) == Decimal("7100.00")
    with pytest.raises(Invalid) as exc:
        deal(org.salesperson, account, currency="JPY")
    assert "currency" in exc.value.errors


@pytest.mark.parametrize(("fields", "field"), [
    ({"name": " "}, "name"),
    ({"amount": "-5"}, "amount"),
    ({"amount": "abc"}, "amount"),
    ({"probability": 150}, "probability"),
    ({"currency": "人民币"}, "currency"),
    ({"expected_close": "tomorrow"}, "expected_close"),
    ({"stage": "WON"}, "stage"),
    ({"stage": 999999}, "stage"),
    ({"contact": "OTHER"}, "contact"),
    ({"owner": "TEAMMATE"}, "owner"),
    ({"owner": "OUTSIDER"}, "owner"),
    ({"products": [999999]}, "products"),
])
def test_bad_input_opens_nothing(org: Any, account_factory: Any, fields: dict[str, Any], field: str) -> None:
    account = account_factory(org.salesperson)
    other = Contact.objects.create(account=account_factory(org.salesperson), name="别家的人")
    s = stages()
    values = {"WON": s["赢单"].pk, "OTHER": other.pk, "TEAMMATE": org.teammate.pk, "OUTSIDER": org.outsider.pk}
    fields = {k: values.get(v, v) if isinstance(v, str) else v for k, v in fields.items()}
    name = fields.pop("name", "新商机")
    with pytest.raises(Invalid) as exc:
        services.opportunity_create(actor=org.salesperson, account=account, name=name, **fields)
    assert field in exc.value.errors, exc.value.errors
    assert not Opportunity.all_objects.exists() and not StageChange.objects.exists()


def test_only_visible_accounts_and_the_right_to_add(org: Any, account_factory: Any) -> None:
    theirs = account_factory(org.teammate)
    with pytest.raises(Invalid) as exc:
        deal(org.salesperson, theirs)
    assert "account" in exc.value.errors
    with pytest.raises(Forbidden):
        deal(org.service, account_factory(org.service))
    assert not Opportunity.all_objects.exists()


def test_a_manager_hands_a_deal_to_a_salesperson_of_the_team(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    opened = deal(org.manager, account, owner=org.salesperson)
    assert (opened.owner, opened.department) == (org.salesperson, org.east)


# --- Moving ---------------------------------------------------------------------------------
def test_moving_follows_the_stage_defaults_and_is_recorded(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    opened = deal(org.salesperson, account)
    s = stages()
    services.opportunity_move(actor=org.salesperson, opportunity=opened, stage=s["方案报价"], expected_version=1)
    opened.refresh_from_db()
    assert (opened.stage, opened.probability, opened.state, opened.version) == (s["方案报价"], 50, "open", 2)
    change = StageChange.objects.filter(opportunity=opened).first()
    assert (change.from_stage, change.to_stage, change.probability, change.changed_by) == (
        s["初步接洽"], s["方案报价"], 50, org.salesperson)
    row = AuditEvent.objects.filter(action="update", object_id=str(opened.pk)).latest("at")
    assert row.changes["stage"][1]["repr"] == "方案报价" and "初步接洽 → 方案报价" in row.note


def test_a_probability_set_by_hand_is_kept_by_later_moves(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    opened = deal(org.salesperson, account)
    services.opportunity_update(actor=org.salesperson, opportunity=opened, changes={"probability": 35},
                                expected_version=opened.version)
    s = stages()
    services.opportunity_move(actor=org.salesperson, opportunity=opened, stage=s["谈判审批"])
    opened.refresh_from_db()
    assert opened.probability == 35
    services.opportunity_move(actor=org.salesperson, opportunity=opened, stage=s["需求确认"], probability=60)
    opened.refresh_from_db()
    assert opened.probability == 60


def test_winning_closes_the_deal_and_reopening_clears_it(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    opened = deal(org.salesperson, account, amount="5000")
    other = deal(org.salesperson, account, amount="700")
    s = stages()
    services.opportunity_mark_won(actor=org.salesperson, opportunity=opened, expected_version=opened.version)
    opened.refresh_from_db()
    assert (opened.stage, opened.state, opened.probability, opened.closed_on) == (
        s["赢单"], "won", 100, timezone.localdate())
    assert open_total(account) == Decimal("700.00")
    services.opportunity_move(actor=org.salesperson, opportunity=opened, stage=s["谈判审批"])
    opened.refresh_from_db()
    assert (opened.state, opened.probability, opened.closed_on) == ("open", 75, None)
    assert open_total(account) == Decimal("5700.00")
    assert other.state == "open"


def test_losing_needs_a_reason_and_a_refusal_changes_nothing(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    opened = deal(org.salesperson, account)
    s = stages()
    before = snapshot(opened)
    with pytest.raises(Invalid) as exc:
        services.opportunity_move(actor=org.salesperson, opportunity=opened, stage=s["输单"], expected_version=1)
    assert "loss_reason" in exc.value.errors
    retired = LossReason.objects.create(name="旧理由", active=False)
    with pytest.raises(Invalid):
        services.opportunity_mark_lost(actor=org.salesperson, opportunity=opened, loss_reason=retired)
    assert snapshot(opened) == before
    price = LossReason.objects.get(name="价格")
    services.opportunity_mark_lost(actor=org.salesperson, opportunity=opened, loss_reason=price,
                                   loss_note="对手便宜 15%", expected_version=1)
    opened.refresh_from_db()
    assert (opened.stage, opened.state, opened.probability, opened.loss_reason, opened.loss_note) == (
        s["输单"], "lost", 0, price, "对手便宜 15%")
    assert opened.closed_on == timezone.localdate() and open_total(account) == 0
    services.opportunity_move(actor=org.salesperson, opportunity=opened, stage=s["初步接洽"])
    opened.refresh_from_db()
    assert (opened.state, opened.loss_reason, opened.loss_note, opened.probability) == ("open", None, "", 10)


def test_a_stale_move_is_refused_and_changes_nothing(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    opened = deal(org.salesperson, account)
    s = stages()
    services.opportunity_update(actor=org.manager, opportunity=Opportunity.objects.get(pk=opened.pk),
                                changes={"amount": "9"}, expected_version=1)
    before = snapshot(opened)
    with pytest.raises(Conflict):
        services.opportunity_move(actor=org.salesperson, opportunity=opened, stage=s["方案报价"], expected_version=1)
    assert snapshot(opened) == before


def test_moves_to_retired_stages_or_inactive_pipelines_are_refused(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    opened = deal(org.salesperson, account)
    s = stages()
    Stage.objects.filter(pk=s["需求确认"].pk).update(active=False)
    other = pipeline_setup.pipeline_create(actor=org.gm, name="出口业务")
    Pipeline.objects.filter(pk=other.pk).update(active=False)
    before = snapshot(opened)
    for target in (s["需求确认"].pk, Stage.objects.filter(pipeline=other).first().pk, 999999):
        with pytest.raises(Invalid):
            services.opportunity_move(actor=org.salesperson, opportunity=opened, stage=target)
    assert snapshot(opened) == before


def test_a_deal_moves_into_another_active_pipeline(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    opened = deal(org.salesperson, account)
    other = pipeline_setup.pipeline_create(actor=org.gm, name="出口业务")
    target = Stage.objects.get(pipeline=other, name="方案报价")
    services.opportunity_move(actor=org.salesperson, opportunity=opened, stage=target)
    opened.refresh_from_db()
    assert (opened.pipeline, opened.stage, opened.probability) == (other, target, 50)


def test_cards_are_placed_where_they_are_dropped(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    s = stages()
    a, b, c = (deal(org.salesperson, account, name=n) for n in ("甲", "乙", "丙"))

    def column() -> list[str]:
        return list(Opportunity.objects.filter(stage=s["需求确认"]).order_by("rank", "id").values_list("name", flat=True))

    for d in (a, b, c):  # each move without a place puts the card on top
        services.opportunity_move(actor=org.salesperson, opportunity=d, stage=s["需求确认"])
    assert column() == ["丙", "乙", "甲"]
    services.opportunity_move(actor=org.salesperson, opportunity=c, stage=s["需求确认"], rank_after=a.pk)
    assert column() == ["乙", "甲", "丙"]
    # Squeeze cards between neighbours until there is no room left: the column is spaced out again.
    for n in range(14):
        extra = deal(org.salesperson, account, name=f"插{n}")
        services.opportunity_move(actor=org.salesperson, opportunity=extra, stage=s["需求确认"], rank_after=b.pk)
    names = column()
    assert names[0] == "乙" and names[1] == "插13" and names[-2:] == ["甲", "丙"] and len(names) == 17


def test_reordering_in_the_same_column_keeps_the_version_and_history(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    a, b = deal(org.salesperson, account, name="甲"), deal(org.salesperson, account, name="乙")
    services.opportunity_move(actor=org.salesperson, opportunity=b, stage=b.stage, rank_after=a.pk,
                              expected_version=b.version)
    b.refresh_from_db()
    assert b.version == 1 and StageChange.objects.filter(opportunity=b).count() == 1
    assert list(Opportunity.objects.order_by("rank", "id").values_list("name", flat=True)) == ["甲", "乙"]


# --- Editing and deleting -------------------------------------------------------------------
def test_edit_a_deal_with_optimistic_locking(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    opened = deal(org.salesperson, account, amount="100")
    ExchangeRate.objects.create(currency="EUR", rate=Decimal("7.8"), valid_from=dt.date(2020, 1, 1))
    pump = Product.objects.create(code="P-1", name="离心泵", model="IS80")
    services.opportunity_update(actor=org.salesperson, opportunity=opened, expected_version=1, changes={
        "name": "二期项目", "amount": "2000", "currency": "EUR", "next_step": "周五报价", "products": [pump.pk]})
    opened.refresh_from_db()
    assert (opened.name, opened.amount, opened.currency, opened.rate_to_cny, opened.next_step) == (
        "二期项目", Decimal("2000"), "EUR", Decimal("7.8"), "周五报价")
    assert list(opened.products.all()) == [pump] and opened.version == 3
    assert open_total(account) == Decimal("15600.00")
    assert AuditEvent.objects.filter(object_id=str(opened.pk), changes__has_key="products").exists()
    with pytest.raises(Conflict):
        services.opportunity_update(actor=org.salesperson, opportunity=opened, changes={"name": "x"},
                                    expected_version=1)
    with pytest.raises(Invalid) as exc:
        services.opportunity_update(actor=org.salesperson, opportunity=opened, changes={"stage": 1, "state": "won"},
                                    expected_version=3)
    assert set(exc.value.errors) == {"stage", "state"}
    opened.refresh_from_db()
    assert opened.name == "二期项目" and opened.version == 3


def test_a_closed_deal_keeps_its_probability(org: Any, account_factory: Any) -> None:
    opened = deal(org.salesperson, account_factory(org.salesperson))
    services.opportunity_mark_won(actor=org.salesperson, opportunity=opened)
    with pytest.raises(Invalid) as exc:
        services.opportunity_update(actor=org.salesperson, opportunity=opened, changes={"probability": 50},
                                    expected_version=opened.version)
    assert "probability" in exc.value.errors


def test_only_managers_delete_and_the_total_follows_the_recycle_bin(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    opened = deal(org.salesperson, account, amount="800")
    with pytest.raises(Forbidden):
        services.opportunity_delete(actor=org.salesperson, opportunity=opened)
    assert Opportunity.objects.filter(pk=opened.pk).exists() and open_total(account) == Decimal("800.00")
    services.opportunity_delete(actor=org.manager, opportunity=opened, expected_version=1)
    assert not Opportunity.objects.filter(pk=opened.pk).exists() and open_total(account) == 0
    records.record_restore(actor=org.manager, obj=Opportunity.all_objects.get(pk=opened.pk))
    assert Opportunity.objects.filter(pk=opened.pk).exists() and open_total(account) == Decimal("800.00")


def test_the_rate_stays_fixed_until_the_currency_changes(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    ExchangeRate.objects.create(currency="USD", rate=Decimal("7.0"), valid_from=dt.date(2020, 1, 1))
    opened = deal(org.salesperson, account, amount="100", currency="USD")
    ExchangeRate.objects.create(currency="USD", rate=Decimal("7.3"), valid_from=timezone.localdate())
    services.opportunity_update(actor=org.salesperson, opportunity=opened, expected_version=1,
                                changes={"name": "改名", "currency": "USD", "amount": "100"})
    opened.refresh_from_db()
    assert (opened.name, opened.rate_to_cny) == ("改名", Decimal("7.0"))
    assert open_total(account) == Decimal("700.00")
