"""The OpenAPI document teaches: sections with descriptions, an example for every request body that is
valid against its schema, described 202s, readable schema names and no wording meant for maintainers;
and the /run example works as pasted on the quickstart."""

from __future__ import annotations

import json
import re
from io import StringIO
from typing import Any

import httpx
import jsonschema
import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from llmops.api.examples import REQUEST_EXAMPLES
from llmops.core.api.schema import TAGS
from runs.models import Run

WRITE_METHODS = ("post", "put", "patch")
INTERNAL_WORDING = re.compile(r"\bseed\b|subclass|scoped_queryset|serializer|selector|``\w|\bTODO\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def document(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        response = APIClient().get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(document: dict):
    for path, by_method in document["paths"].items():
        for method, operation in by_method.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def json_schema(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable`` as JSON Schema's null type; everything else as it is."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def test_every_operation_is_in_one_described_section(document):
    assert [tag["name"] for tag in document["tags"]] == [name for name, _ in TAGS]
    assert all(tag["description"] for tag in document["tags"])
    for path, method, operation in operations(document):
        assert len(operation.get("tags", [])) == 1, (method, path)
        assert operation["tags"][0] in dict(TAGS), (method, path, operation["tags"])
    tag_of = {(method, path): operation["tags"][0] for path, method, operation in operations(document)}
    # The routes of the original API sit with the resources they act on.
    assert tag_of[("post", "/api/v1/run")] == tag_of[("get", "/api/v1/task-status/{task_id}")] == "Runs"
    assert tag_of[("post", "/api/v1/run-experiment")] == "Experiments"
    assert tag_of[("get", "/api/v1/experiment-results/{experiment_id}")] == "Experiments"
    assert tag_of[("post", "/api/v1/golden-examples")] == "Goldens"


def test_every_request_body_has_an_example_valid_against_its_schema(document):
    components = json_schema(document["components"])
    checked = 0
    for path, method, operation in operations(document):
        content = operation.get("requestBody", {}).get("content", {})
        for media, body in content.items():
            if media == "multipart/form-data" and len(content) > 1:
                continue  # a file upload; the raw bodies beside it carry the examples
            assert "examples" in body, f"{method.upper()} {path} ({media}) has no example"
            [example] = body["examples"].values()
            assert example["summary"]
            schema = {**json_schema(body["schema"]), "components": components}
            jsonschema.validate(example["value"], schema)
            checked += 1
    assert checked >= len(REQUEST_EXAMPLES)
    # Every example is attached to an operation that exists.
    for method, path in REQUEST_EXAMPLES:
        assert method in WRITE_METHODS and method in document["paths"][path], (method, path)


def test_an_example_with_an_unknown_field_would_fail_its_schema(document):
    # Request bodies refuse unknown fields, and say so: a misspelt field in an example cannot pass.
    components = json_schema(document["components"])
    run_body = document["paths"]["/api/v1/run"]["post"]["requestBody"]["content"]["application/json"]
    schema = {**json_schema(run_body["schema"]), "components": components}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"prompt_name": "x", "modle_endpoint": "typo"}, schema)


def test_202_answers_are_described_and_names_are_not_doubled(document):
    for path, method, operation in operations(document):
        accepted = operation["responses"].get("202")
        if accepted is not None:
            assert accepted["description"].startswith("Accepted"), (method, path, accepted["description"])
    names = list(document["components"]["schemas"])
    assert not [name for name in names if re.search(r"(Request|Serializer|Response){2}$|Serializer", name)], names
    assert {"RunCreateRequest", "ExperimentCreateRequest", "RenderRequest"} <= set(names)


def test_no_wording_meant_for_maintainers(document):
    found = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("description", "summary") and isinstance(value, str) and INTERNAL_WORDING.search(value):
                    found.append(f"{where}/{key}: {value[:100]}")
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")

    walk({key: value for key, value in document.items() if key != "paths"} | {"paths": document["paths"]}, "")
    assert found == []


@pytest.mark.django_db(transaction=True)
def test_the_run_example_works_as_pasted_on_the_quickstart(live_server, tmp_path, document):
    key_file = tmp_path / "quickstart.key"
    call_command("bootstrap", key_file=key_file, stdout=StringIO())
    example = document["paths"]["/api/v1/run"]["post"]["requestBody"]["content"]["application/json"]
    body = example["examples"]["example"]["value"]

    response = httpx.post(
        f"{live_server.url}/api/v1/run",
        content=json.dumps(body),
        headers={"Authorization": f"Bearer {key_file.read_text().strip()}", "Content-Type": "application/json"},
        timeout=30,
    )

    assert response.status_code == 202, response.text
    run = Run.objects.get(pk=response.json()["run_id"])
    assert run.prompt_version.prompt.name == "sentiment-analysis"
    assert run.model_endpoint.name == "local-gemma"
    assert "I love this!" in run.rendered_prompt
