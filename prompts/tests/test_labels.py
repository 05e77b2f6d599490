"""Labels: moving, removing, listing, history and rollback, through the API and the services."""

from __future__ import annotations

import pytest
from django.db import transaction

from llmops.core.errors import ValidationFailed
from prompts import services
from prompts.models import Prompt, PromptLabel, PromptLabelEvent
from prompts.tests.test_api import create, error_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def prompt(api) -> dict:
    """A prompt with three versions and no labels."""
    body = create(api)
    for number in (2, 3):
        api.post(f"/api/v1/prompts/{body['id']}/versions", {"template": f"v{number}: {{input}}"}, format="json")
    return body


def move(api, prompt: dict, label: str, version: int, reason: str = ""):
    return api.post(
        f"/api/v1/prompts/{prompt['id']}/labels/{label}", {"version": version, "reason": reason}, format="json"
    )


def test_post_creates_then_moves_a_label(api, prompt):
    created = move(api, prompt, "production", 1, "first release")
    moved = move(api, prompt, "production", 2, "better recall")

    assert created.status_code == 200 and created.json()["version"] == 1
    assert moved.status_code == 200 and moved.json()["version"] == 2
    assert PromptLabel.objects.get(prompt_id=prompt["id"], name="production").version.version == 2
    assert api.get(f"/api/v1/prompts/{prompt['id']}").json()["active_version"] == 2


def test_one_version_per_label_and_many_labels_per_version(api, prompt):
    move(api, prompt, "production", 3)
    move(api, prompt, "staging", 3)
    move(api, prompt, "canary.eu-1", 2)

    labels = api.get(f"/api/v1/prompts/{prompt['id']}/labels").json()["results"]
    versions = api.get(f"/api/v1/prompts/{prompt['id']}/versions").json()["results"]

    assert [(label["name"], label["version"]) for label in labels] == [
        ("canary.eu-1", 2),
        ("production", 3),
        ("staging", 3),
    ]
    assert {v["version"]: v["labels"] for v in versions} == {3: ["production", "staging"], 2: ["canary.eu-1"], 1: []}
    assert api.get(f"/api/v1/prompts/{prompt['id']}/labels/staging").json()["version"] == 3


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("latest", "reserved_label"),
        ("Production", "invalid_label"),
        ("has space", "invalid_label"),
        ("x" * 37, "invalid_label"),
    ],
)
def test_reserved_and_malformed_labels_are_refused(api, prompt, label, code):
    response = move(api, prompt, label, 1)
    assert response.status_code == 400
    assert error_of(response)["code"] == code
    assert not PromptLabel.objects.exists() and not PromptLabelEvent.objects.exists()


def test_history_is_reserved_because_its_route_is_taken(api, prompt):
    with pytest.raises(ValidationFailed, match="reserved"):
        services.label_move(prompt=Prompt.objects.get(pk=prompt["id"]), label="history", version=1)
    assert move(api, prompt, "history", 1).status_code == 405
    assert not PromptLabel.objects.exists()


def test_latest_follows_the_newest_version_by_itself(api, prompt):
    url = f"/api/v1/prompts/{prompt['id']}/render"
    assert api.post(url, {"label": "latest", "variables": {"input": "x"}}, format="json").json()["version"] == 3
    api.post(f"/api/v1/prompts/{prompt['id']}/versions", {"template": "v4 {input}"}, format="json")
    assert api.post(url, {"label": "latest", "variables": {"input": "x"}}, format="json").json()["version"] == 4


def test_moving_to_a_missing_version_is_a_404_and_changes_nothing(api, prompt):
    move(api, prompt, "production", 1)
    response = move(api, prompt, "production", 9)
    assert response.status_code == 404 and error_of(response)["param"] == "version"
    assert PromptLabel.objects.get(name="production").version.version == 1
    assert PromptLabelEvent.objects.count() == 1


def test_moving_a_label_where_it_already_is_records_nothing(api, prompt):
    move(api, prompt, "production", 1)
    again = move(api, prompt, "production", 1)
    assert again.status_code == 200
    assert PromptLabelEvent.objects.count() == 1


def test_delete_removes_the_label_and_records_it(api, prompt, tenant):
    move(api, prompt, "staging", 2)

    response = api.delete(f"/api/v1/prompts/{prompt['id']}/labels/staging?reason=abandoned")
    missing = api.delete(f"/api/v1/prompts/{prompt['id']}/labels/staging")

    assert response.status_code == 204
    assert missing.status_code == 404
    assert not PromptLabel.objects.exists()
    event = api.get(f"/api/v1/prompts/{prompt['id']}/labels/history").json()["results"][0]
    assert (event["label"], event["from_version"], event["to_version"], event["reason"]) == (
        "staging",
        2,
        None,
        "abandoned",
    )


