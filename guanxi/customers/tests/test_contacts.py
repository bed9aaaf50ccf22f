"""Contacts: people at accounts, visible exactly when their account is, deleted and restored with it."""

from __future__ import annotations

import pytest

from guanxi.core.models import AuditEvent
from guanxi.core.services import records
from guanxi.customers.models import Contact

pytestmark = pytest.mark.django_db


def add(api, account, language="zh-hans", **fields):
    return api.post("/api/v1/contacts", {"account": account.pk, **fields}, HTTP_ACCEPT_LANGUAGE=language)


def test_salesperson_adds_a_contact_with_a_personal_profile(org, api, account_factory):
    account = account_factory(org.salesperson)
    response = add(api(org.salesperson), account, name="张总", title="总经理", role="principal", depth="friend",
                   mobile="13812345678", birthday="1975-08-15", interests="钓鱼、茶", taboos="不喝酒")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["account"], body["depth"], body["birthday"]) == (account.pk, "friend", "1975-08-15")
    assert AuditEvent.objects.filter(action="create", content_type__model="contact", object_id=str(body["id"])).exists()


@pytest.mark.parametrize(("field", "value", "language", "text"), [
    ("mobile", "1381234", "en", "11 digits"),
    ("mobile", "1381234", "zh-hans", "11 位"),
    ("phone", "12345", "en", "area code"),
    ("email", "not-an-email", "en", "email address"),
    ("email", "not-an-email", "zh-hans", "有效的 Email 地址"),
])
def test_bad_contact_details_get_a_clear_message_and_nothing_is_saved(org, api, account_factory, field, value,
                                                                        language, text):
    account = account_factory(org.salesperson)
    response = add(api(org.salesperson), account, language, name="李四", **{field: value})
    assert response.status_code == 422
    assert text in response.json()["errors"][field][0]
    assert not Contact.objects.exists()


def test_contact_on_a_hidden_account_cannot_be_created_or_seen(org, api, account_factory):
    theirs = account_factory(org.outsider)
    contact = Contact.objects.create(account=theirs, name="王五")
    sales = api(org.salesperson)
    assert add(sales, theirs, name="偷偷加").status_code == 422
    assert sales.get(f"/api/v1/contacts/{contact.pk}").status_code == 404
    assert sales.get("/api/v1/contacts").json()["results"] == []
    assert api(org.south_manager).get(f"/api/v1/contacts/{contact.pk}").status_code == 200


def test_manager_sees_contacts_of_department_accounts_and_lists_by_account(org, api, account_factory):
    first, second = account_factory(org.salesperson), account_factory(org.teammate)
    Contact.objects.create(account=first, name="甲")
    Contact.objects.create(account=second, name="乙")
    manager = api(org.manager)
    assert {c["name"] for c in manager.get("/api/v1/contacts").json()["results"]} == {"甲", "乙"}
    assert [c["name"] for c in manager.get("/api/v1/contacts", {"account": first.pk}).json()["results"]] == ["甲"]


def test_stale_contact_edit_gets_409(org, api, account_factory):
    contact = Contact.objects.create(account=account_factory(org.salesperson), name="赵六")
    sales = api(org.salesperson)
    assert sales.patch(f"/api/v1/contacts/{contact.pk}", {"version": 1, "depth": "acquaintance"}).status_code == 200
    stale = sales.patch(f"/api/v1/contacts/{contact.pk}", {"version": 1, "depth": "confidant"})
    assert stale.status_code == 409
    contact.refresh_from_db()
    assert contact.depth == "acquaintance"


def test_salesperson_cannot_delete_a_contact(org, api, account_factory):
    contact = Contact.objects.create(account=account_factory(org.salesperson), name="钱七")
    assert api(org.salesperson).delete(f"/api/v1/contacts/{contact.pk}").status_code == 403
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_deleting_an_account_takes_its_contacts_and_restore_brings_them_back(org, api, account_factory):
    account = account_factory(org.salesperson)
    kept = Contact.objects.create(account=account, name="孙八")
    earlier = Contact.objects.create(account=account, name="周九")
    records.record_delete(actor=org.manager, obj=earlier)  # deleted on its own, before the account
    records.record_delete(actor=org.manager, obj=account)
    assert not Contact.objects.filter(pk=kept.pk).exists()
    assert api(org.manager).get(f"/api/v1/contacts/{kept.pk}").status_code == 404
    restored = api(org.manager).post(f"/api/v1/recycle-bin/customers.account/{account.pk}/restore", {})
    assert restored.status_code == 200, restored.content
    assert Contact.objects.filter(pk=kept.pk).exists()
    assert not Contact.objects.filter(pk=earlier.pk).exists()  # it left in another batch; it stays in the bin
    actions = list(AuditEvent.objects.filter(content_type__model="contact", object_id=str(kept.pk))
                   .order_by("id").values_list("action", flat=True))
    assert actions == ["delete", "restore"]


def test_contact_pages_add_show_and_edit_through_the_same_service(org, login, account_factory):
    account = account_factory(org.salesperson)
    client = login(org.salesperson)
    response = client.post(f"/accounts/{account.pk}/contacts/new/", {
        "name": "吴十", "role": "handler", "depth": "acquaintance", "mobile": "13900001111", "hobbies": "x"})
    assert response.status_code == 302, response.content
    contact = Contact.objects.get(name="吴十")
    page = client.get(f"/accounts/{account.pk}/").content.decode()
    assert "吴十" in page
    edit = client.post(f"/accounts/contacts/{contact.pk}/edit/", {
        "version": contact.version, "name": "吴十", "role": "handler", "depth": "friend", "mobile": "13900001111"})
    assert edit.status_code == 302
    contact.refresh_from_db()
    assert contact.depth == "friend"
    assert "friend" in str(AuditEvent.objects.filter(content_type__model="contact", action="update").last().changes)
    assert login(org.outsider).get(f"/accounts/contacts/{contact.pk}/").status_code == 404


def test_edit_form_keeps_the_birthday_in_chinese(org, login, account_factory):
    """A date input only accepts ISO dates: the zh-hans locale format (1980/03/12) would show it empty
    and the next save would erase the birthday (and with it the care calendar's entry)."""
    import datetime as dt

    account = account_factory(org.salesperson)
    contact = Contact.objects.create(account=account, name="李经理", birthday=dt.date(1980, 3, 12))
    page = login(org.salesperson).get(f"/accounts/contacts/{contact.pk}/edit/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.status_code == 200
    assert 'value="1980-03-12"' in page.content.decode()
