"""The prompt registry in the admin: editing creates versions, labels move through the services."""

from __future__ import annotations

import json
import time

import pytest
from django.urls import reverse

from llmops.core.errors import NotFound
from prompts import selectors, services
from prompts.models import Prompt, PromptLabel, PromptLabelEvent, PromptVersion
from prompts.tests.heavy_templates import slow_to_parse

pytestmark = pytest.mark.django_db


@pytest.fixture
def prompt(project) -> Prompt:
    prompt = services.prompt_create(
        project=project,
        name="sentiment-analysis",
        description="Analyze sentiment of text",
        template="Analyze the sentiment of this text: {input}",
        labels=["production"],
    )
    services.prompt_version_create(prompt=prompt, template="Sentiment of <b>{input}</b>:", commit_message="shorter")
    return prompt


def change_url(prompt: Prompt) -> str:
    return reverse("admin:prompts_prompt_change", args=[prompt.pk])


def form_data(response, **overrides) -> dict:
    """What the browser would post back: the main form's values plus every inline's management form."""
    data = {}
    form = response.context["adminform"].form
    for field in form:
        value = field.value()
        if value is not None:
            data[field.html_name] = value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for field in formset.management_form:
            data[field.html_name] = field.value()
        for inline_form in formset.forms:
            for field in inline_form:
                if field.value() is not None:
                    data[field.html_name] = field.value()
    data.update(overrides)
    return data


def test_change_page_shows_versions_history_and_the_latest_content(admin_client, prompt):
    response = admin_client.get(change_url(prompt))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Sentiment of &lt;b&gt;{input}&lt;/b&gt;:" in page  # the newest template, escaped, ready to edit
    assert "shorter" in page  # version history inline
    assert "label history" in page.lower()
    for name in ("prompts_prompt_diff", "prompts_prompt_promote", "prompts_prompt_rollback"):
        assert reverse(f"admin:{name}", args=[prompt.pk]) in page


