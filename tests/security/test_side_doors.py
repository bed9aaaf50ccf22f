"""S4 — side-door leaks: a secret in another department's account never reaches the salesperson.

One value is seeded into a hidden account (华南's): in its name, notes, phone, a contact's
name and an attachment's file name. (Tags and categories are the company's shared
vocabulary, offered to everyone in the filter bar; a tag name is not customer data.) The salesperson has an account
of their own that looks like a duplicate of it (same name key, same phone), so every place
that compares accounts — duplicate finder, merge candidates, import preview, business-card
entry — is tempted to show it. Then every read path is walked as the salesperson and
the manager of another department (华东): lists, search, sort, counts, contacts, the pool,
the desk, notifications, history, timeline, ratings, ownership, saved views, duplicates,
exports (CSV and Excel) and imports. The secret must appear nowhere.

The same walk as the hidden account's owner finds the secret, so the probe is real.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from guanxi.core.models import Job
from guanxi.customers import services
from guanxi.customers.models import AccountAttachment, Tag

pytestmark = pytest.mark.django_db

SECRET = "XQ7机密"
PHONE = "020-87654321"


@pytest.fixture
def seeded(org: Any) -> dict[str, Any]:
    hidden = services.account_create(actor=org.outsider, name=f"广州{SECRET}重工有限公司", phone=PHONE,
                                     notes=f"底价 {SECRET}")
    services.contact_create(actor=org.outsider, account=hidden, name=f"黄{SECRET}", mobile="13922223333")
    tag = Tag.objects.create(name=f"标签{SECRET}")
    hidden.tags.add(tag)
    attachment = AccountAttachment(account=hidden, kind="agreement", original_name=f"合同{SECRET}.pdf",
                                   content_type="application/pdf", size=8, uploaded_by=org.outsider)
    attachment.file.save("x", ContentFile(b"%PDF-1.4"), save=False)
    attachment.save()
    # Look-alikes the salesperson and the east manager can see: same name key and phone.
    lookalike = services.account_create(actor=org.salesperson, name=f"广州{SECRET}重工有限公司（华东）", phone=PHONE)
    return {"hidden": hidden, "lookalike": lookalike}


READ_PATHS = [
    "/", "/accounts/", f"/accounts/?q={SECRET}", "/accounts/?q=xq7", f"/accounts/?q={PHONE[-6:]}",
    "/accounts/?ordering=name", "/accounts/?ordering=-updated_at", "/accounts/contacts/", f"/accounts/contacts/?q={SECRET}",
    "/accounts/pool/", f"/accounts/pool/?q={SECRET}", "/accounts/duplicates/", "/notifications/",
    "/api/v1/accounts", f"/api/v1/accounts?q={SECRET}", f"/api/v1/accounts?q={PHONE[-6:]}", "/api/v1/contacts",
    f"/api/v1/contacts?q={SECRET}", "/api/v1/pool", f"/api/v1/pool?q={SECRET}", "/api/v1/notifications",
    "/api/v1/saved-views", "/api/v1/categories",
]


def per_account_paths(account_id: int) -> list[str]:
    """Pages about the salesperson's own look-alike, where a duplicate hint could leak the secret."""
    return [f"/accounts/{account_id}/", f"/accounts/{account_id}/merge/", f"/api/v1/accounts/{account_id}",
            f"/api/v1/accounts/{account_id}/duplicates", f"/api/v1/accounts/{account_id}/ratings",
            f"/api/v1/accounts/{account_id}/ownership", f"/api/v1/accounts/{account_id}/attachments",
            f"/api/v1/history/customers.account/{account_id}"]


def bodies(client: Any, paths: list[str]) -> dict[str, str]:
    out = {}
    for path in paths:
        response = client.get(path)
        if response.status_code == 200 and not response.streaming:
            text = response.content.decode("utf-8", "replace")
            if response.get("Content-Type", "").startswith("application/json"):
                # The API escapes non-ASCII (\\uXXXX): compare the text as a person would read it.
                text = json.dumps(json.loads(text), ensure_ascii=False)
            out[path] = text
    return out


