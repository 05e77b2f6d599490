"""Server-owned fields (project, ids, status, cost, hashes, counters, timestamps) cannot be set by a
client: a field the endpoint does not take is a 400 naming it that creates nothing, a read-only one
is ignored; neither is ever stored."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import APIKey
from evaluation.models import GoldenExample
from evaluation.tests.factories import GoldenExampleFactory
from experiments.models import Experiment
from prompts.models import Prompt, PromptVersion
from runs.models import ModelEndpoint, Run
from runs.tests.helpers import make_endpoint, make_version

pytestmark = pytest.mark.django_db

FORGED_ID = str(uuid.uuid4())
FORGED = {
    "id": FORGED_ID,
    "status": "completed",
    "cost": "0.000000001",
    "content_hash": "0" * 64,
    "key_hash": "0" * 64,
    "prefix": "llmops_forged0",
    "latest_version_number": 99,
    "version": 42,
    "attempts": 9,
    "total_cells": 999,
    "input_tokens": 1,
    "output_tokens": 1,
    "created_at": "2000-01-01T00:00:00Z",
    "updated_at": "2000-01-01T00:00:00Z",
    "revoked_at": "2000-01-01T00:00:00Z",
}


def _forged(body: dict, other_project, *, inputs: tuple[str, ...] = ()) -> dict:
    """``body`` plus every server-owned field, less those the endpoint takes as real input."""
    forged = {name: value for name, value in FORGED.items() if name not in inputs}
    return {**forged, "project": str(other_project.pk), "project_id": str(other_project.pk), **body}


def _post_forged(client, path: str, body: dict, model) -> object:
    """Post ``body``: the fields the endpoint does not know are refused first (400, nothing created);
    without them, the read-only ones that remain are ignored and the request goes through."""
    before = model.objects.count()
    refused = client.post(path, body, format="json")
    assert refused.status_code == 400, refused.content
    error = refused.json()["error"]
    assert error["code"] == "unknown_field" and error["param"] in body
    assert model.objects.count() == before
    unknown = set(error["fields"])
    assert unknown and unknown <= set(FORGED) | {"project", "project_id"}
    return client.post(path, {name: value for name, value in body.items() if name not in unknown}, format="json")


def _assert_clean(row, tenant) -> None:
    assert str(row.pk) != FORGED_ID
    project_id = getattr(row, "project_id", None) or row.prompt.project_id
    assert project_id == tenant.project.pk
    assert row.created_at.year != 2000
    for field in ("content_hash", "key_hash"):
        if hasattr(row, field):
            assert getattr(row, field) != "0" * 64


def test_prompt_and_version(tenant, other_tenant):
    response = _post_forged(
        tenant.client, "/api/v1/prompts", _forged({"name": "p", "template": "Hi {input}"}, other_tenant.project), Prompt
    )
    assert response.status_code == 201, response.content
    prompt = Prompt.objects.get(pk=response.json()["id"])
    _assert_clean(prompt, tenant)
    assert prompt.latest_version_number == 1
    version = PromptVersion.objects.get(prompt=prompt)
    assert version.version == 1 and version.content_hash != "0" * 64


def test_golden_model_endpoint_and_key(tenant, other_tenant, fake_openai):
    version = make_version(tenant.project)
    golden = _post_forged(
        tenant.client,
        "/api/v1/golden-examples",
        _forged(
            {"prompt_id": str(version.prompt_id), "input_data": {"input": "x"}, "expected_output": "y"},
            other_tenant.project,
        ),
        GoldenExample,
    )
    assert golden.status_code == 201, golden.content
    _assert_clean(GoldenExample.objects.get(pk=golden.json()["id"]), tenant)

    endpoint = _post_forged(
        tenant.client,
        "/api/v1/models",
        _forged(
            {"name": "e", "provider": "huggingface", "model_id": "m/x", "base_url": fake_openai.base_url},
            other_tenant.project,
        ),
        ModelEndpoint,
    )
    assert endpoint.status_code == 201, endpoint.content
    _assert_clean(ModelEndpoint.objects.get(pk=endpoint.json()["id"]), tenant)

    key = _post_forged(tenant.client, "/api/v1/api-keys", _forged({"name": "k"}, other_tenant.project), APIKey)
    assert key.status_code == 201, key.content
    row = APIKey.objects.get(pk=key.json()["id"])
    _assert_clean(row, tenant)
    assert row.revoked_at is None and row.prefix != "llmops_forged0"


def test_run_and_experiment(tenant, other_tenant, fake_openai):
    endpoint = make_endpoint(tenant.project, fake_openai.base_url)
    version = make_version(tenant.project, endpoint=endpoint)
    GoldenExampleFactory(prompt=version.prompt)
    run = _post_forged(
        tenant.client,
        "/api/v1/run",
        # On /run, "version" is the version to run, a real input.
        _forged(
            {"prompt_id": str(version.prompt_id), "variables": {"input": "x"}},
            other_tenant.project,
            inputs=("version",),
        ),
        Run,
    )
    assert run.status_code == 202, run.content
    row = Run.objects.get(pk=run.json()["run_id"])
    _assert_clean(row, tenant)
    assert row.status == Run.Status.QUEUED and row.cost is None and row.attempts == 0

    experiment = _post_forged(
        tenant.client,
        "/api/v1/run-experiment",
        _forged(
            {"prompt_id": str(version.prompt_id), "experiment_name": "x"}, other_tenant.project, inputs=("version",)
        ),
        Experiment,
    )
    assert experiment.status_code == 202, experiment.content
    row = Experiment.objects.get(pk=experiment.json()["experiment_id"])
    _assert_clean(row, tenant)
    assert row.total_cells == 1
