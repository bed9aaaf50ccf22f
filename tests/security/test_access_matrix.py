"""S1 / S3 — the access matrix for accounts, and the organisation objects around them.

Every persona × every object state × every action has one expected outcome, written out
by hand in SPEC below from the rules (R10.3, R10.4, ``ROLE_SCOPE``/``ROLE_PERMISSIONS``):

* salesperson, service agent: their own accounts only (no team is led in the fixture);
* sales manager, marketing: their own department and everything below it;
* general manager, administrator: everything, the customer pool included;
* an approved, unexpired grant adds the target department's subtree; an expired one adds nothing;
* accounts in the recycle bin are gone from list, get, search, count and export for everyone
  (their history stays readable for whoever could see them, so a restorer can judge);
* approved accounts change only through a change request (PATCH → 202) and cannot be deleted;
* only sales managers, the general manager and administrators delete and approve (R10.4),
  only they and marketing export; nobody approves what they own or created;
* anonymous callers get 401 from the API and the sign-in page from HTML.

The table is deliberately not computed from ``guanxi.core.access``: it is the spec the
access engine is checked against. A hidden record answers 404 with the very body a
missing id gets, and every refused write (S3) leaves accounts, audit rows, change
requests, grants, users, departments, jobs and the task queue exactly as they were.

Doors: list, get, search, edit (PATCH), delete, approve and history go through /api/v1/;
page is the HTML detail page, count the HTML list's rendered total (and the home page's
account count), export the HTML export button (POST /accounts/export/); the API export
door is checked by test_api_account_export_is_reachable (both call the same service).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.db import transaction
from django.test import Client, override_settings
from django.utils import timezone

from conftest import settled
from guanxi.core.models import AccessGrant, ApprovalPolicy, ChangeRequest, Department, Job, User
from guanxi.core.services import grants as grant_services
from guanxi.core.services import records
from guanxi.customers.models import Account
from tests.security.conftest import fingerprint

pytestmark = pytest.mark.django_db

MISSING_ID = 987654321
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

PERSONAS = ["salesperson", "teammate", "sub_sales", "manager", "south_manager", "gm", "service", "marketing",
            "outsider", "admin", "outsider_with_grant", "outsider_with_expired_grant", "anonymous"]
STATES = ["own", "teammate", "sub", "other", "pool", "deleted", "approved"]
ACTIONS = ["list", "get", "page", "search", "count", "edit", "delete", "approve", "history", "export"]

# Columns: own = the salesperson's; teammate = sales2's (same team, same department);
# sub = sales3's in 上海办事处 (below 华东销售部); other = the outsider's in 华南销售部;
# pool = no owner, no department; deleted = the salesperson's, in the recycle bin;
# approved = the salesperson's, approved by the manager.
# Cells: Y / - (appears or not in list, search results and export), 1 / 0 (the list's
# rendered total), HTTP status codes, "login" (redirected to sign in).
SPEC_TABLE = """
persona                      action   own   teammate sub   other pool  deleted approved
salesperson                  list     Y     -        -     -     -     -       Y
salesperson                  get      200   404      404   404   404   404     200
salesperson                  page     200   404      404   404   404   404     200
salesperson                  search   Y     -        -     -     -     -       Y
salesperson                  count    1     0        0     0     0     0       1
salesperson                  edit     200   404      404   404   404   404     202
salesperson                  delete   403   403      403   403   403   403     403
salesperson                  approve  403   403      403   403   403   403     403
salesperson                  history  200   404      404   404   404   200     200
salesperson                  export   403   403      403   403   403   403     403

teammate                     list     -     Y        -     -     -     -       -
teammate                     get      404   200      404   404   404   404     404
teammate                     page     404   200      404   404   404   404     404
teammate                     search   -     Y        -     -     -     -       -
teammate                     count    0     1        0     0     0     0       0
teammate                     edit     404   200      404   404   404   404     404
teammate                     delete   403   403      403   403   403   403     403
teammate                     approve  403   403      403   403   403   403     403
teammate                     history  404   200      404   404   404   404     404
teammate                     export   403   403      403   403   403   403     403

sub_sales                    list     -     -        Y     -     -     -       -
sub_sales                    get      404   404      200   404   404   404     404
sub_sales                    page     404   404      200   404   404   404     404
sub_sales                    search   -     -        Y     -     -     -       -
sub_sales                    count    0     0        1     0     0     0       0
sub_sales                    edit     404   404      200   404   404   404     404
sub_sales                    delete   403   403      403   403   403   403     403
sub_sales                    approve  403   403      403   403   403   403     403
sub_sales                    history  404   404      200   404   404   404     404
sub_sales                    export   403   403      403   403   403   403     403

