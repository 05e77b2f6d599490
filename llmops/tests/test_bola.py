"""Broken object level authorization, for every documented route and method.

Project B owns one object of every kind. A key of project A (with every scope) tries every
operation on B's objects: each answers 404 (never 403, which would confirm the object exists),
lists and filters never show B's rows, and B's rows are exactly as they were afterwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.db import models as django_models
from drf_spectacular.generators import SchemaGenerator

from accounts.models import APIKey
from accounts.tests.helpers import make_tenant
from evaluation.models import EvaluationResult, GoldenExample
from evaluation.tests.factories import GoldenExampleFactory
from experiments.models import Experiment, ExperimentResult
from experiments.tests.factories import ExperimentResultFactory
from prompts.models import Prompt, PromptLabel, PromptLabelEvent, PromptVersion
from prompts.tests.factories import PromptFactory, PromptLabelFactory, PromptVersionFactory
from runs.models import CostLog, ModelEndpoint, Run
from runs.tests.factories import CostLogFactory, ModelEndpointFactory, RunFactory

pytestmark = pytest.mark.django_db

OWNED_MODELS = [
    APIKey, Prompt, PromptVersion, PromptLabel, PromptLabelEvent, ModelEndpoint, Run, CostLog,
    GoldenExample, EvaluationResult, Experiment, ExperimentResult,
]  # fmt: skip

# Bodies that would be valid on one's own objects, so a refusal cannot be a validation error.
BODIES = {
    ("post", "/api/v1/prompts/{prompt_id}/versions"): {"template": "Hacked: {input}"},
    ("post", "/api/v1/prompts/{prompt_id}/render"): {"variables": {"input": "x"}},
    ("post", "/api/v1/prompts/{prompt_id}/labels/{label}"): {"version": 1},
    ("post", "/api/v1/prompts/{prompt_id}/rollback"): {"label": "production"},
    ("patch", "/api/v1/prompts/{prompt_id}"): {"description": "hacked"},
    ("patch", "/api/v1/golden-examples/{id}"): {"expected_output": "hacked"},
    ("put", "/api/v1/golden-examples/{id}"): {"input_data": {"input": "x"}, "expected_output": "hacked"},
    ("patch", "/api/v1/models/{id}"): {"name": "hacked"},
    ("put", "/api/v1/models/{id}"): {"name": "hacked", "provider": "huggingface", "model_id": "x/y"},
}


@dataclass
class World:
    prompt: Prompt
    version: PromptVersion
    golden: GoldenExample
    endpoint: ModelEndpoint
    run: Run
    experiment: Experiment
    key: APIKey


def _world(project) -> World:
    prompt = PromptFactory(project=project, name="victim")
    version = PromptVersionFactory(prompt=prompt, version=1, template="Secret: {input}", variables=["input"])
    PromptVersionFactory(prompt=prompt, version=2, template="Secret 2: {input}", variables=["input"])
    PromptLabelFactory(version=version, name="production")
    endpoint = ModelEndpointFactory(project=project, name="victim-endpoint")
    run = RunFactory(prompt_version=version, model_endpoint=endpoint, status=Run.Status.QUEUED, task_id="victim-task")
    CostLogFactory(run=RunFactory(prompt_version=version, status=Run.Status.COMPLETED))
    golden = GoldenExampleFactory(prompt=prompt)
    cell = ExperimentResultFactory(experiment__prompt=prompt, prompt_version=version, golden_example=golden, run=run)
    EvaluationResult.objects.create(project=project, run=run, golden_example=golden, scorer="exact", score=1.0)
    PromptLabelEvent.objects.create(prompt=prompt, label="production", to_version=version)
    key = APIKey.objects.filter(project=project).first()
    return World(prompt, version, golden, endpoint, run, cell.experiment, key)


def _snapshot(project) -> dict:
    rows = {}
    for model in OWNED_MODELS:
        path = "project" if any(f.name == "project" for f in model._meta.get_fields()) else None
        if path is None:
            path = (
                "prompt__project"
                if any(f.name == "prompt" for f in model._meta.get_fields())
                else "experiment__project"
            )
        values = model.objects.filter(**{path: project}).order_by("pk").values()
        rows[model._meta.label] = [
            {
                k: v
                for k, v in row.items()
                if not isinstance(model._meta.get_field(k), django_models.DateTimeField) or k != "last_used_at"
            }
            for row in values
        ]
    return rows


def _operations():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        for method in operations:
            if method in ("get", "post", "put", "patch", "delete") and path not in ("/api/v1/health",):
                yield path, method


OPERATIONS = list(_operations())
OBJECT_OPERATIONS = [(path, method) for path, method in OPERATIONS if "{" in path]


def _concrete(path: str, world: World) -> str:
    by_resource = {
        "api-keys": world.key.pk,
        "golden-examples": world.golden.pk,
        "models": world.endpoint.pk,
        "runs": world.run.pk,
        "experiments": world.experiment.pk,
    }
    values = {
        "prompt_id": world.prompt.pk,
        "number": 1,
        "label": "production",
        "name": world.prompt.name,
        "task_id": world.run.task_id,
        "experiment_id": world.experiment.pk,
    }

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name in values:
            return str(values[name])
        resource = path.split("/")[3]
        return str(by_resource[resource])

    return re.sub(r"\{([^}]+)\}", substitute, path)


@pytest.fixture
def attacker_and_victim():
    attacker = make_tenant()
    victim = make_tenant()
    return attacker, victim, _world(victim.project)


def test_every_object_route_is_covered():
    assert len(OBJECT_OPERATIONS) >= 20, OBJECT_OPERATIONS


@pytest.mark.parametrize(("path", "method"), OBJECT_OPERATIONS, ids=[f"{m} {p}" for p, m in OBJECT_OPERATIONS])
def test_other_projects_objects_are_404_and_unchanged(attacker_and_victim, path, method):
    attacker, victim, world = attacker_and_victim
    before = _snapshot(victim.project)
    url = _concrete(path, world)
    body = BODIES.get((method, path), {})
    response = (
        getattr(attacker.client, method)(url, body, format="json") if method != "get" else attacker.client.get(url)
    )
    assert response.status_code == 404, f"{method.upper()} {url}: {response.status_code} {response.content[:300]}"
    assert response.json()["error"]["type"] == "not_found"
    assert _snapshot(victim.project) == before


COLLECTION_CREATES = {
    "/api/v1/run": lambda w: {"prompt_id": str(w.prompt.pk), "variables": {"input": "x"}},
    "/api/v1/golden-examples": lambda w: {
        "prompt_id": str(w.prompt.pk),
        "input_data": {"input": "x"},
        "expected_output": "y",
    },
    "/api/v1/run-experiment": lambda w: {"prompt_id": str(w.prompt.pk), "experiment_name": "steal"},
}


@pytest.mark.parametrize("path", sorted(COLLECTION_CREATES))
def test_creating_on_another_projects_prompt_is_404(attacker_and_victim, path):
    attacker, victim, world = attacker_and_victim
    before = _snapshot(victim.project)
    response = attacker.client.post(path, COLLECTION_CREATES[path](world), format="json")
    assert response.status_code == 404, response.content
    assert _snapshot(victim.project) == before


LISTS = [(path, method) for path, method in OPERATIONS if "{" not in path and method == "get"]


@pytest.mark.parametrize("path", [path for path, _ in LISTS])
def test_lists_and_filters_never_show_another_projects_rows(attacker_and_victim, path):
    attacker, _, world = attacker_and_victim
    owned = (world.prompt.pk, world.golden.pk, world.endpoint.pk, world.run.pk, world.experiment.pk, world.key.pk)
    secrets = {*(str(value) for value in owned), world.key.prefix, "victim-task"}
    for query in ("", f"?prompt={world.prompt.pk}", f"?prompt={world.prompt.pk}&format=jsonl"):
        response = attacker.client.get(path + query)
        assert response.status_code in (200, 400, 404), (path + query, response.status_code)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        text = body.decode(errors="replace")
        # An error may echo the id the caller sent; nothing else of the other project may appear.
        leaked = [secret for secret in secrets if secret in text and secret not in query]
        assert not leaked, (path + query, leaked, text[:500])
