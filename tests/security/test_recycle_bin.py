"""S20 — soft delete: a deleted record is gone from every read path, frees its unique values,
and a restore brings it back with its history, or refuses cleanly when a value was reused.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.storage import default_storage

from guanxi.core.models import Job
from guanxi.customers.models import Account
from tests.security.conftest import fingerprint

pytestmark = pytest.mark.django_db
VALID_CREDIT = "91350100M000100Y43"
MISSING_ID = 987654321


def rendered_number(response: Any, testid: str) -> int:
    assert response.status_code == 200
    match = re.search(rf'data-testid="{testid}">[^<\d]*(\d+)', response.content.decode())
    assert match, testid
    return int(match.group(1))


def listed(client: Any, **query: Any) -> set[int]:
    response = client.get("/api/v1/accounts", query)
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.fixture
def doomed(org: Any, api: Any) -> Account:
    """The salesperson's account with a credit code and some history: created, then edited."""
    sales = api(org.salesperson)
    created = sales.post("/api/v1/accounts", {"name": "回收站测试rbx有限公司", "credit_code": VALID_CREDIT})
    assert created.status_code == 201, created.content
    edited = sales.patch(f"/api/v1/accounts/{created.json()['id']}", {"version": 1, "region": "苏州"})
    assert edited.status_code == 200, edited.content
    return Account.objects.get(pk=created.json()["id"])


def delete_as_manager(api: Any, org: Any, account: Account) -> None:
    response = api(org.manager).delete(f"/api/v1/accounts/{account.pk}")
    assert response.status_code == 204, response.content


def test_deleted_account_is_hidden_from_list_get_and_search(org: Any, api: Any, doomed: Account) -> None:
    delete_as_manager(api, org, doomed)
    for persona in ("salesperson", "manager", "gm", "admin"):
        client = api(getattr(org, persona))
        assert doomed.pk not in listed(client), persona
        for q in ("rbx", doomed.code, VALID_CREDIT):
            assert listed(client, q=q) == set(), (persona, q)
        hidden = client.get(f"/api/v1/accounts/{doomed.pk}")
        missing = client.get(f"/api/v1/accounts/{MISSING_ID}")
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json() == missing.json()


def test_deleted_account_is_left_out_of_counts_and_pages(org: Any, api: Any, login: Any, doomed: Account) -> None:
    browser = login(org.gm)
    home_before = rendered_number(browser.get("/"), "account-count")
    delete_as_manager(api, org, doomed)
    assert rendered_number(browser.get("/"), "account-count") == home_before - 1
    assert rendered_number(browser.get("/accounts/", {"q": "rbx"}), "account-total") == 0
    assert browser.get(f"/accounts/{doomed.pk}/").status_code == 404
    assert browser.get(f"/accounts/{doomed.pk}/edit/").status_code == 404


def test_deleted_account_history_is_hidden_from_others(org: Any, api: Any, doomed: Account) -> None:
    delete_as_manager(api, org, doomed)
    path = f"/api/v1/history/customers.account/{doomed.pk}"
    for persona in ("teammate", "outsider", "south_manager", "service", "marketing"):
        client = api(getattr(org, persona))
        response = client.get(path)
        assert response.status_code == 404, persona
        assert response.json() == client.get(f"/api/v1/history/customers.account/{MISSING_ID}").json()


def test_deleted_account_is_left_out_of_exports(org: Any, api: Any, login: Any, account_factory: Any,
                                                doomed: Account, drain: Any,
                                                django_capture_on_commit_callbacks: Any) -> None:
    alive = account_factory(org.teammate, name="仍然在用有限公司")
    delete_as_manager(api, org, doomed)
    with django_capture_on_commit_callbacks(execute=True):
        response = login(org.gm).post("/accounts/export/", {"q": ""})
    assert response.status_code == 302
    assert drain() == 1
    job = Job.objects.get(pk=response["Location"].rstrip("/").rsplit("/", 1)[-1])
    assert job.state == Job.State.DONE, job.errors
    with default_storage.open(job.result["file"], "rb") as fh:
        content = fh.read().decode("utf-8-sig")
    assert alive.name in content
    assert doomed.name not in content
    assert VALID_CREDIT not in content


def test_deleted_account_is_in_the_managers_recycle_bin(org: Any, api: Any, doomed: Account) -> None:
    delete_as_manager(api, org, doomed)
    rows = api(org.manager).get("/api/v1/recycle-bin").json()
    assert [(r["record_type"], r["id"], r["deleted_by"]) for r in rows] == [
        ("customers.account", doomed.pk, str(org.manager))]
    assert api(org.south_manager).get("/api/v1/recycle-bin").json() == []


def test_credit_code_of_a_deleted_account_can_be_reused(org: Any, api: Any, doomed: Account) -> None:
    delete_as_manager(api, org, doomed)
    again = api(org.teammate).post("/api/v1/accounts", {"name": "新的同码有限公司", "credit_code": VALID_CREDIT})
    assert again.status_code == 201, again.content


