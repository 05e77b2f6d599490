"""Experiment throughput against the model's own limit, as ratios measured in one run.

    make bench     # needs PostgreSQL and Redis on 127.0.0.1, as the tests do

One case: 500 goldens x 3 versions = 1,500 cells, a fake OpenAI-compatible model answering in 200 ms,
concurrency 32, scorer ``contains``. The ideal is cells x 0.2 s / 32 = 9.4 s. Measured side by side:

- the platform: a real ``celery worker`` process with the recommended configuration (WORKER_POOL and
  WORKER_CONCURRENCY below, as docker-compose.yml sets them), from ``experiment_create`` to the
  experiment's ``finished_at``; its CPU (worker and children, from /proc), its database transactions
  (``pg_stat_database.xact_commit``), and the model calls the server had in flight;
- a direct loop: 32 threads calling the same server with huggingface_hub's InferenceClient;
- promptfoo ``eval -j 32``, when node and a local promptfoo are present (PROMPTFOO_BIN, or
  /tmp/pf/node_modules/.bin/promptfoo); skipped otherwise.

Environment: BENCH_GOLDENS (500), BENCH_CONCURRENCY (32), BENCH_LATENCY (0.2), BENCH_WORKER_POOL
(prefork), BENCH_WORKER_CONCURRENCY (4).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmops.settings_test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_databases, setup_test_environment, teardown_databases  # noqa: E402

GOLDENS = int(os.environ.get("BENCH_GOLDENS", "500"))
VERSIONS = 3
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
LATENCY = float(os.environ.get("BENCH_LATENCY", "0.2"))
WORKER_POOL = os.environ.get("BENCH_WORKER_POOL", "prefork")
WORKER_CONCURRENCY = os.environ.get("BENCH_WORKER_CONCURRENCY", "4")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class InFlight:
    """Calls the fake server is answering at once, sampled into a time-weighted mean."""

    def __init__(self, server) -> None:
        self.lock = threading.Lock()
        self.now = self.most = 0
        self.area = 0.0
        self.last = time.monotonic()
        original = server._wait

        def counted(seconds: float, generation: int) -> bool:
            self._add(1)
            try:
                return original(seconds, generation)
            finally:
                self._add(-1)

        server._wait = counted

    def _add(self, delta: int) -> None:
        with self.lock:
            now = time.monotonic()
            self.area += self.now * (now - self.last)
            self.last, self.now = now, self.now + delta
            self.most = max(self.most, self.now)

    def start(self) -> None:
        with self.lock:
            self.area, self.last, self.most = 0.0, time.monotonic(), self.now

    def mean(self, seconds: float) -> float:
        self._add(0)
        return self.area / seconds if seconds else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants (live ones), from /proc."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except (FileNotFoundError, ProcessLookupError, IndexError):
        pass
    return total


def commits() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def database_url() -> str:
    db = connection.settings_dict
    auth = (db["USER"] or "") + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(queue: str, log: Path) -> subprocess.Popen:
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
    }
    command = [sys.executable, "-m", "celery", "-A", "llmops", "worker", "--pool", WORKER_POOL]
    command += ["--concurrency", WORKER_CONCURRENCY, "--loglevel", "WARNING", "--without-gossip", "--without-mingle"]
    command += ["-n", f"bench-{queue}@%h"]
    with log.open("ab") as output:
        return subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603


def wait_finished(experiment_id, *, timeout: float):
    from experiments.models import Experiment

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        experiment = Experiment.objects.get(pk=experiment_id)
        if experiment.status not in Experiment.ACTIVE:
            return experiment
        time.sleep(0.05)
    raise SystemExit(f"experiment {experiment_id} did not finish in {timeout} s")


def platform(project, prompt, in_flight: InFlight, worker_pid: int) -> dict:
    from experiments import services

    warm_up, _ = services.experiment_create(
        project=project, prompt=prompt, name="warm-up", scorers=["contains"], concurrency=4
    )
    time.sleep(3)  # worker processes up and their first connections open
    services.experiment_cancel(experiment=warm_up)
    time.sleep(2)  # its calls in flight come back
    in_flight.start()
    cpu, xacts, started = cpu_seconds(worker_pid), commits(), time.monotonic()
    experiment, _ = services.experiment_create(
        project=project, prompt=prompt, name="bench", scorers=["contains"], concurrency=CONCURRENCY
    )
    experiment = wait_finished(experiment.pk, timeout=900)
    wall = time.monotonic() - started
    mean = in_flight.mean(wall)
    time.sleep(1.0)  # statistics reach pg_stat_database when each backend reports
    cells = experiment.total_cells
    completed = experiment.results.filter(status="completed").count()
    return {
        "wall": wall,
        "in_flight": mean,
        "cpu_ms": (cpu_seconds(worker_pid) - cpu) * 1000 / cells,
        "xacts": (commits() - xacts) / cells,
        "completed": completed,
        "cells": cells,
    }


def direct(base_url: str, model: str, cells: int, in_flight: InFlight) -> dict:
    from huggingface_hub import InferenceClient

    local = threading.local()

    def call(n: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = InferenceClient(base_url=base_url, timeout=30)
        for attempt in range(3):  # as the platform retries a reset connection, so does the loop
            try:
                client.chat_completion(messages=[{"role": "user", "content": f"text {n}"}], model=model)
                return
            except Exception:  # a reset connection under load, tried again
                if attempt == 2:
                    raise

    in_flight.start()
    started = time.monotonic()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(call, range(cells)))
    wall = time.monotonic() - started
    return {"wall": wall, "in_flight": in_flight.mean(wall)}


def promptfoo_bin() -> str | None:
    candidate = os.environ.get("PROMPTFOO_BIN") or "/tmp/pf/node_modules/.bin/promptfoo"  # noqa: S108
    return candidate if shutil.which("node") and Path(candidate).exists() else None


def promptfoo(binary: str, base_url: str, model: str, in_flight: InFlight) -> dict | None:
    with tempfile.TemporaryDirectory() as folder:
        config = {
            "prompts": [f"{name}: {{{{input}}}}" for name in ("A", "B", "C")],
            "providers": [{"id": f"openai:chat:{model}", "config": {"apiBaseUrl": base_url, "apiKey": "x"}}],
            "tests": [
                {"vars": {"input": f"text {n}"}, "assert": [{"type": "contains", "value": "ok"}]}
                for n in range(GOLDENS)
            ],
        }
        path = Path(folder) / "promptfooconfig.json"
        path.write_text(json.dumps(config))
        env = {**os.environ, "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1"}
        env["PROMPTFOO_CONFIG_DIR"] = folder
        command = [binary, "eval", "-c", str(path), "-j", str(CONCURRENCY), "--no-cache", "--no-progress-bar"]
        in_flight.start()
        started = time.monotonic()
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, timeout=900, check=False)  # noqa: S603
        wall = time.monotonic() - started
        if done.returncode not in (0, 100):  # 100: some assertions failed
            print(f"promptfoo failed ({done.returncode}): {done.stderr.decode(errors='replace')[-500:]}")
            return None
    return {"wall": wall, "in_flight": in_flight.mean(wall)}


def fixtures(base_url: str):
    from accounts.tests.factories import ProjectFactory
    from evaluation.models import GoldenExample
    from prompts.tests.factories import PromptFactory, PromptVersionFactory
    from runs.tests.conftest import make_endpoint

    project = ProjectFactory()
    endpoint = make_endpoint(project, base_url, max_concurrency=256, timeout_seconds=30)
    prompt = PromptFactory(project=project)
    for number, name in enumerate(("A", "B", "C"), start=1):
        PromptVersionFactory(
            prompt=prompt,
            version=number,
            template=f"{name}: {{input}}",
            model_settings={"model_endpoint": endpoint.name},
        )
    GoldenExample.objects.bulk_create(
        GoldenExample(project=project, prompt=prompt, input_data={"input": f"text {n}"}, expected_output="ok")
        for n in range(GOLDENS)
    )
    return project, endpoint, prompt


def main() -> None:
    from llmops.core.testing.fake_openai import FakeOpenAIServer, reply

    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    log = Path(tempfile.mkdtemp()) / "worker.log"
    worker = None
    try:
        with FakeOpenAIServer() as server:
            project, endpoint, prompt = fixtures(server.base_url)
            server.script(endpoint.model_id, [reply("ok", delay=LATENCY)])
            in_flight = InFlight(server)
            worker = start_worker(queue, log)
            settings.CELERY_TASK_DEFAULT_QUEUE = queue
            from llmops.celery import app

            app.conf.task_default_queue = queue
            cells = GOLDENS * VERSIONS
            ideal = cells * LATENCY / CONCURRENCY
            rows = [("ideal", {"wall": ideal, "in_flight": float(CONCURRENCY)})]
            rows.append(("direct InferenceClient loop", direct(server.base_url, endpoint.model_id, cells, in_flight)))
            measured = platform(project, prompt, in_flight, worker.pid)
            rows.append((f"platform (worker --pool {WORKER_POOL} --concurrency {WORKER_CONCURRENCY})", measured))
            binary = promptfoo_bin()
            found = promptfoo(binary, server.base_url, endpoint.model_id, in_flight) if binary else None
            if found:
                rows.append((f"promptfoo eval -j {CONCURRENCY}", found))
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        teardown_databases(databases, verbosity=0)
    report(rows, measured, ideal, cells, promptfoo_ran=bool(found))


def report(rows: list, measured: dict, ideal: float, cells: int, *, promptfoo_ran: bool) -> None:
    print(f"\nexperiment: {cells} cells, model latency {LATENCY * 1000:.0f} ms, concurrency {CONCURRENCY}")
    print(f"{'runner':<52} {'wall s':>8} {'ideal/wall':>11} {'in flight':>10}")
    for name, row in rows:
        efficiency = ideal / row["wall"]
        print(f"{name:<52} {row['wall']:>8.2f} {efficiency:>11.2f} {row['in_flight']:>10.1f}")
    print(
        f"platform: {measured['completed']}/{measured['cells']} cells completed; worker CPU per cell "
        f"{measured['cpu_ms']:.2f} ms; database transactions per cell {measured['xacts']:.2f}; "
        f"in flight / concurrency {measured['in_flight'] / CONCURRENCY:.2f}"
    )
    if promptfoo_ran:
        promptfoo_wall = rows[-1][1]["wall"]
        print(f"platform speed vs promptfoo: {promptfoo_wall / measured['wall']:.2f}x")
    else:
        print("promptfoo: skipped (no node, or no promptfoo at PROMPTFOO_BIN or /tmp/pf/node_modules/.bin/promptfoo)")


if __name__ == "__main__":
    main()