manager                      list     Y     Y        Y     -     -     -       Y
manager                      get      200   200      200   404   404   404     200
manager                      page     200   200      200   404   404   404     200
manager                      search   Y     Y        Y     -     -     -       Y
manager                      count    1     1        1     0     0     0       1
manager                      edit     200   200      200   404   404   404     202
manager                      delete   204   204      204   404   404   404     403
manager                      approve  200   200      200   404   404   404     422
manager                      history  200   200      200   404   404   200     200
manager                      export   Y     Y        Y     -     -     -       Y

south_manager                list     -     -        -     Y     -     -       -
south_manager                get      404   404      404   200   404   404     404
south_manager                page     404   404      404   200   404   404     404
south_manager                search   -     -        -     Y     -     -       -
south_manager                count    0     0        0     1     0     0       0
south_manager                edit     404   404      404   200   404   404     404
south_manager                delete   404   404      404   204   404   404     404
south_manager                approve  404   404      404   200   404   404     404
south_manager                history  404   404      404   200   404   404     404
south_manager                export   -     -        -     Y     -     -       -

gm                           list     Y     Y        Y     Y     Y     -       Y
gm                           get      200   200      200   200   200   404     200
gm                           page     200   200      200   200   200   404     200
gm                           search   Y     Y        Y     Y     Y     -       Y
gm                           count    1     1        1     1     1     0       1
gm                           edit     200   200      200   200   200   404     202
gm                           delete   204   204      204   204   204   404     403
gm                           approve  200   200      200   200   200   404     422
gm                           history  200   200      200   200   200   200     200
gm                           export   Y     Y        Y     Y     Y     -       Y

service                      list     -     -        -     -     -     -       -
service                      get      404   404      404   404   404   404     404
service                      page     404   404      404   404   404   404     404
service                      search   -     -        -     -     -     -       -
service                      count    0     0        0     0     0     0       0
service                      edit     403   403      403   403   403   403     403
service                      delete   403   403      403   403   403   403     403
service                      approve  403   403      403   403   403   403     403
service                      history  404   404      404   404   404   404     404
service                      export   403   403      403   403   403   403     403

marketing                    list     -     -        -     -     -     -       -
marketing                    get      404   404      404   404   404   404     404
marketing                    page     404   404      404   404   404   404     404
marketing                    search   -     -        -     -     -     -       -
marketing                    count    0     0        0     0     0     0       0
marketing                    edit     403   403      403   403   403   403     403
marketing                    delete   403   403      403   403   403   403     403
marketing                    approve  403   403      403   403   403   403     403
marketing                    history  404   404      404   404   404   404     404
marketing                    export   -     -        -     -     -     -       -

outsider                     list     -     -        -     Y     -     -       -
outsider                     get      404   404      404   200   404   404     404
outsider                     page     404   404      404   200   404   404     404
outsider                     search   -     -        -     Y     -     -       -
outsider                     count    0     0        0     1     0     0       0
outsider                     edit     404   404      404   200   404   404     404
outsider                     delete   403   403      403   403   403   403     403
outsider                     approve  403   403      403   403   403   403     403
outsider                     history  404   404      404   200   404   404     404
outsider                     export   403   403      403   403   403   403     403

admin                        list     Y     Y        Y     Y     Y     -       Y
admin                        get      200   200      200   200   200   404     200
admin                        page     200   200      200   200   200   404     200
admin                        search   Y     Y        Y     Y     Y     -       Y
admin                        count    1     1        1     1     1     0       1
admin                        edit     200   200      200   200   200   404     202
admin                        delete   204   204      204   204   204   404     403
admin                        approve  200   200      200   200   200   404     422
admin                        history  200   200      200   200   200   200     200
admin                        export   Y     Y        Y     Y     Y     -       Y

outsider_with_grant          list     Y     Y        Y     Y     -     -       Y
outsider_with_grant          get      200   200      200   200   404   404     200
outsider_with_grant          page     200   200      200   200   404   404     200
outsider_with_grant          search   Y     Y        Y     Y     -     -       Y
outsider_with_grant          count    1     1        1     1     0     0       1
outsider_with_grant          edit     200   200      200   200   404   404     202
outsider_with_grant          delete   403   403      403   403   403   403     403
outsider_with_grant          approve  403   403      403   403   403   403     403
outsider_with_grant          history  200   200      200   200   404   200     200
outsider_with_grant          export   403   403      403   403   403   403     403

