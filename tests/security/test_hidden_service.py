"""S1 / S2 / S3 — every route that names a case, a hand-over, a case's file, a visit, an
account's cases or surveys, a survey invitation or a survey response, hidden from the caller;
and the customer's personal links, which must never open another record than their own.

The walker goes through the whole URL configuration and the API routers, so a service or
survey route added later is covered the day it appears (or the route test below fails until it
is named here): its record id is filled with a record the caller cannot see, and the answer must
be what a missing id gets — 404, or 403 when the caller lacks the right altogether — never a
page, a file or a change (every table hashed before and after, S3). A record's part named beside
it (a case's file, a case linked to an improvement) is also tried under the caller's own record.
Writes whose *body* names a hidden case or account answer like those naming a missing one.

The hidden records: 郑爽's (service2) case about a customer of 华南, with a file, a hand-over
offered to 黄蓉, a visit (technician 郑爽), the survey invitation and answer after it, all linked
where they can be to an improvement everyone reads. The callers: 王伟 (salesperson), 赵静
(another agent, not the team leader) and 刘洋 (sales manager of 华东). The same routes called by
郑爽 and by 华南's manager prove the walker reaches real objects.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from guanxi.customers.models import Account
from guanxi.service.models import Case, FeedbackForm
from tests.security.conftest import fingerprint
from tests.security.test_routes_declared import API_PREFIX, api_operations, django_routes

pytestmark = pytest.mark.django_db

MISSING_ID = 987654321
JPG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64

HTML_KINDS = [
    (re.compile(r"^service/cases/<int:case_pk>/"), "case"),
    (re.compile(r"^service/cases/<int:pk>/"), "case"),
    (re.compile(r"^service/handovers/<int:pk>/"), "handover"),
    (re.compile(r"^service/attachments/<int:pk>/"), "attachment"),
    (re.compile(r"^service/visits/<int:pk>/"), "visit"),
    (re.compile(r"^service/accounts/<int:account_pk>/"), "account"),
    (re.compile(r"^service/improvements/<int:pk>/unlink/<int:case_pk>/"), "linked"),
    (re.compile(r"^surveys/invitations/<int:pk>/"), "invitation"),
    (re.compile(r"^surveys/accounts/<int:account_pk>/"), "account"),
    (re.compile(r"^surveys/responses/<int:pk>/"), "response"),
]
API_KINDS = [
    (re.compile(rf"^{API_PREFIX}/cases/\{{(int:)?pk\}}"), "case"),
    (re.compile(rf"^{API_PREFIX}/case-handovers/\{{(int:)?pk\}}"), "handover"),
    (re.compile(rf"^{API_PREFIX}/visits/\{{(int:)?pk\}}"), "visit"),
    (re.compile(rf"^{API_PREFIX}/survey-invitations/\{{(int:)?pk\}}"), "invitation"),
    (re.compile(rf"^{API_PREFIX}/survey-responses/\{{(int:)?pk\}}"), "response"),
    (re.compile(rf"^{API_PREFIX}/improvements/\{{(int:)?pk\}}/cases/\{{(int:)?case_pk\}}"), "linked"),
]
# Service and survey routes with an id that names no customer's record: the company's
# configuration (feedback forms, categories, SLA policies, holidays, survey templates and their
# questions) and improvements (read by everyone with the right: ``scope.improvement_scope``).
# The customer's own pages carry a credential (a token) instead of an id: they are walked by
# the personal-link tests below.
NOT_RECORDS = re.compile(
    r"^(service:feedback-form-|service:settings-|service:improvement-(?!unlink)|loyalty:survey-|loyalty:question-)")
PUBLIC_TOKENS = {"feedback:form", "feedback:case-confirm", "feedback:visit-confirm", "survey:answer"}
API_NOT_RECORDS = tuple(f"{API_PREFIX}/{name}/" for name in (
    "case-categories", "sla-policies", "holidays", "improvements", "surveys"))
API_SERVICE = tuple(f"{API_PREFIX}/{name}" for name in (
    "cases", "case-", "visits", "improvements", "survey", "sla-", "holidays", "business-hours", "service-"))


def _kind(route: str, kinds: list[tuple[re.Pattern[str], str]]) -> str | None:
    for pattern, kind in kinds:
        if pattern.match(route):
            return kind
    return None


def html_routes() -> Iterator[tuple[str, str, str]]:
    for route, name, _callback in django_routes():
        if name.split(":")[0] in {"service", "loyalty"} and (kind := _kind(route, HTML_KINDS)) is not None:
            yield route, name, kind


def api_routes() -> Iterator[tuple[str, str, str]]:
    for key, _op in api_operations():
        method, path = key.split(" ", 1)
        kind = _kind(path, API_KINDS)
        if kind is not None:
            yield method, path, kind


def test_every_service_and_survey_route_with_an_id_is_walked() -> None:
    """A new route of service or surveys with an id in it must be recognised by the walker (or
    name the company's configuration, or carry the customer's token)."""
    walked = {name for _route, name, _kind in html_routes()}
    for route, name, _callback in django_routes():
        app = name.split(":")[0]
        if app in {"service", "loyalty", "feedback", "survey"} and re.search(r"<(?:\w+:)?\w+>", route):
            assert name in walked or NOT_RECORDS.match(name) or name in PUBLIC_TOKENS, \
                f"{name} ({route}) is not walked"
    walked_api = {f"{m} {p}" for m, p, _kind in api_routes()}
    for key, _op in api_operations():
        path = key.split(" ", 1)[1]
        if "{" in path and path.startswith(API_SERVICE) and not (
                path.startswith(API_NOT_RECORDS) and "{int:case_pk}" not in path):
            assert key in walked_api, f"{key} is not walked"
    kinds = {kind for _r, _n, kind in html_routes()} | {kind for _m, _p, kind in api_routes()}
    assert {"case", "handover", "attachment", "visit", "account", "linked", "invitation", "response"} <= kinds


# --- The records ---------------------------------------------------------------------------------
def _form(user: Any) -> FeedbackForm:
    return FeedbackForm.objects.create(slug=f"hid-{user.username.replace('_', '-')}", title="表单", responder=user)


def _records(org: Any, owner: Any, account: Any, tag: str, improvement: Any) -> dict[str, Any]:
    """A case of ``owner``'s about ``account`` with a file, a visit, an open hand-over to the
    service manager, linked to ``improvement``, closed-surveyed (invitation and answer)."""
    from guanxi.loyalty.models import Survey
    from guanxi.loyalty.services import invitations, responses
    from guanxi.service.models import CaseAttachment
    from guanxi.service.services import handovers, improvements, intake, visits

    case = intake.case_receive(
        actor=None, kind="complaint", title=f"{tag}设备漏油", description="液压站漏油。", channel="web",
        form=_form(owner), account=account, sender_name="钱先生", sender_phone="13922220000",
        attachments=[SimpleUploadedFile("现场照片.jpg", JPG, content_type="image/jpeg")])
    start = timezone.now() - dt.timedelta(days=1)
    visit = visits.visit_schedule(actor=owner, case=case, purpose="repair", technician=owner, start=start,
                                  end=start + dt.timedelta(hours=2))
    improvements.improvement_link(actor=org.gm, improvement=improvement, case=Case.objects.get(pk=case.pk))
    handover = handovers.handover_offer(actor=owner, case=Case.objects.get(pk=case.pk), to_user=org.service_manager)
    survey = Survey.objects.get(touchpoint="case_closed", active=True, deleted_at__isnull=True)
    invitation, raw = invitations.invite(actor=None, survey=survey, touchpoint="case_closed",
                                         source=f"service.case:{case.pk}", account=account, owner=owner)
    answers = {q.pk: {"rater": 3, "nps": 6, "csat": 3}.get(q.type, "") for q in survey.questions.all()}
    response = responses.answer(token=raw, answers=answers, comment=f"{tag}不满意")
    return {"case": Case.objects.get(pk=case.pk), "attachment": CaseAttachment.objects.get(case=case),
            "visit": visit, "handover": handover, "account": account, "invitation": invitation,
            "response": response, "linked": improvement}


@pytest.fixture
def world(org: Any, account_factory: Any, settings: Any, tmp_path: Any) -> dict[str, Any]:
    from guanxi.service.services import improvements

    settings.MEDIA_ROOT = tmp_path
    improvement = improvements.improvement_create(actor=org.gm, title="液压站密封改进")
    south = account_factory(org.outsider, name="广州南方液压有限公司")
    hidden = _records(org, org.service2, south, "南方", improvement)
    mine_account = account_factory(org.salesperson, name="厦门本地机械有限公司")
    mine = _records(org, org.service, mine_account, "厦门", improvement)
    return {"hidden": hidden, "mine": mine, "improvement": improvement}


def _fill_html(route: str, main: int, child: int) -> str:
    def fill(match: re.Match[str]) -> str:
        return str(child if match.group(1) == "case_pk" and "unlink" in route else main)

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", fill, route)


def _fill_api(path: str, main: int, child: int) -> str:
    path = re.sub(r"\{(?:int:)?pk\}", str(main), path)
    return re.sub(r"\{(?:int:)?(?:attachment_pk|case_pk)\}", str(child), path)


def html_attempts(w: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(name, path with the hidden record, the same path with a missing id)."""
    hidden, improvement = w["hidden"], w["improvement"].pk
    out = []
    for route, name, kind in html_routes():
        if kind == "linked":  # the hidden case under an improvement one reads
            out.append((name, _fill_html(route, improvement, hidden["case"].pk),
                        _fill_html(route, improvement, MISSING_ID)))
        else:
            out.append((name, _fill_html(route, hidden[kind].pk, 0), _fill_html(route, MISSING_ID, 0)))
    return out


