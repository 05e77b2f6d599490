"""The experiments API without a worker: validation, the 202 contract, lists, reports, exports,
cancel and resume, scopes, idempotency and tenancy."""

from __future__ import annotations

import csv
import io
import time

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import APIKey
from accounts.tests.factories import issue_key
from evaluation.tests.factories import GoldenExampleFactory
from experiments.models import Experiment, ExperimentResult
from experiments.tests.factories import ExperimentFactory
from experiments.tests.helpers import add_goldens, make_busy_prompt, make_prompt
from experiments.tests.sample_report import sample_report
from prompts.tests.factories import PromptVersionFactory
from runs.tests.helpers import make_endpoint

pytestmark = pytest.mark.django_db

URL = "/api/v1/run-experiment"


@pytest.fixture
def prompt(project, endpoint):
    prompt = make_prompt(project, endpoint, ["A: {input}", "B: {input}", "C: {input}"])
    add_goldens(prompt, [("one", "x"), ("two", "y")], split="test", tags=["smoke"])
    add_goldens(prompt, [("three", "z")], split="train")
    return prompt


def post(api, body: dict, **headers):
    return api.post(URL, body, format="json", **headers)


def launched(api, prompt, **body) -> dict:
    response = post(api, {"prompt_id": str(prompt.pk), "experiment_name": "v2 vs v3", **body})
    assert response.status_code == 202, response.content
    return response.json()


# -- POST /run-experiment ------------------------------------------------------------------------------


def test_the_seed_body_starts_every_version_on_every_golden(api, prompt):
    response = post(api, {"prompt_id": str(prompt.pk), "experiment_name": "v2 vs v3"})

    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"experiment_id", "status", "status_url", "results_url", "total_cells"}
    assert body["status"] == "pending" and body["total_cells"] == 9
    assert response["Location"] == body["status_url"]
    assert body["status_url"].endswith(f"/api/v1/experiments/{body['experiment_id']}")
    assert body["results_url"].endswith(f"/api/v1/experiment-results/{body['experiment_id']}")
    experiment = Experiment.objects.get(pk=body["experiment_id"])
    assert experiment.name == "v2 vs v3" and experiment.api_key.project_id == prompt.project_id
    assert ExperimentResult.objects.filter(experiment=experiment, status="pending").count() == 9
    config = api.get(body["status_url"]).json()["config"]
    assert config == {
        "versions": [1, 2, 3],
        # The seed promises similarity and a hallucination rate, not only a match.
        "scorers": [
            {"name": "exact", "threshold": 1.0, "params": {}},
            {"name": "lexical_similarity", "threshold": 0.8, "params": {}},
            {"name": "hallucination", "threshold": 0.7, "params": {}},
        ],
        "repeats": 1,
        "concurrency": 4,
        "model_endpoint": None,
        "cache": False,
        "golden_filter": {"split": None, "tags": []},
        "parameters": {},
    }


def test_every_option_is_taken(api, prompt, project, fake_openai):
    other = make_endpoint(project, fake_openai.base_url, name="big-model")
    picked = GoldenExampleFactory(prompt=prompt, input_data={"input": "four"}, split="test", tags=["smoke", "edge"])

    body = launched(
        api,
        prompt,
        versions=[3, 2],
        model_endpoint="big-model",
        scorers=["contains", {"name": "exact", "threshold": 1.0, "params": {"case_sensitive": True}}],
        repeats=3,
        concurrency=8,
        goldens={"split": "test", "tags": ["smoke", "edge"], "ids": [str(picked.pk)]},
        parameters={"temperature": 0.2},
        cache=True,
        max_attempts=5,
    )

    assert body["total_cells"] == 1 * 2 * 3
    experiment = Experiment.objects.get(pk=body["experiment_id"])
    assert experiment.model_endpoint == other
    assert set(experiment.results.values_list("golden_example_id", flat=True)) == {picked.pk}
    assert set(experiment.results.values_list("repeat_index", flat=True)) == {0, 1, 2}
    config = api.get(body["status_url"]).json()["config"]
    assert config["versions"] == [2, 3] and config["repeats"] == 3 and config["concurrency"] == 8
    assert config["scorers"] == [
        {"name": "contains", "threshold": 1.0, "params": {}},
        {"name": "exact", "threshold": 1.0, "params": {"case_sensitive": True}},
    ]
    assert config["golden_filter"] == {"split": "test", "tags": ["smoke", "edge"]}
    assert (config["model_endpoint"], config["cache"]) == ("big-model", True)
    assert config["parameters"] == {"temperature": 0.2}
    assert experiment.config["max_attempts"] == 5


