"""Written confirmation of an interaction (R3.4): PDF with Chinese text, e-mail draft, rights."""

from __future__ import annotations

import datetime as dt
import email
import io
import shutil
import subprocess
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from django.utils import timezone, translation
from pypdf import PdfReader

from guanxi.activities import services
from guanxi.activities.models import FollowUp
from guanxi.activities.selectors.reports import company_name, confirmation_for
from guanxi.activities.services import documents
from guanxi.core.models import AuditEvent
from guanxi.customers.models import Contact

pytestmark = pytest.mark.django_db
MISSING_ID = 987654321


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def meeting(org: Any, account_factory: Any, settings: Any) -> Any:
    """A meeting at 上海宝山精密机械有限公司 with two of their people and two agreed next steps."""
    settings.GUANXI_COMPANY_NAME = "杭州关系软件有限公司"
    org.salesperson.email = "wangwei@guanxi.example"
    org.salesperson.language = "en"  # the documents are written in the user's language
    org.salesperson.save()
    org.manager.email = "liuyang@guanxi.example"
    org.manager.save()
    account = account_factory(org.salesperson, name="上海宝山精密机械有限公司")
    li = Contact.objects.create(account=account, name="李建国", title="采购总监", email="li.jianguo@baoshan.example")
    zhang = Contact.objects.create(account=account, name="张晓燕", title="技术经理")  # no e-mail
    when = timezone.now() - dt.timedelta(hours=3)
    interaction = services.interaction_create(
        actor=org.salesperson, account=account, kind="meeting", purpose="deal", occurred_at=when,
        subject="二期设备框架协议", summary="双方讨论了二期设备采购的框架协议。\n客户关注交货期与售后响应。",
        agreements="价格按二〇二六年目录下调百分之三\n交货期缩短为十五个工作日\n\n",
        their_people=[li.pk, zhang.pk], our_people=[org.manager.pk],
        next_step={"title": "发送修订版报价单", "due_at": when + dt.timedelta(days=2), "owner": org.manager},
    )
    services.followup_create(actor=org.salesperson, account=account, title="安排工厂参观",
                             due_at=when + dt.timedelta(days=9), interaction=interaction)
    cancelled = services.followup_create(actor=org.salesperson, account=account, title="已取消的事项",
                                         due_at=when + dt.timedelta(days=3), interaction=interaction)
    services.followup_cancel(actor=org.salesperson, followup=cancelled)
    return interaction


def _pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "".join(page.extract_text() for page in reader.pages)


def test_the_confirmation_pdf_carries_the_chinese_names_and_points(org: Any, login: Any, meeting: Any) -> None:
    response = login(org.salesperson).get(f"/activities/interactions/{meeting.pk}/confirmation.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment")
    assert response.content.startswith(b"%PDF")
    text = _pdf_text(response.content)
    compact = text.replace("\n", "").replace(" ", "")
    for expected in ["杭州关系软件有限公司", "上海宝山精密机械有限公司", "二期设备框架协议", "李建国", "采购总监", "张晓燕",
                     "王伟", "刘洋", "客户关注交货期与售后响应", "价格按二〇二六年目录下调百分之三",
                     "交货期缩短为十五个工作日", "发送修订版报价单", "安排工厂参观"]:
        assert expected in compact, expected
    assert "已取消的事项" not in compact
    due = timezone.localtime(meeting.occurred_at + dt.timedelta(days=2)).strftime("%Y-%m-%d")
    assert due in text
    assert "Meeting minutes" in text and "Please confirm" in text and "Agreed points" in text
    assert "1." in text and "2." in text


def test_the_title_is_meaningful_and_the_points_numbered(org: Any, meeting: Any) -> None:
    conf = confirmation_for(org.salesperson, meeting)
    date = timezone.localtime(meeting.occurred_at).strftime("%Y-%m-%d")
    assert conf.title == f"Meeting minutes: 上海宝山精密机械有限公司 — 二期设备框架协议 ({date})"
    assert conf.agreements == ["价格按二〇二六年目录下调百分之三", "交货期缩短为十五个工作日"]
    assert [s.title for s in conf.next_steps] == ["发送修订版报价单", "安排工厂参观"]
    assert [s.owner for s in conf.next_steps] == ["刘洋", "王伟"]
    assert conf.ours == ["王伟", "刘洋"]
    assert conf.recipients == [("李建国", "li.jianguo@baoshan.example")]
    assert "wangwei@guanxi.example" in conf.closing


