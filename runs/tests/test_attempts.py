"""Every attempt of a run is recorded, including calls that may have been paid but were not kept; the
history shows in the API, in the OpenAPI schema and on the run's admin page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from accounts.models import Membership
from accounts.tests.factories import MembershipFactory, UserFactory
from llmops.core.testing.fake_openai import reply, status
from runs.models import CostLog, Run, RunAttempt
from runs.tests.factories import RunFactory
from runs.tests.helpers import terminal_run, wait_until, worker_idle


def post_run(api, version) -> str:
    response = api.post(
        "/api/v1/run", {"prompt_id": str(version.prompt_id), "variables": {"input": "I love this!"}}, format="json"
    )
    assert response.status_code == 202, response.content
    return response.json()["run_id"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_the_api_shows_each_attempt_of_a_run(api, fake_openai, endpoint, version):
    fake_openai.script(endpoint.model_id, [status(503), reply("positive", prompt_tokens=12, completion_tokens=3)])

    run = terminal_run(post_run(api, version))
    body = api.get(f"/api/v1/runs/{run.pk}").json()

    first, second = body["attempts_history"]
    assert (first["number"], first["outcome"], first["error"]["type"]) == (1, "retrying", "server_error")
    assert "attempt 1 of 3" in first["error"]["message"] and first["latency_ms"] is not None
    assert first["input_tokens"] is None and first["cost"] is None
    assert (second["number"], second["outcome"], second["error"]) == (2, "completed", None)
    assert (second["input_tokens"], second["output_tokens"], second["cost"]) == (12, 3, "0.000010500")
    assert second["started_at"] <= second["finished_at"] and first["finished_at"] <= second["started_at"]
    assert len(body["attempts_history"]) == body["attempts"] == fake_openai.calls(endpoint.model_id)
    listed = api.get("/api/v1/runs").json()["results"][0]
    assert listed["id"] == str(run.pk) and "attempts_history" not in listed


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_an_answer_that_arrives_after_a_cancel_is_recorded_as_discarded(api, fake_openai, endpoint, version):
    fake_openai.script(endpoint.model_id, [reply("too late", prompt_tokens=10, completion_tokens=4, delay=1.0)])
    run_id = post_run(api, version)
    wait_until(lambda: fake_openai.calls(endpoint.model_id) == 1, what="the model call")

    assert api.post(f"/api/v1/runs/{run_id}/cancel").status_code == 200
    wait_until(lambda: RunAttempt.objects.filter(run_id=run_id, outcome="discarded").exists(), what="the late answer")
    wait_until(worker_idle, what="the worker to go idle")

    [attempt] = api.get(f"/api/v1/runs/{run_id}").json()["attempts_history"]
    assert (attempt["outcome"], attempt["input_tokens"], attempt["output_tokens"]) == ("discarded", 10, 4)
    assert attempt["cost"] == "0.000011000" and "not kept" in attempt["error"]["message"]
    assert Run.objects.get(pk=run_id).status == "cancelled"
    assert not CostLog.objects.filter(run_id=run_id).exists()  # billed by the provider, not in the cost log


def test_the_openapi_schema_describes_the_attempts_history():
    components = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]

    history = components["Run"]["properties"]["attempts_history"]
    assert history["type"] == "array" and history["readOnly"] is True
    attempt = components["RunAttempt"]["properties"]
    assert set(attempt) == {
        "number",
        "outcome",
        "started_at",
        "finished_at",
        "error",
        "input_tokens",
        "output_tokens",
        "latency_ms",
        "cost",
    }
    assert "lease_expired" in str(components) and "attempts_history" not in components["RunList"]["properties"]


def history_of(run: Run) -> None:
    now = timezone.now()
    RunAttempt.objects.create(
        run=run,
        number=1,
        outcome="lease_expired",
        started_at=now,
        finished_at=now,
        error_type="lease_expired",
        error_message="worker stopped reporting; its model call may have been billed",
    )
    RunAttempt.objects.create(
        run=run, number=2, outcome="completed", started_at=now, finished_at=now, cost=Decimal("0.000042000")
    )


@pytest.mark.django_db
def test_the_run_page_shows_the_attempts_history_read_only(admin_client, version):
    run = RunFactory(prompt_version=version, status="completed", attempts=2)
    history_of(run)

    response = admin_client.get(reverse("admin:runs_run_change", args=[run.pk]))

    page = response.content.decode()
    assert response.status_code == 200 and "attempts history" in page.lower()
    assert "may have been billed" in page and "0.000042000" in page
    assert 'name="attempts_history-0-outcome"' not in page  # shown, not editable
    assert RunAttempt.objects.filter(run=run).count() == 2


@pytest.mark.django_db
def test_a_project_viewer_sees_the_history_of_their_projects_runs_only(project, other_tenant, version):
    viewer = UserFactory(is_staff=True)
    MembershipFactory(user=viewer, project=project, role=Membership.Role.VIEWER)
    client = Client()
    client.force_login(viewer)
    run = RunFactory(prompt_version=version, status="completed", attempts=2)
    history_of(run)
    foreign = RunFactory(project=other_tenant.project, status="completed")

    page = client.get(reverse("admin:runs_run_change", args=[run.pk])).content.decode()

    assert "may have been billed" in page
    assert client.get(reverse("admin:runs_run_change", args=[foreign.pk])).status_code == 302
