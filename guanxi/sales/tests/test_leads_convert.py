"""Converting a lead (R4.1): account + contact + opportunity in one step without retyping;
duplicates caught at conversion (visible ones offered, hidden ones reported without their
name, a held credit code always blocking a second account); all or nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation

from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.models import AuditEvent
from guanxi.customers.models import Account, Contact, OwnershipChange
from guanxi.sales.models import AccountSales, Lead, Opportunity, Pipeline, Product, Stage, StageChange
from guanxi.sales.selectors import leads as reads
from guanxi.sales.services import lead_convert as converting
from guanxi.sales.services import leads as service

pytestmark = pytest.mark.django_db
CREDIT = "91330106MA2GL2JX06"  # a code with a valid check character


@pytest.fixture(autouse=True)
def _english() -> Any:
    with translation.override("en"):
        yield


def make_lead(actor: Any, **data: Any) -> Lead:
    data.setdefault("company", "杭州西湖茶业有限公司")
    data.setdefault("person_name", "王建国")
    data.setdefault("title", "采购经理")
    data.setdefault("mobile", "13812345678")
    data.setdefault("email", "wang@xihutea.cn")
    data.setdefault("province", "浙江省")
    data.setdefault("city", "杭州市")
    data.setdefault("estimated_amount", "88000")
    data.setdefault("interest", "明前龙井礼盒\n每年中秋")
    return service.lead_capture(actor=actor, source="exhibition", data=data)


def counts() -> tuple[int, int, int]:
    return Account.objects.count(), Contact.objects.count(), Opportunity.objects.count()


def test_a_lead_becomes_an_account_a_contact_and_an_opportunity(org: Any) -> None:
    product = Product.objects.create(code="LJ-1", name="龙井")
    lead = make_lead(org.salesperson, credit_code=CREDIT, products=[product.pk])
    result = converting.lead_convert(actor=org.salesperson, lead=lead, expected_version=lead.version)
    account, contact, deal = result.account, result.contact, result.opportunity
    assert result.account_created and result.contact_created
    assert (account.name, account.credit_code, account.phone, account.province, account.city) == (
        "杭州西湖茶业有限公司", CREDIT, "13812345678", "浙江省", "杭州市")
    assert (account.owner, account.department, account.kind, account.lifecycle) == (
        org.salesperson, org.east, "enterprise", "intent")
    assert OwnershipChange.objects.filter(account=account, kind="created").exists()
    assert contact is not None and (contact.account, contact.name, contact.title, contact.mobile, contact.email) == (
        account, "王建国", "采购经理", "13812345678", "wang@xihutea.cn")
    pipeline = Pipeline.objects.get()
    first = pipeline.stages.order_by("position").first()
    assert deal.code.startswith("SJ-") and deal.name == "杭州西湖茶业有限公司 · 明前龙井礼盒"
    assert (deal.account, deal.contact, deal.pipeline, deal.stage, deal.probability, deal.amount) == (
        account, contact, pipeline, first, first.probability, Decimal("88000.00"))
    assert (deal.owner, deal.department, deal.lead, deal.state) == (org.salesperson, org.east, lead, "open")
    assert list(deal.products.all()) == [product]
    change = StageChange.objects.get(opportunity=deal)
    assert (change.from_stage, change.to_stage, change.amount, change.changed_by) == (
        None, first, Decimal("88000.00"), org.salesperson)
    assert AccountSales.objects.get(account=account).open_deals_total == Decimal("88000.00")
    lead.refresh_from_db()
    assert (lead.state, lead.account, lead.contact, lead.opportunity) == ("converted", account, contact, deal)
    assert lead.converted_at is not None
    event = AuditEvent.objects.filter(object_id=str(lead.pk), action="update").latest("id")
    assert event.changes["state"] == ["new", "converted"] and event.note == "Converted"
    assert AuditEvent.objects.filter(action="create", object_id=str(deal.pk), content_type__model="opportunity").exists()


def test_a_managers_conversion_gives_everything_to_the_leads_owner(org: Any) -> None:
    lead = make_lead(org.salesperson)
    result = converting.lead_convert(actor=org.manager, lead=lead)
    assert result.account.owner == org.salesperson and result.opportunity.owner == org.salesperson
    assert result.opportunity.department == org.east


def test_a_person_without_a_company_becomes_an_individual_account(org: Any) -> None:
    lead = make_lead(org.salesperson, company="", estimated_amount=None)
    result = converting.lead_convert(actor=org.salesperson, lead=lead, opportunity={"name": "个人订购"})
    assert (result.account.name, result.account.kind) == ("王建国", "individual")
    assert result.opportunity.amount == Decimal("0.00")


def test_the_screen_overrides_what_the_lead_said(org: Any) -> None:
    pipeline = Pipeline.objects.create(name="经销渠道")
    Stage.objects.create(pipeline=pipeline, name="已赢", kind="won", position=1, probability=100)
    stage = Stage.objects.create(pipeline=pipeline, name="洽谈", position=2, probability=30)
    lead = make_lead(org.salesperson)
    result = converting.lead_convert(
        actor=org.salesperson, lead=lead, new_account={"name": "西湖茶业（杭州）有限公司"},
        contact={"title": "总经理"},
        opportunity={"name": "中秋礼盒", "amount": "120000", "expected_close": "2026-09-01",
                     "pipeline": pipeline.pk})
    assert result.account.name == "西湖茶业（杭州）有限公司" and result.contact.title == "总经理"  # type: ignore[union-attr]
    deal = result.opportunity
    assert (deal.name, deal.amount, str(deal.expected_close), deal.stage, deal.probability) == (
        "中秋礼盒", Decimal("120000.00"), "2026-09-01", stage, 30)


def test_without_a_contact(org: Any) -> None:
    lead = make_lead(org.salesperson)
    result = converting.lead_convert(actor=org.salesperson, lead=lead, create_contact=False)
    assert result.contact is None and not Contact.objects.exists()


# --- Duplicates at conversion ----------------------------------------------------------------------------
def test_a_similar_visible_account_is_offered_and_a_new_one_needs_confirming(org: Any, account_factory: Any) -> None:
    twin = account_factory(org.salesperson, name="杭州西湖茶业股份有限公司")
    lead = make_lead(org.salesperson, company="杭州西湖茶业")
    matches = reads.lead_account_candidates(org.salesperson, lead)
    assert [c.account for c in matches.visible] == [twin] and matches.visible[0].reasons == ["name"]
    before = counts()
    with pytest.raises(Invalid) as exc:
        converting.lead_convert(actor=org.salesperson, lead=lead)
    assert exc.value.code == "duplicate" and twin.name in exc.value.errors["account"][0]
    assert counts() == before
    lead.refresh_from_db()
    assert lead.state == "new"
    result = converting.lead_convert(actor=org.salesperson, lead=lead, new_account_confirmed=True)
    assert result.account != twin


def test_the_same_phone_or_a_contacts_mobile_is_a_duplicate_too(org: Any, account_factory: Any) -> None:
    by_phone = account_factory(org.salesperson, name="甲公司", phone="0571-88886666")
    by_mobile = account_factory(org.salesperson, name="乙公司")
    Contact.objects.create(account=by_mobile, name="王建国", mobile="138 1234 5678")
    lead = make_lead(org.salesperson, company="丙公司", phone="057188886666")
    matches = reads.lead_account_candidates(org.salesperson, lead)
    found = {c.account.pk: c.reasons for c in matches.visible}
    assert found == {by_phone.pk: ["phone"], by_mobile.pk: ["mobile"]}


def test_using_an_existing_account_reuses_the_person_met_before(org: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson, name="杭州西湖茶业有限公司")
    known = Contact.objects.create(account=account, name="王总", mobile="13812345678")
    lead = make_lead(org.salesperson)
    result = converting.lead_convert(actor=org.salesperson, lead=lead, account=account)
    assert (result.account, result.contact, result.account_created, result.contact_created) == (
        account, known, False, False)
    assert Account.objects.count() == 1 and Contact.objects.count() == 1
    assert result.opportunity.account == account


def test_a_hidden_account_with_the_credit_code_blocks_without_its_name(org: Any, account_factory: Any) -> None:
    hidden = account_factory(org.outsider, name="华南秘密客户有限公司", credit_code=CREDIT)
    lead = make_lead(org.salesperson, credit_code=CREDIT)
    matches = reads.lead_account_candidates(org.salesperson, lead)
    assert matches.visible == [] and matches.blocks_new
    message = matches.hidden_messages()[0]
    assert "credit code already exists, owned by another department" in message and hidden.name not in message
    before = counts()
    for confirmed in (False, True):
        with pytest.raises(Invalid) as exc:
            converting.lead_convert(actor=org.salesperson, lead=lead, new_account_confirmed=confirmed)
        assert "ask your manager" in exc.value.errors["account"][0]
        assert hidden.name not in str(exc.value.errors) and hidden.code not in str(exc.value.errors)
    assert counts() == before


def test_a_hidden_similar_name_is_reported_and_can_be_overridden(org: Any, account_factory: Any) -> None:
    account_factory(org.outsider, name="杭州西湖茶业有限公司")
    lead = make_lead(org.salesperson)
    with pytest.raises(Invalid) as exc:
        converting.lead_convert(actor=org.salesperson, lead=lead)
    assert "another department" in exc.value.errors["account"][0]
    result = converting.lead_convert(actor=org.salesperson, lead=lead, new_account_confirmed=True)
    assert result.account.owner == org.salesperson


def test_a_hidden_existing_account_cannot_be_used(org: Any, account_factory: Any) -> None:
    hidden = account_factory(org.outsider, name="别人的客户")
    lead = make_lead(org.salesperson)
    with pytest.raises(NotFound):
        converting.lead_convert(actor=org.salesperson, lead=lead, account=hidden)
    assert not Opportunity.objects.exists()


# --- Refusals ------------------------------------------------------------------------------------------------------
def test_a_lead_converts_once_and_a_stale_screen_changes_nothing(org: Any) -> None:
    lead = make_lead(org.salesperson)
    service.lead_qualify(actor=org.salesperson, lead=lead)
    with pytest.raises(Conflict):
        converting.lead_convert(actor=org.salesperson, lead=lead, expected_version=1)
    assert counts() == (0, 0, 0)
    converting.lead_convert(actor=org.salesperson, lead=lead, expected_version=2)
    with pytest.raises(Invalid):
        converting.lead_convert(actor=org.salesperson, lead=lead, new_account_confirmed=True)
    assert counts() == (1, 1, 1)


def test_a_disqualified_lead_is_not_converted(org: Any) -> None:
    lead = make_lead(org.salesperson)
    service.lead_disqualify(actor=org.salesperson, lead=lead, reason="空号")
    with pytest.raises(Invalid):
        converting.lead_convert(actor=org.salesperson, lead=lead)
    assert counts() == (0, 0, 0)


def test_marketing_may_not_convert(org: Any) -> None:
    lead = make_lead(org.marketing)
    with pytest.raises(Forbidden):
        converting.lead_convert(actor=org.marketing, lead=lead)
    assert counts() == (0, 0, 0)


def test_bad_opportunity_input_changes_nothing(org: Any) -> None:
    lead = make_lead(org.salesperson)
    with pytest.raises(Invalid) as exc:
        converting.lead_convert(actor=org.salesperson, lead=lead,
                                opportunity={"amount": "很多", "expected_close": "明年", "pipeline": 999})
    assert set(exc.value.errors) == {"opportunity.amount", "opportunity.expected_close", "opportunity.pipeline"}
    with pytest.raises(Invalid) as unknown:
        converting.lead_convert(actor=org.salesperson, lead=lead, new_account={"owner": org.teammate.pk})
    assert "account.owner" in unknown.value.errors
    assert counts() == (0, 0, 0) and Lead.objects.get(pk=lead.pk).state == "new"


def test_a_contact_needs_a_name(org: Any) -> None:
    lead = make_lead(org.salesperson, person_name="")
    with pytest.raises(Invalid) as exc:
        converting.lead_convert(actor=org.salesperson, lead=lead)
    assert "contact.name" in exc.value.errors and counts() == (0, 0, 0)
