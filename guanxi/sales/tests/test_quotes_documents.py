"""The quote's documents (R4.2): the PDF (Chinese text, not tofu; rendered to an image), the
Excel workbook (quote + customer data, numbers as numbers, formulas neutralised), the e-mail
draft, the amount in Chinese capitals, revisions, and every download audited."""

from __future__ import annotations

import email
import io
import shutil
import subprocess
from decimal import Decimal
from email import policy
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation
from openpyxl import load_workbook
from pypdf import PdfReader

from guanxi.core.errors import Forbidden, NotFound
from guanxi.core.models import AuditEvent
from guanxi.sales.models import Quote
from guanxi.sales.selectors import quotes as reads
from guanxi.sales.services import quotes
from guanxi.sales.services.quote_documents import amount_in_words, capital_amount, quote_export
from guanxi.sales.tests import quotes_support as support

customer, product, make_quote = support.customer, support.product, support.make_quote  # shared fixtures
pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("amount,words", [
    ("12345.67", "壹万贰仟叁佰肆拾伍元陆角柒分"),
    ("0", "零元整"),
    ("100", "壹佰元整"),
    ("1.05", "壹元零伍分"),
    ("0.5", "伍角"),
    ("0.07", "柒分"),
    ("10", "壹拾元整"),
    ("1004", "壹仟零肆元整"),
    ("1010.10", "壹仟零壹拾元壹角"),
    ("10005", "壹万零伍元整"),
    ("100010", "壹拾万零壹拾元整"),
    ("1000010", "壹佰万零壹拾元整"),
    ("10100000", "壹仟零壹拾万元整"),
    ("100000001", "壹亿零壹元整"),
    ("100010000", "壹亿零壹万元整"),
    ("2000000000.00", "贰拾亿元整"),
    ("-35.2", "负叁拾伍元贰角"),
    ("0.005", "壹分"),  # rounded half up to the fen
])
def test_amounts_in_chinese_capitals(amount: str, words: str) -> None:
    assert capital_amount(Decimal(amount)) == words


def test_amount_in_words_names_the_currency() -> None:
    assert amount_in_words("8.00", "CNY") == "人民币捌元整"
    assert amount_in_words("8.00", "USD") == "美元捌元整"


@pytest.fixture
def company(settings: Any, tmp_path: Path) -> Path:
    logo = tmp_path / "logo.png"
    logo.write_bytes(support.png((20, 60, 140), (300, 100)))
    settings.GUANXI_COMPANY_NAME = "杭州关系科技有限公司"
    settings.GUANXI_COMPANY_ADDRESS = "杭州市滨江区网商路 599 号"
    settings.GUANXI_COMPANY_PHONE = "0571-12345678"
    settings.GUANXI_COMPANY_EMAIL = "sales@guanxi.example"
    settings.GUANXI_COMPANY_BANK = "工商银行杭州高新支行 1202 0211 0900 1234 567"
    settings.GUANXI_COMPANY_LOGO = str(logo)
    return logo


@pytest.fixture
def full_quote(org: Any, customer: Any, product: Any, company: Any, monkeypatch: Any) -> Quote:
    from guanxi.sales.services import products

    monkeypatch.setattr(products, "price_for", lambda *a, **k: (Decimal("1200.00"), "CNY", None), raising=False)
    org.salesperson.phone, org.salesperson.email = "13900001111", "wangwei@guanxi.example"
    org.salesperson.save()
    with translation.override("zh-hans"):
        quote = quotes.quote_create(
            actor=org.salesperson, account=customer, subject="液压油缸二期", contact=customer.buyer,
            payment_terms="预付 30%，发货前付清", delivery_terms="合同签订后 15 个工作日交货", terms="质保一年",
            lines=[{"product": product.pk, "quantity": "10", "discount": "5"},
                   {"name": "现场安装调试", "unit": "次", "quantity": "1", "unit_price": "2000"}])
    return quote


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).replace("\n", "")


