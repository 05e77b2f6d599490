"""The original API's requests, replayed as its users know them, and the contract around them: every
write endpoint refuses a field it does not know (400 naming it, nothing written), the original names
(``model``, ``prompt_version_id``, ``input_data``, the statuses ``pending`` and ``success``) are
accepted where they are unambiguous, and a fresh project with a default endpoint runs the original
bare bodies."""

from __future__ import annotations

import pytest

from evaluation.models import GoldenExample
from evaluation.tests.factories import GoldenExampleFactory
from experiments.models import Experiment
from experiments.tests.helpers import finished_experiment
from llmops.api.examples import REQUEST_EXAMPLES
from prompts import services as prompt_services
from prompts.models import Prompt, PromptVersion
from runs.models import ModelEndpoint, Run
from runs.tests.factories import RunFactory
from runs.tests.helpers import make_endpoint, terminal_run

UNKNOWN = "definitely_not_a_field"


@pytest.fixture
def world(project, fake_openai):
    endpoint = make_endpoint(project, fake_openai.base_url, name="fake-fast", is_default=True)
    slow = make_endpoint(project, fake_openai.base_url, name="fake-slow")
    prompt = prompt_services.prompt_create(
        project=project,
        name="sentiment-analysis",
        template="Analyze the sentiment of this text: {input}",
        labels=["production"],
    )
    prompt_services.prompt_version_create(prompt=prompt, template="Sentiment of: {input}")
    golden = GoldenExampleFactory(prompt=prompt, input_data={"input": "I love this!"}, expected_output="positive")
    return {"prompt": prompt, "endpoint": endpoint, "slow": slow, "golden": golden}


def _counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count() for model in (Prompt, PromptVersion, Run, Experiment, GoldenExample, ModelEndpoint)
    )


def _path(template: str, world) -> str:
    return (
        template.replace("{prompt_id}", str(world["prompt"].pk))
        .replace("{label}", "staging")
        .replace("{id}", str(world["golden"].pk if "golden" in template else world["slow"].pk))
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [key for key, by_media in REQUEST_EXAMPLES.items() if "application/json" in by_media],
    ids=lambda value: value,
)
def test_every_write_endpoint_refuses_an_unknown_field_and_writes_nothing(api, world, method, path):
    _, example = REQUEST_EXAMPLES[(method, path)]["application/json"]
    body = {**example, UNKNOWN: "x"}
    for name in ("prompt_id",):
        if name in body:
            body[name] = str(world["prompt"].pk)
    before = _counts()

    response = getattr(api, method)(_path(path, world), body, format="json")

    assert response.status_code == 400, (method, path, response.content)
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (UNKNOWN, "unknown_field")
    assert UNKNOWN in error["message"] and "accepted:" in error["message"]
    assert _counts() == before


