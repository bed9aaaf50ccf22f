"""S18 — lost updates on the core records: 40 concurrent writers on PostgreSQL.

Accounts, contacts, follow-ups (activities) and cases (service) change with optimistic locking:
the write carries the version its writer read, and a stale one is refused (409 through the API,
``Conflict`` from the service) without changing anything. Forty threads, each on its own
database connection, released together (``together`` from the sales test):

* all write the same record with the version they read, half through the real API
  (``PATCH /api/v1/<records>/<id>`` with ``version``) and half through the service: exactly
  one wins, the other 39 get 409 / Conflict, the row holds the winner's value, its version
  went up by exactly one and there is exactly one audit row for the change;
* all count on the same record (a number kept in a text field: read it, add one, write it
  back with the version read — half by ``PATCH``, half through the service), each retrying
  after a 409 / Conflict until its increment lands, K times each: the final value is 40 × K —
  not one increment lost — the version went up by exactly 40 × K, one audit row per increment,
  and there were more attempts than increments (the writers did collide). Counting runs on an
  account (guarded like contacts and follow-ups by ``records.apply_update``'s
  ``WHERE version =``) and a case (guarded by ``cases.lock``'s row lock).

SQLite serialises writers on one file, so the race cannot happen there: PostgreSQL only.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.test import Client
from django.utils import timezone

from guanxi.activities.models import FollowUp
from guanxi.core.errors import Conflict
from guanxi.core.models import AuditEvent
from guanxi.customers.models import Account, Contact
from guanxi.service.models import Case
from tests.security.test_lost_updates_sales import WRITERS, together
from tests.security.test_lost_updates_service import _case

pytestmark = [
    pytest.mark.skipif("postgresql" not in settings.DATABASES["default"]["ENGINE"],
                       reason="S18 needs real concurrent writers: SQLite serialises them on one file"),
    # serialized_rollback: the flush after each test would otherwise also remove the roles
    # the data migrations seed, which every later test relies on.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
# Increments per writer in the counting test: 40 × 2 = 80 writes that all must land on one row,
# each after however many 409s it takes.
K = 2


@dataclass(frozen=True)
class Kind:
    model: type[models.Model]
    path: str  # the API's URL of one record
    field: str  # a free-text field the writers write (and count in)
    actor: str  # the persona (an attribute of ``org``) who may edit the record
    service: Callable[..., Any]  # service(actor=, obj=, changes=, expected_version=)


def _account_update(*, actor: Any, obj: Any, changes: dict[str, Any], expected_version: int) -> Any:
    from guanxi.customers import services

    return services.account_update(actor=actor, account=obj, changes=changes, expected_version=expected_version)


def _contact_update(*, actor: Any, obj: Any, changes: dict[str, Any], expected_version: int) -> Any:
    from guanxi.customers import services

    return services.contact_update(actor=actor, contact=obj, changes=changes, expected_version=expected_version)


def _followup_update(*, actor: Any, obj: Any, changes: dict[str, Any], expected_version: int) -> Any:
    from guanxi.activities import services

    return services.followup_update(actor=actor, followup=obj, changes=changes, expected_version=expected_version)


def _case_update(*, actor: Any, obj: Any, changes: dict[str, Any], expected_version: int) -> Any:
    from guanxi.service.services import cases

    return cases.case_update(actor=actor, case=obj, changes=changes, expected_version=expected_version)


KINDS = {
    "account": Kind(Account, "/api/v1/accounts/{pk}", "notes", "salesperson", _account_update),
    "contact": Kind(Contact, "/api/v1/contacts/{pk}", "background", "salesperson", _contact_update),
    "followup": Kind(FollowUp, "/api/v1/followups/{pk}", "notes", "salesperson", _followup_update),
    "case": Kind(Case, "/api/v1/cases/{pk}", "description", "service", _case_update),
}


def _record(kind: str, org: Any, account_factory: Any) -> models.Model:
    """A fresh record of the kind, owned by the persona who edits it, its text field "0"."""
    from guanxi.activities import services as activities
    from guanxi.customers import services as customers

    if kind == "case":
        case = _case(org, 0)
        Case.objects.filter(pk=case.pk).update(description="0")
        case.refresh_from_db()
        return case
    account = account_factory(org.salesperson, name="杭州并发测试机电有限公司")
    if kind == "account":
        Account.objects.filter(pk=account.pk).update(notes="0")
        account.refresh_from_db()
        return account
    if kind == "contact":
        return customers.contact_create(actor=org.salesperson, account=account, name="林并发", background="0")
    return activities.followup_create(actor=org.salesperson, account=account, title="回访并发",
                                      due_at=timezone.now() + dt.timedelta(days=3), notes="0")


def _token(user: Any) -> str:
    """A bearer token of the user's; each thread makes its own Client with it."""
    from guanxi.core.services.tokens import token_create

    _token, raw = token_create(actor=user, name="s18-core")
    return str(raw)


def _updates(record: models.Model) -> Any:
    return AuditEvent.objects.filter(action="update", object_id=str(record.pk),
                                     content_type=ContentType.objects.get_for_model(type(record)))


