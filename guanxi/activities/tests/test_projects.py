"""Projects, phases and the customer's approval of cost changes, through their services (R3.7)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from guanxi.activities.models import CostChange, Phase, Project
from guanxi.activities.selectors import phase_scope, project_scope
from guanxi.activities.selectors.projects import (
    LinkGone,
    LinkInvalid,
    account_panel,
    cost_change_for_link,
    progress_of,
    project_list_for,
)
from guanxi.activities.services import projects as services
from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.models import AuditEvent, Notification
from guanxi.core.services import records
from guanxi.customers.models import AccountAttachment
from guanxi.customers.selectors.timeline import account_timeline

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def setup(org: Any, account_factory: Any) -> Any:
    account = account_factory(org.salesperson, name="华东重工有限公司")
    project = services.project_create(actor=org.salesperson, account=account, name="车间改造", goal="年底投产",
                                      budget="100000")
    design = services.phase_add(actor=org.salesperson, project=project, name="设计", cost="20000")
    build = services.phase_add(actor=org.salesperson, project=project, name="施工", cost="60000")
    return account, project, design, build


def snapshot(*objs: Any) -> list[Any]:
    for obj in objs:
        obj.refresh_from_db()
    return [(obj.pk, getattr(obj, "state", None), getattr(obj, "cost", None), obj.version) for obj in objs]


def test_project_with_phases_in_order_and_audited(org, setup):
    _account, project, design, build = setup
    assert (project.owner, project.budget) == (org.salesperson, Decimal("100000"))
    assert (design.position, build.position) == (1, 2)
    assert design.owner == org.salesperson and design.state == "planned"
    assert AuditEvent.objects.filter(action="create", object_id=str(project.pk), object_repr="车间改造").exists()
    services.phase_move(actor=org.salesperson, phase=build, position=1)
    assert list(Phase.objects.filter(project=project).order_by("position").values_list("name", flat=True)) == \
        ["施工", "设计"]
    with pytest.raises(Invalid):
        services.phase_reorder(actor=org.salesperson, project=project, order=[design.pk])
    with pytest.raises(Invalid) as exc:
        services.phase_add(actor=org.salesperson, project=project, name="验收", cost="-5")
    assert "cost" in exc.value.errors


def test_phase_moves_planned_active_done_and_the_project_completes(org, setup):
    _account, project, design, build = setup
    with pytest.raises(Invalid):
        services.phase_complete(actor=org.salesperson, phase=design)
    services.phase_start(actor=org.salesperson, phase=design)
    with pytest.raises(Invalid):
        services.project_update(actor=org.salesperson, project=project, changes={"state": "done"},
                                expected_version=project.version)
    services.phase_complete(actor=org.salesperson, phase=design)
    services.phase_start(actor=org.salesperson, phase=build)
    services.phase_complete(actor=org.salesperson, phase=build)
    progress = progress_of(project)
    assert (progress.phases_done, progress.phases_total, progress.percent) == (2, 2, 100)
    services.project_update(actor=org.salesperson, project=project, changes={"state": "done"},
                            expected_version=project.version)
    assert Project.objects.get(pk=project.pk).state == "done"
    with pytest.raises(Invalid):  # a closed project's phases do not change
        services.phase_add(actor=org.salesperson, project=project, name="追加")


def test_a_pending_cost_change_blocks_the_phase_until_the_customer_approves(org, setup):
    _account, project, design, _build = setup
    change, token = services.cost_change_request(actor=org.salesperson, phase=design, amount="5000.50",
                                                 reason="增加一台设备")
    assert change.state == "pending" and change.link_nonce and change.link_expires_at
    design.refresh_from_db()
    assert design.cost == Decimal("20000")  # unchanged until the customer says yes
    before = snapshot(design)
    with pytest.raises(Invalid) as exc:
        services.phase_start(actor=org.salesperson, phase=design)
    assert exc.value.code == "cost_change_pending"
    assert "waiting for the customer" in exc.value.message
    assert snapshot(design) == before
    with pytest.raises(Invalid):  # one open question per phase
        services.cost_change_request(actor=org.salesperson, phase=design, amount="1", reason="again")

    services.cost_change_decide_by_link(token=token, approve=True, customer_name="赵总", note="同意")
    design.refresh_from_db()
    change.refresh_from_db()
    assert design.cost == Decimal("25000.50")
    assert (change.state, change.decided_via, change.customer_name, change.decision_note) == \
        ("approved", "link", "赵总", "同意")
    event = AuditEvent.objects.get(action="decide", object_id=str(change.pk))
    assert event.actor is None and event.actor_name == "system" and "赵总" in event.note
    assert AuditEvent.objects.filter(action="update", object_id=str(design.pk), changes__has_key="cost").exists()
    assert Notification.objects.filter(user=org.salesperson, title__contains="赵总").exists()
    services.phase_start(actor=org.salesperson, phase=design)  # unblocked
    progress = progress_of(project)
    assert progress.agreed_cost == Decimal("85000.50")
    assert progress.approved_changes == Decimal("5000.50")
    assert progress.original_cost == Decimal("80000.00")


def test_a_decline_leaves_the_cost_and_unblocks(org, setup):
    _account, _project, design, _build = setup
    services.phase_start(actor=org.salesperson, phase=design)
    change, token = services.cost_change_request(actor=org.salesperson, phase=design, amount="-3000", reason="减少")
    with pytest.raises(Invalid):
        services.phase_complete(actor=org.salesperson, phase=design)
    services.cost_change_decide_by_link(token=token, approve=False, customer_name="赵总")
    design.refresh_from_db()
    assert design.cost == Decimal("20000") and CostChange.objects.get(pk=change.pk).state == "declined"
    services.phase_complete(actor=org.salesperson, phase=design)


def test_withdrawn_change_unblocks_and_its_link_is_refused(org, setup):
    _account, _project, design, _build = setup
    change, token = services.cost_change_request(actor=org.salesperson, phase=design, amount="100", reason="r")
    services.cost_change_withdraw(actor=org.salesperson, change=change, note="报错了")
    before = snapshot(design, change)
    with pytest.raises(LinkGone) as exc:
        services.cost_change_decide_by_link(token=token, approve=True, customer_name="赵总")
    assert exc.value.status == 410 and exc.value.code == "link_withdrawn"
    assert snapshot(design, change) == before
    services.phase_start(actor=org.salesperson, phase=design)


@pytest.mark.parametrize("attack", ["tampered", "expired", "replayed", "reissued", "deleted", "garbage"])
def test_a_link_that_cannot_be_used_changes_nothing(org, setup, attack):
    _account, project, design, _build = setup
    change, token = services.cost_change_request(actor=org.salesperson, phase=design, amount="5000", reason="r")
    expected: tuple[type[Exception], int]
    if attack == "tampered":
        # Another cost change's id (with the right nonce) under the original signature.
        other, _ = services.cost_change_request(actor=org.salesperson, phase=_build, amount="1", reason="r")
        body, stamp, sig = token.split(":")
        payload = json.loads(signing.b64_decode(body.encode()))
        payload.update(c=other.pk, n=other.link_nonce)
        token = ":".join([signing.b64_encode(json.dumps(payload, separators=(",", ":")).encode()).decode(), stamp, sig])
        expected = (LinkInvalid, 400)
    elif attack == "expired":
        CostChange.objects.filter(pk=change.pk).update(link_expires_at=timezone.now() - dt.timedelta(seconds=1))
        expected = (LinkGone, 410)
    elif attack == "replayed":
        services.cost_change_decide_by_link(token=token, approve=False, customer_name="赵总")
        expected = (LinkGone, 410)
    elif attack == "reissued":
        new = services.cost_change_reissue(actor=org.salesperson, change=change)
        assert new != token
        assert cost_change_for_link(new).pk == change.pk  # the new one works
        expected = (LinkGone, 410)
    elif attack == "deleted":
        services.project_delete(actor=org.manager, project=project)
        expected = (NotFound, 404)
    else:
        token = "not-a-token"
        expected = (LinkInvalid, 400)
    before = snapshot(design, change)
    audit_rows = AuditEvent.objects.count()
    with pytest.raises(expected[0]) as exc:
        services.cost_change_decide_by_link(token=token, approve=True, customer_name="赵总")
    assert exc.value.status == expected[1]
    with pytest.raises(expected[0]):
        cost_change_for_link(token)
    assert snapshot(design, change) == before
    assert AuditEvent.objects.count() == audit_rows


def test_a_link_expires_after_the_configured_days(org, setup, settings):
    settings.GUANXI_COST_LINK_DAYS = 3
    _account, _project, design, _build = setup
    now = timezone.now()
    change, token = services.cost_change_request(actor=org.salesperson, phase=design, amount="1", reason="r", now=now)
    assert change.link_expires_at == now + dt.timedelta(days=3)
    assert cost_change_for_link(token, now=now + dt.timedelta(days=3) - dt.timedelta(seconds=1)).pk == change.pk
    with pytest.raises(LinkGone) as exc:
        cost_change_for_link(token, now=now + dt.timedelta(days=3))
    assert exc.value.code == "link_expired"


def test_the_customer_must_give_a_name(org, setup):
    _account, _project, design, _build = setup
    change, token = services.cost_change_request(actor=org.salesperson, phase=design, amount="1", reason="r")
    with pytest.raises(Invalid) as exc:
        services.cost_change_decide_by_link(token=token, approve=True, customer_name="  ")
    assert "customer_name" in exc.value.errors
    assert CostChange.objects.get(pk=change.pk).state == "pending"


def test_staff_record_the_decision_only_with_written_evidence(org, setup):
    account, _project, design, _build = setup
    change, _token = services.cost_change_request(actor=org.salesperson, phase=design, amount="800", reason="r")
    before = snapshot(design, change)
    files = AccountAttachment.objects.count()
    with pytest.raises(Invalid) as exc:
        services.cost_change_record_decision(actor=org.salesperson, change=change, approve=True, customer_name="赵总")
    assert "evidence" in exc.value.errors
    other = AccountAttachment.objects.create(account=_other_account(org), original_name="x.pdf", size=1,
                                             content_type="application/pdf", file="x.pdf")
    with pytest.raises(Invalid):  # a file of another account is no evidence for this one
        services.cost_change_record_decision(actor=org.salesperson, change=change, approve=True,
                                             customer_name="赵总", evidence_id=other.pk)
    with pytest.raises(Invalid):  # S12: a script dressed as a PDF is refused
        services.cost_change_record_decision(actor=org.salesperson, change=change, approve=True, customer_name="赵总",
                                             evidence=SimpleUploadedFile("a.html.pdf", b"<script>x</script>"))
    assert snapshot(design, change) == before
    assert AccountAttachment.objects.count() == files + 1  # only the other account's file above

    services.cost_change_record_decision(actor=org.salesperson, change=change, approve=True, customer_name="赵总",
                                         note="邮件确认", evidence=SimpleUploadedFile("确认函.pdf", PDF))
    change.refresh_from_db()
    design.refresh_from_db()
    assert (change.state, change.decided_via, change.recorded_by, change.customer_name) == \
        ("approved", "staff", org.salesperson, "赵总")
    assert change.evidence.account == account and change.evidence.original_name == "确认函.pdf"
    assert design.cost == Decimal("20800")
    with pytest.raises(Invalid):  # decided once
        services.cost_change_record_decision(actor=org.salesperson, change=change, approve=False,
                                             customer_name="赵总", evidence_id=change.evidence_id)


def _other_account(org: Any) -> Any:
    from guanxi.core import codes
    from guanxi.customers.models import Account

    return Account.objects.create(code=codes.next_customer_code(), name="别家", owner=org.outsider,
                                  department=org.outsider.department)


def test_rights_and_scope(org, setup):
    _account, project, design, _build = setup
    # Outsiders do not see the project, its phases, or the account's projects.
    assert not project_scope(org.outsider).filter(pk=project.pk).exists()
    assert not phase_scope(org.outsider).filter(pk=design.pk).exists()
    assert project_list_for(org.outsider).count() == 0
    assert project_list_for(org.manager).filter(pk=project.pk).exists()
    with pytest.raises(NotFound):
        records.get_visible(org.outsider, Project, project.pk)
    # Salespeople never delete (R10.4); marketing reads only.
    before = snapshot(project, design)
    with pytest.raises(Forbidden):
        services.project_delete(actor=org.salesperson, project=project)
    with pytest.raises(Forbidden):
        services.phase_start(actor=org.marketing, phase=design)
    with pytest.raises(Forbidden):
        services.cost_change_request(actor=org.marketing, phase=design, amount="1", reason="r")
    assert snapshot(project, design) == before
    with pytest.raises(Conflict):
        services.project_update(actor=org.salesperson, project=project, changes={"name": "x"},
                                expected_version=project.version - 1)
    with pytest.raises(Invalid):  # the owner must see the account
        services.project_update(actor=org.salesperson, project=project, changes={"owner": org.outsider.pk},
                                expected_version=project.version)
    with pytest.raises(Invalid):  # the cost is not edited directly
        services.phase_update(actor=org.salesperson, phase=design, changes={"cost": "1"},
                              expected_version=design.version)


def test_recycle_bin_and_restore(org, setup):
    account, project, design, _build = setup
    services.project_delete(actor=org.manager, project=project)
    assert not project_scope(org.manager).filter(pk=project.pk).exists()
    assert not phase_scope(org.manager).filter(pk=design.pk).exists()
    assert account_panel(org.manager, account)["account_projects"] == []
    deleted = Project.all_objects.get(pk=project.pk)
    records.record_restore(actor=org.manager, obj=deleted)
    assert project_scope(org.manager).filter(pk=project.pk).exists()


def test_progress_on_the_account_panel_and_timeline(org, setup):
    account, _project, design, _build = setup
    services.phase_start(actor=org.salesperson, phase=design)
    _change, token = services.cost_change_request(actor=org.salesperson, phase=design, amount="1000", reason="加料")
    services.cost_change_decide_by_link(token=token, approve=True, customer_name="赵总")
    services.phase_complete(actor=org.salesperson, phase=design)
    rows = account_panel(org.salesperson, account)["account_projects"]
    assert [(r.name, r.phases_done, r.phases_total, r.percent, r.agreed_cost) for r in rows] == \
        [("车间改造", 1, 2, 50, Decimal("81000"))]
    titles = [item.title for item in account_timeline(org.salesperson, account) if item.kind == "project"]
    assert "Project started: 车间改造" in titles
    assert "Phase started: 设计" in titles and "Phase completed: 设计" in titles
    assert any(t.startswith("Cost change asked: 设计 +1000") for t in titles)
    assert any("Approved by the customer" in t for t in titles)


def test_completing_or_cancelling_a_project_waits_for_the_customer(org, setup):
    _account, project, design, _build = setup
    services.cost_change_request(actor=org.salesperson, phase=design, amount="1", reason="r")
    with pytest.raises(Invalid) as exc:
        services.project_update(actor=org.salesperson, project=project, changes={"state": "cancelled"},
                                expected_version=project.version)
    assert "state" in exc.value.errors
    assert Project.objects.get(pk=project.pk).state == "active"
