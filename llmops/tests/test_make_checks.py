"""`make prod` refuses missing, example and weak secrets before docker compose runs; `make test` (what CI
runs) includes every check of `make lint`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "SECRET_KEY": "k" * 10 + "Zq81-_vXw3MpLr7TnB2cYe6HuJa9sDfGh0iOlK4W5xQ",  # 53 characters, many distinct
    "POSTGRES_PASSWORD": "Xr7-pQ2_mV9sLk4wT8",
    "ALLOWED_HOSTS": "llmops.example.com",
    "FLOWER_BASIC_AUTH": "ops:Tn5-wQ8zR2vLx7",
}


@pytest.fixture
def make_prod(tmp_path):
    """Runs `make prod` with a stand-in for docker compose that records its arguments."""
    calls = tmp_path / "calls"
    compose = tmp_path / "compose"
    compose.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{calls}"\n')
    compose.chmod(0o755)

    def run(**env: str) -> tuple[subprocess.CompletedProcess, list[str] | None]:
        base = {k: v for k, v in os.environ.items() if k not in (*GOOD, "MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
        completed = subprocess.run(
            [shutil.which("make") or "make", "--no-print-directory", "prod", f"COMPOSE={compose}"],
            cwd=ROOT,
            env={**base, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        return completed, calls.read_text().splitlines() if calls.exists() else None

    return run


def test_prod_starts_with_strong_secrets(make_prod):
    completed, compose_args = make_prod(**GOOD)
    assert completed.returncode == 0, completed.stderr
    assert compose_args == ["-f", "docker-compose.yml", "-f", "docker-compose.prod.yml", "up", "-d"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SECRET_KEY", "change-me", "SECRET_KEY is an example or default value"),
        ("SECRET_KEY", "insecure-compose-key-for-local-use-only", "SECRET_KEY is an example or default value"),
        ("SECRET_KEY", "aB3-" * 12 + "x", "SECRET_KEY has 49 characters; at least 50"),
        ("SECRET_KEY", "", "SECRET_KEY is not set"),
        ("POSTGRES_PASSWORD", "llmops", "POSTGRES_PASSWORD is an example or default value"),
        ("POSTGRES_PASSWORD", "short-Pw1", "POSTGRES_PASSWORD has 9 characters"),
        ("POSTGRES_PASSWORD", "has/slash-and@more!", "URL-safe"),
        ("ALLOWED_HOSTS", "", "ALLOWED_HOSTS is not set"),
        ("FLOWER_BASIC_AUTH", "ops:change-me", "the password of 'ops' is an example"),
        ("FLOWER_BASIC_AUTH", "ops:short", "the password of 'ops' has 5 characters"),
        ("FLOWER_BASIC_AUTH", "no-colon", "must be user:password"),
    ],
)
def test_prod_refuses_missing_example_and_weak_secrets(make_prod, name, value, message):
    completed, compose_args = make_prod(**{**GOOD, name: value})
    assert completed.returncode != 0
    assert message in completed.stderr
    assert compose_args is None, "docker compose must not run"


def test_the_env_example_copied_as_is_is_refused(tmp_path):
    env_file = tmp_path / ".env"
    shutil.copy(ROOT / ".env.example", env_file)
    clean = {k: v for k, v in os.environ.items() if k not in GOOD}
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bin/check-prod-env"), str(env_file)],
        env=clean,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert completed.returncode == 1
    for expected in ("SECRET_KEY is an example", "POSTGRES_PASSWORD is not set", "ALLOWED_HOSTS is not set"):
        assert expected in completed.stderr
    # With the secrets filled in (inline comments and quotes as compose reads them), it passes.
    env_file.write_text(
        env_file.read_text()
        .replace("SECRET_KEY=change-me", f"SECRET_KEY='{GOOD['SECRET_KEY']}'")
        .replace("POSTGRES_PASSWORD=   ", f"POSTGRES_PASSWORD={GOOD['POSTGRES_PASSWORD']}   ")
        .replace("ALLOWED_HOSTS=   ", "ALLOWED_HOSTS=llmops.example.com   ")
        .replace("FLOWER_BASIC_AUTH=   ", f"FLOWER_BASIC_AUTH={GOOD['FLOWER_BASIC_AUTH']}   ")
    )
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bin/check-prod-env"), str(env_file)], env=clean, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr


def test_make_test_runs_every_check_of_make_lint():
    # CI (.ci/run) runs `make test`: whatever `make lint` checks, CI checks too.
    def commands(target: str) -> list[str]:
        completed = subprocess.run(
            [shutil.which("make") or "make", "--no-print-directory", "-n", "-o", ".venv/.installed-test", target],
            cwd=ROOT,
            env={k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return completed.stdout.splitlines()

    lint, test = commands("lint"), commands("test")
    assert any("ruff format --check" in line for line in lint)
    assert [line for line in lint if line in test] == lint
    assert "make test" in (ROOT / ".ci/run").read_text()
