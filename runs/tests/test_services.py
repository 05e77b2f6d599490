"""Services without HTTP: what experiments and the admin call."""

from __future__ import annotations

import importlib
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.test import override_settings

from llmops.core.errors import Conflict, NotFound, ValidationFailed
from llmops.core.testing.fake_openai import reply, status
from runs import endpoints, pricing, services
from runs.backoff import retry_delay
from runs.calls import credential_for
from runs.models import CostLog, ModelEndpoint, ModelPrice, Run
from runs.sanitize import pg_safe, pg_text
from runs.tests.factories import ModelEndpointFactory, ModelPriceFactory, RunFactory
from runs.tests.helpers import make_endpoint, make_version

VARIABLES = {"input": "I love this!"}


# -- run_create ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_run_create_queues_a_rendered_run_and_enqueues_after_commit(
    project, version, endpoint, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        run, created = services.run_create(project=project, version=version, variables=VARIABLES)

    assert created and run.status == Run.Status.QUEUED
    assert run.rendered_prompt == "Analyze the sentiment of this text: I love this!"
    assert run.model_endpoint == endpoint and run.max_attempts == 3 and run.task_id
    assert len(callbacks) == 1  # published only once the transaction commits

    with django_capture_on_commit_callbacks() as callbacks:
        services.run_create(project=project, version=version, variables=VARIABLES, enqueue=False)
    assert callbacks == []


@pytest.mark.django_db
def test_parameters_merge_endpoint_then_version_then_request(project, fake_openai):
    endpoint = make_endpoint(
        project, fake_openai.base_url, default_parameters={"temperature": 0.1, "max_tokens": 10, "top_p": 0.9}
    )
    version = make_version(
        project,
        model_settings={"model_endpoint": endpoint.name, "parameters": {"temperature": 0.5, "max_tokens": 20}},
    )

    run, _ = services.run_create(
        project=project, version=version, variables=VARIABLES, parameters={"max_tokens": 30}, enqueue=False
    )

    assert run.parameters == {"temperature": 0.5, "max_tokens": 30, "top_p": 0.9}


@pytest.mark.django_db
def test_chat_versions_are_rendered_to_messages(project, endpoint):
    version = make_version(
        project,
        endpoint=endpoint,
        kind="chat",
        template="",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Rate: {input}"}],
    )

    run, _ = services.run_create(project=project, version=version, variables=VARIABLES, enqueue=False)

    assert run.rendered_messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Rate: I love this!"},
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"variables": {}}, "missing_variable"),
        ({"max_attempts": 11}, "invalid"),
        ({"max_attempts": True}, "invalid"),
        ({"parameters": {"temperature": "hot"}}, "invalid_parameters"),
        ({"model_endpoint": "nope"}, "unknown_model_endpoint"),
    ],
)
def test_run_create_refuses_bad_input_and_creates_nothing(project, version, kwargs, code):
    arguments = {"project": project, "version": version, "variables": VARIABLES, "enqueue": False, **kwargs}

    with pytest.raises(ValidationFailed) as caught:
        services.run_create(**arguments)

    assert caught.value.code == code
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_missing_variable_error_names_the_variable(project, version):
    with pytest.raises(ValidationFailed) as caught:
        services.run_create(project=project, version=version, variables={"other": 1}, enqueue=False)

    assert "input" in caught.value.message


@pytest.mark.django_db
def test_endpoints_of_other_projects_and_disabled_ones_are_refused(project, other_tenant, version, fake_openai):
    foreign = make_endpoint(other_tenant.project, fake_openai.base_url)
    disabled = make_endpoint(project, fake_openai.base_url, enabled=False)

    for ref, code in [(foreign, "unknown_model_endpoint"), (str(foreign.pk), "unknown_model_endpoint")]:
        with pytest.raises(ValidationFailed) as caught:
            services.run_create(project=project, version=version, variables=VARIABLES, model_endpoint=ref)
        assert caught.value.code == code
    with pytest.raises(ValidationFailed) as caught:
        services.run_create(project=project, version=version, variables=VARIABLES, model_endpoint=disabled.name)
    assert caught.value.code == "model_endpoint_disabled"
    with pytest.raises(NotFound):
        services.run_create(project=other_tenant.project, version=version, variables=VARIABLES)


@pytest.mark.django_db
def test_idempotency_key_replays_the_first_run_or_conflicts(project, version):
    first, created = services.run_create(
        project=project, version=version, variables=VARIABLES, idempotency_key="abc", enqueue=False
    )
    again, created_again = services.run_create(
        project=project, version=version, variables=VARIABLES, idempotency_key="abc", enqueue=False
    )

    assert created and not created_again and again.pk == first.pk
    with pytest.raises(Conflict):
        services.run_create(project=project, version=version, variables={"input": "other"}, idempotency_key="abc")
    assert Run.objects.count() == 1


