"""The service contracts other apps rely on, and the content hash."""

from __future__ import annotations

import inspect

import pytest

from accounts.tests.factories import APIKeyFactory, UserFactory
from llmops.core.errors import NotFound, ValidationFailed
from prompts import services
from prompts.hashing import content_hash
from prompts.models import Prompt, PromptLabel, PromptLabelEvent

pytestmark = pytest.mark.django_db


def test_public_service_signatures_are_keyword_only():
    for function in (
        services.prompt_create,
        services.prompt_version_create,
        services.label_move,
        services.label_delete,
        services.label_rollback,
    ):
        parameters = inspect.signature(function).parameters.values()
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters), function.__name__
    assert list(inspect.signature(services.label_move).parameters) == [
        "prompt",
        "label",
        "version",
        "actor",
        "actor_key",
        "reason",
    ]


def test_prompt_create_records_authors_labels_and_tags(project):
    user = UserFactory()
    key = APIKeyFactory(project=project)

    prompt = services.prompt_create(
        project=project,
        name="sentiment-analysis",
        description="Analyze sentiment of text",
        template="Analyze the sentiment of this text: {input}",
        labels=["production"],
        tags=["nlp"],
        created_by=user,
        created_by_key=key,
    )

    version = prompt.versions.get()
    assert (prompt.latest_version_number, prompt.tags, prompt.created_by) == (1, ["nlp"], user)
    assert (version.version, version.variables, version.created_by, version.created_by_key) == (1, ["input"], user, key)
    event = PromptLabelEvent.objects.get()
    assert (event.label, event.from_version, event.to_version, event.actor, event.actor_key) == (
        "production",
        None,
        version,
        user,
        key,
    )


def test_a_bad_template_creates_no_prompt(project):
    with pytest.raises(ValidationFailed) as raised:
        services.prompt_create(project=project, name="broken", template="{0.__class__}")
    assert raised.value.param == "template" and raised.value.code == "invalid_template"
    assert not Prompt.objects.exists()


def test_prompt_version_create_returns_whether_it_created(project):
    prompt = services.prompt_create(project=project, name="p", template="a {x}")

    same, created_same = services.prompt_version_create(prompt=prompt, template="a {x}")
    new, created_new = services.prompt_version_create(prompt=prompt, template="b {x}", labels=["staging"])

    assert (same.version, created_same) == (1, False)
    assert (new.version, created_new) == (2, True)
    assert prompt.latest_version_number == 2
    assert PromptLabel.objects.get(name="staging").version == new


def test_labels_on_an_unchanged_push_move_to_the_existing_version(project):
    prompt = services.prompt_create(project=project, name="p", template="a {x}")

    version, created = services.prompt_version_create(prompt=prompt, template="a {x}", labels=["production"])

    assert not created
    assert PromptLabel.objects.get(name="production").version == version


def test_content_hash_is_canonical_and_covers_every_content_field():
    base = {
        "kind": "text",
        "template_format": "fstring",
        "template": "a {x}",
        "messages": [],
        "model_settings": {"model_endpoint": "e", "parameters": {"temperature": 0.1, "seed": 1}},
        "variables_schema": None,
    }
    reordered = {**base, "model_settings": {"parameters": {"seed": 1, "temperature": 0.1}, "model_endpoint": "e"}}
    assert content_hash(**base) == content_hash(**reordered)
    assert content_hash(**base) == content_hash(**{**base, "messages": None})
    for field, value in [
        ("kind", "chat"),
        ("template_format", "jinja2"),
        ("template", "a {x} "),
        ("messages", [{"role": "user", "content": "a"}]),
        ("model_settings", {}),
        ("variables_schema", {"type": "object"}),
    ]:
        assert content_hash(**base) != content_hash(**{**base, field: value}), field


def test_stored_hash_matches_the_hash_function(project):
    prompt = services.prompt_create(
        project=project, name="p", kind="chat", messages=[{"role": "user", "content": "{q}"}]
    )
    version = prompt.versions.get()
    assert version.content_hash == content_hash(
        kind="chat",
        template_format="fstring",
        template="",
        messages=[{"role": "user", "content": "{q}"}],
        model_settings={},
        variables_schema=None,
    )


def test_label_delete_of_a_missing_label_is_not_found(project):
    prompt = services.prompt_create(project=project, name="p", template="a {x}")
    with pytest.raises(NotFound, match="no label 'staging'"):
        services.label_delete(prompt=prompt, label="staging")


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"tags": ["x" * 65]}, "tags[0]"),
        ({"tags": [""]}, "tags[0]"),
        ({"tags": "nlp"}, "tags"),
        ({"labels": ["latest"]}, "labels[0]"),
        ({"commit_message": "m" * 501}, "commit_message"),
    ],
)
def test_metadata_is_validated(project, kwargs, param):
    with pytest.raises(ValidationFailed) as raised:
        services.prompt_create(project=project, name="p", template="a", **kwargs)
    assert raised.value.param == param
    assert not Prompt.objects.exists()


def test_a_saved_version_refuses_to_be_saved_again(project):
    version = services.prompt_create(project=project, name="p", template="a {x}").versions.get()
    version.template = "b {x}"

    with pytest.raises(ValueError, match="immutable"):
        version.save()

    version.refresh_from_db()
    assert version.template == "a {x}"
