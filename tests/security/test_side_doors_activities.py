"""S4 (and S1/S3 for the doors without a session) — contact and follow-up never leaks another
department's records.

One secret marker is seeded into everything 华南 (another department) keeps about one of its
accounts: the account's name, a person (with a birthday this week), a meeting's subject,
summary, outcome and agreed points, an overdue follow-up's title and notes (announced to its
owner as a notification), a birthday greeting planned, support given, a project, its phase
and a cost change waiting for the customer. The salesperson (王伟) and the manager (刘洋) of
华东 keep look-alike records of their own, so every page has something to show. Then every
read path of contact and follow-up is walked as them: interaction and follow-up lists with
their filters, the project list and search, the desk, the care calendar and care events,
the festival page, the business check, weekly reports (page, JSON and PDF), the written
confirmation (page, PDF and e-mail draft), the account page with its timeline and tabs,
notifications, history, the calendar feed and the morning digest. The marker must appear in
none of them; JSON is read as text with ``ensure_ascii=False``, PDFs through pypdf, the
calendar unfolded, mails part by part. The same walk as the secret's owner finds it, so the
probe is real.

Filtering by an account or a person one may not see answers exactly like filtering by one that
does not exist (the same status and body), so a filter never tells that a record exists.

The calendar feed (R13.4) is opened by its key alone: a guessed, revoked, another user's
deleted or a deactivated user's key answers the same 404 and writes nothing, and nobody can
revoke another user's feed. The customer's cost-approval link (R3.7) decides exactly the cost
change it was issued for: an altered, re-pointed, replaced, expired or spent link is refused
and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import email
import io
import json
import secrets
from decimal import Decimal
from email import policy
from typing import Any

import pytest
from django.core import mail, signing
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from guanxi.activities import services as activities
from guanxi.activities.models import CalendarFeed, CostChange, FollowUp, Phase, Project
from guanxi.activities.selectors.care import festival_date
from guanxi.activities.selectors.projects import LINK_SALT
from guanxi.activities.services import care, projects
from guanxi.activities.services.desk import followup_notify_overdue
from guanxi.activities.services.digest import digest_send
from guanxi.core.mail import deliver_pending
from guanxi.core.models import AuditEvent, Role, User
from guanxi.customers.models import Account, Contact
from guanxi.customers.services import pool as pool_services
from tests.security.conftest import fingerprint
from tests.security.test_access_matrix import MISSING_ID, without_csrf

pytestmark = pytest.mark.django_db

SECRET = "XQ9K7"
# Every seeded value carries MARK; searches and filters send the bare SECRET, so a page that
# echoes the query (a search box) is not mistaken for a leak.
MARK = f"{SECRET}-"
OWN = "OWN5Z"
# Distinctive ids: a filter value echoed by a page can be told apart from every other number.
HIDDEN_ACCOUNT = 7654321
HIDDEN_OWNER = 7654399


def _seed(owner: User, account: Any, tag: str, now: dt.datetime) -> dict[str, Any]:
    """Everything contact and follow-up keeps about ``account``, each value carrying ``tag``."""
    birthday = timezone.localdate(now) + dt.timedelta(days=2)
    contact = Contact.objects.create(account=account, name=f"黄{tag}c", mobile="13922223333", email="huang@example.cn",
                                     birthday=birthday.replace(year=1980))
    interaction = activities.interaction_create(
        actor=owner, account=account, kind="meeting", purpose="deal", subject=f"主题{tag}s", summary=f"纪要{tag}i",
        outcome=f"结果{tag}o", agreements=f"要点{tag}a", their_people=[contact.pk],
        occurred_at=now - dt.timedelta(minutes=1))
    overdue = activities.followup_create(actor=owner, account=account, title=f"跟进{tag}f", notes=f"备注{tag}n",
                                         due_at=now - dt.timedelta(days=1), contact=contact, interaction=interaction)
    today = activities.followup_create(actor=owner, account=account, title=f"今日{tag}t",
                                       due_at=now + dt.timedelta(hours=1))
    plan = care.care_plan_create(actor=owner, account=account, contact=contact, occasion="birthday", date=birthday,
                                 message=f"祝福{tag}g")
    support = care.support_create(actor=owner, account=account, kind="training", description=f"扶持{tag}p",
                                  value="20000")
    project = projects.project_create(actor=owner, account=account, name=f"项目{tag}j", goal=f"目标{tag}k",
                                      budget=300000)
    phase = projects.phase_add(actor=owner, project=project, name=f"阶段{tag}h", cost=100000)
    change, token = projects.cost_change_request(actor=owner, phase=phase, amount="6000", reason=f"原因{tag}r")
    return {"account": account, "contact": contact, "interaction": interaction, "overdue": overdue,
            "today": today, "plan": plan, "support": support, "project": project, "phase": phase,
            "change": change, "token": token, "birthday": birthday}


@pytest.fixture
def seeded(org: Any, account_factory: Any) -> dict[str, Any]:
    now = timezone.now()
    # One's own first: on SQLite a row with an explicit id moves the table's next id past it.
    own = _seed(org.salesperson, account_factory(org.salesperson, name=f"厦门{OWN}贸易有限公司"), OWN, now)
    # The manager helps with it: a next step of their own, for their desk, feed and digest.
    activities.followup_create(actor=org.manager, account=own["account"], owner=org.manager, title=f"经理{OWN}m",
                               due_at=now - dt.timedelta(hours=3))
    owner = User.objects.create_user(id=HIDDEN_OWNER, username="south2", password="Secret-Owner-2026!",
                                     name="郑秘", department=org.south, email="zheng@example.cn")
    owner.roles.set([Role.objects.get(code="salesperson")])
    hidden_account = account_factory(owner, id=HIDDEN_ACCOUNT, name=f"广州{MARK}重工有限公司")
    hidden = _seed(owner, hidden_account, MARK, now)
    followup_notify_overdue(now=now)  # each owner is told of their overdue follow-up
    for user in (org.salesperson, org.manager):
        User.objects.filter(pk=user.pk).update(email=f"{user.username}@example.cn")
    return {"owner": User.objects.get(pk=HIDDEN_OWNER), "hidden": hidden, "own": own, "now": now}


# --- Reading every door ------------------------------------------------------------------------------
def body_text(response: Any) -> str:
    """What a person (or a program) reads in a response: JSON unescaped, PDF text, mail parts."""
    content_type = response.get("Content-Type", "")
    data = b"".join(response.streaming_content) if response.streaming else response.content
    if content_type.startswith("application/pdf"):
        return pdf_text(data)
    if content_type.startswith("message/rfc822"):
        return mail_text(data)
    text = data.decode("utf-8", "replace")
    if content_type.startswith("application/json"):
        return json.dumps(json.loads(text), ensure_ascii=False)
    if content_type.startswith("text/calendar"):
        return text.replace("\r\n ", "").replace("\\,", ",").replace("\\;", ";")
    return text


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def mail_text(data: bytes) -> str:
    message = email.message_from_bytes(data, policy=policy.default)
    parts = [str(message["Subject"]), str(message["To"])]
    for part in message.walk():
        if part.get_content_type() == "application/pdf":
            parts.append(pdf_text(part.get_payload(decode=True)))
        elif part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return "\n".join(parts)


def read_paths(s: dict[str, Any]) -> list[str]:
    own = s["own"]
    a, i, f, p = own["account"].pk, own["interaction"].pk, own["overdue"].pk, own["project"].pk
    month = own["birthday"].strftime("%Y-%m")
    start, end = own["birthday"] - dt.timedelta(days=10), own["birthday"] + dt.timedelta(days=10)
    spring = festival_date("spring_festival", own["birthday"].year + 1)
    return [
        # the desk, lists, filters and orderings
        "/", "/activities/interactions/", "/activities/interactions/?kind=meeting", "/activities/interactions/?purpose=deal",
        "/activities/interactions/?owner=me", "/activities/interactions/?from=2020-01-01&to=2035-12-31",
        "/activities/interactions/?ordering=-summary", "/activities/followups/", "/activities/followups/?owner=all&state=all",
        "/activities/followups/?owner=all&overdue=1", "/activities/followups/?owner=all&due_from=2020-01-01",
        "/activities/followups/?owner=all&ordering=title", "/activities/projects/", f"/activities/projects/?q={SECRET}",
        "/activities/projects/?waiting=1", "/activities/care/", f"/activities/care/?month={month}",
        f"/activities/care/?month={month}&mine=1", f"/activities/care/festival/?occasion=spring_festival&date={spring}",
        "/activities/calendar/",
        "/activities/check/", "/activities/check/?days=90", "/notifications/",
        # pages of one's own records, where a neighbour could show through
        f"/accounts/{a}/", f"/activities/accounts/{a}/care/", f"/activities/accounts/{a}/support/",
        f"/activities/accounts/{a}/weekly/", f"/activities/accounts/{a}/weekly/?format=pdf",
        f"/activities/interactions/{i}/", f"/activities/interactions/{i}/edit/", f"/activities/interactions/{i}/confirmation/",
        f"/activities/interactions/{i}/confirmation.pdf", f"/activities/interactions/{i}/confirmation.eml",
        f"/activities/interactions/new/?account={a}", f"/activities/followups/new/?account={a}", f"/activities/followups/{f}/",
        f"/activities/followups/{f}/edit/", f"/activities/followups/{f}/reassign/", f"/activities/projects/{p}/",
        f"/activities/projects/{p}/weekly/", f"/activities/projects/{p}/weekly/?format=pdf",
        f"/activities/care/plans/new/?account={a}",
        # the API
        "/api/v1/interactions", "/api/v1/interactions?kind=meeting&purpose=deal", "/api/v1/followups",
        "/api/v1/followups?owner=all&state=all", "/api/v1/followups?overdue=true", "/api/v1/projects",
        f"/api/v1/projects?q={SECRET}", "/api/v1/projects?waiting=true", f"/api/v1/care-events?start={start}&end={end}",
        f"/api/v1/care-events?start={start}&end={end}&mine=true", "/api/v1/care-plans", "/api/v1/support",
        "/api/v1/notifications", "/api/v1/calendar-feeds", "/api/v1/business-check", "/api/v1/business-check?days=90",
        f"/api/v1/accounts/{a}/weekly-report", f"/api/v1/accounts/{a}/weekly-report?format=pdf",
        f"/api/v1/projects/{p}/weekly-report", f"/api/v1/projects/{p}/phases", f"/api/v1/interactions/{i}",
        f"/api/v1/interactions/{i}/confirmation.pdf", f"/api/v1/interactions/{i}/confirmation.eml",
        f"/api/v1/followups/{f}", f"/api/v1/history/activities.interaction/{i}", f"/api/v1/history/customers.account/{a}",
        f"/api/v1/accounts/{a}", "/api/v1/contacts", "/api/v1/accounts",
    ]


def walk(user: User, paths: list[str], login: Any, api: Any) -> dict[str, str]:
    html, rest = login(user), api(user)
    seen = {}
    for path in paths:
        response = (rest if path.startswith("/api/") else html).get(path)
        if response.status_code == 200:
            seen[path] = body_text(response)
    return seen


def feed_text(user: User) -> str:
    _feed, key = care.calendar_feed_create(actor=user)
    response = Client().get(f"/activities/calendar/{key}.ics")
    assert response.status_code == 200
    return body_text(response)


def digest_text(user: User, now: dt.datetime) -> str:
    mail.outbox = []
    assert digest_send(user=User.objects.get(pk=user.pk), now=now) == "sent"
    deliver_pending()
    message = mail.outbox[-1]
    return "\n".join([message.subject, message.body, *[str(content) for content, _type in message.alternatives]])


@pytest.mark.parametrize("persona", ["salesperson", "manager"])
def test_the_secret_leaks_through_no_read_path(persona: str, org: Any, login: Any, api: Any,
                                               seeded: dict[str, Any]) -> None:
    user = getattr(org, persona)
    paths = read_paths(seeded)
    seen = walk(user, paths, login, api)
    refused = {p for p in paths if p not in seen}
    if persona == "salesperson":  # the business check is a manager's right
        assert refused == {"/activities/check/", "/activities/check/?days=90", "/api/v1/business-check",
                           "/api/v1/business-check?days=90"}, sorted(refused)
    else:
        assert not refused, sorted(refused)
    seen["calendar feed"] = feed_text(user)
    seen["morning digest"] = digest_text(user, seeded["now"])
    leaks = {path for path, text in seen.items() if MARK in text}
    assert not leaks, f"another department's records show through {sorted(leaks)}"
    # The probe is real: one's own look-alikes are on the same doors.
    for path in ("/", "/activities/interactions/", "/activities/followups/?owner=all&state=all", "/api/v1/interactions",
                 "/api/v1/followups", "/api/v1/projects", "/api/v1/care-plans", "/api/v1/support", "/notifications/",
                 f"/activities/interactions/{seeded['own']['interaction'].pk}/confirmation.pdf",
                 f"/activities/accounts/{seeded['own']['account'].pk}/weekly/?format=pdf",
                 "morning digest"):
        assert OWN in seen[path], f"{path} shows nothing of one's own: the probe proves nothing there"
    own_birthday = f"黄{OWN}c"
    assert own_birthday in seen[f"/api/v1/care-events?start={seeded['own']['birthday'] - dt.timedelta(days=10)}"
                                f"&end={seeded['own']['birthday'] + dt.timedelta(days=10)}"]
    if persona == "salesperson":  # a manager's own feed holds their own follow-ups only
        assert f"跟进{OWN}f" in seen["calendar feed"] and own_birthday in seen["calendar feed"]
    else:
        assert f"跟进{OWN}f" in seen["/activities/check/"] and f"跟进{OWN}f" in seen["/api/v1/business-check"]


def test_the_owner_finds_the_secret_on_the_same_paths(login: Any, api: Any, seeded: dict[str, Any]) -> None:
    owner, hidden = seeded["owner"], seeded["hidden"]
    i, p = hidden["interaction"].pk, hidden["project"].pk
    start, end = hidden["birthday"] - dt.timedelta(days=10), hidden["birthday"] + dt.timedelta(days=10)
    paths = ["/", "/activities/interactions/", "/activities/followups/", "/api/v1/interactions", "/api/v1/followups",
             f"/api/v1/projects?q={SECRET}", f"/api/v1/care-events?start={start}&end={end}", "/api/v1/care-plans",
             "/api/v1/support", "/notifications/", f"/activities/interactions/{i}/confirmation.pdf",
             f"/activities/interactions/{i}/confirmation.eml", f"/api/v1/projects/{p}/weekly-report"]
    seen = walk(owner, paths, login, api)
    seen["calendar feed"] = feed_text(owner)
    seen["morning digest"] = digest_text(owner, seeded["now"])
    missing = {path for path in [*paths, "calendar feed", "morning digest"] if MARK not in seen.get(path, "")}
    assert not missing, f"the probe finds nothing on {sorted(missing)}"


# --- Filters that name what one may not see ---------------------------------------------------------
FILTERS = [
    "/api/v1/interactions?account={a}", "/api/v1/interactions?owner={u}", "/api/v1/followups?account={a}",
    "/api/v1/followups?owner={u}", "/api/v1/projects?account={a}", "/api/v1/projects?owner={u}",
    "/api/v1/care-plans?account={a}", "/api/v1/care-plans?owner={u}", "/api/v1/support?account={a}",
    "/api/v1/business-check?user={u}", "/api/v1/accounts/{a}/weekly-report",
    "/activities/interactions/?account={a}", "/activities/interactions/?owner={u}",
    "/activities/followups/?owner=all&account={a}", "/activities/followups/?owner={u}",
    "/activities/projects/?account={a}", "/activities/projects/?owner={u}", "/activities/check/?who=u{u}",
    "/activities/check/?user={u}", "/activities/interactions/new/?account={a}", "/activities/followups/new/?account={a}",
    "/activities/care/plans/new/?account={a}", "/activities/accounts/{a}/weekly/", "/activities/accounts/{a}/care/",
]


def _same(text: str, value: int) -> str:
    return without_csrf(text.encode()).decode().replace(str(value), "<id>")


@pytest.mark.parametrize("persona", ["salesperson", "manager"])
def test_filtering_by_what_one_may_not_see_answers_like_filtering_by_nothing(persona: str, org: Any, login: Any,
                                                                              api: Any, seeded: dict[str, Any]) -> None:
    html, rest = login(getattr(org, persona)), api(getattr(org, persona))
    for template in FILTERS:
        client = rest if template.startswith("/api/") else html
        hidden = client.get(template.format(a=HIDDEN_ACCOUNT, u=HIDDEN_OWNER))
        missing = client.get(template.format(a=MISSING_ID, u=MISSING_ID))
        assert hidden.status_code == missing.status_code, (template, hidden.status_code, missing.status_code)
        assert hidden.status_code in {200, 400, 403, 404, 422}, (template, hidden.status_code)
        assert MARK not in body_text(hidden), template
        assert _same(body_text(hidden), HIDDEN_ACCOUNT if "{a}" in template else HIDDEN_OWNER) == \
            _same(body_text(missing), MISSING_ID), f"{template}: the answer tells the record exists"


# --- Writes that name what one may not see -----------------------------------------------------------
def creations(s: dict[str, Any], hidden: dict[str, int]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, body) of writes on one's own records that point at ``hidden`` ones."""
    own = s["own"]
    a, f = own["account"].pk, own["overdue"]
    due = "2031-04-01T09:00:00+08:00"
    return [
        ("post", "/api/v1/interactions", {"account": hidden["account"], "kind": "call", "summary": "电话"}),
        ("post", "/api/v1/interactions", {"account": a, "kind": "call", "summary": "电话",
                                          "their_people": [hidden["contact"]]}),
        ("post", "/api/v1/interactions", {"account": a, "kind": "call", "summary": "电话",
                                          "attachments": [hidden["attachment"]]}),
        ("post", "/api/v1/followups", {"account": hidden["account"], "title": "回访", "due_at": due}),
        ("post", "/api/v1/followups", {"account": a, "title": "回访", "due_at": due, "contact": hidden["contact"]}),
        ("patch", f"/api/v1/followups/{f.pk}", {"version": f.version, "contact": hidden["contact"]}),
        ("post", "/api/v1/projects", {"account": hidden["account"], "name": "新项目"}),
        ("post", "/api/v1/care-plans", {"account": hidden["account"], "occasion": "other", "date": "2031-04-01"}),
        ("post", "/api/v1/care-plans", {"account": a, "contact": hidden["contact"], "occasion": "birthday",
                                        "date": "2031-04-01"}),
        ("post", "/api/v1/support", {"account": hidden["account"], "kind": "policy", "description": "政策"}),
    ]