outsider_with_expired_grant  list     -     -        -     Y     -     -       -
outsider_with_expired_grant  get      404   404      404   200   404   404     404
outsider_with_expired_grant  page     404   404      404   200   404   404     404
outsider_with_expired_grant  search   -     -        -     Y     -     -       -
outsider_with_expired_grant  count    0     0        0     1     0     0       0
outsider_with_expired_grant  edit     404   404      404   200   404   404     404
outsider_with_expired_grant  delete   403   403      403   403   403   403     403
outsider_with_expired_grant  approve  403   403      403   403   403   403     403
outsider_with_expired_grant  history  404   404      404   200   404   404     404
outsider_with_expired_grant  export   403   403      403   403   403   403     403

anonymous                    list     401   401      401   401   401   401     401
anonymous                    get      401   401      401   401   401   401     401
anonymous                    page     login login    login login login login   login
anonymous                    search   401   401      401   401   401   401     401
anonymous                    count    login login    login login login login   login
anonymous                    edit     401   401      401   401   401   401     401
anonymous                    delete   401   401      401   401   401   401     401
anonymous                    approve  401   401      401   401   401   401     401
anonymous                    history  401   401      401   401   401   401     401
anonymous                    export   login login    login login login login   login
"""


def _parse(table: str) -> dict[tuple[str, str, str], str]:
    lines = [line.split() for line in table.strip().splitlines() if line.strip()]
    header, rows = lines[0], lines[1:]
    assert header[2:] == STATES
    spec = {}
    for persona, action, *cells in rows:
        assert len(cells) == len(STATES), (persona, action)
        for state, cell in zip(STATES, cells, strict=True):
            spec[persona, action, state] = cell
    return spec


SPEC = _parse(SPEC_TABLE)
assert set(SPEC) == {(p, a, s) for p in PERSONAS for a in ACTIONS for s in STATES}, "the spec has a gap"


# --- The world the matrix runs in ---------------------------------------------------------------
def _plain(fixture: Any) -> Any:
    """The function behind one of conftest's fixtures, so the matrix builds the very same personas.

    The matrix has ~900 cells; building the company once per class (inside a transaction
    rolled back at the end, each cell in its own savepoint) keeps it fast.
    """
    unwrap = getattr(fixture, "_get_wrapped_function", None)
    return unwrap() if unwrap is not None else fixture.__wrapped__


class Anonymous:
    """The API helper's interface, without any credentials."""

    def __init__(self) -> None:
        self.client = Client()

    def get(self, path: str, data: Any = None) -> Any:
        return self.client.get(path, data=data)

    def post(self, path: str, data: Any = None) -> Any:
        return self.client.post(path, data=data or {}, content_type="application/json")

    def patch(self, path: str, data: Any = None) -> Any:
        return self.client.patch(path, data=data or {}, content_type="application/json")

    def delete(self, path: str) -> Any:
        return self.client.delete(path)


class World:
    def __init__(self, org: Any) -> None:
        self.org = org
        self.account_ids: dict[str, int] = {}
        self.tags: dict[str, str] = {}
        self.actors: dict[str, User | None] = {}
        self.api: dict[str, Any] = {}
        self.browser: dict[str, Client] = {}


def persona_user(org: Any, persona: str) -> User | None:
    if persona == "anonymous":
        return None
    if persona.startswith("outsider_with_"):
        return org.outsider
    return getattr(org, persona)


def make_accounts(org: Any, make_account: Any) -> tuple[dict[str, int], dict[str, str]]:
    """One account per object state, each with a unique tag in its name to search for."""
    owners = {"own": org.salesperson, "teammate": org.teammate, "sub": org.sub_sales, "other": org.outsider,
              "pool": None, "deleted": org.salesperson, "approved": org.salesperson}
    ids: dict[str, int] = {}
    tags: dict[str, str] = {}
    for state, owner in owners.items():
        tags[state] = f"mx{uuid.uuid4().hex[:10]}"
        ids[state] = make_account(owner, name=f"矩阵{state}客户{tags[state]}有限公司").pk
    records.record_delete(actor=org.manager, obj=Account.objects.get(pk=ids["deleted"]))
    records.record_approve(actor=org.manager, obj=Account.objects.get(pk=ids["approved"]))
    return ids, tags


def sign_in_personas(org: Any, w: Any) -> None:
    """Fill ``w.actors``, ``w.api`` and ``w.browser`` for every persona (shared by the matrices)."""
    import conftest

    api_class = _plain(conftest.api)(None)
    for persona in PERSONAS:
        user = persona_user(org, persona)
        w.actors[persona] = user
        if user is None:
            w.api[persona], w.browser[persona] = Anonymous(), Client()
        elif persona.startswith("outsider_with_"):
            w.api[persona], w.browser[persona] = w.api["outsider"], w.browser["outsider"]
        else:
            w.api[persona], w.browser[persona] = api_class(user), Client()
            w.browser[persona].force_login(user)


