"""Order pages: list scoping, new order with lines, from a quote, lines, status, delete, export."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from guanxi.core.models import Job, User
from guanxi.sales.models import Order, Quote
from guanxi.sales.tests.orders_helpers import (
    order_factory,
    product,
    quote_factory,
)

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture(autouse=True)
def english(org):
    User.objects.update(language="en")
    with translation.override("en"):
        yield


@pytest.fixture
def account(org, account_factory):
    return account_factory(org.salesperson, name="华东机械有限公司", province="江苏", address="苏州星湖街1号")


@pytest.fixture
def orders(org, account, account_factory):
    mine = order_factory(org.salesperson, account)
    teammate = order_factory(org.teammate, account_factory(org.teammate, name="同事客户"))
    south = order_factory(org.outsider, account_factory(org.outsider, name="华南客户"))
    return mine, teammate, south


def listed(client) -> set[str]:
    response = client.get("/sales/orders/")
    assert response.status_code == 200
    return {o.code for o in response.context["page"]}


def test_the_list_is_scoped_own_department_everything(org, login, orders):
    mine, teammate, south = orders
    assert listed(login(org.salesperson)) == {mine.code}
    assert listed(login(org.manager)) == {mine.code, teammate.code}
    assert listed(login(org.gm)) == {mine.code, teammate.code, south.code}
    assert listed(login(org.outsider)) == {south.code}


def test_the_detail_is_404_when_hidden_and_403_without_the_right(org, login, orders):
    mine = orders[0]
    page = login(org.salesperson).get(f"/sales/orders/{mine.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert mine.code in body and "华东机械有限公司" in body and "Confirm the order" in body
    assert login(org.outsider).get(f"/sales/orders/{mine.pk}/").status_code == 404
    assert login(org.teammate).get(f"/sales/orders/{mine.pk}/").status_code == 404
    assert login(org.service).get(f"/sales/orders/{mine.pk}/").status_code == 403


def test_a_new_order_with_lines_from_the_form(org, login, account):
    product("P-9", "300.00", name="变频器", model="VF-9")
    client = login(org.salesperson)
    page = client.get(f"/sales/orders/new/?account={account.pk}")
    assert page.status_code == 200 and "苏州星湖街1号" in page.content.decode()
    response = client.post(f"/sales/orders/new/?account={account.pk}", {
        "account": account.pk, "order_date": "2026-03-02", "ship_date": "2026-03-10", "currency": "CNY",
        "shipping_address": "苏州仓库", "remarks": "",
        "line-1-product": "P-9", "line-1-quantity": "2", "line-1-discount": "5",
        "line-2-name": "安装", "line-2-quantity": "1", "line-2-unit_price": "200", "line-2-tax_rate": "6",
        "line-3-name": "", "line-3-quantity": "",
        "line-4-name": "删掉的", "line-4-unit_price": "1", "line-4-removed": "1",
    })
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/sales/orders/{order.pk}/"
    assert [(line.name, line.model, line.total) for line in order.lines.order_by("position")] == [
        ("变频器", "VF-9", D("570.00")), ("安装", "", D("200.00"))]
    assert (order.total, order.shipping_address, str(order.ship_date)) == (D("770.00"), "苏州仓库", "2026-03-10")


def test_bad_input_shows_the_messages_and_creates_nothing(org, login, account):
    response = login(org.salesperson).post("/sales/orders/new/", {
        "account": account.pk, "order_date": "2026-03-02", "currency": "CNY",
        "line-1-product": "NO-SUCH", "line-1-quantity": "1",
        "line-2-name": "x", "line-2-quantity": "0", "line-2-unit_price": "1"})
    assert response.status_code == 422
    body = response.content.decode()
    assert "Choose a product of the catalogue." in body and "Enter a number of at least 0.001." in body
    assert 'value="NO-SUCH"' in body  # what was typed is kept
    assert not Order.all_objects.exists()


def test_an_account_the_user_cannot_see_is_refused(org, login, account):
    response = login(org.outsider).post("/sales/orders/new/", {
        "account": account.pk, "order_date": "2026-03-02", "currency": "CNY"})
    assert response.status_code == 422 and not Order.all_objects.exists()


def test_an_order_from_a_quote_and_the_refusal_of_a_pending_one(org, login, account):
    client = login(org.salesperson)
    pending = quote_factory(org.salesperson, account, state=Quote.State.PENDING)
    response = client.post(f"/sales/quotes/{pending.pk}/order/", follow=True)
    assert "waiting for a manager" in response.content.decode() and not Order.all_objects.exists()
    approved = quote_factory(org.salesperson, account)
    response = client.post(f"/sales/quotes/{approved.pk}/order/")
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/sales/orders/{order.pk}/"
    assert login(org.outsider).post(f"/sales/quotes/{approved.pk}/order/").status_code == 404
    assert client.get(f"/sales/quotes/{approved.pk}/order/").status_code == 405


def test_the_lines_of_a_draft_are_edited_with_the_version(org, login, account):
    order = order_factory(org.salesperson, account)
    client = login(org.salesperson)
    page = client.get(f"/sales/orders/{order.pk}/lines/")
    assert page.status_code == 200 and 'value="P-100"' in page.content.decode()
    response = client.post(f"/sales/orders/{order.pk}/lines/", {
        "version": order.version, "line-1-name": "只剩一行", "line-1-quantity": "2", "line-1-unit_price": "10"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.total == D("20.00") and order.lines.count() == 1
    stale = client.post(f"/sales/orders/{order.pk}/lines/", {
        "version": order.version - 1, "line-1-name": "旧", "line-1-quantity": "1", "line-1-unit_price": "1"})
    assert stale.status_code == 409 and "Someone else changed" in stale.content.decode()
    order.refresh_from_db()
    assert order.total == D("20.00")


def test_status_moves_from_the_page(org, login, account):
    order = order_factory(org.salesperson, account)
    client = login(org.salesperson)
    client.post(f"/sales/orders/{order.pk}/state/", {"action": "confirm", "version": order.version})
    order.refresh_from_db()
    client.post(f"/sales/orders/{order.pk}/state/", {"action": "ship", "on": "", "version": order.version})
    order.refresh_from_db()
    assert order.state == "shipped" and order.ship_date is not None
    response = client.post(f"/sales/orders/{order.pk}/state/", {"action": "confirm", "version": order.version},
                           follow=True)
    assert "cannot become" in response.content.decode()
    assert client.post(f"/sales/orders/{order.pk}/state/", {"action": "fly"}).status_code == 404
    assert login(org.teammate).post(f"/sales/orders/{order.pk}/state/", {"action": "cancel"}).status_code == 404


def test_delete_needs_the_right_and_goes_to_the_recycle_bin(org, login, account):
    order = order_factory(org.salesperson, account)
    assert login(org.salesperson).post(f"/sales/orders/{order.pk}/delete/").status_code == 403
    assert Order.objects.filter(pk=order.pk).exists()
    response = login(org.manager).post(f"/sales/orders/{order.pk}/delete/", {"version": order.version})
    assert response.status_code == 302
    assert Order.all_objects.get(pk=order.pk).deleted_at is not None
    assert login(org.manager).get(f"/sales/orders/{order.pk}/").status_code == 404


def test_the_export_is_a_scoped_job_for_managers(org, login, orders, run_queue, django_capture_on_commit_callbacks,
                                                 settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    assert login(org.salesperson).post("/sales/orders/export/", {"format": "csv"}).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = login(org.manager).post("/sales/orders/export/", {"format": "csv", "query": "state=draft"})
    job = Job.objects.get()
    assert response.status_code == 302 and str(job.pk) in response["Location"]
    run_queue()
    job.refresh_from_db()
    from django.core.files.storage import default_storage

    text = default_storage.open(job.result["file"]).read().decode("utf-8-sig")
    mine, teammate, south = orders
    assert mine.code in text and teammate.code in text and south.code not in text
    assert job.result["rows"] == 2