@pytest.mark.parametrize("persona", ["salesperson", "manager"])
def test_writes_naming_what_one_may_not_see_answer_like_missing_and_change_nothing(
        persona: str, org: Any, login: Any, api: Any, seeded: dict[str, Any]) -> None:
    from django.core.files.base import ContentFile

    from guanxi.customers.models import AccountAttachment

    secret = seeded["hidden"]
    file = AccountAttachment(account=secret["account"], kind="other", original_name=f"附件{MARK}x.pdf",
                             content_type="application/pdf", size=8, uploaded_by=seeded["owner"])
    file.file.save("x.pdf", ContentFile(b"%PDF-1.4"), save=False)
    file.save()
    hidden = {"account": secret["account"].pk, "contact": secret["contact"].pk, "attachment": file.pk}
    missing = dict.fromkeys(hidden, MISSING_ID)
    rest, html = api(getattr(org, persona)), login(getattr(org, persona))
    before = fingerprint()
    for (method, path, body), (_m, _p, missing_body) in zip(creations(seeded, hidden), creations(seeded, missing),
                                                            strict=True):
        answer = getattr(rest, method)(path, body)
        absent = getattr(rest, method)(path, missing_body)
        assert answer.status_code in {404, 422} and answer.status_code == absent.status_code, (path, body)
        text = body_text(answer)
        assert MARK not in text
        for value in hidden.values():
            text = text.replace(str(value), "<id>")
        assert text == body_text(absent).replace(str(MISSING_ID), "<id>"), (path, body)
    own = seeded["own"]
    quick = f"/activities/interactions/new/?account={own['account'].pk}&followup={secret['overdue'].pk}"
    assert html.get(quick).status_code == 404
    assert html.post(quick, {"kind": "call", "purpose": "information", "summary": "电话"}).status_code == 404
    assert fingerprint() == before, "a refused write naming a hidden record changed something"


