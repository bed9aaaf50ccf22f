"""Hand-overs (R5.2): ownership moves only when the colleague accepts; every step recorded."""

from __future__ import annotations

import pytest

from guanxi.core.errors import Conflict, Forbidden, Invalid
from guanxi.core.models import AuditEvent, Notification, User
from guanxi.service.models import Case, CaseEvent, Handover
from guanxi.service.selectors.scope import case_scope
from guanxi.service.services import cases as services
from guanxi.service.services import handovers
from guanxi.service.tests.cases_support import S, advance, fresh, make_case

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(org):
    """Notifications go out in each person's language: English here, to assert them."""
    User.objects.update(language="en")


def case_events(case: Case) -> list[str]:
    return list(CaseEvent.objects.filter(case=case).order_by("id").values_list("type", flat=True))


def test_an_accepted_offer_moves_the_case_and_its_department(org):
    case = make_case(org.service)
    offer = handovers.handover_offer(actor=org.service, case=case, to_user=org.salesperson, note="客户是他的老客户")
    # Offered: still the service agent's; the colleague sees it so they can decide.
    assert fresh(case).owner == org.service
    assert case_scope(org.salesperson).filter(pk=case.pk).exists()
    assert Notification.objects.filter(user=org.salesperson, title__contains=case.code).exists()
    with pytest.raises(Forbidden):  # the colleague cannot act on it before accepting
        services.case_move(actor=org.salesperson, case=fresh(case), to=S.ACKNOWLEDGED)

    handovers.handover_accept(actor=org.salesperson, handover=offer, answer="好的")
    row = fresh(case)
    assert (row.owner_id, row.department_id) == (org.salesperson.pk, org.east.pk)
    assert Handover.objects.get(pk=offer.pk).state == Handover.State.ACCEPTED
    assert case_events(case)[-2:] == ["handover", "accepted"]
    assert AuditEvent.objects.filter(object_id=str(case.pk), action="reassign").exists()
    assert Notification.objects.filter(user=org.service, title__contains="accepted").exists()
    # The new owner moves it on; the former owner no longer can.
    services.case_move(actor=org.salesperson, case=row, to=S.ACKNOWLEDGED)
    with pytest.raises(Forbidden):
        services.case_move(actor=org.service, case=fresh(case), to=S.INVESTIGATING)


def test_a_declined_offer_leaves_the_case_with_its_owner(org):
    case = make_case(org.service)
    offer = handovers.handover_offer(actor=org.service, case=case, to_user=org.service2)
    with pytest.raises(Invalid) as why:
        handovers.handover_decline(actor=org.service2, handover=offer, answer="")
    assert "answer" in why.value.errors
    handovers.handover_decline(actor=org.service2, handover=offer, answer="我这周休假")
    assert fresh(case).owner == org.service
    assert Handover.objects.get(pk=offer.pk).answer == "我这周休假"
    assert case_events(case)[-1] == "declined"
    assert Notification.objects.filter(user=org.service, title__contains="declined").exists()
    assert not case_scope(org.service2).filter(pk=case.pk, owner=org.service2).exists()


def test_a_withdrawn_offer_cannot_be_accepted(org):
    case = make_case(org.service)
    offer = handovers.handover_offer(actor=org.service, case=case, to_user=org.service2)
    with pytest.raises(Forbidden):
        handovers.handover_withdraw(actor=org.service2, handover=offer)
    handovers.handover_withdraw(actor=org.service, handover=offer, note="我自己处理")
    assert Notification.objects.filter(user=org.service2, title__contains="withdrew").exists()
    with pytest.raises(Invalid):
        handovers.handover_accept(actor=org.service2, handover=Handover.objects.get(pk=offer.pk))
    assert fresh(case).owner == org.service and case_events(case)[-1] == "withdrawn"


def test_only_the_owner_offers_and_only_the_recipient_answers(org):
    case = make_case(org.service)
    with pytest.raises(Forbidden) as refused:
        handovers.handover_offer(actor=org.service2, case=case, to_user=org.service2)
    assert "赵静" in refused.value.message
    offer = handovers.handover_offer(actor=org.service, case=case, to_user=org.service2)
    with pytest.raises(Forbidden):
        handovers.handover_accept(actor=org.service_manager, handover=offer)
    with pytest.raises(Forbidden):
        handovers.handover_decline(actor=org.service, handover=offer, answer="x")
    assert fresh(case).owner == org.service


def test_one_open_offer_per_case_to_someone_who_handles_cases(org):
    case = make_case(org.service)
    with pytest.raises(Invalid) as nobody:
        handovers.handover_offer(actor=org.service, case=case, to_user=org.marketing)
    assert "to_user" in nobody.value.errors
    with pytest.raises(Invalid):
        handovers.handover_offer(actor=org.service, case=case, to_user=org.service)
    handovers.handover_offer(actor=org.service, case=case, to_user=org.service2)
    with pytest.raises(Invalid) as twice:
        handovers.handover_offer(actor=org.service, case=case, to_user=org.service_lead)
    assert "already offered" in twice.value.errors["__all__"][0]
    assert Handover.objects.filter(case=case).count() == 1


def test_a_closed_case_is_not_handed_over(org):
    case = advance(make_case(org.service, wants_reply=False), org.service, S.RESOLVED)
    services.case_move(actor=org.service, case=case, to=S.CLOSED, note="完成")
    with pytest.raises(Invalid):
        handovers.handover_offer(actor=org.service, case=fresh(case), to_user=org.service2)


def test_a_stale_offer_is_a_conflict(org):
    case = make_case(org.service)
    offer = handovers.handover_offer(actor=org.service, case=case, to_user=org.service2)
    with pytest.raises(Conflict):
        handovers.handover_accept(actor=org.service2, handover=offer, expected_version=offer.version + 1)
    assert fresh(case).owner == org.service
