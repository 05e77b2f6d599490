"""Fault injection on the real stack: a Celery worker process killed with SIGKILL while it holds runs'
delayed messages, and database connections terminated while the model answers. Each scenario prints
its figures; the fake model server counts every call that reached it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.db.models import Sum

from llmops.core.testing.fake_openai import reply, status
from runs import services
from runs.models import CostLog, Run, RunAttempt
from runs.tasks import execute_run
from runs.tests.helpers import make_endpoint, make_version, wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

RUNS = 20
RESTART_DEADLINE_SECONDS = 90
BASE_DIR = Path(settings.BASE_DIR)


def broker() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def held_by_workers(queue: str) -> int:
    """Messages of ``queue`` that a worker took and has not acknowledged (kombu's Redis 'unacked' hash)."""
    return sum(1 for _, raw in broker().hscan_iter("unacked") if json.loads(raw)[2] == queue)


def forget_queue(queue: str) -> None:
    """Drop the queue and the unacknowledged messages a killed worker left behind, so that Redis does not
    hand them back to nobody an hour later."""
    client = broker()
    for tag, raw in list(client.hscan_iter("unacked")):
        if json.loads(raw)[2] == queue:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
    client.delete(queue, *(f"{queue}\x06\x16{priority}" for priority in (3, 6, 9)))


def database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def chaos_queue() -> Iterator[str]:
    """A queue of the test's own, consumed only by the worker processes it starts (never by the
    in-process test worker, which consumes the session's default queue)."""
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-chaos-{uuid.uuid4().hex[:8]}"
    yield queue
    forget_queue(queue)


@contextmanager
def worker_process(queue: str, log: Path, *, beat: bool = False) -> Iterator[subprocess.Popen]:
    """``celery -A llmops worker`` with the production settings module, on this test's database and
    ``queue``: its retries and the sweeper's copies go to ``queue`` too. With ``beat``, celery beat runs
    in it on the real schedule (the runs sweeper every RUN_SWEEP_INTERVAL_SECONDS)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "llmops.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "REDIS_CACHE_URL": settings.CACHES["default"]["LOCATION"],
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "false",
        "MODEL_BASE_URL_ALLOWLIST": "127.0.0.1",
        "LLMOPS_VAR_DIR": str(log.parent),
        "LOG_LEVEL": "WARNING",
        "RUN_RETRY_BASE_SECONDS": "0.05",
        "RUN_RETRY_MAX_SECONDS": "60",  # a Retry-After of 15 s is honoured
        "RUN_LEASE_SECONDS": "10",  # a claim lost with its worker comes back 10 s after the endpoint timeout
    }
    command = [sys.executable, "-m", "celery", "-A", "llmops", "worker", "--pool", "threads", "--concurrency", "4"]
    command += ["--loglevel", "WARNING", "--without-gossip", "--without-mingle", "-n", f"{log.stem}@%h"]
    if beat:
        command += ["--beat", "--schedule", str(log.with_suffix(".schedule"))]
    with log.open("ab") as output:
        process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()  # warm shutdown: unacknowledged messages go back to the queue
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def kill_hard(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def publish(runs: list[Run], queue: str) -> None:
    for run in runs:
        execute_run.apply_async(args=[str(run.pk)], task_id=run.task_id, queue=queue)


def terminate_connections_while(
    busy: Callable[[], bool], *, done: Callable[[], bool], timeout: float
) -> tuple[int, int]:
    """Every 0.3 s while ``busy()``, terminate every other connection to this test's database (the
    workers'), until ``done()`` or ``timeout``; returns the rounds and the connections terminated."""
    rounds = terminated = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done():
        if busy():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                terminated += cursor.fetchone()[0]
            rounds += 1
        time.sleep(0.3)
    return rounds, terminated


def finished_within(run_ids: list, *, seconds: float, log: Path) -> float:
    started = time.monotonic()
    try:
        wait_until(
            lambda: Run.objects.filter(pk__in=run_ids, status=Run.Status.COMPLETED).count() == len(run_ids),
            timeout=seconds,
            interval=0.5,
            what=f"{len(run_ids)} runs to complete",
        )
    except AssertionError:
        states = list(Run.objects.filter(pk__in=run_ids).values_list("status", "attempts", "error_type"))
        tail = log.read_text(errors="replace")[-3000:]
        raise AssertionError(f"runs not finished in {seconds} s: {states}\nworker log:\n{tail}") from None
    return time.monotonic() - started


@pytest.mark.parametrize("wait", ["backoff", "throttled"])
def test_runs_held_by_a_killed_worker_finish_soon_after_a_restart(
    project, fake_openai, chaos_queue, tmp_path, capsys, wait
):
    """kill -9 of the worker holding the runs' delayed messages; a new worker (with beat) finishes them."""
    if wait == "backoff":
        # Each run's first call is rate limited for 15 s; the worker holds 20 countdown messages.
        endpoint = make_endpoint(project, fake_openai.base_url, timeout_seconds=5, max_concurrency=RUNS)
        fake_openai.script(endpoint.model_id, [status(429, retry_after=15)] * RUNS + [reply("ok")])
    else:
        # One slot: the first run holds it for 8 s, the other 19 wait for it in throttle loops.
        endpoint = make_endpoint(project, fake_openai.base_url, timeout_seconds=10, max_concurrency=1)
        fake_openai.script(endpoint.model_id, [reply("slow", delay=8), reply("ok")])
    version = make_version(project, endpoint=endpoint)
    runs = [
        services.run_create(project=project, version=version, variables={"input": f"text {n}"}, enqueue=False)[0]
        for n in range(RUNS)
    ]
    run_ids = [run.pk for run in runs]

    with worker_process(chaos_queue, tmp_path / "first.log") as first:
        publish(runs, chaos_queue)
        if wait == "backoff":
            wait_until(lambda: fake_openai.calls(endpoint.model_id) == RUNS, timeout=60, what="20 first attempts")
            wait_until(lambda: held_by_workers(chaos_queue) == RUNS, timeout=30, what="20 delayed messages held")
        else:
            wait_until(lambda: fake_openai.calls(endpoint.model_id) == 1, timeout=60, what="the slow call")
            time.sleep(2)  # the other runs go round their throttle waits
            assert held_by_workers(chaos_queue) >= 1
        kill_hard(first)
    assert Run.objects.filter(pk__in=run_ids, status=Run.Status.COMPLETED).count() == 0

    with worker_process(chaos_queue, tmp_path / "second.log", beat=True):
        elapsed = finished_within(run_ids, seconds=RESTART_DEADLINE_SECONDS, log=tmp_path / "second.log")

    calls = fake_openai.calls(endpoint.model_id)
    attempts = Run.objects.filter(pk__in=run_ids).aggregate(total=Sum("attempts"))["total"]
    with capsys.disabled():
        print(
            f"\nworker kill -9 with {RUNS} runs in {wait} waits: all finished {elapsed:.0f} s after restart; "
            f"model calls {calls}, attempts {attempts}"
        )
    assert calls == attempts == RunAttempt.objects.filter(run__in=run_ids).count()  # one call per attempt
    assert CostLog.objects.filter(run__in=run_ids).count() == RUNS
    if wait == "backoff":
        assert calls == 2 * RUNS
        histories = {
            tuple(RunAttempt.objects.filter(run=run_id).values_list("outcome", flat=True)) for run_id in run_ids
        }
        assert histories == {("retrying", "completed")}
    else:
        # The call in flight when the worker died was made (and maybe billed), then made again.
        assert calls == RUNS + 1
        lost = RunAttempt.objects.get(run__in=run_ids, outcome="lease_expired")
        assert list(lost.run.attempts_history.values_list("outcome", flat=True)) == ["lease_expired", "completed"]


@pytest.mark.usefixtures("celery_worker")
def test_a_paid_answer_survives_lost_database_connections(project, fake_openai, capsys):
    """100 runs while every other connection to the test database is terminated every 0.3 s."""
    total = 100
    endpoint = make_endpoint(project, fake_openai.base_url, max_concurrency=8)
    fake_openai.script(endpoint.model_id, [reply("ok", prompt_tokens=10, completion_tokens=2, delay=0.15)])
    version = make_version(project, endpoint=endpoint)
    run_ids = [
        services.run_create(project=project, version=version, variables={"input": f"text {n}"})[0].pk
        for n in range(total)
    ]

    rounds, terminated = terminate_connections_while(
        lambda: fake_openai.calls(endpoint.model_id) < total,  # while calls are still being made
        done=lambda: Run.objects.filter(pk__in=run_ids, status__in=Run.TERMINAL).count() == total,
        timeout=90,
    )

    completed = Run.objects.filter(pk__in=run_ids, status=Run.Status.COMPLETED).count()
    calls = fake_openai.calls(endpoint.model_id)
    cost_logs = CostLog.objects.filter(run__in=run_ids).count()
    with capsys.disabled():
        print(
            f"\n{total} runs under {rounds} rounds of pg_terminate_backend ({terminated} backends terminated): "
            f"{completed} completed, model calls {calls}, cost-log rows {cost_logs}"
        )
    assert rounds >= 5 and terminated >= 5
    assert (completed, calls, cost_logs) == (total, total, total)
    assert set(RunAttempt.objects.filter(run__in=run_ids).values_list("number", "outcome")) == {(1, "completed")}
