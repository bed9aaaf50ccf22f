"""Account list: filters, sort whitelist, saved views, bulk edit/tag, inline edit, API list."""

from __future__ import annotations

import pytest

from guanxi.core.errors import Forbidden
from guanxi.core.models import ApprovalPolicy, AuditEvent
from guanxi.customers.models import Account, Category, CustomField, SavedView, Tag
from guanxi.customers.services import lists as list_services

pytestmark = pytest.mark.django_db


def names(response) -> set[str]:
    return {a["name"] for a in response.json()["results"]}


@pytest.fixture
def book(org, account_factory):
    """Six accounts of the salesperson with distinct classifications, one hidden account."""
    parent = Category.objects.create(name="工商业")
    parent.path = f"/{parent.pk}/"
    parent.save()
    child = Category.objects.create(name="餐饮", parent=parent)
    child.path = f"{parent.path}{child.pk}/"
    child.save()
    CustomField.objects.create(key="channel", label="渠道", type="choice", choices=["线上", "线下"])
    CustomField.objects.create(key="staff", label="员工数", type="number")
    s = org.salesperson
    b = {
        "alpha": account_factory(s, name="甲公司", kind="enterprise", lifecycle="intent", province="广东省",
                                 city="深圳市", is_supplier=True, grade="A", category=child,
                                 custom={"channel": "线上", "staff": 120}),
        "beta": account_factory(s, name="乙公司", kind="individual", lifecycle="closed", province="浙江省",
                                relationship_type="partner", value_segment="value", urgency="urgent", grade="B",
                                is_foreign=True, custom={"channel": "线下", "staff": 7}),
        "gamma": account_factory(s, name="丙公司", lifecycle="lost", category=parent),
        "hidden": account_factory(org.outsider, name="外区公司", lifecycle="intent", grade="A"),
    }
    tag = Tag.objects.create(name="重点")
    b["alpha"].tags.add(tag)
    b["hidden"].tags.add(tag)
    b["child"], b["parent"] = child, parent
    return b


@pytest.mark.parametrize(("query", "expected"), [
    ({"kind": "individual"}, {"乙公司"}),
    ({"lifecycle": "intent"}, {"甲公司"}),
    ({"relationship_type": "partner"}, {"乙公司"}),
    ({"value_segment": "value"}, {"乙公司"}),
    ({"urgency": "urgent"}, {"乙公司"}),
    ({"grade": "A"}, {"甲公司"}),
    ({"province": "广东省", "city": "深圳市"}, {"甲公司"}),
    ({"role": "supplier"}, {"甲公司"}),
    ({"foreign": "1"}, {"乙公司"}),
    ({"tag": "重点"}, {"甲公司"}),
    ({"cf_channel": "线下"}, {"乙公司"}),
    ({"cf_staff": "120"}, {"甲公司"}),
    ({"q": "乙"}, {"乙公司"}),
    ({"q": "jia"}, {"甲公司"}),
])
def test_each_filter_in_the_api_and_the_page(org, api, login, book, query, expected):
    response = api(org.salesperson).get("/api/v1/accounts", query)
    assert response.status_code == 200, response.content
    assert names(response) == expected
    page = login(org.salesperson).get("/accounts/", query)
    assert page.status_code == 200
    html = page.content.decode()
    for name in {"甲公司", "乙公司", "丙公司"}:
        assert (f">{name}</a>" in html) == (name in expected), name
    assert "外区公司" not in html


def test_category_filter_includes_the_subtree(org, api, book):
    response = api(org.salesperson).get("/api/v1/accounts", {"category": book["parent"].pk})
    assert names(response) == {"甲公司", "丙公司"}
    assert names(api(org.salesperson).get("/api/v1/accounts", {"category": book["child"].pk})) == {"甲公司"}


def test_owner_filter_for_a_manager_and_counts_respect_access(org, login, api, book):
    assert names(api(org.manager).get("/api/v1/accounts", {"owner": org.salesperson.pk})) == {"甲公司", "乙公司", "丙公司"}
    assert names(api(org.salesperson).get("/api/v1/accounts", {"owner": org.outsider.pk})) == set()
    page = login(org.salesperson).get("/accounts/", {"lifecycle": "intent"})
    assert "1 account" in page.content.decode() or "1 个" in page.content.decode()


def test_bad_filters_are_refused_with_400(org, api, login, book):
    assert api(org.salesperson).get("/api/v1/accounts", {"cf_secret": "x"}).status_code == 400
    assert api(org.salesperson).get("/api/v1/accounts", {"lifecycle": "nonsense"}).status_code == 400
    assert login(org.salesperson).get("/accounts/", {"cf_secret": "x"}).status_code == 400
    # An inactive custom field can no longer be filtered on.
    CustomField.objects.filter(key="channel").update(active=False)
    assert api(org.salesperson).get("/api/v1/accounts", {"cf_channel": "线上"}).status_code == 400


