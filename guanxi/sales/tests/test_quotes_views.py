"""Quote pages (R4.2): list and filters, create from an account or a deal, the header form, lines
edited with htmx, approval, sending, the customer's answer, downloads; scoped and refused
without the right, bad input answered with a message and nothing changed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import translation

from guanxi.core.models import AuditEvent, User
from guanxi.sales.models import Quote, QuoteLine
from guanxi.sales.services import quotes
from guanxi.sales.tests import quotes_support as support

customer, product, make_quote = support.customer, support.product, support.make_quote  # shared fixtures
pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _english(org: Any) -> Any:
    User.objects.update(language="en")
    with translation.override("en"):
        yield


def url(name: str, *args: Any) -> str:
    return reverse(f"sales:{name}", args=args)


def fresh(quote: Quote) -> Quote:
    return Quote.all_objects.get(pk=quote.pk)


@pytest.fixture
def deal(org: Any, customer: Any) -> Any:
    from guanxi.sales.models import Opportunity, Pipeline, Stage

    pipeline = Pipeline.objects.create(name="项目型销售", is_default=True)
    stage = Stage.objects.create(pipeline=pipeline, name="方案报价", probability=40)
    return Opportunity.objects.create(code="SJ-1", name="二期产线油缸", account=customer, contact=customer.buyer,
                                      pipeline=pipeline, stage=stage, owner=org.salesperson,
                                      department=org.salesperson.department, amount=Decimal("50000"))


# --- List ---------------------------------------------------------------------------------------
def test_the_list_shows_what_each_person_may_see(org: Any, login: Any, make_quote: Any, account_factory: Any) -> None:
    mine = make_quote(subject="本人报价")
    theirs_account = account_factory(org.teammate, name="同事的客户")
    theirs = quotes.quote_create(actor=org.teammate, account=theirs_account, subject="同事报价")
    page = login(org.salesperson).get(url("quote-list")).content.decode()
    assert mine.title in page and theirs.title not in page
    page = login(org.manager).get(url("quote-list")).content.decode()
    assert mine.title in page and theirs.title in page
    page = login(org.outsider).get(url("quote-list")).content.decode()
    assert mine.title not in page and theirs.title not in page
    assert login(org.service).get(url("quote-list")).status_code == 403


def test_filters_and_waiting_for_my_approval(org: Any, login: Any, make_quote: Any) -> None:
    waiting = make_quote(subject="待审批", discount="20")
    quotes.quote_request_approval(actor=org.salesperson, quote=waiting)
    other = make_quote(subject="普通报价")
    manager = login(org.manager)
    page = manager.get(url("quote-list"), {"approval": "mine"}).content.decode()
    assert waiting.title in page and other.title not in page
    assert "Waiting for my approval" in page
    page = manager.get(url("quote-list"), {"state": "draft"}).content.decode()
    assert other.title in page and waiting.title not in page
    # Filtering by a colleague one does not manage is refused, not answered empty (S4).
    response = login(org.salesperson).get(url("quote-list"), {"owner": str(org.teammate.pk)})
    assert response.status_code == 400 and other.title not in response.content.decode()
    assert login(org.salesperson).get(url("quote-list"), {"state": "bogus"}).status_code == 400


# --- Create and edit ----------------------------------------------------------------------------
def test_create_from_an_account(org: Any, login: Any, customer: Any) -> None:
    client = login(org.salesperson)
    assert "Find the account first" in client.get(url("quote-create")).content.decode()
    found = client.get(url("quote-create"), {"q": "西湖"}).content.decode()
    assert f"?account={customer.pk}" in found
    form = client.get(url("quote-create"), {"account": customer.pk})
    assert form.status_code == 200 and "陈国华" in form.content.decode()
    response = client.post(url("quote-create"), {
        "account": customer.pk, "subject": "液压油缸", "title": "", "contact": customer.buyer.pk,
        "quote_date": "2026-05-06", "valid_until": "2026-06-05", "currency": "CNY", "prices_include_tax": "on",
        "payment_terms": "月结 30 天"})
    quote = Quote.objects.get()
    assert response.status_code == 302 and response["Location"] == url("quote-detail", quote.pk)
    assert quote.title == f"Quote: {support.CUSTOMER} – 液压油缸 – 2026-05-06"
    assert quote.contact == customer.buyer and quote.payment_terms == "月结 30 天"


def test_create_from_a_deal_takes_its_account_and_name(org: Any, login: Any, deal: Any) -> None:
    client = login(org.salesperson)
    page = client.get(url("quote-create"), {"opportunity": deal.pk}).content.decode()
    assert "二期产线油缸" in page
    client.post(url("quote-create"), {"opportunity": deal.pk, "subject": "二期产线油缸", "quote_date": "2026-05-06",
                                      "currency": "CNY"})
    quote = Quote.objects.get()
    assert quote.opportunity == deal and quote.account == deal.account


def test_create_is_refused_for_hidden_accounts_and_bare_titles(org: Any, login: Any, customer: Any) -> None:
    assert login(org.teammate).get(url("quote-create"), {"account": customer.pk}).status_code == 404
    assert login(org.service).get(url("quote-create"), {"account": customer.pk}).status_code == 403
    response = login(org.salesperson).post(url("quote-create"), {
        "account": customer.pk, "subject": "液压油缸", "title": "报价单", "quote_date": "2026-05-06",
        "currency": "CNY"})
    assert response.status_code == 422 and "meaningful title" in response.content.decode()
    assert not Quote.objects.exists()


def test_edit_the_header_and_a_stale_form_changes_nothing(org: Any, login: Any, make_quote: Any) -> None:
    quote = make_quote()
    client = login(org.salesperson)
    data = {"version": quote.version, "subject": "液压油缸（修订）", "title": quote.title, "contact": "",
            "quote_date": quote.quote_date.isoformat(), "valid_until": quote.valid_until.isoformat(),
            "currency": "CNY", "prices_include_tax": "on", "payment_terms": "款到发货", "delivery_terms": "",
            "terms": "", "notes": ""}
    assert client.post(url("quote-edit", quote.pk), data).status_code == 302
    assert fresh(quote).payment_terms == "款到发货" and "液压油缸（修订）" in fresh(quote).title
    stale = client.post(url("quote-edit", quote.pk), {**data, "payment_terms": "旧的"})
    assert stale.status_code == 409 and fresh(quote).payment_terms == "款到发货"
    assert login(org.teammate).get(url("quote-edit", quote.pk)).status_code == 404


# --- Detail and lines ---------------------------------------------------------------------------------
def test_the_detail_is_scoped(org: Any, login: Any, make_quote: Any) -> None:
    quote = make_quote()
    assert login(org.salesperson).get(url("quote-detail", quote.pk)).status_code == 200
    assert login(org.manager).get(url("quote-detail", quote.pk)).status_code == 200
    for person in (org.teammate, org.outsider, org.south_manager):
        assert login(person).get(url("quote-detail", quote.pk)).status_code == 404
    assert login(org.service).get(url("quote-detail", quote.pk)).status_code == 403


def test_lines_are_added_changed_moved_and_removed_with_htmx(org: Any, login: Any, make_quote: Any) -> None:
    quote = make_quote()
    client = login(org.salesperson)
    response = client.post(url("quote-line-add", quote.pk), {"version": quote.version, "name": "密封圈",
                                                             "unit_price": "12.50", "quantity": "4",
                                                             "discount": "", "tax_rate": ""}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and 'id="quote-body"' in body and "密封圈" in body and "<html" not in body
    quote = fresh(quote)
    assert quote.total == Decimal("2050.00")
    line = QuoteLine.objects.get(quote=quote, name="密封圈")
    client.post(url("quote-line-update", quote.pk, line.pk), {"version": quote.version, "quantity": "4",
                                                              "unit_price": "12.50", "discount": "20",
                                                              "tax_rate": "13"}, **HTMX)
    quote = fresh(quote)
    assert QuoteLine.objects.get(pk=line.pk).discount == 20 and quote.max_discount == 20
    client.post(url("quote-line-move", quote.pk, line.pk), {"version": quote.version, "direction": "up"}, **HTMX)
    assert QuoteLine.objects.get(pk=line.pk).position == 1
    page = client.post(url("quote-line-remove", quote.pk, line.pk), {"version": fresh(quote).version}, **HTMX)
    assert not QuoteLine.objects.filter(pk=line.pk).exists() and "Line removed." in page.content.decode()
    # Without htmx the same posts go back to the quote.
    plain = client.post(url("quote-line-add", quote.pk), {"name": "垫片", "unit_price": "1"})
    assert plain.status_code == 302 and plain["Location"].startswith(url("quote-detail", quote.pk))


def test_bad_line_input_shows_a_message_and_changes_nothing(org: Any, login: Any, make_quote: Any) -> None:
    quote = make_quote()
    client = login(org.salesperson)
    before = (fresh(quote).version, QuoteLine.objects.count())
    response = client.post(url("quote-line-add", quote.pk), {"version": quote.version, "name": "密封圈",
                                                             "unit_price": "abc", "discount": "150"}, **HTMX)
    assert response.status_code == 200 and 'data-testid="quote-error"' in response.content.decode()
    response = client.post(url("quote-line-add", quote.pk), {"version": quote.version, "kind": "catalogue",
                                                             "product": "", "quantity": "1"}, **HTMX)
    assert "Pick a product from the list first." in response.content.decode()
    stale = client.post(url("quote-line-add", quote.pk), {"version": quote.version - 1, "name": "x",
                                                          "unit_price": "1"}, **HTMX)
    assert "Someone else changed" in stale.content.decode()
    assert (fresh(quote).version, QuoteLine.objects.count()) == before


def test_a_catalogue_line_is_priced_from_the_lists(org: Any, login: Any, make_quote: Any, product: Any,
                                                   monkeypatch: Any) -> None:
    from guanxi.sales.services import products

    monkeypatch.setattr(products, "price_for", lambda *a, **k: (Decimal("1111.00"), "CNY", None), raising=False)
    quote = make_quote()
    response = login(org.salesperson).post(url("quote-line-add", quote.pk), {
        "version": quote.version, "kind": "catalogue", "product": product.pk, "quantity": "2", "discount": "0"},
        **HTMX)
    line = QuoteLine.objects.get(quote=quote, product=product)
    assert line.unit_price == Decimal("1111.00") and line.model == "HSG-80/45"
    assert "HSG-80/45" in response.content.decode()


def test_lines_of_a_salesperson_cannot_be_changed_by_a_teammate(org: Any, login: Any, make_quote: Any) -> None:
    quote = make_quote()
    line = QuoteLine.objects.get(quote=quote)
    response = login(org.teammate).post(url("quote-line-remove", quote.pk, line.pk), {"version": quote.version})
    assert response.status_code == 404 and QuoteLine.objects.filter(pk=line.pk).exists()


# --- Approval, sending, answers ---------------------------------------------------------------------
def test_approval_flow_through_the_pages(org: Any, login: Any, make_quote: Any) -> None:
    quote = make_quote(discount="18")
    sales, manager = login(org.salesperson), login(org.manager)
    page = sales.get(url("quote-detail", quote.pk)).content.decode()
    assert 'data-testid="approval-needed"' in page and 'data-testid="quote-send"' not in page
    sales.post(url("quote-request-approval", quote.pk), {"version": quote.version, "note": "竞品压价"})
    assert fresh(quote).state == Quote.State.PENDING
    # The owner has no approve right; the teammate neither; a manager of another department cannot see it.
    assert sales.post(url("quote-decide", quote.pk), {"decision": "approve"}).status_code == 403
    assert login(org.south_manager).post(url("quote-decide", quote.pk), {"decision": "approve"}).status_code == 404
    assert fresh(quote).state == Quote.State.PENDING
    assert 'data-testid="quote-decide"' in manager.get(url("quote-detail", quote.pk)).content.decode()
    manager.post(url("quote-decide", quote.pk), {"decision": "reject", "note": ""})
    assert fresh(quote).state == Quote.State.PENDING  # a return needs a note
    manager.post(url("quote-decide", quote.pk), {"decision": "approve", "note": "同意 18%",
                                                 "version": fresh(quote).version})
    assert fresh(quote).state == Quote.State.APPROVED and fresh(quote).approved_by == org.manager
    response = sales.post(url("quote-send", quote.pk), {"version": fresh(quote).version})
    assert response.status_code == 302 and fresh(quote).state == Quote.State.SENT
    page = sales.get(url("quote-detail", quote.pk)).content.decode()
    assert 'data-testid="revision-1"' in page and 'data-testid="quote-order"' in page
    revision = sales.get(url("quote-revision", quote.pk, 1))
    assert revision.status_code == 200 and quote.title in revision.content.decode()
    assert sales.get(url("quote-revision", quote.pk, 5)).status_code == 404


def test_sending_above_the_limit_is_refused_with_a_message(org: Any, login: Any, make_quote: Any) -> None:
    quote = make_quote(discount="30")
    client = login(org.salesperson)
    response = client.post(url("quote-send", quote.pk), {"version": quote.version}, follow=True)
    assert "must approve the quote" in response.content.decode()
    assert fresh(quote).state == Quote.State.DRAFT and not quote.revisions.exists()


def test_customer_answers_and_cancel(org: Any, login: Any, make_quote: Any) -> None:
    client = login(org.salesperson)
    quote = make_quote()
    assert 'data-testid="quote-order"' not in client.get(url("quote-detail", quote.pk)).content.decode()
    client.post(url("quote-send", quote.pk))
    client.post(url("quote-accept", quote.pk), {"note": "已签回"})
    assert fresh(quote).state == Quote.State.ACCEPTED
    page = client.get(url("quote-detail", quote.pk)).content.decode()
    assert "Accepted" in page and 'data-testid="quote-send"' not in page and 'name="unit_price"' not in page
    other = make_quote()
    client.post(url("quote-send", other.pk))
    client.post(url("quote-decline", other.pk))
    assert fresh(other).state == Quote.State.DECLINED
    client.post(url("quote-cancel", other.pk))
    assert fresh(other).state == Quote.State.CANCELLED
    assert client.get(url("quote-accept", other.pk)).status_code == 405


def test_delete_needs_the_right(org: Any, login: Any, make_quote: Any) -> None:
    quote = make_quote()
    assert login(org.salesperson).post(url("quote-delete", quote.pk)).status_code == 403
    assert fresh(quote).deleted_at is None
    response = login(org.manager).post(url("quote-delete", quote.pk))
    assert response.status_code == 302 and fresh(quote).deleted_at is not None
    assert login(org.manager).get(url("quote-detail", quote.pk)).status_code == 404


# --- Documents ----------------------------------------------------------------------------------------
def test_downloads_are_attachments_scoped_and_audited(org: Any, login: Any, make_quote: Any) -> None:
    quote = make_quote()
    client = login(org.salesperson)
    pdf = client.get(url("quote-pdf", quote.pk))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"].startswith("attachment")
    xlsx = client.get(url("quote-xlsx", quote.pk))
    assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")
    eml = client.get(url("quote-eml", quote.pk))
    assert eml.status_code == 200 and eml["Content-Type"] == "message/rfc822"
    assert client.get(url("quote-pdf", quote.pk), {"revision": "3"}).status_code == 404
    assert login(org.teammate).get(url("quote-xlsx", quote.pk)).status_code == 404
    formats = list(AuditEvent.objects.filter(action="export", object_id=str(quote.pk))
                   .order_by("id").values_list("changes__format", flat=True))
    assert formats == ["pdf", "xlsx", "eml"]
