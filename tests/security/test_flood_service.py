"""A bounded flood of the public doors on 127.0.0.1: the feedback form and the survey link.

Real HTTP against pytest-django's live server, from a pool of threads, every submission with a
valid anti-spam stamp (an aged signed token, its own nonce) and a valid CSRF pair:

* the form from one client address (127.0.0.1) and, at the same time, from a second one
  (127.0.0.2 — the whole 127/8 is the loopback): each address gets exactly the configured
  allowance, after which it is answered 429 and nothing it sends is stored; every submission
  answered with the thank-you page is stored exactly once (cases counted by a unique marker in
  the subject), under the case number that page showed; a few submissions with a used stamp or
  a filled-in honeypot in the flood store nothing; the server answers every request (no 5xx, no
  dropped connection);
* one survey link answered 40 times at once → one response; many links from one address →
  answered up to the survey allowance, then 429, and a response exists exactly for the answers
  that went through.

Bounded: a few hundred requests, a handful of threads, a timeout per request; about ten seconds.
Traffic goes only to the live server on this machine. On PostgreSQL the requests run eight at a
time. SQLite's test database lives in memory, and the live server's threads then share the test's
one connection (a second writer fails at once with "table is locked", which production's file
database with WAL and a busy timeout never does): there the same flood is sent one request at a
time, which still checks the limits and that nothing is lost or doubled.
"""

from __future__ import annotations

import http.client
import re
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

FORM_LIMIT, SURVEY_LIMIT = 20, 12
PER_ADDRESS = {"127.0.0.1": 140, "127.0.0.2": 60}
CONCURRENT = 8
TIMEOUT = 20


@dataclass
class Answer:
    status: int
    body: str
    location: str = ""


class Door:
    """HTTP from one client address to the live server, with that address's CSRF cookie and token."""

    def __init__(self, live_server: Any, address: str) -> None:
        parts = urllib.parse.urlsplit(live_server.url)
        self.host, self.port, self.address = parts.hostname or "localhost", parts.port or 80, address
        self.cookie = ""
        self.csrf = ""

    def request(self, method: str, path: str, fields: dict[str, str] | None = None) -> Answer:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT,
                                                source_address=(self.address, 0))
        try:
            headers = {"Host": f"{self.host}:{self.port}", "Accept-Language": "zh-CN"}
            if self.cookie:
                headers["Cookie"] = self.cookie
            body = None
            if fields is not None:
                body = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": self.csrf})
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                headers["Referer"] = f"http://{self.host}:{self.port}{path}"
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            for header, value in response.getheaders():
                if header.lower() == "set-cookie" and value.startswith("csrftoken="):
                    self.cookie = value.split(";", 1)[0]
            return Answer(response.status, text, response.getheader("Location") or "")
        finally:
            connection.close()

    def prime(self, path: str) -> None:
        """GET a page once for the CSRF cookie and the form's token."""
        page = self.request("GET", path)
        assert page.status == 200, (path, page.status)
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
        assert found and self.cookie, "no CSRF token on the page"
        self.csrf = found.group(1)


def workers() -> int:
    from django.db import connection

    return 1 if connection.vendor == "sqlite" and connection.is_in_memory_db() else CONCURRENT


def _code(answer: Answer) -> str | None:
    found = re.search(r'data-testid="case-code">([^<]+)<', answer.body)
    return found.group(1).strip() if found else None


@pytest.fixture
def flood_org(transactional_db: Any, django_db_serialized_rollback: Any, org: Any, settings: Any) -> Any:
    """The personas in a database the live server's threads see; the limits of this test."""
    settings.GUANXI_FEEDBACK_RATE = f"{FORM_LIMIT}/1h"
    settings.GUANXI_SURVEY_RATE = f"{SURVEY_LIMIT}/1h"
    settings.GUANXI_FEEDBACK_MIN_SECONDS = 3
    cache.clear()
    return org


