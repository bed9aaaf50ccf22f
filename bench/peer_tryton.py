"""The peer, measured the same way: Tryton, an open-source ERP whose parties are its customers.

    guanxi bench --size M --only peers [--requests 50] [--write]

BENCHMARKS.md compares like with like: the same data, the same machine, the same run. Here the
peer is Tryton (``trytond`` with its ``party`` module; pinned in bench/peer-tryton-requirements.txt
and installed into a virtual environment of its own under ``var/peers/``, never into guanxi's).
Odoo, the peer a Chinese company names first, is not on PyPI; Tryton comes from the same
OpenERP line and is.

What the run does, on PostgreSQL (Tryton's production database):

1. exports this database's demo accounts (name, credit code, phone, city, address) and loads
   them into a Tryton database of their own as parties, each with its credit code as a USCC
   identifier, its phone as a contact mechanism and its address, through Tryton's ORM
   (``bench/peer_tryton_load.py``; resumable, done once per size);
2. starts both servers the same way: gunicorn, 2 workers × 4 threads, on 127.0.0.1;
3. asks both the same questions with the same HTTP client, as the user who sees every customer
   (guanxi's general manager, Tryton's administrator), each operation on guanxi then on Tryton:
   the first page of 50 customers, page 50, and the searches a user types (a part of the name,
   the last six digits of the phone, the credit code), top 20. Tryton's client asks
   ``search_read`` with its list view's fields; a search box there becomes ``rec_name ilike
   '%…%'``, which covers the party's code, name, identifiers and contact mechanisms.

Pinyin initials have no counterpart in Tryton and are left out of the comparison.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "bench" / "peer-tryton-requirements.txt"
LOADER = ROOT / "bench" / "peer_tryton_load.py"
PEER_DIR = ROOT / "var" / "peers" / "tryton"
ADMIN_PASSWORD = "guanxi-peer-2026"  # noqa: S105 - a throwaway database on 127.0.0.1
PAGE = 50
TOP = 20


@dataclass
class Comparison:
    operation: str
    query: str
    ours: list[float]
    theirs: list[float] | None  # None: the peer has no such operation
    rows: tuple[int, int | None] = (0, None)


@dataclass
class PeerReport:
    size: str
    n: int
    started_at: str = ""
    database: str = ""
    parties: int = 0
    load: dict[str, Any] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    fields: list[str] = field(default_factory=list)


# --- Tryton: its environment, database and server ---------------------------------------------------
def peer_python() -> Path:
    """The Python of Tryton's own virtual environment, made (again) when the pins change."""
    venv = PEER_DIR / "venv"
    python = venv / "bin" / "python"
    stamp = venv / "pinned.txt"
    wanted = REQUIREMENTS.read_text(encoding="utf-8")
    if python.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
        return python
    PEER_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
                   check=True)
    stamp.write_text(wanted, encoding="utf-8")
    return python


def tryton_config(settings: dict[str, Any]) -> Path:
    """trytond's configuration: the same PostgreSQL server as guanxi's database."""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    user = settings.get("USER") or "postgres"
    password = settings.get("PASSWORD") or ""
    auth = f"{quote(user)}:{quote(password)}@" if password else f"{quote(user)}@"
    conf = PEER_DIR / "trytond.conf"
    (PEER_DIR / "files").mkdir(parents=True, exist_ok=True)
    conf.write_text("\n".join([
        "[database]", f"uri = postgresql://{auth}{host}:{port}/", f"path = {PEER_DIR / 'files'}", "",
        # One login for the whole run; no e-mail, no bus.
        "[session]", "max_attempt = 100", "",
    ]), encoding="utf-8")
    return conf


def _peer_env(conf: Path) -> dict[str, str]:
    passfile = PEER_DIR / "admin-password"
    passfile.write_text(ADMIN_PASSWORD, encoding="utf-8")
    return {**os.environ, "TRYTOND_CONFIG": str(conf), "TRYTONPASSFILE": str(passfile),
            "PYTHONPATH": "", "DJANGO_SETTINGS_MODULE": ""}


