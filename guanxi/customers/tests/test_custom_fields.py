"""Custom fields (R13.7): definitions by administrators, values validated by type,
searchable, filterable, shown on forms and pages."""

from __future__ import annotations

import pytest

from guanxi.core.errors import Forbidden, Invalid
from guanxi.core.models import AuditEvent
from guanxi.customers.models import Account, CustomField
from guanxi.customers.services import lists as services

pytestmark = pytest.mark.django_db


@pytest.fixture
def fields(org):
    return {
        "channel": services.customfield_create(actor=org.admin, target="account", key="channel", label="渠道",
                                               type="choice", choices=["线上", "线下"]),
        "staff": services.customfield_create(actor=org.admin, target="account", key="staff", label="员工数",
                                             type="number"),
        "since": services.customfield_create(actor=org.admin, target="account", key="since", label="合作开始",
                                             type="date"),
        "brand": services.customfield_create(actor=org.admin, target="account", key="brand", label="品牌",
                                             type="text"),
        "hobby": services.customfield_create(actor=org.admin, target="contact", key="hobby", label="爱好",
                                             type="text", required=True),
    }


def test_only_administrators_define_fields_and_the_key_is_fixed(org, fields, login):
    with pytest.raises(Forbidden):
        services.customfield_create(actor=org.manager, target="account", key="x", label="X", type="text")
    with pytest.raises(Invalid) as exc:
        services.customfield_create(actor=org.admin, target="account", key="Bad Key", label="X", type="text")
    assert "key" in exc.value.errors
    with pytest.raises(Invalid):
        services.customfield_create(actor=org.admin, target="account", key="contains", label="X", type="text")
    with pytest.raises(Invalid):
        services.customfield_create(actor=org.admin, target="account", key="channel", label="X", type="text")
    with pytest.raises(Invalid):
        services.customfield_create(actor=org.admin, target="account", key="tier", label="X", type="choice")
    field = fields["brand"]
    with pytest.raises(Invalid) as exc:
        services.customfield_update(actor=org.admin, field=field, changes={"key": "other"},
                                    expected_version=field.version)
    assert "key" in exc.value.errors
    services.customfield_update(actor=org.admin, field=field, changes={"active": False, "label": "品牌名"},
                                expected_version=field.version)
    field.refresh_from_db()
    assert (field.key, field.active, field.label) == ("brand", False, "品牌名")
    assert AuditEvent.objects.filter(content_type__model="customfield", action="update").exists()
    # The settings pages: administrators only.
    assert login(org.admin).get("/accounts/custom-fields/").status_code == 200
    assert login(org.salesperson).get("/accounts/custom-fields/").status_code == 403
    response = login(org.admin).post("/accounts/custom-fields/new/", {
        "target": "account", "key": "tier", "label": "层级", "type": "choice", "choices": "一级\n二级",
        "active": "on", "sort_order": 1})
    assert response.status_code == 302
    assert CustomField.objects.get(key="tier").choices == ["一级", "二级"]
    edit = login(org.admin).post(f"/accounts/custom-fields/{fields['staff'].pk}/edit/", {
        "target": "contact", "key": "renamed", "label": "人数", "type": "text", "sort_order": 2,
        "version": fields["staff"].version})
    assert edit.status_code == 302
    staff = CustomField.objects.get(pk=fields["staff"].pk)
    assert (staff.key, staff.target, staff.type, staff.label, staff.active) == ("staff", "account", "number", "人数",
                                                                                False)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("staff", "many", "number"),
    ("since", "2024-13-45", "YYYY-MM-DD"),
    ("channel", "电话", "线上"),
    ("nope", "x", "nope"),
])
def test_values_are_validated_by_type(org, api, fields, key, value, message):
    response = api(org.salesperson).post("/api/v1/accounts", {"name": "某公司", "custom": {key: value}},
                                         HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    assert message in response.json()["errors"][f"cf_{key}"][0]
    assert not Account.objects.filter(name="某公司").exists()


def test_values_are_stored_typed_searchable_filterable_and_patchable(org, api, fields):
    client = api(org.salesperson)
    response = client.post("/api/v1/accounts", {"name": "某公司", "custom": {
        "staff": "1,200", "since": "2024-03-01", "channel": "线上", "brand": "蓝鲸牌"}})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["custom"] == {"staff": 1200, "since": "2024-03-01", "channel": "线上", "brand": "蓝鲸牌"}
    assert [a["id"] for a in client.get("/api/v1/accounts", {"q": "蓝鲸"}).json()["results"]] == [body["id"]]
    assert [a["id"] for a in client.get("/api/v1/accounts", {"cf_brand": "蓝鲸"}).json()["results"]] == [body["id"]]
    assert client.get("/api/v1/accounts", {"cf_staff": "5"}).json()["results"] == []
    patched = client.patch(f"/api/v1/accounts/{body['id']}", {"version": body["version"],
                                                                "custom": {"brand": "", "staff": 3}})
    assert patched.status_code == 200, patched.content
    assert patched.json()["custom"] == {"staff": 3, "since": "2024-03-01", "channel": "线上"}
    assert client.get("/api/v1/accounts", {"q": "蓝鲸"}).json()["results"] == []


def test_required_contact_field_and_forms_render_custom_fields(org, api, login, fields, account_factory):
    account = account_factory(org.salesperson)
    client = api(org.salesperson)
    missing = client.post("/api/v1/contacts", {"account": account.pk, "name": "王五"}, HTTP_ACCEPT_LANGUAGE="en")
    assert missing.status_code == 422
    assert "required" in missing.json()["errors"]["cf_hobby"][0]
    ok = client.post("/api/v1/contacts", {"account": account.pk, "name": "王五", "custom": {"hobby": "钓鱼"}})
    assert ok.status_code == 201
    page = login(org.salesperson).get(f"/accounts/contacts/{ok.json()['id']}/").content.decode()
    assert "钓鱼" in page
    form = login(org.salesperson).get("/accounts/new/").content.decode()
    assert 'name="cf_channel"' in form and 'name="cf_since"' in form
    created = login(org.salesperson).post("/accounts/new/", {
        "name": "表单公司", "kind": "enterprise", "lifecycle": "potential", "is_customer": "on",
        "cf_channel": "线下", "cf_staff": "12", "cf_since": "2023-05-06", "tags": "重点, 华东"})
    assert created.status_code == 302, created.content.decode()[:2000]
    account = Account.objects.get(name="表单公司")
    assert account.custom == {"channel": "线下", "staff": 12, "since": "2023-05-06"}
    assert set(account.tags.values_list("name", flat=True)) == {"重点", "华东"}
    detail = login(org.salesperson).get(f"/accounts/{account.pk}/").content.decode()
    assert "线下" in detail and "2023-05-06" in detail