# --- A follow-up left behind when its account moves away --------------------------------------------
# Follow-ups are seen with their account only, and the open ones move with the account when it
# changes hands (reassign, book, claim) or are cancelled when it goes to the pool.
@pytest.mark.parametrize("move", ["reassigned to another department", "released to the pool"])
def test_an_account_that_moves_away_takes_its_follow_ups_out_of_sight(move: str, org: Any, login: Any, api: Any,
                                                                       seeded: dict[str, Any]) -> None:
    """R3 / S4: a follow-up is seen with its account. When 王伟's account goes to 华南 (or to the
    pool), what he planned on it must not keep showing him the account and its next steps."""
    own = seeded["own"]
    account = own["account"]
    if move == "released to the pool":
        pool_services.pool_release(actor=org.salesperson, account=account, reason="客户暂无需求")
    else:
        pool_services.account_reassign(actor=org.gm, accounts=[account], to_user=org.outsider, reason="区域调整")
    rest, html = api(org.salesperson), login(org.salesperson)
    assert rest.get(f"/api/v1/accounts/{account.pk}").status_code == 404
    names = [f"跟进{OWN}f", f"今日{OWN}t"]
    seen = {
        "api list": body_text(rest.get("/api/v1/followups")),
        "list page": body_text(html.get("/activities/followups/?owner=all&state=all")),
        "desk": body_text(html.get("/")),
        "calendar feed": feed_text(org.salesperson),
        "detail": str(rest.get(f"/api/v1/followups/{own['overdue'].pk}").status_code),
    }
    leaks = {door for door, text in seen.items() if any(n in text for n in names) or text == "200"}
    assert not leaks, f"the moved account's follow-ups still show through {sorted(leaks)}"
    # The open follow-ups went with the account (or were cancelled with it into the pool), audited.
    followup = FollowUp.objects.get(pk=own["overdue"].pk)
    if move == "released to the pool":
        assert followup.state == FollowUp.State.CANCELLED
    else:
        assert (followup.state, followup.owner_id) == (FollowUp.State.OPEN, org.outsider.pk)
        assert f"跟进{OWN}f" in body_text(api(org.outsider).get("/api/v1/followups"))
    assert AuditEvent.objects.filter(content_type__model="followup", object_id=str(followup.pk),
                                     action="update").exists()