@pytest.fixture(scope="class")
def world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[World]:
    import conftest

    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            org = _plain(conftest.org)(None)
            w = World(org)
            w.account_ids, w.tags = make_accounts(org, _plain(conftest.account_factory)(None))
            sign_in_personas(org, w)
            yield settled(w)
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def outsider_grant_into_east(org: Any, *, expired: bool) -> AccessGrant:
    """The outsider asks to look into 华东销售部; the general manager approves."""
    grant = grant_services.grant_request(actor=org.outsider, reason="联合投标需要查看华东客户", days=7,
                                         department=org.east)
    grant = grant_services.grant_decide(actor=org.gm, grant=grant, approve=True)
    if expired:
        now = timezone.now()
        AccessGrant.objects.filter(pk=grant.pk).update(starts_at=now - dt.timedelta(days=10),
                                                       expires_at=now - dt.timedelta(days=3))
    return grant


class Cell:
    def __init__(self, world: World, persona: str, state: str) -> None:
        self.persona, self.state = persona, state
        self.account = Account.all_objects.get(pk=world.account_ids[state])
        self.tag = world.tags[state]
        self.actor = world.actors[persona]
        self.api = world.api[persona]
        self.browser = world.browser[persona]

    def expected(self, action: str) -> str:
        return SPEC[self.persona, action, self.state]


@pytest.fixture
def cell(request: Any, world: World, db: Any) -> Cell:
    persona, state = request.param
    if persona == "outsider_with_grant":
        outsider_grant_into_east(world.org, expired=False)
    elif persona == "outsider_with_expired_grant":
        outsider_grant_into_east(world.org, expired=True)
    return Cell(world, persona, state)


CELLS = [pytest.param((p, s), id=f"{p}-{s}") for p in PERSONAS for s in STATES]


def _listed_ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def _assert_404_like_missing(client: Any, method: str, template: str, response: Any, body: Any = None) -> None:
    """Ask again for an id that does not exist: the answer must be exactly the same."""
    call = getattr(client, method)
    missing_path = template.format(pk=MISSING_ID)
    missing = call(missing_path, body) if body is not None else call(missing_path)
    assert missing.status_code == 404
    assert response.json() == missing.json(), "a hidden record must look exactly like a missing one"


def _check_write(client: Any, expected: str, method: str, template: str, pk: Any = None, body: Any = None) -> Any:
    """Send one write; when the spec says it is refused, prove that nothing changed (S3)."""
    denied = not expected.startswith("2")
    before = fingerprint()
    call = getattr(client, method)
    path = template.format(pk=pk)
    response = call(path, body) if body is not None else call(path)
    assert response.status_code == int(expected), response.content
    if denied:
        assert fingerprint() == before, "a refused write changed rows, audit, change requests or the queue"
    else:
        assert fingerprint() != before, "an accepted write must show in the fingerprint (or it proves nothing)"
    if expected == "404":
        _assert_404_like_missing(client, method, template, response, body)
    return response


def without_csrf(html: bytes) -> bytes:
    """The page minus its CSRF tokens, which Django masks afresh on every response."""
    return re.sub(rb"[A-Za-z0-9]{64}", b"<csrf>", html)


def rendered_number(response: Any, testid: str) -> int:
    assert response.status_code == 200, response.content
    match = re.search(rf'data-testid="{testid}">[^<\d]*(\d+)', response.content.decode())
    assert match, f"the page renders {testid}"
    return int(match.group(1))


