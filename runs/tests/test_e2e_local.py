"""End to end on the real local model: POST /run?wait through the Celery worker to Gemma 3 270M."""

from __future__ import annotations

import pytest

from runs.models import CostLog, ModelEndpoint
from runs.tests.factories import ModelEndpointFactory
from runs.tests.helpers import make_version, terminal_run


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_local_gemma_answers_through_post_run_wait(api, project):
    pytest.importorskip("llama_cpp", reason="the local model needs the `local` extra")
    endpoint = ModelEndpointFactory(
        project=project,
        name="local-gemma",
        provider=ModelEndpoint.Provider.LOCAL,
        model_id="gemma-3-270m",
        base_url="",
        default_parameters={"max_tokens": 24, "temperature": 0.0},
        input_price_per_million=0,
        output_price_per_million=0,
        timeout_seconds=120,
        max_concurrency=1,
    )
    version = make_version(project, endpoint=endpoint, template="The capital of France is{input}")

    response = api.post(
        "/api/v1/run?wait=30", {"prompt_id": str(version.prompt_id), "variables": {"input": ""}}, format="json"
    )

    # About 2 s on an idle machine; a machine busy with other work can outlast the wait (then 202).
    assert response.status_code in (200, 202), response.content
    if response.status_code == 202:
        terminal_run(response.json()["run_id"], timeout=240)
    body = api.get(f"/api/v1/runs/{response.json()['run_id']}").json()
    assert body["status"] == "completed", body["error"]
    assert body["output"].strip()
    assert body["input_tokens"] > 0 and body["output_tokens"] > 0
    assert body["cost"] == "0.000000000" and body["cost_known"] is True
    assert CostLog.objects.get(run_id=body["run_id"]).output_tokens == body["output_tokens"]
