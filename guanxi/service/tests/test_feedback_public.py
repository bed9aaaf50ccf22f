"""The public form /feedback/: no login, anti-spam (honeypot, signed timestamp, rate limit), language, escaping."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from guanxi.core.models import AuditEvent
from guanxi.service.models import Case, CaseAttachment, CaseCategory
from guanxi.service.tests.intake_helpers import JPG, XSS, feedback_form, old_token, submission, upload
from guanxi.service.views.intake import form_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def form(org):
    return feedback_form(org.service, intro="请告诉我们发生了什么。")


def post(data, path="/feedback/", **extra):
    return Client().post(path, data, **extra)


def body(response) -> str:
    return response.content.decode()


def test_without_a_form_the_page_says_it_is_not_set_up(db):
    response = Client().get("/feedback/")
    assert response.status_code == 404
    assert 'data-testid="feedback-missing"' in body(response)
    assert Client().get("/feedback/nothing-here/").status_code == 404


def test_the_form_is_public_chinese_by_default_and_english_for_english_browsers(form):
    page = Client().get("/feedback/")
    assert page.status_code == 200 and page["Content-Language"] == "zh-hans"
    html = body(page)
    assert "意见与投诉" in html and 'name="website"' in html and 'name="token"' in html
    assert 'name="attachments"' in html and 'enctype="multipart/form-data"' in html
    assert page["Cache-Control"].startswith("max-age=0")
    english = Client().get("/feedback/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert english["Content-Language"] == "en" and "What happened?" in body(english)
    chinese = Client().get("/feedback/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    assert chinese["Content-Language"] == "zh-hans"
    # The language switch's cookie wins over the browser.
    switched = Client(HTTP_ACCEPT_LANGUAGE="en")
    switched.cookies["guanxi_language"] = "zh-hans"
    assert switched.get("/feedback/")["Content-Language"] == "zh-hans"


def test_a_submission_becomes_a_case_and_the_thank_you_page_shows_only_its_number(org, form):
    response = post(submission(form))
    assert response.status_code == 200, body(response)
    case = Case.objects.get()
    assert case.channel == "web" and case.form == form and case.owner == org.service and case.kind == "complaint"
    assert case.sender_phone == "13900001111" and case.sender_name == "李先生" and case.wants_reply
    html = body(response)
    assert 'data-testid="feedback-thanks"' in html and case.code in html
    assert case.title not in html and case.sender_name not in html and case.sender_phone not in html


def test_a_reload_of_the_thank_you_page_does_not_file_twice(form):
    data = submission(form)
    first = post(data)
    again = post(data)
    assert again.status_code == 200
    assert Case.objects.count() == 1
    code = Case.objects.get().code
    assert code in body(first) and code in body(again)


def test_the_variant_address_and_its_kind_and_category(org, form):
    category = CaseCategory.objects.create(name="门店服务", kind="suggestion")
    shop = feedback_form(org.service2, slug="shanghai-store", title="上海门店意见卡", kind="suggestion",
                         category=category, channel="card", allow_attachments=False)
    page = Client().get("/feedback/shanghai-store/")
    assert page.status_code == 200 and "上海门店意见卡" in body(page) and 'name="attachments"' not in body(page)
    response = post(submission(shop, kind="suggestion"), "/feedback/shanghai-store/")
    assert response.status_code == 200, body(response)
    case = Case.objects.get()
    assert case.owner == org.service2 and case.channel == "card" and case.category == category
    # A complaint on the suggestion form keeps no suggestion category.
    post(submission(shop, kind="complaint"), "/feedback/shanghai-store/")
    assert Case.objects.order_by("-pk").first().category is None
    shop.active = False
    shop.save(update_fields=["active"])
    assert Client().get("/feedback/shanghai-store/").status_code == 404


def test_the_honeypot_refuses_and_writes_nothing(form):
    response = post(submission(form, website="http://spam.example"))
    assert response.status_code == 400 and 'data-testid="feedback-refused"' in body(response)
    assert not Case.all_objects.exists() and not AuditEvent.objects.exists()


def test_too_fast_is_refused_and_keeps_what_was_typed(form):
    response = post(submission(form, token=form_token(form), name="快手先生"))
    assert response.status_code == 400
    html = body(response)
    assert 'data-testid="feedback-notice"' in html and 'value="快手先生"' in html
    assert not Case.all_objects.exists()


@pytest.mark.parametrize("token", ["", "garbage", "stale", "other-form"])
def test_a_stale_forged_or_foreign_stamp_is_refused(org, form, token):
    other = feedback_form(org.service, slug="other", title="其他")
    value = {"": "", "garbage": "abc:def", "stale": old_token(form, seconds=3 * 3600),
             "other-form": old_token(other)}[token]
    response = post(submission(form, token=value, name="慢先生"))
    assert response.status_code == 400
    html = body(response)
    assert 'data-testid="feedback-notice"' in html and 'value="慢先生"' in html
    assert not Case.all_objects.exists()
    # The page carries a fresh stamp; sent again after a moment it is accepted.
    fresh = response.context["form"]["token"].value()
    assert fresh and fresh != value


def test_the_rate_limit_answers_429_per_address_and_form(org, form, settings):
    settings.GUANXI_FEEDBACK_RATE = "3/10m"
    for _ in range(3):
        assert post(submission(form)).status_code == 200
    refused = post(submission(form))
    assert refused.status_code == 429 and 'data-testid="feedback-refused"' in body(refused)
    assert Case.objects.count() == 3
    # Refused attempts count too; nothing is written for them.
    assert post(submission(form, website="x")).status_code == 429
    assert Case.objects.count() == 3
    # Another address, or another form, has its own allowance.
    assert post(submission(form), REMOTE_ADDR="10.0.0.8").status_code == 200
    other = feedback_form(org.service, slug="other", title="其他")
    assert post(submission(other), "/feedback/other/").status_code == 200
    assert Case.objects.count() == 5


def test_field_messages_in_chinese_and_english_keep_what_was_typed(form):
    data = submission(form, title="", description="", name="张三", phone="", email="bad@", wants_reply="on")
    chinese = post(data)
    assert chinese.status_code == 422
    html = body(chinese)
    assert "此项为必填项。" in html and "有效的" in html and 'value="张三"' in html
    english = post(data, HTTP_ACCEPT_LANGUAGE="en")
    html = body(english)
    assert english.status_code == 422 and "This field is required." in html and "valid email" in html
    # The service's own rule (a reply needs a phone or an e-mail), on the phone field.
    reply = post(submission(form, phone="", email=""), HTTP_ACCEPT_LANGUAGE="en")
    assert reply.status_code == 422 and "so that we can reply" in body(reply)
    assert 'data-testid="error-phone"' in body(reply)
    assert not Case.all_objects.exists()


def test_after_an_error_the_same_page_can_be_sent(form):
    data = submission(form, title="")
    assert post(data).status_code == 422
    data["title"] = "补上的标题"
    assert post(data).status_code == 200
    assert Case.objects.get().title == "补上的标题"


def test_xss_in_every_field_is_stored_as_text_and_rendered_escaped(form):
    refused = post(submission(form, title=XSS, description=XSS, name=XSS, company=XSS, order_number=XSS[:40],
                              phone=XSS, email=XSS, product=XSS, kind=XSS))
    assert refused.status_code == 422
    assert "<script>alert" not in body(refused) and "&lt;script&gt;" in body(refused)
    assert not Case.all_objects.exists()
    accepted = post(submission(form, title=XSS, description=XSS, name=XSS, company=XSS, order_number=XSS[:40]))
    assert accepted.status_code == 200
    case = Case.objects.get()
    assert case.title == XSS and case.sender_name == XSS and case.sender_company == XSS
    assert case.description.startswith(XSS) and XSS[:40] in case.description
    html = body(accepted)
    assert "<script>alert" not in html and "onerror=alert" not in html and case.code in html


def test_a_good_photo_is_accepted_with_the_submission(form):
    response = post(submission(form) | {"attachments": [upload("现场照片.jpg", JPG, "image/jpeg")]})
    assert response.status_code == 200, body(response)
    attachment = CaseAttachment.objects.get()
    assert attachment.original_name == "现场照片.jpg" and attachment.uploaded_by is None
    assert "现场照片" not in attachment.file.name


def test_a_bad_attachment_refuses_the_whole_submission(form):
    response = post(submission(form) | {"attachments": [upload("x.html.pdf", b"%PDF-1.4")]},
                    HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422 and "cannot be uploaded" in body(response)
    assert not Case.all_objects.exists() and not CaseAttachment.all_objects.exists()


def test_staff_signed_in_keep_their_own_language(org, form, login):
    org.service.language = "en"
    org.service.save(update_fields=["language"])
    page = login(org.service).get("/feedback/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert page["Content-Language"] == "en"