def api_attempts(w: dict[str, Any]) -> list[tuple[str, str, str]]:
    hidden, mine, improvement = w["hidden"], w["mine"], w["improvement"].pk
    out = []
    for method, path, kind in api_routes():
        if kind == "linked":
            out.append((method, _fill_api(path, improvement, hidden["case"].pk),
                        _fill_api(path, improvement, MISSING_ID)))
            continue
        child = hidden["attachment"].pk if "{int:attachment_pk}" in path else MISSING_ID
        out.append((method, _fill_api(path, hidden[kind].pk, child), _fill_api(path, MISSING_ID, child)))
        if "{int:attachment_pk}" in path:  # the hidden file under one's own case
            out.append((method, _fill_api(path, mine["case"].pk, child),
                        _fill_api(path, mine["case"].pk, MISSING_ID)))
    return out


PERSONAS = ["salesperson", "service", "manager"]


def _normalised(text: bytes, values: list[int]) -> bytes:
    out = re.sub(rb'nonce="[^"]*"', b'nonce=""', re.sub(rb"[A-Za-z0-9]{64}", b"<csrf>", text))
    for value in sorted(values, key=lambda v: -len(str(v))):
        out = out.replace(str(value).encode(), b"<id>")
    return out


@pytest.mark.parametrize("persona", PERSONAS)
def test_hidden_records_answer_like_missing_ones_on_every_html_route(persona: str, org: Any, login: Any,
                                                                     world: dict[str, Any]) -> None:
    client = login(getattr(org, persona))
    ids = [r.pk for r in world["hidden"].values()] + [MISSING_ID]
    differ = []
    before = fingerprint()  # moved on only by a call that changed something (a failure)
    for name, path, missing in html_attempts(world):
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            if (after := fingerprint()) != before:
                differ.append(f"{method.upper()} {path} ({name}) changed something")
                before = after
            if response.status_code not in {403, 404, 405}:
                differ.append(f"{method.upper()} {path} ({name}): {response.status_code}")
                continue
            other = getattr(client, method)(missing)
            if other.status_code != response.status_code:
                differ.append(f"{method.upper()} {path} ({name}): {response.status_code}, missing {other.status_code}")
            elif _normalised(response.content, ids) != _normalised(other.content, ids):
                differ.append(f"{method.upper()} {path} ({name}): the answer differs from a missing id's")
    assert not differ, "\n".join(differ)