def ensure_database(python: Path, conf: Path, name: str) -> None:
    """The peer's database with ``party`` (and what it needs) activated: made once; a database
    whose set-up did not finish is made again from nothing (it holds no parties yet)."""
    import psycopg
    from django.db import connection

    env = _peer_env(conf)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        exists = cursor.fetchone() is not None
    if exists:
        with psycopg.connect(_dsn(conf, name)) as peer:
            state = peer.execute("SELECT to_regclass('ir_module') IS NOT NULL").fetchone()
            activated = bool(state and state[0]) and peer.execute(
                "SELECT 1 FROM ir_module WHERE name = 'party' AND state = 'activated'").fetchone() is not None
        if activated:
            if _extensions(conf, name):  # added now: Tryton makes its trigram indexes on update
                subprocess.run([str(python.parent / "trytond-admin"), "-c", str(conf), "-d", name, "-u", "party"],
                               env=env, check=True, stdin=subprocess.DEVNULL)
            return
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0')
    _extensions(conf, name)
    admin = str(python.parent / "trytond-admin")
    subprocess.run([admin, "-c", str(conf), "-d", name, "--all", "--email", "admin@example.com"], env=env,
                   check=True, stdin=subprocess.DEVNULL)
    subprocess.run([admin, "-c", str(conf), "-d", name, "-u", "party", "--activate-dependencies"], env=env,
                   check=True, stdin=subprocess.DEVNULL)


def _extensions(conf: Path, name: str) -> bool:
    """pg_trgm and btree_gin in the peer's database, as guanxi has pg_trgm: with them Tryton indexes
    its searched text columns for ``ilike`` (its GIN trigram indexes). Returns whether one was added."""
    import psycopg

    added = False
    with psycopg.connect(_dsn(conf, name), autocommit=True) as peer:
        for extension in ("pg_trgm", "btree_gin"):
            if peer.execute("SELECT 1 FROM pg_extension WHERE extname = %s", [extension]).fetchone() is None:
                peer.execute(f"CREATE EXTENSION {extension}")
                added = True
    return added


def _dsn(conf: Path, name: str) -> str:
    uri = next(line.split("=", 1)[1].strip() for line in conf.read_text(encoding="utf-8").splitlines()
               if line.startswith("uri"))
    return uri + name


def export_accounts(path: Path) -> int:
    """The demo accounts guanxi holds, in id order, as the loader reads them."""
    from guanxi.customers.models import Account

    count = 0
    with path.open("w", encoding="utf-8") as out:
        for name, code, phone, city, address in Account.objects.order_by("id").values_list(
                "name", "credit_code", "phone", "city", "address").iterator(chunk_size=20_000):
            out.write(json.dumps({"name": name, "credit_code": code, "phone": phone, "city": city,
                                  "address": address}, ensure_ascii=False) + "\n")
            count += 1
    return count