def _one_version_race(kind: str, org: Any, account_factory: Any) -> None:
    spec = KINDS[kind]
    actor = getattr(org, spec.actor)
    record = _record(kind, org, account_factory)
    version, before = record.version, getattr(record, spec.field)  # type: ignore[attr-defined]
    audits = _updates(record).count()
    raw = _token(actor)
    url = spec.path.format(pk=record.pk)

    def write(i: int) -> tuple[str, Any]:
        value = f"写入者{i:02d}"
        if i % 2:  # through the service, with the version read before the others wrote
            fresh = spec.model.objects.get(pk=record.pk)
            fresh.version = version  # type: ignore[attr-defined]
            spec.service(actor=actor, obj=fresh, changes={spec.field: value}, expected_version=version)
            return "won", value
        response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").patch(
            url, {"version": version, spec.field: value}, content_type="application/json")
        if response.status_code == 200:
            body = response.json()
            assert body[spec.field] == value and body["version"] == version + 1, body
            return "won", value
        return "refused", (response.status_code, response.json().get("code"))

    results = together(write)
    won = [r[1] for r in results if isinstance(r, tuple) and r[0] == "won"]
    by_api = [r[1] for r in results if isinstance(r, tuple) and r[0] == "refused"]
    by_service = [r for r in results if isinstance(r, Conflict)]
    assert len(won) + len(by_api) + len(by_service) == WRITERS, \
        (kind, [r for r in results if not isinstance(r, tuple | Conflict)][:3])
    assert len(won) == 1, (kind, results[:3])
    # Through either door a stale write is refused alike: 409 from the API, Conflict from the service.
    assert by_api == [(409, Conflict.code)] * len(by_api), (kind, by_api[:3])
    assert sorted([len(by_api), len(by_service)]) == [WRITERS // 2 - 1, WRITERS // 2], kind
    after = spec.model.objects.get(pk=record.pk)
    assert getattr(after, spec.field) == won[0] != before, kind
    assert after.version == version + 1, f"{kind}: a stale write changed the record"  # type: ignore[attr-defined]
    assert _updates(record).count() == audits + 1, f"{kind}: one audit row for the one write that landed"


def test_forty_writers_with_one_version_one_wins_the_rest_409(org: Any, account_factory: Any) -> None:
    # One test for the four kinds: each transactional test costs a flush and a reload of the
    # seeded rows (seconds on PostgreSQL), the races themselves take a fraction of that.
    for kind in KINDS:
        _one_version_race(kind, org, account_factory)


def _count_until_landed(spec: Kind, pk: int, actor: Any, raw: str, seed: int) -> int:
    """Add one to the number in the record's text field ``K`` times: read the row, add one, write
    it back with the version read — through the API (``PATCH``; even seeds) or the service (odd
    ones); on 409 / Conflict back off a random moment, doubling its bound with each miss (as a
    well-behaved client does), and read again.

    Returns the number of attempts."""
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    url = spec.path.format(pk=pk)
    jitter = random.Random(seed)
    attempts = 0
    for _ in range(K):
        misses = 0
        while True:
            attempts += 1
            if attempts > 1000:
                raise AssertionError("an increment never landed")
            current = spec.model.objects.get(pk=pk)
            version, changes = current.version, {spec.field: str(int(getattr(current, spec.field)) + 1)}  # type: ignore[attr-defined]
            if seed % 2:
                try:
                    spec.service(actor=actor, obj=current, changes=changes, expected_version=version)
                    break
                except Conflict:
                    pass
            else:
                response = client.patch(url, {"version": version, **changes}, content_type="application/json")
                if response.status_code == 200:
                    break
                assert response.status_code == 409, (response.status_code, response.content[:300])
            misses += 1
            time.sleep(jitter.uniform(0, min(0.5, 0.02 * 2 ** misses)))
    return attempts


def _counting_race(kind: str, org: Any, account_factory: Any) -> None:
    spec = KINDS[kind]
    record = _record(kind, org, account_factory)
    version = record.version  # type: ignore[attr-defined]
    audits = _updates(record).count()
    actor = getattr(org, spec.actor)
    raw = _token(actor)

    results = together(lambda i: _count_until_landed(spec, record.pk, actor, raw, seed=i))
    assert all(isinstance(r, int) for r in results), (kind, [r for r in results if not isinstance(r, int)][:3])
    after = spec.model.objects.get(pk=record.pk)
    assert getattr(after, spec.field) == str(WRITERS * K), f"{kind}: lost updates"
    assert after.version == version + WRITERS * K, kind  # type: ignore[attr-defined]
    assert _updates(record).count() == audits + WRITERS * K, f"{kind}: one audit row per increment"
    assert sum(results) > WRITERS * K, f"{kind}: the writers never collided, the race proves nothing"


# Counting makes O(writers²) attempts, so it runs on the two ways a write is guarded: accounts (like
# contacts and follow-ups) through ``records.apply_update``'s ``WHERE version =``, cases under
# ``cases.lock``'s row lock. The one-version race above covers all four kinds.
COUNTED = ("account", "case")


def test_forty_counting_writers_retrying_on_409_lose_no_increment(org: Any, account_factory: Any) -> None:
    for kind in COUNTED:
        _counting_race(kind, org, account_factory)
