"""The demo company: documented sizes, valid identifiers, named logins, determinism, idempotence."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.db.models import F
from django.test import RequestFactory

from conftest import module_data, settled
from guanxi.core import demo_load
from guanxi.core.models import CodeSequence, Department, Team, User
from guanxi.core.tests.test_demo_load import index_definitions
from guanxi.core.validators import is_mobile, is_valid_credit_code
from guanxi.customers.models import Account
from guanxi.demo import (
    DEMO_PASSWORD,
    JOBS_DONE,
    POOL_DONE,
    RATING_DONE,
    RATING_MARKER,
    SIZES,
    account_code,
    build_demo,
    chinese_number,
    generate_accounts,
    plan_organisation,
    settle_jobs,
    settle_pool,
    settle_ratings,
)

# Pinned so the in-memory generation below sees the same history as the build.
NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
# Marked for the database so pytest-django runs these with the other database tests, before
# the transactional ones whose flush empties the tables the migrations seed.
pytestmark = pytest.mark.django_db

FIXED_LOGINS = {
    "admin": ("admin", "总公司"),
    "gm": ("general_manager", "总公司"),
    "manager": ("sales_manager", "华东销售部"),
    "sales": ("salesperson", "华东销售部"),
    "sales2": ("salesperson", "华东销售部"),
    "service": ("service_agent", "客户服务部"),
    "service2": ("service_agent", "客户服务部"),
    "servicemgr": ("service_manager", "客户服务部"),
    "marketing": ("marketing", "市场部"),
    "outsider": ("salesperson", "华南销售部"),
}


@pytest.fixture
def fast_hashing(settings: Any) -> None:
    # Logging eight users in with PBKDF2 costs seconds; the password logic is the same.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def demo(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    """Built once for the module (rolled back at its end); each test runs in its own transaction.
    Notes the indexes before and the ones the bulk load deferred (dropped, built again after)."""
    with module_data(django_db_blocker):
        before = index_definitions()
        deferred: list[str] = []
        real = demo_load.defer_indexes

        def recording(tables: Any, **options: Any) -> list[str]:
            names = real(tables, **options)
            deferred.extend(names)
            return names

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(demo_load, "defer_indexes", recording)
            built = settled(build_demo("S", now=NOW))
        yield {**built, "indexes_before": before, "deferred": deferred}


def test_the_bulk_load_ends_with_exactly_the_indexes_the_migrations_made(demo: dict[str, Any]) -> None:
    after = index_definitions()
    assert after == demo["indexes_before"]
    if demo_load.postgres():
        # The load really went without them: accounts, history, sales, service and surveys.
        deferred = set(demo["deferred"])
        assert {"customers_account_search_trgm", "customers_a_owner_i_9ae7e1_idx"} <= deferred
        assert {name.split("_")[0] for name in deferred} >= {"customers", "activities", "sales", "service", "loyalty"}
        assert deferred <= {name for name, _definition in after}
        assert not demo_load.deferred_tables()
    else:
        assert demo["deferred"] == []


def test_size_s_has_the_documented_counts(demo: dict[str, Any]) -> None:
    spec = SIZES["S"]
    assert demo["created"] is True
    assert demo["size"] == "S"
    # The benchmark table counts departments below the company; the root is the company.
    assert Department.objects.count() == 1 + spec.departments == demo["departments"]
    assert User.objects.count() == spec.users == demo["users"]
    assert Account.objects.count() == spec.accounts == demo["accounts"]
    assert CodeSequence.objects.get(name="customer").value == spec.accounts


def test_every_credit_code_is_valid_and_unique_and_every_phone_a_mobile(demo: dict[str, Any]) -> None:
    rows = list(Account.objects.values_list("kind", "credit_code", "phone"))
    codes = [code for kind, code, _ in rows if kind == "enterprise"]
    assert all(is_valid_credit_code(code) for code in codes)
    assert len(set(codes)) == len(codes)
    assert all(code == "" for kind, code, _ in rows if kind == "individual")
    phones = [phone for _, _, phone in rows if phone]
    assert len(phones) > 0.85 * len(rows)
    assert all(is_mobile(phone) for phone in phones)


def test_fixed_logins_have_their_roles_departments_and_password(demo: dict[str, Any]) -> None:
    for username, (role, department) in FIXED_LOGINS.items():
        user = User.objects.get(username=username)
        assert user.role_codes() == {role}, username
        assert user.department is not None and user.department.name == department
        assert user.name  # a Chinese full name, shown everywhere instead of the username
        # django-axes guards authentication and insists on the request it throttles by.
        request = RequestFactory().post("/login/")
        assert authenticate(request, username=username, password=DEMO_PASSWORD) == user, username
    assert User.objects.get(username="admin").is_staff
    assert not User.objects.get(username="sales").is_staff


def test_sales_and_sales2_share_a_team_led_by_the_manager(demo: dict[str, Any]) -> None:
    team = Team.objects.get(name="华东一组")
    assert team.leader is not None and team.leader.username == "manager"
    members = set(team.members.values_list("username", flat=True))
    assert {"sales", "sales2"} <= members
    assert "outsider" not in members


def test_department_paths_follow_parents(demo: dict[str, Any]) -> None:
    departments = list(Department.objects.select_related("parent"))
    roots = [d for d in departments if d.parent is None]
    assert [d.name for d in roots] == ["总公司"]
    for dept in departments:
        expected = f"{dept.parent.path}{dept.pk}/" if dept.parent else f"/{dept.pk}/"
        assert dept.path == expected, dept.name
    root = roots[0]
    assert set(root.subtree_ids()) == {d.pk for d in departments}


def test_ownership_is_skewed_and_follows_departments(demo: dict[str, Any]) -> None:
    owned = Counter(Account.objects.values_list("owner__username", flat=True))
    pool = owned.pop(None, 0)
    assert 0.02 * SIZES["S"].accounts < pool < 0.08 * SIZES["S"].accounts
    assert 40 <= owned["sales"] <= 80  # a realistic book for the salesperson persona
    counts = sorted(owned.values(), reverse=True)
    assert counts[0] > 3 * counts[len(counts) // 2]  # a few salespeople own many
    mismatched = Account.objects.exclude(owner=None).exclude(department=F("owner__department"))
    assert not mismatched.exists()
    assert not Account.objects.filter(owner=None).exclude(department=None).exists()


def test_approved_accounts_name_an_approver_and_a_time(demo: dict[str, Any]) -> None:
    approved = Account.objects.filter(approval_state="approved")
    assert 0.12 * SIZES["S"].accounts < approved.count() < 0.28 * SIZES["S"].accounts
    assert not approved.filter(approved_by=None).exists()
    assert not approved.filter(approved_at=None).exists()
    assert not Account.objects.filter(approval_state="draft").exclude(approved_by=None).exists()
    assert set(approved.values_list("approved_by__username", flat=True)) <= {"manager", "gm", "u0001"}


def test_build_matches_the_in_memory_generation(demo: dict[str, Any]) -> None:
    written = list(Account.objects.order_by("id").values_list("name", "code", "credit_code")[:20])
    generated = [
        (row.name, account_code(number, row), row.credit_code)
        for number, row in enumerate(islice(generate_accounts("S", now=NOW), 20), start=1)
    ]
    assert written == generated


def test_second_build_changes_nothing(demo: dict[str, Any]) -> None:
    before = (Account.objects.count(), User.objects.count(), Department.objects.count(), Team.objects.count(),
              CodeSequence.objects.get(name="customer").value)
    again = build_demo("S", now=NOW)
    assert again["created"] is False
    after = (Account.objects.count(), User.objects.count(), Department.objects.count(), Team.objects.count(),
             CodeSequence.objects.get(name="customer").value)
    assert after == before
    assert (again["accounts"], again["users"], again["departments"]) == (
        demo["accounts"], demo["users"], demo["departments"])


def test_generation_is_deterministic_per_seed() -> None:
    first = [row.name for row in islice(generate_accounts("S", seed=7, now=NOW), 50)]
    second = [row.name for row in islice(generate_accounts("S", seed=7, now=NOW), 50)]
    other = [row.name for row in islice(generate_accounts("S", seed=8, now=NOW), 50)]
    assert first == second
    assert first != other
    assert plan_organisation("M", 7) == plan_organisation("M", 7)


def test_resumed_generation_yields_the_same_rows() -> None:
    full = list(islice(generate_accounts("S", now=NOW), 30))
    resumed = list(islice(generate_accounts("S", now=NOW, start=20), 10))
    assert resumed == full[20:30]


@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_plans_reach_the_documented_sizes(size: str) -> None:
    plan = plan_organisation(size)
    assert len(plan.departments) == 1 + SIZES[size].departments
    assert len(plan.users) == SIZES[size].users
    assert len({u.username for u in plan.users}) == len(plan.users)
    names = [d.name for d in plan.departments]
    assert len(set(names)) == len(names)


def test_chinese_numbers() -> None:
    assert [chinese_number(n) for n in (1, 10, 11, 20, 23)] == ["一", "十", "十一", "二十", "二十三"]


def test_every_account_has_three_people_with_valid_mobiles_and_one_principal(demo: dict[str, Any]) -> None:
    from guanxi.customers.models import Contact

    assert Contact.objects.count() == 3 * SIZES["S"].accounts == demo["contacts"]
    per_account = Counter(Contact.objects.values_list("account_id", flat=True))
    assert set(per_account.values()) == {3}
    assert Contact.objects.filter(role="principal").count() == SIZES["S"].accounts
    assert all(is_mobile(m) for m in Contact.objects.values_list("mobile", flat=True))
    depths = Counter(Contact.objects.values_list("depth", flat=True))
    assert depths["passer_by"] > depths["confidant"] > 0  # few people are 知己


def test_the_demo_ends_with_the_grades_the_rules_give(demo: dict[str, Any]) -> None:
    from guanxi.customers.models import AccountRating
    from guanxi.customers.services.classification import rerate_all

    assert CodeSequence.objects.filter(name=RATING_DONE).exists()
    assert not CodeSequence.objects.filter(name=RATING_MARKER).exists()
    # Every account's last rating is the closing one, at the pinned "now", and its grade is stored.
    closing = AccountRating.objects.filter(rated_at=NOW, kind=AccountRating.Kind.SCHEDULED)
    assert closing.count() == Account.all_objects.count()
    assert not Account.all_objects.exclude(rated_at=NOW).exists()
    stored = dict(Account.all_objects.values_list("id", "grade"))
    assert dict(closing.values_list("account_id", "grade")) == stored
    # So a night's re-rating moves no account (what B7 measures is a normal night).
    before = set(Account.all_objects.values_list("id", "grade", "score", "rated_at"))
    assert rerate_all() == len(before)
    assert set(Account.all_objects.values_list("id", "grade", "score", "rated_at")) == before
    assert len(set(stored.values())) > 1  # the rules tell accounts apart


def test_a_stopped_closing_rating_resumes_after_its_last_chunk(demo: dict[str, Any]) -> None:
    from guanxi.customers.models import AccountRating

    ids = sorted(Account.all_objects.values_list("id", flat=True))
    middle = ids[len(ids) // 2]
    CodeSequence.objects.filter(name=RATING_DONE).delete()
    CodeSequence.objects.create(name=RATING_MARKER, value=middle)
    last = AccountRating.objects.order_by("-pk").values_list("pk", flat=True).first()
    assert settle_ratings(now=NOW) is True
    rated = list(AccountRating.objects.filter(pk__gt=last).values_list("account_id", flat=True))
    assert sorted(rated) == [i for i in ids if i > middle]  # each account after the checkpoint, once
    assert CodeSequence.objects.filter(name=RATING_DONE).exists()
    assert not CodeSequence.objects.filter(name=RATING_MARKER).exists()
    assert settle_ratings(now=NOW) is False  # done: a second call rates nothing
    assert not AccountRating.objects.filter(pk__gt=last).exclude(account_id__in=rated).exists()


def test_the_demo_ends_with_the_pool_notices_of_the_nights_before(demo: dict[str, Any]) -> None:
    from guanxi.customers.services.pool import pool_return_idle

    announced = Account.all_objects.filter(pool_notice_at=NOW).count()
    assert announced > 0
    assert CodeSequence.objects.get(name=POOL_DONE).value == announced
    # The next night at the same hour announces nobody again and returns nobody yet.
    assert pool_return_idle(now=NOW) == {"noticed": 0, "returned": 0}
    assert settle_pool(now=NOW) is False


def test_the_demo_ends_with_the_frequent_jobs_caught_up(demo: dict[str, Any]) -> None:
    from guanxi.activities.models import FollowUp
    from guanxi.activities.services.desk import followup_notify_overdue
    from guanxi.sales.models import Quote
    from guanxi.sales.services.payments import receivables_notify
    from guanxi.sales.services.quotes import quotes_expire
    from guanxi.service.services.sla import sweep

    assert demo["jobs_seconds"] >= 0
    assert CodeSequence.objects.filter(name=JOBS_DONE).exists()
    # What the jobs did is there: overdue follow-ups told, quotes past their validity expired.
    assert FollowUp.objects.filter(overdue_notified_at=NOW).exists()
    assert Quote.objects.filter(state=Quote.State.EXPIRED).exists()
    assert not Quote.objects.filter(state=Quote.State.SENT, valid_until__lt=NOW.date()).exists()
    # So the next run at the same time finds nothing left to do (B7 measures a normal night).
    assert followup_notify_overdue(now=NOW) == 0
    assert quotes_expire(today=NOW.date()) == 0
    assert set(receivables_notify(now=NOW).values()) == {0}
    assert set(sweep(NOW).values()) == {0}
    assert settle_jobs(now=NOW) is False