@pytest.mark.parametrize("persona", PERSONAS)
def test_hidden_records_answer_like_missing_ones_on_every_api_route(persona: str, org: Any, api: Any,
                                                                    world: dict[str, Any]) -> None:
    client = api(getattr(org, persona))
    differ = []
    before = fingerprint()  # moved on only by a call that changed something (a failure)
    for method, url, missing_url in api_attempts(world):
        call = getattr(client, method.lower())
        response = call(url)
        if (after := fingerprint()) != before:
            differ.append(f"{method} {url} changed something")
            before = after
        # 422 only where the body is checked before the record is fetched: still no record data.
        if response.status_code not in {403, 404, 422}:
            differ.append(f"{method} {url}: {response.status_code} {response.content[:200]!r}")
            continue
        missing = call(missing_url)
        if response.status_code != missing.status_code or response.content != missing.content:
            differ.append(f"{method} {url}: {response.status_code} {response.content[:120]!r} vs missing "
                          f"{missing.status_code} {missing.content[:120]!r}")
    assert not differ, "\n".join(differ)


def test_the_owner_reaches_the_same_routes(org: Any, login: Any, api: Any, world: dict[str, Any]) -> None:
    """The sweep proves nothing unless the same routes serve the records to whoever sees them:
    the case's owner (郑爽) gets a page or a file, and an API read, of every kind they may open;
    the survey answer and the account's surveys open for 华南's manager."""
    hidden = world["hidden"]
    html = login(org.service2)
    ok = {kind for route, _name, kind in html_routes()
          if kind != "linked" and html.get(_fill_html(route, hidden[kind].pk, 0)).status_code == 200}
    assert {"case", "attachment", "visit", "response", "invitation"} - ok == set(), ok
    rest = api(org.service2)
    ok_api = {kind for method, path, kind in api_routes()
              if method == "GET" and kind != "linked" and rest.get(_fill_api(
                  path, hidden[kind].pk, hidden["attachment"].pk)).status_code == 200}
    assert {"case", "visit", "response"} <= ok_api, ok_api
    manager = login(org.south_manager)
    assert manager.get(f"/service/accounts/{hidden['account'].pk}/cases/").status_code == 200
    assert manager.get(f"/surveys/accounts/{hidden['account'].pk}/").status_code == 200
    gm = api(org.gm)
    assert gm.get(f"/api/v1/improvements/{world['improvement'].pk}/cases").status_code == 200
    # The hand-over's routes take a POST only: the colleague it is offered to answers it.
    from guanxi.service.models import Handover

    answer = login(org.service_manager).post(f"/service/handovers/{hidden['handover'].pk}/decline/",
                                             {"answer": "本周排满", "version": hidden["handover"].version})
    assert answer.status_code in {200, 302}
    assert Handover.objects.get(pk=hidden["handover"].pk).state == Handover.State.DECLINED