@pytest.mark.django_db
def test_nul_in_variables_is_replaced_before_rendering(project, version):
    run, _ = services.run_create(project=project, version=version, variables={"input": "a\u0000b"}, enqueue=False)

    assert run.variables == {"input": "a\ufffdb"}
    assert run.rendered_prompt.endswith("a\ufffdb")
    assert pg_text("x\u0000y\u0000") == "x\ufffdy\ufffd"
    assert pg_safe({"k\u0000": ["v\u0000", 1, None]}) == {"k\ufffd": ["v\ufffd", 1, None]}


# -- run_execute, synchronously ------------------------------------------------------------------------


@pytest.mark.django_db
def test_run_execute_completes_and_bills_once(project, version, endpoint, fake_openai):
    fake_openai.script(endpoint.model_id, [reply("positive", prompt_tokens=1000, completion_tokens=500)])
    run, _ = services.run_create(project=project, version=version, variables=VARIABLES, enqueue=False)

    assert services.run_execute(run_id=run.pk).outcome == "completed"
    assert services.run_execute(run_id=run.pk).outcome == "skipped"  # a second delivery of the message

    run.refresh_from_db()
    assert (run.status, run.attempts, run.cost) == ("completed", 1, Decimal("0.001250000"))
    assert CostLog.objects.get().cost == Decimal("0.001250000")
    assert fake_openai.calls(endpoint.model_id) == 1


@pytest.mark.django_db
def test_an_early_copy_during_a_pending_backoff_is_dropped(
    project, version, endpoint, fake_openai, django_capture_on_commit_callbacks
):
    """The message published with the backoff brings the run back (the sweeper, if it is lost); a copy
    that published itself again would keep a second message circulating for the run."""
    run, _ = services.run_create(project=project, version=version, variables=VARIABLES, enqueue=False)
    Run.objects.filter(pk=run.pk).update(next_attempt_at=run.created_at + timedelta(hours=1))

    with django_capture_on_commit_callbacks() as callbacks:
        execution = services.run_execute(run_id=run.pk)

    assert execution.outcome == "early" and execution.delay > 3000
    assert callbacks == []
    assert fake_openai.calls(endpoint.model_id) == 0
    assert Run.objects.get(pk=run.pk).attempts == 0


@pytest.mark.django_db
def test_a_retryable_failure_requeues_with_the_error_and_a_due_time(project, version, endpoint, fake_openai):
    fake_openai.script(endpoint.model_id, [status(503)])
    run, _ = services.run_create(project=project, version=version, variables=VARIABLES, enqueue=False)

    execution = services.run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert execution.outcome == "retrying"
    assert (run.status, run.attempts, run.error_type) == ("queued", 1, "server_error")
    assert run.next_attempt_at is not None and run.lease_expires_at is None


@pytest.mark.django_db
def test_a_failed_attempt_cannot_overwrite_a_cancelled_run(project, version, endpoint, fake_openai):
    run, _ = services.run_create(project=project, version=version, variables=VARIABLES, enqueue=False)
    services.run_cancel(run=run)

    assert services.run_execute(run_id=run.pk).outcome == "skipped"
    with pytest.raises(Conflict) as caught:
        services.run_cancel(run=run)
    assert "cancelled" in caught.value.message
    assert fake_openai.calls(endpoint.model_id) == 0


@pytest.mark.django_db
def test_run_retry_creates_a_new_run_from_a_failed_one(project, version, endpoint):
    failed = RunFactory(
        prompt_version=version, model_endpoint=endpoint, status="failed", variables=VARIABLES, max_attempts=5
    )

    retried = services.run_retry(run=failed)

    assert retried.pk != failed.pk and retried.status == "queued"
    assert (retried.prompt_version, retried.model_endpoint, retried.max_attempts) == (version, endpoint, 5)
    with pytest.raises(Conflict):
        services.run_retry(run=retried)


# -- endpoints and credentials -------------------------------------------------------------------------


@pytest.mark.django_db
def test_model_endpoint_services_validate(project, fake_openai):
    endpoint = endpoints.model_endpoint_create(
        project=project, name=" fake ", model_id=" some/model ", base_url=fake_openai.base_url
    )
    assert (endpoint.name, endpoint.model_id) == ("fake", "some/model")

    with pytest.raises(Conflict):
        endpoints.model_endpoint_create(project=project, name="fake", model_id="m")
    with pytest.raises(ValidationFailed) as caught:
        endpoints.model_endpoint_update(endpoint=endpoint, base_url="http://169.254.169.254/latest")
    assert caught.value.code == "forbidden_address"
    with pytest.raises(ValidationFailed) as caught:
        endpoints.model_endpoint_update(endpoint=endpoint, timeout_seconds=-1)
    assert caught.value.param == "timeout_seconds"
    assert ModelEndpoint.objects.get(pk=endpoint.pk).timeout_seconds == 60.0


