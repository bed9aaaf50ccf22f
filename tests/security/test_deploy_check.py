"""S14 — deployment: Django's deploy checks pass with production settings; no secret in the repository."""

from __future__ import annotations

import os
import re
import secrets
import string
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GUANXI_") and k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    env.update(GUANXI_PRODUCTION="1", GUANXI_SECRET_KEY="".join(secrets.choice(alphabet) for _ in range(64)),
               GUANXI_ALLOWED_HOSTS="crm.example.com", GUANXI_DATA_DIR=str(tmp_path), **extra)
    return env


def test_check_deploy_has_no_findings_in_production(tmp_path):
    result = subprocess.run([sys.executable, "-m", "guanxi.cli", "check", "--deploy", "--fail-level", "WARNING"],
                            env=production_env(tmp_path), cwd=REPO, capture_output=True, text=True, timeout=120,
                            check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output and "ERRORS" not in output, output
    assert "no issues" in output, output


def test_production_without_secret_key_refuses_to_start(tmp_path):
    env = production_env(tmp_path)
    del env["GUANXI_SECRET_KEY"]
    result = subprocess.run([sys.executable, "-c", "import guanxi.settings"], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "GUANXI_SECRET_KEY must be set" in result.stderr
    assert not (tmp_path / "secret_key").exists()  # no key was quietly generated instead


# The patterns are assembled so this file does not match itself.
DASHES = "-" * 5
SECRET_PATTERNS = {
    "literal secret key": re.compile(r"""SECRET_KEY\s*=\s*[rbuf]*["'](?![$%{])[^"'\s]{8,}["']"""),
    "private key or certificate": re.compile(DASHES + "BEGIN"),
    "API token": re.compile(r"\bgx" + "_" + r"[A-Za-z0-9_\-]{30,}"),
}


def repository_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=True).stdout
    return [REPO / name for name in listed.split("\0") if name]


def test_no_secret_in_the_repository():
    files = repository_files()
    assert any(f.name == "settings.py" for f in files)
    findings = []
    for path in files:
        if not path.is_file():
            continue  # deleted in the working tree
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        for label, pattern in SECRET_PATTERNS.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                findings.append(f"{path.relative_to(REPO)}:{line}: {label}: {match.group(0)[:40]}")
    assert findings == [], "\n".join(findings)


def test_secret_patterns_would_catch_a_leak():
    leaks = ['SECRET_KEY = "' + "a1b2c3d4" * 4 + '"', DASHES + "BEGIN RSA PRIVATE KEY" + DASHES,
             "token: gx" + "_" + "A" * 43]
    for leak in leaks:
        assert any(p.search(leak) for p in SECRET_PATTERNS.values()), leak
    for harmless in ('SECRET_KEY = os.environ["GUANXI_SECRET_KEY"]', 'GUANXI_SECRET_KEY="$deploy_key"'):
        assert not any(p.search(harmless) for p in SECRET_PATTERNS.values()), harmless