def test_saving_a_changed_template_creates_a_version_and_keeps_the_old_one(admin_client, admin_user, prompt):
    page = admin_client.get(change_url(prompt))

    response = admin_client.post(
        change_url(prompt),
        form_data(
            page, template="Rate the sentiment of {input} from 1 to 5", commit_message="scale", new_labels="staging"
        ),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    versions = {v.version: v for v in PromptVersion.objects.filter(prompt=prompt)}
    assert sorted(versions) == [1, 2, 3]
    assert versions[3].template == "Rate the sentiment of {input} from 1 to 5"
    assert versions[3].commit_message == "scale" and versions[3].created_by == admin_user
    assert versions[2].template == "Sentiment of <b>{input}</b>:"
    assert PromptLabel.objects.get(prompt=prompt, name="staging").version == versions[3]


def test_saving_without_content_changes_creates_no_version_but_updates_metadata(admin_client, prompt):
    page = admin_client.get(change_url(prompt))

    response = admin_client.post(change_url(prompt), form_data(page, description="Now with a new description"))

    assert response.status_code == 302
    assert PromptVersion.objects.filter(prompt=prompt).count() == 2
    prompt.refresh_from_db()
    assert prompt.description == "Now with a new description"


def test_an_invalid_template_is_a_form_error_on_its_field(admin_client, prompt):
    page = admin_client.get(change_url(prompt))

    response = admin_client.post(change_url(prompt), form_data(page, template="{0.__class__}"))

    assert response.status_code == 200
    assert "unsupported placeholder" in " ".join(response.context["adminform"].form.errors["template"])
    assert PromptVersion.objects.filter(prompt=prompt).count() == 2


def test_add_page_creates_the_prompt_through_the_service(admin_client, admin_user, project):
    response = admin_client.post(
        reverse("admin:prompts_prompt_add"),
        {
            "project": project.pk,
            "name": "chat-triage",
            "description": "",
            "tags": '["support"]',
            "kind": "chat",
            "template_format": "fstring",
            "template": "",
            "messages": json.dumps([{"role": "user", "content": "Route: {ticket}"}]),
            "model_settings": json.dumps({"parameters": {"temperature": 0}}),
            "variables_schema": "",
            "commit_message": "from the console",
            "new_labels": "production, staging",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    prompt = Prompt.objects.get(name="chat-triage")
    version = prompt.versions.get()
    assert (prompt.latest_version_number, prompt.tags, prompt.created_by) == (1, ["support"], admin_user)
    assert version.variables == ["ticket"] and version.kind == "chat"
    assert set(prompt.labels.values_list("name", flat=True)) == {"production", "staging"}


def test_promote_page_moves_a_label_and_records_the_admin(admin_client, admin_user, prompt):
    url = reverse("admin:prompts_prompt_promote", args=[prompt.pk])
    assert admin_client.get(url).status_code == 200

    response = admin_client.post(url, {"label": "production", "version": 2, "reason": "ship it"})

    assert response.status_code == 302
    assert PromptLabel.objects.get(prompt=prompt, name="production").version.version == 2
    event = PromptLabelEvent.objects.filter(prompt=prompt).latest("created_at")
    assert (event.actor, event.reason, event.from_version.version) == (admin_user, "ship it", 1)


def test_promote_page_refuses_a_reserved_label(admin_client, prompt):
    response = admin_client.post(
        reverse("admin:prompts_prompt_promote", args=[prompt.pk]), {"label": "latest", "version": 2}
    )
    assert response.status_code == 200
    assert "reserved" in response.content.decode()
    assert PromptLabel.objects.get(prompt=prompt, name="production").version.version == 1


def test_rollback_page_moves_the_label_back(admin_client, prompt):
    services.label_move(prompt=prompt, label="production", version=2)
    url = reverse("admin:prompts_prompt_rollback", args=[prompt.pk])
    assert "production (now v2)" in admin_client.get(url).content.decode()

    response = admin_client.post(url, {"label": "production", "reason": "regression"})

    assert response.status_code == 302
    assert PromptLabel.objects.get(prompt=prompt, name="production").version.version == 1


def test_diff_page_shows_both_versions_side_by_side(admin_client, prompt):
    response = admin_client.get(reverse("admin:prompts_prompt_diff", args=[prompt.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="diff"' in page and "v1" in page and "v2" in page
    assert "&lt;b&gt;" in page and "<b>{input}" not in page  # template text is escaped
    chosen = admin_client.get(reverse("admin:prompts_prompt_diff", args=[prompt.pk]) + "?from_version=2&to_version=1")
    assert "v2 &rarr; v1" in chosen.content.decode()


def test_version_changelist_action_promotes(admin_client, prompt):
    version = prompt.versions.get(version=2)

    response = admin_client.post(
        reverse("admin:prompts_promptversion_changelist"),
        {"action": "promote_to_staging", "_selected_action": [str(version.pk)]},
    )

    assert response.status_code == 302
    assert PromptLabel.objects.get(prompt=prompt, name="staging").version == version


def test_label_changelist_action_rolls_back(admin_client, prompt):
    services.label_move(prompt=prompt, label="production", version=2)
    label = PromptLabel.objects.get(prompt=prompt, name="production")

    response = admin_client.post(
        reverse("admin:prompts_promptlabel_changelist"), {"action": "roll_back", "_selected_action": [str(label.pk)]}
    )

    assert response.status_code == 302
    label.refresh_from_db()
    assert label.version.version == 1


def test_versions_labels_and_history_cannot_be_edited_in_the_admin(admin_client, prompt):
    version = prompt.versions.get(version=1)
    event = PromptLabelEvent.objects.filter(prompt=prompt).first()

    assert admin_client.post(reverse("admin:prompts_promptversion_change", args=[version.pk]), {}).status_code == 403
    assert admin_client.get(reverse("admin:prompts_promptlabel_add")).status_code == 403
    assert admin_client.get(reverse("admin:prompts_promptlabelevent_add")).status_code == 403
    assert admin_client.post(reverse("admin:prompts_promptlabelevent_change", args=[event.pk]), {}).status_code == 403
    assert admin_client.get(reverse("admin:prompts_promptversion_delete", args=[version.pk])).status_code == 403
    version.refresh_from_db()
    assert version.template == "Analyze the sentiment of this text: {input}"


def test_deleting_in_the_admin_goes_through_the_service(admin_client, prompt, project):
    assert selectors.version_resolve(project=project, name=prompt.name).version == 1  # now cached

    response = admin_client.post(reverse("admin:prompts_prompt_delete", args=[prompt.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not Prompt.objects.filter(pk=prompt.pk).exists()
    with pytest.raises(NotFound):
        selectors.version_resolve(project=project, name=prompt.name)


def test_saving_100_templates_that_take_too_long_to_parse_is_a_form_error_within_the_budget(admin_client, project):
    messages = [{"role": "user", "content": slow_to_parse(10_000)} for _ in range(100)]

    started = time.monotonic()
    response = admin_client.post(
        reverse("admin:prompts_prompt_add"),
        {
            "project": project.pk,
            "name": "slow-to-parse",
            "kind": "chat",
            "template_format": "jinja2",
            "template": "",
            "messages": json.dumps(messages),
            "variables_schema": "",
        },
    )
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors["messages"])
    assert errors == "templates took longer than the rendering budget of 2 s for this request"
    assert elapsed < 3
    assert not Prompt.objects.filter(name="slow-to-parse").exists()