@pytest.mark.django_db
def test_a_nested_unknown_field_is_named_with_its_path(api, world):
    response = api.post(
        "/api/v1/run-experiment",
        {"prompt_id": str(world["prompt"].pk), "experiment_name": "x", "goldens": {"split": "test", "tag": "smoke"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "goldens.tag"
    assert Experiment.objects.count() == 0


@pytest.mark.django_db
def test_model_names_the_endpoint_on_a_run_and_an_experiment(api, world):
    prompt_id = str(world["prompt"].pk)
    run = api.post(
        "/api/v1/run", {"prompt_id": prompt_id, "variables": {"input": "hi"}, "model": "fake-slow"}, format="json"
    )
    assert run.status_code == 202, run.content
    assert Run.objects.get(pk=run.json()["run_id"]).model_endpoint == world["slow"]

    # A model id that exactly one endpoint serves names that endpoint too.
    by_model_id = api.post(
        "/api/v1/run",
        {"prompt_id": prompt_id, "variables": {"input": "hi"}, "model": world["slow"].model_id},
        format="json",
    )
    assert Run.objects.get(pk=by_model_id.json()["run_id"]).model_endpoint == world["slow"]

    missing = api.post(
        "/api/v1/run-experiment",
        {"prompt_id": prompt_id, "experiment_name": "x", "model": "does-not-exist"},
        format="json",
    )
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "unknown_model_endpoint"
    assert "does-not-exist" in missing.json()["error"]["message"]
    assert Experiment.objects.count() == 0

    both = api.post(
        "/api/v1/run",
        {"prompt_id": prompt_id, "variables": {"input": "hi"}, "model": "fake-slow", "model_endpoint": "fake-fast"},
        format="json",
    )
    assert both.status_code == 400 and both.json()["error"]["param"] == "model"


@pytest.mark.django_db
def test_prompt_version_id_and_input_data_on_run(api, world, other_tenant):
    second = world["prompt"].versions.get(version=2)
    response = api.post(
        "/api/v1/run",
        {"prompt_id": str(world["prompt"].pk), "prompt_version_id": str(second.pk), "input_data": {"input": "meh"}},
        format="json",
    )
    assert response.status_code == 202, response.content
    run = Run.objects.get(pk=response.json()["run_id"])
    assert run.prompt_version == second and run.rendered_prompt == "Sentiment of: meh"

    alone = api.post("/api/v1/run", {"prompt_version_id": str(second.pk), "variables": {"input": "x"}}, format="json")
    assert alone.status_code == 202

    with_label = api.post(
        "/api/v1/run", {"prompt_version_id": str(second.pk), "label": "production", "variables": {}}, format="json"
    )
    assert with_label.status_code == 400 and with_label.json()["error"]["param"] == "label"

    other_prompt = prompt_services.prompt_create(project=world["prompt"].project, name="other", template="{input}")
    mismatch = api.post(
        "/api/v1/run",
        {"prompt_id": str(other_prompt.pk), "prompt_version_id": str(second.pk), "variables": {"input": "x"}},
        format="json",
    )
    assert mismatch.status_code == 400 and mismatch.json()["error"]["param"] == "prompt_version_id"

    # Another project's version is not found, exactly like one that does not exist.
    foreign = other_tenant.client.post(
        "/api/v1/run", {"prompt_version_id": str(second.pk), "variables": {"input": "x"}}, format="json"
    )
    assert foreign.status_code == 404 and foreign.json()["error"]["param"] == "prompt_version_id"


@pytest.mark.django_db
def test_the_original_status_words_filter_runs(api, world):
    version = world["prompt"].versions.get(version=1)
    queued = RunFactory(project=world["prompt"].project, prompt_version=version, status=Run.Status.QUEUED)
    done = RunFactory(project=world["prompt"].project, prompt_version=version, status=Run.Status.COMPLETED)
    RunFactory(project=world["prompt"].project, prompt_version=version, status=Run.Status.FAILED)

    def ids(query: str) -> set[str]:
        response = api.get(f"/api/v1/runs?status={query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids("pending") == {str(queued.pk)}
    assert ids("success") == {str(done.pk)}
    assert ids("pending,success") == {str(queued.pk), str(done.pk)}
    assert api.get("/api/v1/runs?status=done").status_code == 400


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_the_original_bodies_run_on_a_fresh_project_with_a_default_endpoint(api, world, fake_openai):
    """The original README's session: a run with only a prompt and its input, then an experiment
    with only a prompt and a name; the experiment measures similarity and hallucination by default."""
    run = api.post(
        "/api/v1/run", {"prompt_id": str(world["prompt"].pk), "input_data": {"input": "I love this!"}}, format="json"
    )
    assert run.status_code == 202, run.content
    finished = terminal_run(run.json()["run_id"])
    assert finished.status == Run.Status.COMPLETED and finished.model_endpoint == world["endpoint"]
    assert api.get(f"/api/v1/task-status/{run.json()['task_id']}").json()["status"] == "completed"

    experiment = api.post(
        "/api/v1/run-experiment",
        {"prompt_id": str(world["prompt"].pk), "experiment_name": "v1 vs v2"},
        format="json",
    )
    assert experiment.status_code == 202, experiment.content
    finished_experiment(experiment.json()["experiment_id"])
    report = api.get(experiment.json()["results_url"]).json()
    assert report["status"] == "completed"
    for version in report["versions"]:
        assert {"exact", "lexical_similarity", "hallucination"} <= set(version["scores"])
        assert version["hallucination_rate"] is not None