@pytest.mark.parametrize("cell", CELLS, indirect=True)
class TestAccountMatrix:
    """One test per persona × object state × action; the ids read persona-state."""

    def test_account_list_shows_exactly_the_visible_accounts(self, cell: Cell) -> None:
        response = cell.api.get("/api/v1/accounts")
        if cell.expected("list") == "401":
            assert response.status_code == 401
            return
        assert (cell.account.pk in _listed_ids(response)) == (cell.expected("list") == "Y")

    def test_account_get_answers_200_or_404_like_missing(self, cell: Cell) -> None:
        expected = cell.expected("get")
        template = "/api/v1/accounts/{pk}"
        response = cell.api.get(template.format(pk=cell.account.pk))
        assert response.status_code == int(expected), response.content
        if expected == "200":
            assert response.json()["name"] == cell.account.name
        elif expected == "404":
            _assert_404_like_missing(cell.api, "get", template, response)

    def test_account_page_answers_200_or_404(self, cell: Cell) -> None:
        expected = cell.expected("page")
        response = cell.browser.get(f"/accounts/{cell.account.pk}/")
        if expected == "login":
            assert response.status_code == 302
            assert response["Location"].startswith("/login/")
            return
        assert response.status_code == int(expected)
        if expected == "404":
            missing = cell.browser.get(f"/accounts/{MISSING_ID}/")
            # The page echoes its own path (the language switch's "next"); all else must match.
            hidden = without_csrf(response.content).replace(f"/accounts/{cell.account.pk}/".encode(), b"<path>")
            absent = without_csrf(missing.content).replace(f"/accounts/{MISSING_ID}/".encode(), b"<path>")
            assert hidden == absent, "a hidden record must look exactly like a missing one"

    def test_account_page_tabs_answer_like_the_page(self, cell: Cell) -> None:
        """The tabs the 360 page loads after it (htmx, or a page of their own without it) are
        scoped exactly like the page: a hidden account's tab looks like a missing one's."""
        expected = cell.expected("page")
        for part in ("timeline", "rating", "ownership", "files", "history"):
            for extra in ({"HTTP_HX_REQUEST": "true"}, {}):
                response = cell.browser.get(f"/accounts/{cell.account.pk}/{part}/", **extra)
                if expected == "login":
                    assert response.status_code == 302, part
                    assert response["Location"].startswith("/login/")
                    continue
                assert response.status_code == int(expected), (part, extra)
                if expected == "404":
                    missing = cell.browser.get(f"/accounts/{MISSING_ID}/{part}/", **extra)
                    hidden = without_csrf(response.content).replace(
                        f"/accounts/{cell.account.pk}/{part}/".encode(), b"<path>")
                    absent = without_csrf(missing.content).replace(f"/accounts/{MISSING_ID}/{part}/".encode(), b"<path>")
                    assert hidden == absent, (part, "a hidden record must look exactly like a missing one")
                elif not extra:  # the whole page names the account it belongs to
                    assert cell.account.name.encode() in response.content, part

    def test_account_search_finds_only_visible_accounts(self, cell: Cell) -> None:
        response = cell.api.get("/api/v1/accounts", {"q": cell.tag})
        if cell.expected("search") == "401":
            assert response.status_code == 401
            return
        assert _listed_ids(response) == ({cell.account.pk} if cell.expected("search") == "Y" else set())

    def test_account_list_total_counts_only_visible_accounts(self, cell: Cell) -> None:
        response = cell.browser.get("/accounts/", {"q": cell.tag})
        if cell.expected("count") == "login":
            assert response.status_code == 302
            assert response["Location"].startswith("/login/")
            return
        assert rendered_number(response, "account-total") == int(cell.expected("count"))

    def test_account_history_only_for_who_can_see_the_account(self, cell: Cell) -> None:
        expected = cell.expected("history")
        template = "/api/v1/history/customers.account/{pk}"
        response = cell.api.get(template.format(pk=cell.account.pk))
        assert response.status_code == int(expected), response.content
        if expected == "200":
            actions = [row["action"] for row in response.json()["results"]]
            assert actions == {"deleted": ["delete"], "approved": ["approve"]}.get(cell.state, [])
        elif expected == "404":
            _assert_404_like_missing(cell.api, "get", template, response)

    def test_account_edit_is_allowed_only_on_visible_accounts(self, cell: Cell) -> None:
        expected = cell.expected("edit")
        new_name = cell.account.name + "（改）"
        _check_write(cell.api, expected, "patch", "/api/v1/accounts/{pk}", cell.account.pk,
                     {"version": cell.account.version, "name": new_name})
        cell.account.refresh_from_db()
        assert (cell.account.name == new_name) == (expected == "200")
        if expected == "202":
            assert ChangeRequest.objects.filter(object_id=str(cell.account.pk), requested_by=cell.actor,
                                                state="pending").count() == 1

    def test_account_delete_only_by_managers_who_see_the_account(self, cell: Cell) -> None:
        expected = cell.expected("delete")
        was_deleted = cell.account.deleted_at is not None
        _check_write(cell.api, expected, "delete", "/api/v1/accounts/{pk}", cell.account.pk)
        cell.account.refresh_from_db()
        assert (cell.account.deleted_at is not None) == (was_deleted or expected == "204")

    def test_account_approve_only_by_managers_who_see_the_account(self, cell: Cell) -> None:
        expected = cell.expected("approve")
        was_approved = cell.account.is_approved
        _check_write(cell.api, expected, "post", "/api/v1/accounts/{pk}/approve", cell.account.pk, {})
        cell.account.refresh_from_db()
        assert cell.account.is_approved == (was_approved or expected == "200")
        if expected == "200":
            assert cell.account.approved_by_id == cell.actor.pk

    def test_account_export_contains_only_visible_accounts(self, cell: Cell, drain: Any,
                                                           django_capture_on_commit_callbacks: Any) -> None:
        # The HTML door (POST /accounts/export/); the API door calls the same service.
        expected = cell.expected("export")
        before = fingerprint()
        with django_capture_on_commit_callbacks(execute=True):
            response = cell.browser.post("/accounts/export/", {"q": ""})
        if expected in {"403", "login"}:
            assert response.status_code == (403 if expected == "403" else 302)
            if expected == "login":
                assert response["Location"].startswith("/login/")
            assert fingerprint() == before
            return
        assert response.status_code == 302, response.content
        job_id = response["Location"].rstrip("/").rsplit("/", 1)[-1]
        assert drain() >= 1
        assert (cell.account.name in exported_csv(job_id)) == (expected == "Y")