# --- The calendar feed: the key is the only credential -----------------------------------------------
def ics(key: str) -> Any:
    return Client().get(f"/activities/calendar/{key}.ics")


def test_feed_keys_that_open_nothing_answer_the_same_404_and_write_nothing(org: Any) -> None:
    _mine, live = care.calendar_feed_create(actor=org.salesperson)
    old, old_key = care.calendar_feed_create(actor=org.teammate)
    care.calendar_feed_revoke(actor=org.teammate, feed=old)
    replaced, replaced_key = care.calendar_feed_create(actor=org.outsider)
    care.calendar_feed_create(actor=org.outsider)  # a new feed voids the one before
    assert ics(live).status_code == 200
    refused = {
        "guessed": secrets.token_urlsafe(32),
        "revoked": old_key,
        "replaced": replaced_key,
        "the stored hash": CalendarFeed.objects.get(user=org.salesperson).key_hash,
        "a near miss": live[:-1] + ("A" if live[-1] != "A" else "B"),
        "too long": live * 10,
    }
    before = fingerprint()
    answers = {name: ics(key) for name, key in refused.items()}
    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(refused, 404)
    assert len({r.content for r in answers.values()}) == 1, "every refused key answers the very same bytes"
    assert b"BEGIN:VCALENDAR" not in answers["revoked"].content
    assert fingerprint() == before, "a refused key wrote something (last use, audit …)"
    assert replaced.pk != CalendarFeed.objects.get(user=org.outsider, revoked_at__isnull=True).pk


