"""Reassignment (R10.5, S7): one account, many, a whole book with a split; one audit row per record."""

from __future__ import annotations

import pytest

from guanxi.core.errors import Forbidden, Invalid, NotFound
from guanxi.core.models import AuditEvent, Notification, User
from guanxi.core.services import org as org_services
from guanxi.customers.models import Account, Contact, OwnershipChange
from guanxi.customers.services import pool as services
from tests.security.conftest import fingerprint

pytestmark = pytest.mark.django_db


def book(owner, factory, n, contacts_each=0):
    accounts = [factory(owner, name=f"{owner.username}客户{i}") for i in range(n)]
    for account in accounts:
        for j in range(contacts_each):
            Contact.objects.create(account=account, name=f"联系人{account.pk}-{j}")
    return accounts


def test_manager_reassigns_one_account_with_reason_history_audit_and_notification(org, account_factory):
    account = account_factory(org.salesperson)
    result = services.account_reassign(actor=org.manager, accounts=[account], to_user=org.teammate, reason="区域调整")
    assert (result.moved, result.skipped) == (1, 0)
    account.refresh_from_db()
    assert (account.owner_id, account.department_id, account.version) == (org.teammate.pk, org.east.pk, 2)
    change = OwnershipChange.objects.get(account=account)
    assert (change.kind, change.from_user, change.to_user, change.actor, change.reason) == (
        "reassigned", org.salesperson, org.teammate, org.manager, "区域调整")
    event = AuditEvent.objects.get(action="reassign", object_id=str(account.pk))
    assert event.changes["owner"] == [{"id": org.salesperson.pk, "repr": str(org.salesperson)},
                                      {"id": org.teammate.pk, "repr": str(org.teammate)}]
    assert event.actor == org.manager and event.note == "区域调整"
    note = Notification.objects.get(user=org.teammate)
    assert account.name in note.title and note.url == f"/accounts/{account.pk}/"


def test_reassign_moves_to_the_targets_department(org, account_factory):
    account = account_factory(org.salesperson)
    services.account_reassign(actor=org.gm, accounts=[account], to_user=org.outsider, reason="调往华南")
    account.refresh_from_db()
    assert (account.owner_id, account.department_id) == (org.outsider.pk, org.south.pk)


def test_bulk_reassign_moves_each_account_with_one_audit_row_each(org, account_factory):
    accounts = book(org.salesperson, account_factory, 5)
    already = account_factory(org.teammate)
    result = services.account_reassign(actor=org.manager, accounts=[a.pk for a in accounts] + [already.pk],
                                       to_user=org.teammate, reason="批量调整")
    assert (result.moved, result.skipped) == (5, 1)
    assert Account.objects.filter(owner=org.teammate).count() == 6
    assert AuditEvent.objects.filter(action="reassign").count() == 5
    assert OwnershipChange.objects.filter(kind="reassigned").count() == 5
    assert Notification.objects.filter(user=org.teammate).count() == 1


@pytest.mark.parametrize("who,target", [("manager", "outsider"), ("manager", "south_manager")])
def test_cannot_reassign_to_someone_you_do_not_manage(org, account_factory, who, target):
    account = account_factory(org.salesperson)
    before = fingerprint()
    with pytest.raises(Invalid) as exc:
        services.account_reassign(actor=getattr(org, who), accounts=[account], to_user=getattr(org, target),
                                  reason="越权")
    assert "to_user" in exc.value.errors
    assert fingerprint() == before


def test_cannot_reassign_to_an_inactive_colleague(org, account_factory):
    account = account_factory(org.salesperson)
    User.objects.filter(pk=org.teammate.pk).update(is_active=False)
    org.teammate.refresh_from_db()
    before = fingerprint()
    with pytest.raises(Invalid):
        services.account_reassign(actor=org.manager, accounts=[account], to_user=org.teammate, reason="离职")
    assert fingerprint() == before


def test_salesperson_cannot_reassign_and_manager_cannot_reach_hidden_accounts(org, account_factory):
    mine = account_factory(org.salesperson)
    southern = account_factory(org.outsider)
    before = fingerprint()
    with pytest.raises(Forbidden):
        services.account_reassign(actor=org.salesperson, accounts=[mine], to_user=org.teammate, reason="送人")
    with pytest.raises(NotFound):
        services.account_reassign(actor=org.manager, accounts=[mine, southern], to_user=org.teammate, reason="抢")
    assert fingerprint() == before


