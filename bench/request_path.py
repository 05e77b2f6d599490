"""The request path under real servers, as ratios measured in one run.

    make bench        # runs bench/run.py, then this; needs PostgreSQL and Redis on 127.0.0.1

1. Fetch by name (``GET /api/v1/prompts/by-name/{name}?label=production`` with a key), its 304 path
   (``If-None-Match``), and a bare Django JSON view (bench/bare_wsgi.py), each under gunicorn with the
   project's configuration (docker/gunicorn.conf.py, BENCH_WEB_WORKERS workers), loaded by
   BENCH_CLIENTS concurrent clients for BENCH_SECONDS each, interleaved in BENCH_ROUNDS slices:
   requests/s, p50, p99 and the ratios.
2. ``POST /run?wait=`` to completed, against a direct InferenceClient call, with the fake
   OpenAI-compatible server answering in 100 ms, at 10 runs/s, with a real Celery worker process
   (WORKER_POOL / WORKER_CONCURRENCY as in docker-compose.yml), and the median of each phase of a run.

BENCH_WSGI_APP serves another WSGI callable than llmops.wsgi:application for the fetch load, e.g. one
that wraps it in a profiler (pyinstrument) to see where a request's time goes.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmops.settings_test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_databases, setup_test_environment, teardown_databases  # noqa: E402

VENV_BIN = Path(sys.executable).parent
SECONDS = float(os.environ.get("BENCH_SECONDS", "12"))  # per load, over all rounds
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "4"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "16"))
WEB_WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "2"))
RUNS = int(os.environ.get("BENCH_RUNS", "100"))
RUNS_PER_SECOND = 10.0
MODEL_DELAY = 0.1
# Client processes: one Python process cannot drive 16 connections fast enough on its own.
CLIENT_PROCESSES = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        BENCH_DATABASE_NAME=connection.settings_dict["NAME"],
        BENCH_QUEUE=settings.CELERY_TASK_DEFAULT_QUEUE,
        BENCH_CACHE_PREFIX=settings.CACHES["default"]["KEY_PREFIX"],
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        LOG_LEVEL="WARNING",
    )
    return env


def wait_until_up(port: int, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not answer within {timeout} s")


class Gunicorn:
    """gunicorn with the project's configuration file, as docker/entrypoint.sh starts it."""

    def __init__(self, app: str, *, probe: str) -> None:
        self.app, self.probe, self.port = app, probe, free_port()

    def __enter__(self) -> Gunicorn:
        self.process = subprocess.Popen(  # noqa: S603
            [
                str(VENV_BIN / "gunicorn"),
                self.app,
                "--config",
                str(ROOT / "docker" / "gunicorn.conf.py"),
                "--workers",
                str(WEB_WORKERS),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--access-logfile",
                "-",
            ],
            cwd=ROOT,
            env={**child_env(), "GUNICORN_MAX_REQUESTS": "0"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until_up(self.port, self.probe)
        return self

    def __exit__(self, *exc_info: object) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def _client_process(port: int, path: str, headers: dict, threads: int, seconds: float, out) -> None:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def loop() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine, codes = [], {}
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            codes[response.status] = codes.get(response.status, 0) + 1
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.put((latencies, statuses))


def load(port: int, path: str, headers: dict | None = None, *, seconds: float) -> dict:
    """CLIENTS concurrent clients for ``seconds``: the latencies, status codes and elapsed time."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    per_process = CLIENTS // CLIENT_PROCESSES
    processes = [
        multiprocessing.Process(target=_client_process, args=(port, path, headers or {}, per_process, seconds, queue))
        for _ in range(CLIENT_PROCESSES)
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    results = [queue.get() for _ in processes]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    statuses: dict[int, int] = {}
    for _, codes in results:
        for code, count in codes.items():
            statuses[code] = statuses.get(code, 0) + count
    return {"latencies": [value for result, _ in results for value in result], "statuses": statuses, "elapsed": elapsed}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def paced(count: int, per_second: float, call) -> list[float]:
    """``call()`` ``count`` times at ``per_second``, each in its own thread (an open-loop load):
    the latency of each call."""
    latencies: list[float] = [0.0] * count
    threads = []

    def one(index: int) -> None:
        started = time.perf_counter()
        call()
        latencies[index] = time.perf_counter() - started

    start = time.perf_counter()
    for index in range(count):
        delay = start + index / per_second - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        thread = threading.Thread(target=one, args=(index,))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return latencies


def seed() -> dict:
    from accounts import services as account_services
    from accounts.models import Project
    from prompts import services as prompt_services

    project = Project.objects.create(name="Bench", slug="bench")
    key = account_services.api_key_create(
        project=project, name="bench", requests_per_minute=10_000_000, runs_per_minute=10_000_000
    ).secret
    prompt = prompt_services.prompt_create(
        project=project,
        name="bench-prompt",
        template="Analyze the sentiment of this text: {input}",
        labels=["production"],
    )
    return {"project": project, "key": key, "prompt": prompt}


def in_process_costs(seeded: dict, *, repeat: int = 1000) -> list[tuple[str, float, int, int]]:
    """Per request, in this process (Django's test client through the whole middleware stack): CPU
    milliseconds, SQL queries and Redis round trips. Unlike requests/s, these do not depend on what
    else the machine is doing."""
    import redis.connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    round_trips = [0]
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, *args, **kwargs):
        round_trips[0] += 1
        return original(self, *args, **kwargs)

    client = Client()
    path = "/api/v1/prompts/by-name/bench-prompt?label=production"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {seeded['key']}"}
    etag = client.get(path, **auth)["ETag"]
    rows = []
    redis.connection.AbstractConnection.send_packed_command = counting
    try:
        for name, headers in (
            ("fetch by name (200)", auth),
            ("fetch by name (304)", {**auth, "HTTP_IF_NONE_MATCH": etag}),
        ):
            for _ in range(50):
                client.get(path, **headers)
            round_trips[0] = 0
            with CaptureQueriesContext(connection) as queries:
                started = time.process_time()
                for _ in range(repeat):
                    client.get(path, **headers)
                cpu = (time.process_time() - started) / repeat
            rows.append((name, cpu, len(queries.captured_queries) / repeat, round_trips[0] / repeat))
    finally:
        redis.connection.AbstractConnection.send_packed_command = original
    return rows


def _merge(parts: list[dict]) -> dict:
    latencies = sorted(value for part in parts for value in part["latencies"])
    statuses: dict[int, int] = {}
    for part in parts:
        for code, count in part["statuses"].items():
            statuses[code] = statuses.get(code, 0) + count
    elapsed = sum(part["elapsed"] for part in parts)
    return {
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "statuses": statuses,
    }


def bench_fetch(seeded: dict) -> list[tuple[str, dict]]:
    """Both servers run side by side; the three loads are interleaved in ROUNDS short slices, so a
    change in the machine's other load during the run weighs on each of them alike."""
    headers = {"Authorization": f"Bearer {seeded['key']}"}
    path = "/api/v1/prompts/by-name/bench-prompt?label=production"
    app = os.environ.get("BENCH_WSGI_APP", "llmops.wsgi:application")
    with Gunicorn("bench.bare_wsgi:application", probe="/hello") as bare, Gunicorn(app, probe="/api/v1/health") as web:
        conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"fetch by name answered {response.status}")
        etag = response.getheader("ETag")
        loads = [
            ("bare Django JSON view", bare.port, "/hello", {}),
            ("fetch by name (200)", web.port, path, headers),
            ("fetch by name (304)", web.port, path, {**headers, "If-None-Match": etag}),
        ]
        parts: dict[str, list[dict]] = {name: [] for name, *_ in loads}
        for _ in range(ROUNDS):
            for name, port, url, extra in loads:
                parts[name].append(load(port, url, extra, seconds=SECONDS / ROUNDS))
    return [(name, _merge(parts[name])) for name, *_ in loads]


def bench_run(seeded: dict) -> dict:
    from huggingface_hub import InferenceClient

    from llmops.core.testing.fake_openai import FakeOpenAIServer, reply
    from runs.models import ModelEndpoint

    pool = os.environ.get("WORKER_POOL", "prefork")
    concurrency = os.environ.get("WORKER_CONCURRENCY", "2")
    results: dict = {"worker": f"--pool {pool} --concurrency {concurrency}"}
    with FakeOpenAIServer() as server:
        server.script("bench-model", [reply("positive", delay=MODEL_DELAY)])
        ModelEndpoint.objects.create(
            project=seeded["project"],
            name="bench",
            provider="huggingface",
            model_id="bench-model",
            base_url=server.base_url,
        )
        client = InferenceClient(base_url=server.base_url, timeout=10)
        messages = [{"role": "user", "content": "Analyze the sentiment of this text: I love this!"}]
        client.chat_completion(messages, model="bench-model")
        results["direct"] = paced(RUNS, RUNS_PER_SECOND, lambda: client.chat_completion(messages, model="bench-model"))

        worker = subprocess.Popen(  # noqa: S603
            [
                str(VENV_BIN / "celery"),
                "-A",
                "llmops",
                "worker",
                "--pool",
                pool,
                "--concurrency",
                concurrency,
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            with Gunicorn("llmops.wsgi:application", probe="/api/v1/health") as web:
                body = json.dumps(
                    {
                        "prompt_id": str(seeded["prompt"].pk),
                        "variables": {"input": "I love this!"},
                        "model_endpoint": "bench",
                    }
                )
                headers = {"Authorization": f"Bearer {seeded['key']}", "Content-Type": "application/json"}
                failures: list[str] = []

                def post_run() -> None:
                    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
                    conn.request("POST", "/api/v1/run?wait=10", body=body, headers=headers)
                    response = conn.getresponse()
                    payload = json.loads(response.read())
                    if response.status != 200 or payload.get("status") != "completed":
                        failures.append(f"{response.status} {payload.get('status')}")

                for _ in range(5):  # warm-up: both web workers and the Celery pool
                    post_run()
                failures.clear()
                since = time.time()
                results["platform"] = paced(RUNS, RUNS_PER_SECOND, post_run)
                results["failures"] = failures
                results["phases"] = run_phases(since=since)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
    return results


def run_phases(*, since: float) -> dict[str, float]:
    """Median milliseconds of each phase of the measured runs, from their rows: created -> claimed by
    a worker (publication and pickup), claimed -> finished (the model call and the writes)."""
    from datetime import UTC, datetime

    from runs.models import Run

    rows = Run.objects.filter(created_at__gte=datetime.fromtimestamp(since, tz=UTC), status="completed").values_list(
        "created_at", "started_at", "finished_at", "latency_ms"
    )
    pickup = [(started - created).total_seconds() for created, started, _, _ in rows]
    execution = [(finished - started).total_seconds() for _, started, finished, _ in rows]
    model = [latency / 1000 for *_, latency in rows if latency is not None]
    return {
        "created -> claimed": percentile(pickup, 50),
        "claimed -> finished": percentile(execution, 50),
        "model call (latency_ms)": percentile(model, 50),
    }


def main() -> None:
    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        seeded = seed()
        fetch_rows = bench_fetch(seeded) if os.environ.get("BENCH_SKIP_FETCH") != "1" else []
        costs = in_process_costs(seeded) if fetch_rows else []
        run_results = bench_run(seeded) if os.environ.get("BENCH_SKIP_RUN") != "1" else None
    finally:
        connection.close()
        teardown_databases(databases, verbosity=0)

    if fetch_rows:
        bare = fetch_rows[0][1]
        print(
            f"Request path: gunicorn {WEB_WORKERS} workers, {CLIENTS} clients, {SECONDS:.0f} s each in {ROUNDS} rounds"
        )
        print(f"{'':24}  {'req/s':>8}  {'p50 ms':>7}  {'p99 ms':>7}  {'vs bare':>7}  statuses")
        for name, row in fetch_rows:
            print(
                f"{name:24}  {row['rps']:>8.0f}  {row['p50'] * 1000:>7.1f}  {row['p99'] * 1000:>7.1f}"
                f"  {row['rps'] / bare['rps']:>7.2f}  {row['statuses']}"
            )
        ok, not_modified = fetch_rows[1][1], fetch_rows[2][1]
        print(f"fetch / bare: {ok['rps'] / bare['rps']:.2f} (goal >= 0.5)")
        print(f"304 / 200 requests/s: {not_modified['rps'] / ok['rps']:.2f} (goal > 1)")
        print()
        print("Per request, in process (test client, whole middleware stack)")
        print(f"{'':24}  {'CPU ms':>7}  {'SQL':>5}  {'Redis round trips':>17}")
        for name, cpu, queries, trips in costs:
            print(f"{name:24}  {cpu * 1000:>7.3f}  {queries:>5.2f}  {trips:>17.2f}")
    if run_results:
        direct, platform = run_results["direct"], run_results["platform"]
        print()
        print(
            f"POST /run?wait to completed vs a direct InferenceClient call: model {MODEL_DELAY * 1000:.0f} ms,"
            f" {RUNS} runs at {RUNS_PER_SECOND:.0f}/s, worker {run_results['worker']}"
        )
        print(f"{'':10}  {'p50 ms':>7}  {'p99 ms':>7}")
        for name, values in (("direct", direct), ("platform", platform)):
            print(f"{name:10}  {percentile(values, 50) * 1000:>7.1f}  {percentile(values, 99) * 1000:>7.1f}")
        p50 = percentile(platform, 50) / percentile(direct, 50)
        p99 = percentile(platform, 99) / percentile(direct, 99)
        print(f"p50 ratio {p50:.2f} (goal <= 1.2), p99 ratio {p99:.2f} (goal <= 1.5)")
        phases = ", ".join(f"{name} {value * 1000:.1f}" for name, value in run_results["phases"].items())
        print(f"phases of a run, median ms: {phases}")
        if run_results["failures"]:
            print(f"runs not completed: {len(run_results['failures'])}: {run_results['failures'][:5]}")


if __name__ == "__main__":
    main()
