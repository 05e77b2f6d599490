"""The console: run totals over the filtered list, the run page, actions that go through the services."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from accounts.models import Membership
from accounts.tests.factories import MembershipFactory, UserFactory
from llmops.core.testing.fake_openai import reply, status
from prompts.tests.heavy_templates import busy_messages
from runs.models import ModelEndpoint, Run
from runs.tests.factories import CostLogFactory, ModelEndpointFactory, ModelPriceFactory, RunFactory
from runs.tests.helpers import make_endpoint, make_version

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:runs_run_changelist")


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_changelist_totals_follow_the_filters(admin_client, version):
    RunFactory(
        prompt_version=version, status="completed", cost=Decimal("0.000100000"), input_tokens=10, output_tokens=4
    )
    RunFactory(prompt_version=version, status="completed", cost=Decimal("0.000023000"), input_tokens=5, output_tokens=1)
    RunFactory(prompt_version=version, status="completed", cost=None, input_tokens=7, output_tokens=2)
    RunFactory(prompt_version=version, status="failed", cost=None, input_tokens=None, output_tokens=None)

    everything = admin_client.get(CHANGELIST).context["run_totals"]
    completed = admin_client.get(CHANGELIST, {"status__exact": "completed"})
    failed = admin_client.get(CHANGELIST, {"status__exact": "failed"}).context["run_totals"]

    assert everything == {
        "runs": 4,
        "cost": Decimal("0.000123000"),
        "input_tokens": 22,
        "output_tokens": 7,
        "unpriced": 1,
    }
    totals = completed.context["run_totals"]
    assert (totals["runs"], totals["cost"], totals["unpriced"]) == (3, Decimal("0.000123000"), 1)
    page = completed.content.decode()
    assert "0.000123000" in page and "unknown price" in page
    assert (failed["runs"], failed["cost"], failed["input_tokens"]) == (1, Decimal("0"), 0)


def test_changelist_filters_by_model_prompt_and_date(admin_client, version, endpoint):
    run = RunFactory(prompt_version=version, model_endpoint=endpoint)

    for query in (
        {"model_endpoint__id__exact": str(endpoint.pk)},
        {"prompt_version__prompt__id__exact": str(version.prompt_id)},
        {"model_id": run.model_id},
        {"created_at__year": str(run.created_at.year)},
    ):
        response = admin_client.get(CHANGELIST, query)
        assert response.status_code == 200 and response.context["run_totals"]["runs"] == 1, query


def test_run_page_shows_prompt_output_error_attempts_cost_and_cost_log(admin_client, version):
    run = RunFactory(
        prompt_version=version,
        status="completed",
        output="Positive sentiment.",
        error_type="server_error",
        error_message="HTTP 503 on attempt 1",
        attempts=2,
        cost=Decimal("0.000012500"),
    )
    CostLogFactory(run=run, model_id="fake/model-logged")

    page = admin_client.get(reverse("admin:runs_run_change", args=[run.pk])).content.decode()

    for expected in (
        "Analyze the sentiment of this text: I love this!",
        "Positive sentiment.",
        "HTTP 503 on attempt 1",
        "0.000012500",
        "fake/model-logged",
    ):
        assert expected in page


def test_cancel_action_cancels_queued_and_running_runs_only(admin_client, version):
    queued = RunFactory(prompt_version=version, status="queued")
    running = RunFactory(prompt_version=version, status="running", attempts=1)
    done = RunFactory(prompt_version=version, status="completed")

    response = admin_client.post(
        CHANGELIST, {"action": "cancel_runs", "_selected_action": [queued.pk, running.pk, done.pk]}, follow=True
    )

    assert dict(Run.objects.values_list("pk", "status")) == {
        queued.pk: "cancelled",
        running.pk: "cancelled",
        done.pk: "completed",
    }
    assert "Cancelled 2 run(s)" in messages_of(response)[0]


def test_retry_action_creates_new_runs_for_failed_ones(
    admin_client, version, endpoint, django_capture_on_commit_callbacks
):
    failed = RunFactory(prompt_version=version, model_endpoint=endpoint, status="failed", variables={"input": "x"})
    completed = RunFactory(prompt_version=version, model_endpoint=endpoint, status="completed")

    with django_capture_on_commit_callbacks() as callbacks:
        admin_client.post(CHANGELIST, {"action": "retry_runs", "_selected_action": [failed.pk, completed.pk]})

    new = Run.objects.exclude(pk__in=[failed.pk, completed.pk]).get()
    assert (new.status, new.variables, new.model_endpoint) == ("queued", {"input": "x"}, endpoint)
    assert new.rendered_prompt == "Analyze the sentiment of this text: x"
    assert len(callbacks) == 1  # enqueued through the service
    failed.refresh_from_db()
    assert failed.status == "failed"


def test_test_connection_action_reports_latency_or_the_error(admin_client, project, fake_openai):
    good = make_endpoint(project, fake_openai.base_url, name="good")
    bad = make_endpoint(project, fake_openai.base_url, name="bad")
    fake_openai.script(good.model_id, [reply("OK", delay=0.05)])
    fake_openai.script(bad.model_id, [status(401, body={"error": {"message": "invalid api key"}})])

    response = admin_client.post(
        reverse("admin:runs_modelendpoint_changelist"),
        {"action": "test_connection", "_selected_action": [good.pk, bad.pk]},
        follow=True,
    )

    notes = messages_of(response)
    assert any(note.startswith("good: OK in ") and " ms" in note for note in notes), notes
    assert any(note.startswith("bad: failed") and "invalid api key" in note for note in notes), notes
    assert fake_openai.calls(good.model_id) == 1 and fake_openai.calls(bad.model_id) == 1


@pytest.mark.parametrize(
    ("base_url", "error"),
    [("ftp://models.example.com/v1", "must be an http(s) URL"), ("http://10.1.2.3/v1", "non-public address")],
)
def test_endpoint_form_refuses_unsafe_urls(admin_client, project, base_url, error):
    response = admin_client.post(
        reverse("admin:runs_modelendpoint_add"),
        {
            "project": project.pk,
            "name": "unsafe",
            "provider": "huggingface",
            "model_id": "m",
            "base_url": base_url,
            "default_parameters": "{}",
            "timeout_seconds": "10",
            "max_concurrency": "1",
            "enabled": "on",
        },
    )

    assert response.status_code == 200 and error in response.content.decode()
    assert not ModelEndpoint.objects.filter(name="unsafe").exists()


def test_prices_are_editable_in_the_list(admin_client):
    price = ModelPriceFactory(model_id="vendor/editable")

    page = admin_client.get(reverse("admin:runs_modelprice_changelist")).content.decode()

    assert 'name="form-0-input_price_per_million"' in page and price.model_id in page


def test_unknown_price_is_flagged_in_the_run_list(admin_client, version):
    RunFactory(prompt_version=version, status="completed", cost=None)
    ModelEndpointFactory()

    page = admin_client.get(CHANGELIST).content.decode()

    assert "unknown price" in page


def test_retrying_many_runs_in_one_click_shares_one_rendering_budget(project, endpoint):
    member = UserFactory(is_staff=True)
    MembershipFactory(user=member, project=project, role=Membership.Role.MEMBER)
    client = Client()
    client.force_login(member)
    heavy = make_version(
        project,
        endpoint=endpoint,
        kind="chat",
        template_format="jinja2",
        template="",
        messages=busy_messages(100, seconds_each=0.008),  # 0.8 s per run: 3.2 s for the four
        variables=[],
    )
    failed = [
        RunFactory(prompt_version=heavy, model_endpoint=endpoint, status="failed", variables={}) for _ in range(4)
    ]

    started = time.monotonic()
    response = client.post(CHANGELIST, {"action": "retry_runs", "_selected_action": [run.pk for run in failed]})
    elapsed = time.monotonic() - started

    assert response.status_code == 302
    notes = messages_of(response)
    refused = [note for note in notes if note.startswith("Not retried")]
    assert refused and all(
        note.endswith("templates took longer than the rendering budget of 2 s for this request") for note in refused
    ), notes
    retried = Run.objects.filter(status="queued").count()
    assert retried + len(refused) == 4 and f"Queued {retried} new run(s)" in notes[0]
    assert elapsed < 3