# --- Writes whose body names a hidden record ------------------------------------------------------
def _bodies(w: dict[str, Any], case: Any, account: Any, code: str) -> list[tuple[str, str, dict[str, Any]]]:
    start = (timezone.now() + dt.timedelta(days=2)).replace(microsecond=0)
    return [
        ("POST", "/api/v1/cases", {"title": "新投诉", "description": "漏油", "account": account}),
        ("POST", "/api/v1/visits", {"case": case, "technician": w["org"].service.pk, "start": start.isoformat(),
                                    "end": (start + dt.timedelta(hours=1)).isoformat()}),
        ("POST", f"/api/v1/improvements/{w['improvement'].pk}/cases", {"case": case}),
        ("POST", f"/api/v1/improvements/{w['improvement'].pk}/cases", {"case": code}),
        ("POST", "/api/v1/survey-invitations", {"survey": w["survey"], "case": case}),
        ("POST", "/api/v1/survey-invitations", {"survey": w["survey"], "account": account}),
    ]


@pytest.mark.parametrize("persona", ["service", "salesperson"])
def test_writes_naming_a_hidden_case_or_account_answer_like_missing_and_change_nothing(
        persona: str, org: Any, api: Any, world: dict[str, Any]) -> None:
    from guanxi.loyalty.models import Survey

    client = api(getattr(org, persona))
    w = {**world, "org": org, "survey": Survey.objects.filter(active=True, deleted_at__isnull=True).first().pk}
    hidden = world["hidden"]
    differ = []
    before = fingerprint()  # moved on only by a call that changed something (a failure)
    for (method, path, body), (_m, _p, missing_body) in zip(
            _bodies(w, hidden["case"].pk, hidden["account"].pk, hidden["case"].code),
            _bodies(w, MISSING_ID, MISSING_ID, "FW-1999-999999"), strict=True):
        answer = client.post(path, body)
        if (after := fingerprint()) != before:
            differ.append(f"{method} {path} {body}: changed something ({answer.status_code})")
            before = after
            continue
        other = client.post(path, missing_body)
        text = answer.content.decode()
        if "南方" in text or (hidden["case"].code in text and hidden["case"].code not in str(body)):
            differ.append(f"{method} {path}: the answer shows the hidden record")
        if answer.status_code not in {403, 404, 422}:
            differ.append(f"{method} {path} {body}: {answer.status_code}")
        elif answer.status_code != other.status_code or answer.content.replace(
                hidden["case"].code.encode(), b"<code>") != other.content.replace(b"FW-1999-999999", b"<code>"):
            differ.append(f"{method} {path} {body}: {answer.status_code} {answer.content[:200]!r} vs "
                          f"{other.status_code} {other.content[:200]!r}")
    assert not differ, "\n".join(differ)


