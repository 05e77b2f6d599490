"""Connection use is bounded: 64 worker threads and 4 web processes under load hold no more PostgreSQL
connections than their pools allow, where one connection per thread was held before.

The platform runs in processes of its own on this test's database, as in production: gunicorn with the
docker config (4 processes, 4 threads each) and a Celery worker with 64 threads, both with the
production settings module. Runs call the suite's fake model (slow enough that 64 are in flight at
once), posted by many clients while readers poll the API; pg_stat_activity is sampled throughout.
The figures are printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.conf import settings
from django.db import connection

from accounts import services as account_services
from accounts.tests.factories import ProjectFactory
from llmops.core.testing.fake_openai import reply
from runs.models import Run
from runs.tests.helpers import make_endpoint, make_version, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WEB_PROCESSES, WEB_THREADS, WORKER_THREADS = 4, 4, 64
POOL_SIZE = 8
RUNS = 128
MODEL_DELAY_SECONDS = 2.0
POSTERS, READERS = 16, 8
BASE_DIR = Path(settings.BASE_DIR)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    return f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def connections_now() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@contextmanager
def platform(directory: Path, *, pool_size: int) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "llmops.settings",
        "DATABASE_URL": database_url(),
        "DB_POOL_MAX_SIZE": str(pool_size),
        "REDIS_URL": "redis://127.0.0.1:6379/11",
        "REDIS_CACHE_URL": "redis://127.0.0.1:6379/12",
        "CELERY_TASK_DEFAULT_QUEUE": f"connections-{uuid.uuid4().hex[:8]}",
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "MODEL_BASE_URL_ALLOWLIST": "127.0.0.1",
        "LLMOPS_VAR_DIR": str(directory),
        "LOG_LEVEL": "WARNING",
        "API_DEFAULT_REQUESTS_PER_MINUTE": "100000",
        "API_DEFAULT_RUNS_PER_MINUTE": "100000",
        "GUNICORN_THREADS": str(WEB_THREADS),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    commands = [
        [
            *(sys.executable, "-m", "gunicorn", "llmops.wsgi:application", "--config", "docker/gunicorn.conf.py"),
            *("--workers", str(WEB_PROCESSES), "--bind", f"127.0.0.1:{port}"),
        ],
        [
            *(sys.executable, "-m", "celery", "-A", "llmops", "worker", "--pool", "threads"),
            *("--concurrency", str(WORKER_THREADS), "--loglevel", "WARNING", "--without-gossip"),
            *("--without-mingle", "-n", f"connections-{uuid.uuid4().hex[:6]}@%h"),
        ],
    ]
    processes = []
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "platform.log"
    try:
        with log.open("ab") as output:
            for command in commands:
                processes.append(
                    subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT)
                )
        base_url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return requests.get(f"{base_url}/api/v1/health?workers=false", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(up, timeout=60, interval=0.5, what="gunicorn")
        yield base_url
    except Exception:
        print(log.read_text(errors="replace")[-3000:])
        raise
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def peak_connections_under_load(tmp_path: Path, fake_openai, *, pool_size: int) -> tuple[int, float]:
    project = ProjectFactory()
    key = account_services.api_key_create(project=project, name="load", scopes=["read", "run"]).secret
    endpoint = make_endpoint(project, fake_openai.base_url, max_concurrency=WORKER_THREADS, timeout_seconds=30)
    version = make_version(project, endpoint=endpoint)
    fake_openai.script(endpoint.model_id, [reply("ok", delay=MODEL_DELAY_SECONDS)])
    headers = {"Authorization": f"Bearer {key}"}
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(connections_now())
            time.sleep(0.05)

    def read(base_url: str) -> None:
        with requests.Session() as session:
            while not stop.is_set():
                session.get(f"{base_url}/api/v1/runs?limit=5", headers=headers, timeout=30)

    def post(base_url: str, count: int) -> None:
        with requests.Session() as session:
            for _ in range(count):
                body = {"prompt_id": str(version.prompt_id), "variables": {"input": "x"}}
                answer = session.post(f"{base_url}/api/v1/run", json=body, headers=headers, timeout=30)
                assert answer.status_code == 202, answer.text

    with platform(tmp_path / f"pool-{pool_size}", pool_size=pool_size) as base_url:
        background = [threading.Thread(target=sample)] + [
            threading.Thread(target=read, args=(base_url,)) for _ in range(READERS)
        ]
        for thread in background:
            thread.start()
        started = time.monotonic()
        try:
            posters = [threading.Thread(target=post, args=(base_url, RUNS // POSTERS)) for _ in range(POSTERS)]
            for thread in posters:
                thread.start()
            for thread in posters:
                thread.join()
            wait_until(
                lambda: Run.objects.filter(project=project, status=Run.Status.COMPLETED).count() == RUNS,
                timeout=120,
                interval=0.5,
                what="every run to complete",
            )
        finally:
            stop.set()
            for thread in background:
                thread.join()
        elapsed = time.monotonic() - started
    return max(samples), elapsed


def test_64_worker_threads_and_4_web_processes_hold_at_most_their_pools(tmp_path, fake_openai):
    pooled, pooled_seconds = peak_connections_under_load(tmp_path, fake_openai, pool_size=POOL_SIZE)
    unpooled, unpooled_seconds = peak_connections_under_load(tmp_path, fake_openai, pool_size=0)

    bound = (WEB_PROCESSES + 1) * POOL_SIZE
    print(
        f"\npeak PostgreSQL connections, {WORKER_THREADS} worker threads + {WEB_PROCESSES} web processes x "
        f"{WEB_THREADS} threads, {RUNS} runs of {MODEL_DELAY_SECONDS} s posted by {POSTERS} clients and "
        f"{READERS} readers: pool of {POOL_SIZE} per process {pooled} (bound {bound}, {pooled_seconds:.1f} s); "
        f"no pool {unpooled} ({unpooled_seconds:.1f} s)"
    )
    assert pooled <= bound
    assert pooled < unpooled