def test_nobody_revokes_or_lists_another_users_feed(org: Any, login: Any, api: Any) -> None:
    theirs, their_key = care.calendar_feed_create(actor=org.outsider)
    mine, _key = care.calendar_feed_create(actor=org.salesperson)
    for persona in ("salesperson", "manager", "gm", "admin"):
        user = getattr(org, persona)
        html, rest = login(user), api(user)  # (making a token is audited: before the fingerprint)
        before = fingerprint()
        page = html.post(f"/activities/calendar/{theirs.pk}/revoke/")
        missing_page = html.post(f"/activities/calendar/{MISSING_ID}/revoke/")
        call = rest.delete(f"/api/v1/calendar-feeds/{theirs.pk}")
        missing_call = rest.delete(f"/api/v1/calendar-feeds/{MISSING_ID}")
        assert (page.status_code, call.status_code) == (404, 404), persona
        assert missing_page.status_code == 404 and call.content == missing_call.content
        listed = {row["id"] for row in rest.get("/api/v1/calendar-feeds").json()}
        assert theirs.pk not in listed
        assert fingerprint() == before, f"{persona} changed another user's feed"
    assert {row["id"] for row in api(org.salesperson).get("/api/v1/calendar-feeds").json()} == {mine.pk}
    assert ics(their_key).status_code == 200, "their feed still works"


