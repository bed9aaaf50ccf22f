"""Staff intake pages: hotline quick entry with the caller lookup, paper comment cards (grid and file)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.utils import timezone

from guanxi.core.models import User
from guanxi.customers.models import Contact
from guanxi.service.models import Case, CaseCategory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(org):
    User.objects.update(language="en")


@pytest.fixture
def customers(org, account_factory):
    """One account the service agent owns (a grant would do too), one of the salesperson's."""
    mine = account_factory(org.service, name="杭州恒达电器有限公司", phone="0571-88889999")
    Contact.objects.create(account=mine, name="周经理", mobile="13655556666")
    hidden = account_factory(org.salesperson, name="苏州秘密客户有限公司")
    Contact.objects.create(account=hidden, name="秘密联系人", mobile="13877778888")
    return mine, hidden


def hotline_data(**fields):
    data = {"sender_phone": "13655556666", "sender_name": "周经理", "sender_company": "", "kind": "complaint",
            "ticket_type": "", "category": "", "severity": "high", "title": "空调不制冷",
            "description": "昨天安装的空调不制冷。", "channel": "hotline", "wants_reply": "on"}
    data.update(fields)
    return data


# --- Hotline -----------------------------------------------------------------------------------
def test_the_hotline_form_puts_the_phone_first_with_the_lookup(org, login):
    page = login(org.service).get("/service/cases/new/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index('name="sender_phone"') < html.index('name="title"')
    assert "autofocus" in html and 'hx-get="/service/cases/new/lookup/"' in html
    assert login(org.marketing).get("/service/cases/new/").status_code == 403


def test_the_lookup_names_only_accounts_the_agent_sees(org, login, customers):
    mine, hidden = customers
    client = login(org.service)
    found = client.get("/service/cases/new/lookup/", {"sender_phone": "136 5555 6666"}).content.decode()
    assert "杭州恒达电器有限公司" in found and "周经理" in found and f'value="{mine.pk}-' in found
    secret = client.get("/service/cases/new/lookup/", {"sender_phone": "13877778888"}).content.decode()
    nothing = client.get("/service/cases/new/lookup/", {"sender_phone": "13000000000"}).content.decode()
    assert 'data-testid="caller-not-found"' in secret and "秘密" not in secret and str(hidden.pk) not in secret
    # A hidden customer and no customer at all read the same.
    assert secret == nothing
    by_company = client.get("/service/cases/new/lookup/", {"sender_company": hidden.name}).content.decode()
    assert "秘密" not in by_company and 'data-testid="caller-not-found"' in by_company
    # Too few digits to look anything up: nothing said at all.
    short = client.get("/service/cases/new/lookup/", {"sender_phone": "136"}).content.decode()
    assert "caller-not-found" not in short and 'name="caller"' not in short


def test_a_hotline_case_is_the_agents_and_lands_on_its_page(org, login, customers):
    mine, _hidden = customers
    contact = mine.contacts.get()
    response = login(org.service).post("/service/cases/new/", hotline_data(caller=f"{mine.pk}-{contact.pk}"))
    case = Case.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/service/cases/{case.pk}/"
    assert case.owner == org.service and case.received_by == org.service and case.channel == "hotline"
    assert case.account == mine and case.contact == contact and case.severity == "high"
    assert case.first_response_due is not None


def test_a_visit_or_staff_entry_and_automatic_matching(org, login, customers):
    mine, _hidden = customers
    login(org.service).post("/service/cases/new/", hotline_data(channel="visit", caller=""))
    case = Case.objects.get()
    assert case.channel == "visit" and case.account == mine


def test_a_forged_caller_choice_of_a_hidden_account_is_refused(org, login, customers):
    _mine, hidden = customers
    response = login(org.service).post("/service/cases/new/", hotline_data(caller=f"{hidden.pk}-0"))
    assert response.status_code == 422 and "Choose an account you can see." in response.content.decode()
    assert not Case.all_objects.exists()


def test_hotline_errors_keep_what_was_typed(org, login, customers):
    response = login(org.service).post("/service/cases/new/", hotline_data(title="", description="说了很多"))
    assert response.status_code == 422
    html = response.content.decode()
    assert "说了很多" in html and 'value="13655556666"' in html and "杭州恒达电器有限公司" in html
    assert not Case.all_objects.exists()


# --- Comment cards -----------------------------------------------------------------------------
def card_post(rows, **extra):
    data = {"count": str(len(rows))}
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"{key}-{i}"] = value
    data.update(extra)
    return data


def test_the_cards_grid_saves_all_or_nothing(org, login):
    category = CaseCategory.objects.get(name="服务态度")
    client = login(org.service)
    page = client.get("/service/cards/")
    assert page.status_code == 200 and page.content.decode().count('data-testid="card-row"') == 10
    yesterday = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    rows = [
        {"received_on": yesterday, "kind": "complaint", "category": str(category.pk), "name": "刘女士",
         "company": "", "phone": "13700001111", "text": "店员态度差", "rating": "1"},
        {"received_on": yesterday, "kind": "suggestion", "category": "", "name": "", "company": "",
         "phone": "", "text": "", "rating": "7"},
        {"received_on": "", "kind": "complaint", "category": "", "name": "", "company": "", "phone": "",
         "text": "", "rating": ""},
    ]
    refused = client.post("/service/cards/", card_post(rows))
    assert refused.status_code == 422
    html = refused.content.decode()
    assert html.count('data-testid="card-error"') == 2 and "店员态度差" in html and 'value="7"' in html
    assert not Case.all_objects.exists()
    rows[1].update(text="希望周末营业", rating="")
    saved = client.post("/service/cards/", card_post(rows))
    assert saved.status_code == 302
    cases = list(Case.objects.order_by("pk"))
    assert [c.kind for c in cases] == ["complaint", "suggestion"]
    assert all(c.channel == "card" and c.owner == org.service for c in cases)
    assert cases[0].category == category
    assert login(org.marketing).get("/service/cards/").status_code == 403


def test_cards_from_an_excel_file(org, login):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["日期", "类型", "分类", "姓名", "电话", "内容", "评分"])
    sheet.append([timezone.localdate() - dt.timedelta(days=2), "建议", "产品建议", "钱先生", 13712345678,
                  "说明书字太小", 4])
    sheet.append([None, "投诉", "不存在的分类", "孙女士", None, "等了很久", None])
    out = io.BytesIO()
    book.save(out)
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = login(org.service)
    refused = client.post("/service/cards/", {"upload": "1", "file": SimpleUploadedFile("cards.xlsx", out.getvalue())})
    assert refused.status_code == 422
    html = refused.content.decode()
    assert "No active category has this name." in html and "说明书字太小" in html
    assert not Case.all_objects.exists()
    sheet.delete_rows(3)
    out = io.BytesIO()
    book.save(out)
    saved = client.post("/service/cards/", {"upload": "1", "file": SimpleUploadedFile("cards.xlsx", out.getvalue())})
    assert saved.status_code == 302
    case = Case.objects.get()
    assert case.kind == "suggestion" and case.sender_phone == "13712345678" and case.category.name == "产品建议"
    assert "4" in case.description.splitlines()[-1]
    wrong = client.post("/service/cards/", {"upload": "1", "file": SimpleUploadedFile("cards.pdf", b"%PDF-")})
    assert wrong.status_code == 422 and Case.objects.count() == 1
