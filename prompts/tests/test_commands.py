"""manage.py prompt_push / prompt_pull (prompts as code) and bootstrap's demo prompt."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from prompts import promptfile, services
from prompts.models import Prompt, PromptLabel, PromptVersion

pytestmark = pytest.mark.django_db

PROMPT_YAML = """\
name: support/triage
description: Route a support ticket
tags: [support]
kind: chat
template_format: jinja2
messages:
  - role: system
    content: |
      You route tickets.
      Answer with one team name.
  - role: user
    content: "{{ ticket }}{% if urgent %} (urgent){% endif %}"
model_settings:
  model_endpoint: local-gemma
  parameters: {temperature: 0.0, max_tokens: 16, stop: ["\\n"]}
variables_schema:
  type: object
  properties:
    ticket: {type: string}
    urgent: {type: boolean, default: false}
labels: [staging]
commit_message: first version from git
"""


def push(path: Path, project, *extra: str) -> str:
    out = StringIO()
    call_command("prompt_push", str(path), "--project", project.slug, *extra, stdout=out)
    return out.getvalue()


def pull(name: str, project, *extra: str) -> str:
    out = StringIO()
    call_command("prompt_pull", name, "--project", project.slug, *extra, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def prompt_file(tmp_path: Path) -> Path:
    path = tmp_path / "triage.yaml"
    path.write_text(PROMPT_YAML)
    return path


def test_push_creates_the_prompt_from_yaml(prompt_file, project):
    output = push(prompt_file, project)

    assert output.strip() == "support/triage: created version 1"
    prompt = Prompt.objects.get(project=project, name="support/triage")
    version = prompt.versions.get()
    assert (prompt.description, prompt.tags) == ("Route a support ticket", ["support"])
    assert (version.kind, version.template_format, version.commit_message) == (
        "chat",
        "jinja2",
        "first version from git",
    )
    assert version.messages[0]["content"] == "You route tickets.\nAnswer with one team name.\n"
    assert version.model_settings["parameters"] == {"temperature": 0.0, "max_tokens": 16, "stop": ["\n"]}
    assert version.variables == ["ticket", "urgent"]
    assert PromptLabel.objects.get(prompt=prompt).name == "staging"


def test_pushing_unchanged_content_creates_nothing(prompt_file, project):
    push(prompt_file, project)

    output = push(prompt_file, project)

    assert output.strip() == "support/triage: unchanged (version 1)"
    assert PromptVersion.objects.count() == 1


def test_pushing_changed_content_creates_the_next_version_and_moves_labels(prompt_file, project):
    push(prompt_file, project)
    prompt_file.write_text(
        PROMPT_YAML.replace("one team name", "one team name only").replace("[staging]", "[production]")
    )

    output = push(prompt_file, project)

    assert "support/triage: created version 2" in output
    assert "label production -> v2" in output
    labels = dict(PromptLabel.objects.values_list("name", "version__version"))
    assert labels == {"staging": 1, "production": 2}


@pytest.mark.parametrize("file_format", ["yaml", "json"])
def test_pull_then_push_round_trips_without_a_change(prompt_file, project, tmp_path, file_format):
    push(prompt_file, project)
    pulled = tmp_path / f"pulled.{file_format}"

    call_command("prompt_pull", "support/triage", "--project", project.slug, "--output", str(pulled), stderr=StringIO())
    output = push(pulled, project)

    assert "unchanged (version 1)" in output
    assert PromptVersion.objects.count() == 1
    document = json.loads(pulled.read_text()) if file_format == "json" else yaml.safe_load(pulled.read_text())
    assert document == yaml.safe_load(PROMPT_YAML)


def test_pulled_yaml_keeps_multiline_templates_readable(prompt_file, project):
    push(prompt_file, project)

    text = pull("support/triage", project)

    assert "content: |\n    You route tickets.\n    Answer with one team name.\n" in text


def test_pull_by_label_or_version_and_as_json(project):
    prompt = services.prompt_create(project=project, name="p", template="v1 {x}", labels=["production"])
    services.prompt_version_create(prompt=prompt, template="v2 {x}")

    assert yaml.safe_load(pull("p", project))["template"] == "v2 {x}"  # default: the latest
    assert yaml.safe_load(pull("p", project, "--label", "production"))["template"] == "v1 {x}"
    as_json = json.loads(pull("p", project, "--version", "1", "--format", "json"))
    assert as_json["template"] == "v1 {x}" and as_json["labels"] == ["production"]


def test_push_of_a_text_prompt_from_json(tmp_path, project):
    path = tmp_path / "seed.json"
    path.write_text(
        json.dumps(
            {
                "name": "sentiment-analysis",
                "description": "Analyze sentiment of text",
                "template": "Analyze the sentiment of this text: {input}",
            }
        )
    )

    push(path, project)

    assert Prompt.objects.get(name="sentiment-analysis").versions.get().template.endswith("{input}")


def test_push_updates_description_and_tags(prompt_file, project):
    push(prompt_file, project)
    prompt_file.write_text(PROMPT_YAML.replace("Route a support ticket", "Route tickets to teams"))

    output = push(prompt_file, project)

    assert "updated description/tags" in output and "unchanged (version 1)" in output
    assert Prompt.objects.get().description == "Route tickets to teams"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name: p\ntemplate: '{0.__class__}'\n", "(template)"),
        ("name: p\ntemplate: x\nlabels: [latest]\n", "reserved"),
        ("name: p\ntemplate: x\nprompt: y\n", "unknown key(s): prompt"),
        ("template: x\n", "'name' is required"),
        ("- just\n- a list\n", "one object"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_push_errors_name_the_problem_and_create_nothing(tmp_path, project, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)

    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        push(path, project)

    assert not Prompt.objects.exists()


def test_unknown_project_or_prompt_is_a_command_error(prompt_file, project):
    with pytest.raises(CommandError, match="no project"):
        call_command("prompt_push", str(prompt_file), "--project", "missing")
    with pytest.raises(CommandError, match="not found"):
        pull("nope", project)


def test_bootstrap_creates_the_demo_prompt_with_a_production_label():
    call_command("bootstrap", stdout=StringIO())
    call_command("bootstrap", stdout=StringIO())  # safe to run again

    prompt = Prompt.objects.get(project__slug="demo", name="sentiment-analysis")
    version = prompt.versions.get()
    assert version.template == "Analyze the sentiment of this text: {input}"
    assert version.model_settings == {"model_endpoint": "local-gemma"}
    assert PromptLabel.objects.get(prompt=prompt, name="production").version == version


@pytest.mark.parametrize(
    "template",
    [
        "  leading spaces\nand trailing spaces   \n",
        "tabs\tand\r\nwindows line ends\n",
        "no newline at the end\nsecond line",
        "yes",
        "null",
        "1.0",
        "",
        "émoji 🙂 and ünïcode\n\n\n",
        "- looks like: yaml\n# and a comment\n",
    ],
)
def test_yaml_round_trips_awkward_templates_exactly(template):
    document = {"name": "p", "template": template}
    assert promptfile.loads(promptfile.dumps(document, file_format="yaml"), file_format="yaml") == document
