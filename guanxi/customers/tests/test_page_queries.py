"""Query budgets of the account list and the account 360 page (BENCHMARKS.md: no page issues
more than 15 queries, none grows with the page size). Timing lives in bench/; these guard
the number of queries, so an N+1 or a duplicated read fails here first."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from guanxi.core.models import User
from guanxi.customers import services
from guanxi.customers.models import (
    Account,
    AccountAttachment,
    AccountRating,
    Category,
    CustomField,
    MergeRecord,
    OwnershipChange,
    Tag,
)

pytestmark = pytest.mark.django_db

LIST_BUDGET = 15
# The 360 page shows the header, the figures, the profile and the people: the session, the
# user, the user's roles, the access scope (one query), the account with its tags, pending
# change requests, the people, the notification badge; contact and follow-up adds its tab's
# interactions and follow-ups, sales the customer's figures (one row). The Timeline, Rating,
# Ownership, Files and History tabs, and the tabs of sales, service and surveys, load on
# demand and cost nothing here.
DETAIL_BUDGET = 15
# Each tab that loads after the page is a request of its own and keeps the same rule.
PART_BUDGET = 15
PARTS = ("timeline", "rating", "ownership", "files", "history")
HTMX = {"HTTP_HX_REQUEST": "true"}


def queries(client: Any, path: str, data: dict[str, str] | None = None, **extra: Any) -> int:
    client.get(path, data, **extra)  # warm: content types, session, the language
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path, data, **extra)
    assert response.status_code == 200, path
    return len(ctx.captured_queries)


@pytest.mark.parametrize("who", ["salesperson", "manager", "gm"])
def test_account_list_stays_within_budget_and_does_not_grow_with_the_rows(
        org: Any, login: Any, account_factory: Any, who: str) -> None:
    user = getattr(org, who)
    CustomField.objects.create(target="account", key="channel", label="渠道", type="choice", choices=["线上", "线下"])
    Category.objects.create(name="制造业", path="/")
    account_factory(org.salesperson)
    client = login(user)
    one = queries(client, "/accounts/")
    for i in range(59):  # more than a page (50): a full first page and a second page
        account_factory([org.salesperson, org.teammate, org.sub_sales][i % 3], lifecycle="intent", urgency="soon")
    many = queries(client, "/accounts/")
    second = queries(client, "/accounts/?page=2")
    filtered = queries(client, "/accounts/", {"lifecycle": "intent", "cf_channel": "线上", "ordering": "name"})
    assert many == one == second, (one, many, second)
    assert max(many, filtered) <= LIST_BUDGET, (many, filtered)


def test_account_list_rows_keep_their_inline_edit_links_and_labels(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson, lifecycle="intent", urgency="soon", phone="021-5555<1>")
    body = login(User.objects.get(pk=org.salesperson.pk)).get("/accounts/").content.decode()
    row = body[body.index(f'id="account-row-{account.pk}"'):]
    row = row[:row.index("</tr>")]
    for marker in (f'data-testid="inline-urgency-{account.pk}"', f'hx-get="/accounts/{account.pk}/inline/phone/?version=',
                   f'hx-target="#cell-{account.pk}-lifecycle"', "021-5555&lt;1&gt;", str(org.salesperson.name),
                   f'href="/accounts/{account.pk}/"'):
        assert marker in row, marker
    assert "<1>" not in row  # escaped
    # Marketing may read accounts but not change them: plain cells, no inline editor.
    plain = login(org.marketing).get("/accounts/?q=021").content.decode()
    assert f'id="cell-{account.pk}-urgency"' not in plain or "inline-urgency" not in plain
    assert "inline-" not in plain


def test_htmx_rows_of_the_list_cost_no_more_than_the_page(org: Any, login: Any, account_factory: Any) -> None:
    for _ in range(55):
        account_factory(org.salesperson)
    client = login(org.manager)
    client.get("/accounts/", HTTP_HX_REQUEST="true")
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/accounts/?page=2", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.content.decode().count('data-testid="account-row"') == 5
    assert len(ctx.captured_queries) <= LIST_BUDGET - 5  # no filter bar: fewer than the full page


def _busy_account(org: Any, account: Account) -> None:
    """Give ``account`` a long life: ratings, ownership moves, people, tags, files, merges, history."""
    start = timezone.now() - dt.timedelta(days=400)
    AccountRating.objects.bulk_create([
        AccountRating(account=account, score=50 + i, grade="C" if i % 2 else "B", previous_grade="B" if i % 2 else "C",
                      rated_at=start + dt.timedelta(days=7 * i), rated_by=org.manager if i % 2 else None,
                      note=f"第{i}次")
        for i in range(40)])
    OwnershipChange.objects.bulk_create([
        OwnershipChange(account=account, from_user=org.teammate if i % 2 else org.salesperson,
                        to_user=org.salesperson if i % 2 else org.teammate, actor=org.manager, kind="reassigned",
                        reason=f"调整{i}", at=start + dt.timedelta(days=9 * i))
        for i in range(12)])
    for i in range(6):
        services.contact_create(actor=org.salesperson, account=account, name=f"联系人{i}", mobile=f"1380000000{i}")
    account.tags.add(*[Tag.objects.create(name=f"标签{i}") for i in range(4)])
    parent = Category.objects.create(name="工商业", path="/")
    parent.path = f"/{parent.pk}/"
    parent.save()
    child = Category.objects.create(name="餐饮", parent=parent, path=f"/{parent.pk}/")
    child.path = f"/{parent.pk}/{child.pk}/"
    child.save()
    for i in range(5):
        fresh = Account.objects.get(pk=account.pk)
        services.account_update(actor=org.salesperson, account=fresh, changes={"phone": f"0571-8888{i:04d}"},
                                expected_version=fresh.version)
    Account.objects.filter(pk=account.pk).update(category=child, grade="B", score=70)
    for i in range(3):
        AccountAttachment.objects.create(account=account, kind="other", file=f"attachments/x{i}.pdf",
                                         original_name=f"合同{i}.pdf", content_type="application/pdf", size=100,
                                         uploaded_by=org.salesperson)
    for i in range(3):
        MergeRecord.objects.create(target="account", kept_id=account.pk, merged_id=10_000 + i, actor=org.manager,
                                   before={"name": f"旧公司{i}", "code": f"KH-{i}", "version": 1})
    CustomField.objects.create(target="account", key="channel", label="渠道", type="text")


@pytest.mark.parametrize("who", ["salesperson", "manager", "gm"])
def test_account_page_stays_within_budget_however_long_the_accounts_life(
        org: Any, login: Any, account_factory: Any, who: str) -> None:
    user = getattr(org, who)
    quiet = account_factory(org.salesperson)
    busy = account_factory(org.salesperson)
    _busy_account(org, busy)
    client = login(user)
    few = queries(client, f"/accounts/{quiet.pk}/")
    many = queries(client, f"/accounts/{busy.pk}/")
    # A category two levels deep, tags, 40 ratings, 12 moves, 6 people, files, merges, history:
    # at most one more query than an account with nothing (its custom fields' definitions).
    assert many <= few + 1, (few, many)
    assert many <= DETAIL_BUDGET, many
    body = client.get(f"/accounts/{busy.pk}/").content.decode()
    assert body.count("联系人") >= 6 and 'data-testid="ratings"' not in body  # the people; not the rating tab
    for part in PARTS:
        few = queries(client, f"/accounts/{quiet.pk}/{part}/", **HTMX)
        many = queries(client, f"/accounts/{busy.pk}/{part}/", **HTMX)
        assert many <= few + 1, (part, few, many)
        assert many <= PART_BUDGET, (part, many)
    rating = client.get(f"/accounts/{busy.pk}/rating/", **HTMX).content.decode()
    assert "第0次" in rating and "第39次" in rating and "工商业 → 餐饮" in rating  # the ratings table, the path
    assert "合同2.pdf" in client.get(f"/accounts/{busy.pk}/files/", **HTMX).content.decode()
    assert "旧公司2" in client.get(f"/accounts/{busy.pk}/history/", **HTMX).content.decode()
    assert "调整11" in client.get(f"/accounts/{busy.pk}/ownership/", **HTMX).content.decode()
    assert 'data-kind="rating"' in client.get(f"/accounts/{busy.pk}/timeline/", **HTMX).content.decode()


def test_account_page_reads_each_shared_record_once(org: Any, login: Any, account_factory: Any) -> None:
    """Ratings, ownership moves, grades and tags feed several tabs: one query each, on the page
    and in each tab that loads after it."""
    account = account_factory(org.salesperson)
    _busy_account(org, account)
    client = login(org.manager)
    reads: dict[str, list[str]] = {}
    for path, extra in [(f"/accounts/{account.pk}/", {}),
                        *[(f"/accounts/{account.pk}/{part}/", HTMX) for part in PARTS]]:
        client.get(path, **extra)
        with CaptureQueriesContext(connection) as ctx:
            client.get(path, **extra)
        reads[path] = sql = [q["sql"] for q in ctx.captured_queries]
        for table in ("customers_accountrating", "customers_ownershipchange", "customers_grade", "customers_tag",
                      "customers_customfield", "core_department", "core_role"):
            hits = [s for s in sql if f'FROM "{table}"' in s]
            assert len(hits) <= 1, (path, table, hits)
    page = reads[f"/accounts/{account.pk}/"]
    assert len([s for s in page if s.startswith('SELECT "customers_contact"')]) == 1  # the people tab
    # The tabs that load later are not read by the page.
    for table in ("customers_accountrating", "customers_ownershipchange", "customers_accountattachment",
                  "customers_mergerecord", "core_auditevent", "customers_poolsettings"):
        assert not [s for s in page if f'FROM "{table}"' in s], table
    rating = reads[f"/accounts/{account.pk}/rating/"]
    for table in ("customers_accountrating", "customers_grade", "customers_tag"):
        assert [s for s in rating if f'FROM "{table}"' in s], table


def test_account_page_leaves_each_later_tab_a_loader_and_a_plain_link(org: Any, login: Any,
                                                                      account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    body = login(org.salesperson).get(f"/accounts/{account.pk}/").content.decode()
    for part in PARTS:
        url = f"/accounts/{account.pk}/{part}/"
        pane = body[body.index(f'id="tab-{part}"'):]
        pane = pane[:pane.index("</div>")]
        assert f'hx-get="{url}"' in pane and 'hx-trigger="intersect once"' in pane, part
        assert f'href="{url}"' in pane, part  # without JavaScript: the tab on a page of its own
        # The tab itself is a link to the same page (Bootstrap keeps it in place when scripts run).
        assert f'<a class="nav-link" href="{url}" data-bs-toggle="tab" data-bs-target="#tab-{part}" ' \
               f'data-testid="{part}-tab">' in body, part
    assert "<noscript><style>.tab-content > .tab-pane { display: block;" in body  # no JavaScript: every pane


@pytest.mark.parametrize("part", PARTS)
def test_a_later_tab_without_htmx_is_a_whole_page_and_with_htmx_only_the_pane(
        org: Any, login: Any, account_factory: Any, part: str) -> None:
    account = account_factory(org.salesperson, name="杭州西湖茶叶有限公司")
    _busy_account(org, account)
    client = login(org.manager)
    whole = client.get(f"/accounts/{account.pk}/{part}/")
    pane = client.get(f"/accounts/{account.pk}/{part}/", **HTMX)
    assert whole.status_code == pane.status_code == 200
    whole_html, pane_html = whole.content.decode(), pane.content.decode()
    assert "<html" in whole_html and "<html" not in pane_html
    assert f'href="/accounts/{account.pk}/"' in whole_html and "杭州西湖茶叶有限公司" in whole_html  # back to the account
    marker = {"timeline": 'data-testid="timeline"', "rating": 'data-testid="rating-panel"',
              "ownership": 'data-testid="ownership-panel"', "files": 'data-testid="files-panel"',
              "history": 'data-testid="history"'}[part]
    assert marker in whole_html and marker in pane_html
