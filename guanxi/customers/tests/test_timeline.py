"""The account timeline: history, ratings and ownership moves of an account and its people, newest first."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from guanxi.customers import services
from guanxi.customers.models import AccountRating, OwnershipChange
from guanxi.customers.selectors.timeline import account_timeline

pytestmark = pytest.mark.django_db


def test_timeline_merges_every_source_newest_first(org: Any) -> None:
    account = services.account_create(actor=org.salesperson, name="厦门海天贸易有限公司")
    services.account_update(actor=org.salesperson, account=account, changes={"phone": "0592-5551234"},
                            expected_version=account.version)
    services.contact_create(actor=org.salesperson, account=account, name="林晓")
    AccountRating.objects.create(account=account, score=88, grade="A", previous_grade="B",
                                 rated_at=timezone.now() + dt.timedelta(minutes=1))

    items = account_timeline(org.salesperson, account)

    kinds = [item.kind for item in items]
    assert kinds[0] == "rating"  # the newest
    assert {"history", "rating", "ownership"} <= set(kinds)
    assert [item.at for item in items] == sorted((item.at for item in items), reverse=True)
    titles = " ".join(item.title for item in items)
    assert "B → A" in titles and "林晓" in titles
    created = [i for i in items if i.kind == "ownership"]
    assert created and created[0].actor == str(org.salesperson)


def test_timeline_keeps_only_the_newest_items(org: Any, account_factory: Any) -> None:
    account = account_factory(owner=org.salesperson)
    start = timezone.now() - dt.timedelta(days=100)
    AccountRating.objects.bulk_create([
        AccountRating(account=account, score=50 + i % 40, grade="C", rated_at=start + dt.timedelta(days=i))
        for i in range(80)])
    OwnershipChange.objects.create(account=account, to_user=org.salesperson, kind="reassigned", at=start)

    items = account_timeline(org.salesperson, account, limit=50)

    assert len(items) == 50
    assert items[-1].at == start + dt.timedelta(days=30)  # the 50 newest of 80 ratings; the old move drops out


def test_account_page_shows_the_timeline_in_few_queries(org: Any, login: Any, account_factory: Any,
                                                        django_assert_max_num_queries: Any) -> None:
    account = account_factory(owner=org.salesperson)
    for i in range(30):
        AccountRating.objects.create(account=account, score=60, grade="B", note=f"第{i}次")
    client = login(org.salesperson)
    # The page leaves the Timeline tab to its fragment, which the tab fetches when opened.
    page = client.get(f"/accounts/{account.pk}/").content.decode()
    assert 'data-kind="rating"' not in page
    assert f'hx-get="/accounts/{account.pk}/timeline/"' in page
    client.get(f"/accounts/{account.pk}/timeline/", HTTP_HX_REQUEST="true")  # warm caches (content types)
    with django_assert_max_num_queries(15):
        response = client.get(f"/accounts/{account.pk}/timeline/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.content.decode().count('data-kind="rating"') == 30


def test_timeline_tab_escapes_what_people_typed_and_shows_local_time(org: Any, login: Any,
                                                                     account_factory: Any) -> None:
    import datetime as dt

    account = account_factory(owner=org.salesperson)
    AccountRating.objects.create(account=account, score=60, grade="B", note="<b>注意</b>",
                                 rated_at=dt.datetime(2026, 1, 1, 0, 30, tzinfo=dt.UTC))
    body = login(org.salesperson).get(f"/accounts/{account.pk}/timeline/", HTTP_HX_REQUEST="true").content.decode()
    item = body[body.index('data-kind="rating"'):]
    item = item[:item.index("</li>")]
    assert "&lt;b&gt;注意&lt;/b&gt;" in item and "<b>" not in item
    assert "2026-01-01 08:30" in item  # Asia/Shanghai
    empty = login(org.salesperson).get(f"/accounts/{account_factory(owner=org.salesperson).pk}/timeline/",
                                       HTTP_HX_REQUEST="true").content.decode()
    assert "暂无动态。" in empty and "data-kind" not in empty  # nothing happened to a fresh account
