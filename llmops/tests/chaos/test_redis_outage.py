"""Redis killed (kill -9) under a steady load of reads and runs, then restarted on the same port.

The platform runs as it does in production, in processes of its own on this test's database: gunicorn
(the docker config, gthread workers) and a Celery worker with beat, both with the production settings
module, and a redis-server of the test's own as cache and broker (append-only file, as docker-compose
runs it). The model is the suite's fake OpenAI-compatible server. What must hold: no answer is a 500
(every read answers 200 from PostgreSQL, every run is accepted with a 202), no accepted run is lost, and
all of them finish within RECOVERY_DEADLINE_SECONDS of Redis coming back.

The outage lasts LLMOPS_CHAOS_REDIS_OUTAGE_SECONDS (15 by default, for CI time; set 60 for the full
scenario). The figures are printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from accounts import services as account_services
from accounts.tests.factories import ProjectFactory
from experiments.models import Experiment
from experiments.tests.helpers import add_goldens, make_prompt
from llmops.tests.chaos.helpers import RedisServer, free_port
from prompts import services as prompt_services
from runs.models import Run
from runs.tests.helpers import make_endpoint, wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = float(os.environ.get("LLMOPS_CHAOS_REDIS_OUTAGE_SECONDS", "15"))
BEFORE_SECONDS = 3.0
AFTER_SECONDS = 5.0
RECOVERY_DEADLINE_SECONDS = 60.0
# Experiments accepted during the outage start at the next experiments sweep (beat, every 60 s).
EXPERIMENT_DEADLINE_SECONDS = RECOVERY_DEADLINE_SECONDS + 60.0
LOAD_THREADS = 3
PAUSE_SECONDS = 0.1  # between one thread's requests: about 25 requests a second in all
METRICS_TOKEN = "chaos-metrics-token"
BASE_DIR = Path(settings.BASE_DIR)


def database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class Platform:
    base_url: str
    logs: dict[str, Path]

    def tail(self) -> str:
        return "\n".join(f"--- {name}:\n{path.read_text(errors='replace')[-2500:]}" for name, path in self.logs.items())


@contextmanager
def platform(redis_server: RedisServer, directory: Path) -> Iterator[Platform]:
    """gunicorn and a Celery worker with beat, on this test's database and ``redis_server``."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "llmops.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_server.url(0),
        "REDIS_CACHE_URL": redis_server.url(1),
        "CELERY_TASK_DEFAULT_QUEUE": f"redis-chaos-{uuid.uuid4().hex[:8]}",
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "MODEL_BASE_URL_ALLOWLIST": "127.0.0.1",
        "METRICS_TOKEN": METRICS_TOKEN,
        "LLMOPS_VAR_DIR": str(directory),
        "LOG_LEVEL": "WARNING",
        # The load is one key's: its per-minute limits must not be what answers.
        "API_DEFAULT_REQUESTS_PER_MINUTE": "100000",
        "API_DEFAULT_RUNS_PER_MINUTE": "100000",
        "GUNICORN_THREADS": "4",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    commands = {
        "web": [
            *(sys.executable, "-m", "gunicorn", "llmops.wsgi:application", "--config", "docker/gunicorn.conf.py"),
            *("--workers", "1", "--bind", f"127.0.0.1:{port}"),
        ],
        "worker": [
            *(sys.executable, "-m", "celery", "-A", "llmops", "worker", "--pool", "threads", "--concurrency", "4"),
            *("--loglevel", "WARNING", "--without-gossip", "--without-mingle", "-n", "redis-chaos@%h"),
            *("--beat", "--schedule", str(directory / "beat-schedule")),
        ],
    }
    logs = {name: directory / f"{name}.log" for name in commands}
    processes: list[subprocess.Popen] = []
    try:
        for name, command in commands.items():
            with logs[name].open("ab") as output:
                processes.append(
                    subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT)
                )
        running = Platform(base_url=f"http://127.0.0.1:{port}", logs=logs)

        def web_up() -> bool:
            try:
                return requests.get(f"{running.base_url}/api/v1/health?workers=false", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(web_up, timeout=60, interval=0.5, what="gunicorn to answer /health")
        yield running
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Load:
    """Threads that each loop over ``operations`` until stopped; every answer is kept with its phase."""

    base_url: str
    key: str
    operations: list[tuple[str, Callable[[requests.Session, str], requests.Response]]]
    phase: str = "before"
    answers: list[tuple[str, str, int | None]] = field(default_factory=list)
    accepted_runs: list[tuple[str, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _loop(self, offset: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.key}"
        count = offset
        while not self._stop.is_set():
            name, operation = self.operations[count % len(self.operations)]
            count += 1
            phase = self.phase
            try:
                response = operation(session, self.base_url)
                status = response.status_code
            except requests.RequestException:
                response, status = None, None
            with self._lock:
                self.answers.append((phase, name, status))
                if name == "run" and status == 202:
                    self.accepted_runs.append((phase, response.json()["run_id"]))
            time.sleep(PAUSE_SECONDS)

    @contextmanager
    def running(self) -> Iterator[Load]:
        threads = [threading.Thread(target=self._loop, args=(n,), daemon=True) for n in range(LOAD_THREADS)]
        for thread in threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(timeout=30)


def post_experiment(base_url: str, key: str, prompt_id: str, name: str) -> requests.Response:
    return requests.post(
        f"{base_url}/api/v1/run-experiment",
        json={"prompt_id": prompt_id, "experiment_name": name},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )


def degraded_counts(base_url: str) -> dict[str, float]:
    scrape = requests.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
    scrape.raise_for_status()
    counts = {}
    for line in scrape.text.splitlines():
        if line.startswith("llmops_degraded_total{"):
            labels, value = line.rsplit(" ", 1)
            counts[labels.split('component="', 1)[1].split('"', 1)[0]] = float(value)
    return counts


def test_redis_killed_under_load_loses_nothing_and_answers_no_500(tmp_path, fake_openai, capsys):
    project = ProjectFactory()
    key = account_services.api_key_create(project=project, name="load", scopes=["read", "run", "write"]).secret
    endpoint = make_endpoint(project, fake_openai.base_url, max_concurrency=8)
    prompt = make_prompt(project, endpoint, ["Sentiment of: {input}", "Sentiment, one word: {input}"], name="triage")
    prompt_services.label_move(prompt=prompt, label="production", version=1)
    add_goldens(prompt, [("I love it", "echo: Sentiment of: I love it")])
    redis_server = RedisServer(tmp_path, persistent=True)
    redis_server.start()

    try:
        with platform(redis_server, tmp_path) as running:
            base = running.base_url
            headers = {"Authorization": f"Bearer {key}"}
            first_body = {"prompt_id": str(prompt.pk), "variables": {"input": "x"}}
            first = requests.post(f"{base}/api/v1/run", json=first_body, headers=headers, timeout=10)
            assert first.status_code == 202, first.text
            run_id = first.json()["run_id"]
            wait_until(
                lambda: Run.objects.get(pk=run_id).status == Run.Status.COMPLETED,
                timeout=60,
                interval=0.5,
                what=f"the first run (worker up?)\n{running.tail()}",
            )
            experiments = [post_experiment(base, key, str(prompt.pk), "before the outage")]
            experiment_id = experiments[0].json()["experiment_id"]
            run_body = {"prompt_name": "triage", "label": "production", "variables": {"input": "load"}}
            operations = [
                ("prompt", lambda s, b: s.get(f"{b}/api/v1/prompts/{prompt.pk}", timeout=10)),
                ("by-name", lambda s, b: s.get(f"{b}/api/v1/prompts/by-name/triage?label=production", timeout=10)),
                ("run", lambda s, b: s.post(f"{b}/api/v1/run", json=run_body, timeout=10)),
                ("run-read", lambda s, b: s.get(f"{b}/api/v1/runs/{run_id}", timeout=10)),
                ("experiment-read", lambda s, b: s.get(f"{b}/api/v1/experiments/{experiment_id}", timeout=10)),
            ]

            load = Load(base_url=base, key=key, operations=operations)
            with load.running():
                time.sleep(BEFORE_SECONDS)
                load.phase = "outage"
                redis_server.kill()
                time.sleep(OUTAGE_SECONDS / 2)
                experiments += [post_experiment(base, key, str(prompt.pk), f"outage {n}") for n in range(2)]
                time.sleep(OUTAGE_SECONDS / 2)
                redis_server.start()
                back, returned_at = time.monotonic(), timezone.now()
                load.phase = "after"
                time.sleep(AFTER_SECONDS)
                experiments.append(post_experiment(base, key, str(prompt.pk), "after the outage"))

            accepted = [run for _, run in load.accepted_runs]
            during = [run for phase, run in load.accepted_runs if phase == "outage"]

            def all_finished() -> bool:
                return Run.objects.filter(pk__in=accepted, status=Run.Status.COMPLETED).count() == len(accepted)

            try:
                wait_until(all_finished, timeout=max(1.0, RECOVERY_DEADLINE_SECONDS - (time.monotonic() - back)))
            except AssertionError:
                states = Counter(Run.objects.filter(pk__in=accepted).values_list("status", flat=True))
                unfinished = f"runs not finished: {dict(states)} of {len(accepted)}"
                raise AssertionError(f"{unfinished}\n{running.tail()}") from None
            runs_done = Run.objects.filter(pk__in=accepted).aggregate(last=Max("finished_at"))["last"]
            experiment_ids = [answer.json()["experiment_id"] for answer in experiments if answer.status_code == 202]
            wait_until(
                lambda: (
                    Experiment.objects.filter(pk__in=experiment_ids, status=Experiment.Status.COMPLETED).count()
                    == len(experiment_ids)
                ),
                timeout=max(1.0, EXPERIMENT_DEADLINE_SECONDS - (time.monotonic() - back)),
                interval=0.5,
                what=f"the experiments\n{running.tail()}",
            )
            experiments_done = Experiment.objects.filter(pk__in=experiment_ids).aggregate(last=Max("finished_at"))[
                "last"
            ]
            degraded = degraded_counts(base)
    finally:
        redis_server.kill()

    statuses = Counter(status for _, _, status in load.answers)
    outage_answers = [(name, status) for phase, name, status in load.answers if phase == "outage"]
    runs_after = (runs_done - returned_at).total_seconds()
    with capsys.disabled():
        print(
            f"\nredis down {OUTAGE_SECONDS:.0f} s under load: {len(load.answers)} requests "
            f"({len(outage_answers)} during the outage), {statuses.get(500, 0)} answered 500, "
            f"statuses {dict(sorted(statuses.items(), key=str))}; {len(accepted)} runs accepted "
            f"({len(during)} during the outage), 0 lost, all finished {max(runs_after, 0):.1f} s after Redis "
            f"returned; {len(experiment_ids)} experiments accepted (2 during the outage), "
            f"all finished {(experiments_done - returned_at).total_seconds():.1f} s after; degraded {degraded}"
        )
    assert statuses.get(500, 0) == 0
    assert set(statuses) <= {200, 202}, statuses  # reads 200 from PostgreSQL, runs accepted: nothing refused
    assert [answer.status_code for answer in experiments] == [202] * len(experiments)
    assert len(during) > 0 and {name for name, _ in outage_answers} == {name for name, _ in operations}
    assert runs_after <= RECOVERY_DEADLINE_SECONDS
    assert degraded.get("ratelimit", 0) > 0 and degraded.get("broker", 0) > 0
