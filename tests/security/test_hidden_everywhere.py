"""S1 / S2 / S3 — every route that names an account, a contact or an attachment, hidden from the caller.

The walker goes through the whole URL configuration and the API routers, so a route added
later is covered the day it appears: its record id is filled with a record the salesperson
cannot see (another department's), and the answer must be what a missing id gets — 404,
or 403 when the caller lacks the right altogether — never a page, a file or a change.
Every refused write leaves every table of the customer file, the audit log and the queue
as they were (S3).

The same routes called by the record's owner prove the walker reaches real objects: at
least one HTML page and one API read per record type answer 200 for them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.base import ContentFile

from guanxi.customers import services
from guanxi.customers.models import AccountAttachment
from tests.security.conftest import fingerprint
from tests.security.test_routes_declared import API_PREFIX, api_operations, django_routes

pytestmark = pytest.mark.django_db

# What the id in a route stands for, by the route's shape. A route whose id names something
# else (a category, a grade, an import run, a merge record …) is not an owned record.
HTML_KINDS = [
    (re.compile(r"^accounts/contacts/<int:pk>/"), "contact"),
    (re.compile(r"^accounts/attachments/<int:pk>/"), "attachment"),
    (re.compile(r"^accounts/<int:pk>/"), "account"),
]
API_KINDS = [
    (re.compile(rf"^{API_PREFIX}/accounts/\{{(int:)?pk\}}"), "account"),
    (re.compile(rf"^{API_PREFIX}/contacts/\{{(int:)?pk\}}"), "contact"),
    (re.compile(rf"^{API_PREFIX}/attachments/\{{(int:)?pk\}}"), "attachment"),
]
MISSING_ID = 987654321


def _kind(route: str, kinds: list[tuple[re.Pattern[str], str]]) -> str | None:
    for pattern, kind in kinds:
        if pattern.match(route):
            return kind
    return None


# Other parts of a route beside the hidden record's id: filled with something the caller may use.
EXTRA_KWARGS = {"other": "own_account", "field": "phone", "fmt": "csv"}


def html_routes() -> Iterator[tuple[str, str, str]]:
    for route, name, _callback in django_routes():
        kind = _kind(route, HTML_KINDS)
        extra = set(re.findall(r"<(?:\w+:)?(\w+)>", route)) - {"pk"}
        if kind is not None and extra <= set(EXTRA_KWARGS):
            yield route, name, kind


def api_routes() -> Iterator[tuple[str, str, str]]:
    for key, _op in api_operations():
        method, path = key.split(" ", 1)
        kind = _kind(path, API_KINDS)
        if kind is not None and path.count("{") == 1:
            yield method, path, kind


@pytest.fixture
def hidden(org: Any) -> dict[str, Any]:
    """The outsider's account (华南销售部) with a person and a file: none of it is the salesperson's."""
    account = services.account_create(actor=org.outsider, name="广州南方重工机械有限公司", phone="020-83331234")
    contact = services.contact_create(actor=org.outsider, account=account, name="黄志强", mobile="13922223333")
    attachment = AccountAttachment(account=account, kind="licence", original_name="营业执照.pdf",
                                   content_type="application/pdf", size=8, uploaded_by=org.outsider)
    attachment.file.save("x", ContentFile(b"%PDF-1.4"), save=False)
    attachment.save()
    return {"account": account, "contact": contact, "attachment": attachment}


def _html_path(route: str, pk: int, own_account: int = MISSING_ID) -> str:
    """The route with the hidden id for ``pk`` and harmless values for any other part."""
    def fill(match: re.Match[str]) -> str:
        param = match.group(1)
        if param == "pk":
            return str(pk)
        return str(own_account) if EXTRA_KWARGS[param] == "own_account" else EXTRA_KWARGS[param]

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", fill, route)


def _api_path(path: str, pk: int) -> str:
    return re.sub(r"\{(int:)?pk\}", str(pk), path)


def test_the_walker_finds_the_customer_file_routes() -> None:
    html_kinds = {kind for _route, _name, kind in html_routes()}
    api_kinds = {kind for _m, _p, kind in api_routes()}
    assert {"account", "contact"} <= html_kinds
    assert {"account", "contact"} <= api_kinds


# A salesperson, and a manager whose rights reach further into each view (merge, reassign, rate …).
PERSONAS = ["salesperson", "manager"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_hidden_records_answer_like_missing_ones_on_every_html_route(persona: str, org: Any, login: Any,
                                                                     hidden: dict[str, Any]) -> None:
    client = login(getattr(org, persona))
    own = services.account_create(actor=org.salesperson, name="厦门本地客户有限公司").pk
    attempts = []
    for route, name, kind in html_routes():
        attempts.append((route, name, _html_path(route, hidden[kind].pk, own), _html_path(route, MISSING_ID, own)))
        if "<int:other>" in route:  # the hidden record in the second place too
            attempts.append((route, name, _html_path(route, own, hidden[kind].pk), _html_path(route, own, MISSING_ID)))
    for _route, name, path, missing in attempts:
        for method in ("get", "post"):
            before = fingerprint()
            response = getattr(client, method)(path)
            assert response.status_code in {403, 404, 405}, f"{method.upper()} {path} ({name}): {response.status_code}"
            if response.status_code == 404:
                assert getattr(client, method)(missing).status_code == 404
            assert fingerprint() == before, f"{method.upper()} {path} ({name}) changed something"


@pytest.mark.parametrize("persona", PERSONAS)
def test_hidden_records_answer_like_missing_ones_on_every_api_route(persona: str, org: Any, api: Any,
                                                                    hidden: dict[str, Any]) -> None:
    client = api(getattr(org, persona))
    for method, path, kind in api_routes():
        call = getattr(client, method.lower())
        before = fingerprint()
        response = call(_api_path(path, hidden[kind].pk))
        # 422 only where the body is checked before the record is fetched: still no record data.
        assert response.status_code in {403, 404, 422}, f"{method} {path}: {response.status_code} {response.content[:200]!r}"
        if response.status_code == 404:
            missing = call(_api_path(path, MISSING_ID))
            assert missing.status_code == 404
            assert response.content == missing.content, f"{method} {path}: hidden differs from missing"
        assert hidden[kind].__class__._base_manager.filter(pk=hidden[kind].pk).exists()
        assert fingerprint() == before, f"{method} {path} changed something"


def test_the_owner_reaches_the_same_routes(org: Any, login: Any, api: Any, hidden: dict[str, Any]) -> None:
    """The sweep above proves nothing unless the same routes do serve the records' owner."""
    client = login(org.outsider)
    ok_html = {kind for route, _name, kind in html_routes()
               if client.get(_html_path(route, hidden[kind].pk)).status_code == 200}
    assert {"account", "contact"} <= ok_html
    api_client = api(org.outsider)
    ok_api = {kind for method, path, kind in api_routes()
              if method == "GET" and api_client.get(_api_path(path, hidden[kind].pk)).status_code == 200}
    assert {"account", "contact"} <= ok_api
