"""The demo company's bulk load on an empty database: a build stopped halfway resumes to the very
rows an uninterrupted one writes, and ends with exactly the indexes the migrations made (kept
apart from test_demo.py, whose module-wide demo company fills the database)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection, transaction

from guanxi import demo
from guanxi.activities.models import FollowUp, Interaction
from guanxi.core import demo_load
from guanxi.core.models import CodeSequence
from guanxi.customers.models import Account, AccountRating, Contact
from guanxi.loyalty import demo as loyalty_demo
from guanxi.sales import demo as sales_demo
from guanxi.service import demo as service_demo

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def index_definitions() -> set[tuple[str, str]]:
    """Every index of the database as (name, definition), and on PostgreSQL every constraint
    (foreign keys among them) as (its name, its table and definition)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                           "AND tablename <> %s UNION ALL "
                           "SELECT conname, conrelid::regclass::text || ': ' || pg_get_constraintdef(oid) "
                           "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace "
                           "AND conrelid::regclass::text <> %s", [demo_load.LEDGER, demo_load.LEDGER])
        else:
            cursor.execute("SELECT name, coalesce(sql, '') FROM sqlite_master WHERE type = 'index'")
        return set(cursor.fetchall())


def ledger_exists() -> bool:
    return bool(demo_load.postgres() and demo_load.deferred_tables())


def rows() -> dict[str, list[tuple[Any, ...]]]:
    """What the batches write, by id (people by username: the users' ids come from a sequence a
    rolled-back build has moved on); the hand-written showcase day (written through the services
    at the real time) left out."""
    people = Interaction.their_people.through.objects
    return {
        "accounts": list(Account.all_objects.order_by("pk").values_list(
            "pk", "code", "name", "credit_code", "owner__username", "grade", "score", "urgency", "province", "city",
            "is_distributor", "search_text", "created_at")),
        "contacts": list(Contact.all_objects.order_by("pk").values_list("pk", "account_id", "name", "mobile")),
        "ratings": list(AccountRating.objects.order_by("pk").values_list("pk", "account_id", "score", "rated_at")),
        "interactions": list(Interaction.all_objects.filter(created_at__lte=NOW).order_by("pk").values_list(
            "pk", "account_id", "owner__username", "occurred_at", "summary")),
        "people": list(people.filter(interaction__created_at__lte=NOW).order_by("interaction_id", "contact_id")
                       .values_list("interaction_id", "contact_id")),
        "followups": list(FollowUp.all_objects.filter(updated_at__lte=NOW).order_by("pk").values_list(
            "pk", "account_id", "title", "due_at", "state", "interaction_id")),
        "last_contact": list(Account.all_objects.order_by("pk").values_list("pk", "last_activity_at")),
    }


@pytest.fixture
def customers_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The accounts and their contact history only: the sales, service and surveys have tests of their own."""
    monkeypatch.setattr(sales_demo, "build_sales", lambda **kwargs: False)
    monkeypatch.setattr(service_demo, "build_service", lambda **kwargs: False)
    monkeypatch.setattr(loyalty_demo, "build_loyalty", lambda **kwargs: False)


def test_a_build_stopped_halfway_resumes_to_the_same_rows_and_every_index(
        db: None, customers_only: None, monkeypatch: pytest.MonkeyPatch) -> None:
    migrated = index_definitions()
    monkeypatch.setattr(demo, "BATCH", 500)
    whole_build = transaction.savepoint()
    demo.build_demo("S", now=NOW)
    whole = rows()
    assert len(whole["accounts"]) == demo.SIZES["S"].accounts and len(whole["interactions"]) > 15_000
    assert index_definitions() == migrated
    transaction.savepoint_rollback(whole_build)
    assert not Account.all_objects.exists()

    # The third batch fails (as a build killed mid-batch): two batches stay, with their history.
    real = demo.classify_and_rate
    calls: list[int] = []

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("stopped")
        return real(*args, **kwargs)

    monkeypatch.setattr(demo, "classify_and_rate", failing)
    with pytest.raises(RuntimeError, match="stopped"):
        demo.build_demo("S", now=NOW)
    assert Account.all_objects.count() == 1_000
    assert CodeSequence.objects.get(name=demo.MARKER).value == 1_000
    last = Account.all_objects.order_by("-pk").values_list("pk", flat=True)[0]
    assert CodeSequence.objects.get(name=demo.ACTIVITY_MARKER).value == last
    if demo_load.postgres():
        # The accounts' secondary indexes wait in the ledger, the trigram search index among them.
        missing = {name for name, _definition in migrated - index_definitions()}
        assert "customers_account_search_trgm" in missing
        assert any("_fk_" in name for name in missing)  # the foreign keys of the loaded tables
        assert {"customers_account", "customers_contact", "activities_interaction"} <= demo_load.deferred_tables()

    monkeypatch.setattr(demo, "classify_and_rate", real)
    assert demo.build_demo("S", now=NOW)["created"] is True
    assert rows() == whole
    assert index_definitions() == migrated
    assert not ledger_exists()


def test_a_build_stopped_while_it_indexed_builds_the_rest_next_time(
        db: None, customers_only: None, monkeypatch: pytest.MonkeyPatch) -> None:
    migrated = index_definitions()
    real = demo_load.restore_indexes
    calls: list[int] = []

    def stopped(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 2:  # the first call builds what an earlier load left: nothing here
            raise RuntimeError("stopped")
        return real(*args, **kwargs)

    monkeypatch.setattr(demo_load, "restore_indexes", stopped)
    with pytest.raises(RuntimeError, match="stopped"):
        demo.build_demo("S", now=NOW)
    assert Account.all_objects.count() == demo.SIZES["S"].accounts
    if demo_load.postgres():
        assert index_definitions() < migrated and ledger_exists()
    monkeypatch.setattr(demo_load, "restore_indexes", real)
    demo.build_demo("S", now=NOW)
    assert index_definitions() == migrated
    assert not ledger_exists()


def test_only_empty_tables_lose_their_indexes_and_keys_always_stay(db: None, account_factory: Any,
                                                                   org: Any) -> None:
    if not demo_load.postgres():
        assert demo_load.defer_indexes(["customers_account"]) == []
        return
    account_factory(org.salesperson)
    assert demo_load.defer_indexes(["customers_account"]) == []  # it holds a row
    dropped = demo_load.defer_indexes(["customers_contact"])
    assert dropped and "customers_contact_pkey" not in dropped
    assert demo_load.deferred_tables() == {"customers_contact"}
    assert demo_load.restore_indexes() == len(dropped)
    assert not ledger_exists()


def test_a_bulk_update_goes_without_the_indexes_of_a_filled_table_and_ends_with_them(
        db: None, account_factory: Any, org: Any) -> None:
    from guanxi.customers.models import Account

    account = account_factory(org.salesperson)
    before = index_definitions()
    with demo_load.bulk_load(Account, filled=True):
        if demo_load.postgres():
            missing = {name for name, _definition in before - index_definitions()}
            assert {"customers_account_search_trgm", "customers_a_grade_959eab_idx"} <= missing
            assert "customers_account_pkey" not in missing  # what the rows are read and found by stays
            assert demo_load.deferred_tables() == {"customers_account"}
        else:
            assert index_definitions() == before  # SQLite keeps its indexes
        Account.all_objects.filter(pk=account.pk).update(grade="A")
    assert index_definitions() == before
    assert not demo_load.deferred_tables()
    assert Account.all_objects.get(pk=account.pk).grade == "A"
