"""The HTTP face of runs and model endpoints: /run, /task-status, /runs, /models."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests.factories import issue_key
from llmops.core.testing.fake_openai import reply
from prompts.tests.factories import PromptLabelFactory
from prompts.tests.heavy_templates import busy_messages
from runs.models import ModelEndpoint, Run
from runs.tests.factories import ModelEndpointFactory, RunFactory
from runs.tests.helpers import make_endpoint, make_version, terminal_run, wait_until, worker_idle

BODY = {"variables": {"input": "I love this!"}}


def run_body(prompt_version, **extra) -> dict:
    return {"prompt_id": str(prompt_version.prompt_id), **BODY, **extra}


def client_with(project, scopes) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_key(project=project, scopes=scopes)}")
    return client


# -- POST /run ------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_post_run_answers_202_in_milliseconds_while_the_model_takes_2_seconds(api, fake_openai, endpoint, version):
    fake_openai.script(endpoint.model_id, [reply("positive", delay=2)])

    started = time.perf_counter()
    response = api.post("/api/v1/run", run_body(version), format="json")
    elapsed = time.perf_counter() - started

    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"run_id", "task_id", "status", "status_url"}
    assert body["status"] == "queued"
    assert response["Location"] == body["status_url"] == f"http://testserver/api/v1/runs/{body['run_id']}"
    assert elapsed < 1.0  # the model alone takes 2 s
    run = terminal_run(body["run_id"])
    assert run.status == "completed" and run.task_id == body["task_id"]
    status = api.get(f"/api/v1/task-status/{body['task_id']}")
    assert status.status_code == 200
    assert status.json()["run_id"] == body["run_id"] and status.json()["output"] == "positive"


@pytest.mark.django_db
def test_post_run_renders_at_request_time_and_stores_the_request(api, project, endpoint, version):
    response = api.post("/api/v1/run", run_body(version), format="json", HTTP_X_REQUEST_ID="req-run-create-1")

    run = Run.objects.get(pk=response.json()["run_id"])
    assert run.status == "queued" and run.attempts == 0
    assert run.rendered_prompt == "Analyze the sentiment of this text: I love this!"
    assert run.model_endpoint == endpoint and run.model_id == endpoint.model_id
    assert run.request_id == "req-run-create-1"
    assert run.api_key.project == project
    assert len(run.request_hash) == 64


@pytest.mark.django_db
def test_post_run_by_prompt_name_with_label_or_version(api, project, endpoint):
    v1 = make_version(project, endpoint=endpoint)
    v2 = make_version(project, endpoint=endpoint, prompt=v1.prompt, template="Second: {input}")
    PromptLabelFactory(version=v1, name="stable")

    by_label = api.post("/api/v1/run", {"prompt_name": v1.prompt.name, "label": "stable", **BODY}, format="json").json()
    by_version = api.post(
        "/api/v1/run", {"prompt_name": v1.prompt.name, "version": v2.version, **BODY}, format="json"
    ).json()

    assert Run.objects.get(pk=by_label["run_id"]).prompt_version == v1
    assert Run.objects.get(pk=by_version["run_id"]).rendered_prompt == "Second: I love this!"


@pytest.mark.django_db
def test_missing_variable_is_a_400_naming_it_and_creates_nothing(api, version):
    response = api.post("/api/v1/run", {"prompt_id": str(version.prompt_id), "variables": {}}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "validation_error" and "input" in error["message"]
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_no_model_endpoint_configured_is_a_400(api, project):
    version = make_version(project, model_settings={})

    response = api.post("/api/v1/run", run_body(version), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "no_model_endpoint"
    assert "no model endpoint is configured" in response.json()["error"]["message"]
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_request_endpoint_and_parameters_override_the_defaults(api, project, fake_openai):
    default = make_endpoint(project, fake_openai.base_url, default_parameters={"temperature": 0.1, "max_tokens": 5})
    other = make_endpoint(project, fake_openai.base_url, default_parameters={"temperature": 0.1, "max_tokens": 5})
    version = make_version(
        project, endpoint=default, model_settings={"model_endpoint": default.name, "parameters": {"temperature": 0.5}}
    )

    by_name = api.post("/api/v1/run", run_body(version, parameters={"max_tokens": 9}), format="json").json()
    by_id = api.post("/api/v1/run", run_body(version, model_endpoint=str(other.pk)), format="json").json()

    first, second = Run.objects.get(pk=by_name["run_id"]), Run.objects.get(pk=by_id["run_id"])
    assert first.model_endpoint == default and first.parameters == {"temperature": 0.5, "max_tokens": 9}
    assert second.model_endpoint == other and second.parameters == {"temperature": 0.5, "max_tokens": 5}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"prompt_id": None}, "prompt_id"),
        ({"prompt_name": "also-a-name"}, "prompt_id"),
        ({"max_attempts": 11}, "max_attempts"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"parameters": {"max_tokens": "many"}}, "parameters"),
        ({"model_endpoint": "no-such-endpoint"}, "model_endpoint"),
        ({"label": "production", "version": 1}, "version"),
    ],
)
def test_bad_run_requests_are_400_naming_the_parameter(api, version, extra, param):
    payload = {name: value for name, value in run_body(version, **extra).items() if value is not None}

    response = api.post("/api/v1/run", payload, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == param
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_a_read_only_key_cannot_start_runs(project, version):
    response = client_with(project, ["read"]).post("/api/v1/run", run_body(version), format="json")

    assert response.status_code == 403
    assert Run.objects.count() == 0


# -- Idempotency-Key --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_same_idempotency_key_and_body_returns_the_first_run_and_calls_the_model_once(
    api, fake_openai, endpoint, version
):
    first = api.post("/api/v1/run", run_body(version), format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    terminal_run(first.json()["run_id"])
    again = api.post("/api/v1/run", run_body(version), format="json", HTTP_IDEMPOTENCY_KEY="order-42")

    assert first.status_code == 202
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json()["run_id"] == first.json()["run_id"] and again.json()["status"] == "completed"
    wait_until(worker_idle, what="the worker")
    assert Run.objects.count() == 1
    assert fake_openai.calls(endpoint.model_id) == 1


@pytest.mark.django_db
def test_same_idempotency_key_with_another_body_is_a_409(api, version):
    api.post("/api/v1/run", run_body(version), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    response = api.post(
        "/api/v1/run",
        {"prompt_id": str(version.prompt_id), "variables": {"input": "something else"}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Run.objects.count() == 1


@pytest.mark.django_db
def test_key_order_does_not_make_another_body(api, version):
    first = api.post(
        "/api/v1/run",
        json.dumps({"variables": {"input": "I love this!"}, "prompt_id": str(version.prompt_id)}, sort_keys=True),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-2",
    )
    second = api.post("/api/v1/run", run_body(version), format="json", HTTP_IDEMPOTENCY_KEY="k-2")

    assert first.status_code == 202 and second.status_code == 202
    assert first.json()["run_id"] == second.json()["run_id"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_concurrent_requests_with_one_idempotency_key_create_one_run(tenant, fake_openai, endpoint, version):
    barrier = threading.Barrier(6)
    answers: list[tuple[int, str]] = []

    def post() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant.key}")
        try:
            barrier.wait()
            response = client.post("/api/v1/run", run_body(version), format="json", HTTP_IDEMPOTENCY_KEY="same")
            answers.append((response.status_code, response.json()["run_id"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert len(answers) == 6
    assert len({run_id for _, run_id in answers}) == 1
    assert {code for code, _ in answers} <= {200, 202}
    assert Run.objects.count() == 1
    terminal_run(answers[0][1])
    wait_until(worker_idle, what="the worker")
    assert fake_openai.calls(endpoint.model_id) == 1


# -- wait mode --------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_wait_returns_the_finished_run(api, fake_openai, endpoint, version):
    fake_openai.script(endpoint.model_id, [reply("positive", prompt_tokens=10, completion_tokens=2)])

    response = api.post("/api/v1/run?wait=10", run_body(version), format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "completed" and body["output"] == "positive"
    assert (body["input_tokens"], body["output_tokens"]) == (10, 2)
    assert body["cost"] == "0.000008000" and body["cost_known"] is True


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_wait_shorter_than_the_model_answers_202(api, fake_openai, endpoint, version):
    fake_openai.script(endpoint.model_id, [reply("late", delay=2)])

    started = time.perf_counter()
    response = api.post("/api/v1/run?wait=0.3", run_body(version), format="json")

    assert response.status_code == 202
    assert 0.3 <= time.perf_counter() - started < 1.5
    assert response["Location"].endswith(f"/api/v1/runs/{response.json()['run_id']}")
    terminal_run(response.json()["run_id"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_wait_is_capped(api, fake_openai, endpoint, version):
    fake_openai.script(endpoint.model_id, [reply("late", delay=2)])

    with override_settings(RUN_WAIT_MAX_SECONDS=0.2):
        started = time.perf_counter()
        response = api.post("/api/v1/run?wait=100", run_body(version), format="json")

    assert response.status_code == 202
    assert time.perf_counter() - started < 1.5
    terminal_run(response.json()["run_id"])


@pytest.mark.django_db
@pytest.mark.parametrize("wait", ["abc", "-1", "nan", "inf"])
def test_bad_wait_is_a_400_and_creates_nothing(api, version, wait):
    response = api.post(f"/api/v1/run?wait={wait}", run_body(version), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "wait"
    assert Run.objects.count() == 0


# -- reading runs -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_run_detail_has_every_field_a_client_needs(api, project, endpoint, version):
    run = RunFactory(
        prompt_version=version,
        model_endpoint=endpoint,
        status="failed",
        error_type="rate_limited",
        error_message="HTTP 429",
        attempts=3,
        input_tokens=7,
        output_tokens=0,
        request_id="req-1",
        task_id="task-1",
    )

    body = api.get(f"/api/v1/runs/{run.pk}").json()

    assert body["id"] == body["run_id"] == str(run.pk)
    assert body["status"] == "failed" and body["attempts"] == 3
    assert body["error"] == {"type": "rate_limited", "message": "HTTP 429"}
    assert body["prompt_id"] == str(version.prompt_id) and body["version"] == version.version
    assert body["model_endpoint"] == str(endpoint.pk) and body["model_endpoint_name"] == endpoint.name
    assert body["cost"] is None and body["cost_known"] is False
    assert body["request_id"] == "req-1" and body["task_id"] == "task-1"
    for field in ("created_at", "started_at", "finished_at", "latency_ms", "input_tokens", "output_tokens", "output"):
        assert field in body
    assert api.get("/api/v1/task-status/task-1").json()["id"] == str(run.pk)
    assert api.get("/api/v1/task-status/no-such-task").status_code == 404


@pytest.mark.django_db
def test_run_list_filters(api, project, endpoint):
    v1 = make_version(project, endpoint=endpoint)
    v2 = make_version(project, endpoint=endpoint, prompt=v1.prompt)
    other_prompt = make_version(project, endpoint=endpoint)
    other_endpoint = ModelEndpointFactory(project=project, model_id="vendor/other")
    completed = RunFactory(prompt_version=v1, model_endpoint=endpoint, status="completed", cost=Decimal("0.1"))
    failed = RunFactory(prompt_version=v2, model_endpoint=endpoint, status="failed")
    elsewhere = RunFactory(prompt_version=other_prompt, model_endpoint=other_endpoint, model_id="vendor/other")
    old = RunFactory(prompt_version=v1, model_endpoint=endpoint)
    Run.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))

    def ids(query: str) -> set[str]:
        response = api.get(f"/api/v1/runs{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids("") == {str(r.pk) for r in (completed, failed, elsewhere, old)}
    assert ids(f"?prompt={v1.prompt_id}") == {str(completed.pk), str(failed.pk), str(old.pk)}
    assert ids(f"?prompt={v1.prompt_id}&version={v2.version}") == {str(failed.pk)}
    assert ids("?status=completed,failed") == {str(completed.pk), str(failed.pk)}
    assert ids(f"?model={other_endpoint.pk}") == {str(elsewhere.pk)}
    assert ids(f"?model={other_endpoint.name}") == {str(elsewhere.pk)}
    assert ids("?model=vendor/other") == {str(elsewhere.pk)}
    week_ago = (timezone.now() - timedelta(days=7)).date().isoformat()
    assert ids(f"?created_before={week_ago}") == {str(old.pk)}
    assert str(old.pk) not in ids(f"?created_after={week_ago}T00:00:00Z")
    page = api.get("/api/v1/runs?limit=2").json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("prompt=not-a-uuid", "prompt"),
        ("version=zero", "version"),
        ("version=0", "version"),
        ("status=done", "status"),
        ("created_after=yesterday", "created_after"),
        ("created_before=2025-13-45", "created_before"),
    ],
)
def test_bad_run_filters_are_400_naming_the_parameter(api, query, param):
    response = api.get(f"/api/v1/runs?{query}")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


# -- model endpoints --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_model_endpoint_crud_with_the_admin_scope(api, project, fake_openai):
    created = api.post(
        "/api/v1/models",
        {
            "name": "fake",
            "model_id": "Qwen/Qwen2.5-1.5B-Instruct",
            "base_url": fake_openai.base_url,
            "api_key": "sk-fake-endpoint-secret-0001",
            "default_parameters": {"temperature": 0.2},
            "input_price_per_million": "0.10",
            "output_price_per_million": "0.30",
            "max_concurrency": 2,
            "timeout_seconds": 10,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    endpoint_id = created.json()["id"]
    assert created.json()["input_price_per_million"] == "0.100000"
    assert (created.json()["api_key_set"], created.json()["api_key_hint"]) == (True, "…0001")
    assert "api_key" not in created.json() and b"sk-fake-endpoint-secret" not in created.content

    assert [row["name"] for row in api.get("/api/v1/models").json()["results"]] == ["fake"]
    changed = api.patch(f"/api/v1/models/{endpoint_id}", {"max_concurrency": 3, "enabled": False}, format="json")
    assert changed.status_code == 200 and changed.json()["max_concurrency"] == 3
    assert ModelEndpoint.objects.get(pk=endpoint_id).enabled is False
    assert api.delete(f"/api/v1/models/{endpoint_id}").status_code == 204
    assert not ModelEndpoint.objects.filter(pk=endpoint_id).exists()


@pytest.mark.django_db
def test_model_endpoints_need_the_admin_scope_to_change(project):
    endpoint = ModelEndpointFactory(project=project)
    writer = client_with(project, ["read", "run", "write"])

    assert writer.get("/api/v1/models").status_code == 200
    assert writer.get(f"/api/v1/models/{endpoint.pk}").status_code == 200
    assert writer.post("/api/v1/models", {"name": "x", "model_id": "y"}, format="json").status_code == 403
    assert writer.patch(f"/api/v1/models/{endpoint.pk}", {"enabled": False}, format="json").status_code == 403
    assert writer.delete(f"/api/v1/models/{endpoint.pk}").status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"provider": "carrier-pigeon"}, "provider"),
        ({"model_id": "   "}, "model_id"),
        ({"base_url": "ftp://models.example.com/v1"}, "base_url"),
        ({"base_url": "http://10.0.0.7/v1"}, "base_url"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"input_price_per_million": "-0.01"}, "input_price_per_million"),
        ({"api_key_env": "not a name"}, "api_key_env"),
        ({"default_parameters": {"temperature": "hot"}}, "default_parameters"),
    ],
)
def test_model_endpoint_validation(api, fields, param):
    response = api.post("/api/v1/models", {"name": "bad", "model_id": "m", **fields}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == param
    assert not ModelEndpoint.objects.exists()


@pytest.mark.django_db
def test_duplicate_endpoint_name_is_a_conflict(api, project):
    ModelEndpointFactory(project=project, name="taken")

    response = api.post("/api/v1/models", {"name": "taken", "model_id": "m"}, format="json")

    assert response.status_code == 409


# -- tenancy ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_another_project_sees_nothing_and_runs_nothing(tenant, other_tenant, endpoint, version):
    run = RunFactory(prompt_version=version, model_endpoint=endpoint, task_id="tenant-task")
    intruder = other_tenant.client

    assert intruder.get(f"/api/v1/runs/{run.pk}").status_code == 404
    assert intruder.get("/api/v1/task-status/tenant-task").status_code == 404
    assert intruder.post(f"/api/v1/runs/{run.pk}/cancel").status_code == 404
    assert intruder.get("/api/v1/runs").json()["count"] == 0
    assert intruder.get(f"/api/v1/models/{endpoint.pk}").status_code == 404
    assert intruder.patch(f"/api/v1/models/{endpoint.pk}", {"enabled": False}, format="json").status_code == 404
    assert intruder.delete(f"/api/v1/models/{endpoint.pk}").status_code == 404
    assert intruder.get("/api/v1/models").json()["count"] == 0
    # The tenant's prompt does not exist for the other project...
    assert intruder.post("/api/v1/run", run_body(version), format="json").status_code == 404
    # ...nor does its endpoint, even for the other project's own prompt.
    own_version = make_version(other_tenant.project, model_settings={})
    response = intruder.post("/api/v1/run", run_body(own_version, model_endpoint=str(endpoint.pk)), format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_model_endpoint"
    assert Run.objects.count() == 1
    run.refresh_from_db()
    assert run.status == "queued"


# -- the rendering budget ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_post_run_of_a_100_message_chat_is_a_400_within_the_requests_rendering_budget(api, endpoint, project):
    # Each message takes a tenth of a second: under a per-message limit the request would take 10 s.
    heavy = make_version(
        project,
        endpoint=endpoint,
        kind="chat",
        template_format="jinja2",
        template="",
        messages=busy_messages(100, seconds_each=0.1),
        variables=[],
    )

    started = time.monotonic()
    response = api.post("/api/v1/run", {"prompt_id": str(heavy.prompt_id), "variables": {}}, format="json")
    elapsed = time.monotonic() - started

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["type"] == "validation_error" and error["code"] == "render_budget_exceeded"
    assert error["message"] == "templates took longer than the rendering budget of 2 s for this request"
    assert elapsed < 3
    assert not Run.objects.exists()
