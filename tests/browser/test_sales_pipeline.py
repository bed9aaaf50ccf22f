"""The deal board in a real browser (R4.1, R13.2): a salesperson drags a deal to another
stage with the mouse, moves another one with the keyboard only (Alt+→, then the card's
"Move to…" list into the lost stage, giving the reason in the dialog), and a card whose deal
someone else changed meanwhile snaps back with a message. Each move changes the stage in
the database, leaves a StageChange and updates the column figures."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.helpers import clean, expect

pytestmark = pytest.mark.browser


def test_drag_a_deal_across_the_board_and_move_one_with_the_keyboard(browser_org: Any, session: Any,
                                                                     account_factory: Any) -> None:
    from guanxi.sales.models import LossReason, Opportunity, Stage, StageChange
    from guanxi.sales.services import pipeline as services

    org = browser_org
    account = account_factory(org.salesperson, name="华东重工有限公司")
    cold = services.opportunity_create(actor=org.salesperson, account=account, name="冷库项目", amount="100000")
    air = services.opportunity_create(actor=org.salesperson, account=account, name="空压机更新", amount="30000")
    stage = {s.name: s for s in Stage.objects.filter(pipeline=cold.pipeline)}
    page = session.page
    session.login("sales")
    session.goto("/sales/deals/board/")

    def column(name: str) -> Any:
        return page.locator(f".pipeline-column[data-stage='{stage[name].pk}']")

    def card(deal: Opportunity) -> Any:
        return page.locator(f"[data-testid=card][data-id='{deal.pk}']")

    status = page.locator("[data-testid=board-status]")
    expect(column("初步接洽").locator("[data-testid=column-count]")).to_have_text("2")

    # With the mouse: drag 冷库项目 to 方案报价.
    card(cold).drag_to(column("方案报价").locator("[data-role=cards]"))
    expect(column("方案报价").locator(f"[data-id='{cold.pk}']")).to_be_visible()
    expect(column("方案报价").locator("[data-testid=column-count]")).to_have_text("1")
    expect(column("方案报价").locator("[data-testid=column-weighted]")).to_have_text("¥50,000.00")
    expect(column("初步接洽").locator("[data-testid=column-count]")).to_have_text("1")
    expect(status).to_contain_text("方案报价")
    cold.refresh_from_db()
    assert (cold.stage, cold.probability, cold.version) == (stage["方案报价"], 50, 2)
    assert StageChange.objects.filter(opportunity=cold, from_stage=stage["初步接洽"], to_stage=stage["方案报价"],
                                      changed_by=org.salesperson).exists()

    # With the keyboard: Alt+→ moves 空压机更新 one stage on, and the card keeps the focus.
    card(air).focus()
    page.keyboard.press("Alt+ArrowRight")
    expect(column("需求确认").locator(f"[data-id='{air.pk}']")).to_be_visible()
    expect(card(air)).to_be_focused()
    expect(status).to_contain_text("需求确认")
    air.refresh_from_db()
    assert air.stage == stage["需求确认"] and StageChange.objects.filter(opportunity=air).count() == 2
    page.keyboard.press("Alt+ArrowLeft")  # and back
    expect(column("初步接洽").locator(f"[data-id='{air.pk}']")).to_be_visible()
    expect(card(air)).to_be_focused()
    expect(status).to_contain_text("初步接洽")
    assert Opportunity.objects.get(pk=air.pk).stage == stage["初步接洽"]
    assert StageChange.objects.filter(opportunity=air).count() == 3

    # … then its "Move to…" list into the lost stage: the dialog asks why.
    page.keyboard.press("Tab")  # the card's link
    page.keyboard.press("Tab")  # its "Move to…" list
    expect(card(air).locator("[data-testid=card-move-select]")).to_be_focused()
    card(air).locator("[data-testid=card-move-select]").select_option(str(stage["输单"].pk))
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    dialog = page.locator("[data-testid=loss-dialog]")
    expect(dialog).to_be_visible()
    expect(page.locator("[data-testid=loss-reason]")).to_be_focused()
    page.locator("[data-testid=loss-reason]").select_option(label="竞争对手")
    page.locator("[data-testid=loss-note]").fill("对方报价低 12%")
    page.locator("[data-testid=loss-ok]").press("Enter")
    expect(dialog).to_be_hidden()
    expect(column("输单").locator(f"[data-id='{air.pk}']")).to_be_visible()
    expect(column("输单").locator("[data-testid=column-count]")).to_have_text("1")
    air.refresh_from_db()
    assert (air.state, air.loss_reason, air.loss_note, air.probability) == (
        "lost", LossReason.objects.get(name="竞争对手"), "对方报价低 12%", 0)
    clean(session)

    # Someone else changes 冷库项目 meanwhile: dragging the stale card is refused and it snaps back.
    services.opportunity_update(actor=org.manager, opportunity=Opportunity.objects.get(pk=cold.pk),
                                changes={"amount": "120000"}, expected_version=2)
    card(cold).drag_to(column("谈判审批").locator("[data-role=cards]"))
    expect(page.locator("[data-testid=board-alert]")).to_be_visible()
    expect(column("方案报价").locator(f"[data-id='{cold.pk}']")).to_be_visible()
    expect(column("谈判审批").locator(f"[data-id='{cold.pk}']")).to_have_count(0)
    cold.refresh_from_db()
    assert (cold.stage, cold.version) == (stage["方案报价"], 3)
    assert session.csp_violations() == []
