"""The account list API's pages: the JSON is exactly what AccountOut and ninja's cursor
pagination give for the same accounts, in a fixed number of queries."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from ninja.pagination import CursorPagination
from ninja.responses import NinjaJSONEncoder

from guanxi.core.models import User
from guanxi.customers import selectors
from guanxi.customers.api import AccountOut
from guanxi.customers.models import Category, Tag
from guanxi.customers.selectors import lists as lists_reads

pytestmark = pytest.mark.django_db

PagedAccountOut = type("PagedAccountOut", (CursorPagination.Output,), {"__annotations__": {"results": list[AccountOut]}})


@pytest.fixture
def accounts(org: Any, account_factory: Any) -> dict[str, Any]:
    """Accounts with every kind of value the list shows: tags (out of order), custom fields,
    a score and none, dates with and without microseconds, no owner, an owner without a name,
    ties in name and grade (the cursor's offset), a category."""
    category = Category.objects.create(name="制造业")
    category.path = f"/{category.pk}/"
    category.save()
    tags = {name: Tag.objects.create(name=name) for name in ("乙", "甲", "b", "A", "重点")}
    nameless = User.objects.create_user(username="nameless", department=org.east)
    nameless.roles.set(org.salesperson.roles.all())
    at = timezone.now().replace(microsecond=123456)
    made = {
        "full": account_factory(org.salesperson, name="甲公司", grade="A", score=Decimal("85.50"), category=category,
                                custom={"channel": "线上", "staff": 120, "nested": {"a": [1, 2]}},
                                founded_on=dt.date(2001, 2, 3), rated_at=at, last_activity_at=at.replace(microsecond=0),
                                pool_entered_at=at, pool_notice_at=at, phone="13800138000", notes="多行\n备注"),
        "twin1": account_factory(org.salesperson, name="同名公司", grade="B", score=Decimal("0.00")),
        "twin2": account_factory(org.salesperson, name="同名公司", grade="B"),
        "twin3": account_factory(org.teammate, name="同名公司", grade="B", is_foreign=True, kind="individual"),
        "nameless": account_factory(nameless, name="无名之辈公司", grade="C"),
        "orphan": account_factory(None, name="无主公司", grade="D"),
        "hidden": account_factory(org.outsider, name="外区公司", grade="A"),
    }
    made["full"].tags.add(tags["乙"], tags["甲"], tags["b"], tags["A"])
    made["twin2"].tags.add(tags["重点"])
    made["hidden"].tags.add(tags["重点"])
    for i in range(4):
        account_factory(org.salesperson, name=f"普通公司{i}", grade="B")
    return made


def reference_body(user: Any, path: str) -> bytes:
    """What the list answered before it was read as rows: ninja's cursor pagination over the
    account instances (tags prefetched), validated and dumped by AccountOut, rendered by ninja."""
    request = RequestFactory().get(path)
    request.user = user
    filters = lists_reads.parse_filters(user, request.GET)
    filters.pop("ordering", None)
    queryset = selectors.account_list_for(user, **filters).prefetch_related("tags")
    ordering = request.GET.get("ordering") or "-id"
    keys = (ordering,) if ordering.lstrip("-") == "id" else (ordering, "-id")
    if request.GET.get("q", "").strip() and not request.GET.get("ordering"):
        keys = ("rank", "-id")
    pager = CursorPagination(ordering=keys, page_size=50, max_page_size=200)
    params = CursorPagination.Input(page_size=request.GET.get("page_size"), cursor=request.GET.get("cursor"))
    page = pager.paginate_queryset(queryset, params, request)
    page["results"] = list(page["results"])
    return json.dumps(PagedAccountOut.model_validate(page).model_dump(), cls=NinjaJSONEncoder).encode()


def walk(client: Any, user: Any, path: str) -> list[int]:
    """Follow ``next`` from ``path`` to the end, comparing every page; return the ids seen."""
    seen: list[int] = []
    for _ in range(20):
        response = client.get(path)
        assert response.status_code == 200, response.content
        assert response.content == reference_body(user, path), path
        body = response.json()
        seen += [row["id"] for row in body["results"]]
        if not body["next"]:
            return seen
        path = body["next"].split("testserver", 1)[1]
    raise AssertionError("the cursor never ended")


@pytest.mark.parametrize("query", [
    {},
    {"page_size": 2},
    {"page_size": 2, "ordering": "name"},
    {"page_size": 3, "ordering": "-grade"},
    {"page_size": 2, "ordering": "updated_at"},
    {"page_size": 2, "ordering": "-code"},
    {"page_size": 2, "q": "公司"},
    {"page_size": 1, "q": "同名"},
    {"grade": "B", "page_size": 2},
    {"tag": "重点"},
])
@pytest.mark.parametrize("role", ["salesperson", "manager", "gm"])
def test_every_page_is_the_schemas_json_byte_for_byte(org, api, accounts, role, query):
    user = getattr(org, role)
    client = api(user).client
    seen = walk(client, user, "/api/v1/accounts?" + urlencode(query))
    assert seen and len(seen) == len(set(seen))
    if not {"q", "grade", "tag"} & set(query):  # the whole list: scoped exactly as before
        assert set(seen) == set(selectors.account_scope(user).values_list("id", flat=True))
        assert (accounts["hidden"].pk in seen) == (accounts["orphan"].pk in seen) == (role == "gm")


def test_the_previous_link_pages_back_the_same_way(org, api, accounts):
    client = api(org.salesperson).client
    first = client.get("/api/v1/accounts?page_size=2&ordering=name").json()
    second_path = first["next"].split("testserver", 1)[1]
    second = client.get(second_path).json()
    back_path = second["previous"].split("testserver", 1)[1]
    back = client.get(back_path)
    assert back.content == reference_body(org.salesperson, back_path)
    assert [r["id"] for r in back.json()["results"]] == [r["id"] for r in first["results"]]


def test_tags_owner_names_and_values_come_out_as_the_schema_gives_them(org, api, accounts):
    rows = {r["id"]: r for r in api(org.gm).get("/api/v1/accounts").json()["results"]}
    full = rows[accounts["full"].pk]
    assert full["tags"] == list(Tag.objects.filter(name__in=["乙", "甲", "b", "A"]).order_by("name")
                                .values_list("name", flat=True))
    assert full["score"] == "85.50" and full["custom"]["nested"] == {"a": [1, 2]}
    assert full["founded_on"] == "2001-02-03" and full["category"] == accounts["full"].category_id
    assert rows[accounts["nameless"].pk]["owner_name"] == "nameless"
    assert rows[accounts["orphan"].pk]["owner"] is None and rows[accounts["orphan"].pk]["owner_name"] is None
    assert rows[accounts["twin2"].pk]["tags"] == ["重点"] and rows[accounts["twin1"].pk]["tags"] == []
    assert list(full) == list(AccountOut.model_fields)


def test_the_list_asks_the_same_few_queries_whatever_the_page_holds(org, api, accounts, account_factory):
    client = api(org.salesperson).client
    client.get("/api/v1/accounts?page_size=2")  # the token's first use writes its last-used time

    def count(path: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200
        return len(ctx.captured_queries)

    small = count("/api/v1/accounts?page_size=2")
    tag = Tag.objects.get(name="重点")
    for i in range(30):
        account_factory(org.salesperson, name=f"新公司{i}").tags.add(tag)
    # token and user, roles, the team's reach, the page, its tags
    assert count("/api/v1/accounts?page_size=50") == small == 5


def test_an_empty_list_answers_an_empty_page(org, api):
    response = api(org.salesperson).get("/api/v1/accounts")
    assert response.status_code == 200
    assert response.content == reference_body(org.salesperson, "/api/v1/accounts")
    assert response.json() == {"previous": None, "next": None, "results": []}


def test_the_schema_still_describes_a_cursor_page_of_accounts(org, client):
    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/accounts"]["get"]
    assert {"cursor", "page_size", "q", "ordering"} <= {p["name"] for p in operation["parameters"]}
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    paged = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert ref.endswith("/PagedAccountOut") and set(paged["properties"]) == {"previous", "next", "results"}
    assert paged["properties"]["results"]["items"]["$ref"].endswith("/AccountOut")
