"""S1 / S3 — the access matrix for contacts: every persona × every state of their account × every action.

The rule under test: a person at an account answers exactly as the account does (list, get,
page, search, history), with one difference by design — contacts are not approval records,
so a person at an approved account is edited and deleted like one at an unapproved account
of the same owner (the "approved" column takes the "own" column's edit and delete cells).
The expected cells are read from the account SPEC, which is written out by hand in
test_access_matrix.py; they are not computed from the access engine.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.test import Client, override_settings

from conftest import settled
from guanxi.core.services import records
from guanxi.customers.models import Account, Contact
from tests.security.test_access_matrix import (
    FAST_HASHERS,
    MISSING_ID,
    PERSONAS,
    SPEC,
    STATES,
    _assert_404_like_missing,
    _check_write,
    _listed_ids,
    _plain,
    outsider_grant_into_east,
    sign_in_personas,
    without_csrf,
)

pytestmark = pytest.mark.django_db


def contact_expected(persona: str, action: str, state: str) -> str:
    if state == "approved" and action in {"edit", "delete"}:
        return SPEC[persona, action, "own"]
    return SPEC[persona, action, state]


class World:
    def __init__(self) -> None:
        self.contact_ids: dict[str, int] = {}
        self.tags: dict[str, str] = {}
        self.actors: dict[str, Any] = {}
        self.api: dict[str, Any] = {}
        self.browser: dict[str, Client] = {}
        self.org: Any = None


@pytest.fixture(scope="class")
def world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[World]:
    import conftest

    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            org = _plain(conftest.org)(None)
            make_account = _plain(conftest.account_factory)(None)
            w = World()
            w.org = org
            owners = {"own": org.salesperson, "teammate": org.teammate, "sub": org.sub_sales, "other": org.outsider,
                      "pool": None, "deleted": org.salesperson, "approved": org.salesperson}
            for state, owner in owners.items():
                tag = f"cx{uuid.uuid4().hex[:10]}"
                account = make_account(owner, name=f"联系人矩阵{state}有限公司")
                contact = Contact.objects.create(account=account, name=f"矩阵{tag}", mobile="13800138000")
                w.contact_ids[state], w.tags[state] = contact.pk, tag
                if state == "deleted":
                    records.record_delete(actor=org.manager, obj=account)
                elif state == "approved":
                    records.record_approve(actor=org.manager, obj=account)
            sign_in_personas(org, w)
            yield settled(w)
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


class Cell:
    def __init__(self, world: World, persona: str, state: str) -> None:
        self.persona, self.state = persona, state
        self.contact = Contact.all_objects.get(pk=world.contact_ids[state])
        self.tag = world.tags[state]
        self.api = world.api[persona]
        self.browser = world.browser[persona]

    def expected(self, action: str) -> str:
        return contact_expected(self.persona, action, self.state)


@pytest.fixture
def cell(request: Any, world: World, db: Any) -> Cell:
    persona, state = request.param
    if persona == "outsider_with_grant":
        outsider_grant_into_east(world.org, expired=False)
    elif persona == "outsider_with_expired_grant":
        outsider_grant_into_east(world.org, expired=True)
    return Cell(world, persona, state)


CELLS = [pytest.param((p, s), id=f"{p}-{s}") for p in PERSONAS for s in STATES]


@pytest.mark.parametrize("cell", CELLS, indirect=True)
class TestContactMatrix:
    def test_contact_list_shows_exactly_the_visible_people(self, cell: Cell) -> None:
        response = cell.api.get("/api/v1/contacts", {"page_size": 200})
        if cell.expected("list") == "401":
            assert response.status_code == 401
            return
        assert (cell.contact.pk in _listed_ids(response)) == (cell.expected("list") == "Y")

    def test_contact_search_finds_only_visible_people(self, cell: Cell) -> None:
        response = cell.api.get("/api/v1/contacts", {"q": cell.tag})
        if cell.expected("search") == "401":
            assert response.status_code == 401
            return
        assert _listed_ids(response) == ({cell.contact.pk} if cell.expected("search") == "Y" else set())

    def test_contact_get_answers_200_or_404_like_missing(self, cell: Cell) -> None:
        expected = cell.expected("get")
        template = "/api/v1/contacts/{pk}"
        response = cell.api.get(template.format(pk=cell.contact.pk))
        assert response.status_code == int(expected), response.content
        if expected == "200":
            assert response.json()["name"] == cell.contact.name
        elif expected == "404":
            _assert_404_like_missing(cell.api, "get", template, response)

    def test_contact_page_answers_200_or_404(self, cell: Cell) -> None:
        expected = cell.expected("page")
        path = f"/accounts/contacts/{cell.contact.pk}/"
        response = cell.browser.get(path)
        if expected == "login":
            assert response.status_code == 302 and response["Location"].startswith("/login/")
            return
        assert response.status_code == int(expected)
        if expected == "404":
            missing_path = f"/accounts/contacts/{MISSING_ID}/"
            missing = cell.browser.get(missing_path)
            assert without_csrf(response.content).replace(path.encode(), b"<p>") == \
                without_csrf(missing.content).replace(missing_path.encode(), b"<p>")

    def test_contact_history_only_for_who_can_see_the_account(self, cell: Cell) -> None:
        expected = cell.expected("history")
        template = "/api/v1/history/customers.contact/{pk}"
        response = cell.api.get(template.format(pk=cell.contact.pk))
        assert response.status_code == int(expected), response.content
        if expected == "404":
            _assert_404_like_missing(cell.api, "get", template, response)

    def test_contact_edit_only_on_visible_people(self, cell: Cell) -> None:
        expected = cell.expected("edit")
        new_name = cell.contact.name + "改"
        _check_write(cell.api, expected, "patch", "/api/v1/contacts/{pk}", cell.contact.pk,
                     {"version": cell.contact.version, "name": new_name})
        cell.contact.refresh_from_db()
        assert (cell.contact.name == new_name) == (expected == "200")

    def test_contact_delete_only_by_managers_who_see_the_account(self, cell: Cell) -> None:
        expected = cell.expected("delete")
        was_deleted = cell.contact.deleted_at is not None
        _check_write(cell.api, expected, "delete", "/api/v1/contacts/{pk}", cell.contact.pk)
        cell.contact.refresh_from_db()
        assert (cell.contact.deleted_at is not None) == (was_deleted or expected == "204")
        assert Account.all_objects.filter(pk=cell.contact.account_id).exists()
