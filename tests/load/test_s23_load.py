"""S23 — wrk against the production topology at M while a sample of the access matrix runs.

Opt-in (it needs the M demo company on PostgreSQL, nginx and wrk, and takes a few minutes):

    GUANXI_LOAD=1 .venv/bin/python -m pytest -q tests/load

Settings: GUANXI_LOAD_DATABASE_URL, GUANXI_LOAD_DATA_DIR, GUANXI_LOAD_REDIS_URL, GUANXI_LOAD_SECONDS
(see tests/load/s23.py, which also runs on its own and prints the figures).
"""

from __future__ import annotations

import io
import os

import pytest

from tests.load import s23

pytestmark = pytest.mark.skipif(os.environ.get("GUANXI_LOAD") != "1",
                                reason="S23 load run is opt-in: GUANXI_LOAD=1 (needs the M company on PostgreSQL)")


def test_no_errors_and_no_leaks_under_load() -> None:
    missing = s23.missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    out = io.StringIO()
    result = s23.run(seconds=int(os.environ.get("GUANXI_LOAD_SECONDS", "90")), out=out)
    print(out.getvalue())
    baseline = result["baseline"]
    assert not baseline["errors"], baseline["errors"][:20]
    assert not baseline["leaks"], baseline["leaks"][:20]
    assert baseline["checks"] == result["matrix_cells"]
    wrk, matrix = result["wrk"], result["matrix"]
    assert wrk["requests"] > 0
    assert wrk["n5xx"] == 0, f"{wrk['n5xx']} answers 5xx under load"
    assert wrk["n4xx"] == 0, f"{wrk['n4xx']} answers 4xx for requests that answered 2xx/3xx before the run"
    assert wrk["socket_errors"] == 0, wrk
    assert matrix["checks"] >= result["matrix_sample"], "the matrix sample must complete a round under load"
    assert not matrix["errors"], matrix["errors"][:20]
    assert not matrix["leaks"], matrix["leaks"][:20]
    assert not result["server_errors"], result["server_errors"][:20]
    assert wrk["n201"] > 0, "the mix must write"
    # every write wrk saw accepted landed (plus the one made while checking the mix); at most the requests
    # still in flight when wrk stopped land without wrk seeing their answer
    assert wrk["n201"] + 1 <= result["writes_landed"] <= wrk["n201"] + 1 + result["connections"]