def test_the_pdf_carries_the_chinese_customer_title_products_and_amount_in_words(org: Any, full_quote: Quote) -> None:
    with translation.override("zh-hans"):
        data, content_type, filename = quote_export(actor=org.salesperson, quote=full_quote, fmt="pdf")
    assert data.startswith(b"%PDF") and content_type == "application/pdf"
    assert filename == f"{full_quote.title} ({full_quote.code} r1).pdf"
    text = pdf_text(data)
    for expected in (support.CUSTOMER, full_quote.title, "液压油缸", "HSG-80/45", "木箱，每箱 2 台", "现场安装调试",
                     "陈国华", "杭州关系科技有限公司", "0571-12345678", "王伟", "13900001111", "预付 30%",
                     "工商银行杭州高新支行", "人民币壹万叁仟肆佰元整"):  # 10 × 1200 × 95% + 2000 = 13400
        assert expected in text, expected
    assert "\ufffd" not in text and "�" not in text
    page = PdfReader(io.BytesIO(data)).pages[0]
    assert len(page.images) >= 2  # our logo and the product's picture


def test_the_pdf_renders_to_a_page_that_is_not_blank(org: Any, full_quote: Quote, tmp_path: Path) -> None:
    from PIL import Image

    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm is missing: apt-get install poppler-utils")
    data, _type, _name = quote_export(actor=org.salesperson, quote=full_quote, fmt="pdf")
    source = tmp_path / "quote.pdf"
    source.write_bytes(data)
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(source), str(tmp_path / "page")],
                   check=True, timeout=60)
    (png,) = tmp_path.glob("page*.png")
    with Image.open(png) as image:
        grey = image.convert("L")
        dark = sum(grey.histogram()[:128])
        assert grey.size[0] > 300
        assert dark / (grey.size[0] * grey.size[1]) > 0.01  # text, lines, the logo: ink on the page


def test_an_old_revision_prints_as_it_was_sent(org: Any, make_quote: Any) -> None:
    quote = make_quote(price="1000")
    quotes.quote_send(actor=org.salesperson, quote=quote)
    quote = Quote.objects.get(pk=quote.pk)
    line = reads.lines_of(quote)[0]
    quotes.quote_line_update(actor=org.salesperson, quote=quote, line=line, changes={"unit_price": "777"},
                             expected_version=quote.version)
    old, _t, old_name = quote_export(actor=org.salesperson, quote=quote, fmt="pdf", revision=1)
    new, _t, new_name = quote_export(actor=org.salesperson, quote=quote, fmt="pdf")
    assert "1,000.00" in pdf_text(old) and "777.00" not in pdf_text(old)
    assert "777.00" in pdf_text(new)
    assert old_name.endswith("r1).pdf") and new_name.endswith("r2).pdf")
    with pytest.raises(NotFound):
        quote_export(actor=org.salesperson, quote=quote, fmt="pdf", revision=2)  # not sent yet


def test_the_workbook_has_the_quote_and_the_customers_data(org: Any, customer: Any, full_quote: Quote) -> None:
    with translation.override("en"):
        data, content_type, filename = quote_export(actor=org.salesperson, quote=full_quote, fmt="xlsx")
    assert data.startswith(b"PK") and filename.endswith(".xlsx") and "spreadsheetml" in content_type
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Quote", "Customer data"]
    sheet = book["Quote"]
    values = [cell.value for row in sheet.iter_rows() for cell in row if cell.value is not None]
    assert full_quote.title in values and "杭州关系科技有限公司" in values
    header = next(row for row in sheet.iter_rows() if row[0].value == "#")
    first = sheet[header[0].row + 1]
    assert first[2].value == "液压油缸" and first[3].value == "HSG-80/45" and first[5].value == "木箱，每箱 2 台"
    assert first[8].value == 10 and first[9].value == 1200 and first[10].value == 5 and first[12].value == 11400
    assert first[9].number_format == "#,##0.00"
    assert any(isinstance(v, str) and "壹万叁仟肆佰元整" in v for v in values)
    assert sheet._images, "our logo and the product picture are in the sheet"
    customer_sheet = book["Customer data"]
    rows = [(row[0].value, row[1].value) for row in customer_sheet.iter_rows() if row[0].value]
    split = rows.index(("Attention", None))
    account, person = dict(rows[:split]), dict(rows[split + 1:])
    assert account["Name"] == support.CUSTOMER and account["Address"] == "杭州市西湖区文三路 100 号"
    assert account["Phone"] == "0571-88886666" and account["Customer code"] == customer.code
    assert person["Name"] == "陈国华" and person["E-mail"] == "chen@xihu.example" and person["Mobile"] == "13800138000"