def test_a_call_without_subject_is_titled_by_its_summary(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson, name="苏州金桥物流有限公司")
    call = services.interaction_create(actor=org.salesperson, account=account, kind="call",
                                       summary="确认下月运费报价\n其他细节")
    conf = confirmation_for(org.salesperson, call)
    assert conf.document == "Written confirmation"
    assert "苏州金桥物流有限公司" in conf.title and "确认下月运费报价" in conf.title
    assert "其他细节" not in conf.title


def test_our_company_falls_back_to_the_top_department(org: Any, settings: Any) -> None:
    settings.GUANXI_COMPANY_NAME = ""
    assert company_name() == "总公司"
    settings.GUANXI_COMPANY_NAME = "  杭州关系软件有限公司 "
    assert company_name() == "杭州关系软件有限公司"


def test_the_first_page_renders_to_a_non_blank_image(org: Any, meeting: Any, tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    from PIL import Image

    content, _type, _name = documents.confirmation_export(actor=org.salesperson, interaction=meeting)
    source = tmp_path / "confirmation.pdf"
    source.write_bytes(content)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(source), str(tmp_path / "page")],
                   check=True, capture_output=True, timeout=60)
    [png] = list(tmp_path.glob("page*.png"))
    shutil.copy(png, Path("/tmp/h3/confirmation.png")) if Path("/tmp/h3").is_dir() else None
    image = Image.open(png).convert("L")
    dark = sum(image.histogram()[:128])  # pixels darker than mid-grey
    assert dark > 2000, f"only {dark} dark pixels: the page is (nearly) blank"


def test_the_email_draft_parses_with_the_pdf_attached(org: Any, login: Any, meeting: Any) -> None:
    response = login(org.salesperson).get(f"/activities/interactions/{meeting.pk}/confirmation.eml")
    assert response.status_code == 200
    assert response["Content-Type"] == "message/rfc822"
    assert ".eml" in response["Content-Disposition"]
    message = email.message_from_bytes(response.content, policy=policy.default)
    date = timezone.localtime(meeting.occurred_at).strftime("%Y-%m-%d")
    assert message["Subject"] == f"Meeting minutes: 上海宝山精密机械有限公司 — 二期设备框架协议 ({date})"
    assert b"=?utf-8?" in response.content.lower()  # the raw header is encoded, not 8-bit
    to = message["To"].addresses
    assert [(a.display_name, a.addr_spec) for a in to] == [("李建国", "li.jianguo@baoshan.example")]
    assert [a.addr_spec for a in message["Cc"].addresses] == ["liuyang@guanxi.example"]
    assert message["From"].addresses[0].addr_spec == "wangwei@guanxi.example"
    assert message["X-Unsent"] == "1"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "Dear 李建国, 张晓燕," in text
    assert "1. 价格按二〇二六年目录下调百分之三" in text and "发送修订版报价单 — 刘洋" in text
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename().endswith(".pdf") and "上海宝山精密机械有限公司" in attachment.get_filename()
    pdf = attachment.get_content()
    assert pdf.startswith(b"%PDF") and "李建国" in _pdf_text(pdf)


def test_the_preview_page_offers_the_three_ways(org: Any, login: Any, meeting: Any) -> None:
    page = login(org.salesperson).get(f"/activities/interactions/{meeting.pk}/confirmation/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"/activities/interactions/{meeting.pk}/confirmation.pdf" in html
    assert f"/activities/interactions/{meeting.pk}/confirmation.eml" in html
    assert "交货期缩短为十五个工作日" in html and "发送修订版报价单" in html
    link = page.context["mailto"]
    assert link.startswith("mailto:li.jianguo@baoshan.example?")
    assert "上海宝山精密机械有限公司" in unquote(link) and "发送修订版报价单" in unquote(link)
    # Viewing the preview is not a download: nothing audited yet.
    assert not AuditEvent.objects.filter(action="export", object_id=str(meeting.pk)).exists()


def test_every_download_is_audited_as_an_export(org: Any, login: Any, api: Any, meeting: Any) -> None:
    client, api_client = login(org.salesperson), api(org.salesperson)
    assert client.get(f"/activities/interactions/{meeting.pk}/confirmation.pdf").status_code == 200
    assert client.get(f"/activities/interactions/{meeting.pk}/confirmation.eml").status_code == 200
    assert api_client.get(f"/api/v1/interactions/{meeting.pk}/confirmation.pdf").status_code == 200
    assert api_client.get(f"/api/v1/interactions/{meeting.pk}/confirmation.eml").status_code == 200
    events = AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT, object_id=str(meeting.pk)).order_by("id")
    assert [e.note for e in events] == ["confirmation.pdf", "confirmation.eml"] * 2
    assert [e.channel for e in events] == ["web", "web", "api", "api"]
    assert all(e.actor_id == org.salesperson.pk for e in events)
    assert events[1].changes["to"] == ["li.jianguo@baoshan.example"]