def test_a_feed_holds_only_what_its_user_sees(org: Any, seeded: dict[str, Any]) -> None:
    for user in (org.salesperson, org.manager, org.teammate):
        text = feed_text(user)
        assert MARK not in text, f"{user}'s feed shows another department's follow-ups or birthdays"
    assert f"跟进{OWN}f" in feed_text(org.salesperson) and f"黄{OWN}c" in feed_text(org.salesperson)
    text = feed_text(seeded["owner"])
    assert f"跟进{MARK}f" in text and f"黄{MARK}c" in text, "the owner's own feed has them: the probe is real"


def test_a_deactivated_users_feed_answers_404(org: Any, seeded: dict[str, Any]) -> None:
    _feed, key = care.calendar_feed_create(actor=org.salesperson)
    assert ics(key).status_code == 200
    User.objects.filter(pk=org.salesperson.pk).update(is_active=False)
    before = fingerprint()
    response = ics(key)
    assert response.status_code == 404
    assert response.content == ics(secrets.token_urlsafe(32)).content
    assert fingerprint() == before


# --- The customer's cost-approval link ----------------------------------------------------------------
@pytest.fixture
def two_changes(org: Any, account_factory: Any) -> dict[str, Any]:
    """A project with two phases, each with a cost change waiting for the customer (A and B)."""
    account = account_factory(org.salesperson, name="苏州精密仪器有限公司")
    project = projects.project_create(actor=org.salesperson, account=account, name="车间自动化", budget=900000)
    one = projects.phase_add(actor=org.salesperson, project=project, name="调研", cost=100000)
    two = projects.phase_add(actor=org.salesperson, project=project, name="改造", cost=400000)
    a, token_a = projects.cost_change_request(actor=org.salesperson, phase=one, amount="10000", reason="增加测点A")
    b, token_b = projects.cost_change_request(actor=org.salesperson, phase=two, amount="-20000", reason="取消工位B")
    return {"a": a, "b": b, "token_a": token_a, "token_b": token_b, "one": one, "two": two}


