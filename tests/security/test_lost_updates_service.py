"""S18 — races on cases and hand-overs, with concurrent writers on PostgreSQL.

First-responder ownership only works if a case has exactly one owner whatever the timing:

* the colleague accepts an offer while the owner withdraws it — exactly one of the two
  happens: accepted (the colleague owns the case) or withdrawn (the owner keeps it), never
  both, never neither; one decision on the hand-over, one event in the case's story;
* the colleague accepts the same offer from several tabs at once — one acceptance, one owner
  change, one audit row; the other clicks are refused (Conflict or "already accepted");
* the owner offers the case to two colleagues at once — one open offer at most;
* the colleague accepts while the owner moves the case on — whichever comes second sees the
  first (the move is refused once the case changed hands, or the acceptance is refused on a
  stale case), and the case ends consistent: owned by whoever the hand-over says;
* forty writers edit the same case with the version they read — one wins, 39 get Conflict.

Each race is run several times with the threads released together (a barrier), each thread on
its own connection. SQLite serialises writers on one file: PostgreSQL only.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType

from guanxi.core.errors import Conflict, Forbidden, Invalid, ServiceError
from guanxi.core.models import AuditEvent
from guanxi.service.models import Case, CaseEvent, FeedbackForm, Handover
from tests.security.test_lost_updates_sales import together

pytestmark = [
    pytest.mark.skipif("postgresql" not in settings.DATABASES["default"]["ENGINE"],
                       reason="S18 needs real concurrent writers: SQLite serialises them on one file"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
ROUNDS = 6
REFUSALS = (Conflict, Invalid, Forbidden)


def _case(org: Any, n: int) -> Case:
    """A case of 赵静's (service), received through her public form."""
    from guanxi.service.services import intake

    form = FeedbackForm.objects.get_or_create(slug="race", defaults={"title": "表单", "responder": org.service})[0]
    return intake.case_receive(actor=None, kind="complaint", title=f"并发{n}", description="并发测试", channel="web",
                               form=form, sender_name="客户", sender_phone="13900001111")


def _offer(org: Any, case: Case) -> Handover:
    from guanxi.service.services import handovers

    return handovers.handover_offer(actor=org.service, case=Case.objects.get(pk=case.pk), to_user=org.service2)


def _accept(org: Any, pk: int) -> Any:
    from guanxi.service.services import handovers

    return handovers.handover_accept(actor=org.service2, handover=Handover.objects.get(pk=pk), answer="好的")


def _withdraw(org: Any, pk: int) -> Any:
    from guanxi.service.services import handovers

    return handovers.handover_withdraw(actor=org.service, handover=Handover.objects.get(pk=pk), note="不用了")


def _unexpected(results: list[Any]) -> list[Any]:
    return [r for r in results if isinstance(r, Exception) and not isinstance(r, REFUSALS)]


def _decisions(case: Case) -> list[str]:
    return list(CaseEvent.objects.filter(case=case, type__in=("accepted", "withdrawn", "declined"))
                .values_list("type", flat=True))


def test_accept_and_withdraw_at_once_end_in_exactly_one_outcome(org: Any) -> None:
    outcomes = set()
    for n in range(ROUNDS):
        case = _case(org, n)
        offer = _offer(org, case)
        results = together(lambda i, pk=offer.pk: _accept(org, pk) if i == 0 else _withdraw(org, pk), writers=2)
        assert not _unexpected(results), results
        succeeded = [r for r in results if isinstance(r, Handover)]
        assert len(succeeded) == 1, results
        offer.refresh_from_db()
        case.refresh_from_db()
        outcomes.add(offer.state)
        if offer.state == Handover.State.ACCEPTED:
            assert (case.owner_id, case.department_id) == (org.service2.pk, org.service2.department_id)
            assert _decisions(case) == ["accepted"]
        else:
            assert offer.state == Handover.State.WITHDRAWN
            assert case.owner_id == org.service.pk
            assert _decisions(case) == ["withdrawn"]
        assert not Handover.objects.filter(case=case, state=Handover.State.OFFERED).exists()
    assert outcomes <= {Handover.State.ACCEPTED, Handover.State.WITHDRAWN}


def test_accepting_from_several_tabs_changes_the_owner_once(org: Any) -> None:
    for n in range(3):
        case = _case(org, n)
        offer = _offer(org, case)
        audits = AuditEvent.objects.filter(content_type=ContentType.objects.get_for_model(Case),
                                           object_id=str(case.pk), action="reassign")
        results = together(lambda _i, pk=offer.pk: _accept(org, pk), writers=8)
        assert not _unexpected(results), results
        assert sum(isinstance(r, Handover) for r in results) == 1, results
        case.refresh_from_db()
        assert case.owner_id == org.service2.pk
        assert _decisions(case) == ["accepted"]
        assert audits.count() == 1


def test_offering_to_two_colleagues_at_once_leaves_one_open_offer(org: Any) -> None:
    from guanxi.service.services import handovers

    colleagues = [org.service2, org.service_lead]
    for n in range(ROUNDS):
        case = _case(org, n)
        results = together(lambda i, pk=case.pk: handovers.handover_offer(
            actor=org.service, case=Case.objects.get(pk=pk), to_user=colleagues[i % 2]), writers=6)
        assert not _unexpected(results), results
        assert sum(isinstance(r, Handover) for r in results) == 1, results
        assert Handover.objects.filter(case=case, state=Handover.State.OFFERED).count() == 1
        assert CaseEvent.objects.filter(case=case, type="handover").count() == 1


def test_accepting_while_the_owner_moves_the_case_on_keeps_one_owner(org: Any) -> None:
    from guanxi.service.services import cases

    def move(pk: int) -> Any:
        return cases.case_move(actor=org.service, case=Case.objects.get(pk=pk), to="acknowledged")

    for n in range(ROUNDS):
        case = _case(org, n)
        offer = _offer(org, case)
        results = together(lambda i, o=offer.pk, c=case.pk: _accept(org, o) if i == 0 else move(c), writers=2)
        assert not _unexpected(results), results
        accepted, moved = results
        offer.refresh_from_db()
        case.refresh_from_db()
        if isinstance(accepted, Handover):
            assert offer.state == Handover.State.ACCEPTED and case.owner_id == org.service2.pk
        else:
            assert offer.state == Handover.State.OFFERED and case.owner_id == org.service.pk
        if isinstance(moved, Case):
            assert case.state == Case.State.ACKNOWLEDGED
            assert CaseEvent.objects.filter(case=case, type="state", to_state="acknowledged", actor=org.service).count() \
                == 1
        else:
            assert isinstance(moved, ServiceError) and case.state == Case.State.NEW
        assert isinstance(accepted, Handover) or isinstance(moved, Case), results


def test_forty_writers_on_one_case_one_wins_the_rest_conflict(org: Any) -> None:
    from guanxi.service.services import cases

    case = _case(org, 0)
    version = case.version

    def write(i: int) -> Case:
        fresh = Case.objects.get(pk=case.pk)
        fresh.version = version
        return cases.case_update(actor=org.service, case=fresh, changes={"title": f"写入者{i:02d}"},
                                 expected_version=version)

    results = together(write)
    won = [i for i, r in enumerate(results) if isinstance(r, Case)]
    assert len(won) == 1, _unexpected(results)[:3] or results[:3]
    assert all(isinstance(r, Conflict) for i, r in enumerate(results) if i not in won), _unexpected(results)[:3]
    case.refresh_from_db()
    assert case.title == f"写入者{won[0]:02d}" and case.version == version + 1
