"""tests/migrated.py hands out copies of a database ``migrate`` made: they hold exactly what it made.

The session's template is itself a fresh ``migrate`` (a child process, the project's own
settings); each kind of copy — a file copy (SQLite), ``CREATE DATABASE ... TEMPLATE`` (the shared
PostgreSQL server), ``pg_restore`` of a dump (a private cluster) — is compared with it: every
schema object (tables, columns, indexes, constraints, triggers, functions, extensions, SQLite's
FTS5 tables and triggers) and every row (roles, defaults, seeded surveys, content types,
permissions, the migrations recorded, sequences' positions).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests import migrated

PG = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
SEEDED = ("core_role", "django_migrations", "django_content_type", "auth_permission")


def _sqlite_fingerprint(path: Path) -> dict[str, Any]:
    db = sqlite3.connect(path)
    try:
        schema = sorted(db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master "
                                   "WHERE name NOT LIKE 'sqlite_autoindex%'").fetchall())
        tables = [name for kind, name, _t, sql in schema
                  if kind == "table" and not (sql or "").upper().startswith("CREATE VIRTUAL")]
        rows = {t: sorted(map(repr, db.execute(f'SELECT * FROM "{t}"').fetchall())) for t in tables}  # noqa: S608 (names from the catalogue)
        return {"schema": schema, "rows": rows}
    finally:
        db.close()


PG_SCHEMA = {
    # Columns in their order (not their raw position: a dump leaves out the gaps dropped columns left).
    "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default, "
               "row_number() OVER (PARTITION BY table_name ORDER BY ordinal_position) "
               "FROM information_schema.columns WHERE table_schema = 'public'",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "constraints": "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
                   "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'",
    "triggers": "SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
                "WHERE NOT t.tgisinternal",
    "functions": "SELECT p.proname, pg_get_function_identity_arguments(p.oid), md5(p.prosrc) FROM pg_proc p "
                 "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'",
    "extensions": "SELECT extname, extversion FROM pg_extension",
    "sequences": "SELECT sequencename, last_value, increment_by FROM pg_sequences WHERE schemaname = 'public'",
    "views": "SELECT viewname, definition FROM pg_views WHERE schemaname = 'public'",
}


def _pg_fingerprint(connect: Any) -> dict[str, Any]:
    with connect() as db:
        db.execute("SET TIME ZONE 'UTC'")  # the servers' own time zones differ: compare instants
        schema = {key: sorted(map(repr, db.execute(sql).fetchall())) for key, sql in PG_SCHEMA.items()}
        tables = [r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()]
        rows = {t: sorted(map(repr, db.execute(f'SELECT * FROM "{t}"').fetchall())) for t in tables}  # noqa: S608 (names from the catalogue)
    return {"schema": schema, "rows": rows}


def _differing(one: dict[str, Any], other: dict[str, Any]) -> list[str]:
    return [f"{part}.{key}" for part in ("schema", "rows") for key in sorted(set(one[part]) | set(other[part]))
            if one[part].get(key) != other[part].get(key)]


def _check_seeded(fingerprint: dict[str, Any]) -> None:
    # Not an empty comparison: migrate's data migrations left their rows.
    for table in SEEDED:
        assert fingerprint["rows"].get(table), f"{table} is empty"
    assert any(t.startswith("loyalty_") and rows for t, rows in fingerprint["rows"].items()), "no seeded surveys"


# On the run's own database only, as the process tests (tests/migrated.backends()): in the
# PostgreSQL run this migrated a SQLite template nothing else there uses (~20 s).
@pytest.mark.skipif(PG, reason="SQLite copies: checked in the SQLite run")
def test_a_copied_sqlite_file_is_what_migrate_made(tmp_path: Path) -> None:
    copy = tmp_path / "copy.sqlite3"
    migrated.sqlite_database(copy)
    template = migrated.sqlite_template()
    assert not Path(f"{template}-wal").exists() or Path(f"{template}-wal").stat().st_size == 0  # all in the file
    made, copied = _sqlite_fingerprint(template), _sqlite_fingerprint(copy)
    _check_seeded(copied)
    assert copied == made, _differing(copied, made)
    db = sqlite3.connect(copy)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        triggers = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()}
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'customers_account_search'").fetchone():
            # The FTS5 index and the triggers that keep it in step (customers 0004/0005) came along, and work.
            assert {f"customers_account_search_{s}" for s in ("ai", "ad", "au")} <= triggers
            db.execute("INSERT INTO customers_account_search(customers_account_search) VALUES ('integrity-check')")
    finally:
        db.close()


@pytest.mark.skipif(not PG, reason="PostgreSQL copies: run with DATABASE_URL=postgres://...")
def test_postgresql_copies_are_what_migrate_made(request: Any) -> None:
    import psycopg

    url = os.environ["DATABASE_URL"]
    template = migrated.postgres_template(url)
    name = f"{urlsplit(url).path.lstrip('/') or 'guanxi'}_copycheck"
    own = migrated.postgres_database(url, name)
    request.addfinalizer(lambda: migrated.drop_postgres(url, name))
    made = _pg_fingerprint(lambda: psycopg.connect(template, autocommit=True))
    copied = _pg_fingerprint(lambda: psycopg.connect(own, autocommit=True))
    _check_seeded(made)
    assert "pg_trgm" in {e.split("'")[1] for e in made["schema"]["extensions"]}
    assert made["schema"]["triggers"], "no triggers (the audit guard)"
    assert copied == made, _differing(copied, made)

    # The dump restored into a private cluster (tests/pgcluster.py): the same.
    from tests.pgcluster import cluster_fixture

    cluster = cluster_fixture(request, name="copycheck")
    migrated.restore_into_cluster(cluster, "guanxi", url)
    restored = _pg_fingerprint(lambda: cluster.connect("guanxi"))
    assert restored == made, _differing(restored, made)
