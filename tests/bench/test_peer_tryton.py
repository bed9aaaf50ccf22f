"""The peer comparison's own parts (bench/peer_tryton.py) that run without Tryton installed:
what guanxi hands the peer, the questions it asks it, and how the figures are reported.
Installing and measuring Tryton itself is the benchmark's business (`guanxi bench --only peers`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from bench import peer_tryton
from bench.peer_tryton import Comparison, PeerReport


@pytest.mark.django_db
def test_the_peer_gets_every_alive_account_in_id_order(account_factory: Any, tmp_path: Path) -> None:
    first = account_factory(name="上海华东精密轴承有限公司", credit_code="91310000MA1FL0XX0X", phone="13812345678",
                            city="上海市", address="浦东新区张江路 88 号")
    gone = account_factory(name="已删除的客户有限公司")
    gone.deleted_at = timezone.now()
    gone.save(update_fields=["deleted_at"])
    second = account_factory(name="杭州西湖茶业有限公司", phone="0571-88886666", city="杭州市")
    path = tmp_path / "rows.jsonl"
    assert peer_tryton.export_accounts(path) == 2
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert rows == [
        {"name": first.name, "credit_code": "91310000MA1FL0XX0X", "phone": "13812345678", "city": "上海市",
         "address": "浦东新区张江路 88 号"},
        {"name": second.name, "credit_code": "", "phone": "0571-88886666", "city": "杭州市", "address": ""},
    ]


def test_the_peer_is_asked_what_its_own_client_asks() -> None:
    body = json.loads(peer_tryton.rpc_body("model.party.party.search_read",
                                           [[("rec_name", "ilike", "%华东%")], 0, 20, None, ["name"], {}]))
    assert body == {"id": 1, "method": "model.party.party.search_read",
                    "params": [[["rec_name", "ilike", "%华东%"]], 0, 20, None, ["name"], {}]}


def test_the_report_sets_each_operation_beside_the_peers() -> None:
    report = PeerReport(size="M", n=4, parties=100_000, database="guanxi_m_tryton", fields=["code", "name"],
                        load={"parties_loaded": 100_000, "seconds": 250.0})
    report.comparisons = [
        Comparison("first page of 50 customers", "—", [10.0, 11.0, 12.0, 20.0], [100.0, 110.0, 120.0, 400.0],
                   (50, 50)),
        Comparison("search: pinyin initials", "shhd", [5.0, 5.0, 6.0, 8.0], None, (3, None)),
    ]
    lines = peer_tryton.render(report)
    assert lines[0].startswith("### Beside a peer: Tryton 8.2 at size M on PostgreSQL")
    assert "`guanxi bench --size M --only peers --requests 4 --write`" in lines[2]
    assert "100,000 parties in 250 s" in lines[4] and "pg_trgm" in lines[4]
    rows = [line for line in lines if line.startswith("| first page") or line.startswith("| search")]
    assert rows == [
        "| first page of 50 customers | — | 11.5 | 20.0 | 115.0 | 400.0 | 20.0 × | 50 / 50 |",
        "| search: pinyin initials | shhd | 5.5 | 8.0 | — | — | no such search | 3 / — |",
    ]


def test_the_peer_is_measured_on_postgresql_only(db: Any, settings: Any) -> None:
    from django.db import connection

    if connection.vendor == "postgresql":
        pytest.skip("on PostgreSQL the peer would be installed and measured")
    with pytest.raises(RuntimeError, match="PostgreSQL"):
        peer_tryton.run_peers("S", 5, write=False)
