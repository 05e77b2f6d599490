"""Prompts as code: the YAML/JSON file that ``prompt_push`` reads and ``prompt_pull`` writes.

One file is one prompt version plus its prompt's metadata. Keys are the same as the API's:
name, description, tags, kind, template_format, template (text) or messages (chat),
model_settings, variables_schema, labels, commit_message. Pull writes exactly what push reads,
so a pulled file pushes back without a change.

Pure Python (PyYAML only, no Django): the client package (``client/``) ships this same module for
``llmops prompt pull/push``, so both write and read one format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from prompts.models import PromptVersion

FORMATS = ("yaml", "json")
KEYS = (
    "name",
    "description",
    "tags",
    "kind",
    "template_format",
    "template",
    "messages",
    "model_settings",
    "variables_schema",
    "labels",
    "commit_message",
)


class PromptFileError(ValueError):
    pass


def format_for(path: str | None, explicit: str | None = None) -> str:
    if explicit:
        return explicit
    return "json" if path and Path(path).suffix.lower() == ".json" else "yaml"


def loads(text: str, *, file_format: str) -> dict:
    try:
        data = json.loads(text) if file_format == "json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise PromptFileError(f"not valid {file_format.upper()}: {error}") from None
    if not isinstance(data, dict):
        raise PromptFileError("the file must hold one object (a mapping of keys to values)")
    unknown = sorted(str(key) for key in data if key not in KEYS)
    if unknown:
        raise PromptFileError(f"unknown key(s): {', '.join(unknown)} (known: {', '.join(KEYS)})")
    if not isinstance(data.get("name"), str) or not data["name"]:
        raise PromptFileError("'name' is required")
    return data


def to_document(version: PromptVersion, *, labels: list[str]) -> dict:
    prompt = version.prompt
    document = {
        "name": prompt.name,
        "description": prompt.description,
        "tags": list(prompt.tags),
        "kind": version.kind,
        "template_format": version.template_format,
    }
    if version.kind == "chat":
        document["messages"] = version.messages
    else:
        document["template"] = version.template
    document.update(
        model_settings=version.model_settings,
        variables_schema=version.variables_schema,
        labels=labels,
        commit_message=version.commit_message,
    )
    return document


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Multi-line templates as literal blocks read like the prompt itself and diff well in git.
    # PyYAML cannot write a block scalar with trailing spaces on a line; it falls back to quoting.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dumps(document: dict, *, file_format: str) -> str:
    if file_format == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000)