def start_peer(python: Path, conf: Path, port: int, database: str) -> subprocess.Popen[bytes]:
    from bench.suite import wait_for_port

    """Tryton's WSGI application under gunicorn, as guanxi's own server runs (2 workers × 4 threads),
    with its database's pool loaded at start (as Tryton's documentation sets it up)."""
    proc = subprocess.Popen(
        [str(python.parent / "gunicorn"), "trytond.application:app", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--worker-class", "gthread", "--threads", "4", "--log-level", "warning"],
        env={**_peer_env(conf), "TRYTOND_DATABASE_NAMES": database}, cwd=str(PEER_DIR))
    wait_for_port(port, proc, "Tryton")
    return proc


# --- The questions ----------------------------------------------------------------------------------
def rpc_body(method: str, params: list[Any]) -> bytes:
    return json.dumps({"id": 1, "method": method, "params": params}, ensure_ascii=False).encode()


def call(port: int, path: str, headers: dict[str, str], body: bytes | None = None) -> Any:
    """One request; the decoded answer (an error answer raises)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST" if body is not None else "GET", path, body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        data = None
    if response.status >= 400 or data is None or (isinstance(data, dict) and data.get("error")):
        raise RuntimeError(f"{path} answered {response.status}: {raw[:300]!r}")
    return data


def tryton_login(port: int, database: str) -> dict[str, str]:
    user_id, token, *_bus = call(port, f"/{database}/rpc/", {"Content-Type": "application/json"}, rpc_body(
        "common.db.login", ["admin", {"password": ADMIN_PASSWORD}, "zh_CN"]))["result"]
    session = base64.b64encode(f"admin:{user_id}:{token}".encode()).decode()
    return {"Content-Type": "application/json", "Authorization": f"Session {session}"}


def list_fields(port: int, database: str, headers: dict[str, str]) -> list[str]:
    """The fields Tryton's own client asks for a list of parties: its list view's, and rec_name."""
    view = call(port, f"/{database}/rpc/", headers, rpc_body(
        "model.party.party.fields_view_get", [None, "tree", {}]))["result"]
    return [*view["fields"], "rec_name"]


def compare(report: PeerReport, port_ours: int, port_theirs: int, database: str, token: str) -> None:
    from bench.suite import percentile, time_http
    from guanxi.customers.models import Account

    ours = {"Host": "127.0.0.1", "Accept-Language": "zh-hans", "Authorization": f"Bearer {token}"}
    theirs = tryton_login(port_theirs, database)
    fields = report.fields = list_fields(port_theirs, database, theirs)

    def search_read(domain: list[Any], offset: int, limit: int) -> bytes:
        return rpc_body("model.party.party.search_read", [domain, offset, limit, None, fields, {}])

    # The same sample the suite searches for as the general manager (bench.suite.account_cases).
    sample = Account.objects.exclude(credit_code="").exclude(phone="").order_by("id").first()
    assert sample is not None, "the demo company has no account with a phone and a credit code"
    from guanxi.core import search as search_mod

    short = search_mod.short_name(sample.name)
    # Page 50 of ours (the last one in a smaller company): its cursor, walked once over HTTP.
    path, page = f"/api/v1/accounts?page_size={PAGE}", 1
    while page < 50:
        nxt = call(port_ours, path, ours)["next"]
        if not nxt:
            break
        parts = urlsplit(nxt)
        path, page = f"{parts.path}?{parts.query}", page + 1
    questions: list[tuple[str, str, str, bytes | None]] = [
        ("first page of 50 customers", "—", f"/api/v1/accounts?page_size={PAGE}", search_read([], 0, PAGE)),
        (f"page {page} (customers {(page - 1) * PAGE + 1:,}–{page * PAGE:,})", "—", path,
         search_read([], (page - 1) * PAGE, PAGE)),
    ]
    for what, query in [("search: part of the name", short[-4:]), ("search: last 6 digits of the phone",
                                                                    sample.phone[-6:]),
                        ("search: credit code", sample.credit_code)]:
        questions.append((what, query, f"/api/v1/accounts?page_size={TOP}&q={quote(query)}",
                          search_read([("rec_name", "ilike", f"%{query}%")], 0, TOP)))
    pinyin = search_mod.pinyin_forms(short)
    if pinyin:
        questions.append(("search: pinyin initials", pinyin[1],
                          f"/api/v1/accounts?page_size={TOP}&q={quote(pinyin[1])}", None))
    for operation, query, our_path, their_body in questions:
        our_rows = len(call(port_ours, our_path, ours)["results"])
        mine = time_http(port_ours, our_path, ours, report.n)
        other: list[float] | None = None
        their_rows: int | None = None
        if their_body is not None:
            their_rows = len(call(port_theirs, f"/{database}/rpc/", theirs, their_body)["result"])
            other = time_http(port_theirs, f"/{database}/rpc/", theirs, report.n, method="POST", body=their_body)
        report.comparisons.append(Comparison(operation, query, mine, other, (our_rows, their_rows)))
        print(f"  peers: {operation}: guanxi p95 {percentile(mine, 95):.1f} ms ({our_rows} rows)"
              + (f", Tryton p95 {percentile(other, 95):.1f} ms ({their_rows} rows)" if other else ""),
              file=sys.stderr, flush=True)


def run_peers(size: str, n: int, *, write: bool) -> PeerReport:
    from django.db import connection

    from bench.suite import free_port, start_gunicorn
    from guanxi.core.models import User
    from guanxi.core.services.tokens import token_create

    if connection.vendor != "postgresql":
        raise RuntimeError("the peer (Tryton) is measured on PostgreSQL: set DATABASE_URL")
    report = PeerReport(size=size, n=n, load_before=os.getloadavg(),
                        started_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    python = peer_python()
    conf = tryton_config(connection.settings_dict)
    report.database = name = f"{connection.settings_dict['NAME']}_tryton"
    ensure_database(python, conf, name)
    rows = PEER_DIR / f"accounts-{size}.jsonl"
    report.parties = export_accounts(rows)
    loaded = subprocess.run([str(python), str(LOADER), str(conf), name, str(rows)], env=_peer_env(conf),
                            capture_output=True, text=True, check=False)
    sys.stderr.write(loaded.stderr)
    if loaded.returncode:
        raise RuntimeError(f"loading Tryton failed: {loaded.stderr[-2000:]}")
    report.load = json.loads(loaded.stdout.strip().splitlines()[-1])
    # The load is done once per size: later runs report the run that did it.
    kept = PEER_DIR / f"load-{size}.json"
    if report.load.get("parties_loaded"):
        kept.write_text(json.dumps({**report.load, "at": report.started_at}), encoding="utf-8")
    elif kept.exists():
        report.load = {**json.loads(kept.read_text(encoding="utf-8")), "earlier": True}
    _token, raw = token_create(actor=User.objects.get(username="gm"), name="bench peers")
    port_ours, port_theirs = free_port(), free_port()
    ours = start_gunicorn(port_ours)
    theirs = start_peer(python, conf, port_theirs, name)
    try:
        compare(report, port_ours, port_theirs, name, raw)
    finally:
        for proc in (ours, theirs):
            proc.terminate()
            proc.wait(timeout=30)
    report.load_after = os.getloadavg()
    if write:
        from bench.suite import write_block

        write_block(f"{size}:postgresql:peers", render(report))
    return report


def render(report: PeerReport) -> list[str]:
    from bench.suite import percentile

    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lb, la = report.load_before, report.load_after
    load = report.load
    lines = [
        f"### Beside a peer: Tryton 8.2 at size {report.size} on PostgreSQL — {report.started_at}",
        "",
        f"Machine: {os.cpu_count()} cores, {mem_gib:.0f} GiB; load average {lb[0]:.1f} before, {la[0]:.1f} after. "
        f"Command: `guanxi bench --size {report.size} --only peers --requests {report.n} --write`.",
        "",
        f"The same {report.parties:,} customers in both: guanxi's demo accounts, loaded into Tryton (database "
        f"`{report.database}`) as parties with their credit code (USCC identifier), phone (contact mechanism) and "
        f"address through Tryton's ORM, with `pg_trgm` and `btree_gin` in its database so that it makes its trigram "
        f"indexes (guanxi's search uses `pg_trgm` too)"
        + (f" ({load['parties_loaded']:,} parties in {load['seconds']:.0f} s"
           + (f", by the run of {load['at']})" if load.get("earlier") else ")") if load.get("parties_loaded")
           else " (loaded by an earlier run)")
        + ". Both behind gunicorn (2 workers × 4 threads), asked by the same HTTP client, one after the other, "
        f"as the user who sees every customer: guanxi's API as the general manager, Tryton's JSON-RPC "
        f"`search_read` as its administrator, with its list view's fields ({', '.join(report.fields)}). n = "
        f"{report.n} per operation after warm-up.",
        "",
        "| operation | query | guanxi median ms | guanxi p95 ms | Tryton median ms | Tryton p95 ms | Tryton ÷ guanxi "
        "(p95) | rows (guanxi / Tryton) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in report.comparisons:
        ours = f"{statistics.median(c.ours):.1f} | {percentile(c.ours, 95):.1f}"
        if c.theirs is None:
            theirs, ratio = "— | —", "no such search"
        else:
            theirs = f"{statistics.median(c.theirs):.1f} | {percentile(c.theirs, 95):.1f}"
            ratio = f"{percentile(c.theirs, 95) / percentile(c.ours, 95):.1f} ×"
        rows = f"{c.rows[0]} / {c.rows[1] if c.rows[1] is not None else '—'}"
        lines.append(f"| {c.operation} | {c.query} | {ours} | {theirs} | {ratio} | {rows} |")
    return lines