# --- The customer's personal links ------------------------------------------------------------------
def _resolved(actor: Any, account: Any, title: str, reply: str) -> tuple[Case, str]:
    """A case of ``actor``'s taken to resolved; (case, raw token of the customer's link)."""
    from guanxi.service.services import cases, intake

    case = intake.case_receive(actor=actor, kind="complaint", title=title, description="问题描述", channel="hotline",
                               account=account, sender_name="客户", sender_phone="13800001234")
    for to in ("acknowledged", "investigating"):
        case = cases.case_move(actor=actor, case=case, to=to)
    case = cases.reply_set(actor=actor, case=case, proposal="更换配件", reply=reply, expected_version=case.version)
    case = cases.case_move(actor=actor, case=case, to="proposed")
    case = cases.case_move(actor=actor, case=case, to="resolved")
    return case, case.confirm_link.rstrip("/").rsplit("/", 1)[1]


def test_a_case_link_shows_its_own_case_and_answers_only_for_it(org: Any, account_factory: Any) -> None:
    from django.test import Client

    from guanxi.core.services import records

    first, token_a = _resolved(org.service, account_factory(org.service), "甲公司设备异响", "甲的答复YK71")
    second, token_b = _resolved(org.service2, account_factory(org.service2), "乙公司交付延误", "乙的答复QP38")
    browser = Client()
    page = browser.get(f"/feedback/confirm/{token_a}/").content.decode()
    assert "甲的答复YK71" in page and "乙的答复QP38" not in page and second.code not in page
    # Neither a prefix, a longer string nor a case number opens a case.
    for probe in (token_a[:-1], token_a + "x", first.code, str(first.pk), token_a.upper()):
        response = browser.get(f"/feedback/confirm/{probe}/")
        assert response.status_code == 404, probe
        assert "甲的答复YK71" not in response.content.decode()
    before = fingerprint()
    assert browser.post(f"/feedback/confirm/{token_a[:-1]}/", {"decision": "accept"}).status_code == 404
    assert fingerprint() == before
    response = browser.post(f"/feedback/confirm/{token_a}/", {"decision": "accept"})
    assert response.status_code == 200
    assert Case.objects.get(pk=first.pk).state == Case.State.CONFIRMED
    assert Case.objects.get(pk=second.pk).state == Case.State.RESOLVED
    # Used once: the same link now opens nothing.
    assert browser.get(f"/feedback/confirm/{token_a}/").status_code == 404
    # A case in the recycle bin, or whose customer is, is gone from its link too.
    records.record_delete(actor=org.gm, obj=Account.objects.get(pk=second.account_id))
    gone = browser.get(f"/feedback/confirm/{token_b}/")
    assert gone.status_code == 404 and "乙的答复QP38" not in gone.content.decode()


