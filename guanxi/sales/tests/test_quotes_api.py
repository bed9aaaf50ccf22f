"""The quotes API (`/api/v1/quotes`): create with lines, Idempotency-Key, patch with version,
lines, approval, sending, documents; scoped (hidden → 404) and refused without the right."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from guanxi.core.models import User
from guanxi.sales.models import Quote, QuoteLine
from guanxi.sales.tests import quotes_support as support

customer, product, make_quote = support.customer, support.product, support.make_quote  # shared fixtures
pytestmark = pytest.mark.django_db
BASE = "/api/v1/quotes"


@pytest.fixture(autouse=True)
def _english(org: Any) -> None:
    User.objects.update(language="en")


def test_create_with_catalogue_and_free_lines_is_idempotent(org: Any, api: Any, customer: Any, product: Any,
                                                           monkeypatch: Any) -> None:
    from guanxi.sales.services import products

    monkeypatch.setattr(products, "price_for", lambda *a, **k: (Decimal("1000.00"), "CNY", None), raising=False)
    client = api(org.salesperson)
    body = {"account": customer.pk, "subject": "液压油缸", "contact": customer.buyer.pk, "quote_date": "2026-05-06",
            "lines": [{"product": product.pk, "quantity": "3", "discount": "5"},
                      {"name": "安装调试", "unit_price": "800", "tax_rate": "6"}]}
    first = client.post(BASE, body, HTTP_IDEMPOTENCY_KEY="quote-1")
    assert first.status_code == 201, first.content
    data = first.json()
    assert data["title"] == f"{support.CUSTOMER} 液压油缸 报价单 2026-05-06"  # the default language
    assert [line["name"] for line in data["lines"]] == ["液压油缸", "安装调试"]
    assert Decimal(data["total"]) == Decimal("3650.00") and data["needs_approval"] is False
    again = client.post(BASE, body, HTTP_IDEMPOTENCY_KEY="quote-1")
    assert again.status_code == 201 and again.json()["id"] == data["id"] and Quote.objects.count() == 1


def test_create_refuses_hidden_accounts_bad_lines_and_bare_titles(org: Any, api: Any, customer: Any) -> None:
    assert api(org.teammate).post(BASE, {"account": customer.pk, "subject": "x"}).status_code == 404
    assert api(org.service).post(BASE, {"account": customer.pk, "subject": "x"}).status_code == 403
    client = api(org.salesperson)
    bad = client.post(BASE, {"account": customer.pk, "subject": "x", "lines": [{"name": "", "unit_price": "-1"}]})
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"lines.0.name", "lines.0.unit_price"}
    bare = client.post(BASE, {"account": customer.pk, "subject": "x", "title": "Quotation"})
    assert bare.status_code == 422 and "title" in bare.json()["errors"]
    extra = client.post(BASE, {"account": customer.pk, "subject": "x", "state": "approved"})
    assert extra.status_code == 422
    assert not Quote.objects.exists()


def test_list_get_and_scoping(org: Any, api: Any, make_quote: Any) -> None:
    quote = make_quote()
    rows = api(org.salesperson).get(BASE).json()["results"]
    assert [r["id"] for r in rows] == [quote.pk]
    assert api(org.manager).get(f"{BASE}/{quote.pk}").status_code == 200
    assert api(org.teammate).get(BASE).json()["results"] == []
    assert api(org.teammate).get(f"{BASE}/{quote.pk}").status_code == 404
    assert api(org.outsider).get(f"{BASE}/{quote.pk}/pdf").status_code == 404
    assert api(org.salesperson).get(BASE, {"owner": org.teammate.pk}).status_code == 400
    assert api(org.salesperson).get(f"{BASE}/{quote.pk}/lines").json()[0]["name"] == "液压油缸"


def test_patch_with_version_and_409_when_stale(org: Any, api: Any, make_quote: Any) -> None:
    quote = make_quote()
    client = api(org.salesperson)
    ok = client.patch(f"{BASE}/{quote.pk}", {"version": quote.version, "delivery_terms": "15 天"})
    assert ok.status_code == 200 and ok.json()["delivery_terms"] == "15 天"
    stale = client.patch(f"{BASE}/{quote.pk}", {"version": quote.version, "delivery_terms": "30 天"})
    assert stale.status_code == 409
    assert client.patch(f"{BASE}/{quote.pk}", {"version": ok.json()["version"], "owner": 1}).status_code == 422
    assert Quote.objects.get(pk=quote.pk).delivery_terms == "15 天"


def test_lines_add_patch_replace_delete(org: Any, api: Any, make_quote: Any) -> None:
    quote = make_quote()
    client = api(org.salesperson)
    added = client.post(f"{BASE}/{quote.pk}/lines", {"name": "密封圈", "unit_price": "10", "quantity": "5"})
    assert added.status_code == 201
    line_id = added.json()["id"]
    patched = client.patch(f"{BASE}/{quote.pk}/lines/{line_id}", {"discount": "12"})
    assert patched.status_code == 200 and Decimal(patched.json()["discount"]) == 12
    assert client.get(f"{BASE}/{quote.pk}").json()["needs_approval"] is True
    replaced = client.put(f"{BASE}/{quote.pk}/lines", {"lines": [{"name": "油管", "unit_price": "3"}]})
    assert replaced.status_code == 200 and [r["name"] for r in replaced.json()] == ["油管"]
    only = replaced.json()[0]["id"]
    assert client.delete(f"{BASE}/{quote.pk}/lines/{only}").status_code == 204
    assert not QuoteLine.objects.filter(quote=quote).exists()
    assert client.delete(f"{BASE}/{quote.pk}/lines/{line_id}").status_code == 404
    assert api(org.teammate).post(f"{BASE}/{quote.pk}/lines", {"name": "x", "unit_price": "1"}).status_code == 404
    stale = client.post(f"{BASE}/{quote.pk}/lines", {"name": "x", "unit_price": "1", "version": 1})
    assert stale.status_code == 409


def test_approval_send_and_answer_through_the_api(org: Any, api: Any, make_quote: Any) -> None:
    quote = make_quote(discount="25")
    sales, manager = api(org.salesperson), api(org.manager)
    assert sales.post(f"{BASE}/{quote.pk}/send", {}).status_code == 422
    assert sales.post(f"{BASE}/{quote.pk}/request-approval", {"note": "大单"}).json()["state"] == "pending"
    assert sales.post(f"{BASE}/{quote.pk}/approve", {}).status_code == 403
    assert manager.post(f"{BASE}/{quote.pk}/reject", {}).status_code == 422
    approved = manager.post(f"{BASE}/{quote.pk}/approve", {"note": "同意"})
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    assert approved.json()["approved_by"] == org.manager.pk
    sent = sales.post(f"{BASE}/{quote.pk}/send", {"version": approved.json()["version"]})
    assert sent.status_code == 200 and sent.json()["state"] == "sent" and sent.json()["revisions"] == [1]
    revisions = sales.get(f"{BASE}/{quote.pk}/revisions").json()
    assert revisions[0]["revision"] == 1 and revisions[0]["content"]["lines"][0]["discount"] == "25.00"
    assert sales.post(f"{BASE}/{quote.pk}/decline", {"note": "太贵"}).json()["state"] == "declined"
    # A revised offer: changing the declined quote starts revision 2 as a draft.
    revised = sales.patch(f"{BASE}/{quote.pk}", {"version": Quote.objects.get(pk=quote.pk).version,
                                                  "notes": "第二版"})
    assert (revised.json()["revision"], revised.json()["state"]) == (2, "draft")
    assert sales.post(f"{BASE}/{quote.pk}/cancel", {}).json()["state"] == "cancelled"
    assert sales.post(f"{BASE}/{quote.pk}/accept", {}).status_code == 422


def test_the_owner_manager_cannot_approve_their_own_quote(org: Any, api: Any, customer: Any,
                                                          make_quote: Any) -> None:
    customer.owner = org.manager
    customer.save()
    quote = make_quote(actor=org.manager, discount="40")
    client = api(org.manager)
    client.post(f"{BASE}/{quote.pk}/request-approval", {})
    response = client.post(f"{BASE}/{quote.pk}/approve", {})
    assert response.status_code == 403 and Quote.objects.get(pk=quote.pk).state == "pending"
    assert api(org.gm).post(f"{BASE}/{quote.pk}/approve", {}).json()["state"] == "approved"


def test_documents_and_delete(org: Any, api: Any, make_quote: Any) -> None:
    quote = make_quote()
    client = api(org.salesperson)
    pdf = client.get(f"{BASE}/{quote.pk}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    xlsx = client.get(f"{BASE}/{quote.pk}/xlsx")
    assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")
    assert client.get(f"{BASE}/{quote.pk}/pdf", {"revision": 1}).status_code == 404
    assert client.delete(f"{BASE}/{quote.pk}").status_code == 403
    manager = api(org.manager)
    assert manager.delete(f"{BASE}/{quote.pk}", QUERY_STRING=f"version={quote.version + 5}").status_code == 409
    assert manager.delete(f"{BASE}/{quote.pk}").status_code == 204
    assert client.get(f"{BASE}/{quote.pk}").status_code == 404
