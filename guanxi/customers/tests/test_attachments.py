"""Attachments (R1.7) under the upload rules of S12."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from guanxi.core.models import AuditEvent
from guanxi.customers.models import AccountAttachment

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def upload(client, account, name, content, kind="licence"):
    return client.post(f"/accounts/{account.pk}/attachments/",
                       {"kind": kind, "file": SimpleUploadedFile(name, content, content_type="application/pdf")})


def test_upload_is_stored_under_a_random_name_and_downloads_safely(org, login, account_factory):
    account = account_factory(org.salesperson)
    client = login(org.salesperson)
    response = upload(client, account, "营业执照.pdf", PDF)
    assert response.status_code == 302
    attachment = AccountAttachment.objects.get(account=account)
    assert attachment.original_name == "营业执照.pdf"
    assert attachment.kind == "licence" and attachment.content_type == "application/pdf"
    stored = attachment.file.name
    assert "营业执照" not in stored and not stored.endswith(".pdf") and len(stored.rsplit("/", 1)[-1]) == 32
    assert AuditEvent.objects.filter(action="create", content_type__model="accountattachment").exists()
    download = client.get(f"/accounts/attachments/{attachment.pk}/download/")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Type"] == "application/pdf"
    assert b"".join(download.streaming_content) == PDF
    # The Files tab, which the account page loads when it is opened.
    assert "营业执照.pdf" in client.get(f"/accounts/{account.pk}/files/", HTTP_HX_REQUEST="true").content.decode()


@pytest.mark.parametrize(("name", "content"), [
    ("logo.svg", SVG),
    ("page.html", HTML),
    ("合同.pdf.html", HTML),
    ("合同.html.pdf", PDF),
    ("fake.pdf", HTML),
    ("fake.png", SVG),
    ("notes.txt", HTML),
    ("noextension", PDF),
    ("run.exe", b"MZ" + b"\x00" * 10),
])
def test_dangerous_uploads_are_refused(org, login, api, account_factory, name, content):
    account = account_factory(org.salesperson)
    upload(login(org.salesperson), account, name, content)
    response = api(org.salesperson).client.post(f"/api/v1/accounts/{account.pk}/attachments",
                                                {"file": SimpleUploadedFile(name, content), "kind": "other"})
    assert response.status_code == 422, response.content
    assert not AccountAttachment.all_objects.exists()


@pytest.mark.parametrize("name", ["..\\evil.pdf", "..\\..\\x.pdf", ".hidden.pdf", "..pdf"])
def test_path_names_are_refused_by_the_service_and_never_reach_the_disk(org, login, account_factory, name):
    from guanxi.core.errors import Invalid
    from guanxi.customers.services.lists import attachment_upload

    account = account_factory(org.salesperson)
    with pytest.raises(Invalid):
        attachment_upload(actor=org.salesperson, account=account, upload=SimpleUploadedFile(name, PDF))
    assert not AccountAttachment.all_objects.exists()
    # Django's upload objects already cut "../" directories off: what is kept is a plain name,
    # stored under a random one.
    upload(login(org.salesperson), account, "../../etc/passwd.pdf", PDF)
    upload(login(org.salesperson), account, name, PDF)
    for attachment in AccountAttachment.all_objects.all():
        assert "/" not in attachment.original_name and ".." not in attachment.original_name
        assert attachment.original_name not in attachment.file.name


def test_huge_files_are_refused(org, api, account_factory, settings):
    settings.GUANXI_ATTACHMENT_MAX_BYTES = 1024
    account = account_factory(org.salesperson)
    response = api(org.salesperson).client.post(f"/api/v1/accounts/{account.pk}/attachments", {
        "file": SimpleUploadedFile("big.pdf", PDF + b"0" * 2048), "kind": "other"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    assert "larger than" in response.json()["errors"]["file"][0]
    assert not AccountAttachment.all_objects.exists()


def test_api_upload_list_download_and_hidden_attachments_are_404(org, api, login, account_factory):
    account = account_factory(org.salesperson)
    client = api(org.salesperson)
    created = client.client.post(f"/api/v1/accounts/{account.pk}/attachments",
                                 {"file": SimpleUploadedFile("photo.png", PNG), "kind": "id_copy"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["original_name"] == "photo.png" and body["content_type"] == "image/png"
    assert [a["id"] for a in client.get(f"/api/v1/accounts/{account.pk}/attachments").json()] == [body["id"]]
    download = client.get(body["download_url"])
    assert download.status_code == 200 and download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Disposition"].startswith("attachment")
    # Someone who cannot see the account gets 404 everywhere.
    assert api(org.outsider).get(body["download_url"]).status_code == 404
    assert login(org.outsider).get(f"/accounts/attachments/{body['id']}/download/").status_code == 404
    assert api(org.outsider).get(f"/api/v1/accounts/{account.pk}/attachments").status_code == 404


def test_delete_goes_to_the_recycle_bin_and_needs_the_delete_right(org, api, login, account_factory):
    account = account_factory(org.salesperson)
    created = api(org.salesperson).client.post(f"/api/v1/accounts/{account.pk}/attachments",
                                               {"file": SimpleUploadedFile("a.pdf", PDF), "kind": "agreement"})
    pk = created.json()["id"]
    assert login(org.salesperson).post(f"/accounts/attachments/{pk}/delete/").status_code == 403
    assert AccountAttachment.objects.filter(pk=pk).exists()
    assert login(org.manager).post(f"/accounts/attachments/{pk}/delete/").status_code == 302
    assert not AccountAttachment.objects.filter(pk=pk).exists()
    assert AccountAttachment.all_objects.get(pk=pk).deleted_at is not None
    assert AuditEvent.objects.filter(action="delete", content_type__model="accountattachment").exists()