def test_sort_whitelist(org, api, login, book):
    response = api(org.salesperson).get("/api/v1/accounts", {"ordering": "name"})
    assert [a["name"] for a in response.json()["results"]] == sorted(["甲公司", "乙公司", "丙公司"])
    assert api(org.salesperson).get("/api/v1/accounts", {"ordering": "owner__password"}).status_code == 400
    # The page ignores an unknown ordering instead of failing.
    assert login(org.salesperson).get("/accounts/", {"ordering": "owner__password"}).status_code == 200
    page = login(org.salesperson).get("/accounts/", {"ordering": "-grade"}).content.decode()
    assert page.index("乙公司") < page.index("甲公司") or page.index("甲公司") < page.index("乙公司")


def test_saved_views_are_per_user(org, api, login, book):
    client = login(org.salesperson)
    response = client.post("/accounts/views/", {"name": "意向客户", "query": "lifecycle=intent&page=3"})
    assert response.status_code == 302
    view = SavedView.objects.get(user=org.salesperson)
    assert view.params == {"lifecycle": "intent"}
    assert "lifecycle=intent" in response["Location"]
    assert "意向客户" in client.get("/accounts/").content.decode()
    # Another user neither sees nor deletes it.
    assert "意向客户" not in login(org.teammate).get("/accounts/").content.decode()
    assert api(org.teammate).get("/api/v1/saved-views").json() == []
    assert login(org.teammate).post(f"/accounts/views/{view.pk}/delete/").status_code == 404
    assert api(org.teammate).delete(f"/api/v1/saved-views/{view.pk}").status_code == 404
    assert SavedView.objects.filter(pk=view.pk).exists()
    # API: list, create, delete own.
    mine = api(org.salesperson)
    assert [v["name"] for v in mine.get("/api/v1/saved-views").json()] == ["意向客户"]
    created = mine.post("/api/v1/saved-views", {"name": "大客户", "params": {"grade": "A"}})
    assert created.status_code == 201, created.content
    assert mine.delete(f"/api/v1/saved-views/{created.json()['id']}").status_code == 204
    assert client.post(f"/accounts/views/{view.pk}/delete/").status_code == 302
    assert not SavedView.objects.filter(user=org.salesperson).exists()


def test_saved_view_with_a_bad_filter_is_refused(org, api, book):
    response = api(org.salesperson).post("/api/v1/saved-views", {"name": "x", "params": {"cf_nope": "1"}})
    assert response.status_code == 400
    assert not SavedView.objects.exists()


def test_bulk_edit_and_tag_with_audit_rows(org, api, book):
    ids = [book["alpha"].pk, book["beta"].pk, book["hidden"].pk]
    before = AuditEvent.objects.filter(content_type__model="account").count()
    response = api(org.salesperson).post("/api/v1/accounts/bulk-update", {
        "ids": ids, "urgency": "soon", "tags_add": ["华南", "重点"], "tags_remove": []})
    assert response.status_code == 200, response.content
    assert response.json() == {"updated": 2, "unchanged": 0, "skipped_approval": 0, "missing": 1}
    for key in ("alpha", "beta"):
        book[key].refresh_from_db()
        assert book[key].urgency == "soon"
        assert set(book[key].tags.values_list("name", flat=True)) == {"华南", "重点"}
    book["hidden"].refresh_from_db()
    assert book["hidden"].urgency == ""
    assert set(book["hidden"].tags.values_list("name", flat=True)) == {"重点"}
    # One update row for the field change and one for the tags, per record.
    assert AuditEvent.objects.filter(content_type__model="account").count() - before == 4


def test_bulk_edit_denied_changes_nothing(org, api, book):
    client = api(org.marketing)  # (creating the token writes its own audit row)
    before = list(Account.all_objects.order_by("pk").values_list("pk", "version", "urgency"))
    audits = AuditEvent.objects.count()
    response = client.post("/api/v1/accounts/bulk-update", {"ids": [book["alpha"].pk], "urgency": "soon"})
    assert response.status_code == 403
    with pytest.raises(Forbidden):
        list_services.account_bulk_update(actor=org.marketing, ids=[book["alpha"].pk], changes={"urgency": "soon"})
    assert list(Account.all_objects.order_by("pk").values_list("pk", "version", "urgency")) == before
    assert AuditEvent.objects.count() == audits


