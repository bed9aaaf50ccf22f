"""Lead services (R4.1): capture from every channel through one service, edit with the version,
delete to the recycle bin, assign only to people one manages (notified), working, qualify,
disqualify with a reason. Every refusal changes nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation

from guanxi.core.errors import Conflict, Forbidden, Invalid
from guanxi.core.models import AuditEvent, Notification
from guanxi.core.services import records
from guanxi.sales.models import Lead, Pipeline, Product, Stage
from guanxi.sales.services import leads as service

pytestmark = pytest.mark.django_db
MOBILE = "13812345678"


@pytest.fixture(autouse=True)
def _english() -> Any:
    with translation.override("en"):
        yield


def capture(actor: Any, source: str = "manual", **data: Any) -> Lead:
    data.setdefault("company", "杭州西湖茶业有限公司")
    data.setdefault("mobile", MOBILE)
    return service.lead_capture(actor=actor, source=source, data=data)


# --- Capture -------------------------------------------------------------------------------------
def test_a_salesperson_captures_a_lead_of_their_own(org: Any) -> None:
    lead = capture(org.salesperson, "exhibition", person_name="王经理", email="Wang@Example.COM",
                   estimated_amount="12,000.5", source_detail="广交会")
    assert lead.code.startswith("XS-") and lead.state == Lead.State.NEW
    assert (lead.owner, lead.department, lead.created_by) == (org.salesperson, org.east, org.salesperson)
    assert (lead.source, lead.email, lead.estimated_amount) == ("exhibition", "wang@example.com", Decimal("12000.50"))
    for needle in ("杭州西湖茶业", "hangzhouxihu", "hzxh", MOBILE, "wang@example.com", lead.code.lower()):
        assert needle in lead.search_text, needle
    event = AuditEvent.objects.get(action="create", object_id=str(lead.pk))
    assert event.changes["company"] == [None, "杭州西湖茶业有限公司"] and "search_text" not in event.changes
    assert not Notification.objects.exists()


def test_a_mobile_is_stored_as_its_eleven_digits(org: Any) -> None:
    assert capture(org.salesperson, mobile="+86 138-1234-5678").mobile == MOBILE


def test_a_salesperson_cannot_leave_a_lead_unassigned_or_give_it_away(org: Any) -> None:
    with pytest.raises(Invalid) as unassigned:
        capture(org.salesperson, owner=None)
    with pytest.raises(Invalid) as given:
        capture(org.salesperson, owner=org.teammate)
    assert "owner" in unassigned.value.errors and "owner" in given.value.errors
    assert not Lead.objects.exists()


def test_a_manager_captures_an_unassigned_lead_or_one_for_a_salesperson(org: Any) -> None:
    pool = capture(org.manager, owner=None)
    assert (pool.owner, pool.department, pool.state) == (None, None, Lead.State.NEW)
    given = capture(org.manager, owner=org.teammate.pk, mobile="13912345678")
    assert (given.owner, given.department, given.state) == (org.teammate, org.east, Lead.State.ASSIGNED)
    assert given.assigned_at is not None
    note = Notification.objects.get(user=org.teammate)
    assert given.code in note.title and note.url == f"/sales/leads/{given.pk}/"


def test_a_manager_cannot_capture_for_someone_outside_their_department(org: Any) -> None:
    with pytest.raises(Invalid) as exc:
        capture(org.manager, owner=org.outsider)
    assert "owner" in exc.value.errors and not Lead.objects.exists()


def test_a_system_channel_captures_unassigned_leads(org: Any) -> None:
    lead = capture(None, "form", person_name="李先生", company="")
    assert (lead.owner, lead.created_by, lead.source) == (None, None, "form")
    assert AuditEvent.objects.get(object_id=str(lead.pk)).actor_name == "system"


def test_capture_needs_the_right(org: Any) -> None:
    with pytest.raises(Forbidden):
        capture(org.service)
    assert not Lead.objects.exists()


@pytest.mark.parametrize("data,field", [
    ({"company": "", "person_name": ""}, "company"),
    ({"mobile": ""}, "mobile"),
    ({"mobile": "12345"}, "mobile"),
    ({"phone": "abc"}, "phone"),
    ({"email": "not-an-email"}, "email"),
    ({"credit_code": "91330100MA2B3C4D5X"}, "credit_code"),
    ({"estimated_amount": "lots"}, "estimated_amount"),
    ({"estimated_amount": "-5"}, "estimated_amount"),
    ({"products": [999999]}, "products"),
    ({"state": "converted"}, "state"),
])
def test_bad_input_is_refused_with_the_fields_message(org: Any, data: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as exc:
        capture(org.salesperson, **data)
    assert field in exc.value.errors
    assert not Lead.objects.exists()


def test_an_unknown_source_is_refused(org: Any) -> None:
    with pytest.raises(Invalid) as exc:
        capture(org.salesperson, "carrier-pigeon")
    assert "source" in exc.value.errors


def test_capture_links_catalogue_products(org: Any) -> None:
    product = Product.objects.create(code="P-1", name="绿茶")
    lead = capture(org.salesperson, products=[product.pk])
    assert list(lead.products.all()) == [product]


# --- Edit and delete ----------------------------------------------------------------------------------
def test_an_edit_names_the_version_it_read(org: Any) -> None:
    lead = capture(org.salesperson)
    service.lead_update(actor=org.salesperson, lead=lead, changes={"company": "宁波港口物流有限公司"},
                        expected_version=1)
    lead.refresh_from_db()
    assert (lead.company, lead.version) == ("宁波港口物流有限公司", 2)
    assert "ningbo" in lead.search_text and "hangzhou" not in lead.search_text
    with pytest.raises(Conflict):
        service.lead_update(actor=org.salesperson, lead=Lead.objects.get(pk=lead.pk),
                            changes={"company": "过时的"}, expected_version=1)
    lead.refresh_from_db()
    assert lead.company == "宁波港口物流有限公司"


def test_an_edit_cannot_leave_the_lead_unreachable_or_touch_the_owner(org: Any) -> None:
    lead = capture(org.salesperson)
    with pytest.raises(Invalid) as exc:
        service.lead_update(actor=org.salesperson, lead=lead, changes={"mobile": ""}, expected_version=1)
    assert "mobile" in exc.value.errors
    with pytest.raises(Invalid):
        service.lead_update(actor=org.salesperson, lead=lead, changes={"owner": org.teammate}, expected_version=1)
    lead.refresh_from_db()
    assert (lead.mobile, lead.owner, lead.version) == (MOBILE, org.salesperson, 1)


def test_a_salesperson_cannot_delete_a_lead_a_manager_moves_it_to_the_recycle_bin(org: Any) -> None:
    lead = capture(org.salesperson)
    with pytest.raises(Forbidden):
        service.lead_delete(actor=org.salesperson, lead=lead)
    assert Lead.objects.filter(pk=lead.pk).exists()
    service.lead_delete(actor=org.manager, lead=lead, expected_version=1)
    assert not Lead.objects.filter(pk=lead.pk).exists()
    records.record_restore(actor=org.manager, obj=Lead.all_objects.get(pk=lead.pk))
    assert Lead.objects.filter(pk=lead.pk).exists()


# --- Assign ----------------------------------------------------------------------------------------------
def test_a_manager_assigns_a_lead_and_the_new_owner_is_told(org: Any) -> None:
    lead = capture(org.manager, owner=None)
    service.lead_assign(actor=org.manager, lead=lead, owner=org.teammate, expected_version=1, note="华东客户")
    lead.refresh_from_db()
    assert (lead.owner, lead.department_id, lead.state) == (org.teammate, org.east.pk, Lead.State.ASSIGNED)
    event = AuditEvent.objects.get(action="reassign", object_id=str(lead.pk))
    assert event.note == "华东客户" and event.changes["owner"][1]["id"] == org.teammate.pk
    assert Notification.objects.filter(user=org.teammate, url=f"/sales/leads/{lead.pk}/").count() == 1


@pytest.mark.parametrize("who", ["outsider", "service", "south_manager"])
def test_a_lead_goes_only_to_a_salesperson_the_assigner_manages(org: Any, who: str) -> None:
    lead = capture(org.manager, owner=None)
    with pytest.raises(Invalid) as exc:
        service.lead_assign(actor=org.manager, lead=lead, owner=getattr(org, who))
    assert "owner" in exc.value.errors
    lead.refresh_from_db()
    assert lead.owner is None and not Notification.objects.exists()


def test_marketing_hands_out_only_inside_its_own_reach(org: Any) -> None:
    lead = capture(org.marketing, owner=None)
    with pytest.raises(Invalid):
        service.lead_assign(actor=org.marketing, lead=lead, owner=org.salesperson)
    service.lead_assign(actor=org.marketing, lead=lead, owner=org.marketing)
    lead.refresh_from_db()
    assert lead.owner == org.marketing


def test_a_salesperson_cannot_assign(org: Any) -> None:
    lead = capture(org.salesperson)
    with pytest.raises(Forbidden):
        service.lead_assign(actor=org.salesperson, lead=lead, owner=org.teammate)
    lead.refresh_from_db()
    assert lead.owner == org.salesperson


def test_bulk_assignment_is_all_or_nothing_and_tells_the_owner_once(org: Any) -> None:
    leads = [capture(org.manager, owner=None, mobile=f"1391234567{i}") for i in range(3)]
    assert service.lead_assign_many(actor=org.manager, leads=leads, owner=org.salesperson) == 3
    assert set(Lead.objects.values_list("owner_id", flat=True)) == {org.salesperson.pk}
    assert Notification.objects.filter(user=org.salesperson).count() == 1
    converted = capture(org.manager, owner=None, mobile="13700000000")
    Lead.objects.filter(pk=converted.pk).update(state=Lead.State.CONVERTED)
    converted.refresh_from_db()
    fresh = capture(org.manager, owner=None, mobile="13700000001")
    with pytest.raises(Invalid):
        service.lead_assign_many(actor=org.manager, leads=[fresh, converted], owner=org.teammate)
    fresh.refresh_from_db()
    assert fresh.owner is None


# --- Working, qualify, disqualify -----------------------------------------------------------------------------
def test_the_life_of_a_lead(org: Any) -> None:
    lead = capture(org.salesperson)
    service.lead_start_working(actor=org.salesperson, lead=lead, expected_version=1)
    assert lead.state == Lead.State.WORKING
    service.lead_disqualify(actor=org.salesperson, lead=lead, reason="预算不足", expected_version=2)
    assert (lead.state, lead.disqualify_reason) == (Lead.State.DISQUALIFIED, "预算不足")
    with pytest.raises(Invalid):
        service.lead_qualify(actor=org.salesperson, lead=lead)
    service.lead_start_working(actor=org.salesperson, lead=lead)  # reopens
    assert (lead.state, lead.disqualify_reason) == (Lead.State.WORKING, "")
    service.lead_qualify(actor=org.salesperson, lead=lead)
    lead.refresh_from_db()
    assert (lead.state, lead.version) == (Lead.State.QUALIFIED, 5)


def test_disqualifying_needs_a_reason_and_the_current_version(org: Any) -> None:
    lead = capture(org.salesperson)
    with pytest.raises(Invalid) as exc:
        service.lead_disqualify(actor=org.salesperson, lead=lead, reason="  ")
    assert "reason" in exc.value.errors
    with pytest.raises(Conflict):
        service.lead_disqualify(actor=org.salesperson, lead=lead, reason="空号", expected_version=7)
    lead.refresh_from_db()
    assert (lead.state, lead.disqualify_reason) == (Lead.State.NEW, "")


def test_nobody_works_an_unassigned_lead(org: Any) -> None:
    lead = capture(org.manager, owner=None)
    with pytest.raises(Invalid) as exc:
        service.lead_start_working(actor=org.manager, lead=lead)
    assert "owner" in exc.value.errors


def test_the_service_agent_cannot_move_a_lead(org: Any) -> None:
    lead = capture(org.salesperson)
    with pytest.raises(Forbidden):
        service.lead_qualify(actor=org.service, lead=lead)
    lead.refresh_from_db()
    assert lead.state == Lead.State.NEW


# --- The default pipeline --------------------------------------------------------------------------------------
def test_a_conversion_on_a_fresh_database_gets_the_standard_pipeline(db: Any) -> None:
    first = service.default_pipeline()
    assert service.default_pipeline() == first and Pipeline.objects.count() == 1
    stages = list(first.stages.order_by("position"))
    assert [s.kind for s in stages] == ["open", "open", "open", "open", "won", "lost"]
    assert service.first_open_stage(first) == stages[0] and stages[0].probability == 10


def test_an_existing_default_pipeline_is_used(db: Any) -> None:
    other = Pipeline.objects.create(name="项目", sort_order=0)
    chosen = Pipeline.objects.create(name="经销", is_default=True, sort_order=5)
    Stage.objects.create(pipeline=chosen, name="接洽", probability=20)
    assert service.default_pipeline() == chosen and other.pk
