"""Deals through their pages: list, create from an account, detail, edit, delete, won / lost,
the kanban board and its moves (JSON for the board's script, redirects for plain forms)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation

from guanxi.sales.models import LossReason, Opportunity, StageChange
from guanxi.sales.services import pipeline as services
from guanxi.sales.tests.pipeline_helpers import bulk_deals, deal, stages

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture(autouse=True)
def _english(org: Any) -> Iterator[None]:
    from guanxi.core.models import User

    User.objects.update(language="en")
    with translation.override("en"):
        yield


def state(d: Opportunity) -> tuple[Any, ...]:
    d.refresh_from_db()
    return d.stage_id, d.state, d.version, d.name, d.deleted_at, StageChange.objects.filter(opportunity=d).count()


# --- List -----------------------------------------------------------------------------------
def test_the_list_shows_only_visible_deals_with_totals(org: Any, login: Any, account_factory: Any) -> None:
    deal(org.salesperson, account_factory(org.salesperson), name="我的商机", amount="2000")
    deal(org.teammate, account_factory(org.teammate), name="队友商机")
    page = login(org.salesperson).get("/sales/deals/")
    text = page.content.decode()
    assert page.status_code == 200 and "我的商机" in text and "队友商机" not in text
    assert "¥2,000.00" in text and "1 deal" in text
    manager = login(org.manager).get(f"/sales/deals/?owner={org.teammate.pk}").content.decode()
    assert "队友商机" in manager and "我的商机" not in manager


def test_bad_filters_warn_and_still_list(org: Any, login: Any, account_factory: Any) -> None:
    deal(org.salesperson, account_factory(org.salesperson), name="我的商机")
    page = login(org.salesperson).get("/sales/deals/?close_from=someday&state=maybe")
    text = page.content.decode()
    assert page.status_code == 200 and "我的商机" in text and "Enter a valid date." in text


def test_pages_need_the_right(org: Any, login: Any) -> None:
    for path in ("/sales/deals/", "/sales/deals/board/", "/sales/deals/new/"):
        assert login(org.service).get(path).status_code == 403
        assert login(org.admin).get(path).status_code == 403


# --- Create ---------------------------------------------------------------------------------
def test_open_a_deal_from_the_account_page_link(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson, name="华东重工")
    hidden = account_factory(org.teammate, name="别人的客户")
    client = login(org.salesperson)
    form = client.get(f"/sales/deals/new/?account={account.pk}").content.decode()
    assert "New deal for 华东重工" in form and "初步接洽" in form
    assert "别人的客户" not in client.get("/sales/deals/new/").content.decode()
    first = stages()["需求确认"]
    response = client.post(f"/sales/deals/new/?account={account.pk}", {
        "account": account.pk, "name": "二号线改造", "stage": first.pk, "amount": "88000", "currency": "CNY",
        "expected_close": "2030-01-31", "owner": org.salesperson.pk, "competitors": "ABB"})
    made = Opportunity.objects.get(name="二号线改造")
    assert response.status_code == 302 and response["Location"] == f"/sales/deals/{made.pk}/"
    assert (made.account, made.stage, made.probability, made.competitors) == (account, first, 25, "ABB")
    refused = client.post("/sales/deals/new/", {"account": hidden.pk, "name": "偷单", "stage": first.pk,
                                                "amount": "1", "currency": "CNY", "owner": org.salesperson.pk})
    assert refused.status_code == 422 and not Opportunity.objects.filter(name="偷单").exists()
    bad = client.post("/sales/deals/new/", {"account": account.pk, "name": "", "stage": first.pk, "amount": "-1",
                                            "currency": "CNY", "owner": org.salesperson.pk})
    assert bad.status_code == 422 and Opportunity.objects.count() == 1
    handed = client.post("/sales/deals/new/", {"account": account.pk, "name": "转给队友", "stage": first.pk,
                                               "amount": "1", "currency": "CNY", "owner": org.teammate.pk})
    assert handed.status_code == 422 and not Opportunity.objects.filter(name="转给队友").exists()


# --- Detail, edit, delete -------------------------------------------------------------------
def test_the_deal_page_and_who_may_open_it(org: Any, login: Any, account_factory: Any) -> None:
    opened = deal(org.salesperson, account_factory(org.salesperson), name="三期扩建", competitors="施耐德")
    services.opportunity_move(actor=org.salesperson, opportunity=opened, stage=stages()["方案报价"])
    page = login(org.salesperson).get(f"/sales/deals/{opened.pk}/")
    text = page.content.decode()
    assert page.status_code == 200 and "三期扩建" in text and "施耐德" in text
    assert text.count('data-testid="stage-history-row"') == 2 and "方案报价" in text
    assert login(org.manager).get(f"/sales/deals/{opened.pk}/").status_code == 200
    for person in (org.teammate, org.outsider, org.south_manager):
        assert login(person).get(f"/sales/deals/{opened.pk}/").status_code == 404
    assert login(org.salesperson).get("/sales/deals/999999/").status_code == 404


def test_edit_with_a_stale_version_changes_nothing(org: Any, login: Any, account_factory: Any) -> None:
    opened = deal(org.salesperson, account_factory(org.salesperson), name="旧名")
    client = login(org.salesperson)
    form = {"name": "新名", "amount": "5", "currency": "CNY", "owner": org.salesperson.pk, "version": 1}
    assert client.post(f"/sales/deals/{opened.pk}/edit/", form).status_code == 302
    before = state(opened)
    stale = client.post(f"/sales/deals/{opened.pk}/edit/", {**form, "name": "再改"})
    assert stale.status_code == 409 and "Someone else changed" in stale.content.decode()
    assert state(opened) == before and opened.name == "新名"
    assert login(org.teammate).post(f"/sales/deals/{opened.pk}/edit/", {**form, "version": 2}).status_code == 404


def test_only_managers_delete(org: Any, login: Any, account_factory: Any) -> None:
    opened = deal(org.salesperson, account_factory(org.salesperson))
    before = state(opened)
    assert login(org.salesperson).post(f"/sales/deals/{opened.pk}/delete/", {"version": 1}).status_code == 403
    assert state(opened) == before
    response = login(org.manager).post(f"/sales/deals/{opened.pk}/delete/", {"version": 1})
    assert response.status_code == 302 and Opportunity.all_objects.get(pk=opened.pk).deleted_at is not None


def test_won_and_lost_from_the_deal_page(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    one, two = deal(org.salesperson, account, name="一"), deal(org.salesperson, account, name="二")
    client = login(org.salesperson)
    response = client.post(f"/sales/deals/{one.pk}/won/", {"version": 1}, follow=True)
    assert "一 is won." in response.content.decode() and Opportunity.objects.get(pk=one.pk).state == "won"
    assert client.get(f"/sales/deals/{two.pk}/lost/").status_code == 200
    missing = client.post(f"/sales/deals/{two.pk}/lost/", {"version": 1, "loss_reason": ""})
    assert missing.status_code == 422 and Opportunity.objects.get(pk=two.pk).state == "open"
    reason = LossReason.objects.get(name="竞争对手")
    client.post(f"/sales/deals/{two.pk}/lost/", {"version": 1, "loss_reason": reason.pk, "loss_note": "低价"})
    two.refresh_from_db()
    assert (two.state, two.loss_reason, two.loss_note) == ("lost", reason, "低价")
    page = client.get(f"/sales/deals/{two.pk}/").content.decode()
    assert "竞争对手" in page and "低价" in page


# --- Moves ----------------------------------------------------------------------------------
def test_a_board_move_answers_json_with_fresh_totals(org: Any, login: Any, account_factory: Any) -> None:
    opened = deal(org.salesperson, account_factory(org.salesperson), amount="1000")
    s = stages()
    response = login(org.salesperson).post(f"/sales/deals/{opened.pk}/move/",
                                           {"stage": s["方案报价"].pk, "version": 1, "rank_after": ""}, **JSON)
    body = json.loads(response.content)
    assert response.status_code == 200
    assert (body["stage"], body["version"], body["probability"], body["state"]) == (s["方案报价"].pk, 2, 50, "open")
    assert body["message"] == "数控机床项目 moved to 方案报价."
    assert body["columns"] == {str(s["方案报价"].pk): {"count": 1, "total": "¥1,000.00", "weighted": "¥500.00"}}


def test_a_stale_board_move_is_409_and_changes_nothing(org: Any, login: Any, account_factory: Any) -> None:
    opened = deal(org.salesperson, account_factory(org.salesperson))
    s = stages()
    services.opportunity_update(actor=org.salesperson, opportunity=opened, changes={"name": "已改"}, expected_version=1)
    before = state(opened)
    response = login(org.salesperson).post(f"/sales/deals/{opened.pk}/move/", {"stage": s["谈判审批"].pk,
                                                                               "version": 1}, **JSON)
    assert response.status_code == 409 and json.loads(response.content)["code"] == "conflict"
    assert state(opened) == before


def test_a_board_move_to_lost_needs_the_reason(org: Any, login: Any, account_factory: Any) -> None:
    opened = deal(org.salesperson, account_factory(org.salesperson))
    s = stages()
    client = login(org.salesperson)
    before = state(opened)
    response = client.post(f"/sales/deals/{opened.pk}/move/", {"stage": s["输单"].pk, "version": 1}, **JSON)
    assert response.status_code == 422 and "loss_reason" in json.loads(response.content)["errors"]
    assert state(opened) == before
    reason = LossReason.objects.get(name="价格")
    response = client.post(f"/sales/deals/{opened.pk}/move/", {"stage": s["输单"].pk, "version": 1,
                                                               "loss_reason": reason.pk, "loss_note": "贵"}, **JSON)
    assert response.status_code == 200 and Opportunity.objects.get(pk=opened.pk).loss_reason == reason


def test_a_plain_form_move_redirects_and_a_lost_stage_asks_why(org: Any, login: Any, account_factory: Any) -> None:
    opened = deal(org.salesperson, account_factory(org.salesperson))
    s = stages()
    client = login(org.salesperson)
    response = client.post(f"/sales/deals/{opened.pk}/move/", {"stage": s["需求确认"].pk, "version": 1,
                                                               "next": "/sales/deals/board/"})
    assert response.status_code == 302 and response["Location"] == "/sales/deals/board/"
    assert Opportunity.objects.get(pk=opened.pk).stage == s["需求确认"]
    response = client.post(f"/sales/deals/{opened.pk}/move/", {"stage": s["输单"].pk, "version": 2,
                                                               "next": "https://evil.example/"})
    assert response.status_code == 302 and f"/sales/deals/{opened.pk}/lost/?stage={s['输单'].pk}" in response["Location"]
    assert Opportunity.objects.get(pk=opened.pk).state == "open"
    elsewhere = client.post(f"/sales/deals/{opened.pk}/move/", {"stage": s["方案报价"].pk, "version": 2,
                                                                "next": "https://evil.example/"})
    assert elsewhere["Location"] == f"/sales/deals/{opened.pk}/"


def test_moves_of_hidden_deals_or_without_the_right_change_nothing(org: Any, login: Any,
                                                                  account_factory: Any) -> None:
    opened = deal(org.salesperson, account_factory(org.salesperson))
    s = stages()
    before = state(opened)
    for person, status in ((org.teammate, 404), (org.outsider, 404), (org.service, 403)):
        response = login(person).post(f"/sales/deals/{opened.pk}/move/", {"stage": s["方案报价"].pk, "version": 1},
                                      **JSON)
        assert response.status_code == status
        if status == 404:
            assert json.loads(response.content)["code"] == "not_found"
    assert login(org.salesperson).get(f"/sales/deals/{opened.pk}/move/").status_code == 405
    assert state(opened) == before


# --- The board ------------------------------------------------------------------------------
def test_the_board_shows_own_cards_to_salespeople_and_the_team_to_managers(org: Any, login: Any,
                                                                          account_factory: Any) -> None:
    deal(org.salesperson, account_factory(org.salesperson), name="我的卡片", amount="3000")
    deal(org.teammate, account_factory(org.teammate), name="队友卡片")
    deal(org.outsider, account_factory(org.outsider), name="华南卡片")
    mine = login(org.salesperson).get("/sales/deals/board/").content.decode()
    assert "我的卡片" in mine and "队友卡片" not in mine and "华南卡片" not in mine
    assert "pipeline_board.js" in mine and 'aria-live="polite"' in mine and "Move 我的卡片 to…" in mine
    assert 'data-testid="board-owner"' not in mine
    team = login(org.manager).get("/sales/deals/board/").content.decode()
    assert "我的卡片" in team and "队友卡片" in team and "华南卡片" not in team
    one = login(org.manager).get(f"/sales/deals/board/?owner={org.teammate.pk}").content.decode()
    assert "队友卡片" in one and "我的卡片" not in one


def test_the_board_stays_within_its_query_budget_at_size(org: Any, login: Any, account_factory: Any,
                                                         django_assert_max_num_queries: Any) -> None:
    account = account_factory(org.salesperson)
    s = stages()
    bulk_deals(org.salesperson, account, s["初步接洽"], 120, prefix="甲")
    bulk_deals(org.teammate, account_factory(org.teammate), s["方案报价"], 70, prefix="乙")
    client = login(org.manager)
    client.get("/sales/deals/board/")  # the session and the defaults settle
    with django_assert_max_num_queries(15):
        page = client.get("/sales/deals/board/")
    text = page.content.decode()
    assert text.count('data-testid="card"') == 100
    assert "70 more" in text and "20 more" in text
    assert f"stage={s['初步接洽'].pk}&amp;state=open" in text


def test_names_on_the_board_are_escaped(org: Any, login: Any, account_factory: Any) -> None:
    xss = '<script>window.__pwned=1</script><img src=x onerror="alert(1)">'
    deal(org.salesperson, account_factory(org.salesperson, name=f"公司{xss}"), name=f"商机{xss}")
    for path in ("/sales/deals/board/", "/sales/deals/"):
        text = login(org.salesperson).get(path).content.decode()
        assert "<script>window.__pwned" not in text and "<img src=x" not in text
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in text