@pytest.mark.django_db
def test_model_endpoint_test_reports_latency_or_the_error(project, fake_openai):
    endpoint = make_endpoint(project, fake_openai.base_url)
    fake_openai.script(endpoint.model_id, [reply("OK"), status(401)])

    ok = endpoints.model_endpoint_test(endpoint=endpoint)
    failed = endpoints.model_endpoint_test(endpoint=endpoint)

    assert ok.ok and ok.latency_ms >= 0 and "OK" in ok.detail
    assert not failed.ok and failed.detail.startswith("authentication:")
    assert Run.objects.count() == 0 and CostLog.objects.count() == 0


@pytest.mark.django_db
def test_hugging_face_endpoints_fall_back_to_the_platform_token(project, monkeypatch):
    routed = ModelEndpointFactory(project=project, base_url="", api_key_env="")
    own_server = ModelEndpointFactory(project=project, api_key_env="")
    named = ModelEndpointFactory(project=project, base_url="", api_key_env="MY_HF_TOKEN")
    monkeypatch.setenv("MY_HF_TOKEN", "hf_named")

    with override_settings(HUGGINGFACE_API_KEY="hf_platform", MODEL_CREDENTIAL_ENVS=["MY_HF_TOKEN"]):
        assert credential_for(routed) == "hf_platform"
        assert credential_for(own_server) is None  # never sent to an arbitrary server
        assert credential_for(named) == "hf_named"


# -- pricing and backoff -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_prices_come_from_the_endpoint_then_the_price_list_else_unknown(project):
    ModelPriceFactory(model_id="listed/model", input_price_per_million="0.15", output_price_per_million="0.60")
    priced = ModelEndpointFactory(project=project, model_id="listed/model")
    unpriced = ModelEndpointFactory(
        project=project, model_id="listed/model", input_price_per_million=None, output_price_per_million=None
    )
    nothing = ModelEndpointFactory(
        project=project, model_id="mystery/model", input_price_per_million=None, output_price_per_million=None
    )

    assert pricing.price_for(endpoint=priced, model_id=priced.model_id).source == "endpoint"
    listed = pricing.price_for(endpoint=unpriced, model_id=unpriced.model_id)
    assert (listed.source, listed.input_per_million) == ("price list", Decimal("0.15"))
    assert pricing.price_for(endpoint=nothing, model_id=nothing.model_id) is None
    cost = pricing.cost_of(input_tokens=1234, output_tokens=567, price=listed)
    assert cost == Decimal("0.000525300") and str(cost) == "0.000525300"
    assert pricing.cost_of(input_tokens=None, output_tokens=5, price=listed) is None
    assert pricing.cost_of(input_tokens=5, output_tokens=5, price=None) is None


def test_backoff_is_full_jitter_capped_and_honours_retry_after():
    rng = random.Random(7)
    delays = [retry_delay(attempt=3, base=1.0, cap=60.0, rng=rng) for _ in range(500)]
    assert all(0.0 <= delay <= 4.0 for delay in delays) and max(delays) > 3.0 and min(delays) < 1.0
    assert all(retry_delay(attempt=10, base=1.0, cap=5.0, rng=rng) <= 5.0 for _ in range(100))
    assert retry_delay(attempt=1, retry_after=2.5, base=0.05, cap=60.0, rng=rng) == 2.5
    assert retry_delay(attempt=1, retry_after=3600, base=0.05, cap=60.0, rng=rng) == 60.0


@pytest.mark.django_db
def test_the_price_list_seed_is_editable_and_never_overwrites(project):
    seed = importlib.import_module("runs.migrations.0003_seed_model_prices")
    ModelPrice.objects.all().delete()
    ModelPrice.objects.create(model_id="gpt-4o", input_price_per_million=1, output_price_per_million=2, notes="mine")

    seed.seed(apps, None)

    mini = ModelPrice.objects.get(model_id="gpt-4o-mini")
    assert (mini.input_price_per_million, mini.output_price_per_million) == (Decimal("0.15"), Decimal("0.60"))
    assert "editable" in mini.notes and "OpenAI" in mini.notes
    assert ModelPrice.objects.get(model_id="gpt-4o").notes == "mine"
    assert ModelPrice.objects.count() >= 12
    assert ModelPrice.objects.get(model_id="gemma-3-270m").input_price_per_million == 0
