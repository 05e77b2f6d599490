import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from llmops.core import env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("function", "value", "message"),
    [
        (lambda: env.env_bool("X_TEST_VAR", False), "ture", "not a boolean"),
        (lambda: env.env_int("X_TEST_VAR", 1), "10m", "not an integer"),
        (lambda: env.env_int("X_TEST_VAR", 1, minimum=1), "0", "at least 1"),
        (lambda: env.env_float("X_TEST_VAR", 1.0), "nan", "finite"),
        (lambda: env.env_url("X_TEST_VAR", None, schemes=("redis",)), "http://x", "scheme"),
    ],
)
def test_bad_values_fail_loudly_naming_the_variable(monkeypatch, function, value, message):
    monkeypatch.setenv("X_TEST_VAR", value)
    with pytest.raises(ImproperlyConfigured, match=message) as caught:
        function()
    assert "X_TEST_VAR" in str(caught.value)


def test_good_values_parse(monkeypatch):
    monkeypatch.setenv("X_TEST_VAR", "Yes")
    assert env.env_bool("X_TEST_VAR", False) is True
    monkeypatch.setenv("X_TEST_VAR", "a, b,,c")
    assert env.env_list("X_TEST_VAR", []) == ["a", "b", "c"]
    monkeypatch.delenv("X_TEST_VAR")
    assert env.env_int("X_TEST_VAR", 7) == 7


def _load_settings(**overrides: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import llmops.settings as s; print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL)",
        ],
        cwd=ROOT,
        env={**clean, **overrides},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_refuse_to_start_without_secret_key():
    result = _load_settings(DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_quickstart_defaults_are_sqlite_and_filesystem_broker(tmp_path):
    result = _load_settings(DEBUG="true", LLMOPS_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "filesystem://"]


def test_redis_url_drives_broker_and_cache():
    result = _load_settings(DEBUG="true", REDIS_URL="redis://127.0.0.1:6379/3")
    assert result.stdout.split()[1] == "redis://127.0.0.1:6379/3"


def test_bad_database_url_fails_loudly():
    result = _load_settings(DEBUG="true", DATABASE_URL="mysql2://x")
    assert result.returncode != 0 and "DATABASE_URL" in result.stderr