def exported_csv(job_id: str) -> str:
    job = Job.objects.get(pk=job_id)
    assert job.state == Job.State.DONE, job.errors
    with default_storage.open(job.result["file"], "rb") as fh:
        return fh.read().decode("utf-8-sig")


@pytest.mark.parametrize("persona", PERSONAS)
class TestHomeCount:
    def test_home_page_account_count_counts_only_visible_accounts(self, persona: str, world: World,
                                                                  db: Any) -> None:
        if persona == "outsider_with_grant":
            outsider_grant_into_east(world.org, expired=False)
        elif persona == "outsider_with_expired_grant":
            outsider_grant_into_east(world.org, expired=True)
        response = world.browser[persona].get("/")
        if persona == "anonymous":
            assert response.status_code == 302
            return
        expected = sum(SPEC[persona, "count", state] == "1" for state in STATES)
        assert rendered_number(response, "account-count") == expected


def test_api_account_export_is_reachable(org: Any, api: Any, account_factory: Any, drain: Any,
                                         django_capture_on_commit_callbacks: Any) -> None:
    account = account_factory(org.salesperson, name="导出检查客户有限公司")
    hidden = account_factory(org.outsider, name="华南机密客户有限公司")
    with django_capture_on_commit_callbacks(execute=True):
        response = api(org.manager).post("/api/v1/accounts/export", {"q": ""})
    assert response.status_code == 202, response.content
    assert drain() >= 1
    content = exported_csv(response.json()["job"])
    assert account.name in content
    assert hidden.name not in content



# --- Visibility rules the fixture's personas do not cover ----------------------------------------
def _visible_names(client: Any) -> set[str]:
    response = client.get("/api/v1/accounts")
    assert response.status_code == 200, response.content
    return {row["name"] for row in response.json()["results"]}


@pytest.fixture
def east_book(org: Any, account_factory: Any) -> dict[str, Account]:
    return {"own": account_factory(org.salesperson, name="王伟的客户"),
            "teammate": account_factory(org.teammate, name="李娜的客户"),
            "sub": account_factory(org.sub_sales, name="张敏的客户"),
            "other": account_factory(org.outsider, name="周杰的客户")}


def test_team_leader_sees_the_teams_accounts_only(org: Any, api: Any, east_book: dict[str, Account]) -> None:
    org.team.leader = org.salesperson
    org.team.save(update_fields=["leader"])
    assert _visible_names(api(org.salesperson)) == {"王伟的客户", "李娜的客户"}
    assert _visible_names(api(org.teammate)) == {"李娜的客户"}, "a member does not see the leader's accounts"


def test_grant_into_a_person_adds_only_that_persons_accounts(org: Any, api: Any,
                                                              east_book: dict[str, Account]) -> None:
    grant = grant_services.grant_request(actor=org.outsider, reason="交接", days=3, user=org.teammate)
    grant_services.grant_decide(actor=org.manager, grant=grant, approve=True)
    assert _visible_names(api(org.outsider)) == {"周杰的客户", "李娜的客户"}


@pytest.mark.parametrize("outcome", ["pending", "rejected", "revoked"])
def test_grant_that_is_not_approved_adds_nothing(outcome: str, org: Any, api: Any,
                                                 east_book: dict[str, Account]) -> None:
    grant = grant_services.grant_request(actor=org.outsider, reason="看看", days=3, department=org.east)
    if outcome == "rejected":
        grant_services.grant_decide(actor=org.gm, grant=grant, approve=False)
    elif outcome == "revoked":
        grant = grant_services.grant_decide(actor=org.gm, grant=grant, approve=True)
        grant_services.grant_revoke(actor=org.outsider, grant=grant)
    client = api(org.outsider)
    assert _visible_names(client) == {"周杰的客户"}
    assert client.get(f"/api/v1/accounts/{east_book['own'].pk}").status_code == 404

# --- Organisation objects ---------------------------------------------------------------------------
NAMED = ["salesperson", "teammate", "sub_sales", "manager", "south_manager", "gm", "service", "marketing",
         "outsider", "admin"]


@pytest.mark.parametrize("persona", NAMED)
def test_user_directory_is_readable_by_every_signed_in_user(persona: str, org: Any, api: Any) -> None:
    response = api(getattr(org, persona)).get("/api/v1/users")
    assert response.status_code == 200
    assert {row["username"] for row in response.json()["results"]} >= {"sales", "outsider", "admin"}


