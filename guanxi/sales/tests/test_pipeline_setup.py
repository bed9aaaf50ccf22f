"""Configuring the sales process (pipeline.manage): pipelines, stages, loss reasons — as
services and as pages. Every pipeline keeps an open, a won and a lost stage; a stage or a
reason in use is deactivated, never deleted; only the general manager and the
administrator configure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation

from guanxi.core.errors import Conflict, Forbidden, Invalid
from guanxi.core.models import AuditEvent
from guanxi.sales.models import LossReason, Pipeline, Stage
from guanxi.sales.services import pipeline as services
from guanxi.sales.services import pipeline_setup as setup
from guanxi.sales.tests.pipeline_helpers import deal, stages

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(org: Any) -> Iterator[None]:
    from guanxi.core.models import User

    User.objects.update(language="en")
    with translation.override("en"):
        yield


# --- Pipelines ------------------------------------------------------------------------------
def test_a_new_pipeline_copies_the_default_stages(org: Any) -> None:
    services.default_pipeline()
    export = setup.pipeline_create(actor=org.admin, name="出口业务", sort_order=5)
    assert [s.name for s in export.stages.order_by("position")] == [s for s in (
        "初步接洽", "需求确认", "方案报价", "谈判审批", "赢单", "输单")]
    assert AuditEvent.objects.filter(action="create", object_id=str(export.pk), content_type__model="pipeline").exists()


def test_a_pipeline_with_its_own_stages_needs_open_won_and_lost(org: Any) -> None:
    with pytest.raises(Invalid) as exc:
        setup.pipeline_create(actor=org.gm, name="经销商", stages=[{"name": "下单", "kind": "open"},
                                                                   {"name": "发货", "kind": "won"}])
    assert "stages" in exc.value.errors
    with pytest.raises(Invalid) as exc:
        setup.pipeline_create(actor=org.gm, name="经销商", stages=[{"name": "下单"}, {"name": "下单"},
                                                                   {"name": "成交", "kind": "won"},
                                                                   {"name": "丢单", "kind": "lost", "probability": 30}])
    assert "stages.2.name" in exc.value.errors
    assert not Pipeline.objects.filter(name="经销商").exists()
    made = setup.pipeline_create(actor=org.gm, name="经销商", stages=[
        {"name": "下单", "probability": 40}, {"name": "成交", "kind": "won", "probability": 20},
        {"name": "丢单", "kind": "lost", "probability": 30}])
    assert [(s.name, s.probability, s.kind) for s in made.stages.order_by("position")] == [
        ("下单", 40, "open"), ("成交", 100, "won"), ("丢单", 0, "lost")]


def test_only_managers_of_the_process_configure_it(org: Any) -> None:
    pipeline = services.default_pipeline()
    for person in (org.salesperson, org.manager, org.service):
        with pytest.raises(Forbidden):
            setup.pipeline_create(actor=person, name="X")
        with pytest.raises(Forbidden):
            setup.stage_update(actor=person, stage=pipeline.stages.first(), changes={"name": "Y"}, expected_version=1)
        with pytest.raises(Forbidden):
            setup.loss_reason_create(actor=person, name="Z")
    assert Pipeline.objects.count() == 1 and not Stage.objects.filter(name="Y").exists()


def test_one_default_always_active(org: Any) -> None:
    first = services.default_pipeline()
    second = setup.pipeline_create(actor=org.gm, name="项目型")
    with pytest.raises(Invalid) as exc:
        setup.pipeline_update(actor=org.gm, pipeline=first, changes={"active": False}, expected_version=1)
    assert "active" in exc.value.errors
    with pytest.raises(Invalid):
        setup.pipeline_update(actor=org.gm, pipeline=first, changes={"is_default": False}, expected_version=1)
    setup.pipeline_update(actor=org.gm, pipeline=second, changes={"is_default": True}, expected_version=1)
    first.refresh_from_db()
    assert (first.is_default, Pipeline.objects.get(is_default=True)) == (False, second)
    with pytest.raises(Conflict):
        setup.pipeline_update(actor=org.gm, pipeline=second, changes={"name": "新"}, expected_version=1)
    with pytest.raises(Invalid) as exc:
        setup.pipeline_update(actor=org.gm, pipeline=second, changes={"name": first.name}, expected_version=2)
    assert "name" in exc.value.errors


# --- Stages ---------------------------------------------------------------------------------
def test_add_and_change_stages(org: Any) -> None:
    pipeline = services.default_pipeline()
    added = setup.stage_create(actor=org.admin, pipeline=pipeline, name="试用", probability=40)
    assert (added.position, added.kind, added.probability) == (7, "open", 40)
    setup.stage_update(actor=org.admin, stage=added, changes={"name": "样品试用", "position": 3, "probability": 45},
                       expected_version=1)
    added.refresh_from_db()
    assert (added.name, added.position, added.probability, added.version) == ("样品试用", 3, 45, 2)
    won = setup.stage_create(actor=org.admin, pipeline=pipeline, name="部分赢单", kind="won", probability=60)
    assert won.probability == 100
    with pytest.raises(Invalid) as exc:
        setup.stage_create(actor=org.admin, pipeline=pipeline, name="样品试用")
    assert "name" in exc.value.errors
    with pytest.raises(Invalid) as exc:
        setup.stage_create(actor=org.admin, pipeline=pipeline, name="怪", kind="maybe")
    assert "kind" in exc.value.errors


def test_every_pipeline_keeps_an_open_a_won_and_a_lost_stage(org: Any) -> None:
    s = stages()
    with pytest.raises(Invalid) as exc:
        setup.stage_update(actor=org.gm, stage=s["赢单"], changes={"active": False}, expected_version=1)
    assert exc.value.code == "stage_kinds"
    with pytest.raises(Invalid):
        setup.stage_update(actor=org.gm, stage=s["输单"], changes={"kind": "open"}, expected_version=1)
    with pytest.raises(Invalid):
        setup.stage_delete(actor=org.gm, stage=s["输单"])
    assert Stage.objects.filter(pk=s["输单"].pk, active=True, kind="lost").exists()


def test_a_stage_in_use_is_deactivated_not_deleted(org: Any, account_factory: Any) -> None:
    s = stages()
    deal(org.salesperson, account_factory(org.salesperson))
    with pytest.raises(Invalid) as exc:
        setup.stage_delete(actor=org.gm, stage=s["初步接洽"])
    assert exc.value.code == "stage_in_use"
    with pytest.raises(Invalid) as exc:
        setup.stage_update(actor=org.gm, stage=s["初步接洽"], changes={"kind": "won"}, expected_version=1)
    assert "kind" in exc.value.errors
    setup.stage_update(actor=org.gm, stage=s["初步接洽"], changes={"active": False}, expected_version=1)
    assert not Stage.objects.get(pk=s["初步接洽"].pk).active
    setup.stage_delete(actor=org.gm, stage=s["需求确认"], expected_version=1)
    assert not Stage.objects.filter(pk=s["需求确认"].pk).exists()
    assert AuditEvent.objects.filter(action="delete", object_repr="需求确认").exists()


# --- Loss reasons ---------------------------------------------------------------------------
def test_loss_reasons_are_kept_once_used(org: Any, account_factory: Any) -> None:
    services.default_pipeline()
    added = setup.loss_reason_create(actor=org.gm, name="交期太长")
    assert added.sort_order > LossReason.objects.get(name="价格").sort_order
    with pytest.raises(Invalid):
        setup.loss_reason_create(actor=org.gm, name="交期太长")
    opened = deal(org.salesperson, account_factory(org.salesperson))
    services.opportunity_mark_lost(actor=org.salesperson, opportunity=opened, loss_reason=added)
    with pytest.raises(Invalid) as exc:
        setup.loss_reason_delete(actor=org.gm, reason=added)
    assert exc.value.code == "loss_reason_in_use"
    setup.loss_reason_update(actor=org.gm, reason=added, changes={"active": False}, expected_version=1)
    assert not LossReason.objects.get(pk=added.pk).active
    unused = LossReason.objects.get(name="无预算")
    setup.loss_reason_delete(actor=org.gm, reason=unused)
    assert not LossReason.objects.filter(pk=unused.pk).exists()


# --- The pages ------------------------------------------------------------------------------
def test_the_configuration_page_for_its_managers_only(org: Any, login: Any) -> None:
    page = login(org.admin).get("/sales/pipelines/")
    text = page.content.decode()
    assert page.status_code == 200 and "标准销售流程" in text and "谈判审批" in text and "竞争对手" in text
    assert login(org.gm).get("/sales/pipelines/").status_code == 200
    for person in (org.salesperson, org.manager):
        assert login(person).get("/sales/pipelines/").status_code == 403
        assert login(person).post("/sales/pipelines/new/", {"name": "偷偷", "sort_order": 0}).status_code == 403
    assert not Pipeline.objects.filter(name="偷偷").exists()


def test_configure_through_the_pages(org: Any, login: Any, account_factory: Any) -> None:
    client = login(org.admin)
    response = client.post("/sales/pipelines/new/", {"name": "出口业务", "active": "on", "sort_order": 2})
    export = Pipeline.objects.get(name="出口业务")
    assert response.status_code == 302 and export.stages.count() == 6
    response = client.post(f"/sales/pipelines/{export.pk}/stages/new/", {"name": "样品", "kind": "open",
                                                                         "probability": 30, "active": "on"})
    assert response.status_code == 302 and Stage.objects.filter(pipeline=export, name="样品").exists()
    sample = Stage.objects.get(pipeline=export, name="样品")
    stale = client.post(f"/sales/stages/{sample.pk}/edit/", {"name": "寄样", "kind": "open", "probability": 30,
                                                             "position": 2, "active": "on", "version": 0})
    assert stale.status_code == 409 and "Someone else changed" in stale.content.decode()
    assert Stage.objects.get(pk=sample.pk).name == "样品"
    bad = client.post(f"/sales/stages/{sample.pk}/edit/", {"name": "", "kind": "open", "version": 1})
    assert bad.status_code == 422 and Stage.objects.get(pk=sample.pk).name == "样品"
    # A stage with deals stays; an unused one goes.
    first = Stage.objects.get(pipeline=export, name="初步接洽")
    deal(org.salesperson, account_factory(org.salesperson), pipeline=export)
    response = client.post(f"/sales/stages/{first.pk}/delete/", {"version": 1}, follow=True)
    assert "Deactivate it instead" in response.content.decode() and Stage.objects.filter(pk=first.pk).exists()
    client.post(f"/sales/stages/{sample.pk}/delete/", {"version": 1})
    assert not Stage.objects.filter(pk=sample.pk).exists()
    response = client.post("/sales/loss-reasons/new/", {"name": "付款条件", "active": "on"})
    assert response.status_code == 302 and LossReason.objects.filter(name="付款条件").exists()
    assert client.get("/sales/stages/999999/edit/").status_code == 404
