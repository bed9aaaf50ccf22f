"""Quote services (R4.2): titles, lines and totals, the discount approval, revisions, states."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone, translation

from guanxi.core.errors import Conflict, Forbidden, Invalid
from guanxi.core.models import AuditEvent, Notification
from guanxi.sales.models import ExchangeRate, Quote, QuoteLine, QuoteRevision
from guanxi.sales.selectors import quotes as reads
from guanxi.sales.services import quotes
from guanxi.sales.tests import quotes_support as support

customer, product, make_quote = support.customer, support.product, support.make_quote  # shared fixtures
CUSTOMER = support.CUSTOMER

pytestmark = pytest.mark.django_db
S = Quote.State


def fresh(quote: Quote) -> Quote:
    return Quote.all_objects.get(pk=quote.pk)


# --- Titles -----------------------------------------------------------------------------------
def test_a_new_quote_gets_a_title_naming_customer_subject_and_date(org: Any, customer: Any) -> None:
    on = dt.date(2026, 5, 6)
    with translation.override("zh-hans"):
        quote = quotes.quote_create(actor=org.salesperson, account=customer, subject="液压油缸", quote_date=on)
    assert quote.title == f"{CUSTOMER} 液压油缸 报价单 2026-05-06"
    assert quote.code.startswith("BJ-") and quote.state == S.DRAFT and quote.revision == 1
    assert quote.valid_until == on + dt.timedelta(days=30)
    with translation.override("en"):
        english = quotes.quote_create(actor=org.salesperson, account=customer, subject="Cylinders", quote_date=on)
    assert english.title == f"Quote: {CUSTOMER} – Cylinders – 2026-05-06"
    assert AuditEvent.objects.filter(action="create", object_id=str(quote.pk)).exists()


@pytest.mark.parametrize("title", ["报价单", "  报价单 ", "Quote", "QUOTATION", "报价单 2026-05-06", "报价单。"])
def test_a_title_that_is_only_quote_is_refused(org: Any, customer: Any, make_quote: Any, title: str) -> None:
    with pytest.raises(Invalid) as exc:
        quotes.quote_create(actor=org.salesperson, account=customer, subject="液压油缸", title=title)
    assert "title" in exc.value.errors
    quote = make_quote()
    with pytest.raises(Invalid):
        quotes.quote_update(actor=org.salesperson, quote=quote, changes={"title": title},
                            expected_version=quote.version)
    assert fresh(quote).title == quote.title and fresh(quote).version == quote.version


def test_the_user_may_choose_a_meaningful_title(org: Any, customer: Any, make_quote: Any) -> None:
    quote = make_quote()
    quotes.quote_update(actor=org.salesperson, quote=quote, changes={"title": "西湖精机二期油缸报价"},
                        expected_version=quote.version)
    assert fresh(quote).title == "西湖精机二期油缸报价"
    # A title chosen by hand no longer follows the subject.
    quote = fresh(quote)
    quotes.quote_update(actor=org.salesperson, quote=quote, changes={"subject": "油缸配件"},
                        expected_version=quote.version)
    assert fresh(quote).title == "西湖精机二期油缸报价"


def test_the_generated_title_follows_subject_and_date(org: Any, make_quote: Any) -> None:
    with translation.override("zh-hans"):
        quote = make_quote(quote_date=dt.date(2026, 5, 6))
        quotes.quote_update(actor=org.salesperson, quote=quote, changes={"subject": "油缸配件", "title": quote.title,
                                                                           "quote_date": "2026-05-08"},
                            expected_version=quote.version)
    assert fresh(quote).title == f"{CUSTOMER} 油缸配件 报价单 2026-05-08"


# --- Lines and totals -------------------------------------------------------------------------
def test_totals_with_prices_including_tax(make_quote: Any) -> None:
    quote = make_quote(lines=[
        {"name": "液压油缸", "quantity": "2", "unit_price": "1130", "discount": "10", "tax_rate": "13"},
        {"name": "安装服务", "quantity": "1", "unit_price": "500", "tax_rate": "6"},
    ])
    # 2 × 1130 = 2260, −10% = 2034 (tax inside: 2034 − 2034/1.13 = 234); 500 (tax 500 − 500/1.06 = 28.30)
    assert quote.subtotal == Decimal("2760.00")
    assert quote.discount_total == Decimal("226.00")
    assert quote.total == Decimal("2534.00")
    assert quote.tax_total == Decimal("262.30")
    assert quote.max_discount == Decimal("10.00")
    assert [line.total for line in reads.lines_of(quote)] == [Decimal("2034.00"), Decimal("500.00")]


def test_totals_with_prices_excluding_tax_add_the_tax(org: Any, make_quote: Any) -> None:
    quote = make_quote(prices_include_tax=False, lines=[
        {"name": "液压油缸", "quantity": "2", "unit_price": "1000", "discount": "5", "tax_rate": "13"}])
    assert quote.discount_total == Decimal("100.00")
    assert quote.tax_total == Decimal("247.00")  # 1900 × 13%
    assert quote.total == Decimal("2147.00")
    # Switching to tax-included prices recounts: the tax is now inside the 1900.
    quotes.quote_update(actor=org.salesperson, quote=quote, changes={"prices_include_tax": True},
                        expected_version=quote.version)
    quote = fresh(quote)
    assert quote.total == Decimal("1900.00") and quote.tax_total == Decimal("218.58")


def test_a_catalogue_line_copies_the_product_and_takes_the_price_lists_price(org: Any, customer: Any,
                                                                              product: Any, monkeypatch: Any) -> None:
    from guanxi.sales.services import products

    asked: list[Any] = []

    def price_for(item: Any, account: Any, quantity: Any, on: Any = None, **kwargs: Any) -> Any:
        asked.append((item.pk, account.pk, Decimal(quantity), on))
        return Decimal("980.00"), "CNY", None

    monkeypatch.setattr(products, "price_for", price_for, raising=False)
    quote = quotes.quote_create(actor=org.salesperson, account=customer, subject="油缸")
    line = quotes.quote_line_add(actor=org.salesperson, quote=quote, product=product.pk, quantity="3",
                                 expected_version=quote.version)
    assert (line.name, line.model, line.unit, line.packaging) == ("液压油缸", "HSG-80/45", "台", "木箱，每箱 2 台")
    assert line.specification == product.specification and line.features == product.features
    assert line.unit_price == Decimal("980.00") and line.total == Decimal("2940.00")
    assert asked == [(product.pk, customer.pk, Decimal("3.000"), quote.quote_date)]
    assert fresh(quote).total == Decimal("2940.00") and fresh(quote).version == quote.version


def test_a_price_in_another_currency_is_converted_through_cny(org: Any, customer: Any, product: Any,
                                                              monkeypatch: Any) -> None:
    from guanxi.sales.services import products

    ExchangeRate.objects.create(currency="USD", rate=Decimal("7.000000"), valid_from=dt.date(2020, 1, 1))
    monkeypatch.setattr(products, "price_for", lambda *a, **k: (Decimal("1400.00"), "CNY", None), raising=False)
    quote = quotes.quote_create(actor=org.salesperson, account=customer, subject="Cylinders", currency="usd")
    assert quote.currency == "USD" and quote.rate_to_cny == Decimal("7.000000")
    line = quotes.quote_line_add(actor=org.salesperson, quote=quote, product=product.pk, quantity=1)
    assert line.unit_price == Decimal("200.00")
    # Back to CNY: the line prices are converted too.
    quote = fresh(quote)
    quotes.quote_update(actor=org.salesperson, quote=quote, changes={"currency": "CNY"},
                        expected_version=quote.version)
    assert QuoteLine.objects.get(pk=line.pk).unit_price == Decimal("1400.00")
    assert fresh(quote).total == Decimal("1400.00") and fresh(quote).rate_to_cny == 1


def test_a_currency_without_a_rate_is_refused(org: Any, customer: Any) -> None:
    with pytest.raises(Invalid) as exc:
        quotes.quote_create(actor=org.salesperson, account=customer, subject="x", currency="EUR")
    assert "currency" in exc.value.errors
    assert not Quote.objects.exists()


def test_a_free_line_needs_a_name_and_a_price_and_sane_numbers(org: Any, make_quote: Any) -> None:
    quote = make_quote()
    before = (fresh(quote).version, QuoteLine.objects.count())
    with pytest.raises(Invalid) as exc:
        quotes.quote_line_add(actor=org.salesperson, quote=quote, name="", quantity="0", discount="120",
                              tax_rate="-1")
    assert set(exc.value.errors) == {"name", "quantity", "discount", "tax_rate", "unit_price"}
    assert (fresh(quote).version, QuoteLine.objects.count()) == before


def test_lines_are_reordered_and_removed_with_positions_kept_in_step(org: Any, make_quote: Any) -> None:
    quote = make_quote(lines=[{"name": n, "unit_price": "10"} for n in ("一", "二", "三")])
    first, _second, third = reads.lines_of(quote)
    quotes.quote_line_move(actor=org.salesperson, quote=quote, line=third, direction="up",
                           expected_version=quote.version)
    assert [(line.name, line.position) for line in reads.lines_of(quote)] == [("一", 1), ("三", 2), ("二", 3)]
    quotes.quote_line_remove(actor=org.salesperson, quote=quote, line=first, expected_version=quote.version)
    assert [(line.name, line.position) for line in reads.lines_of(quote)] == [("三", 1), ("二", 2)]
    assert fresh(quote).total == Decimal("20.00")


def test_a_stale_version_changes_nothing(org: Any, make_quote: Any) -> None:
    quote = make_quote()
    stale = quote.version
    quotes.quote_update(actor=org.salesperson, quote=quote, changes={"notes": "先改一次"}, expected_version=stale)
    with pytest.raises(Conflict):
        quotes.quote_line_add(actor=org.salesperson, quote=fresh(quote), name="配件", unit_price="5",
                              expected_version=stale)
    with pytest.raises(Conflict):
        quotes.quote_update(actor=org.salesperson, quote=fresh(quote), changes={"notes": "旧的"},
                            expected_version=stale)
    assert QuoteLine.objects.filter(quote=quote).count() == 1 and fresh(quote).notes == "先改一次"


def test_a_contact_of_another_account_is_refused(org: Any, customer: Any, account_factory: Any) -> None:
    from guanxi.customers.models import Contact

    other = Contact.objects.create(account=account_factory(org.salesperson), name="外人")
    with pytest.raises(Invalid) as exc:
        quotes.quote_create(actor=org.salesperson, account=customer, subject="x", contact=other.pk)
    assert "contact" in exc.value.errors


def test_nobody_quotes_to_an_account_they_do_not_see(org: Any, customer: Any) -> None:
    from guanxi.core.errors import NotFound

    with pytest.raises(NotFound):
        quotes.quote_create(actor=org.teammate, account=customer, subject="x")
    with pytest.raises(Forbidden):
        quotes.quote_create(actor=org.service, account=customer, subject="x")
    assert not Quote.objects.exists()


# --- Discount approval ----------------------------------------------------------------------
def test_a_discount_above_the_limit_cannot_be_sent_before_approval(org: Any, make_quote: Any) -> None:
    quote = make_quote(discount="15")
    assert reads.needs_approval(quote)
    with pytest.raises(Invalid):
        quotes.quote_send(actor=org.salesperson, quote=quote)
    assert fresh(quote).state == S.DRAFT and not QuoteRevision.objects.exists()


def test_the_request_notifies_the_managers_of_the_owner_only(org: Any, make_quote: Any) -> None:
    quote = make_quote(discount="15")
    quotes.quote_request_approval(actor=org.salesperson, quote=quote, expected_version=quote.version,
                                  note="老客户，竞争激烈")
    assert fresh(quote).state == S.PENDING and fresh(quote).approval_requested_at is not None
    told = set(Notification.objects.values_list("user__username", flat=True))
    assert told == {org.manager.username, org.gm.username}
    assert list(reads.waiting_for(org.manager)) == [quote]
    assert list(reads.waiting_for(org.south_manager)) == []
    assert list(reads.waiting_for(org.salesperson)) == []


def test_the_owner_cannot_approve_their_own_quote(org: Any, customer: Any, make_quote: Any) -> None:
    customer.owner = org.manager
    customer.save()
    quote = make_quote(actor=org.manager, discount="20")
    quotes.quote_request_approval(actor=org.manager, quote=quote)
    with pytest.raises(Forbidden):
        quotes.quote_decide(actor=org.manager, quote=fresh(quote), approve=True)
    assert fresh(quote).state == S.PENDING
    assert [u.username for u in reads.approvers_for(org.manager)] == [org.gm.username]
    quotes.quote_decide(actor=org.gm, quote=fresh(quote), approve=True, note="同意")
    assert fresh(quote).state == S.APPROVED and fresh(quote).approved_by == org.gm


@pytest.mark.parametrize("who", ["salesperson", "teammate", "south_manager"])
def test_only_a_manager_of_the_owner_decides(org: Any, make_quote: Any, who: str) -> None:
    quote = make_quote(discount="15")
    quotes.quote_request_approval(actor=org.salesperson, quote=quote)
    with pytest.raises(Forbidden):
        quotes.quote_decide(actor=getattr(org, who), quote=fresh(quote), approve=True)
    assert fresh(quote).state == S.PENDING and fresh(quote).approved_by is None


def test_approve_then_send_keeps_the_revision(org: Any, make_quote: Any) -> None:
    quote = make_quote(discount="15")
    quotes.quote_request_approval(actor=org.salesperson, quote=quote)
    quotes.quote_decide(actor=org.manager, quote=fresh(quote), approve=True, note="可以")
    assert Notification.objects.filter(user=org.salesperson).exists()
    revision = quotes.quote_send(actor=org.salesperson, quote=fresh(quote))
    quote = fresh(quote)
    assert quote.state == S.SENT and quote.sent_at is not None
    assert revision.revision == 1 and revision.snapshot["state"] == S.SENT
    assert revision.snapshot["approval"]["by"] == str(org.manager)
    assert revision.snapshot["lines"][0]["discount"] == "15.00"


def test_a_return_needs_a_note_and_puts_the_quote_back_to_draft(org: Any, make_quote: Any) -> None:
    quote = make_quote(discount="15")
    quotes.quote_request_approval(actor=org.salesperson, quote=quote)
    with pytest.raises(Invalid) as exc:
        quotes.quote_decide(actor=org.manager, quote=fresh(quote), approve=False)
    assert "note" in exc.value.errors and fresh(quote).state == S.PENDING
    quotes.quote_decide(actor=org.manager, quote=fresh(quote), approve=False, note="折扣过高，最多 12%")
    assert fresh(quote).state == S.DRAFT and fresh(quote).approval_note == "折扣过高，最多 12%"


def test_changing_lines_of_an_approved_quote_asks_again(org: Any, make_quote: Any) -> None:
    quote = make_quote(discount="15")
    quotes.quote_request_approval(actor=org.salesperson, quote=quote)
    quotes.quote_decide(actor=org.manager, quote=fresh(quote), approve=True)
    quote = fresh(quote)
    line = reads.lines_of(quote)[0]
    quotes.quote_line_update(actor=org.salesperson, quote=quote, line=line, changes={"discount": "18"},
                             expected_version=quote.version)
    quote = fresh(quote)
    assert quote.state == S.DRAFT and reads.needs_approval(quote)
    with pytest.raises(Invalid):
        quotes.quote_send(actor=org.salesperson, quote=quote)
    # Brought back within the limit, it goes out without another approval.
    quotes.quote_line_update(actor=org.salesperson, quote=quote, line=line, changes={"discount": "8"},
                             expected_version=quote.version)
    quotes.quote_send(actor=org.salesperson, quote=fresh(quote))
    assert fresh(quote).state == S.SENT


def test_within_the_limit_no_approval_is_needed_or_asked(org: Any, make_quote: Any, settings: Any) -> None:
    quote = make_quote(discount="10")
    with pytest.raises(Invalid):
        quotes.quote_request_approval(actor=org.salesperson, quote=quote)
    settings.GUANXI_QUOTE_DISCOUNT_LIMIT = 5
    assert reads.needs_approval(fresh(quote))
    settings.GUANXI_QUOTE_DISCOUNT_LIMIT = 10
    quotes.quote_send(actor=org.salesperson, quote=fresh(quote))
    assert fresh(quote).state == S.SENT


# --- Revisions and the life of a quote -------------------------------------------------------------
def test_changing_a_sent_quote_starts_the_next_revision(org: Any, make_quote: Any) -> None:
    quote = make_quote(price="1000")
    quotes.quote_send(actor=org.salesperson, quote=quote)
    quote = fresh(quote)
    line = reads.lines_of(quote)[0]
    quotes.quote_line_update(actor=org.salesperson, quote=quote, line=line, changes={"unit_price": "950"},
                             expected_version=quote.version)
    quote = fresh(quote)
    assert (quote.state, quote.revision, quote.sent_at) == (S.DRAFT, 2, None)
    quotes.quote_send(actor=org.salesperson, quote=quote)
    kept = {r.revision: r.snapshot for r in QuoteRevision.objects.filter(quote=quote)}
    assert kept[1]["lines"][0]["unit_price"] == "1000.00" and kept[2]["lines"][0]["unit_price"] == "950.00"
    assert kept[1]["total"] == "2000.00" and kept[2]["total"] == "1900.00"


def test_accept_decline_cancel_follow_the_states(org: Any, make_quote: Any) -> None:
    quote = make_quote()
    with pytest.raises(Invalid):
        quotes.quote_accept(actor=org.salesperson, quote=quote)
    quotes.quote_send(actor=org.salesperson, quote=quote)
    quotes.quote_accept(actor=org.salesperson, quote=fresh(quote), note="客户已签回")
    assert fresh(quote).state == S.ACCEPTED
    with pytest.raises(Invalid):
        quotes.quote_update(actor=org.salesperson, quote=fresh(quote), changes={"notes": "x"}, expected_version=None)
    with pytest.raises(Invalid):
        quotes.quote_cancel(actor=org.salesperson, quote=fresh(quote))
    other = make_quote()
    quotes.quote_send(actor=org.salesperson, quote=other)
    quotes.quote_decline(actor=org.salesperson, quote=fresh(other), note="价格高")
    assert fresh(other).state == S.DECLINED
    quotes.quote_cancel(actor=org.salesperson, quote=fresh(other))
    assert fresh(other).state == S.CANCELLED


def test_sent_quotes_past_their_validity_expire_once(org: Any, make_quote: Any) -> None:
    today = timezone.localdate()
    due = make_quote(valid_until=today)
    quotes.quote_send(actor=org.salesperson, quote=due)
    draft = make_quote(valid_until=today)
    later = make_quote(valid_until=today + dt.timedelta(days=1))
    quotes.quote_send(actor=org.salesperson, quote=later)
    tomorrow = today + dt.timedelta(days=1)
    assert quotes.quotes_expire(today=tomorrow) == 1
    assert quotes.quotes_expire(today=tomorrow) == 0
    assert (fresh(due).state, fresh(draft).state, fresh(later).state) == (S.EXPIRED, S.DRAFT, S.SENT)
    assert Notification.objects.filter(user=org.salesperson, title__contains=due.title).exists()


def test_a_quote_past_its_validity_is_not_sent(org: Any, make_quote: Any) -> None:
    quote = make_quote(quote_date=dt.date(2020, 1, 1), valid_until=dt.date(2020, 1, 31))
    with pytest.raises(Invalid) as exc:
        quotes.quote_send(actor=org.salesperson, quote=quote)
    assert "valid_until" in exc.value.errors


def test_delete_goes_to_the_recycle_bin_and_salespeople_cannot(org: Any, make_quote: Any) -> None:
    quote = make_quote()
    with pytest.raises(Forbidden):
        quotes.quote_delete(actor=org.salesperson, quote=quote)
    assert fresh(quote).deleted_at is None
    quotes.quote_delete(actor=org.manager, quote=quote)
    assert fresh(quote).deleted_at is not None and not Quote.objects.filter(pk=quote.pk).exists()


def test_only_drafts_go_for_approval_and_empty_quotes_are_not_sent(org: Any, customer: Any) -> None:
    quote = quotes.quote_create(actor=org.salesperson, account=customer, subject="空")
    with pytest.raises(Invalid):
        quotes.quote_send(actor=org.salesperson, quote=quote)
    assert fresh(quote).state == S.DRAFT


def test_the_hourly_job_expires_through_the_queue_task(org: Any, make_quote: Any) -> None:
    from guanxi.sales.services.quotes import expire_quotes

    quote = make_quote(quote_date=timezone.localdate() - dt.timedelta(days=40),
                       valid_until=timezone.localdate() - dt.timedelta(days=1))
    Quote.objects.filter(pk=quote.pk).update(state=S.SENT)
    assert expire_quotes.call_local() == 1
    assert fresh(quote).state == S.EXPIRED
    row = AuditEvent.objects.filter(object_id=str(quote.pk), action="update").latest("id")
    assert row.channel == "job" and row.actor is None