def test_user_directory_refuses_anonymous_callers(org: Any) -> None:
    assert Anonymous().get("/api/v1/users").status_code == 401


@pytest.mark.parametrize("persona", [p for p in NAMED if p != "admin"])
def test_only_admin_creates_users_and_departments(persona: str, org: Any, api: Any) -> None:
    client = api(getattr(org, persona))
    before = fingerprint()
    user = client.post("/api/v1/users", {"username": "newbie", "password": "Very-Long-Pass-2026!",
                                         "department": org.east.pk, "roles": ["admin"]})
    department = client.post("/api/v1/departments", {"name": "影子部门", "parent": org.hq.pk})
    assert user.status_code == 403
    assert department.status_code == 403
    assert fingerprint() == before
    assert not User.objects.filter(username="newbie").exists()
    assert not Department.all_objects.filter(name="影子部门").exists()


def test_admin_creates_users_and_departments(org: Any, api: Any) -> None:
    client = api(org.admin)
    user = client.post("/api/v1/users", {"username": "newbie", "password": "Very-Long-Pass-2026!",
                                         "department": org.east.pk, "roles": ["salesperson"]})
    department = client.post("/api/v1/departments", {"name": "西北销售部", "parent": org.hq.pk})
    assert user.status_code == 201, user.content
    assert department.status_code == 201, department.content


@pytest.fixture
def grant_book(org: Any) -> dict[str, AccessGrant]:
    """Pending grant requests: two into 华东 (east), one into 华南 (south), one by the manager."""
    def ask(actor: User, department: Department) -> AccessGrant:
        return grant_services.grant_request(actor=actor, reason="核对重复客户", days=7, department=department)

    return {
        "outsider_into_east": ask(org.outsider, org.east),
        "service_into_east_sub": ask(org.service, org.east_sub),
        "sales_into_south": ask(org.salesperson, org.south),
        "manager_into_south": ask(org.manager, org.south),
        "gm_into_south": ask(org.gm, org.south),
    }


def _grant_ids(client: Any) -> set[int]:
    response = client.get("/api/v1/grants")
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()}


def test_salesperson_sees_only_own_grants(org: Any, api: Any, grant_book: dict[str, AccessGrant]) -> None:
    assert _grant_ids(api(org.salesperson)) == {grant_book["sales_into_south"].pk}
    assert _grant_ids(api(org.outsider)) == {grant_book["outsider_into_east"].pk}
    assert _grant_ids(api(org.teammate)) == set()


def test_east_manager_sees_requests_into_east_and_own(org: Any, api: Any,
                                                      grant_book: dict[str, AccessGrant]) -> None:
    assert _grant_ids(api(org.manager)) == {grant_book["outsider_into_east"].pk,
                                            grant_book["service_into_east_sub"].pk,
                                            grant_book["manager_into_south"].pk}


def test_south_manager_sees_requests_into_south(org: Any, api: Any, grant_book: dict[str, AccessGrant]) -> None:
    assert _grant_ids(api(org.south_manager)) == {grant_book["sales_into_south"].pk,
                                                  grant_book["manager_into_south"].pk,
                                                  grant_book["gm_into_south"].pk}


def test_general_manager_sees_every_grant(org: Any, api: Any, grant_book: dict[str, AccessGrant]) -> None:
    assert _grant_ids(api(org.gm)) == {g.pk for g in grant_book.values()}


def test_salesperson_cannot_approve_a_grant(org: Any, api: Any, grant_book: dict[str, AccessGrant]) -> None:
    grant = grant_book["sales_into_south"]
    client = api(org.salesperson)
    before = fingerprint()
    response = client.post(f"/api/v1/grants/{grant.pk}/approve", {})
    assert response.status_code == 403
    assert fingerprint() == before


@pytest.mark.parametrize("key,persona", [("manager_into_south", "manager"), ("gm_into_south", "gm")])
def test_nobody_approves_their_own_grant(key: str, persona: str, org: Any, api: Any,
                                         grant_book: dict[str, AccessGrant]) -> None:
    grant = grant_book[key]
    client = api(getattr(org, persona))
    before = fingerprint()
    response = client.post(f"/api/v1/grants/{grant.pk}/approve", {})
    assert response.status_code == 403
    assert fingerprint() == before
    grant.refresh_from_db()
    assert grant.state == AccessGrant.State.REQUESTED


def test_manager_cannot_decide_grants_outside_own_department(org: Any, api: Any,
                                                              grant_book: dict[str, AccessGrant]) -> None:
    grant = grant_book["sales_into_south"]
    client = api(org.manager)
    before = fingerprint()
    response = client.post(f"/api/v1/grants/{grant.pk}/approve", {})
    assert response.status_code == 404
    assert fingerprint() == before