def test_history_lists_who_when_what_and_why_newest_first_paginated(api, prompt, tenant):
    move(api, prompt, "production", 1, "launch")
    move(api, prompt, "production", 2, "v2 wins the experiment")
    move(api, prompt, "staging", 3, "try v3")

    history = api.get(f"/api/v1/prompts/{prompt['id']}/labels/history").json()
    alias = api.get(f"/api/v1/prompts/{prompt['id']}/label-history?label=production&limit=1").json()

    assert history["count"] == 3
    assert [(e["label"], e["from_version"], e["to_version"], e["reason"]) for e in history["results"]] == [
        ("staging", None, 3, "try v3"),
        ("production", 1, 2, "v2 wins the experiment"),
        ("production", None, 1, "launch"),
    ]
    actor = history["results"][0]["actor"]
    assert actor["user"] is None and tenant.key.startswith(actor["api_key_prefix"])
    assert history["results"][0]["created_at"]
    assert alias["count"] == 2 and len(alias["results"]) == 1 and alias["next"] is not None
    assert alias["results"][0]["to_version"] == 2


def test_labels_given_at_creation_are_recorded_in_the_history(api):
    body = create(api, labels=["production"])
    events = api.get(f"/api/v1/prompts/{body['id']}/labels/history").json()["results"]
    assert [(e["label"], e["from_version"], e["to_version"]) for e in events] == [("production", None, 1)]


def test_rollback_moves_the_label_back_to_its_previous_version(api, prompt):
    move(api, prompt, "production", 1)
    move(api, prompt, "production", 3)

    response = api.post(f"/api/v1/prompts/{prompt['id']}/rollback", {"label": "production"}, format="json")

    assert response.status_code == 200
    assert response.json()["version"] == 1
    latest_event = api.get(f"/api/v1/prompts/{prompt['id']}/labels/history").json()["results"][0]
    assert (latest_event["from_version"], latest_event["to_version"]) == (3, 1)
    assert "rollback" in latest_event["reason"]
    render = api.post(f"/api/v1/prompts/{prompt['id']}/render", {"variables": {"input": "x"}}, format="json")
    assert render.json()["version"] == 1


def test_rollback_defaults_to_production_and_restores_a_removed_label(api, prompt):
    move(api, prompt, "production", 2)
    api.delete(f"/api/v1/prompts/{prompt['id']}/labels/production")

    response = api.post(f"/api/v1/prompts/{prompt['id']}/rollback", {}, format="json")

    assert response.status_code == 200 and response.json()["version"] == 2


def test_rollback_without_an_earlier_version_is_a_conflict(api, prompt):
    move(api, prompt, "production", 1)
    first = api.post(f"/api/v1/prompts/{prompt['id']}/rollback", {"label": "production"}, format="json")
    never = api.post(f"/api/v1/prompts/{prompt['id']}/rollback", {"label": "staging"}, format="json")

    assert first.status_code == 409 and error_of(first)["code"] == "nothing_to_roll_back"
    assert never.status_code == 404
    assert PromptLabel.objects.get(name="production").version.version == 1


def test_a_failed_move_leaves_no_event_behind(api):
    # The label and its history entry are one transaction: if the caller's transaction fails, neither stays.
    body = create(api)
    prompt = Prompt.objects.get(pk=body["id"])
    with pytest.raises(RuntimeError), transaction.atomic():
        services.label_move(prompt=prompt, label="production", version=1)
        raise RuntimeError("caller failed after the move")

    assert not PromptLabel.objects.exists()
    assert not PromptLabelEvent.objects.exists()


def test_services_accept_a_version_object_but_not_one_of_another_prompt(api):
    first = Prompt.objects.get(pk=create(api)["id"])
    second = Prompt.objects.get(pk=create(api, name="other")["id"])

    label = services.label_move(prompt=first, label="production", version=first.versions.get())

    assert label.version.prompt_id == first.pk
    with pytest.raises(ValidationFailed, match="another prompt"):
        services.label_move(prompt=first, label="production", version=second.versions.get())


def test_unknown_prompt_is_a_404_for_every_label_route(api):
    missing = "00000000-0000-0000-0000-000000000000"
    assert api.get(f"/api/v1/prompts/{missing}/labels").status_code == 404
    assert api.post(f"/api/v1/prompts/{missing}/labels/production", {"version": 1}, format="json").status_code == 404
    assert api.get(f"/api/v1/prompts/{missing}/labels/history").status_code == 404
    assert api.post(f"/api/v1/prompts/{missing}/rollback", {}, format="json").status_code == 404