def test_reassign_needs_a_reason(org, account_factory):
    account = account_factory(org.salesperson)
    with pytest.raises(Invalid) as exc:
        services.account_reassign(actor=org.manager, accounts=[account], to_user=org.teammate, reason="")
    assert "reason" in exc.value.errors


# --- Books ----------------------------------------------------------------------------------------
def test_preview_counts_accounts_contacts_and_the_split(org, account_factory):
    book(org.salesperson, account_factory, 5, contacts_each=2)
    preview = services.book_reassign_preview(actor=org.manager, from_user=org.salesperson)
    assert preview["totals"] == {"accounts": 5, "contacts": 10}
    preview = services.book_reassign_preview(actor=org.manager, from_user=org.salesperson,
                                             to_users=[org.teammate, org.sub_sales])
    split = {row["user"].pk: row["counts"] for row in preview["split"]}
    assert split == {org.teammate.pk: {"accounts": 3, "contacts": 6}, org.sub_sales.pk: {"accounts": 2, "contacts": 4}}
    preview = services.book_reassign_preview(actor=org.manager, from_user=org.salesperson,
                                             to_users=[org.teammate, org.sub_sales], strategy="all_to_first")
    assert [row["counts"]["accounts"] for row in preview["split"]] == [5, 0]


def test_book_split_round_robin_between_two_colleagues(org, account_factory):
    accounts = book(org.salesperson, account_factory, 7, contacts_each=1)
    result = services.book_reassign(actor=org.manager, from_user=org.salesperson,
                                    to_users=[org.teammate, org.sub_sales], reason="离职交接")
    assert result.moved == 7 and result.per_user == {org.teammate.pk: 4, org.sub_sales.pk: 3}
    assert result.extra == {"contacts": 7}
    assert not Account.all_objects.filter(owner=org.salesperson).exists()
    sub = Account.objects.filter(owner=org.sub_sales)
    assert set(sub.values_list("department_id", flat=True)) == {org.east_sub.pk}
    # Contacts follow their account: the new owners see them, the old one no longer does.
    from guanxi.customers.selectors import contact_scope

    assert contact_scope(org.teammate).count() + contact_scope(org.sub_sales).count() == 7
    assert contact_scope(org.salesperson).count() == 0
    assert AuditEvent.objects.filter(action="reassign", content_type__model="account").count() == 7
    assert set(AuditEvent.objects.filter(action="reassign", content_type__model="account")
               .values_list("object_id", flat=True)) == {str(a.pk) for a in accounts}
    assert Notification.objects.filter(user__in=[org.teammate, org.sub_sales]).count() == 2


def test_book_reassign_refuses_bad_targets_and_changes_nothing(org, account_factory):
    book(org.salesperson, account_factory, 3)
    before = fingerprint()
    for targets in ([], [org.outsider], [org.salesperson]):
        with pytest.raises(Invalid):
            services.book_reassign(actor=org.manager, from_user=org.salesperson, to_users=targets, reason="交接")
    with pytest.raises(Invalid):
        services.book_reassign(actor=org.manager, from_user=org.salesperson, to_users=[org.teammate], reason="交接",
                               strategy="random")
    with pytest.raises(NotFound):  # not the manager's person
        services.book_reassign(actor=org.manager, from_user=org.outsider, to_users=[org.teammate], reason="交接")
    with pytest.raises(Forbidden):
        services.book_reassign(actor=org.teammate, from_user=org.salesperson, to_users=[org.teammate], reason="交接")
    assert fingerprint() == before


def test_s7_deactivate_then_reassign_moves_every_account_and_their_access_ends(org, account_factory, api, login,
                                                                                client):
    """S7: a leaver is deactivated; 100% of their accounts move, one audit row each; their session and token fail."""
    accounts = book(org.salesperson, account_factory, 25, contacts_each=1)
    # One in the recycle bin moves too, so restoring it later finds a live owner.
    Account.all_objects.filter(pk=accounts[0].pk).update(deleted_at=org.salesperson.date_joined)
    token_client = api(org.salesperson)
    browser = login(org.salesperson)
    assert token_client.get("/api/v1/accounts").status_code == 200
    org_services.user_set_active(actor=org.admin, user=org.salesperson, active=False)
    org.salesperson.refresh_from_db()

    response = login(org.manager).get(f"/accounts/reassign/?from_user={org.salesperson.pk}"
                                      f"&to_users={org.teammate.pk}&strategy=round_robin&reason=离职")
    assert response.status_code == 200 and 'data-testid="confirm-form"' in response.content.decode()
    response = login(org.manager).post("/accounts/reassign/", {
        "from_user": org.salesperson.pk, "to_users": [org.teammate.pk], "strategy": "round_robin", "reason": "离职"})
    assert response.status_code == 302

    assert Account.all_objects.filter(owner=org.salesperson).count() == 0
    assert Account.all_objects.filter(owner=org.teammate).count() == 25
    rows = AuditEvent.objects.filter(action="reassign", content_type__model="account")
    assert rows.count() == 25 and rows.values("object_id").distinct().count() == 25
    assert OwnershipChange.objects.filter(kind="reassigned", from_user=org.salesperson).count() == 25
    assert token_client.get("/api/v1/accounts").status_code == 401
    assert browser.get("/accounts/").status_code == 302  # back to the sign-in page