def test_a_visit_link_and_a_survey_link_open_only_their_own_record(org: Any, account_factory: Any) -> None:
    from django.test import Client

    from guanxi.loyalty.models import Response, Survey
    from guanxi.loyalty.services import invitations
    from guanxi.service.services import intake, visits

    tokens = {}
    for key, owner in (("a", org.service), ("b", org.service2)):
        case = intake.case_receive(actor=owner, kind="ticket", ticket_type="repair", title=f"{key}维修", channel="hotline",
                                   description="维修", account=account_factory(owner), sender_phone="13800009999")
        start = timezone.now() - dt.timedelta(hours=5)
        visit = visits.visit_schedule(actor=owner, case=case, purpose="repair", technician=owner, start=start,
                                      end=start + dt.timedelta(hours=1))
        visit = visits.visit_report(actor=owner, visit=visit, report=f"报告{key}MX4{key}", arrived_at=start,
                                    finished_at=start + dt.timedelta(minutes=40), expected_version=visit.version)
        tokens[key] = (visit, visit.confirm_link.rstrip("/").rsplit("/", 1)[1])
    browser = Client()
    (visit_a, token_a), (visit_b, _token_b) = tokens["a"], tokens["b"]
    page = browser.get(f"/feedback/visit/{token_a}/").content.decode()
    assert visit_a.case.code in page and visit_b.case.code not in page and "报告bMX4b" not in page
    # One kind of token never opens another kind of page.
    assert browser.get(f"/feedback/confirm/{token_a}/").status_code == 404
    assert browser.get(f"/survey/{token_a}/").status_code == 404
    survey = Survey.objects.get(touchpoint="visit_done", active=True, deleted_at__isnull=True)
    (inv_a, raw_a), (inv_b, _raw_b) = (invitations.invite(
        actor=None, survey=survey, touchpoint="visit_done", source=f"service.visit:{v.pk}", account=v.case.account,
        owner=v.technician, recipient_name=name) for v, name in ((visit_a, "甲先生RN1"), (visit_b, "乙女士RN2")))
    if not raw_a:  # the visit's own touchpoint made it already (D → E signal); take fresh links
        raw_a = invitations.invitation_renew(actor=org.service_manager, invitation=inv_a)
        invitations.invitation_renew(actor=org.service_manager, invitation=inv_b)
    assert browser.get(f"/feedback/visit/{raw_a}/").status_code == 404
    page = browser.get(f"/survey/{raw_a}/").content.decode()
    assert "乙女士RN2" not in page
    answers = {f"q{q.pk}": {"rater": "5", "nps": "10", "csat": "5"}.get(q.type, "好") for q in survey.questions.all()}
    before = Response.objects.count()
    assert browser.post(f"/survey/{raw_a[:-2]}/", answers).status_code == 404
    assert Response.objects.count() == before
    browser.post(f"/survey/{raw_a}/", answers)
    assert Response.objects.filter(invitation=inv_a).count() == 1
    assert not Response.objects.filter(invitation=inv_b).exists()

