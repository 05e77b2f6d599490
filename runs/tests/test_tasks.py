"""Runs executed for real: POST /run, the Celery worker on Redis, InferenceClient, the fake OpenAI server."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.test import override_settings

from llmops.core.testing.fake_openai import hang, huge_body, malformed_json, nul_reply, reply, status, truncated_body
from runs import services
from runs.models import CostLog, Run
from runs.tests.helpers import make_endpoint, make_version, terminal_run, wait_until, worker_idle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def post_run(api, version, **body) -> str:
    body.setdefault("variables", {"input": "I love this!"})
    response = api.post("/api/v1/run", {"prompt_id": str(version.prompt_id), **body}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["run_id"]


def test_success_records_output_tokens_cost_and_one_cost_log(api, fake_openai, endpoint, version):
    fake_openai.script(endpoint.model_id, [reply("positive", prompt_tokens=12, completion_tokens=3)])

    run = terminal_run(post_run(api, version))

    assert (run.status, run.output, run.attempts) == ("completed", "positive", 1)
    assert (run.input_tokens, run.output_tokens) == (12, 3)
    assert run.cost == Decimal("0.000010500")  # (12 x 0.50 + 3 x 1.50) / 1e6
    assert run.started_at is not None and run.finished_at >= run.started_at
    assert run.latency_ms is not None and run.finish_reason == "stop"
    assert fake_openai.calls(endpoint.model_id) == 1
    [sent] = fake_openai.requests(endpoint.model_id)
    assert sent["json"]["messages"] == [{"role": "user", "content": "Analyze the sentiment of this text: I love this!"}]
    log = CostLog.objects.get(run=run)
    assert (log.input_tokens, log.output_tokens, log.cost) == (12, 3, Decimal("0.000010500"))
    assert (log.input_price_per_million, log.output_price_per_million) == (Decimal("0.5"), Decimal("1.5"))
    assert log.model_endpoint_id == endpoint.pk and log.api_key_id == run.api_key_id
    assert log.project_id == run.project_id and log.model_id == endpoint.model_id


def test_two_server_errors_then_success_takes_three_attempts(api, fake_openai, endpoint, version):
    fake_openai.script(endpoint.model_id, [status(503), status(503), reply("ok")])

    run = terminal_run(post_run(api, version))

    assert (run.status, run.attempts, run.output) == ("completed", 3, "ok")
    assert fake_openai.calls(endpoint.model_id) == 3
    assert run.error_type == "" and run.error_message == ""
    assert CostLog.objects.filter(run=run).count() == 1


def test_client_error_fails_at_once(api, fake_openai, endpoint, version):
    fake_openai.script(endpoint.model_id, [status(400, body={"error": {"message": "max_tokens too large"}})])

    run = terminal_run(post_run(api, version))

    assert (run.status, run.attempts, run.error_type) == ("failed", 1, "bad_request")
    assert "max_tokens too large" in run.error_message
    assert fake_openai.calls(endpoint.model_id) == 1
    assert run.cost is None and not CostLog.objects.filter(run=run).exists()


@pytest.mark.parametrize("max_attempts", [None, 4])
def test_rate_limited_every_time_fails_after_exactly_max_attempts(api, fake_openai, endpoint, version, max_attempts):
    fake_openai.script(endpoint.model_id, [status(429)])
    body = {} if max_attempts is None else {"max_attempts": max_attempts}

    run = terminal_run(post_run(api, version, **body))

    expected = max_attempts or 3  # settings.RUN_MAX_ATTEMPTS
    assert (run.status, run.error_type, run.attempts) == ("failed", "rate_limited", expected)
    assert f"attempt {expected} of {expected}" in run.error_message
    wait_until(worker_idle, what="the worker to go idle")
    assert fake_openai.calls(endpoint.model_id) == expected


def test_retry_after_is_honoured_although_backoff_is_fast(api, fake_openai, endpoint, version, monkeypatch):
    fake_openai.script(endpoint.model_id, [status(429, retry_after=1), reply("ok")])
    arrivals: list[float] = []
    record = fake_openai._record

    def timed_record(model, request):  # when each request reached the server, taken in the server's thread
        if model == endpoint.model_id:
            arrivals.append(time.monotonic())
        return record(model, request)

    monkeypatch.setattr(fake_openai, "_record", timed_record)

    run = terminal_run(post_run(api, version))

    assert (run.status, run.attempts) == ("completed", 2)
    assert len(arrivals) == 2
    # The backoff alone would be at most RUN_RETRY_BASE_SECONDS (0.05 s); Retry-After asked for 1 s.
    assert arrivals[1] - arrivals[0] >= 1.0


def test_hanging_server_times_out_and_fails_as_timeout(api, fake_openai, project):
    endpoint = make_endpoint(project, fake_openai.base_url, timeout_seconds=0.3)
    fake_openai.script(endpoint.model_id, [hang(5)])

    run = terminal_run(post_run(api, make_version(project, endpoint=endpoint), max_attempts=2))

    assert (run.status, run.error_type, run.attempts) == ("failed", "timeout", 2)
    assert fake_openai.calls(endpoint.model_id) == 2


def test_malformed_json_is_retried(api, fake_openai, endpoint, version):
    fake_openai.script(endpoint.model_id, [malformed_json(), reply("fine")])

    run = terminal_run(post_run(api, version))

    assert (run.status, run.attempts, run.output) == ("completed", 2, "fine")
    assert fake_openai.calls(endpoint.model_id) == 2


def test_malformed_json_every_time_fails_as_bad_response(api, fake_openai, endpoint, version):
    fake_openai.script(endpoint.model_id, [malformed_json()])

    run = terminal_run(post_run(api, version, max_attempts=2))

    assert (run.status, run.error_type, run.attempts) == ("failed", "bad_response", 2)
    assert fake_openai.calls(endpoint.model_id) == 2


def test_truncated_body_is_retried(api, fake_openai, endpoint, version):
    fake_openai.script(endpoint.model_id, [truncated_body(), reply("whole")])

    run = terminal_run(post_run(api, version))

    assert (run.status, run.attempts, run.output) == ("completed", 2, "whole")


def test_nul_in_model_output_is_stored_as_replacement_character(api, fake_openai, endpoint, version):
    fake_openai.script(endpoint.model_id, [nul_reply("before\u0000after")])

    run = terminal_run(post_run(api, version))

    assert run.status == "completed"
    assert run.output == "before\ufffdafter"
    assert api.get(f"/api/v1/runs/{run.pk}").json()["output"] == "before\ufffdafter"


def test_huge_output_is_stored_whole(api, fake_openai, endpoint, version):
    fake_openai.script(endpoint.model_id, [huge_body(1_000_000)])

    run = terminal_run(post_run(api, version))

    assert run.status == "completed" and len(run.output) == 1_000_000


@override_settings(MODEL_CREDENTIAL_ENVS=["LLMOPS_TEST_MODEL_KEY"])
def test_credential_comes_from_an_allowed_environment_variable(api, fake_openai, project, monkeypatch):
    monkeypatch.setenv("LLMOPS_TEST_MODEL_KEY", "sk-test-secret")
    endpoint = make_endpoint(project, fake_openai.base_url, api_key_env="LLMOPS_TEST_MODEL_KEY")

    run = terminal_run(post_run(api, make_version(project, endpoint=endpoint)))

    assert run.status == "completed"
    [sent] = fake_openai.requests(endpoint.model_id)
    assert sent["headers"]["authorization"] == "Bearer sk-test-secret"


@override_settings(MODEL_CREDENTIAL_ENVS=["LLMOPS_TEST_ABSENT_KEY"])
def test_missing_credential_fails_as_configuration_error_without_a_call(api, fake_openai, project, monkeypatch):
    monkeypatch.delenv("LLMOPS_TEST_ABSENT_KEY", raising=False)
    endpoint = make_endpoint(project, fake_openai.base_url, api_key_env="LLMOPS_TEST_ABSENT_KEY")

    run = terminal_run(post_run(api, make_version(project, endpoint=endpoint)))

    assert (run.status, run.error_type, run.attempts) == ("failed", "configuration_error", 1)
    assert "LLMOPS_TEST_ABSENT_KEY" in run.error_message
    assert fake_openai.calls(endpoint.model_id) == 0


def test_endpoint_disabled_after_queueing_fails_the_run(project, fake_openai, endpoint, version):
    run, _ = services.run_create(project=project, version=version, variables={"input": "x"}, enqueue=False)
    endpoint.enabled = False
    endpoint.save()

    services.run_enqueue(run=run)
    run = terminal_run(run.pk)

    assert (run.status, run.error_type) == ("failed", "configuration_error")
    assert fake_openai.calls(endpoint.model_id) == 0


def test_cancel_while_running_keeps_it_cancelled_and_unbilled(api, fake_openai, endpoint, version):
    fake_openai.script(endpoint.model_id, [reply("too late", delay=2)])
    run_id = post_run(api, version)
    wait_until(
        lambda: fake_openai.calls(endpoint.model_id) == 1 and Run.objects.get(pk=run_id).status == "running",
        what="the model call to start",
    )

    response = api.post(f"/api/v1/runs/{run_id}/cancel")

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    wait_until(worker_idle, timeout=10, what="the worker to finish the slow call")
    run = Run.objects.get(pk=run_id)
    assert (run.status, run.output, run.cost) == ("cancelled", "", None)
    assert not CostLog.objects.filter(run_id=run_id).exists()
    assert fake_openai.calls(endpoint.model_id) == 1


def test_cancel_while_queued_means_no_model_call(api, project, fake_openai, endpoint, version):
    run, _ = services.run_create(project=project, version=version, variables={"input": "x"}, enqueue=False)

    response = api.post(f"/api/v1/runs/{run.pk}/cancel")
    services.run_enqueue(run=run)  # a message that was already in flight
    wait_until(worker_idle, what="the worker")

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    run.refresh_from_db()
    assert run.status == "cancelled" and run.attempts == 0
    assert fake_openai.calls(endpoint.model_id) == 0


def test_cancelling_a_finished_run_is_a_conflict_naming_its_status(api, fake_openai, endpoint, version):
    run = terminal_run(post_run(api, version))

    response = api.post(f"/api/v1/runs/{run.pk}/cancel")

    assert response.status_code == 409
    assert response.json()["error"]["type"] == "conflict"
    assert "completed" in response.json()["error"]["message"]


def test_unknown_price_gives_null_cost_never_zero(api, fake_openai, project):
    endpoint = make_endpoint(project, fake_openai.base_url, input_price_per_million=None, output_price_per_million=None)

    run = terminal_run(post_run(api, make_version(project, endpoint=endpoint)))

    assert run.status == "completed" and run.cost is None
    body = api.get(f"/api/v1/runs/{run.pk}").json()
    assert body["cost"] is None and body["cost_known"] is False
    log = CostLog.objects.get(run=run)
    assert log.cost is None and log.input_price_per_million is None and log.input_tokens > 0