def test_every_text_cell_of_the_workbook_is_neutralised(org: Any, account_factory: Any) -> None:
    from guanxi.customers.models import Contact

    account = account_factory(org.salesperson, name="=HYPERLINK(\"http://evil\")", address="+1+1",
                              website="@SUM(A1)")
    person = Contact.objects.create(account=account, name="-2+3", title="\tcmd", email="x@y.example")
    quote = quotes.quote_create(actor=org.salesperson, account=account, subject="＝1+1", contact=person,
                                notes=" =1", lines=[{"name": "=2*3", "model": "+A1", "unit_price": "1",
                                                     "remarks": "@x"}])
    data, _type, _name = quote_export(actor=org.salesperson, quote=quote, fmt="xlsx")
    book = load_workbook(io.BytesIO(data))
    texts = [cell for sheet in book for row in sheet.iter_rows() for cell in row if isinstance(cell.value, str)]
    assert texts
    for cell in texts:
        assert cell.data_type == "s", cell.value
        assert not cell.value.lstrip().startswith(("=", "+", "-", "@", "\t", "＝")), cell.value
    assert any(cell.value.startswith("'=HYPERLINK") for cell in texts)
    assert any(cell.value == "'=2*3" for cell in texts)


def test_the_email_draft_goes_to_the_contact_with_the_pdf(org: Any, full_quote: Quote) -> None:
    data, content_type, filename = quote_export(actor=org.salesperson, quote=full_quote, fmt="eml")
    message = email.message_from_bytes(data, policy=policy.default)
    assert content_type == "message/rfc822" and filename.endswith(".eml")
    assert message["Subject"] == full_quote.title and "chen@xihu.example" in message["To"]
    assert message["X-Unsent"] == "1"
    attachments = list(message.iter_attachments())
    assert [a.get_content_type() for a in attachments] == ["application/pdf"]
    assert attachments[0].get_content().startswith(b"%PDF")


def test_every_download_is_audited_and_scoped(org: Any, full_quote: Quote) -> None:
    quote_export(actor=org.salesperson, quote=full_quote, fmt="pdf")
    quote_export(actor=org.manager, quote=full_quote, fmt="xlsx")
    rows = AuditEvent.objects.filter(action="export", object_id=str(full_quote.pk)).order_by("id")
    assert [(r.actor_name, r.changes["format"], r.changes["revision"]) for r in rows] == [
        ("sales", "pdf", 1), ("manager", "xlsx", 1)]
    with pytest.raises(NotFound):
        quote_export(actor=org.teammate, quote=full_quote, fmt="pdf")
    with pytest.raises(Forbidden):
        quote_export(actor=org.service, quote=full_quote, fmt="pdf")
    assert AuditEvent.objects.filter(action="export", object_id=str(full_quote.pk)).count() == 2


def test_a_quote_without_logo_picture_or_contact_still_prints(org: Any, make_quote: Any, settings: Any) -> None:
    settings.GUANXI_COMPANY_LOGO = "/nonexistent/logo.png"
    settings.GUANXI_COMPANY_NAME = ""
    quote = quotes.quote_create(actor=org.salesperson, account=make_quote().account, subject="配件",
                                lines=[{"name": "密封圈", "unit_price": "12.5", "quantity": "100"}])
    data, _t, _n = quote_export(actor=org.salesperson, quote=quote, fmt="pdf")
    text = pdf_text(data)
    assert "密封圈" in text and "总公司" in text  # our name falls back to the top department
    book = load_workbook(io.BytesIO(quote_export(actor=org.salesperson, quote=quote, fmt="xlsx")[0]))
    assert len(book.sheetnames) == 2