def link(token: str) -> str:
    return f"/activities/cost-approval/{token}/"


DECISION = {"decision": "approve", "customer_name": "客户总经理孙明", "note": "同意"}


def _refused(token: str, status: int) -> None:
    """Both opening and answering the link are refused with ``status``, and nothing changes."""
    before = fingerprint()
    shown = Client().get(link(token))
    answered = Client().post(link(token), DECISION)
    assert (shown.status_code, answered.status_code) == (status, status), (shown.status_code, answered.status_code)
    assert "增加测点A" not in shown.content.decode() and "取消工位B" not in shown.content.decode()
    assert fingerprint() == before, "a refused link changed something"


def _pending(*changes: CostChange) -> bool:
    return all(CostChange.objects.get(pk=c.pk).state == CostChange.State.PENDING for c in changes)


def test_a_link_decides_its_own_cost_change_and_no_other(two_changes: dict[str, Any]) -> None:
    a, b = two_changes["a"], two_changes["b"]
    page = Client().get(link(two_changes["token_a"]))
    assert page.status_code == 200
    assert "增加测点A" in page.content.decode() and "取消工位B" not in page.content.decode()
    response = Client().post(link(two_changes["token_a"]), DECISION)
    assert response.status_code == 200, response.content
    assert CostChange.objects.get(pk=a.pk).state == CostChange.State.APPROVED
    assert _pending(b), "deciding A touched B"
    assert Phase.objects.get(pk=two_changes["one"].pk).cost == Decimal("110000")
    assert Phase.objects.get(pk=two_changes["two"].pk).cost == Decimal("400000")
    _refused(two_changes["token_a"], 410)  # spent


