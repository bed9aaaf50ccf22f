"""SQLite: indexes a migration adds after the last ANALYZE get their statistics at migrate time."""

from __future__ import annotations

import pytest
from django.db import connection

from guanxi.core.signals import refresh_planner_statistics

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL's autovacuum analyses by itself")]


def stat_of(index: str) -> list[tuple[str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT stat FROM sqlite_stat1 WHERE idx = %s", [index])
        return cursor.fetchall()


def test_an_index_without_statistics_is_analysed_once_the_database_was(org, account_factory):
    for _ in range(3):
        account_factory(org.salesperson, grade="A")
    refresh_planner_statistics()  # never analysed: left alone
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
        assert cursor.fetchone() is None
        cursor.execute("ANALYZE")
        cursor.execute("DELETE FROM sqlite_stat1 WHERE idx = 'account_owner_grade_alive'")
    assert stat_of("account_owner_grade_alive") == []
    refresh_planner_statistics()
    assert stat_of("account_owner_grade_alive") != []
