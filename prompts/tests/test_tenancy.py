"""BOLA: a key of another project gets a 404 on every prompt route, and changes nothing."""

from __future__ import annotations

import pytest

from prompts import urls
from prompts.models import Prompt, PromptLabel, PromptLabelEvent, PromptVersion
from prompts.tests.test_api import SEED_PROMPT, create

pytestmark = pytest.mark.django_db

# (url name, method, path under /api/v1/prompts/{id}, body)
ROUTES = [
    ("prompt-detail", "get", "", None),
    ("prompt-detail", "patch", "", {"description": "hijacked", "tags": ["x"]}),
    ("prompt-detail", "delete", "", None),
    ("prompt-render", "post", "/render", {"variables": {"input": "x"}}),
    ("prompt-diff", "get", "/diff?from=1&to=2", None),
    ("prompt-rollback", "post", "/rollback", {"label": "production"}),
    ("prompt-version-list", "get", "/versions", None),
    ("prompt-version-list", "post", "/versions", {"template": "hijacked {input}", "labels": ["production"]}),
    ("prompt-version-detail", "get", "/versions/1", None),
    ("prompt-label-list", "get", "/labels", None),
    ("prompt-label-detail", "get", "/labels/production", None),
    ("prompt-label-detail", "post", "/labels/production", {"version": 1, "reason": "hijack"}),
    ("prompt-label-detail", "delete", "/labels/production", None),
    ("prompt-label-history", "get", "/labels/history", None),
    ("prompt-label-history-alias", "get", "/label-history", None),
]


def snapshot() -> dict:
    return {
        "prompts": list(Prompt.objects.values_list("id", "name", "description", "tags", "latest_version_number")),
        "versions": list(PromptVersion.objects.order_by("id").values_list("id", "version", "template")),
        "labels": list(PromptLabel.objects.values_list("name", "version_id")),
        "events": PromptLabelEvent.objects.count(),
    }


@pytest.fixture
def victim(api) -> dict:
    prompt = create(api, labels=["production"])
    api.post(f"/api/v1/prompts/{prompt['id']}/versions", {"template": "v2 {input}"}, format="json")
    api.post(f"/api/v1/prompts/{prompt['id']}/labels/production", {"version": 2}, format="json")
    return prompt


def test_every_route_is_covered_here():
    named = {pattern.name for pattern in urls.urlpatterns}
    assert named - {"prompt-list", "prompt-by-name"} == {name for name, *_ in ROUTES}


@pytest.mark.parametrize(("name", "method", "suffix", "body"), ROUTES, ids=[f"{r[1]} {r[0]}{r[2]}" for r in ROUTES])
def test_another_projects_key_gets_404_and_changes_nothing(victim, other_tenant, name, method, suffix, body):
    before = snapshot()

    response = getattr(other_tenant.client, method)(f"/api/v1/prompts/{victim['id']}{suffix}", body, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"
    assert snapshot() == before


def test_fetch_by_name_and_list_do_not_see_another_project(victim, api, other_tenant):
    assert api.get("/api/v1/prompts/by-name/sentiment-analysis").status_code == 200  # cached for the owner

    assert other_tenant.client.get("/api/v1/prompts/by-name/sentiment-analysis").status_code == 404
    assert other_tenant.client.get("/api/v1/prompts").json()["count"] == 0
    assert other_tenant.client.get("/api/v1/prompts?search=sentiment").json()["count"] == 0


def test_the_same_name_in_another_project_is_a_separate_prompt(victim, api, other_tenant):
    theirs = other_tenant.client.post("/api/v1/prompts", {**SEED_PROMPT, "template": "Theirs: {input}"}, format="json")

    assert theirs.status_code == 201
    assert other_tenant.client.get("/api/v1/prompts/by-name/sentiment-analysis").json()["template"] == (
        "Theirs: {input}"
    )
    assert api.get("/api/v1/prompts/by-name/sentiment-analysis").json()["template"] == "v2 {input}"
