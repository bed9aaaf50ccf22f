"""Case attachments under the upload rules of S12: refused kinds, random stored names, safe downloads."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from guanxi.core.errors import Forbidden, Invalid, NotFound
from guanxi.core.models import AuditEvent
from guanxi.customers.models import Contact
from guanxi.service.models import CaseAttachment
from guanxi.service.services import attachments, intake
from guanxi.service.tests.intake_helpers import HTML, JPG, PDF, SVG, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def case(org, account_factory):
    account = account_factory(org.salesperson, name="苏州精密机械有限公司")
    Contact.objects.create(account=account, name="王经理", mobile="13812345678")
    return intake.case_receive(actor=org.service, kind="complaint", title="外壳破裂", description="到货时外壳破裂。",
                               channel="hotline", sender_phone="13812345678")


def stored_files(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.mark.parametrize(("name", "content"), [
    ("logo.svg", SVG),
    ("page.html", HTML),
    ("照片.pdf.html", HTML),
    ("照片.html.pdf", PDF),
    ("fake.jpg", HTML),
    ("fake.pdf", SVG),
    ("notes.txt", HTML),
    ("noextension", PDF),
    ("run.exe", b"MZ" + b"\x00" * 10),
    ("..\\evil.pdf", PDF),
    ("..pdf", PDF),
    (".hidden.pdf", PDF),
    ("empty.pdf", b""),
])
def test_dangerous_or_empty_uploads_are_refused_and_nothing_is_stored(org, case, tmp_path, name, content):
    with pytest.raises(Invalid) as caught:
        attachments.attach(actor=org.service, case=case, upload=upload(name, content))
    assert caught.value.errors["file"][0]
    assert not CaseAttachment.all_objects.exists() and not stored_files(tmp_path)
    assert not AuditEvent.objects.filter(content_type__model="caseattachment").exists()


def test_a_huge_file_is_refused_with_the_limit_in_the_message(org, case, settings, tmp_path):
    settings.GUANXI_CASE_ATTACHMENT_MAX_BYTES = 1024
    with pytest.raises(Invalid) as caught:
        attachments.attach(actor=org.service, case=case, upload=upload("big.pdf", PDF + b"0" * 2048))
    assert "larger than" in caught.value.errors["file"][0]
    assert not CaseAttachment.all_objects.exists() and not stored_files(tmp_path)


def test_the_default_limit_is_ten_megabytes(settings):
    assert attachments.max_bytes() == 10 * 1024 * 1024


@pytest.mark.parametrize(("name", "content", "content_type"), [
    ("现场照片.jpg", JPG, "image/jpeg"),
    ("检测报告.pdf", PDF, "application/pdf"),
])
def test_good_files_are_stored_under_a_random_name_and_download_safely(org, case, login, name, content,
                                                                       content_type):
    attachment = attachments.attach(actor=org.service, case=case, upload=upload(name, content))
    assert attachment.original_name == name and attachment.content_type == content_type
    assert attachment.size == len(content) and attachment.uploaded_by == org.service
    stored = attachment.file.name
    assert re.fullmatch(rf"cases/{timezone.now():%Y/%m}/[0-9a-f]{{32}}", stored), stored
    assert AuditEvent.objects.filter(action="create", content_type__model="caseattachment").exists()
    download = login(org.service).get(f"/service/attachments/{attachment.pk}/download/")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Type"] == content_type
    assert "sandbox" in download["Content-Security-Policy"]
    assert b"".join(download.streaming_content) == content


def test_whoever_cannot_see_the_case_gets_404(org, case, login):
    attachment = attachments.attach(actor=org.service, case=case, upload=upload("a.pdf", PDF))
    url = f"/service/attachments/{attachment.pk}/download/"
    # The account's salesperson and the owner's supervisors see the case, and so its files.
    for user in (org.salesperson, org.service_manager, org.service_lead, org.gm):
        assert login(user).get(url).status_code == 200, user
    for user in (org.service2, org.outsider, org.teammate):
        assert login(user).get(url).status_code == 404, user
    assert login(org.marketing).get(url).status_code == 403  # no case.view at all
    assert login(org.service).get("/service/attachments/999999/download/").status_code == 404
    attachment.deleted_at = timezone.now()
    attachment.save(update_fields=["deleted_at"])
    assert login(org.service).get(url).status_code == 404


def test_only_the_owner_or_a_supervisor_adds_files(org, case):
    with pytest.raises(Forbidden):
        attachments.attach(actor=org.salesperson, case=case, upload=upload("a.pdf", PDF))
    with pytest.raises(NotFound):
        attachments.attach(actor=org.service2, case=case, upload=upload("a.pdf", PDF))
    assert not CaseAttachment.all_objects.exists()
    assert attachments.attach(actor=org.service_manager, case=case, upload=upload("a.pdf", PDF)).pk


def test_at_most_five_files_per_submission():
    with pytest.raises(Invalid) as caught:
        attachments.check_all([upload(f"{i}.pdf", PDF) for i in range(6)])
    assert "at most 5" in caught.value.errors["attachments"][0]
    assert len(attachments.check_all([upload(f"{i}.pdf", PDF) for i in range(5)])) == 5
