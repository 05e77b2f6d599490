"""Redis down, refused or hung: reads answer from PostgreSQL, keys authenticate from it (revocations
included), the rate limit fails open (logged once, counted in a metric), runs and experiments are
accepted and persisted, and run once the broker is back. The machine's shared Redis is never touched:
the cache and the publisher are pointed at a port where nothing listens, or at a redis-server of the
test's own that it kills or pauses."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import APIKey
from accounts.tests.helpers import Tenant, make_tenant
from experiments import services as experiment_services
from experiments.models import Experiment
from experiments.tests.factories import ExperimentFactory
from experiments.tests.helpers import add_goldens, make_prompt
from llmops.core.testing.fake_openai import reply
from llmops.tests.chaos.helpers import broker_at, cache_settings, degraded_count
from prompts import services as prompt_services
from prompts.tests.factories import PromptFactory, PromptLabelFactory, PromptVersionFactory
from runs import services as run_services
from runs.models import Run
from runs.tests.factories import RunFactory
from runs.tests.helpers import make_endpoint, make_version, wait_until

pytestmark = pytest.mark.chaos


def client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def cache_down(settings, dead_redis_url) -> str:
    settings.CACHES = cache_settings(dead_redis_url)
    return dead_redis_url


@pytest.mark.django_db
def test_reads_answer_from_postgresql_while_the_cache_is_down(tenant: Tenant, cache_down):
    prompt = PromptFactory(project=tenant.project, name="support/triage")
    first = PromptVersionFactory(prompt=prompt, version=1)
    PromptVersionFactory(prompt=prompt, version=2)
    PromptLabelFactory(prompt=prompt, version=first, name="production")
    run = RunFactory(prompt_version=first, status=Run.Status.COMPLETED, output="positive", task_id="task-1")
    experiment = ExperimentFactory(prompt=prompt)
    before = degraded_count("apikey_cache")

    started = time.perf_counter()
    answers = {
        "prompt": tenant.client.get(f"/api/v1/prompts/{prompt.pk}"),
        "by-name": tenant.client.get("/api/v1/prompts/by-name/support/triage?label=production"),
        "by-name default": tenant.client.get("/api/v1/prompts/by-name/support/triage"),
        "versions": tenant.client.get(f"/api/v1/prompts/{prompt.pk}/versions"),
        "run": tenant.client.get(f"/api/v1/runs/{run.pk}"),
        "runs": tenant.client.get("/api/v1/runs"),
        "task status": tenant.client.get("/api/v1/task-status/task-1"),
        "experiment": tenant.client.get(f"/api/v1/experiments/{experiment.pk}"),
        "experiments": tenant.client.get("/api/v1/experiments"),
    }
    elapsed = time.perf_counter() - started

    assert {name: response.status_code for name, response in answers.items()} == dict.fromkeys(answers, 200)
    assert answers["by-name"].json()["version"] == 1  # the label, resolved from PostgreSQL
    assert answers["by-name default"].json()["version"] == 1  # production is the default
    assert answers["run"].json()["output"] == "positive"
    assert answers["experiment"].json()["id"] == str(experiment.pk)
    assert degraded_count("apikey_cache") > before
    assert elapsed < 5, f"{len(answers)} reads took {elapsed:.1f} s with the cache down"


@pytest.mark.django_db
def test_keys_authenticate_from_postgresql_and_a_revocation_holds_while_the_cache_is_down(tenant: Tenant, cache_down):
    assert tenant.client.get("/api/v1/prompts").status_code == 200
    other = make_tenant()
    assert other.client.get("/api/v1/prompts").status_code == 200

    api_key = APIKey.objects.get(project=tenant.project)
    account_services.api_key_revoke(api_key=api_key)  # the cache delete is deferred, the revocation is not

    refused = tenant.client.get("/api/v1/prompts")
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "API key has been revoked"
    assert other.client.get("/api/v1/prompts").status_code == 200
    assert client_for("llm_" + "x" * 40).get("/api/v1/prompts").status_code == 401


@pytest.mark.django_db
def test_a_key_revoked_while_redis_hangs_is_not_served_from_its_cache_once_redis_is_back(
    tenant: Tenant, settings, redis_server
):
    """Redis paused (not restarted) keeps the key cached; the deferred delete runs before the next read."""
    settings.CACHES = cache_settings(redis_server.url())
    settings.API_KEY_CACHE_SECONDS = 300  # so only the replayed delete can remove the entry
    settings.REDIS_CIRCUIT_BREAKER_SECONDS = 0.2
    assert tenant.client.get("/api/v1/prompts").status_code == 200  # the key is now cached in Redis

    redis_server.pause()
    account_services.api_key_revoke(api_key=APIKey.objects.get(project=tenant.project))
    assert tenant.client.get("/api/v1/prompts").status_code == 401  # PostgreSQL, while Redis hangs
    redis_server.resume()
    time.sleep(0.3)  # the breaker lets the next call try Redis

    refused = tenant.client.get("/api/v1/prompts")
    assert refused.status_code == 401, "a stale cached key was served after Redis came back"


@pytest.mark.django_db
def test_a_label_moved_while_redis_hangs_is_not_served_stale_once_redis_is_back(tenant: Tenant, settings, redis_server):
    settings.CACHES = cache_settings(redis_server.url())
    settings.REDIS_CIRCUIT_BREAKER_SECONDS = 0.2
    prompt = PromptFactory(project=tenant.project, name="summarize")
    PromptVersionFactory(prompt=prompt, version=1)
    PromptVersionFactory(prompt=prompt, version=2)
    prompt_services.label_move(prompt=prompt, label="production", version=1)
    url = "/api/v1/prompts/by-name/summarize?label=production"
    assert tenant.client.get(url).json()["version"] == 1  # resolution cached in Redis

    redis_server.pause()
    prompt_services.label_move(prompt=prompt, label="production", version=2)  # a write, with Redis hung
    assert tenant.client.get(url).json()["version"] == 2
    redis_server.resume()
    time.sleep(0.3)

    assert tenant.client.get(url).json()["version"] == 2, "the resolution cached before the move was served"


@pytest.mark.django_db
def test_the_rate_limit_fails_open_with_one_warning_and_a_metric(tenant: Tenant, settings, cache_down, caplog):
    settings.API_DEFAULT_REQUESTS_PER_MINUTE = 2
    settings.METRICS_TOKEN = "metrics-token-for-the-test"
    before = degraded_count("ratelimit")

    with caplog.at_level(logging.WARNING, logger="llmops.core.resilience"):
        statuses = [tenant.client.get("/api/v1/prompts").status_code for _ in range(6)]

    assert statuses == [200] * 6  # a limit of 2 a minute, not enforced while it cannot be counted
    assert degraded_count("ratelimit") - before == 6
    warnings = [record for record in caplog.records if record.getMessage().startswith("ratelimit:")]
    assert len(warnings) == 1, [record.getMessage() for record in warnings]
    assert "not rate limited" in warnings[0].getMessage()
    scrape = APIClient().get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-for-the-test")
    assert scrape.status_code == 200
    assert 'llmops_degraded_total{component="ratelimit"}' in scrape.content.decode()


@pytest.mark.django_db
def test_the_rate_limit_still_holds_when_redis_answers(tenant: Tenant, settings):
    """The control for the test above: the same limit on the shared Redis refuses the third request."""
    settings.API_DEFAULT_REQUESTS_PER_MINUTE = 2
    statuses = [tenant.client.get("/api/v1/prompts").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


@pytest.mark.django_db
def test_a_hung_redis_costs_one_short_timeout_then_nothing(tenant: Tenant, settings, redis_server):
    settings.CACHES = cache_settings(redis_server.url())
    redis_server.pause()

    started = time.perf_counter()
    first = tenant.client.get("/api/v1/prompts")
    first_took = time.perf_counter() - started
    started = time.perf_counter()
    rest = [tenant.client.get("/api/v1/prompts").status_code for _ in range(10)]
    rest_took = time.perf_counter() - started

    assert first.status_code == 200 and rest == [200] * 10
    assert first_took < 1.5, f"the first request waited {first_took:.2f} s on a hung Redis"
    assert rest_took < 2.0, f"10 requests took {rest_took:.2f} s: the breaker should skip Redis"


def _post_in_thread(client: APIClient, path: str, body: dict, *, timeout: float) -> tuple[object, float]:
    """POST from a thread, so a request that hangs fails the test instead of hanging it."""
    outcome: dict = {}

    def post() -> None:
        started = time.perf_counter()
        outcome["response"] = client.post(path, body, format="json")
        outcome["took"] = time.perf_counter() - started

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"POST {path} still waiting after {timeout} s"
    return outcome["response"], outcome["took"]


@pytest.mark.django_db(transaction=True)
def test_a_hung_broker_costs_a_run_request_about_a_second_and_the_run_stays_queued(
    tenant: Tenant, fake_openai, redis_server
):
    endpoint = make_endpoint(tenant.project, fake_openai.base_url)
    version = make_version(tenant.project, endpoint=endpoint)
    body = {"prompt_id": str(version.prompt_id), "variables": {"input": "hello"}}
    with broker_at(redis_server.url(1)):
        redis_server.pause()
        first, first_took = _post_in_thread(tenant.client, "/api/v1/run", body, timeout=10)
        second, second_took = _post_in_thread(tenant.client, "/api/v1/run", body, timeout=10)
        redis_server.kill()

    assert (first.status_code, second.status_code) == (202, 202)
    assert first_took < 2.0, f"the first run request waited {first_took:.2f} s on a hung broker"
    assert second_took < 0.5, f"the second waited {second_took:.2f} s: the breaker should skip the broker"
    runs = Run.objects.filter(pk__in=[first.json()["run_id"], second.json()["run_id"]])
    assert [(run.status, run.enqueued_at) for run in runs] == [(Run.Status.QUEUED, None)] * 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_runs_and_experiments_accepted_while_redis_is_down_run_once_it_is_back(
    tenant: Tenant, fake_openai, settings, dead_redis_url
):
    """Cache and broker both down: accepted and persisted; the sweepers publish them once the broker is
    back, and the real worker runs them."""
    endpoint = make_endpoint(tenant.project, fake_openai.base_url)
    fake_openai.script(endpoint.model_id, [reply("positive")])
    version = make_version(tenant.project, endpoint=endpoint)
    prompt = make_prompt(tenant.project, endpoint, ["Sentiment of: {input}"], name="sentiment")
    add_goldens(prompt, [("I love it", "positive")])
    shared_cache = settings.CACHES
    settings.REDIS_CIRCUIT_BREAKER_SECONDS = 0.5
    before = degraded_count("broker")

    settings.CACHES = cache_settings(dead_redis_url)
    with broker_at(dead_redis_url):
        started = time.perf_counter()
        run_answer = tenant.client.post(
            "/api/v1/run", {"prompt_id": str(version.prompt_id), "variables": {"input": "hi"}}, format="json"
        )
        experiment_body = {"prompt_id": str(prompt.pk), "experiment_name": "during the outage"}
        experiment_answer = tenant.client.post("/api/v1/run-experiment", experiment_body, format="json")
        took = time.perf_counter() - started
    settings.CACHES = shared_cache

    assert run_answer.status_code == 202, run_answer.content
    assert experiment_answer.status_code == 202, experiment_answer.content
    assert took < 3, f"two requests took {took:.1f} s with Redis down"
    run = Run.objects.get(pk=run_answer.json()["run_id"])
    experiment = Experiment.objects.get(pk=experiment_answer.json()["experiment_id"])
    assert (run.status, run.enqueued_at) == (Run.Status.QUEUED, None)
    assert experiment.status == Experiment.Status.PENDING
    assert degraded_count("broker") - before >= 2
    time.sleep(1)
    assert Run.objects.get(pk=run.pk).status == Run.Status.QUEUED  # nothing reached a worker

    # The broker is back. Beat runs both sweepers on a schedule; here they run at the moment the runs
    # sweeper first considers an unpublished run overdue.
    report = run_services.runs_sweep(now=timezone.now() + timedelta(seconds=settings.RUN_DUE_GRACE_SECONDS + 1))
    assert report.requeued_stuck == 1
    assert experiment_services.experiments_sweep().redispatched == 1

    wait_until(lambda: Run.objects.get(pk=run.pk).status == Run.Status.COMPLETED, timeout=30, what="the run")
    wait_until(
        lambda: Experiment.objects.get(pk=experiment.pk).status == Experiment.Status.COMPLETED,
        timeout=60,
        what="the experiment",
    )
    assert Run.objects.get(pk=run.pk).output == "positive"