def test_the_golden_filter_selects_by_split_and_tag(api, prompt):
    assert launched(api, prompt, goldens={"split": "test"})["total_cells"] == 6
    assert launched(api, prompt, goldens={"tags": ["smoke"]}, versions=[1])["total_cells"] == 2
    assert launched(api, prompt, goldens={"split": "train"}, repeats=2)["total_cells"] == 6


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"scorers": ["nonsense"]}, "scorers[0].name", "unknown scorer 'nonsense'"),
        ({"scorers": [{"name": "contains", "params": {"substrings": "x"}}]}, "scorers[0].params", "'contains'"),
        ({"scorers": [{"name": "exact", "threshold": 2}]}, "scorers[0].params", "'exact'"),
        ({"scorers": ["exact", "exact"]}, "scorers", "'exact' is listed twice"),
        ({"scorers": [{"name": "llm_judge", "params": {"rubric": "Is it right?"}}]}, "scorers[0].params.judge_endpoint",
         "'llm_judge' needs params.judge_endpoint"),
        ({"scorers": [{"name": "hallucination_judge", "params": {"judge_endpoint": "ghost"}}]},
         "scorers[0].params.judge_endpoint", "judge endpoint 'ghost' does not exist"),
        ({"versions": [2, 9]}, "versions", "has no version 9"),
        ({"repeats": 11}, "repeats", "repeats"),
        ({"concurrency": 257}, "concurrency", "concurrency"),
        ({"max_attempts": 0}, "max_attempts", "max_attempts"),
        ({"goldens": {"split": "validation"}}, "goldens", "no golden examples matching the filter"),
        ({"goldens": {"ids": ["5b1d7c62-0f3e-4a8e-9d6b-2f4c1e7a9b10"]}}, "goldens.ids", "is not a golden example"),
        ({"model_endpoint": "ghost"}, "model_endpoint", "model endpoint 'ghost' does not exist"),
        ({"parameters": {"temperature": "hot"}}, "parameters", "temperature"),
        ({"experiment_name": ""}, "experiment_name", "experiment_name"),
    ],
)  # fmt: skip
def test_bad_requests_are_400s_naming_the_problem_and_create_nothing(api, prompt, body, param, words):
    response = post(api, {"prompt_id": str(prompt.pk), "experiment_name": "x", **body})

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["type"] == "validation_error" and error["param"] == param
    assert words in error["message"]
    assert Experiment.objects.count() == 0 and ExperimentResult.objects.count() == 0


