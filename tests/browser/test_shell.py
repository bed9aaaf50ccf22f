"""The shell in a real browser: sign-in, language switch, phone layout, account create/approve, CSP."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.helpers import expect

pytestmark = pytest.mark.browser

VALID_CREDIT = "91350100M000100Y43"
WRONG_CHECK_CREDIT = "91350100M000100Y44"  # right shape, wrong check character
NAV = "[data-testid=main-nav]"
HAN = re.compile(r"[\u4e00-\u9fff]")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"


def test_sign_in_in_chinese_then_switch_to_english_and_it_sticks(browser_org: Any, session: Any,
                                                                  session_factory: Any) -> None:
    from guanxi.core.models import User

    page = session.page
    session.goto("/login/")
    assert session.html_lang() == "zh-hans"
    expect(page.locator("h1")).to_have_text("登录 guanxi")

    session.login("sales")
    assert session.html_lang() == "zh-hans"
    nav = page.locator(NAV)
    expect(nav).to_be_visible()
    expect(nav.get_by_role("link", name="客户", exact=True)).to_be_visible()

    session.submit("[data-testid=language-switch] button")
    assert session.html_lang() == "en"
    expect(nav.get_by_role("link", name="Accounts", exact=True)).to_be_visible()
    assert User.objects.get(username="sales").language == "en"

    page.reload()
    assert session.html_lang() == "en"
    expect(nav.get_by_role("link", name="Accounts", exact=True)).to_be_visible()

    session.logout()
    session.login("sales")
    assert session.html_lang() == "en"
    expect(page.locator(NAV).get_by_role("link", name="Accounts", exact=True)).to_be_visible()

    # A fresh browser (no language cookie) still gets English once signed in: it is the user's setting.
    fresh = session_factory()
    fresh.goto("/login/")
    assert fresh.html_lang() == "zh-hans"
    fresh.login("sales")
    assert fresh.html_lang() == "en"
    expect(fresh.page.locator(NAV).get_by_role("link", name="Accounts", exact=True)).to_be_visible()


def test_phone_viewport_collapses_the_navbar_behind_the_toggler(browser_org: Any, session_factory: Any) -> None:
    s = session_factory(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    s.login("sales")
    nav = s.page.locator(NAV)
    toggler = s.page.locator("button.navbar-toggler")
    expect(toggler).to_be_visible()
    expect(nav).to_be_hidden()
    toggler.click()
    expect(nav).to_be_visible()
    expect(toggler).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="客户", exact=True)).to_be_visible()


def test_manager_creates_account_and_another_manager_approves_it(browser_org: Any,
                                                                 session_factory: Any) -> None:
    manager = session_factory()
    manager.login("manager")
    page = manager.page
    manager.goto("/accounts/new/")
    page.fill("input[name=name]", "福州闽江贸易有限公司")
    page.fill("input[name=credit_code]", WRONG_CHECK_CREDIT)
    manager.submit("form.guanxi-form button[type=submit]")
    error = page.locator("[data-testid=error-credit_code]")
    expect(error).to_be_visible()
    text = error.inner_text()
    assert HAN.search(text), f"credit code error not in Chinese: {text!r}"
    assert "统一社会信用代码" in text, text
    assert re.search(r"[A-Za-z]{4,}", text) is None, f"English words in the Chinese error: {text!r}"

    page.fill("input[name=credit_code]", VALID_CREDIT)
    manager.submit("form.guanxi-form button[type=submit]")
    assert re.search(r"/accounts/\d+/$", page.url), page.url
    expect(page.locator("h1")).to_contain_text("福州闽江贸易有限公司")
    account_url = page.url

    page.locator("[data-testid=history-tab]").click()
    history = page.locator("#tab-history [data-testid=history]")
    expect(history).to_be_visible()
    create_row = history.locator("tbody tr").filter(has_text="已创建")
    expect(create_row).to_have_count(1)
    expect(create_row).to_contain_text("刘洋")

    # The manager owns it: approving one's own record must not be offered (checked at the end,
    # so that the rest of the flow still runs when this fails).
    owner_approve_forms = page.locator("form[action$='/approve/']").count()

    gm = session_factory()
    gm.login("gm")
    gm.goto(account_url)
    badge = gm.page.locator("[data-testid=approval-state]")
    expect(badge).to_have_text("草稿")
    approve = gm.page.locator("form[action$='/approve/'] button")
    expect(approve).to_have_text("批准")
    gm.submit(approve)
    expect(badge).to_have_text("已批准")
    expect(badge).to_have_class(re.compile(r"\btext-bg-success\b"))
    expect(gm.page.locator("form[action$='/approve/']")).to_have_count(0)
    assert owner_approve_forms == 0, "the Approve button is offered to the account's owner (the manager)"


def test_no_console_errors_or_csp_violations_on_home_and_account_list(browser_org: Any, session: Any,
                                                                      account_factory: Any) -> None:
    account_factory(browser_org.salesperson, name="杭州西湖茶业有限公司")
    session.login("sales")
    for path in ("/", "/accounts/"):
        session.goto(path)
        session.page.wait_for_load_state("networkidle")
        assert session.csp_violations() == [], f"CSP violations on {path}: {session.csp_violations()}"
    # htmx filtering on the list runs too (a request from script, under the CSP).
    with session.page.expect_response(lambda r: "/accounts/?" in r.url):
        session.page.fill("input[name=q]", "西湖")
    expect(session.page.locator("#account-rows tbody tr")).to_have_count(1)
    assert session.csp_violations() == [], session.csp_violations()
    assert session.console_errors == [], (session.console_errors, session.failed_requests)
    assert session.failed_requests == [], session.failed_requests


COMPANIES = [
    ("深圳华兴科技有限公司", "广东 深圳"), ("上海浦江物流有限公司", "上海 浦东"),
    ("杭州西湖茶业有限公司", "浙江 杭州"), ("南京金陵机械制造有限公司", "江苏 南京"),
    ("苏州工业园区精密电子有限公司", "江苏 苏州"), ("宁波港城进出口贸易有限公司", "浙江 宁波"),
    ("无锡太湖新材料股份有限公司", "江苏 无锡"), ("合肥徽商医疗器械有限公司", "安徽 合肥"),
    ("厦门鹭岛食品有限公司", "福建 厦门"), ("福州闽江建材有限公司", "福建 福州"),
    ("常州龙城化工有限公司", "江苏 常州"), ("温州瓯越鞋业有限公司", "浙江 温州"),
    ("绍兴黄酒酿造有限公司", "浙江 绍兴"), ("嘉兴南湖纺织有限公司", "浙江 嘉兴"),
    ("扬州运河酒店管理有限公司", "江苏 扬州"), ("南通江海船舶配件有限公司", "江苏 南通"),
    ("上海申城广告传媒有限公司", "上海 徐汇"), ("昆山恒达模具有限公司", "江苏 昆山"),
    ("义乌小商品供应链有限公司", "浙江 义乌"), ("芜湖长江汽车零部件有限公司", "安徽 芜湖"),
    ("泉州晋江运动用品有限公司", "福建 泉州"), ("台州黄岩塑料制品有限公司", "浙江 台州"),
    ("上海张江生物医药有限公司", "上海 浦东"), ("镇江金山醋业有限公司", "江苏 镇江"),
    ("湖州丝绸之府家纺有限公司", "浙江 湖州"), ("徐州淮海工程机械有限公司", "江苏 徐州"),
    ("金华火腿食品有限公司", "浙江 金华"), ("连云港海洋渔业有限公司", "江苏 连云港"),
    ("上海外滩餐饮管理有限公司", "上海 黄浦"), ("舟山群岛海鲜贸易有限公司", "浙江 舟山"),
]


AREA_CODES = {
    "深圳": "0755", "浦东": "021", "杭州": "0571", "南京": "025", "苏州": "0512", "宁波": "0574", "无锡": "0510",
    "合肥": "0551", "厦门": "0592", "福州": "0591", "常州": "0519", "温州": "0577", "绍兴": "0575", "嘉兴": "0573",
    "扬州": "0514", "南通": "0513", "徐汇": "021", "昆山": "0512", "义乌": "0579", "芜湖": "0553", "泉州": "0595",
    "台州": "0576", "镇江": "0511", "湖州": "0572", "徐州": "0516", "金华": "0579", "连云港": "0518", "黄浦": "021",
    "舟山": "0580",
}


def test_account_list_screenshot(browser_org: Any, session_factory: Any, account_factory: Any) -> None:
    from guanxi.core.models import ApprovalState

    for i, (name, region) in enumerate(COMPANIES):
        area = AREA_CODES[region.split()[1]]
        number = f"{6 + i % 3}{(i * 7919 + 1234) % 10_000_000:07d}"[: 8 if len(area) == 3 else 7]
        state = ApprovalState.APPROVED if i % 3 == 0 else ApprovalState.DRAFT
        account_factory(browser_org.salesperson, name=name, region=region, phone=f"{area}-{number}",
                        approval_state=state)
    s = session_factory(viewport={"width": 1280, "height": 800})
    s.login("sales")
    s.goto("/accounts/")
    assert s.html_lang() == "zh-hans"
    expect(s.page.locator("#account-rows tbody tr")).to_have_count(len(COMPANIES))
    expect(s.page.locator("[data-testid=account-total]")).to_contain_text(str(len(COMPANIES)))
    s.page.wait_for_load_state("networkidle")
    if os.environ.get("GUANXI_SCREENSHOT") == "1":
        s.page.screenshot(path=str(SCREENSHOT))