def test_bulk_edit_skips_approved_accounts_under_a_policy(org, login, book):
    ApprovalPolicy.objects.update_or_create(model="customers.account", defaults={"enabled": True})
    Account.objects.filter(pk=book["alpha"].pk).update(approval_state="approved")
    client = login(org.salesperson)
    response = client.post("/accounts/bulk/", {"action": "edit", "ids": [book["alpha"].pk, book["beta"].pk],
                                               "lifecycle": "closed", "next": "/accounts/"}, follow=True)
    assert response.status_code == 200
    book["alpha"].refresh_from_db()
    assert book["alpha"].lifecycle == "intent"
    assert "1" in response.content.decode()
    book["beta"].refresh_from_db()
    assert book["beta"].lifecycle == "closed"


def test_inline_edit_saves_and_a_stale_version_gets_409(org, login, book):
    client = login(org.salesperson)
    account = book["alpha"]
    form = client.get(f"/accounts/{account.pk}/inline/lifecycle/", {"version": account.version})
    assert form.status_code == 200 and 'name="value"' in form.content.decode()
    ok = client.post(f"/accounts/{account.pk}/inline/lifecycle/", {"value": "closed", "version": account.version})
    assert ok.status_code == 200
    assert "account-row-" in ok.content.decode()
    account.refresh_from_db()
    assert account.lifecycle == "closed"
    stale = client.post(f"/accounts/{account.pk}/inline/urgency/", {"value": "soon", "version": account.version - 1})
    assert stale.status_code == 409
    assert stale["HX-Retarget"] == f"#cell-{account.pk}-urgency"
    account.refresh_from_db()
    assert account.urgency == ""
    assert client.get(f"/accounts/{account.pk}/inline/owner/").status_code == 404
    assert client.get(f"/accounts/{book['hidden'].pk}/inline/phone/").status_code == 404


def test_list_page_renders_filters_and_bulk_panel(org, login, book):
    html = login(org.manager).get("/accounts/").content.decode()
    for marker in ('name="lifecycle"', 'name="cf_channel"', 'id="bulk-form"', 'data-bulk-all', 'name="owner"',
                   'data-testid="sort-name"', "guanxi/lists.js"):
        assert marker in html, marker
    htmx = login(org.salesperson).get("/accounts/", {"lifecycle": "intent"}, HTTP_HX_REQUEST="true")
    assert "<html" not in htmx.content.decode() and "甲公司" in htmx.content.decode()


def test_contact_list_page_and_api_filters(org, login, api, book):
    from guanxi.customers.services import contact_create

    contact_create(actor=org.salesperson, account=book["alpha"], name="王经理", mobile="13812345678",
                   depth="friend", role="handler")
    contact_create(actor=org.salesperson, account=book["beta"], name="赵总", depth="confidant", role="principal")
    contact_create(actor=org.outsider, account=book["hidden"], name="外人")
    page = login(org.salesperson).get("/accounts/contacts/", {"q": "1381234"}).content.decode()
    assert "王经理" in page and "赵总" not in page and "外人" not in page
    client = api(org.salesperson)
    assert {c["name"] for c in client.get("/api/v1/contacts", {"depth": "confidant"}).json()["results"]} == {"赵总"}
    assert {c["name"] for c in client.get("/api/v1/contacts", {"role": "handler"}).json()["results"]} == {"王经理"}
    ordered = client.get("/api/v1/contacts", {"ordering": "name"}).json()["results"]
    assert [c["name"] for c in ordered] == sorted(["王经理", "赵总"])
    assert client.get("/api/v1/contacts", {"ordering": "password"}).status_code == 400
    assert client.get("/api/v1/contacts", {"depth": "bogus"}).status_code == 400


def test_global_search_box_goes_to_the_account_list(org, login):
    html = login(org.salesperson).get("/").content.decode()
    assert 'data-testid="global-search"' in html and 'action="/accounts/"' in html



def test_bulk_reassign_is_for_managers(org, login, book):
    ids = [book["alpha"].pk, book["beta"].pk]
    denied = login(org.salesperson).post("/accounts/bulk/", {"action": "reassign", "ids": ids,
                                                             "to_user": org.teammate.pk, "next": "/accounts/"})
    assert denied.status_code == 302
    assert set(Account.objects.filter(pk__in=ids).values_list("owner_id", flat=True)) == {org.salesperson.pk}
    ok = login(org.manager).post("/accounts/bulk/", {"action": "reassign", "ids": ids, "to_user": org.teammate.pk,
                                                     "reason": "调岗", "next": "/accounts/"})
    assert ok.status_code == 302
    assert set(Account.objects.filter(pk__in=ids).values_list("owner_id", flat=True)) == {org.teammate.pk}
