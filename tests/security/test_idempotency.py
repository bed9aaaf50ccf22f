"""S19 — retried POSTs: one Idempotency-Key means one record, however many copies arrive at once."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from django.db import connections
from django.test import Client

from guanxi.core.models import IdempotencyRecord
from guanxi.core.services.tokens import token_create
from guanxi.customers.models import Account

# serialized_rollback: the flush after each test would otherwise also remove the roles and
# the approval policy the data migrations seed, which every later test relies on.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
PARALLEL = 50
T = TypeVar("T")


def in_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` on a fresh thread, with that thread's own database connection."""

    def run() -> T:
        try:
            return fn()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


@pytest.fixture
def shared_database(org, token, tmp_path) -> Iterator[None]:
    """Let threads write concurrently on SQLite the way production does.

    The SQLite test database lives in memory with a shared cache, where a second writer
    fails at once with "table is locked" instead of waiting. For the length of the test,
    threads open a file copy (WAL, busy timeout — the production settings) instead.
    PostgreSQL needs nothing.
    """
    main = connections["default"]
    if main.vendor != "sqlite" or not main.is_in_memory_db():
        yield
        return
    path = str(tmp_path / "concurrent.sqlite3")
    main.ensure_connection()
    target = sqlite3.connect(path)
    main.connection.backup(target)
    target.close()
    settings_dict = connections.settings["default"]
    original = settings_dict["NAME"]
    settings_dict["NAME"] = path
    try:
        yield
    finally:
        settings_dict["NAME"] = original


@pytest.fixture
def token(org) -> str:
    _token, raw = token_create(actor=org.salesperson, name="idempotency")
    return raw


def post(token: str, body: dict[str, Any], key: str | None) -> tuple[int, dict[str, Any], str | None]:
    """One POST from a fresh client, as a retrying HTTP client would send it."""
    try:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        extra = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        response = client.post("/api/v1/accounts", data=json.dumps(body), content_type="application/json", **extra)
        return response.status_code, response.json(), response.headers.get("Idempotent-Replayed")
    finally:
        connections.close_all()


def test_fifty_parallel_posts_with_one_key_create_one_account(org, token, shared_database):
    key = str(uuid.uuid4())
    body = {"name": "并发重试客户有限公司", "region": "上海"}
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _i: post(token, body, key), range(PARALLEL)))
    statuses = [status for status, _body, _replayed in answers]
    assert statuses == [201] * PARALLEL, [a for a in answers if a[0] != 201][:3]
    ids = {answer["id"] for _status, answer, _replayed in answers}
    assert len(ids) == 1, ids
    accounts = in_thread(lambda: list(Account.all_objects.values_list("pk", flat=True)))
    assert accounts == list(ids)
    replayed = [flag for _status, _answer, flag in answers]
    assert replayed.count("true") == PARALLEL - 1, replayed
    assert replayed.count(None) == 1
    assert in_thread(lambda: IdempotencyRecord.objects.filter(key=key).count()) == 1


def test_parallel_posts_with_different_keys_each_create_one_account(org, token, shared_database):
    keys = [str(uuid.uuid4()) for _ in range(10)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda k: post(token, {"name": f"客户{k[:8]}"}, k), keys * 3))
    assert {status for status, _a, _r in answers} == {201}
    assert len({a["id"] for _s, a, _r in answers}) == len(keys)
    assert in_thread(lambda: Account.all_objects.count()) == len(keys)


def test_same_key_with_another_body_is_refused(org, token):
    key = str(uuid.uuid4())
    status, first, _ = post(token, {"name": "甲公司"}, key)
    assert status == 201, first
    status, answer, replayed = post(token, {"name": "乙公司"}, key)
    assert status == 422, answer
    assert answer["code"] == "idempotency_mismatch"
    assert replayed is None
    assert list(Account.objects.values_list("name", flat=True)) == ["甲公司"]


def test_same_key_on_another_path_is_refused(org, token):
    key = str(uuid.uuid4())
    assert post(token, {"name": "甲公司"}, key)[0] == 201
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.post("/api/v1/accounts/export", data=json.dumps({"name": "甲公司"}),
                           content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_mismatch"


def test_different_keys_create_different_accounts(org, token):
    body = {"name": "同名客户有限公司"}
    answers = [post(token, body, str(uuid.uuid4())) for _ in range(3)]
    assert [status for status, _a, _r in answers] == [201, 201, 201]
    assert len({a["id"] for _s, a, _r in answers}) == 3
    assert Account.objects.filter(name="同名客户有限公司").count() == 3


def test_post_without_key_works_normally(org, token):
    first = post(token, {"name": "无键客户有限公司"}, None)
    second = post(token, {"name": "无键客户有限公司"}, None)
    assert first[0] == second[0] == 201
    assert first[1]["id"] != second[1]["id"]
    assert first[2] is None and second[2] is None
    assert not IdempotencyRecord.objects.exists()


def test_keys_belong_to_their_caller(org, token):
    """Another user sending the same key gets their own record, never the first caller's answer."""
    key = str(uuid.uuid4())
    status, mine, _ = post(token, {"name": "我的客户有限公司"}, key)
    assert status == 201
    _t, other_token = token_create(actor=org.teammate, name="other")
    status, theirs, replayed = post(other_token, {"name": "我的客户有限公司"}, key)
    assert status == 201 and replayed is None
    assert theirs["id"] != mine["id"]
    assert theirs["owner"] == org.teammate.pk


def test_failed_request_is_replayed_as_the_same_failure(org, token):
    key = str(uuid.uuid4())
    bad = {"name": "坏信用代码有限公司", "credit_code": "91350100M000100Y44"}
    first = post(token, bad, key)
    again = post(token, bad, key)
    assert first[0] == again[0] == 422
    assert first[1] == again[1]
    assert again[2] == "true"
    assert not Account.objects.exists()
