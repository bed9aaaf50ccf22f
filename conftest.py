"""Shared test fixtures: the named personas every test uses, API helpers, the real queue."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.test import Client

os.environ.setdefault("GUANXI_TESTING", "1")
PASSWORD = "Persona-Pass-2026!"


@contextmanager
def module_data(django_db_blocker: Any) -> Iterator[None]:
    """Data built once for a whole test module (e.g. the demo company, ~10 s on PostgreSQL),
    inside a transaction rolled back when the module ends; each test's own transaction nests
    in it, so what a test changes is undone after the test as usual. Fast password hashing,
    as for every test."""
    from django.db import transaction
    from django.test import override_settings

    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def settled(data: Any) -> Any:
    """Check the foreign keys of what a module's fixture just built, once, and return ``data``.

    On PostgreSQL the foreign keys are checked at commit (deferred); the module's rows never
    commit, so their checks stay queued in the outer transaction, and every test's teardown
    (``SET CONSTRAINTS ALL IMMEDIATE`` inside the test's savepoint, then rolled back) ran them all
    again: seconds per test for the demo company. Checked here in the outer transaction, they
    are done for the module; each test's teardown checks only what the test wrote."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if connection.features.can_defer_constraint_checks and connection.in_atomic_block:
            connection.check_constraints()
    return data


def drawn_grades() -> None:
    """Give each demo account back the grade its history and sales were drawn with.

    The demo ends with a rating by the rules (``guanxi.demo.settle_ratings``); the draws before it
    read the drawn grade, which that closing rating keeps as its ``previous_grade``. A test that
    draws an account again, to compare with what the build wrote, first calls this (inside its
    own transaction, so it is rolled back)."""
    from django.db.models import OuterRef, Subquery

    from guanxi.customers.models import Account, AccountRating

    closing = AccountRating.objects.filter(account=OuterRef("pk")).order_by("-pk").values("previous_grade")[:1]
    Account.all_objects.update(grade=Subquery(closing))


FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a transactional test without serialized rollback.

    Such a test's teardown flushes the tables and runs post_migrate, which writes the content
    types and permissions again but not the roles and policies the data migrations seed: every
    later test needing a role fails, and every later serialized-rollback test fails to load its
    snapshot (UNIQUE constraint failed: django_content_type). Caught here, at collection, instead
    of as dozens of errors far from the cause depending on the order the tests run in."""
    wrong = []
    for item in items:
        marker = item.get_closest_marker("django_db")
        kwargs = marker.kwargs if marker else {}
        names = getattr(item, "fixturenames", [])
        transactional = kwargs.get("transaction") or "transactional_db" in names or "live_server" in names
        serialized = kwargs.get("serialized_rollback") or "django_db_serialized_rollback" in names
        if transactional and not serialized:
            wrong.append(item.nodeid)
    if wrong:
        raise pytest.UsageError(
            "transactional tests must also ask for serialized rollback "
            "(pytest.mark.django_db(transaction=True, serialized_rollback=True)):\n  " + "\n  ".join(wrong))


@pytest.fixture(autouse=True)
def _fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def org(db: Any) -> Any:
    """A small company: HQ with East sales (a team of two), South sales, service, marketing.

    Built in bulk, in nine queries, in the order a one-by-one build takes (that took seventy: 25 ms
    a test on SQLite, 56 ms on PostgreSQL, and some 1,300 tests ask for it). The rows are what
    ``Department.objects.create`` and ``User.objects.create_user`` make: tests/test_fixtures.py
    compares them."""
    from django.contrib.auth.hashers import make_password

    from guanxi.core.models import Department, Role, Team, User

    def level(*rows: tuple[str, Department | None]) -> list[Department]:
        made = Department.objects.bulk_create([Department(name=name, parent=parent) for name, parent in rows])
        for d in made:
            d.path = (d.parent.path if d.parent else "/") + f"{d.pk}/"
        return made

    (hq,) = level(("总公司", None))
    (east,) = level(("华东销售部", hq))
    east_sub, south, service_dept, marketing_dept = level(("上海办事处", east), ("华南销售部", hq), ("客户服务部", hq),
                                                          ("市场部", hq))
    Department.objects.bulk_update([hq, east, south, service_dept, marketing_dept, east_sub], ["path"])

    people = [  # attribute, username, department, role, name
        ("salesperson", "sales", east, "salesperson", "王伟"),
        ("teammate", "sales2", east, "salesperson", "李娜"),
        ("sub_sales", "sales3", east_sub, "salesperson", "张敏"),
        ("manager", "manager", east, "sales_manager", "刘洋"),
        ("gm", "gm", hq, "general_manager", "陈总"),
        ("service", "service", service_dept, "service_agent", "赵静"),
        ("marketing", "marketing", marketing_dept, "marketing", "孙丽"),
        ("outsider", "outsider", south, "salesperson", "周杰"),
        ("south_manager", "manager_s", south, "sales_manager", "吴刚"),
        ("admin", "admin", hq, "admin", "管理员"),
        # The service desk: a manager over the department, a team leader and two agents in the team.
        ("service_manager", "service_mgr", service_dept, "service_manager", "黄蓉"),
        ("service2", "service2", service_dept, "service_agent", "郑爽"),
        ("service_lead", "service_lead", service_dept, "service_agent", "钱峰"),
    ]
    roles = {role.code: role for role in Role.objects.filter(code__in={p[3] for p in people})}
    password = make_password(PASSWORD)
    users = User.objects.bulk_create([User(username=User.normalize_username(username), password=password, name=name,
                                           department=department) for _attr, username, department, _role, name in people])
    User.roles.through.objects.bulk_create([User.roles.through(user=user, role=roles[person[3]])
                                            for user, person in zip(users, people, strict=True)])

    class Org:
        pass

    o = Org()
    o.hq, o.east, o.east_sub, o.south = hq, east, east_sub, south
    o.service_dept = service_dept
    for user, person in zip(users, people, strict=True):
        setattr(o, person[0], user)
    o.team, o.service_team = Team.objects.bulk_create([
        Team(name="华东一组", department=east), Team(name="客服一组", department=service_dept, leader=o.service_lead)])
    Team.members.through.objects.bulk_create([
        Team.members.through(team=team, user=user)
        for team, user in ((o.team, o.salesperson), (o.team, o.teammate),
                           (o.service_team, o.service), (o.service_team, o.service2))])
    return o


@pytest.fixture
def login() -> Any:
    def make(user: Any) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def api(db: Any) -> Any:
    """Return a function giving an API client authenticated with a fresh bearer token."""
    from guanxi.core.services.tokens import token_create

    class Api:
        def __init__(self, user: Any) -> None:
            _token, raw = token_create(actor=user, name="test")
            self.client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
            self.user = user

        def _call(self, method: str, path: str, data: Any = None, **extra: Any) -> Any:
            fn = getattr(self.client, method)
            if method in {"post", "patch", "put"}:
                return fn(path, data=data if data is not None else {}, content_type="application/json", **extra)
            return fn(path, data=data, **extra)

        def get(self, path: str, data: Any = None, **extra: Any) -> Any:
            return self._call("get", path, data, **extra)

        def post(self, path: str, data: Any = None, **extra: Any) -> Any:
            return self._call("post", path, data, **extra)

        def patch(self, path: str, data: Any = None, **extra: Any) -> Any:
            return self._call("patch", path, data, **extra)

        def put(self, path: str, data: Any = None, **extra: Any) -> Any:
            return self._call("put", path, data, **extra)

        def delete(self, path: str, **extra: Any) -> Any:
            return self.client.delete(path, **extra)

    return Api


@pytest.fixture
def account_factory(db: Any) -> Any:
    from guanxi.core import codes
    from guanxi.customers.models import Account

    def make(owner: Any = None, **fields: Any) -> Account:
        fields.setdefault("name", f"测试公司{codes.reserve('test-account')[0]}有限公司")
        return Account.objects.create(code=codes.next_customer_code(), owner=owner,
                                      department=owner.department if owner else None, **fields)

    return make


@pytest.fixture
def run_queue(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run every task waiting on the real (embedded SQLite) queue, in this process.

    huey's db_task wrapper closes old connections around each task; inside a test's
    transaction that would close the test's own connection (PostgreSQL), so it is a no-op here.
    """
    from huey.contrib import djhuey
    from huey.contrib.djhuey import HUEY

    monkeypatch.setattr(djhuey, "close_old_connections", lambda: None)

    def drain() -> int:
        count = 0
        while (task := HUEY.dequeue()) is not None:
            HUEY.execute(task)
            count += 1
        return count

    HUEY.flush()
    return drain
