"""S16, the database server's half: the server killed mid-import; restart; resume; no duplicates.

An importer process runs the import job (the same runner as test_import_crash.py) against a
private PostgreSQL cluster of the test's own (tests/pgcluster.py). Once the first chunks are
committed, the test SIGKILLs the postmaster and every server process at once — no shutdown
checkpoint, the importer's transaction cut off mid-chunk. The importer fails; the server is
started again (crash recovery from the WAL); the database holds exactly the rows up to the job's
last committed checkpoint; the job, run again, accounts for every row of the file once, with no
duplicate. PostgreSQL CI suite only (it needs the server binaries: package postgresql-15).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.migrated import restore_into_cluster
from tests.pgcluster import cluster_fixture

from .test_import_crash import EXISTING, ROOT, ROWS, assert_at_checkpoint, assert_each_row_once, prepare

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
    reason="the database-server crash test runs in the PostgreSQL suite (DATABASE_URL=postgres://...) only")


def test_import_survives_the_database_server_killed_mid_way(tmp_path: Path, request: Any) -> None:
    # fsync on, as in production (a killed server loses nothing the kernel has; this does not
    # simulate a power cut), synchronous_commit on (the runner does not use the test settings).
    server = cluster_fixture(request, name="s16db", fsync=True)
    url = restore_into_cluster(server, "guanxi_s16db")  # the session's migrated template, restored
    runner, env, child = prepare(tmp_path, url)
    started = child("setup", str(ROWS), str(EXISTING))
    job_id, run_id, total = started["job"], str(started["run"]), started["total"]
    assert total == ROWS

    def committed_rows() -> int:
        row = server.execute("SELECT count(*) FROM customers_importrowresult", database="guanxi_s16db")
        return int(row[0][0])

    importer = subprocess.Popen([sys.executable, str(runner), "run", job_id], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        seen = 0
        while time.monotonic() < deadline and importer.poll() is None and seen == 0:
            seen = committed_rows()
            time.sleep(0.01)
        assert importer.poll() is None, f"the importer ended before the server could be killed: {importer.stderr}"
        server.kill()  # the postmaster and all its processes, SIGKILL, at once
        _out, errors = importer.communicate(timeout=120)
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.wait()
    assert 0 < seen < total
    # The importer failed on its lost connection (it was not killed: the server was).
    assert importer.returncode not in (0, None) and importer.returncode > 0, importer.returncode
    assert "OperationalError" in errors, errors[-3000:]

    # Crash recovery; the database holds exactly the last committed checkpoint.
    server.start()
    assert "database system was interrupted" in server.log_tail(20_000)
    assert_at_checkpoint(child("inspect", run_id), total)

    # The job resumed (run again, as recover_jobs would hand it to a worker): every row once.
    assert child("run", job_id)["state"] == "done"
    assert_each_row_once(child("inspect", run_id), total)
