"""`/api/v1/leads`: list (scoped, filtered), get (hidden → 404), create (201, 422, Idempotency-Key),
patch with the version (409 stale), delete (204, 403), assign, working, qualify, disqualify,
account candidates and convert (422 on duplicates)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation

from guanxi.core.models import Notification, User
from guanxi.customers.models import Account
from guanxi.sales.models import Lead, Opportunity
from guanxi.sales.services import leads as service

pytestmark = pytest.mark.django_db
URL = "/api/v1/leads"
CREDIT = "91330106MA2GL2JX06"


@pytest.fixture(autouse=True)
def _english(org: Any) -> Iterator[None]:
    User.objects.update(language="en")
    with translation.override("en"):
        yield


def capture(actor: Any, mobile: str = "13812345678", **data: Any) -> Lead:
    data.setdefault("company", "杭州西湖茶业有限公司")
    data.setdefault("person_name", "王建国")
    return service.lead_capture(actor=actor, source="manual", data={"mobile": mobile, **data})


def test_the_list_is_scoped_and_filtered(org: Any, api: Any) -> None:
    mine = capture(org.salesperson)
    capture(org.teammate, "13900000000")
    capture(org.manager, "13700000000", owner=None)
    body = api(org.salesperson).get(URL).json()
    assert [row["id"] for row in body["results"]] == [mine.pk]
    manager = api(org.manager)
    assert len(manager.get(URL).json()["results"]) == 3
    unassigned = manager.get(URL, {"unassigned": "true"}).json()["results"]
    assert [row["owner"] for row in unassigned] == [None]
    assert manager.get(URL, {"q": "1390000"}).json()["results"][0]["mobile"] == "13900000000"
    assert manager.get(URL, {"state": "nope"}).status_code == 422


def test_get_shows_a_visible_lead_and_hides_the_rest(org: Any, api: Any) -> None:
    lead = capture(org.teammate)
    response = api(org.manager).get(f"{URL}/{lead.pk}")
    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["owner"], body["owner_name"], body["department"], body["version"]) == (
        lead.code, org.teammate.pk, "李娜", org.east.pk, 1)
    assert api(org.salesperson).get(f"{URL}/{lead.pk}").status_code == 404
    assert api(org.service).get(f"{URL}/{lead.pk}").status_code == 403


def test_create_captures_a_lead_from_the_api(org: Any, api: Any) -> None:
    response = api(org.salesperson).post(URL, {"company": "温州五金制品厂", "mobile": "+86 135 1234 5678",
                                               "estimated_amount": "9800.5", "interest": "不锈钢合页"})
    assert response.status_code == 201
    body = response.json()
    lead = Lead.objects.get(pk=body["id"])
    assert (lead.source, lead.mobile, str(lead.estimated_amount), lead.owner) == (
        "api", "13512345678", "9800.50", org.salesperson)
    assert body["estimated_amount"] == "9800.50" and body["state"] == "new"


def test_create_refuses_bad_input_and_unknown_fields(org: Any, api: Any) -> None:
    client = api(org.salesperson)
    response = client.post(URL, {"company": "甲", "mobile": "123"})
    assert response.status_code == 422 and "mobile" in response.json()["errors"]
    assert client.post(URL, {"company": "甲", "mobile": "13512345678", "state": "converted"}).status_code == 422
    assert client.post(URL, {"company": "甲", "mobile": "13512345678", "owner": None}).status_code == 422
    assert not Lead.objects.exists()


def test_a_manager_creates_an_unassigned_lead_through_the_api(org: Any, api: Any) -> None:
    response = api(org.manager).post(URL, {"company": "甲", "mobile": "13512345678", "owner": None,
                                           "source": "exhibition"})
    assert response.status_code == 201 and response.json()["owner"] is None
    assert Lead.objects.get().source == "exhibition"


def test_create_honours_the_idempotency_key(org: Any, api: Any) -> None:
    client = api(org.salesperson)
    payload = {"company": "温州五金制品厂", "mobile": "13512345678"}
    first = client.post(URL, payload, HTTP_IDEMPOTENCY_KEY="lead-42")
    again = client.post(URL, payload, HTTP_IDEMPOTENCY_KEY="lead-42")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"] and again["Idempotent-Replayed"] == "true"
    assert Lead.objects.count() == 1
    other = client.post(URL, {**payload, "company": "另一家"}, HTTP_IDEMPOTENCY_KEY="lead-42")
    assert other.status_code == 422 and Lead.objects.count() == 1


def test_patch_names_the_version(org: Any, api: Any) -> None:
    lead = capture(org.salesperson)
    client = api(org.salesperson)
    response = client.patch(f"{URL}/{lead.pk}", {"version": 1, "notes": "下周拜访", "email": "wang@xihutea.cn"})
    assert response.status_code == 200 and response.json()["version"] == 2
    stale = client.patch(f"{URL}/{lead.pk}", {"version": 1, "notes": "过时"})
    assert stale.status_code == 409
    bad = client.patch(f"{URL}/{lead.pk}", {"version": 2, "email": "nope"})
    assert bad.status_code == 422
    lead.refresh_from_db()
    assert (lead.notes, lead.email, lead.version) == ("下周拜访", "wang@xihutea.cn", 2)
    assert client.patch(f"{URL}/{lead.pk}", {"version": 2, "owner": org.teammate.pk}).status_code == 422
    assert api(org.outsider).patch(f"{URL}/{lead.pk}", {"version": 2, "notes": "x"}).status_code == 404


def test_delete_is_for_managers_and_goes_to_the_recycle_bin(org: Any, api: Any) -> None:
    lead = capture(org.salesperson)
    assert api(org.salesperson).delete(f"{URL}/{lead.pk}").status_code == 403
    assert api(org.manager).delete(f"{URL}/{lead.pk}?version=9").status_code == 409
    assert Lead.objects.filter(pk=lead.pk).exists()
    assert api(org.manager).delete(f"{URL}/{lead.pk}?version=1").status_code == 204
    assert not Lead.objects.filter(pk=lead.pk).exists() and Lead.all_objects.filter(pk=lead.pk).exists()


def test_assign_to_a_managed_salesperson_only(org: Any, api: Any) -> None:
    lead = capture(org.manager, owner=None)
    client = api(org.manager)
    assert client.post(f"{URL}/{lead.pk}/assign", {"owner": org.outsider.pk}).status_code == 422
    response = client.post(f"{URL}/{lead.pk}/assign", {"owner": org.teammate.pk, "version": 1, "note": "华东"})
    assert response.status_code == 200 and response.json()["owner"] == org.teammate.pk
    assert Notification.objects.filter(user=org.teammate).count() == 1
    assert client.post(f"{URL}/{lead.pk}/assign", {"owner": org.salesperson.pk, "version": 1}).status_code == 409
    assert api(org.salesperson).post(f"{URL}/{lead.pk}/assign", {"owner": org.salesperson.pk}).status_code == 403


def test_working_qualify_and_disqualify(org: Any, api: Any) -> None:
    lead = capture(org.salesperson)
    client = api(org.salesperson)
    assert client.post(f"{URL}/{lead.pk}/working", {"version": 1}).json()["state"] == "working"
    assert client.post(f"{URL}/{lead.pk}/disqualify", {"reason": " "}).status_code == 422
    response = client.post(f"{URL}/{lead.pk}/disqualify", {"reason": "没有预算", "version": 2})
    assert response.status_code == 200 and response.json()["disqualify_reason"] == "没有预算"
    assert client.post(f"{URL}/{lead.pk}/qualify", {}).status_code == 422
    assert client.post(f"{URL}/{lead.pk}/working", {"version": 1}).status_code == 409
    assert client.post(f"{URL}/{lead.pk}/working", {}).json()["state"] == "working"
    assert client.post(f"{URL}/{lead.pk}/qualify", {}).json()["state"] == "qualified"


def test_candidates_and_convert(org: Any, api: Any, account_factory: Any) -> None:
    twin = account_factory(org.salesperson, name="杭州西湖茶业股份有限公司")
    lead = capture(org.salesperson, estimated_amount="88000")
    client = api(org.salesperson)
    candidates = client.get(f"{URL}/{lead.pk}/account-candidates").json()
    assert candidates == {"accounts": [{"id": twin.pk, "code": twin.code, "name": twin.name, "owner_name": "王伟",
                                        "reasons": ["name"]}], "hidden": [], "blocks_new_account": False}
    refused = client.post(f"{URL}/{lead.pk}/convert", {})
    assert refused.status_code == 422 and refused.json()["code"] == "duplicate"
    response = client.post(f"{URL}/{lead.pk}/convert", {"confirm_new_account": True, "version": 1,
                                                        "opportunity": {"name": "龙井礼盒", "expected_close": "2026-10-01"}})
    assert response.status_code == 200
    body = response.json()
    deal = Opportunity.objects.get(pk=body["opportunity"])
    assert body["account_created"] and body["contact_created"] and body["lead"]["state"] == "converted"
    assert (deal.name, str(deal.amount), str(deal.expected_close), deal.account_id) == (
        "龙井礼盒", "88000.00", "2026-10-01", body["account"])
    assert body["opportunity_code"] == deal.code
    assert client.post(f"{URL}/{lead.pk}/convert", {"account": twin.pk}).status_code == 422


def test_convert_into_an_existing_account_and_not_a_hidden_one(org: Any, api: Any, account_factory: Any) -> None:
    mine = account_factory(org.salesperson, name="老客户有限公司")
    hidden = account_factory(org.outsider, name="别人的客户有限公司", credit_code=CREDIT)
    lead = capture(org.salesperson, credit_code=CREDIT)
    client = api(org.salesperson)
    client.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"  # the messages are asserted in English
    candidates = client.get(f"{URL}/{lead.pk}/account-candidates").json()
    assert candidates["accounts"] == [] and candidates["blocks_new_account"]
    assert hidden.name not in str(candidates) and "another department" in candidates["hidden"][0]
    assert client.post(f"{URL}/{lead.pk}/convert", {"account": hidden.pk}).status_code == 404
    refused = client.post(f"{URL}/{lead.pk}/convert", {"confirm_new_account": True})
    assert refused.status_code == 422 and hidden.name not in refused.content.decode()
    response = client.post(f"{URL}/{lead.pk}/convert", {"account": mine.pk, "create_contact": False})
    assert response.status_code == 200 and response.json()["account"] == mine.pk
    assert response.json()["contact"] is None and Account.objects.count() == 2


def test_marketing_cannot_convert_through_the_api(org: Any, api: Any) -> None:
    lead = capture(org.marketing)
    assert api(org.marketing).post(f"{URL}/{lead.pk}/convert", {}).status_code == 403
    assert not Opportunity.objects.exists()
