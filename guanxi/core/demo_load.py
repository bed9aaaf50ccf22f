"""Bulk loading for the demo company (演示数据: 批量写入): plain rows, deferred indexes, statistics.

The demo builders (``guanxi.demo``, ``guanxi.sales.demo``, ``guanxi.service.demo``,
``guanxi.loyalty.demo``) write millions of rows at size L. Three things make that fast on
PostgreSQL and leave SQLite as it was:

* :class:`Table` writes one model's rows as plain tuples: ``COPY … FROM STDIN`` on
  PostgreSQL, ``executemany`` of one INSERT on SQLite; no model instances, no per-row SQL.
* :func:`bulk_load` drops the secondary indexes and the foreign keys of a table that is
  still empty when its load starts and makes the very same definitions again
  (``pg_get_indexdef``, ``pg_get_constraintdef``) once the rows are in. One CREATE INDEX sorts
  the rows once, where keeping an index up to date costs a random page write per row and
  index (the accounts' trigram index most of all); one join checks a foreign key for a whole
  table, where the deferred check of each row at commit costs more than writing the row.
  The definitions go into a ledger table in the transaction that drops them, so a build
  stopped halfway loses none: the next run makes what the ledger still holds, and every run
  of ``build_demo`` ends with :func:`restore_indexes`. Primary keys, unique indexes and
  indexes behind a constraint stay: other tables' foreign keys and the resumed batches rely
  on them.
* :func:`bulk_session` lets the build's own connection commit without waiting for the WAL
  to reach the disk (a crash loses the last batches, which a resumed build writes again),
  and gives CREATE INDEX the memory to sort in one pass.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any

from django.db import connection, transaction
from django.db.models import DateTimeField, JSONField, Model

LEDGER = "guanxi_demo_deferred_index"  # name, table_name, definition of each index dropped for a load
SQLITE_ROWS = 10_000  # rows per executemany on SQLite


def postgres() -> bool:
    return connection.vendor == "postgresql"


def db_time() -> Any:
    """How a raw INSERT wants an aware datetime: SQLite stores naive UTC text (as Django does)."""
    if connection.vendor == "sqlite":
        return lambda v: None if v is None else v.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    return lambda v: v


def bulk_session() -> None:
    """Settings for the build's own PostgreSQL connection (see the module's docstring)."""
    if postgres():
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = off")
            cursor.execute("SET maintenance_work_mem = '256MB'")


class Table:
    """Plain INSERTs of one model's rows given as dicts (a missing column takes the field's default)."""

    def __init__(self, model: type[Model], *, with_id: bool = False) -> None:
        fields = [f for f in model._meta.concrete_fields if with_id or not f.primary_key]
        self.name = model._meta.db_table
        self.columns = [str(f.column) for f in fields]
        self.attnames = [f.attname for f in fields]
        # Every column gets a value: the field's default ("" for text) when a row leaves it out.
        self.defaults = [None if f.primary_key else f.get_default() for f in fields]
        sqlite = connection.vendor == "sqlite"
        to_db = db_time()
        self.convert: list[Any] = [
            to_db if isinstance(f, DateTimeField) and sqlite
            else (lambda v: None if v is None else json.dumps(v, ensure_ascii=False)) if isinstance(f, JSONField)
            else None for f in fields]
        # A row is the defaults overlaid with the given values, read in column order (both in C).
        self.base = dict(zip(self.attnames, self.defaults, strict=True))
        self.read = operator.itemgetter(*self.attnames, *self.attnames[:1])  # two names at least: a tuple
        self.converted = [(i, convert) for i, convert in enumerate(self.convert) if convert is not None]
        self.rows: list[tuple[Any, ...]] = []

    def add(self, values: dict[str, Any]) -> None:
        row = self.read({**self.base, **values})[:-1]
        if self.converted:
            cells = list(row)
            for i, convert in self.converted:
                cells[i] = convert(cells[i])
            row = tuple(cells)
        self.rows.append(row)

    def flush(self) -> int:
        count, rows = len(self.rows), self.rows
        self.rows = []
        if not rows:
            return 0
        qn = connection.ops.quote_name
        columns = ", ".join(qn(c) for c in self.columns)
        with connection.cursor() as cursor:
            if postgres():
                with cursor.cursor.copy(f"COPY {qn(self.name)} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                sql = (f"INSERT INTO {qn(self.name)} ({columns}) "  # noqa: S608 (our own names, quoted)
                       f"VALUES ({', '.join(['%s'] * len(self.columns))})")
                for start in range(0, count, SQLITE_ROWS):
                    cursor.executemany(sql, rows[start:start + SQLITE_ROWS])
        return count


def next_ids(*models: type[Model]) -> dict[str, int]:
    """The first free id of each model (ids are given explicitly, so a resumed build writes the same)."""
    ids = {}
    for model in models:
        manager = getattr(model, "all_objects", model._default_manager)
        ids[model.__name__] = (manager.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    return ids


def reset_sequences(*models: type[Model]) -> None:
    """After INSERTs with explicit ids, PostgreSQL's id sequences must move past them."""
    from django.core.management.color import no_style

    statements = connection.ops.sequence_reset_sql(no_style(), list(models))
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def analyze(*models: type[Model]) -> None:
    """Fresh planner statistics after a bulk load: without them PostgreSQL estimates a few
    dozen rows where there are a million and picks bitmap scans and sorts."""
    tables = sorted({m._meta.db_table for m in models})
    with connection.cursor() as cursor:
        if postgres() and tables:
            qn = connection.ops.quote_name
            cursor.execute(f"ANALYZE {', '.join(qn(t) for t in tables)}")
        elif not postgres():
            cursor.execute("ANALYZE")


# --- Deferred indexes and foreign keys (PostgreSQL) -----------------------------------------------
INDEX, FOREIGN_KEY = "index", "foreign key"


