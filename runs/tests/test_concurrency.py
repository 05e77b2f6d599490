"""Per-endpoint concurrency: the Redis semaphore holds across threads and processes, and the engine
keeps an endpoint's calls in flight at or under its max_concurrency."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis
from django.conf import settings
from django.test import override_settings

from llmops.core.testing.fake_openai import reply
from runs import concurrency, services
from runs.concurrency import LocalSemaphore, RedisSemaphore
from runs.models import Run
from runs.tests.helpers import make_endpoint, make_version, terminal_run, wait_until


def redis_semaphore() -> RedisSemaphore:
    return RedisSemaphore(redis.Redis.from_url(settings.REDIS_URL))


def hammer(make_semaphore, *, limit: int, threads: int, rounds: int) -> tuple[int, int]:
    """Threads, each with its own client, acquire and release as fast as they can; returns the
    highest number of holders seen at once and the number of successful acquisitions."""
    name = f"test:{uuid.uuid4().hex}"
    lock = threading.Lock()
    holders = peak = granted = 0
    start = threading.Barrier(threads)

    def worker() -> None:
        nonlocal holders, peak, granted
        semaphore = make_semaphore()
        start.wait()
        for _ in range(rounds):
            token = semaphore.acquire(name, limit=limit, lease_seconds=30)
            if token is None:
                continue
            with lock:
                holders += 1
                granted += 1
                peak = max(peak, holders)
            time.sleep(0.001)
            with lock:
                holders -= 1
            semaphore.release(name, token)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(30)
    return peak, granted


def simultaneous_acquisitions(semaphore, *, limit: int, contenders: int) -> int:
    name = f"test:{uuid.uuid4().hex}"
    start = threading.Barrier(contenders)
    tokens: list[str | None] = []

    def contend() -> None:
        start.wait()
        tokens.append(semaphore.acquire(name, limit=limit, lease_seconds=30))

    pool = [threading.Thread(target=contend) for _ in range(contenders)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(10)
    return sum(token is not None for token in tokens)


def test_parallel_acquisitions_never_exceed_the_limit_in_redis():
    peak, granted = hammer(redis_semaphore, limit=3, threads=16, rounds=30)

    assert peak <= 3
    assert granted >= 30  # the semaphore was contended, not merely refusing


def test_exactly_limit_of_many_simultaneous_contenders_get_a_slot():
    assert simultaneous_acquisitions(redis_semaphore(), limit=3, contenders=20) == 3


def test_release_frees_a_slot_and_an_expired_lease_frees_it_too():
    semaphore = redis_semaphore()
    name = f"test:{uuid.uuid4().hex}"
    held = semaphore.acquire(name, limit=1, lease_seconds=30)
    assert held is not None and semaphore.acquire(name, limit=1, lease_seconds=30) is None
    semaphore.release(name, held)

    crashed = semaphore.acquire(name, limit=1, lease_seconds=0.2)  # a worker that dies without releasing
    assert crashed is not None and semaphore.in_use(name) == 1
    assert wait_until(lambda: semaphore.acquire(name, limit=1, lease_seconds=30), timeout=3, what="lease expiry")


def test_without_redis_the_limit_holds_within_the_process():
    with override_settings(REDIS_URL=None):
        assert isinstance(concurrency.semaphore(), LocalSemaphore)
    local = LocalSemaphore()

    peak, _ = hammer(lambda: local, limit=2, threads=12, rounds=30)

    assert peak <= 2
    assert simultaneous_acquisitions(LocalSemaphore(), limit=2, contenders=10) == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_an_endpoint_never_has_more_calls_in_flight_than_its_max_concurrency(project, fake_openai):
    # The test worker has 4 threads; the endpoint allows 2 calls at once.
    endpoint = make_endpoint(project, fake_openai.base_url, max_concurrency=2)
    fake_openai.script(endpoint.model_id, [reply("done", delay=0.5)])
    version = make_version(project, endpoint=endpoint)
    slot_name = concurrency.endpoint_key(endpoint.pk)
    semaphore = concurrency.semaphore()

    started = time.monotonic()
    runs = [services.run_create(project=project, version=version, variables={"input": str(i)})[0] for i in range(6)]
    peak = 0
    while not all(run.is_terminal for run in Run.objects.filter(pk__in=[r.pk for r in runs])):
        peak = max(peak, semaphore.in_use(slot_name))
        assert time.monotonic() - started < 30, "runs did not finish"
        time.sleep(0.01)
    elapsed = time.monotonic() - started

    finished = [terminal_run(run.pk) for run in runs]
    assert [run.status for run in finished] == ["completed"] * 6
    assert all(run.attempts == 1 for run in finished)  # waiting for a slot spends no attempt
    assert fake_openai.calls(endpoint.model_id) == 6
    assert peak == 2
    # 6 calls of 0.5 s, 2 at a time, take at least 1.5 s; 4 at a time would take 1 s.
    assert elapsed >= 1.5
