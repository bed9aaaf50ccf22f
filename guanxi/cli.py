"""The ``guanxi`` command: start, serve, demo, worker, bench and every Django manage command.

    guanxi start            set up, load demo data once, serve (what the README's first command runs)
    guanxi setup            compile translations, migrate, collect static files
    guanxi serve            web server (gunicorn) plus an embedded worker unless --no-worker
    guanxi worker           a task-queue worker (embedded SQLite queue, or Redis with REDIS_URL)
    guanxi demo --size S    build the deterministic demo company (S, M or L); idempotent
    guanxi bench            run the benchmark suite and write docs/benchmarks.md
    guanxi backup           one archive of the database and uploaded files (--to DIR|FILE, --keep N)
    guanxi restore ARCHIVE  check a backup, then put it back (--yes: do not ask)
    guanxi createadmin      the first administrator (guanxi's administrator role); --no-input for scripts
    guanxi <django command> any manage.py command, e.g. guanxi changepassword
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

DEMO_LOGINS = [
    ("admin", "系统管理员 / administrator"),
    ("gm", "总经理 / general manager"),
    ("manager", "销售经理 / sales manager"),
    ("sales", "销售员 / salesperson"),
    ("sales2", "销售员（同组）/ salesperson, teammate"),
    ("outsider", "销售员（华南）/ salesperson, another department"),
    ("service", "客服专员 / service agent"),
    ("service2", "客服专员（同组）/ service agent, teammate"),
    ("servicemgr", "客服主管 / service manager"),
    ("marketing", "市场专员 / marketing"),
]


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    import django

    django.setup()


def _manage(args: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["guanxi", *args])


def compile_messages() -> None:
    """Compile the .po catalogues to .mo with Babel (no GNU gettext needed on the machine)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    locale_dir = Path(__file__).resolve().parent / "locale"
    for po_path in locale_dir.glob("*/LC_MESSAGES/*.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as fh:
            catalog = read_po(fh)
        with mo_path.open("wb") as fh:
            write_mo(fh, catalog)


def setup(quiet: bool = True) -> None:
    compile_messages()
    verbosity = "0" if quiet else "1"
    _manage(["migrate", "--no-input", "-v", verbosity])
    _manage(["collectstatic", "--no-input", "-v", "0"])


def _gunicorn_log_options() -> list[str]:
    """With GUANXI_LOG_FORMAT=json, gunicorn's own lines (start, worker boot and exit) are JSON too."""
    if os.environ.get("GUANXI_LOG_FORMAT", "").strip().lower() != "json":
        return []
    import json
    import tempfile

    from guanxi.core.logs import logging_config

    config = logging_config(fmt="json", level=os.environ.get("GUANXI_LOG_LEVEL", "INFO"))
    config["loggers"]["gunicorn.error"] = {"level": "INFO", "handlers": ["console"], "propagate": False}
    config["loggers"]["gunicorn.access"] = {"level": "WARNING", "handlers": ["console"], "propagate": False}
    with tempfile.NamedTemporaryFile("w", prefix="guanxi-gunicorn-log-", suffix=".json", delete=False) as fh:
        json.dump(config, fh)
    return ["--log-config-json", fh.name]


def serve(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="guanxi serve")
    parser.add_argument("--host", default=os.environ.get("GUANXI_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GUANXI_PORT", "8000")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("GUANXI_WEB_WORKERS", "2")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("GUANXI_WEB_THREADS", "4")))
    parser.add_argument("--no-worker", action="store_true", help="do not start an embedded queue worker")
    args = parser.parse_args(argv)
    children: list[subprocess.Popen[bytes]] = []
    log_options = _gunicorn_log_options()
    if not args.no_worker:
        children.append(subprocess.Popen([sys.executable, "-m", "guanxi.cli", "worker"]))
    web = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "guanxi.wsgi:application",
         "--bind", f"{args.host}:{args.port}", "--workers", str(args.workers),
         "--threads", str(args.threads), "--worker-class", "gthread",
         # No access log of gunicorn's own: the application writes one line per request
         # (guanxi.core.logs, with its request id; JSON with GUANXI_LOG_FORMAT=json).
         "--graceful-timeout", "10", *log_options,
         # Several web processes on one machine would share its default path (~/.gunicorn).
         "--no-control-socket"]
    )
    children.append(web)

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        return web.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        if log_options:
            Path(log_options[-1]).unlink(missing_ok=True)


def start(argv: list[str]) -> int:
    setup()
    _django_setup()
    from guanxi.demo import build_demo

    build_demo("S")
    port = int(os.environ.get("GUANXI_PORT", "8000"))
    print(f"\nguanxi 关系 is running at http://127.0.0.1:{port}/")
    from guanxi.demo import DEMO_PASSWORD

    print(f"Demo logins 演示账号 (password 密码: {DEMO_PASSWORD}):")
    for username, role in DEMO_LOGINS:
        print(f"  {username:<10} {role}")
    print("Press Ctrl+C to stop. 按 Ctrl+C 停止。\n", flush=True)
    return serve(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    command = argv[0] if argv else "help"
    rest = argv[1:]
    if command in {"help", "-h", "--help"}:
        print(__doc__)
        return 0
    if command == "start":
        return start(rest)
    if command == "setup":
        setup(quiet=False)
        return 0
    if command == "serve":
        return serve(rest)
    if command == "worker":
        _manage(["run_huey", *rest])
        return 0
    if command == "demo":
        _manage(["demo", *rest])
        return 0
    if command == "bench":
        _manage(["bench", *rest])
        return 0
    if command in {"backup", "restore"}:
        _manage([command, *rest])
        return 0
    if command == "compilemessages":
        compile_messages()
        return 0
    if command == "manage":
        _manage(rest)
        return 0
    _manage(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