def test_a_link_re_pointed_at_another_cost_change_is_refused(two_changes: dict[str, Any]) -> None:
    a, b = two_changes["a"], two_changes["b"]
    payload, rest = two_changes["token_a"].split(":", 1)
    decoded = json.loads(signing.b64_decode(payload.encode()))
    decoded["c"] = b.pk
    edited = signing.b64_encode(json.dumps(decoded, separators=(",", ":")).encode()).decode() + ":" + rest
    _refused(edited, 400)  # the signature no longer matches
    # Even a correctly signed link naming B with A's nonce (as if the secret key leaked) opens nothing.
    forged = signing.dumps({"c": b.pk, "n": CostChange.objects.get(pk=a.pk).link_nonce}, salt=LINK_SALT)
    _refused(forged, 410)
    _refused(signing.dumps({"c": b.pk, "n": ""}, salt=LINK_SALT), 410)
    assert _pending(a, b)


@pytest.mark.parametrize("alteration", ["signature", "truncated", "other salt", "garbage", "timestamped"])
def test_an_altered_link_is_refused(alteration: str, two_changes: dict[str, Any]) -> None:
    token = two_changes["token_a"]
    a = CostChange.objects.get(pk=two_changes["a"].pk)
    altered = {
        "signature": token[:-2] + ("xy" if not token.endswith("xy") else "zw"),
        "truncated": token[: len(token) // 2],
        "other salt": signing.dumps({"c": a.pk, "n": a.link_nonce}),
        "garbage": "not-a-link",
        "timestamped": signing.TimestampSigner(salt=LINK_SALT).sign(str(a.pk)),
    }[alteration]
    _refused(altered, 400)
    assert _pending(a, two_changes["b"])


def test_an_expired_link_is_refused(two_changes: dict[str, Any]) -> None:
    CostChange.objects.filter(pk=two_changes["a"].pk).update(link_expires_at=timezone.now() - dt.timedelta(minutes=1))
    _refused(two_changes["token_a"], 410)
    assert _pending(two_changes["a"], two_changes["b"])
    assert Client().get(link(two_changes["token_b"])).status_code == 200, "B's own link still works"


def test_a_replaced_or_withdrawn_link_is_refused(org: Any, two_changes: dict[str, Any]) -> None:
    new_token = projects.cost_change_reissue(actor=org.salesperson, change=two_changes["a"])
    _refused(two_changes["token_a"], 410)
    assert Client().get(link(new_token)).status_code == 200
    projects.cost_change_withdraw(actor=org.salesperson, change=CostChange.objects.get(pk=two_changes["b"].pk))
    _refused(two_changes["token_b"], 410)
    assert _pending(two_changes["a"])


def test_a_link_to_a_deleted_project_is_refused(org: Any, two_changes: dict[str, Any]) -> None:
    from guanxi.core.services import records

    project = Project.objects.get(pk=two_changes["one"].project_id)
    records.record_delete(actor=org.manager, obj=project)
    _refused(two_changes["token_a"], 404)
    records.record_restore(actor=org.manager, obj=Project.all_objects.get(pk=project.pk))
    assert Client().get(link(two_changes["token_a"])).status_code == 200
    records.record_delete(actor=org.manager, obj=Account.objects.get(pk=project.account_id))
    _refused(two_changes["token_b"], 404)


def test_staff_cannot_decide_through_the_link_url_of_a_hidden_cost_change(org: Any, api: Any,
                                                                           two_changes: dict[str, Any]) -> None:
    """Staff record a decision through the API only on cost changes they see (404 like missing)."""
    client = api(org.outsider)
    before = fingerprint()
    response = client.client.post(f"/api/v1/cost-changes/{two_changes['a'].pk}/record-decision",
                                  {"decision": "approve", "customer_name": "冒充的客户"})
    missing = client.client.post(f"/api/v1/cost-changes/{MISSING_ID}/record-decision",
                                 {"decision": "approve", "customer_name": "冒充的客户"})
    assert response.status_code == missing.status_code == 404
    assert response.json() == missing.json()
    assert fingerprint() == before