def _ledger_exists(cursor: Any) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [LEDGER])
    return bool(cursor.fetchone()[0])


def droppable(tables: Iterable[str]) -> list[tuple[str, str, str, str]]:
    """(kind, table, name, the statement that makes it again) of what a load of ``tables`` goes
    without: secondary indexes (neither the primary key, nor unique, nor behind a constraint) and
    foreign keys (checked row by row at each commit, where one join checks a whole table after)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s, t.relname, i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%s) "
            "AND NOT x.indisprimary AND NOT x.indisunique "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
            "UNION ALL "
            "SELECT %s, t.relname, c.conname, format('ALTER TABLE %%I ADD CONSTRAINT %%I %%s', t.relname, c.conname, "
            "pg_get_constraintdef(c.oid)) FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
            "WHERE c.contype = 'f' AND t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%s) "
            "ORDER BY 1 DESC, 2, 3", [INDEX, list(tables), FOREIGN_KEY, list(tables)])
        return [tuple(row) for row in cursor.fetchall()]  # type: ignore[misc]


def _settle() -> None:
    """Inside a transaction that has written rows (a test's), run their deferred foreign-key
    checks now: PostgreSQL refuses to alter a table with checks still pending."""
    if connection.in_atomic_block:
        connection.check_constraints()


def defer_indexes(tables: Iterable[str], *, filled: bool = False) -> list[str]:
    """Drop the secondary indexes and foreign keys of those ``tables`` that hold no row yet (or
    of all of them with ``filled``), noting each in the ledger first; return their names."""
    if not postgres():
        return []
    qn = connection.ops.quote_name
    _settle()
    with transaction.atomic(), connection.cursor() as cursor:
        empty = []
        for table in tables:
            if not filled:
                cursor.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {qn(table)})")  # noqa: S608 (our own names)
            if filled or cursor.fetchone()[0]:
                empty.append(table)
        dropped = droppable(empty)
        if not dropped:
            return []
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {LEDGER} (kind text NOT NULL, table_name text NOT NULL, "
                       "name text NOT NULL, definition text NOT NULL, PRIMARY KEY (kind, table_name, name))")
        cursor.executemany(f"INSERT INTO {LEDGER} (kind, table_name, name, definition) "  # noqa: S608
                           "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING", dropped)
        for kind, table, name, _definition in dropped:
            if kind == INDEX:
                cursor.execute(f"DROP INDEX {qn(name)}")
            else:
                cursor.execute(f"ALTER TABLE {qn(table)} DROP CONSTRAINT {qn(name)}")
    return [name for _kind, _table, name, _definition in dropped]


def deferred_tables() -> set[str]:
    """The tables whose indexes or keys the ledger holds (a load in progress, or one stopped halfway)."""
    if not postgres():
        return set()
    with connection.cursor() as cursor:
        if not _ledger_exists(cursor):
            return set()
        cursor.execute(f"SELECT DISTINCT table_name FROM {LEDGER}")  # noqa: S608
        return {table for (table,) in cursor.fetchall()}


def restore_indexes(tables: Iterable[str] | None = None, *, keep: Iterable[str] = ()) -> int:
    """Make again every index and foreign key the ledger holds (of ``tables``, or all but those
    of ``keep``) that is missing, each committed on its own, the indexes first; drop the ledger
    once it is empty. Returns how many were made."""
    if not postgres():
        return 0
    wanted, kept = (None if tables is None else set(tables)), set(keep)
    made = 0
    with connection.cursor() as cursor:
        if not _ledger_exists(cursor):
            return 0
        cursor.execute(f"SELECT kind, table_name, name, definition FROM {LEDGER} "  # noqa: S608
                       "ORDER BY kind DESC, table_name, name")
        ledger = cursor.fetchall()
    todo = [row for row in ledger if (wanted is None or row[1] in wanted) and row[1] not in kept]
    if todo:
        _settle()
    for kind, table, name, definition in todo:
        with transaction.atomic(), connection.cursor() as cursor:
            if kind == INDEX:
                cursor.execute("SELECT to_regclass(%s) IS NULL", [connection.ops.quote_name(name)])
            else:
                cursor.execute("SELECT NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = %s "
                               "AND conrelid = to_regclass(%s))", [name, connection.ops.quote_name(table)])
            if cursor.fetchone()[0]:
                cursor.execute(definition)
                made += 1
            cursor.execute(f"DELETE FROM {LEDGER} WHERE kind = %s AND table_name = %s AND name = %s",  # noqa: S608
                           [kind, table, name])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {LEDGER})")  # noqa: S608
        if cursor.fetchone()[0]:
            cursor.execute(f"DROP TABLE {LEDGER}")
    return made


def tables_of(*models: Any) -> list[str]:
    return [m._meta.db_table for m in models]


@contextmanager
def bulk_load(*models: Any, filled: bool = False) -> Iterator[None]:
    """Load ``models`` without their secondary indexes and foreign keys when they start empty
    (or, with ``filled``, even when they hold rows); make them again after the load.

    ``filled`` is for rewriting most rows of a full table, as the demo's closing rating and pool
    notices do to every account: each updated row gets a new entry in every index of its table
    (grade and notice date are indexed, so no update stays on its page), where one CREATE INDEX
    afterwards sorts the table once. The rows read meanwhile are read by primary key or in one
    pass over the table.

    What an earlier load left in the ledger is made first (the reads of this load want those
    indexes), what ``models`` left stays deferred: a resumed load goes on as fast as it started.
    Left as it is when the load fails; the next run makes it.
    """
    tables = tables_of(*models)
    if postgres():
        restore_indexes(keep=tables)
        defer_indexes(tables, filled=filled)
    yield
    restore_indexes(tables)

