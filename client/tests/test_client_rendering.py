"""``Prompt.compile`` renders exactly as the server: the same text, and the same error (code, param,
message) for a missing variable, a schema violation or a sandbox refusal.

The package ships the server's own modules (``prompts/templating``, ``experiments/gates.py``,
``prompts/promptfile.py``, linked into ``client/src/llmops_client``); the first test keeps it that way, the
others compare the server's ``POST /prompts/{id}/render`` with the client over one corpus of cases."""

from __future__ import annotations

from pathlib import Path

import llmops_client.gates
import llmops_client.promptfile
import llmops_client.templating
import pytest
from llmops_client import APIError, TemplateError

import experiments.gates
import prompts.promptfile
import prompts.templating
from prompts import services

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_client_ships_the_servers_modules_not_copies():
    for client_module, server_module in [
        (llmops_client.templating, prompts.templating),
        (llmops_client.gates, experiments.gates),
        (llmops_client.promptfile, prompts.promptfile),
    ]:
        assert client_module is not server_module  # imported under the client's name, without Django
        assert Path(client_module.__file__).resolve() == Path(server_module.__file__).resolve()


SCHEMA = {
    "type": "object",
    "properties": {"input": {"type": "string"}, "n": {"type": "integer", "default": 3}},
    "required": ["input"],
}
RUNTIME_VARIABLES = {"x": "text", "name": "__class__", "items": []}

# (kind, template_format, template or messages, variables_schema, variables)
CASES = [
    ("text", "fstring", "Analyze the sentiment of this text: {input}", None, {"input": "I love it"}),
    ("text", "fstring", 'Reply as {{"label": "{label}"}}', None, {"label": "positive"}),
    ("text", "fstring", "{a} {b}", None, {"a": "{b} {0.__class__}", "b": "B"}),
    ("text", "fstring", "{a} {b} {c} {d}", None, {"a": [1, "é"], "b": {"k": None}, "c": 1.5, "d": True}),
    ("text", "fstring", "Hello {input}", None, {}),  # missing variable
    ("text", "fstring", "Hello {input}", None, {"input": "x", "extra": "ignored"}),
    ("text", "fstring", "{input} x{n}", SCHEMA, {"input": "a"}),  # schema default
    ("text", "fstring", "{input}", SCHEMA, {"input": 5}),  # schema type
    ("text", "fstring", "{other}", SCHEMA, {"other": "x"}),  # schema-required, unused
    (
        "text",
        "jinja2",
        "{% if urgent %}URGENT: {% endif %}{% for item in items %}{{ loop.index }}. {{ item.name|upper }}"
        "{% if not loop.last %}; {% endif %}{% endfor %}",
        None,
        {"urgent": True, "items": [{"name": "a"}, {"name": "b"}]},
    ),
    ("text", "jinja2", "{{ n + 1 }} {{ data.k }} {{ data|tojson }}", None, {"n": 2, "data": {"k": "é<"}}),
    ("text", "jinja2", "{{ x }}\n", None, {"x": "a"}),
    ("text", "jinja2", "{{ user.nmae }}", None, {"user": {"name": "a"}}),  # undefined attribute
    ("text", "jinja2", "{{ n / 0 }}", None, {"n": 1}),  # runtime failure
    ("text", "jinja2", "{{ x[name] }}", None, RUNTIME_VARIABLES),  # sandbox refusals at run time
    ("text", "jinja2", "{{ x|attr(name) }}", None, RUNTIME_VARIABLES),
    ("text", "jinja2", "{{ '{0.__class__}'.format(x) }}", None, RUNTIME_VARIABLES),
    ("text", "jinja2", "{{ items.append(1) }}", None, RUNTIME_VARIABLES),
    ("text", "jinja2", "{{ x.ljust(10**9) }}", None, RUNTIME_VARIABLES),
    ("text", "jinja2", "{% for i in range(10**9) %}x{% endfor %}", None, {}),  # size limits
    ("text", "jinja2", "{{ 'x' * 10**9 }}", None, {}),
    ("text", "jinja2", "{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}", None, {}),
    (
        "text",
        "jinja2",
        "{{ x.upper() }} {% for k, v in d.items() %}{{ k }}={{ v }}{% endfor %} {{ '%.1f'|format(f) }} "
        "{{ items|join(', ') }} {{ 'a b'|replace(' ', '_') }} {{ items|sum }} {{ ('ab' * 2) ~ '!' }}",
        None,
        {"x": "hi", "d": {"a": 1}, "f": 0.25, "items": [1, 2]},
    ),
    (
        "chat",
        "fstring",
        [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Sentiment: {input}"}],
        None,
        {"input": "meh"},
    ),
    (
        "chat",
        "jinja2",
        [{"role": "system", "content": "{{ persona }}"}, {"role": "user", "content": "{{ q }}{% if u %}!{% endif %}"}],
        None,
        {"persona": "terse", "q": "why", "u": True},
    ),
    ("chat", "jinja2", [{"role": "user", "content": "ok"}, {"role": "user", "content": "{{ q.x }}"}], None, {"q": 1}),
]


def _server(api, prompt_id: str, variables: dict) -> tuple[str, object]:
    response = api.post(f"/api/v1/prompts/{prompt_id}/render", {"variables": variables}, format="json")
    if response.status_code == 200:
        body = response.json()
        return "ok", body.get("text", body.get("messages"))
    error = response.json()["error"]
    assert response.status_code == 400, error
    return "error", (error["code"], error["param"], error["message"])


def _client(prompt, variables: dict) -> tuple[str, object]:
    try:
        return "ok", prompt.compile(**variables)
    except TemplateError as error:
        return "error", (error.code, error.param, error.message)


def test_compile_matches_the_servers_render_over_the_corpus(client, project, api):
    # One test for the whole corpus: each live-server test pays for flushing the database.
    for index, (kind, template_format, content, schema, variables) in enumerate(CASES):
        services.prompt_create(
            project=project,
            name=f"case-{index}",
            kind=kind,
            template_format=template_format,
            template=content if kind == "text" else "",
            messages=content if kind == "chat" else None,
            variables_schema=schema,
        )
        prompt = client.get_prompt(f"case-{index}")

        server = _server(api, prompt.prompt_id, variables)

        assert _client(prompt, variables) == server, (index, content)
    outcomes = [_client(client.get_prompt(f"case-{index}"), case[-1])[0] for index, case in enumerate(CASES)]
    assert outcomes.count("ok") >= 8 and outcomes.count("error") >= 8  # both sides of the corpus are exercised


def test_templates_the_server_refuses_are_refused_alike_by_a_fallback(client, project):
    for template_format, template in [
        ("jinja2", "{{ ''.__class__.__mro__ }}"),
        ("jinja2", "{% include 'x' %}"),
        ("fstring", "{0.__class__}"),
        ("fstring", "open { brace"),
    ]:
        with pytest.raises(APIError) as server:
            client.create_prompt(name="refused", template=template, template_format=template_format)
        with pytest.raises(TemplateError) as local:
            llmops_client.Prompt.fallback("refused", template, template_format=template_format)

        assert (server.value.code, server.value.param, server.value.message) == (
            local.value.code,
            local.value.param,
            local.value.message,
        )
