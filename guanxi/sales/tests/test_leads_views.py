"""Lead pages: the list (filters, search, bulk assign), the capture form, the detail with its
history, edit (stale → 409, nothing changed), delete, assign, working, qualify, disqualify,
and the conversion screen (pre-filled, duplicates offered, hidden ones unnamed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation

from guanxi.core.models import Notification, User
from guanxi.customers.models import Account, Contact
from guanxi.sales.models import Lead, Opportunity
from guanxi.sales.services import leads as service

pytestmark = pytest.mark.django_db
LIST = "/sales/leads/"
CREDIT = "91330106MA2GL2JX06"


@pytest.fixture(autouse=True)
def _english(org: Any) -> Iterator[None]:
    User.objects.update(language="en")
    with translation.override("en"):
        yield


def capture(actor: Any, mobile: str = "13812345678", **data: Any) -> Lead:
    data.setdefault("company", "杭州西湖茶业有限公司")
    data.setdefault("person_name", "王建国")
    return service.lead_capture(actor=actor, source=data.pop("source", "manual"), data={"mobile": mobile, **data})


def text(response: Any) -> str:
    return response.content.decode()


# --- List -------------------------------------------------------------------------------------------
def test_the_list_shows_the_users_leads_only(org: Any, login: Any) -> None:
    mine = capture(org.salesperson)
    theirs = capture(org.teammate, "13900000000", company="宁波港口物流有限公司")
    response = login(org.salesperson).get(LIST)
    assert response.status_code == 200
    assert mine.code in text(response) and theirs.code not in text(response)
    assert "bulk-assign" not in text(response)  # salespeople do not hand leads out


def test_the_list_filters_and_searches(org: Any, login: Any) -> None:
    capture(org.salesperson, company="杭州西湖茶业有限公司")
    capture(org.salesperson, "13900000000", company="宁波港口物流有限公司", source="exhibition")
    client = login(org.salesperson)
    found = text(client.get(LIST, {"q": "xhcy"}))
    assert "杭州西湖茶业有限公司" in found and "宁波港口物流有限公司" not in found
    found = text(client.get(LIST, {"source": "exhibition"}))
    assert "宁波港口物流有限公司" in found and "杭州西湖茶业有限公司" not in found
    bad = client.get(LIST, {"state": "nonsense"})
    assert bad.status_code == 422 and "Unknown value" in text(bad)


def test_the_list_needs_the_right(org: Any, login: Any) -> None:
    assert login(org.service).get(LIST).status_code == 403


def test_a_manager_assigns_ticked_leads_in_bulk(org: Any, login: Any) -> None:
    a = capture(org.manager, "13700000001", owner=None)
    b = capture(org.manager, "13700000002", owner=None)
    hidden = capture(org.outsider, "13700000003")
    page = text(login(org.manager).get(LIST))
    assert 'data-testid="bulk-assign"' in page and f'data-testid="tick-{a.pk}"' in page
    response = login(org.manager).post(LIST + "assign/", {"ids": [a.pk, b.pk, hidden.pk], "owner": org.teammate.pk,
                                                          "query": "unassigned=1"})
    assert response.status_code == 302 and response["Location"] == LIST + "?unassigned=1"
    assert set(Lead.objects.filter(owner=org.teammate).values_list("pk", flat=True)) == {a.pk, b.pk}
    hidden.refresh_from_db()
    assert hidden.owner == org.outsider
    assert Notification.objects.filter(user=org.teammate).count() == 1


def test_bulk_assignment_to_someone_one_does_not_manage_changes_nothing(org: Any, login: Any) -> None:
    a = capture(org.manager, owner=None)
    client = login(org.manager)
    response = client.post(LIST + "assign/", {"ids": [a.pk], "owner": org.outsider.pk}, follow=True)
    assert "Choose an active salesperson you manage." in text(response)
    a.refresh_from_db()
    assert a.owner is None
    assert login(org.salesperson).post(LIST + "assign/", {"ids": [a.pk], "owner": org.salesperson.pk}).status_code == 403


# --- Capture form ------------------------------------------------------------------------------------------
def test_a_salesperson_types_in_a_lead(org: Any, login: Any) -> None:
    client = login(org.salesperson)
    page = client.get(LIST + "new/")
    assert page.status_code == 200 and 'name="owner"' not in text(page)
    response = client.post(LIST + "new/", {"company": "温州五金制品厂", "person_name": "陈先生", "mobile": "13512345678",
                                           "source": "exhibition", "source_detail": "广交会", "estimated_amount": "50,000"})
    lead = Lead.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{LIST}{lead.pk}/"
    assert (lead.owner, lead.source, lead.source_detail, str(lead.estimated_amount)) == (
        org.salesperson, "exhibition", "广交会", "50000.00")


def test_bad_input_on_the_form_is_a_message_and_nothing_is_saved(org: Any, login: Any) -> None:
    response = login(org.salesperson).post(LIST + "new/", {"company": "温州五金制品厂", "mobile": "123",
                                                           "source": "manual"})
    assert response.status_code == 422 and "A mainland mobile number has 11 digits" in text(response)
    assert not Lead.objects.exists()


def test_the_staff_form_offers_the_staff_sources_only(org: Any, login: Any) -> None:
    page = text(login(org.salesperson).get(LIST + "new/"))
    assert 'value="exhibition"' in page and 'value="import"' not in page and 'value="api"' not in page
    response = login(org.salesperson).post(LIST + "new/", {"company": "甲", "mobile": "13512345678", "source": "api"})
    assert response.status_code == 422 and not Lead.objects.exists()


def test_a_manager_leaves_a_lead_unassigned_from_the_form(org: Any, login: Any) -> None:
    client = login(org.manager)
    assert 'name="owner"' in text(client.get(LIST + "new/"))
    client.post(LIST + "new/", {"company": "温州五金制品厂", "mobile": "13512345678", "source": "phone", "owner": "none"})
    assert Lead.objects.get().owner is None
    client.post(LIST + "new/", {"company": "丽水茶园", "mobile": "13512345679", "source": "phone",
                                "owner": str(org.teammate.pk)})
    assert Lead.objects.get(company="丽水茶园").owner == org.teammate


# --- Detail, edit, delete -------------------------------------------------------------------------------------
def test_the_detail_shows_the_lead_its_actions_and_history(org: Any, login: Any) -> None:
    lead = capture(org.salesperson, estimated_amount="12000")
    page = text(login(org.salesperson).get(f"{LIST}{lead.pk}/"))
    assert lead.code in page and "¥12,000.00" in page and 'data-testid="history"' in page
    for action in ("lead-convert", "lead-edit", "lead-working", "lead-qualify", "lead-disqualify"):
        assert f'data-testid="{action}"' in page, action
    assert 'data-testid="lead-delete"' not in page and 'data-testid="lead-assign"' not in page


def test_a_hidden_lead_is_404(org: Any, login: Any) -> None:
    lead = capture(org.teammate)
    for suffix in ("", "edit/", "convert/"):
        assert login(org.salesperson).get(f"{LIST}{lead.pk}/{suffix}").status_code == 404
    assert login(org.outsider).post(f"{LIST}{lead.pk}/qualify/").status_code == 404
    lead.refresh_from_db()
    assert lead.state == "new"


def test_an_edit_with_a_stale_version_is_refused_and_changes_nothing(org: Any, login: Any) -> None:
    lead = capture(org.salesperson)
    client = login(org.salesperson)
    form = {"company": "新名字有限公司", "mobile": "13812345678", "source": "manual", "version": lead.version}
    service.lead_update(actor=org.salesperson, lead=lead, changes={"notes": "别人先改了"}, expected_version=1)
    response = client.post(f"{LIST}{lead.pk}/edit/", form)
    assert response.status_code == 409 and "Someone else changed this record" in text(response)
    lead.refresh_from_db()
    assert lead.company == "杭州西湖茶业有限公司"
    response = client.post(f"{LIST}{lead.pk}/edit/", {**form, "version": lead.version})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.company == "新名字有限公司"


def test_a_manager_deletes_a_lead_a_salesperson_cannot(org: Any, login: Any) -> None:
    lead = capture(org.salesperson)
    assert login(org.salesperson).post(f"{LIST}{lead.pk}/delete/").status_code == 403
    assert Lead.objects.filter(pk=lead.pk).exists()
    response = login(org.manager).post(f"{LIST}{lead.pk}/delete/", {"version": lead.version})
    assert response.status_code == 302 and not Lead.objects.filter(pk=lead.pk).exists()
    assert Lead.all_objects.get(pk=lead.pk).deleted_by == org.manager


# --- Actions ----------------------------------------------------------------------------------------------------
def test_assign_working_qualify_and_disqualify_from_the_detail_page(org: Any, login: Any) -> None:
    lead = capture(org.manager, owner=None)
    manager = login(org.manager)
    url = f"{LIST}{lead.pk}/"
    assert 'data-testid="lead-assign"' in text(manager.get(url))
    manager.post(url + "assign/", {"owner": org.salesperson.pk, "version": 1, "note": "请跟进"})
    lead.refresh_from_db()
    assert (lead.owner, lead.state) == (org.salesperson, "assigned")
    sales = login(org.salesperson)
    sales.post(url + "working/", {"version": lead.version})
    lead.refresh_from_db()
    assert lead.state == "working"
    response = sales.post(url + "disqualify/", {"reason": "", "version": lead.version}, follow=True)
    assert "Say why the lead is not qualified." in text(response)
    sales.post(url + "disqualify/", {"reason": "已有供应商", "version": lead.version})
    lead.refresh_from_db()
    assert (lead.state, lead.disqualify_reason) == ("disqualified", "已有供应商")
    assert 'data-testid="lead-convert"' not in text(sales.get(url))
    response = sales.post(url + "qualify/", {"version": 1}, follow=True)
    assert "Someone else changed this record" in text(response)
    lead.refresh_from_db()
    assert lead.state == "disqualified"


# --- Conversion screen ---------------------------------------------------------------------------------------------
def test_the_conversion_screen_is_filled_in_from_the_lead(org: Any, login: Any) -> None:
    lead = capture(org.salesperson, title="采购经理", email="wang@xihutea.cn", estimated_amount="88000",
                   interest="明前龙井礼盒")
    page = text(login(org.salesperson).get(f"{LIST}{lead.pk}/convert/"))
    for value in ('value="杭州西湖茶业有限公司"', 'value="王建国"', 'value="采购经理"', 'value="13812345678"',
                  'value="88000.00"', 'value="杭州西湖茶业有限公司 · 明前龙井礼盒"'):
        assert value in page, value


def test_converting_from_the_screen_lands_on_the_new_account(org: Any, login: Any) -> None:
    lead = capture(org.salesperson, estimated_amount="88000")
    client = login(org.salesperson)
    form = {"version": lead.version, "account_choice": "new", "account_name": "杭州西湖茶业有限公司",
            "account_phone": "13812345678", "create_contact": "on", "contact_name": "王建国",
            "contact_mobile": "13812345678", "opportunity_name": "龙井礼盒", "opportunity_amount": "88000.00"}
    response = client.post(f"{LIST}{lead.pk}/convert/", form)
    account = Account.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/accounts/{account.pk}/"
    deal = Opportunity.objects.get()
    assert (deal.name, deal.account, str(deal.amount)) == ("龙井礼盒", account, "88000.00")
    lead.refresh_from_db()
    assert lead.state == "converted"
    page = text(client.get(f"{LIST}{lead.pk}/"))
    assert deal.code in page and 'data-testid="converted-account"' in page
    assert client.get(f"{LIST}{lead.pk}/convert/").status_code == 302  # converted: back to the lead


def test_the_screen_offers_a_visible_twin_and_uses_it(org: Any, login: Any, account_factory: Any) -> None:
    twin = account_factory(org.salesperson, name="杭州西湖茶业股份有限公司")
    Contact.objects.create(account=twin, name="王建国", mobile="13812345678")
    lead = capture(org.salesperson)
    client = login(org.salesperson)
    page = text(client.get(f"{LIST}{lead.pk}/convert/"))
    assert f'data-testid="use-account-{twin.pk}"' in page and twin.name in page
    refused = client.post(f"{LIST}{lead.pk}/convert/", {"version": lead.version, "account_choice": "new",
                                                       "account_name": "杭州西湖茶业有限公司", "create_contact": "on",
                                                       "contact_name": "王建国", "opportunity_name": "礼盒"})
    assert refused.status_code == 422 and "look the same" in text(refused) and Account.objects.count() == 1
    response = client.post(f"{LIST}{lead.pk}/convert/", {"version": lead.version, "account_choice": str(twin.pk),
                                                        "create_contact": "on", "contact_name": "王建国",
                                                        "contact_mobile": "13812345678", "opportunity_name": "礼盒"})
    assert response.status_code == 302 and response["Location"] == f"/accounts/{twin.pk}/"
    assert Account.objects.count() == 1 and Contact.objects.count() == 1
    assert Opportunity.objects.get().account == twin


def test_the_screen_reports_a_hidden_twin_without_its_name(org: Any, login: Any, account_factory: Any) -> None:
    hidden = account_factory(org.outsider, name="华南秘密客户有限公司", credit_code=CREDIT)
    lead = capture(org.salesperson, credit_code=CREDIT)
    client = login(org.salesperson)
    page = text(client.get(f"{LIST}{lead.pk}/convert/"))
    assert "a customer with this credit code already exists".lower() in page.lower()
    assert hidden.name not in page and hidden.code not in page
    response = client.post(f"{LIST}{lead.pk}/convert/", {"version": lead.version, "account_choice": str(hidden.pk),
                                                        "opportunity_name": "礼盒"})
    assert response.status_code == 404 and not Opportunity.objects.exists()


def test_marketing_cannot_open_the_conversion_screen(org: Any, login: Any) -> None:
    lead = capture(org.marketing)
    assert login(org.marketing).get(f"{LIST}{lead.pk}/convert/").status_code == 403
