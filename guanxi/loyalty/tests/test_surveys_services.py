"""Survey templates: rights, validation, one active survey per automatic touchpoint, questions fixed once
answered (copy as a new version), the recycle bin, optimistic versions and the audit trail."""

from __future__ import annotations

import pytest

from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.models import AuditEvent
from guanxi.loyalty.models import Question, Survey, Touchpoint
from guanxi.loyalty.services import surveys
from guanxi.loyalty.tests.helpers import answered, seeded

pytestmark = pytest.mark.django_db

QUESTIONS = [{"type": "rater", "dimension": "reliability", "text": "按时送达"}, {"type": "nps", "text": "推荐？"},
             {"type": "csat", "text": "满意？"}]


def new(actor, **fields):
    fields.setdefault("name", "交付回访")
    fields.setdefault("questions", QUESTIONS)
    return surveys.survey_create(actor=actor, **fields)


def test_only_survey_managers_write_templates_and_a_refusal_changes_nothing(org):
    for person in (org.salesperson, org.service, org.manager):
        with pytest.raises(Forbidden):
            new(person)
    survey = seeded(Touchpoint.CASE_CLOSED)
    with pytest.raises(Forbidden):
        surveys.survey_update(actor=org.service, survey=survey, changes={"name": "改名"}, expected_version=None)
    with pytest.raises(Forbidden):
        surveys.question_add(actor=org.service, survey=survey, type="text", text="还有吗？")
    survey.refresh_from_db()
    assert survey.name == "服务处理满意度调查" and survey.questions.count() == 8
    assert new(org.marketing).pk and new(org.service_manager).pk


def test_a_survey_is_validated_whole_before_anything_is_written(org):
    with pytest.raises(Invalid) as exc:
        surveys.survey_create(actor=org.gm, name=" ", touchpoint="birthday", expires_days=0, questions=[
            {"type": "rater", "text": "没有维度"}, {"type": "nps", "text": "a"}, {"type": "nps", "text": "b"},
            {"type": "essay", "text": "?"}, {"type": "text", "text": "", "owner": 1}])
    assert set(exc.value.errors) == {"name", "touchpoint", "expires_days", "questions.1.dimension",
                                     "questions.3.type", "questions.4.type", "questions.5.owner"}
    assert not Survey.objects.filter(name=" ").exists() and Survey.objects.count() == 3


def test_one_active_survey_per_automatic_touchpoint_with_a_clear_message(org):
    draft = new(org.gm, touchpoint=Touchpoint.CASE_CLOSED)
    assert not draft.active  # new surveys start inactive
    with pytest.raises(Invalid) as exc:
        surveys.survey_set_active(actor=org.gm, survey=draft, active=True)
    assert exc.value.errors["active"] == [
        "“服务处理满意度调查” is already active for “Case closed”: only one survey per touchpoint is sent "
        "automatically. Deactivate it first, or activate this survey in its place."]
    draft.refresh_from_db()
    assert not draft.active and seeded(Touchpoint.CASE_CLOSED).name == "服务处理满意度调查"
    old = seeded(Touchpoint.CASE_CLOSED)
    surveys.survey_set_active(actor=org.gm, survey=draft, active=True, replace=True)
    old.refresh_from_db()
    assert draft.active and not old.active
    # Surveys sent by hand may be active together.
    assert new(org.gm, active=True).active and new(org.gm, name="第二份", active=True).active


def test_moving_an_active_survey_to_a_taken_touchpoint_is_refused(org):
    manual = new(org.gm, active=True)
    with pytest.raises(Invalid) as exc:
        surveys.survey_update(actor=org.gm, survey=manual, changes={"touchpoint": Touchpoint.VISIT_DONE},
                              expected_version=manual.version)
    assert "上门服务满意度调查" in exc.value.errors["active"][0]


def test_a_survey_without_questions_cannot_be_activated(org):
    empty = new(org.gm, questions=[])
    with pytest.raises(Invalid) as exc:
        surveys.survey_set_active(actor=org.gm, survey=empty, active=True)
    assert exc.value.errors["active"] == ["Add at least one question before activating the survey."]


def test_a_stale_version_is_a_conflict_and_changes_nothing(org):
    survey = new(org.gm)
    surveys.survey_update(actor=org.gm, survey=survey, changes={"name": "新名字"}, expected_version=1)
    stale = Survey.objects.get(pk=survey.pk)
    with pytest.raises(Conflict):
        surveys.survey_update(actor=org.marketing, survey=stale, changes={"intro": "覆盖"}, expected_version=1)
    survey.refresh_from_db()
    assert (survey.name, survey.intro, survey.version) == ("新名字", "", 2)


