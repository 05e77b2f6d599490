"""A project's default model endpoint: set through the API, the admin and bootstrap (one service), one per
project, and used by runs and experiments when neither the request nor the prompt version names one."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import Project
from evaluation.tests.factories import GoldenExampleFactory
from experiments.models import Experiment
from runs import endpoints
from runs.models import ModelEndpoint, Run
from runs.tests.factories import ModelEndpointFactory
from runs.tests.helpers import make_endpoint, make_version

pytestmark = pytest.mark.django_db


def defaults(project) -> list[str]:
    return list(ModelEndpoint.objects.filter(project=project, is_default=True).values_list("name", flat=True))


def test_the_api_sets_one_default_per_project_and_moving_it_unsets_the_previous(api, project, other_tenant):
    first = api.post("/api/v1/models", {"name": "first", "model_id": "m", "is_default": True}, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["is_default"] is True
    other_default = ModelEndpointFactory(project=other_tenant.project, is_default=True)

    second = api.post("/api/v1/models", {"name": "second", "model_id": "m", "is_default": True}, format="json")
    assert second.status_code == 201, second.content
    assert defaults(project) == ["second"]
    assert api.get(f"/api/v1/models/{first.json()['id']}").json()["is_default"] is False

    moved = api.patch(f"/api/v1/models/{first.json()['id']}", {"is_default": True}, format="json")
    assert moved.status_code == 200 and defaults(project) == ["first"]
    # Another project's default is its own.
    other_default.refresh_from_db()
    assert other_default.is_default is True

    cleared = api.patch(f"/api/v1/models/{first.json()['id']}", {"is_default": False}, format="json")
    assert cleared.status_code == 200 and defaults(project) == []


def test_a_run_without_an_endpoint_goes_to_the_default(api, project, fake_openai):
    make_endpoint(project, fake_openai.base_url, name="not-default")
    default = make_endpoint(project, fake_openai.base_url, name="the-default")
    endpoints.model_endpoint_update(endpoint=default, is_default=True)
    version = make_version(project, model_settings={})

    response = api.post(
        "/api/v1/run", {"prompt_id": str(version.prompt_id), "variables": {"input": "hi"}}, format="json"
    )

    assert response.status_code == 202, response.content
    assert Run.objects.get(pk=response.json()["run_id"]).model_endpoint == default


def test_the_version_and_the_request_still_win_over_the_default(api, project, fake_openai):
    default = make_endpoint(project, fake_openai.base_url, name="the-default", is_default=True)
    named = make_endpoint(project, fake_openai.base_url, name="named")
    asked = make_endpoint(project, fake_openai.base_url, name="asked")
    version = make_version(project, endpoint=named)
    body = {"prompt_id": str(version.prompt_id), "variables": {"input": "hi"}}

    by_version = api.post("/api/v1/run", body, format="json").json()
    by_request = api.post("/api/v1/run", {**body, "model_endpoint": "asked"}, format="json").json()

    assert Run.objects.get(pk=by_version["run_id"]).model_endpoint == named
    assert Run.objects.get(pk=by_request["run_id"]).model_endpoint == asked
    assert default.runs.count() == 0


def test_a_disabled_default_is_a_400_naming_it(api, project, fake_openai):
    make_endpoint(project, fake_openai.base_url, name="off", is_default=True, enabled=False)
    version = make_version(project, model_settings={})

    response = api.post(
        "/api/v1/run", {"prompt_id": str(version.prompt_id), "variables": {"input": "x"}}, format="json"
    )

    assert response.status_code == 400, response.content
    assert "off" in response.json()["error"]["message"]
    assert Run.objects.count() == 0


def test_the_seed_experiment_body_runs_on_the_default(api, project, fake_openai):
    default = make_endpoint(project, fake_openai.base_url, name="the-default", is_default=True)
    version = make_version(project, model_settings={})
    GoldenExampleFactory(prompt=version.prompt, input_data={"input": "good"}, expected_output="positive")

    response = api.post(
        "/api/v1/run-experiment", {"prompt_id": str(version.prompt_id), "experiment_name": "seed"}, format="json"
    )

    assert response.status_code == 202, response.content
    experiment = Experiment.objects.get(pk=response.json()["experiment_id"])
    assert experiment.config["endpoints"] == {str(version.pk): str(default.pk)}


def test_the_admin_checkbox_moves_the_default_through_the_service(admin_client, project):
    ModelEndpointFactory(project=project, name="old", is_default=True)
    fields = {
        "project": project.pk,
        "name": "new",
        "provider": "huggingface",
        "model_id": "m",
        "default_parameters": "{}",
        "timeout_seconds": "10",
        "max_concurrency": "1",
        "enabled": "on",
        "is_default": "on",
    }

    response = admin_client.post(reverse("admin:runs_modelendpoint_add"), fields)

    assert response.status_code == 302
    assert defaults(project) == ["new"]


def test_bootstrap_makes_the_local_model_the_demo_projects_default():
    call_command("bootstrap", stdout=StringIO())
    project = Project.objects.get(slug="demo")
    assert defaults(project) == ["local-gemma"]

    # Run again after someone chose another default: theirs stays.
    endpoints.model_endpoint_create(project=project, name="mine", model_id="m", is_default=True)
    call_command("bootstrap", stdout=StringIO())
    assert defaults(project) == ["mine"]