def test_a_prompt_without_goldens_is_a_400_saying_so(api, project, endpoint):
    prompt = make_prompt(project, endpoint, ["A: {input}"])

    response = post(api, {"prompt_id": str(prompt.pk), "experiment_name": "empty"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "no_goldens"
    assert "has no golden examples" in response.json()["error"]["message"]


@override_settings(EXPERIMENT_MAX_CELLS=8)
def test_the_cell_cap_is_a_400_naming_the_limit(api, prompt):
    response = post(api, {"prompt_id": str(prompt.pk), "experiment_name": "big"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "too_many_cells" and "limit of 8 cells" in error["message"]
    assert "EXPERIMENT_MAX_CELLS" in error["message"]
    assert launched(api, prompt, versions=[1, 2])["total_cells"] == 6


def test_a_version_without_endpoint_or_needing_another_variable_is_a_400(api, project, endpoint):
    prompt = make_prompt(project, None, ["A: {input}"])
    add_goldens(prompt, [("one", "x")])
    response = post(api, {"prompt_id": str(prompt.pk), "experiment_name": "x"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "no_model_endpoint"

    PromptVersionFactory(
        prompt=prompt, version=2, template="{input} {context}", variables=["input", "context"], model_settings={}
    )
    response = post(api, {"prompt_id": str(prompt.pk), "experiment_name": "x", "model_endpoint": endpoint.name})
    assert response.status_code == 400
    assert "version 2 cannot be rendered" in response.json()["error"]["message"]
    assert "context" in response.json()["error"]["message"]


def test_idempotency_key_replays_the_first_experiment_and_refuses_another_body(api, prompt):
    body = {"prompt_id": str(prompt.pk), "experiment_name": "nightly"}
    first = post(api, body, HTTP_IDEMPOTENCY_KEY="nightly-42")
    again = post(api, body, HTTP_IDEMPOTENCY_KEY="nightly-42")
    other = post(api, {**body, "repeats": 2}, HTTP_IDEMPOTENCY_KEY="nightly-42")

    assert first.status_code == again.status_code == 202
    assert again.json()["experiment_id"] == first.json()["experiment_id"]
    assert again["Idempotent-Replayed"] == "true"
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert Experiment.objects.count() == 1


def client_for(project, *, scopes: tuple[str, ...], **limits) -> APIClient:
    key = issue_key(project=project, scopes=scopes, name="scoped")
    APIKey.objects.filter(project=project, name="scoped").update(**limits)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_starting_an_experiment_needs_the_run_scope_and_counts_as_a_run(prompt):
    body = {"prompt_id": str(prompt.pk), "experiment_name": "x"}
    denied = post(client_for(prompt.project, scopes=("read",)), body)
    assert denied.status_code == 403 and "'run' scope" in denied.json()["error"]["message"]

    limited = client_for(prompt.project, scopes=("run", "read"), runs_per_minute=1)
    assert post(limited, body).status_code == 202
    assert post(limited, body).status_code == 429
    assert Experiment.objects.count() == 1


# -- lists, summaries, reports, exports ------------------------------------------------------------------


def test_list_filters_paginates_and_shows_progress(api, prompt, project, endpoint):
    first = launched(api, prompt)["experiment_id"]
    second = launched(api, prompt, versions=[1])["experiment_id"]
    other_prompt = make_prompt(project, endpoint, ["{input}"])
    add_goldens(other_prompt, [("a", "b")])
    third = launched(api, other_prompt)["experiment_id"]
    Experiment.objects.filter(pk=second).update(status="completed")

    everything = api.get("/api/v1/experiments").json()
    assert everything["count"] == 3
    assert [item["experiment_id"] for item in everything["results"]] == [third, second, first]
    listed = {item["experiment_id"]: item for item in everything["results"]}
    assert listed[first]["progress"] == {
        "total": 9, "pending": 9, "running": 0, "completed": 0, "failed": 0, "cancelled": 0, "cached": 0,
        "percent": 0.0,
    }  # fmt: skip
    by_prompt = api.get(f"/api/v1/experiments?prompt={prompt.pk}&status=pending").json()
    assert [item["experiment_id"] for item in by_prompt["results"]] == [first]
    page = api.get("/api/v1/experiments?limit=1&offset=1").json()
    assert page["count"] == 3 and [item["experiment_id"] for item in page["results"]] == [second]
    assert api.get("/api/v1/experiments?status=done").status_code == 400
    assert api.get("/api/v1/experiments?prompt=nope").status_code == 400
    assert api.get("/api/v1/experiments?prompt=").status_code == 400


def test_summary_shows_progress_by_status(api, prompt):
    experiment_id = launched(api, prompt)["experiment_id"]
    cells = list(ExperimentResult.objects.filter(experiment_id=experiment_id).order_by("position"))
    ExperimentResult.objects.filter(pk__in=[c.pk for c in cells[:4]]).update(status="completed")
    ExperimentResult.objects.filter(pk__in=[cells[4].pk]).update(status="failed")
    ExperimentResult.objects.filter(pk__in=[cells[5].pk]).update(status="running", cached=True)

    summary = api.get(f"/api/v1/experiments/{experiment_id}").json()

    assert summary["progress"] == {
        "total": 9, "pending": 3, "running": 1, "completed": 4, "failed": 1, "cancelled": 0, "cached": 1,
        "percent": 55.6,
    }  # fmt: skip
    assert summary["name"] == "v2 vs v3" and summary["prompt_name"] == prompt.name


FREE_FORM = {"input_data", "params", "parameters"}  # the user's own keys
KEYED = {"scores", "cells"}  # keyed by scorer name or version number: one value's shape stands for all


def _shape(value, key: str | None = None):
    """Keys of every dict, recursively; lists by their first element."""
    if key in FREE_FORM:
        return None
    if isinstance(value, dict):
        if key in KEYED:
            return {"*": _shape(next(iter(value.values()), None))}
        return {name: _shape(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value and isinstance(value[0], dict | list) else []
    return None


def test_the_report_has_exactly_the_contracts_shape(api, prompt):
    experiment_id = launched(api, prompt, scorers=["exact", "hallucination"], repeats=2)["experiment_id"]
    cells = ExperimentResult.objects.filter(experiment_id=experiment_id)
    cells.update(status="completed", output="x", scores={"exact": 1.0, "hallucination": 1.0}, passed=True, latency_ms=5)
    cells.filter(repeat_index=1, golden_example__expected_output="x").update(scores={"exact": 0.0, "hallucination": 1})

    report = api.get(f"/api/v1/experiment-results/{experiment_id}").json()

    assert _shape(report) == _shape(sample_report())
    assert report["flaky_examples"] and report["comparisons"]


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/experiment-results/{id}?format=json", "application/json"),
        ("/api/v1/experiment-results/{id}?format=csv", "text/csv"),
        ("/api/v1/experiment-results/{id}?format=html", "text/html"),
        ("/api/v1/experiments/{id}/export.json", "application/json"),
        ("/api/v1/experiments/{id}/export.csv", "text/csv"),
        ("/api/v1/experiments/{id}/export.html", "text/html"),
    ],
)
def test_exports_are_attachments(api, prompt, path, content_type):
    experiment_id = launched(api, prompt, versions=[1])["experiment_id"]
    ExperimentResult.objects.filter(experiment_id=experiment_id).update(
        status="completed", output="=HYPERLINK(1)", scores={"exact": 0.0}, passed=False
    )

    response = api.get(path.format(id=experiment_id))

    assert response.status_code == 200
    assert response["Content-Type"] == f"{content_type}; charset=utf-8"
    extension = content_type.split("/")[1]
    expected = f'attachment; filename="experiment-{experiment_id}.{extension}"'
    assert response["Content-Disposition"] == expected
    text = response.content.decode()
    if extension == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 3 and {row["output"] for row in rows} == {"'=HYPERLINK(1)"}
    elif extension == "html":
        assert text.startswith("<!DOCTYPE html>") and "<script" not in text and "src=" not in text
        assert "default-src 'none'" in response["Content-Security-Policy"]
    else:
        assert f'"experiment_id": "{experiment_id}"' in text


def test_an_unknown_export_format_is_a_400(api, prompt):
    experiment_id = launched(api, prompt)["experiment_id"]
    response = api.get(f"/api/v1/experiment-results/{experiment_id}?format=xml")
    assert response.status_code == 400 and response.json()["error"]["param"] == "format"


# -- cancel and resume -------------------------------------------------------------------------------------


def test_cancel_then_resume(api, prompt):
    experiment_id = launched(api, prompt)["experiment_id"]
    done = ExperimentResult.objects.filter(experiment_id=experiment_id).order_by("position").first()
    ExperimentResult.objects.filter(pk=done.pk).update(status="completed", scores={"exact": 1.0}, passed=True)

    cancelled = api.post(f"/api/v1/experiments/{experiment_id}/cancel")

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["progress"]["cancelled"] == 8 and cancelled.json()["progress"]["completed"] == 1
    assert api.post(f"/api/v1/experiments/{experiment_id}/cancel").status_code == 409

    resumed = api.post(f"/api/v1/experiments/{experiment_id}/resume")

    assert resumed.status_code == 202 and resumed.json()["status"] == "running"
    assert resumed["Location"].endswith(f"/api/v1/experiments/{experiment_id}")
    assert resumed.json()["progress"]["pending"] == 8 and resumed.json()["progress"]["completed"] == 1
    assert ExperimentResult.objects.get(pk=done.pk).status == "completed"

    ExperimentResult.objects.filter(experiment_id=experiment_id).update(status="completed")
    Experiment.objects.filter(pk=experiment_id).update(status="completed")
    nothing = api.post(f"/api/v1/experiments/{experiment_id}/resume")
    assert nothing.status_code == 409 and nothing.json()["error"]["code"] == "nothing_to_resume"


def test_cancel_and_resume_need_the_run_scope(prompt, api):
    experiment_id = launched(api, prompt)["experiment_id"]
    reader = client_for(prompt.project, scopes=("read",))

    assert reader.get(f"/api/v1/experiments/{experiment_id}").status_code == 200
    assert reader.post(f"/api/v1/experiments/{experiment_id}/cancel").status_code == 403
    assert reader.post(f"/api/v1/experiments/{experiment_id}/resume").status_code == 403
    assert Experiment.objects.get(pk=experiment_id).status == "pending"


# -- tenancy ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/experiments/{id}"),
        ("post", "/api/v1/experiments/{id}/cancel"),
        ("post", "/api/v1/experiments/{id}/resume"),
        ("get", "/api/v1/experiments/{id}/export.json"),
        ("get", "/api/v1/experiments/{id}/export.csv"),
        ("get", "/api/v1/experiments/{id}/export.html"),
        ("get", "/api/v1/experiment-results/{id}"),
        ("get", "/api/v1/experiment-results/{id}?format=csv"),
    ],
)
def test_another_projects_experiment_is_a_404_and_stays_unchanged(api, prompt, other_tenant, method, path):
    experiment_id = launched(api, prompt)["experiment_id"]
    before = list(ExperimentResult.objects.filter(experiment_id=experiment_id).values_list("status", "updated_at"))

    response = getattr(other_tenant.client, method)(path.format(id=experiment_id))

    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"
    assert Experiment.objects.get(pk=experiment_id).status == "pending"
    after = list(ExperimentResult.objects.filter(experiment_id=experiment_id).values_list("status", "updated_at"))
    assert after == before


def test_another_projects_prompt_and_experiments_are_invisible(api, prompt, other_tenant):
    launched(api, prompt)
    ExperimentFactory(prompt__project=other_tenant.project)

    response = post(other_tenant.client, {"prompt_id": str(prompt.pk), "experiment_name": "steal"})

    assert response.status_code == 404 and response.json()["error"]["param"] == "prompt_id"
    assert Experiment.objects.filter(project=other_tenant.project, name="steal").count() == 0
    assert other_tenant.client.get("/api/v1/experiments").json()["count"] == 1
    assert api.get("/api/v1/experiments").json()["count"] == 1
    mine = api.get(f"/api/v1/experiments?prompt={prompt.pk}").json()["results"]
    assert len(mine) == 1


# -- the rendering budget ----------------------------------------------------------------------------------


def test_checking_versions_x_goldens_shares_one_rendering_budget_for_the_request(api, project, endpoint):
    # Each version renders in well under the budget on its own; the four of them take 3.2 s.
    prompt = make_busy_prompt(project, endpoint, versions=4, seconds_each=0.8)
    add_goldens(prompt, [("one", "x"), ("two", "y")])

    started = time.monotonic()
    response = post(api, {"prompt_id": str(prompt.pk), "experiment_name": "heavy"})
    elapsed = time.monotonic() - started

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["type"] == "validation_error" and error["code"] == "render_budget_exceeded"
    assert error["param"] == "versions"
    assert "cannot be rendered with golden example" in error["message"]
    assert error["message"].endswith("templates took longer than the rendering budget of 2 s for this request")
    assert elapsed < 3
    assert not Experiment.objects.exists()
