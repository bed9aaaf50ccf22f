#!/usr/bin/env python3
"""Bootstrap guanxi from a fresh clone: standard library only, any Python >= 3.11.

    python3 run.py [ARGS…]       set up .venv, then `guanxi start ARGS…` (demo CRM on 127.0.0.1:8000)
    python3 run.py test [ARGS…]  set up .venv, compile translations, then `pytest ARGS…`

The virtual environment lives in ``.venv`` beside this file. ``pip install -e ".[test]"``
runs only when pyproject.toml changed since the last successful install: a hash of it is
kept in ``.venv/guanxi-install.sha256``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYPROJECT = ROOT / "pyproject.toml"
STAMP = VENV / "guanxi-install.sha256"
VENV_PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def say(message: str) -> None:
    print(f"run.py: {message}", flush=True)


def fail(message: str, code: int = 1) -> None:
    print(f"run.py: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def call(cmd: list[str]) -> int:
    """Run a command in the repository and return its exit code.

    On Ctrl+C the child has received the same SIGINT from the terminal; give it a moment
    to stop on its own (pytest prints its summary), then return 130.
    """
    proc = subprocess.Popen(cmd, cwd=ROOT)  # noqa: S603 - our own interpreter and fixed arguments
    try:
        return proc.wait()
    except KeyboardInterrupt:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return 130


def venv_works() -> bool:
    if not VENV_PYTHON.exists():
        return False
    probe = [str(VENV_PYTHON), "-c", "import sys; sys.exit(sys.version_info < (3, 11))"]
    return subprocess.run(probe, capture_output=True).returncode == 0  # noqa: S603


def create_venv() -> None:
    if importlib.util.find_spec("ensurepip") is None:
        fail(
            "this Python has no 'ensurepip', so it cannot create a virtual environment.\n"
            "  On Debian or Ubuntu install it with:  sudo apt-get install python3-venv\n"
            f"  (or python3.{sys.version_info.minor}-venv), then run this command again."
        )
    cmd = [sys.executable, "-m", "venv", str(VENV)]
    if VENV.exists():
        cmd.insert(3, "--clear")  # a broken .venv (e.g. its Python was removed): start over
        say(f"{VENV} exists but does not work; recreating it …")
    else:
        say(f"creating the virtual environment in {VENV} …")
    rc = call(cmd)
    if rc != 0 or not VENV_PYTHON.exists():
        if VENV.exists():
            shutil.rmtree(VENV, ignore_errors=True)  # never leave a half-made venv behind
        fail(
            "could not create the virtual environment (see the message above).\n"
            "  On Debian or Ubuntu this usually means:  sudo apt-get install python3-venv",
            rc or 1,
        )


def pyproject_hash() -> str:
    return hashlib.sha256(PYPROJECT.read_bytes()).hexdigest()


def ensure_installed() -> None:
    """Create .venv if needed and install guanxi into it when pyproject.toml changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - run.py may be started by any python3
        fail(f"guanxi needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not venv_works():
        create_venv()
    wanted = pyproject_hash()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    python = str(VENV_PYTHON)
    say("upgrading pip …")
    if call([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"]) != 0:
        say("could not upgrade pip; going on with the one in .venv")
    say('installing guanxi and its dependencies (pip install -e ".[test]"); the first time takes minutes …')
    rc = call([python, "-m", "pip", "install", "--quiet", "-e", ".[test]"])
    if rc != 0:
        fail(f"pip install failed (exit {rc}); nothing was recorded, the next run tries again", rc)
    STAMP.write_text(wanted + "\n")
    say("installed")


def run_tests(args: list[str]) -> int:
    python = str(VENV_PYTHON)
    rc = call([python, "-m", "guanxi.cli", "compilemessages"])
    if rc != 0:
        return rc
    return call([python, "-m", "pytest", *args])


def start(args: list[str]) -> None:
    python = str(VENV_PYTHON)
    os.chdir(ROOT)
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process: signals (Ctrl+C, a service manager's SIGTERM) reach guanxi directly.
    os.execv(python, [python, "-m", "guanxi.cli", "start", *args])  # noqa: S606


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"], ["help"]):
        print(__doc__)
        return 0
    ensure_installed()
    if argv[:1] == ["test"]:
        return run_tests(argv[1:])
    start(argv)
    return 0  # not reached: execv does not return


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print(file=sys.stderr)
        sys.exit(130)