def test_restore_refuses_when_the_credit_code_was_reused_and_changes_nothing(org: Any, api: Any,
                                                                             doomed: Account) -> None:
    delete_as_manager(api, org, doomed)
    assert api(org.teammate).post("/api/v1/accounts", {"name": "新的同码有限公司",
                                                       "credit_code": VALID_CREDIT}).status_code == 201
    manager = api(org.manager)
    before = fingerprint()
    response = manager.post(f"/api/v1/recycle-bin/customers.account/{doomed.pk}/restore", {},
                            HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "invalid"
    assert "credit code" in response.json()["message"]
    assert fingerprint() == before
    assert Account.all_objects.get(pk=doomed.pk).deleted_at is not None


def test_restore_brings_the_account_back_with_its_history(org: Any, api: Any, doomed: Account) -> None:
    delete_as_manager(api, org, doomed)
    clash = api(org.teammate).post("/api/v1/accounts", {"name": "新的同码有限公司", "credit_code": VALID_CREDIT})
    manager = api(org.manager)
    assert manager.post(f"/api/v1/recycle-bin/customers.account/{doomed.pk}/restore", {}).status_code == 422
    # Remove the clash: the new account gives its credit code up.
    fixed = api(org.teammate).patch(f"/api/v1/accounts/{clash.json()['id']}", {"version": 1, "credit_code": ""})
    assert fixed.status_code == 200, fixed.content
    restored = manager.post(f"/api/v1/recycle-bin/customers.account/{doomed.pk}/restore", {})
    assert restored.status_code == 200, restored.content
    assert restored.json()["restored"] is True

    sales = api(org.salesperson)
    assert doomed.pk in listed(sales)
    assert listed(sales, q=VALID_CREDIT) == {doomed.pk}
    assert sales.get(f"/api/v1/accounts/{doomed.pk}").json()["region"] == "苏州"
    history = sales.get(f"/api/v1/history/customers.account/{doomed.pk}").json()["results"]
    assert [(row["action"], row["actor_name"]) for row in reversed(history)] == [
        ("create", "sales"), ("update", "sales"), ("delete", "manager"), ("restore", "manager")]
    assert api(org.manager).get("/api/v1/recycle-bin").json() == []


def test_salesperson_cannot_delete_and_nothing_changes(org: Any, api: Any, doomed: Account) -> None:
    sales = api(org.salesperson)
    before = fingerprint()
    response = sales.delete(f"/api/v1/accounts/{doomed.pk}")
    assert response.status_code == 403
    assert fingerprint() == before


def test_salesperson_has_no_recycle_bin(org: Any, api: Any, login: Any, doomed: Account) -> None:
    delete_as_manager(api, org, doomed)
    sales = api(org.salesperson)
    assert sales.get("/api/v1/recycle-bin").status_code == 403
    before = fingerprint()
    restore = sales.post(f"/api/v1/recycle-bin/customers.account/{doomed.pk}/restore", {})
    assert restore.status_code == 403
    assert fingerprint() == before
    assert login(org.salesperson).get("/recycle-bin/").status_code == 403


def test_manager_cannot_restore_another_departments_account(org: Any, api: Any, doomed: Account) -> None:
    delete_as_manager(api, org, doomed)
    south = api(org.south_manager)
    before = fingerprint()
    response = south.post(f"/api/v1/recycle-bin/customers.account/{doomed.pk}/restore", {})
    assert response.status_code == 404
    assert response.json() == south.post(f"/api/v1/recycle-bin/customers.account/{MISSING_ID}/restore", {}).json()
    assert fingerprint() == before


def test_deleted_department_leaves_the_list_and_comes_back_on_restore(org: Any, api: Any) -> None:
    admin = api(org.admin)
    created = admin.post("/api/v1/departments", {"name": "西北销售部", "parent": org.hq.pk})
    assert created.status_code == 201, created.content
    pk = created.json()["id"]

    def department_ids() -> set[int]:
        response = api(org.salesperson).get("/api/v1/departments")
        assert response.status_code == 200
        return {row["id"] for row in response.json()}

    assert pk in department_ids()
    assert admin.delete(f"/api/v1/departments/{pk}").status_code == 204
    assert pk not in department_ids()
    assert ("core.department", pk) in {(r["record_type"], r["id"]) for r in admin.get("/api/v1/recycle-bin").json()}
    restored = admin.post(f"/api/v1/recycle-bin/core.department/{pk}/restore", {})
    assert restored.status_code == 200, restored.content
    assert pk in department_ids()
    history = admin.get(f"/api/v1/history/core.department/{pk}").json()["results"]
    assert [row["action"] for row in reversed(history)] == ["create", "delete", "restore"]
