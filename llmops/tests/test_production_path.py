"""The first steps after `make prod`, through the image's entry point (docker/entrypoint.sh run
directly with this checkout's virtualenv first on PATH, as the image has its own): migrate, a
project with an admin key, gunicorn and a Celery worker, a model endpoint, a prompt whose default
endpoint it is, and a run that completes. PostgreSQL and Redis are the test machine's; the
database is created for the test and dropped after it."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from llmops.core.testing.fake_openai import reply

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = str(ROOT / "docker/entrypoint.sh")
BASH = shutil.which("bash") or "/bin/bash"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def production_database() -> str:
    name = f"test_llmops_prodpath_{os.getpid()}"
    maintenance = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield f"postgres://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def call(method: str, url: str, key: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=40) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_first_steps_after_make_prod(production_database, fake_openai, tmp_path):
    port = free_port()
    env = {
        "PATH": f"{ROOT / '.venv/bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        # What docker-compose.yml and docker-compose.prod.yml set, on this machine's services.
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": production_database,
        "REDIS_URL": "redis://127.0.0.1:6379/12",
        "REDIS_CACHE_URL": "redis://127.0.0.1:6379/13",
        "CELERY_TASK_DEFAULT_QUEUE": f"prodpath-{os.getpid()}",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "LLMOPS_VAR_DIR": str(tmp_path / "var"),  # no quickstart settings here
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "WORKER_POOL": "solo",
        "WORKER_CONCURRENCY": "1",
        # The fake model server listens on 127.0.0.1: allowed for this deployment only.
        "MODEL_BASE_URL_ALLOWLIST": f"127.0.0.1:{fake_openai.port}",
    }

    def entrypoint(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run([BASH, ENTRYPOINT, *arguments], env=env, capture_output=True, text=True, timeout=300)

    migrated = entrypoint("migrate")
    assert migrated.returncode == 0, migrated.stderr
    # 1. A project and its first key, with the admin scope (keys and endpoints are managed with it).
    created = entrypoint(
        "manage", "create_api_key", "--project", "acme", "--name", "ops", "--scopes", "read,run,write,admin",
        "--create-project",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("llmops_") and "\n" not in key

    processes = [
        subprocess.Popen(
            [BASH, ENTRYPOINT, role], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        for role, log in (("web", (tmp_path / "web.log").open("w")), ("worker", (tmp_path / "worker.log").open("w")))
    ]
    try:
        api = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, health = call("GET", f"{api}/health", key)
                if status == 200 and health["components"].get("workers", {}).get("ok"):
                    break
            except OSError:
                pass
            logs = (tmp_path / "web.log").read_text() + (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, logs
            time.sleep(0.5)

        # 2. A model endpoint (an OpenAI-compatible server here), 3. the default endpoint of a prompt.
        fake_openai.script("acme-model", [reply("Hello, Ada!")])
        status, endpoint = call(
            "POST", f"{api}/models", key, {"name": "main", "model_id": "acme-model", "base_url": fake_openai.base_url}
        )
        assert status == 201, endpoint
        status, prompt = call(
            "POST",
            f"{api}/prompts",
            key,
            {"name": "greet", "template": "Greet {name}.", "model_settings": {"model_endpoint": "main"}},
        )
        assert status == 201, prompt
        # 4. A run that names no endpoint goes to the prompt's default one.
        status, run = call("POST", f"{api}/run?wait=30", key, {"prompt_name": "greet", "variables": {"name": "Ada"}})
        assert status == 200, run
        assert run["status"] == "completed" and run["output"] == "Hello, Ada!", run
        assert fake_openai.calls("acme-model") == 1
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