def test_questions_are_added_edited_reordered_and_removed_while_unanswered(org):
    survey = new(org.gm)
    first, nps, csat = survey.questions.order_by("position")
    added = surveys.question_add(actor=org.gm, survey=survey, type="rater", dimension="empathy", text="体贴",
                                 position=1)
    assert [q.pk for q in survey.questions.order_by("position")] == [added.pk, first.pk, nps.pk, csat.pk]
    surveys.question_move(actor=org.gm, question=added, direction="down")
    assert [q.pk for q in survey.questions.order_by("position")] == [first.pk, added.pk, nps.pk, csat.pk]
    surveys.question_update(actor=org.gm, question=added, changes={"text": "设身处地", "required": False})
    added.refresh_from_db()
    assert (added.text, added.required, added.dimension) == ("设身处地", False, "empathy")
    with pytest.raises(Invalid) as twice:
        surveys.question_update(actor=org.gm, question=added, changes={"type": "nps"})
    assert "type" in twice.value.errors
    surveys.questions_reorder(actor=org.gm, survey=survey, order=[csat.pk, nps.pk, added.pk, first.pk])
    assert list(survey.questions.order_by("position").values_list("position", "pk")) == [
        (1, csat.pk), (2, nps.pk), (3, added.pk), (4, first.pk)]
    surveys.question_remove(actor=org.gm, question=nps)
    assert list(survey.questions.order_by("position").values_list("position", flat=True)) == [1, 2, 3]
    history = AuditEvent.objects.filter(object_id=str(survey.pk), content_type__model="survey", action="update")
    assert history.count() == 5 and "questions" in history.last().changes


def test_an_answered_surveys_questions_are_fixed_and_a_copy_is_the_new_version(org):
    survey = seeded(Touchpoint.CASE_CLOSED)
    answered(survey)
    first = survey.questions.order_by("position").first()
    for attempt in (lambda: surveys.question_add(actor=org.gm, survey=survey, type="text", text="新问题"),
                    lambda: surveys.question_update(actor=org.gm, question=first, changes={"text": "改"}),
                    lambda: surveys.question_remove(actor=org.gm, question=first),
                    lambda: surveys.question_move(actor=org.gm, question=first, direction="down")):
        with pytest.raises(Invalid) as exc:
            attempt()
        assert exc.value.code == "fixed" and "Copy it as a new version" in exc.value.message
    assert survey.questions.count() == 8
    # Texts that do not change the answers stay editable.
    surveys.survey_update(actor=org.gm, survey=survey, changes={"thanks": "谢谢！"}, expected_version=None)
    copy = surveys.survey_copy(actor=org.gm, survey=survey)
    assert (copy.name, copy.active, copy.touchpoint) == ("服务处理满意度调查 (new version)", False, survey.touchpoint)
    assert list(copy.questions.values_list("type", "dimension", "text")) == list(
        survey.questions.values_list("type", "dimension", "text"))
    surveys.question_update(actor=org.gm, question=copy.questions.first(), changes={"text": "改过的第一题"})
    surveys.survey_set_active(actor=org.gm, survey=copy, active=True, replace=True)
    survey.refresh_from_db()
    assert not survey.active and Survey.objects.get(touchpoint=Touchpoint.CASE_CLOSED, active=True) == copy


def test_delete_goes_to_the_recycle_bin_deactivated_and_restore_brings_it_back_inactive(org):
    survey = seeded(Touchpoint.VISIT_DONE)
    surveys.survey_delete(actor=org.marketing, survey=survey, expected_version=survey.version)
    assert not Survey.objects.filter(pk=survey.pk).exists()
    deleted = Survey.all_objects.get(pk=survey.pk)
    assert deleted.deleted_by == org.marketing and not deleted.active and deleted.questions.count() == 8
    with pytest.raises(NotFound):
        surveys.survey_update(actor=org.gm, survey=deleted, changes={"name": "x"}, expected_version=None)
    replacement = new(org.gm, touchpoint=Touchpoint.VISIT_DONE, active=True)  # the slot is free
    surveys.survey_restore(actor=org.gm, survey=deleted)
    deleted.refresh_from_db()
    assert deleted.deleted_at is None and not deleted.active and replacement.active
    actions = list(AuditEvent.objects.filter(object_id=str(survey.pk), content_type__model="survey")
                   .values_list("action", flat=True))
    assert "delete" in actions and "restore" in actions


def test_an_active_survey_keeps_at_least_one_question(org):
    survey = new(org.gm, active=True, questions=[{"type": "csat", "text": "满意？"}])
    with pytest.raises(Invalid):
        surveys.question_remove(actor=org.gm, question=Question.objects.get(survey=survey))