def test_the_api_answers_the_documents(org: Any, api: Any, meeting: Any) -> None:
    client = api(org.salesperson)
    pdf = client.get(f"/api/v1/interactions/{meeting.pk}/confirmation.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert "价格按二〇二六年目录下调百分之三" in _pdf_text(pdf.content).replace("\n", "")
    eml = client.get(f"/api/v1/interactions/{meeting.pk}/confirmation.eml")
    message = email.message_from_bytes(eml.content, policy=policy.default)
    assert "上海宝山精密机械有限公司" in message["Subject"]


def test_the_documents_follow_the_users_language(org: Any, login: Any, meeting: Any) -> None:
    from django.utils.translation import gettext

    org.manager.language = "zh-hans"
    org.manager.save()
    with translation.override("zh-hans"):
        minutes = gettext("Meeting minutes")
        conf = confirmation_for(org.manager, meeting)
    assert minutes in conf.title and "上海宝山精密机械有限公司" in conf.title
    eml = login(org.manager).get(f"/activities/interactions/{meeting.pk}/confirmation.eml")
    message = email.message_from_bytes(eml.content, policy=policy.default)
    assert message["Subject"] == conf.title
    # The English user's draft of the same meeting carries the same data in English wording.
    english = login(org.salesperson).get(f"/activities/interactions/{meeting.pk}/confirmation.eml")
    subject = email.message_from_bytes(english.content, policy=policy.default)["Subject"]
    assert subject.startswith("Meeting minutes: 上海宝山精密机械有限公司")


def test_hidden_interactions_answer_404_like_missing_ones(org: Any, login: Any, api: Any, meeting: Any) -> None:
    client, api_client = login(org.outsider), api(org.outsider)
    before = AuditEvent.objects.count()
    for suffix in ("confirmation/", "confirmation.pdf", "confirmation.eml"):
        assert client.get(f"/activities/interactions/{meeting.pk}/{suffix}").status_code == 404
        assert client.get(f"/activities/interactions/{MISSING_ID}/{suffix}").status_code == 404
    for suffix in ("confirmation.pdf", "confirmation.eml"):
        hidden = api_client.get(f"/api/v1/interactions/{meeting.pk}/{suffix}")
        missing = api_client.get(f"/api/v1/interactions/{MISSING_ID}/{suffix}")
        assert hidden.status_code == missing.status_code == 404
        assert hidden.content == missing.content
    assert AuditEvent.objects.count() == before  # nothing exported, nothing recorded
    # The same URLs serve the owner's manager (proves the 404 above is about visibility).
    assert login(org.manager).get(f"/activities/interactions/{meeting.pk}/confirmation.pdf").status_code == 200


def test_a_deleted_interaction_has_no_confirmation(org: Any, login: Any, meeting: Any) -> None:
    services.interaction_delete(actor=org.manager, interaction=meeting)
    assert login(org.salesperson).get(f"/activities/interactions/{meeting.pk}/confirmation.pdf").status_code == 404


def test_the_service_refuses_a_hidden_interaction_itself(org: Any, meeting: Any) -> None:
    from guanxi.core.errors import NotFound

    with pytest.raises(NotFound):
        documents.confirmation_export(actor=org.outsider, interaction=meeting)
    assert not AuditEvent.objects.filter(action="export").exists()


def test_markup_in_the_text_is_printed_not_interpreted(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson, name="<b>粗体</b> & 公司")
    call = services.interaction_create(actor=org.salesperson, account=account, kind="call",
                                       summary="<font color=red>红字</font> <script>x</script>",
                                       agreements="a < b & c > d")
    content, _type, _name = documents.confirmation_export(actor=org.salesperson, interaction=call)
    text = _pdf_text(content)
    assert "<font color=red>红字</font>" in text and "a < b & c > d" in text and "<b>粗体</b> & 公司" in text


def test_next_steps_hidden_from_nobody_and_only_from_this_interaction(org: Any, meeting: Any) -> None:
    other = services.followup_create(actor=org.salesperson, account=meeting.account, title="与本次会议无关",
                                     due_at=timezone.now() + dt.timedelta(days=1))
    assert other.interaction_id is None
    titles = [s.title for s in confirmation_for(org.manager, meeting).next_steps]
    assert "与本次会议无关" not in titles and len(titles) == 2
    assert FollowUp.objects.filter(interaction=meeting).count() == 3  # incl. the cancelled one, left out