def test_book_page_lists_deactivated_people_and_previews(org, login, account_factory):
    book(org.salesperson, account_factory, 3, contacts_each=1)
    User.objects.filter(pk=org.salesperson.pk).update(is_active=False)
    client = login(org.manager)
    html = client.get("/accounts/reassign/").content.decode()
    assert str(org.salesperson) in html
    html = client.get(f"/accounts/reassign/?from_user={org.salesperson.pk}").content.decode()
    assert 'data-testid="total-accounts">3<' in html and 'data-testid="total-contacts">3<' in html
    assert login(org.salesperson).get("/accounts/reassign/").status_code in (302, 403)
    assert login(org.teammate).get("/accounts/reassign/").status_code == 403


def test_account_page_reassign_form(org, login, account_factory):
    account = account_factory(org.salesperson)
    client = login(org.manager)
    html = client.get(f"/accounts/{account.pk}/ownership/", HTTP_HX_REQUEST="true").content.decode()  # the tab
    assert 'data-testid="reassign-form"' in html
    response = client.post(f"/accounts/{account.pk}/reassign/", {"to_user": org.outsider.pk, "reason": "越权"})
    assert response.status_code == 302 and Account.objects.get(pk=account.pk).owner_id == org.salesperson.pk
    response = client.post(f"/accounts/{account.pk}/reassign/", {"to_user": org.teammate.pk, "reason": "调整"})
    assert response.status_code == 302 and Account.objects.get(pk=account.pk).owner_id == org.teammate.pk


# --- API ------------------------------------------------------------------------------------------
def test_api_single_and_bulk_reassign(org, api, account_factory):
    one = account_factory(org.salesperson)
    manager = api(org.manager)
    response = manager.post(f"/api/v1/accounts/{one.pk}/reassign", {"to_user": org.teammate.pk, "reason": "调整",
                                                                      "version": 99})
    assert response.status_code == 409
    response = manager.post(f"/api/v1/accounts/{one.pk}/reassign", {"to_user": org.teammate.pk, "reason": "调整"})
    assert response.status_code == 200, response.content
    assert response.json()["moved"] == 1
    many = book(org.salesperson, account_factory, 3)
    response = manager.post("/api/v1/accounts/reassign", {"ids": [a.pk for a in many], "to_user": org.sub_sales.pk,
                                                          "reason": "批量"})
    assert response.status_code == 200 and response.json() == {"moved": 3, "skipped": 0,
                                                               "per_user": {str(org.sub_sales.pk): 3}, "extra": {}}
    response = manager.post("/api/v1/accounts/reassign", {"ids": [one.pk], "to_user": org.outsider.pk, "reason": "x"})
    assert response.status_code == 422 and "to_user" in response.json()["errors"]
    assert api(org.salesperson).post("/api/v1/accounts/reassign", {
        "ids": [one.pk], "to_user": org.salesperson.pk, "reason": "x"}).status_code == 403


def test_api_book_preview_and_reassign(org, api, account_factory):
    book(org.salesperson, account_factory, 4, contacts_each=1)
    manager = api(org.manager)
    response = manager.get(f"/api/v1/books/{org.salesperson.pk}/preview",
                           {"to_users": [org.teammate.pk, org.sub_sales.pk]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["totals"] == {"accounts": 4, "contacts": 4}
    assert [row["counts"]["accounts"] for row in body["split"]] == [2, 2]
    assert manager.get(f"/api/v1/books/{org.outsider.pk}/preview").status_code == 404
    response = manager.post(f"/api/v1/books/{org.salesperson.pk}/reassign",
                            {"to_users": [org.teammate.pk], "reason": "离职", "strategy": "all_to_first"})
    assert response.status_code == 200 and response.json()["moved"] == 4
    assert api(org.teammate).get(f"/api/v1/books/{org.salesperson.pk}/preview").status_code == 403
