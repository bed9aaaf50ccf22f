"""`/api/v1/opportunities` (with `/move`), `/api/v1/pipelines`, `/api/v1/pipeline-stages` and
`/api/v1/loss-reasons`: 201/200/204, hidden = 404, stale = 409, bad input = 422, the
Idempotency-Key, and configuration for pipeline.manage only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from guanxi.sales.models import LossReason, Opportunity, Pipeline, Stage
from guanxi.sales.tests.pipeline_helpers import deal, stages

pytestmark = pytest.mark.django_db
URL = "/api/v1/opportunities"


def body(response: Any) -> Any:
    return json.loads(response.content.decode())


def test_open_a_deal_once_with_an_idempotency_key(org: Any, api: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    sales = api(org.salesperson)
    payload = {"account": account.pk, "name": "冷库项目", "amount": "250000", "expected_close": "2030-09-30",
               "competitors": "大金"}
    first = sales.post(URL, payload, HTTP_IDEMPOTENCY_KEY="deal-1")
    assert first.status_code == 201, first.content
    data = body(first)
    assert (data["name"], data["stage_name"], data["probability"], data["state"], data["owner"], data["amount"]) == (
        "冷库项目", "初步接洽", 10, "open", org.salesperson.pk, "250000.00")
    assert data["pipeline_name"] == "标准销售流程" and data["weighted_amount"] == "25000.00" and data["version"] == 1
    again = sales.post(URL, payload, HTTP_IDEMPOTENCY_KEY="deal-1")
    assert again.status_code == 201 and body(again)["id"] == data["id"]
    assert Opportunity.objects.filter(name="冷库项目").count() == 1
    other = sales.post(URL, {**payload, "name": "别的"}, HTTP_IDEMPOTENCY_KEY="deal-1")
    assert other.status_code == 422 and body(other)["code"] == "idempotency_mismatch"


@pytest.mark.parametrize(("change", "field"), [
    ({"account": "HIDDEN"}, "account"),
    ({"account": 999999}, "account"),
    ({"amount": "-1"}, "amount"),
    ({"probability": 101}, "probability"),
    ({"stage": "WON"}, "stage"),
    ({"state": "won"}, "state"),
    ({"owner": "TEAMMATE"}, "owner"),
    ({"code": "SJ-1"}, "code"),
])
def test_bad_input_is_422_and_opens_nothing(org: Any, api: Any, account_factory: Any, change: dict[str, Any],
                                            field: str) -> None:
    account = account_factory(org.salesperson)
    values = {"HIDDEN": account_factory(org.teammate).pk, "WON": stages()["赢单"].pk, "TEAMMATE": org.teammate.pk}
    change = {k: values.get(v, v) if isinstance(v, str) else v for k, v in change.items()}
    response = api(org.salesperson).post(URL, {"account": account.pk, "name": "新单", **change})
    assert response.status_code == 422 and field in body(response)["errors"], response.content
    assert not Opportunity.all_objects.exists()


def test_read_list_and_filter_what_one_sees(org: Any, api: Any, account_factory: Any) -> None:
    mine = deal(org.salesperson, account_factory(org.salesperson), name="我的")
    theirs = deal(org.teammate, account_factory(org.teammate), name="队友的")
    sales = api(org.salesperson)
    assert [d["name"] for d in body(sales.get(URL))["results"]] == ["我的"]
    assert sales.get(f"{URL}/{mine.pk}").status_code == 200
    assert sales.get(f"{URL}/{theirs.pk}").status_code == 404
    manager = api(org.manager)
    assert {d["name"] for d in body(manager.get(URL))["results"]} == {"我的", "队友的"}
    assert [d["name"] for d in body(manager.get(URL, {"owner": org.teammate.pk}))["results"]] == ["队友的"]
    assert body(manager.get(URL, {"state": "won"}))["results"] == []
    bad = manager.get(URL, {"state": "maybe"})
    assert bad.status_code == 422 and "state" in body(bad)["errors"]
    assert api(org.outsider).get(f"{URL}/{mine.pk}").status_code == 404
    assert api(org.service).get(URL).status_code == 403


def test_patch_with_the_version(org: Any, api: Any, account_factory: Any) -> None:
    opened = deal(org.salesperson, account_factory(org.salesperson))
    sales = api(org.salesperson)
    response = sales.patch(f"{URL}/{opened.pk}", {"version": 1, "amount": "300", "next_step": "约技术交流",
                                                  "expected_close": None})
    assert response.status_code == 200 and body(response)["amount"] == "300.00" and body(response)["version"] == 2
    stale = sales.patch(f"{URL}/{opened.pk}", {"version": 1, "amount": "1"})
    assert stale.status_code == 409 and Opportunity.objects.get(pk=opened.pk).amount == 300
    refused = sales.patch(f"{URL}/{opened.pk}", {"version": 2, "stage": stages()["赢单"].pk})
    assert refused.status_code == 422
    assert api(org.teammate).patch(f"{URL}/{opened.pk}", {"version": 2, "amount": "1"}).status_code == 404


def test_move_through_the_api(org: Any, api: Any, account_factory: Any) -> None:
    opened = deal(org.salesperson, account_factory(org.salesperson))
    s = stages()
    sales = api(org.salesperson)
    moved = sales.post(f"{URL}/{opened.pk}/move", {"stage": s["谈判审批"].pk, "version": 1})
    assert moved.status_code == 200 and (body(moved)["stage_name"], body(moved)["probability"]) == ("谈判审批", 75)
    stale = sales.post(f"{URL}/{opened.pk}/move", {"stage": s["赢单"].pk, "version": 1})
    assert stale.status_code == 409
    no_reason = sales.post(f"{URL}/{opened.pk}/move", {"stage": s["输单"].pk, "version": 2})
    assert no_reason.status_code == 422 and "loss_reason" in body(no_reason)["errors"]
    reason = LossReason.objects.get(name="无预算")
    lost = sales.post(f"{URL}/{opened.pk}/move", {"stage": s["输单"].pk, "version": 2, "loss_reason": reason.pk})
    assert lost.status_code == 200 and (body(lost)["state"], body(lost)["loss_reason_name"]) == ("lost", "无预算")
    assert body(lost)["closed_on"] is not None


def test_only_managers_delete(org: Any, api: Any, account_factory: Any) -> None:
    opened = deal(org.salesperson, account_factory(org.salesperson))
    assert api(org.salesperson).delete(f"{URL}/{opened.pk}").status_code == 403
    manager = api(org.manager)
    assert manager.delete(f"{URL}/{opened.pk}?version=9").status_code == 409
    assert manager.delete(f"{URL}/{opened.pk}?version=1").status_code == 204
    assert manager.get(f"{URL}/{opened.pk}").status_code == 404


def test_pipelines_for_readers_and_their_configuration_for_managers(org: Any, api: Any, account_factory: Any) -> None:
    listed = api(org.salesperson).get("/api/v1/pipelines")
    assert listed.status_code == 200
    [standard] = body(listed)
    assert [s["name"] for s in standard["stages"]] == ["初步接洽", "需求确认", "方案报价", "谈判审批", "赢单", "输单"]
    assert api(org.admin).get("/api/v1/pipelines").status_code == 200
    assert api(org.service).get("/api/v1/pipelines").status_code == 403
    assert api(org.manager).post("/api/v1/pipelines", {"name": "经销"}).status_code == 403
    admin = api(org.admin)
    made = admin.post("/api/v1/pipelines", {"name": "经销", "stages": [
        {"name": "询价"}, {"name": "下单", "kind": "won"}, {"name": "流失", "kind": "lost"}]})
    assert made.status_code == 201 and [s["probability"] for s in body(made)["stages"]] == [10, 100, 0]
    missing = admin.post("/api/v1/pipelines", {"name": "坏的", "stages": [{"name": "只有一个"}]})
    assert missing.status_code == 422 and not Pipeline.objects.filter(name="坏的").exists()
    pk = body(made)["id"]
    assert admin.patch(f"/api/v1/pipelines/{pk}", {"version": 1, "sort_order": 9}).status_code == 200
    assert admin.patch(f"/api/v1/pipelines/{pk}", {"version": 1, "sort_order": 3}).status_code == 409
    added = admin.post(f"/api/v1/pipelines/{pk}/stages", {"name": "报价", "probability": 40, "position": 2})
    assert added.status_code == 201
    stage_pk = body(added)["id"]
    assert admin.patch(f"/api/v1/pipeline-stages/{stage_pk}", {"version": 1, "probability": 45}).status_code == 200
    first = Stage.objects.get(pipeline_id=pk, name="询价")
    deal(org.salesperson, account_factory(org.salesperson), pipeline=pk)
    in_use = admin.delete(f"/api/v1/pipeline-stages/{first.pk}")
    assert in_use.status_code == 422 and body(in_use)["code"] == "stage_in_use"
    assert admin.delete(f"/api/v1/pipeline-stages/{stage_pk}").status_code == 204
    assert api(org.gm).delete(f"/api/v1/pipeline-stages/{first.pk}").status_code == 422
    assert api(org.salesperson).delete(f"/api/v1/pipeline-stages/{first.pk}").status_code == 403


def test_loss_reasons(org: Any, api: Any) -> None:
    listed = api(org.salesperson).get("/api/v1/loss-reasons")
    assert listed.status_code == 200 and "价格" in [r["name"] for r in body(listed)]
    gm = api(org.gm)
    made = gm.post("/api/v1/loss-reasons", {"name": "资质不符"})
    assert made.status_code == 201
    pk = body(made)["id"]
    assert gm.patch(f"/api/v1/loss-reasons/{pk}", {"version": 1, "active": False}).status_code == 200
    assert gm.delete(f"/api/v1/loss-reasons/{pk}").status_code == 204
    assert api(org.salesperson).post("/api/v1/loss-reasons", {"name": "x"}).status_code == 403
