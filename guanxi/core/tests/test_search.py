"""Search: Chinese substrings, short names, pinyin and initials, phone digits, codes."""

from __future__ import annotations

from typing import Any

import pytest

from guanxi.core import search
from guanxi.core.services import records
from guanxi.customers import services

pytestmark = pytest.mark.django_db


def test_search_text_holds_name_pinyin_initials_digits_and_codes():
    text = search.build(names=["中石化深圳有限公司"], phones=["0755-8888 1234"], codes=["KH-2026-000001"])
    for needle in ["中石化深圳有限公司", "zhongshihuashenzhen", "zshsz", "075588881234", "kh-2026-000001"]:
        assert needle in text
    assert search.normalise("ＺＳＨ ") == "zsh"  # full-width and spaces typed on a phone keyboard


def make(org, name, **fields):
    return services.account_create(actor=org.salesperson, name=name, **fields)


@pytest.mark.parametrize("query", ["中石化", "石化", "zsh", "ZSH", "zhongshihua", "13812345678"[-4:], "91350100M000100Y43"])
def test_api_search_finds_the_account_by_what_users_type(org, api, query):
    target = make(org, "中石化福建有限公司", phone="13812345678", credit_code="91350100M000100Y43")
    make(org, "华为技术有限公司")
    results = api(org.salesperson).get("/api/v1/accounts", {"q": query}).json()["results"]
    assert [r["id"] for r in results] == [target.pk]


def test_search_text_follows_edits_and_stays_scoped(org, api, account_factory):
    account = make(org, "东方电气有限公司")
    records.record_update(actor=org.salesperson, obj=account, changes={"name": "西部矿业有限公司"},
                          expected_version=account.version)
    sales = api(org.salesperson)
    assert sales.get("/api/v1/accounts", {"q": "xbky"}).json()["results"][0]["id"] == account.pk
    assert sales.get("/api/v1/accounts", {"q": "dfdq"}).json()["results"] == []
    assert api(org.outsider).get("/api/v1/accounts", {"q": "xbky"}).json()["results"] == []


def test_html_list_search_uses_the_same_selector(org, login):
    make(org, "重庆银行股份有限公司")
    page = login(org.salesperson).get("/accounts/", {"q": "cqyh"}).content.decode()
    assert "重庆银行股份有限公司" in page


def test_sqlite_search_uses_the_trigram_index_and_stays_in_step(org, api):
    """On SQLite the FTS5 table answers needles of 3+ characters and follows every write."""
    from django.db import connection

    from guanxi.customers import selectors

    if connection.vendor != "sqlite" or not selectors._fts_table_exists():
        pytest.skip("the FTS5 trigram table exists on SQLite only")
    account = make(org, "宁波港集团有限公司")
    sql = str(selectors.account_list_for(org.salesperson, q="nbg").query)
    assert "customers_account_search" in sql
    sales = api(org.salesperson)
    assert [r["id"] for r in sales.get("/api/v1/accounts", {"q": "nbg"}).json()["results"]] == [account.pk]
    records.record_update(actor=org.salesperson, obj=account, changes={"name": "舟山港有限公司"},
                          expected_version=account.version)
    assert sales.get("/api/v1/accounts", {"q": "nbg"}).json()["results"] == []
    assert [r["id"] for r in sales.get("/api/v1/accounts", {"q": "zsg"}).json()["results"]] == [account.pk]
    assert [r["id"] for r in sales.get("/api/v1/accounts", {"q": 'a"b'}).json()["results"]] == []  # quotes are data


def test_searching_a_person_finds_their_company_and_follows_contact_changes(org, api):
    account = make(org, "厦门航空有限公司")
    sales = api(org.salesperson)
    created = sales.post("/api/v1/contacts", {"account": account.pk, "name": "欧阳明"})
    assert created.status_code == 201
    assert [r["id"] for r in sales.get("/api/v1/accounts", {"q": "oym"}).json()["results"]] == [account.pk]
    contact_id = created.json()["id"]
    renamed = sales.patch(f"/api/v1/contacts/{contact_id}", {"version": 1, "name": "司马光"})
    assert renamed.status_code == 200
    assert sales.get("/api/v1/accounts", {"q": "oym"}).json()["results"] == []
    assert [r["id"] for r in sales.get("/api/v1/accounts", {"q": "smg"}).json()["results"]] == [account.pk]
    manager = api(org.manager)
    assert manager.delete(f"/api/v1/contacts/{contact_id}").status_code == 204
    assert manager.get("/api/v1/accounts", {"q": "smg"}).json()["results"] == []
    assert manager.post(f"/api/v1/recycle-bin/customers.contact/{contact_id}/restore", {}).status_code == 200
    assert [r["id"] for r in manager.get("/api/v1/accounts", {"q": "smg"}).json()["results"]] == [account.pk]


def test_search_results_come_best_match_first_and_page_through_the_cursor(org: Any, api: Any,
                                                                          account_factory: Any) -> None:
    """The exact name first, then names starting with what was typed or a whole pinyin/initials
    part equal to it, then the rest; an explicit sort still wins."""
    from guanxi.customers.services import account_refresh_search

    names = ["北京中石化配套服务有限公司", "中石化", "中石化华东销售有限公司", "上海中石化加油站管理有限公司"]
    made = {}
    for name in names:
        account = account_factory(org.salesperson, name=name)
        account_refresh_search(account)
        made[name] = account.pk
    client = api(org.salesperson)

    got = [row["name"] for row in client.get("/api/v1/accounts", {"q": "中石化"}).json()["results"]]
    assert got[:2] == ["中石化", "中石化华东销售有限公司"]
    assert set(got[2:]) == {"北京中石化配套服务有限公司", "上海中石化加油站管理有限公司"}

    assert client.get("/api/v1/accounts", {"q": "zsh"}).json()["results"][0]["name"] == "中石化"

    pages, path = [], "/api/v1/accounts?q=%E4%B8%AD%E7%9F%B3%E5%8C%96&page_size=1"
    while path:
        body = client.get(path).json()
        pages += [row["name"] for row in body["results"]]
        path = body["next"].split("testserver", 1)[-1] if body["next"] else None
    assert pages == got  # the cursor walks the ranked order, each once

    by_id = [row["id"] for row in client.get("/api/v1/accounts", {"q": "中石化", "ordering": "id"}).json()["results"]]
    assert by_id == sorted(made.values())


@pytest.mark.parametrize("text", ["上海甲乙贸易有限公司", "ＡＢＣ　咨询", "中国银行股份", "重庆长安汽车", "导入测试1-19999号贸易",
                                  "〇号工作室", "厦门·鼓浪屿 文化传媒", "长沙行长银行", "𠀀字公司", "欧阳娜娜"])
def test_cached_pinyin_forms_are_pypinyins_own(text: str) -> None:
    from pypinyin import Style, lazy_pinyin

    for _round in range(2):  # the second time from the caches
        assert search.pinyin_forms(text) == ["".join(lazy_pinyin(text)),
                                             "".join(lazy_pinyin(text, style=Style.FIRST_LETTER))]