def test_the_feedback_form_under_a_flood(flood_org: Any, live_server: Any) -> None:
    from guanxi.service.models import Case, FeedbackForm
    from guanxi.service.views.intake import form_token

    form = FeedbackForm.objects.create(slug="main", title="意见与投诉", responder=flood_org.service, is_default=True)
    run = uuid.uuid4().hex[:6]
    doors = {address: Door(live_server, address) for address in PER_ADDRESS}
    for door in doors.values():
        door.prime("/feedback/")
    window = int(time.time() // 3600)
    used = form_token(form, issued_at=time.time() - 30)

    def submission(address: str, n: int) -> tuple[str, int, str, Answer]:
        kind = "good"
        token = form_token(form, issued_at=time.time() - 30)
        fields = {"kind": "complaint", "title": f"FLOOD{run}-{address}-{n}", "description": "压力测试留言",
                  "name": "压力测试", "phone": "13900001111", "wants_reply": "on", "website": "", "token": token}
        if n % 25 == 7:  # a robot filling in the honeypot
            kind, fields["website"] = "spam", "http://spam.example"
        elif n % 25 == 13:  # a stamp already used (sent twice)
            kind, fields["token"] = "replay", used
        try:
            return kind, n, address, doors[address].request("POST", "/feedback/", fields)
        except OSError as exc:  # a dropped connection is a failure of the test, not of the thread
            return kind, n, address, Answer(-1, repr(exc))

    jobs = [(address, n) for n in range(max(PER_ADDRESS.values())) for address, count in PER_ADDRESS.items()
            if n < count]
    # The stamp used once before the flood starts (its replays are refused or answered with the same number).
    first = doors["127.0.0.1"].request("POST", "/feedback/", {
        "kind": "complaint", "title": f"FLOOD{run}-first", "description": "第一条", "name": "甲", "phone": "13900001111",
        "wants_reply": "on", "website": "", "token": used})
    assert first.status == 200 and _code(first), first.body[:300]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers()) as pool:
        results = list(pool.map(lambda job: submission(*job), jobs))
    elapsed = time.monotonic() - started

    broken = [(a, n, r.status, r.body[:200]) for _k, n, a, r in results if r.status < 200 or r.status >= 500]
    assert not broken, f"the server failed {len(broken)} requests: {broken[:5]}"
    crossed = int(time.time() // 3600) != window
    for address in PER_ADDRESS:
        mine = [(kind, n, r) for kind, n, a, r in results if a == address]
        allowance = FORM_LIMIT - (1 if address == "127.0.0.1" else 0)  # the first submission counted too
        accepted = [(kind, n, r) for kind, n, r in mine if r.status == 200 and _code(r)]
        limited = [(kind, n, r) for kind, n, r in mine if r.status == 429]
        assert {r.status for _k, _n, r in mine} <= {200, 400, 409, 422, 429}, {r.status for _k, _n, r in mine}
        counted = len(mine) - len(limited)
        assert counted == allowance or (crossed and counted <= 2 * FORM_LIMIT), (address, counted, allowance)
        assert len(limited) == len(mine) - counted
        # Only well-formed, fresh submissions make cases; a replay shows the first number at most.
        for kind, n, r in mine:
            title = f"FLOOD{run}-{address}-{n}"
            stored = Case.objects.filter(title=title).count()
            if kind == "good" and r.status == 200:
                assert stored == 1, (title, stored)
                assert Case.objects.get(title=title).code == _code(r)
            else:
                assert stored == 0, (title, kind, r.status)
            if kind == "replay" and r.status == 200:
                assert _code(r) == _code(first)
        assert all(kind == "good" for kind, _n, r in accepted if _code(r) != _code(first))
    stored = Case.objects.filter(title__startswith=f"FLOOD{run}-").count()
    thanked = {_code(r) for _k, _n, _a, r in results if r.status == 200 and _code(r)} | {_code(first)}
    assert stored == len(thanked), (stored, len(thanked))
    assert elapsed < 60, f"the flood took {elapsed:.1f} s"


def test_the_survey_link_under_a_flood(flood_org: Any, live_server: Any) -> None:
    from guanxi.loyalty.models import Invitation, Response, Survey
    from guanxi.loyalty.services import invitations

    survey = Survey.objects.get(touchpoint="case_closed", active=True, deleted_at__isnull=True)
    questions = list(survey.questions.all())
    answers = {f"q{q.pk}": {"rater": "4", "nps": "9", "csat": "5"}.get(q.type, "很好") for q in questions}

    def link(n: int) -> tuple[Invitation, str]:
        return invitations.invite(actor=None, survey=survey, touchpoint="case_closed", source=f"flood:{n}",
                                  owner=flood_org.service)

    # One link answered 40 times at once, from one address.
    invitation, raw = link(0)
    door = Door(live_server, "127.0.0.3")
    door.prime(f"/survey/{raw}/")
    with ThreadPoolExecutor(max_workers=workers()) as pool:
        results = list(pool.map(lambda _n: door.request("POST", f"/survey/{raw}/", answers), range(40)))
    statuses = [r.status for r in results]
    assert all(200 <= s < 500 for s in statuses), statuses
    assert Response.objects.filter(invitation=invitation).count() == 1
    assert statuses.count(302) == 1, statuses  # one answer went through; the rest were told it was answered
    assert set(statuses) <= {200, 302, 410, 429}, set(statuses)

    # Many links from another address: answered up to the allowance (the priming GET counts), then 429.
    links = [link(n) for n in range(1, 31)]
    other = Door(live_server, "127.0.0.4")
    other.prime(f"/survey/{links[0][1]}/")
    with ThreadPoolExecutor(max_workers=workers()) as pool:
        outcome = list(pool.map(lambda pair: (pair[0], other.request("POST", f"/survey/{pair[1]}/", answers)), links))
    assert all(200 <= r.status < 500 for _i, r in outcome), [r.status for _i, r in outcome]
    through = {i.pk for i, r in outcome if r.status == 302}
    limited = [i.pk for i, r in outcome if r.status == 429]
    assert len(through) == SURVEY_LIMIT - 1 and len(limited) == len(links) - len(through), (len(through), len(limited))
    answered = set(Response.objects.filter(invitation__in=[i for i, _r in links]).values_list("invitation_id",
                                                                                              flat=True))
    assert answered == through
