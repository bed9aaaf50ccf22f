"""Improvement pages: the list (linked case counts, state filter), create and edit, the state
buttons, linking a case by its number, shipping with the release note, the recycle bin."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from guanxi.core.mail import deliver_pending
from guanxi.core.models import User
from guanxi.service.models import Case, Improvement
from guanxi.service.services import improvements
from guanxi.service.tests.visits_helpers import CUSTOMER, receive

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(org: Any) -> None:
    User.objects.update(language="en")


@pytest.fixture
def suggestion(org: Any, account_factory: Any) -> Case:
    account_factory(org.salesperson, name=CUSTOMER)
    return receive(org.service, kind="suggestion", title="希望增加油温报警")


@pytest.fixture
def idea(org: Any) -> Improvement:
    return improvements.improvement_create(actor=org.service_manager, title="油温报警")


def test_the_list_counts_linked_cases_and_filters_by_state(org: Any, login: Any, idea: Improvement,
                                                           suggestion: Case) -> None:
    improvements.improvement_link(actor=org.service_manager, improvement=idea, case=suggestion)
    later = improvements.improvement_create(actor=org.service_manager, title="说明书改版")
    improvements.improvement_move(actor=org.service_manager, improvement=later, to="planned")
    page = login(org.service).get("/service/improvements/")
    assert page.status_code == 200
    rows = {i.code: i.case_count for i in page.context["page"]}
    assert rows == {idea.code: 1, later.code: 0}
    assert 'data-testid="improvement-new"' not in page.content.decode()  # agents read, managers manage
    planned = login(org.service).get("/service/improvements/", {"state": "planned"})
    assert [i.code for i in planned.context["page"]] == [later.code]
    assert login(org.marketing).get("/service/improvements/").status_code == 403


def test_create_edit_and_move(org: Any, login: Any) -> None:
    client = login(org.service_manager)
    assert client.post("/service/improvements/new/", {"title": "", "owner": org.service_manager.pk}).status_code == 422
    created = client.post("/service/improvements/new/", {"title": "油温报警", "description": "客户建议",
                                                         "owner": org.service_manager.pk})
    assert created.status_code == 302
    idea = Improvement.objects.get()
    edited = client.post(f"/service/improvements/{idea.pk}/edit/", {"title": "油温声光报警", "description": "",
                                                                    "owner": org.service.pk, "version": 1})
    assert edited.status_code == 302
    assert client.post(f"/service/improvements/{idea.pk}/edit/", {
        "title": "覆盖", "owner": org.service.pk, "version": 1}).status_code == 409
    client.post(f"/service/improvements/{idea.pk}/state/", {"to": "planned", "version": 2})
    idea.refresh_from_db()
    assert (idea.title, idea.owner, idea.state) == ("油温声光报警", org.service, "planned")
    assert login(org.service).get(f"/service/improvements/{idea.pk}/edit/").status_code == 403


def test_link_by_number_and_ship_with_the_release_note(org: Any, login: Any, idea: Improvement, suggestion: Case,
                                                       run_queue: Any, django_capture_on_commit_callbacks: Any) -> None:
    client = login(org.service_manager)
    client.post(f"/service/improvements/{idea.pk}/link/", {"case": suggestion.code})
    assert Case.objects.get(pk=suggestion.pk).improvement_id == idea.pk
    detail = client.get(f"/service/improvements/{idea.pk}/")
    assert [c.pk for c in detail.context["cases"]] == [suggestion.pk] and detail.context["recipients"] == 1
    unknown = client.post(f"/service/improvements/{idea.pk}/link/", {"case": "FW-0000"}, follow=True)
    assert "No case with this number that you can see." in unknown.content.decode()
    form = client.get(f"/service/improvements/{idea.pk}/ship/")
    assert form.status_code == 200 and 'data-testid="ship-summary"' in form.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        shipped = client.post(f"/service/improvements/{idea.pk}/ship/", {
            "release_note": "新控制器已支持油温报警", "shipped_on": timezone.localdate().isoformat(), "version": 1})
    assert shipped.status_code == 302
    assert run_queue() == 1 and deliver_pending() == 1 and mail.outbox[0].to == [suggestion.sender_email]
    page = client.get(f"/service/improvements/{idea.pk}/").content.decode()
    assert "新控制器已支持油温报警" in page and 'data-testid="improvement-link-form"' not in page


def test_the_case_owner_links_and_unlinks_from_the_page(org: Any, login: Any, idea: Improvement,
                                                        suggestion: Case) -> None:
    client = login(org.service)
    client.post(f"/service/improvements/{idea.pk}/link/", {"case": suggestion.code})
    assert Case.objects.get(pk=suggestion.pk).improvement_id == idea.pk
    client.post(f"/service/improvements/{idea.pk}/unlink/{suggestion.pk}/")
    assert Case.objects.get(pk=suggestion.pk).improvement_id is None
    login(org.salesperson).post(f"/service/improvements/{idea.pk}/link/", {"case": suggestion.code})
    assert Case.objects.get(pk=suggestion.pk).improvement_id is None  # reads the case, does not own it


def test_delete_and_restore(org: Any, login: Any, idea: Improvement) -> None:
    client = login(org.service_manager)
    assert client.post(f"/service/improvements/{idea.pk}/delete/", {"version": 1}).status_code == 302
    assert client.get(f"/service/improvements/{idea.pk}/").status_code == 404
    binned = client.get("/service/improvements/", {"deleted": "1"})
    assert [i.pk for i in binned.context["page"]] == [idea.pk]
    client.post(f"/service/improvements/{idea.pk}/restore/")
    assert client.get(f"/service/improvements/{idea.pk}/").status_code == 200


def test_the_pages_speak_chinese(org: Any, login: Any, idea: Improvement) -> None:
    User.objects.filter(pk=org.service_manager.pk).update(language="zh-hans")
    improvements.improvement_move(actor=org.service_manager, improvement=idea, to="rejected", note="成本过高")
    body = login(org.service_manager).get("/service/improvements/").content.decode()
    assert "产品改进" in body and "未采纳" in body and "新建产品改进" in body
