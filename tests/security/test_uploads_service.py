"""S12 — files sent with a case: through the public feedback form (no login), the case page's
upload (staff) and the API.

Refused, each with a message and with nothing stored (no case, no attachment row, no file on
disk): an SVG with a script, an HTML page, markup named as a picture or a text file, double
extensions either way round, a file over the size limit, an empty file, a name with ``../`` (or
``..``, or a path), too many files; one bad file among good ones refuses the whole submission.
Accepted files are stored under a random name inside the media root, never the sender's, keep
the sender's name only as data, are served only as a download (``Content-Disposition:
attachment``) with ``X-Content-Type-Options: nosniff`` and the type the server decided (never
the one the sender claimed), and only to users who see the case (404 otherwise, like a missing
file; anonymous callers are sent to sign in).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from guanxi.core.errors import Invalid
from guanxi.service.models import Case, CaseAttachment, FeedbackForm

pytestmark = pytest.mark.django_db

JPG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"
LIMIT = 4096

# (file name, content, content type claimed by the sender)
BAD = {
    "svg with a script": ("现场.svg", SVG, "image/svg+xml"),
    "svg named .png": ("现场.png", SVG, "image/png"),
    "svg named .jpg": ("现场.jpg", b"  " + SVG, "image/jpeg"),
    "html page": ("说明.html", HTML, "text/html"),
    "html named .txt": ("说明.txt", HTML, "text/plain"),
    "html named .csv": ("数据.csv", b"<script>alert(1)</script>", "text/csv"),
    "double extension .pdf.html": ("发票.pdf.html", HTML, "application/pdf"),
    "double extension .html.pdf": ("发票.html.pdf", PDF, "application/pdf"),
    "double extension .php.jpg": ("照片.php.jpg", JPG, "image/jpeg"),
    "double extension .jpg.exe": ("照片.jpg.exe", b"MZ\x90\x00", "image/jpeg"),
    "svg as .svgz.png": ("图.svgz.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 16, "image/png"),
    "huge": ("大图.jpg", JPG + b"\x00" * (LIMIT + 1), "image/jpeg"),
    "empty": ("空.pdf", b"", "application/pdf"),
    "no extension": ("照片", JPG, "image/jpeg"),
    "hidden name": (".jpg", JPG, "image/jpeg"),
    "two dots": ("照片..jpg", JPG, "image/jpeg"),
}
# Names only the services ever see: a browser's multipart parser keeps the last path part.
BAD_NAMES = ["../../etc/passwd.jpg", "..\\..\\boot.jpg", "/etc/x.jpg", "a/b.jpg", "..jpg", "C:\\x\\y.jpg"]


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    settings.GUANXI_CASE_ATTACHMENT_MAX_BYTES = LIMIT
    settings.GUANXI_FEEDBACK_RATE = "1000/1m"
    return tmp_path


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _form(org: Any) -> FeedbackForm:
    return FeedbackForm.objects.create(slug="main", title="意见与投诉", responder=org.service, is_default=True)


def _post_public(form: FeedbackForm, uploads: list[SimpleUploadedFile], title: str = "设备异响") -> Any:
    from guanxi.service.views.intake import form_token

    data = {"kind": "complaint", "title": title, "description": "见附件照片", "product": "", "order_number": "",
            "name": "李先生", "company": "", "phone": "13900001111", "email": "", "wants_reply": "on", "website": "",
            "token": form_token(form, issued_at=timezone.now().timestamp() - 30), "attachments": uploads}
    return Client(REMOTE_ADDR="127.0.0.9").post("/feedback/", data)


def _upload(name: str, content: bytes, content_type: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def _error_text(response: Any) -> str:
    html = response.content.decode()
    return " ".join(re.findall(r'class="invalid-feedback[^"]*"[^>]*>([^<]+)<', html)) + " ".join(
        re.findall(r'class="alert[^"]*"[^>]*>([^<]+)<', html))


@pytest.mark.parametrize("what", list(BAD))
def test_the_public_form_refuses_a_bad_file_with_a_message_and_stores_nothing(what: str, org: Any,
                                                                            media: Path) -> None:
    form = _form(org)
    name, content, content_type = BAD[what]
    response = _post_public(form, [_upload(name, content, content_type)])
    assert response.status_code in {400, 422}, (what, response.status_code)
    assert _error_text(response).strip(), f"{what}: refused without a message"
    assert not Case.all_objects.exists() and not CaseAttachment.all_objects.exists()
    assert files_under(media) == [], f"{what}: a file was left on disk"


def test_one_bad_file_among_good_ones_refuses_the_whole_submission(org: Any, media: Path) -> None:
    form = _form(org)
    response = _post_public(form, [_upload("照片.jpg", JPG, "image/jpeg"), _upload("发货单.pdf", PDF, "application/pdf"),
                                   _upload("说明.html", HTML, "text/html")])
    assert response.status_code == 422
    assert "说明.html" in _error_text(response)
    assert not Case.all_objects.exists() and files_under(media) == []


def test_too_many_files_are_refused(org: Any, media: Path) -> None:
    from guanxi.service.services.attachments import MAX_FILES

    form = _form(org)
    response = _post_public(form, [_upload(f"照片{i}.jpg", JPG, "image/jpeg") for i in range(MAX_FILES + 1)])
    assert response.status_code == 422 and _error_text(response).strip()
    assert not Case.all_objects.exists() and files_under(media) == []


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_with_a_path_are_refused_by_the_service(name: str, org: Any, media: Path) -> None:
    """The one intake every channel calls refuses them before anything is written."""
    from guanxi.service.services import intake

    upload = _upload("x.jpg", JPG, "image/jpeg")
    upload._name = name  # as a later channel (the mail hub) may hand it over: Django's own setter strips paths
    with pytest.raises(Invalid) as refused:
        intake.case_receive(actor=org.service, kind="complaint", title="设备异响", description="见附件",
                            channel="hotline", sender_phone="13900001111", attachments=[upload])
    assert refused.value.errors.get("attachments"), refused.value.errors
    assert not Case.all_objects.exists() and files_under(media) == []


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_with_a_path_never_reach_outside_the_media_root_through_the_form(name: str, org: Any,
                                                                               media: Path) -> None:
    """Over HTTP the multipart parser already keeps only the last part of a name: the file is
    refused, or kept under a random name inside the media root with a display name free of any
    path; nothing is ever written outside."""
    outside = media.parent / "outside-marker"
    before = set(os.listdir(media.parent))
    response = _post_public(_form(org), [_upload(name, JPG, "image/jpeg")])
    assert response.status_code in {200, 422}
    assert set(os.listdir(media.parent)) == before and not outside.exists()
    for attachment in CaseAttachment.objects.all():
        assert "/" not in attachment.original_name and "\\" not in attachment.original_name
        assert ".." not in attachment.original_name
        assert Path(attachment.file.path).resolve().is_relative_to(media.resolve())


def _stored_name_is_random(attachment: CaseAttachment, sender_name: str) -> None:
    stored = attachment.file.name
    assert re.fullmatch(r"cases/\d{4}/\d{2}/[0-9a-f]{32}", stored), stored
    assert Path(sender_name).stem not in stored and not stored.endswith((".jpg", ".pdf"))
    assert Path(attachment.file.path).resolve().is_relative_to(Path(attachment.file.storage.location).resolve())


def _plain(body: bytes) -> bytes:
    """A page minus what changes on every response (CSRF tokens, CSP nonces)."""
    return re.sub(rb'nonce="[^"]*"', b"", re.sub(rb"[A-Za-z0-9]{64}", b"", body))


def _download(client: Any, url: str) -> tuple[int, dict[str, str], bytes]:
    response = client.get(url)
    body = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    return response.status_code, {k.lower(): v for k, v in response.items()}, body


def test_an_accepted_file_is_stored_under_a_random_name_and_served_only_as_a_download(
        org: Any, media: Path, login: Any, api: Any, account_factory: Any) -> None:
    form = _form(org)
    # The sender claims it is a web page: the server decides the type from the name and the content.
    response = _post_public(form, [_upload("现场照片.jpg", JPG, "text/html"), _upload("发货单.pdf", PDF, "text/html")])
    assert response.status_code == 200, response.content[:500]
    case = Case.objects.get()
    photo, note = CaseAttachment.objects.filter(case=case).order_by("pk")
    assert (photo.original_name, photo.content_type, photo.size) == ("现场照片.jpg", "image/jpeg", len(JPG))
    assert note.content_type == "application/pdf"
    for attachment, sender_name in ((photo, "现场照片.jpg"), (note, "发货单.pdf")):
        _stored_name_is_random(attachment, sender_name)
    assert sorted(p.name for p in files_under(media)) == sorted(Path(a.file.name).name for a in (photo, note))

    html_url = f"/service/attachments/{photo.pk}/download/"
    api_url = f"/api/v1/cases/{case.pk}/attachments/{photo.pk}/download"
    for door, client, url in (("html", login(org.service), html_url), ("api", api(org.service), api_url)):
        status, headers, body = _download(client, url)
        assert status == 200, (door, status)
        assert body == JPG
        assert headers["content-disposition"].startswith("attachment"), (door, headers)
        assert headers["x-content-type-options"] == "nosniff", (door, headers)
        assert headers["content-type"] == "image/jpeg", (door, headers)
    # Whoever does not see the case gets what a missing file gets.
    for persona in ("service2", "salesperson", "outsider"):
        user = getattr(org, persona)
        for door, client, url, missing in (
                ("html", login(user), html_url, "/service/attachments/987654321/download/"),
                ("api", api(user), api_url, f"/api/v1/cases/{case.pk}/attachments/987654321/download")):
            status, _headers, body = _download(client, url)
            assert status == 404, (persona, door, status)
            assert JPG not in body
            assert _plain(body.replace(url.encode(), b"<p>")) == _plain(
                _download(client, missing)[2].replace(missing.encode(), b"<p>")), (persona, door)
    for persona in ("marketing", "admin"):
        assert _download(login(getattr(org, persona)), html_url)[0] == 403
    anonymous = Client().get(html_url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert Client().get(api_url).status_code == 401


def test_staff_uploads_follow_the_same_rules(org: Any, media: Path, login: Any, api: Any) -> None:
    """The case page's upload and the API: bad files refused with a message and nothing stored;
    only those who handle the case add files; a good file is kept like the public form's."""
    from guanxi.service.services import intake

    case = intake.case_receive(actor=org.service, kind="complaint", title="设备异响", description="见附件",
                               channel="hotline", sender_phone="13900001111")
    page, rest = login(org.service), api(org.service)
    for what, (name, content, content_type) in BAD.items():
        response = page.post(f"/service/cases/{case.pk}/attachments/", {"files": [_upload(name, content, content_type)]},
                             follow=True)
        assert response.status_code == 200, what
        listed = [m.message for m in response.context["messages"]] if response.context else []
        assert any(m for m in listed), f"{what}: refused without a message"
        answer = rest.client.post(f"/api/v1/cases/{case.pk}/attachments",
                                  {"file": _upload(name, content, content_type)})
        assert answer.status_code in {400, 422}, (what, answer.status_code, answer.content[:200])
        assert answer.json().get("message") or answer.json().get("errors"), what
        assert not CaseAttachment.all_objects.exists() and files_under(media) == [], what
    # A salesperson who reads the case (their customer's) may not add to it; a stranger gets 404.
    assert api(org.salesperson).client.post(f"/api/v1/cases/{case.pk}/attachments",
                                            {"file": _upload("a.jpg", JPG, "image/jpeg")}).status_code == 404
    assert api(org.service2).client.post(f"/api/v1/cases/{case.pk}/attachments",
                                         {"file": _upload("a.jpg", JPG, "image/jpeg")}).status_code == 404
    assert not CaseAttachment.all_objects.exists() and files_under(media) == []
    answer = rest.client.post(f"/api/v1/cases/{case.pk}/attachments", {"file": _upload("铭牌.jpg", JPG, "text/html")})
    assert answer.status_code == 201, answer.content[:300]
    attachment = CaseAttachment.objects.get()
    assert attachment.content_type == "image/jpeg"
    _stored_name_is_random(attachment, "铭牌.jpg")
