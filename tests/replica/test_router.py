"""The replica router with real connections: two SQLite files, "default" and "replica".

A child process (the project's own settings, DATABASE_URL and DATABASE_REPLICA_URL set) runs
against a primary file and a copy of it taken before more rows were added to the primary: so
whatever a read returns tells which database it came from. The streaming-replica version on
PostgreSQL is test_replica.py; it covers all of this too, so the PostgreSQL suite runs only that one.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import migrated

ROOT = Path(__file__).resolve().parents[2]
CHILD = ROOT / "tests" / "replica" / "child.py"
OLD, NEW = 4, 3  # rows on both files; rows added to the primary after the copy

pytestmark = pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
    reason="the SQLite suite's router test; the PostgreSQL suite runs tests/replica/test_replica.py instead")


def child(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(CHILD), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_reads_marked_replica_reads_come_from_the_replica_and_writes_go_to_default(tmp_path: Path) -> None:
    primary, replica = tmp_path / "primary.sqlite3", tmp_path / "replica.sqlite3"
    env = {k: v for k, v in os.environ.items()
           if k not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "DATABASE_REPLICA_URL"}}
    env.update(GUANXI_TESTING="1", GUANXI_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT),
               DATABASE_URL=f"sqlite:///{primary}")
    migrated.sqlite_database(primary)  # a copy of the session's migrated file
    assert child(env, f"seed:{OLD}")["seed"] == {"accounts": OLD, "cases": OLD}
    with sqlite3.connect(primary) as source, sqlite3.connect(replica) as copy:
        source.backup(copy)  # the replica: the primary as it is now
    env["DATABASE_REPLICA_URL"] = f"sqlite:///{replica}"
    after = child(env, f"add:{NEW}", "report", "decisions")
    assert after["add"] == {"accounts": OLD + NEW, "cases": OLD + NEW}

    seen = after["report"]
    # The service report (marked) counts the replica's cases; the account list (not marked)
    # shows the primary's accounts; the export job (marked handler) holds the replica's.
    assert seen["report_total"] == OLD
    assert seen["api_report_queries"]["replica"] > 0 and seen["report_page_queries"]["replica"] > 0
    assert seen["list_page_queries"]["replica"] == 0
    assert len(seen["list_names"]) == OLD + NEW
    assert len(seen["export_names"]) == OLD and all(name.startswith("旧") for name in seen["export_names"])
    assert seen["export_queries"]["replica"] > 0
    assert seen["report_export_cases"] == OLD and seen["report_export_queries"]["replica"] > 0
    assert seen["export_audits"] == 2  # the export's audit row was written to (and is read from) default

    decided = after["decisions"]
    assert decided["outside"] == OLD + NEW and decided["inside"] == OLD and decided["decorated"] == OLD
    assert decided["inside_db"] == "replica"
    assert decided["for_update_db"] == "default" and decided["session_db"] == "default"
    assert decided["in_atomic"] == decided["mark_in_atomic"] == OLD + NEW  # inside a transaction on default, reads stay there
    assert decided["loaded_from"] == "replica" and decided["written_to"] == "default"
    assert decided["write_on_default"] and not decided["write_on_replica"]
    assert decided["migrate_default"] and not decided["migrate_replica"]

    # A replica that cannot be opened: the marked reads fall back to default, no error.
    env["DATABASE_REPLICA_URL"] = f"sqlite:///{tmp_path / 'missing' / 'replica.sqlite3'}"
    fallback = child(env, "report")["report"]
    assert fallback["report_total"] == OLD + NEW and fallback["report_export_cases"] == OLD + NEW
    assert len(fallback["export_names"]) == OLD + NEW
    assert fallback["api_report_queries"]["replica"] == 0
