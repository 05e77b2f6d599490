"""GET /prompts/{id}/diff: a unified diff of the prompt text plus structured changes."""

from __future__ import annotations

import pytest

from prompts.tests.test_api import create, error_of

pytestmark = pytest.mark.django_db


def add_version(api, prompt: dict, **content) -> dict:
    response = api.post(f"/api/v1/prompts/{prompt['id']}/versions", content, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def diff(api, prompt: dict, old: int, new: int) -> dict:
    response = api.get(f"/api/v1/prompts/{prompt['id']}/diff?from={old}&to={new}")
    assert response.status_code == 200, response.json()
    return response.json()


def test_text_diff_is_a_unified_diff_with_variable_changes(api):
    prompt = create(api, template="Analyze the sentiment of this text: {input}\nAnswer briefly.")
    add_version(api, prompt, template="Analyze the sentiment of this {language} text: {input}\nAnswer briefly.")

    body = diff(api, prompt, 1, 2)

    assert body["from_version"] == 1 and body["to_version"] == 2 and body["identical"] is False
    assert body["unified_diff"].splitlines() == [
        "--- v1",
        "+++ v2",
        "@@ -1,2 +1,2 @@",
        "-Analyze the sentiment of this text: {input}",
        "+Analyze the sentiment of this {language} text: {input}",
        " Answer briefly.",
    ]
    assert body["variables"] == {"added": ["language"], "removed": []}
    assert body["messages"] == []
    assert body["kind"] is None and body["template_format"] is None


def test_chat_diff_covers_messages_by_index(api):
    system = {"role": "system", "content": "You are terse."}
    prompt = create(api, kind="chat", template="", messages=[system, {"role": "user", "content": "Classify {input}"}])
    add_version(
        api,
        prompt,
        kind="chat",
        messages=[
            system,
            {"role": "user", "content": "Classify {input} as positive or negative"},
            {"role": "assistant", "content": "positive"},
        ],
    )

    body = diff(api, prompt, 1, 2)

    assert body["messages"] == [
        {
            "index": 1,
            "change": "changed",
            "from": {"role": "user", "content": "Classify {input}"},
            "to": {"role": "user", "content": "Classify {input} as positive or negative"},
        },
        {"index": 2, "change": "added", "from": None, "to": {"role": "assistant", "content": "positive"}},
    ]
    assert "-Classify {input}\n" in body["unified_diff"]
    assert "+[assistant]\n" in body["unified_diff"]
    reverse = diff(api, prompt, 2, 1)
    assert reverse["messages"][1]["change"] == "removed"


def test_model_settings_and_schema_changes_are_keyed(api):
    prompt = create(
        api,
        model_settings={"model_endpoint": "a", "parameters": {"temperature": 0.2, "stop": ["\n"]}},
        variables_schema={"type": "object", "properties": {"input": {"type": "string"}}},
    )
    add_version(
        api,
        prompt,
        template=prompt["latest"]["template"],
        model_settings={"model_endpoint": "b", "parameters": {"temperature": 0.2, "max_tokens": 64}},
        variables_schema={"type": "object", "properties": {"input": {"type": "string", "maxLength": 500}}},
    )

    body = diff(api, prompt, 1, 2)

    assert body["unified_diff"] == ""
    assert body["model_settings"] == {
        "added": {"parameters.max_tokens": 64},
        "removed": {"parameters.stop": ["\n"]},
        "changed": {"model_endpoint": {"from": "a", "to": "b"}},
    }
    assert body["variables_schema"] == {
        "added": {"properties.input.maxLength": 500},
        "removed": {},
        "changed": {},
    }


def test_kind_and_format_changes_are_reported(api):
    prompt = create(api)
    add_version(api, prompt, template_format="jinja2", template="Analyze: {{ input }}")

    body = diff(api, prompt, 1, 2)

    assert body["template_format"] == {"from": "fstring", "to": "jinja2"}
    assert body["variables"] == {"added": [], "removed": []}


def test_identical_versions_diff_to_nothing(api):
    prompt = create(api)
    add_version(api, prompt, template="other {input}")
    add_version(api, prompt, template=prompt["latest"]["template"])

    body = diff(api, prompt, 1, 3)

    assert body["identical"] is True and body["unified_diff"] == ""


def test_diff_needs_existing_versions(api):
    prompt = create(api)
    url = f"/api/v1/prompts/{prompt['id']}/diff"
    assert api.get(f"{url}?from=1&to=5").status_code == 404
    missing = api.get(f"{url}?from=1")
    assert missing.status_code == 400 and error_of(missing)["param"] == "to"
    assert error_of(api.get(f"{url}?from=a&to=1"))["param"] == "from"