def export_text(client: Any, fmt: str, run_queue: Any, capture: Any) -> str:
    with capture(execute=True):
        response = client.post("/api/v1/accounts/export", {"q": "", "format": fmt})
    if response.status_code != 202:
        return ""
    run_queue()
    job = Job.objects.get(pk=response.json()["job"])
    assert job.state == Job.State.DONE, job.errors
    with default_storage.open(job.result["file"], "rb") as fh:
        data = fh.read()
    if fmt == "xlsx":
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            return "".join(book.read(n).decode("utf-8", "replace") for n in book.namelist() if n.endswith(".xml"))
    return data.decode("utf-8-sig")


@pytest.mark.parametrize("persona", ["salesperson", "manager"])
def test_the_secret_leaks_through_no_read_path(persona: str, org: Any, login: Any, api: Any, seeded: dict[str, Any],
                                               run_queue: Any, django_capture_on_commit_callbacks: Any) -> None:
    user = getattr(org, persona)
    html, rest = login(user), api(user)
    paths = READ_PATHS + per_account_paths(seeded["lookalike"].pk)
    seen = {**bodies(html, [p for p in paths if not p.startswith("/api/")]),
            **bodies(rest, [p for p in paths if p.startswith("/api/")])}
    assert len(seen) >= 15, f"too few read paths answered: {sorted(seen)}"
    # The look-alike's own name contains the secret's neighbours, never the secret's account.
    leaks = {path for path, body in seen.items() if seeded["hidden"].code in body or f"黄{SECRET}" in body
             or f"底价 {SECRET}" in body or f"合同{SECRET}" in body}
    assert not leaks, f"the hidden account shows through {sorted(leaks)}"
    if persona == "manager":  # exports are a manager's right
        for fmt in ("csv", "xlsx"):
            text = export_text(rest, fmt, run_queue, django_capture_on_commit_callbacks)
            assert seeded["lookalike"].code in text, f"{fmt} export is empty: the probe proves nothing"
            assert seeded["hidden"].code not in text and f"底价 {SECRET}" not in text


def test_the_owner_sees_the_secret_on_the_same_paths(org: Any, login: Any, api: Any, seeded: dict[str, Any]) -> None:
    html, rest = login(org.outsider), api(org.outsider)
    seen = {**bodies(html, [p for p in READ_PATHS if not p.startswith("/api/")]),
            **bodies(rest, [p for p in READ_PATHS if p.startswith("/api/")])}
    found = {path for path, body in seen.items() if seeded["hidden"].code in body or f"黄{SECRET}" in body}
    assert {"/accounts/", "/api/v1/accounts", f"/api/v1/contacts?q={SECRET}"} <= found


def test_import_preview_names_no_hidden_duplicate(org: Any, login: Any, seeded: dict[str, Any]) -> None:
    """A row matching an account the importer cannot see is reported as such, without its data."""
    from guanxi.customers.services import imports

    csv_bytes = f"客户名称,电话\n广州{SECRET}重工有限公司,{PHONE}\n".encode()
    run = imports.import_upload(actor=org.manager, name="客户.csv", data=csv_bytes)
    imports.import_set_mapping(actor=org.manager, run=run, mapping={"客户名称": "name", "电话": "phone"},
                               mode="skip")
    client = login(org.manager)
    response = client.get(f"/accounts/import/{run.pk}/preview/")
    assert response.status_code == 200
    body = response.content.decode()
    assert response_ok(body)
    assert seeded["hidden"].code not in body and f"底价 {SECRET}" not in body
    assert f"/accounts/{seeded['hidden'].pk}/" not in body


def response_ok(body: str) -> bool:
    return f"广州{SECRET}重工有限公司" in body  # the preview shows the file's own row