def test_manager_decides_grant_into_own_department(org: Any, api: Any, grant_book: dict[str, AccessGrant]) -> None:
    response = api(org.manager).post(f"/api/v1/grants/{grant_book['outsider_into_east'].pk}/approve", {})
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "approved"


def test_grant_into_a_department_does_not_let_a_manager_decide_grants_into_it(
        org: Any, api: Any, grant_book: dict[str, AccessGrant]) -> None:
    grant_services.grant_decide(actor=org.gm, grant=grant_book["manager_into_south"], approve=True)
    pending = grant_book["sales_into_south"]
    client = api(org.manager)
    before = fingerprint()
    response = client.post(f"/api/v1/grants/{pending.pk}/approve", {})
    assert response.status_code in {403, 404}, response.content
    assert fingerprint() == before


@pytest.mark.parametrize("persona", [p for p in NAMED if p != "admin"])
def test_audit_log_is_for_administrators_only(persona: str, org: Any, api: Any) -> None:
    assert api(getattr(org, persona)).get("/api/v1/audit").status_code == 403


def test_administrator_reads_the_audit_log(org: Any, api: Any) -> None:
    response = api(org.admin).get("/api/v1/audit")
    assert response.status_code == 200
    assert response.json()["results"], "token creation at least is audited"


def test_audit_log_refuses_anonymous_callers(org: Any) -> None:
    assert Anonymous().get("/api/v1/audit").status_code == 401


# Who sees a change request on the salesperson's approved account (approver role: general manager).
CHANGE_REQUEST_READERS = {"salesperson": 200, "gm": 200, "admin": 200, "teammate": 404, "sub_sales": 404,
                          "manager": 404, "south_manager": 404, "service": 404, "marketing": 404,
                          "outsider": 404}


@pytest.fixture
def change_request(org: Any, api: Any, account_factory: Any) -> ChangeRequest:
    assert ApprovalPolicy.objects.get(model="customers.account").approver_role == "general_manager"
    account = account_factory(org.salesperson, name="审批中的客户有限公司")
    records.record_approve(actor=org.manager, obj=account)
    account.refresh_from_db()
    response = api(org.salesperson).patch(f"/api/v1/accounts/{account.pk}",
                                          {"version": account.version, "phone": "021-62345678", "reason": "新号码"})
    assert response.status_code == 202, response.content
    return ChangeRequest.objects.get(pk=response.json()["change_request"])


@pytest.mark.parametrize("persona,status", CHANGE_REQUEST_READERS.items())
def test_change_request_visible_to_requester_approver_role_and_admin(persona: str, status: int, org: Any,
                                                                     api: Any, change_request: ChangeRequest) -> None:
    client = api(getattr(org, persona))
    path = f"/api/v1/change-requests/{change_request.pk}"
    response = client.get(path)
    assert response.status_code == status
    listed = {row["id"] for row in client.get("/api/v1/change-requests").json()["results"]}
    assert (change_request.pk in listed) == (status == 200)
    if status == 404:
        assert response.json() == client.get(f"/api/v1/change-requests/{MISSING_ID}").json()


@pytest.mark.parametrize("persona,status", [("salesperson", 403), ("admin", 403), ("manager", 404),
                                            ("outsider", 404)])
def test_only_the_approver_role_decides_a_change_request(persona: str, status: int, org: Any, api: Any,
                                                         change_request: ChangeRequest) -> None:
    client = api(getattr(org, persona))
    before = fingerprint()
    response = client.post(f"/api/v1/change-requests/{change_request.pk}/approve", {})
    assert response.status_code == status, response.content
    assert fingerprint() == before


def test_nobody_decides_their_own_change_request(org: Any, api: Any, account_factory: Any) -> None:
    account = account_factory(org.teammate, name="总经理自己改的客户")
    records.record_approve(actor=org.manager, obj=account)
    account.refresh_from_db()
    gm = api(org.gm)
    pending = gm.patch(f"/api/v1/accounts/{account.pk}", {"version": account.version, "region": "上海"})
    assert pending.status_code == 202, pending.content
    before = fingerprint()
    response = gm.post(f"/api/v1/change-requests/{pending.json()['change_request']}/approve", {})
    assert response.status_code == 403
    assert fingerprint() == before


def test_general_manager_approves_a_change_request(org: Any, api: Any, change_request: ChangeRequest) -> None:
    response = api(org.gm).post(f"/api/v1/change-requests/{change_request.pk}/approve", {})
    assert response.status_code == 200, response.content
    assert Account.objects.get(pk=change_request.object_id).phone == "021-62345678"
