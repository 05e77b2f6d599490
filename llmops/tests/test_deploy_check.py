import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _check(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_", "DEBUG", "SECRET_KEY"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "llmops.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "llmops.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/llmops",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def test_deploy_checks_pass_with_production_settings():
    result = _check(SECRET_KEY=secrets.token_urlsafe(60), **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout + result.stderr


def test_deploy_checks_catch_a_weak_secret_and_debug():
    weak = _check(SECRET_KEY="short", **PRODUCTION)
    assert weak.returncode != 0 and "security.W009" in weak.stderr
    debug = _check(SECRET_KEY=secrets.token_urlsafe(60), **{**PRODUCTION, "DEBUG": "true"})
    assert debug.returncode != 0 and "security.W018" in debug.stderr
