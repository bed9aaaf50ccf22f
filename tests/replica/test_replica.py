"""Reports read from a real streaming replica (PostgreSQL CI suite only).

A private primary and a hot standby made from it with pg_basebackup (tests/pgcluster.py). A
child process with DATABASE_URL = the primary (migrated: the session's template restored, see
tests/migrated.py) and DATABASE_REPLICA_URL = the standby creates a manager with accounts
and service cases. With replay paused on the standby it
adds more; then, as the manager through Django's test Client, the service report (marked
``replica_reads``) shows the standby's older figures and the account export holds its older
rows, while the account list (not marked) shows the primary's. Writes made meanwhile (the
export's audit row, a write inside a marked block) land on the primary; on the standby they
would fail, as it is read-only. Replay resumed, the report catches up. The standby stopped
while the child keeps its connection open: the marked reads fall back to the primary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.migrated import restore_into_cluster
from tests.pgcluster import PrivateCluster, cluster_fixture

ROOT = Path(__file__).resolve().parents[2]
CHILD = ROOT / "tests" / "replica" / "child.py"
OLD, NEW = 4, 3  # rows replicated before replay is paused; rows added on the primary while it is

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
    reason="the streaming-replica test runs in the PostgreSQL suite (DATABASE_URL=postgres://...) only")


@pytest.fixture
def clusters(request: Any) -> tuple[PrivateCluster, PrivateCluster]:
    primary = cluster_fixture(request, name="primary")
    replica = primary.make_replica()
    request.addfinalizer(replica.destroy)
    return primary, replica


def test_reports_read_from_the_streaming_replica(tmp_path: Path, clusters: tuple[PrivateCluster, PrivateCluster]) -> None:
    primary, replica = clusters
    restore_into_cluster(primary, "guanxi")  # migrated once per session (tests/migrated.py); streams to the standby
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(GUANXI_TESTING="1", GUANXI_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT),
               DATABASE_URL=primary.url("guanxi"), DATABASE_REPLICA_URL=replica.url("guanxi"))

    def child(*commands: str) -> dict[str, Any]:
        done = subprocess.run([sys.executable, str(CHILD), *commands], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-4000:]
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    assert child(f"seed:{OLD}")["seed"] == {"accounts": OLD, "cases": OLD}
    primary.wait_replayed(replica)

    # Replay paused: the standby keeps the data as of now; the primary gets more.
    replica.pause_replay()
    assert replica.replay_paused()
    paused = child(f"add:{NEW}", "report", "decisions")
    assert paused["add"] == {"accounts": OLD + NEW, "cases": OLD + NEW}
    seen = paused["report"]
    assert seen["report_total"] == OLD  # the marked report: the standby's figures
    assert seen["api_report_queries"]["replica"] > 0 and seen["report_page_queries"]["replica"] > 0
    assert seen["list_page_queries"]["replica"] == 0
    assert len(seen["list_names"]) == OLD + NEW  # the account list: the primary's rows
    assert len(seen["export_names"]) == OLD and all(name.startswith("旧") for name in seen["export_names"])
    assert seen["export_queries"]["replica"] > 0
    assert seen["report_export_cases"] == OLD and seen["report_export_queries"]["replica"] > 0
    assert seen["export_audits"] == 2  # written to the primary (the standby would refuse it)
    decided = paused["decisions"]
    assert decided["outside"] == OLD + NEW and decided["inside"] == OLD and decided["decorated"] == OLD
    assert decided["inside_db"] == "replica" and decided["for_update_db"] == "default"
    assert decided["in_atomic"] == decided["mark_in_atomic"] == OLD + NEW
    assert decided["loaded_from"] == "replica" and decided["written_to"] == "default"
    assert decided["write_on_default"] and not decided["write_on_replica"]
    assert replica.execute("SELECT count(*) FROM customers_account", database="guanxi") == [(OLD,)]

    # Replay resumed: the report catches up.
    replica.resume_replay()
    primary.wait_replayed(replica)
    flag = tmp_path / "replica-stopped"
    later = subprocess.Popen([sys.executable, str(CHILD), "report", f"wait:{flag}", "report"], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not Path(f"{flag}.ready").exists() and later.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Path(f"{flag}.ready").exists(), later.communicate(timeout=30)[1][-4000:]
        # The standby goes away while the child holds a connection to it.
        replica.stop(mode="immediate")
        flag.touch()
        out, err = later.communicate(timeout=300)
    finally:
        if later.poll() is None:
            later.kill()
            later.wait()
    assert later.returncode == 0, err[-4000:]
    results = json.loads(out.strip().splitlines()[-1])
    caught_up, fell_back = results["report"], results["report#2"]
    assert caught_up["report_total"] == OLD + NEW and caught_up["api_report_queries"]["replica"] > 0
    assert len(caught_up["export_names"]) == caught_up["report_export_cases"] == OLD + NEW

    # Standby down: the marked reads go to the primary (the same figures), no error.
    assert results["wait"] is True
    assert fell_back["report_total"] == fell_back["report_export_cases"] == OLD + NEW
    assert len(fell_back["export_names"]) == OLD + NEW
    assert fell_back["api_report_queries"]["replica"] == 0 and fell_back["export_queries"]["replica"] == 0
    assert fell_back["api_report_queries"]["primary"] > 0
