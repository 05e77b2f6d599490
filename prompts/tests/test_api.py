"""The prompt and version routes: the seed contract, CRUD, kinds, templates and rendering."""

from __future__ import annotations

import time

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.tests.factories import issue_key
from prompts.models import Prompt, PromptVersion
from prompts.templating import MAX_TEMPLATE_CHARS, MAX_VARIABLES
from prompts.tests.heavy_templates import busy_messages, slow_to_parse

pytestmark = pytest.mark.django_db

SEED_PROMPT = {
    "name": "sentiment-analysis",
    "description": "Analyze sentiment of text",
    "template": "Analyze the sentiment of this text: {input}",
}
CHAT_MESSAGES = [
    {"role": "system", "content": "You are a {persona}."},
    {"role": "user", "content": "Classify: {input}"},
]


def create(api: APIClient, **overrides) -> dict:
    response = api.post("/api/v1/prompts", {**SEED_PROMPT, **overrides}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def error_of(response) -> dict:
    return response.json()["error"]


# --- the seed contract ---------------------------------------------------------------------------


def test_seed_create_body_creates_the_prompt_and_its_version_1(api, project):
    response = api.post("/api/v1/prompts", SEED_PROMPT, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "sentiment-analysis"
    assert body["description"] == "Analyze sentiment of text"
    assert body["latest_version"] == 1
    assert body["active_version"] is None
    assert body["labels"] == {}
    assert body["latest"]["version"] == 1
    assert body["latest"]["template"] == SEED_PROMPT["template"]
    assert body["latest"]["kind"] == "text"
    assert body["latest"]["template_format"] == "fstring"
    assert body["latest"]["variables"] == ["input"]
    assert len(body["latest"]["content_hash"]) == 64
    stored = Prompt.objects.get(pk=body["id"])
    assert stored.project == project
    assert list(stored.versions.values_list("version", flat=True)) == [1]


def test_seed_versions_routes_create_the_next_version_and_list_them(api, tenant):
    prompt = create(api)
    url = f"/api/v1/prompts/{prompt['id']}/versions"

    created = api.post(
        url, {"template": "Sentiment of: {input}. Answer in one word.", "commit_message": "shorter"}, format="json"
    )
    listed = api.get(url)

    assert created.status_code == 201
    assert created.json()["version"] == 2
    assert listed.status_code == 200
    results = listed.json()["results"]
    assert [v["version"] for v in results] == [2, 1]
    newest = results[0]
    assert newest["commit_message"] == "shorter"
    assert newest["author"] == {"user": None, "api_key_prefix": tenant.key[: len(newest["author"]["api_key_prefix"])]}
    assert newest["labels"] == []
    assert len(newest["content_hash"]) == 64 and newest["content_hash"] != results[1]["content_hash"]
    assert newest["created_at"].endswith("Z") or "+00:00" in newest["created_at"]


def test_create_accepts_every_optional_field(api):
    body = create(
        api,
        name="classifier",
        kind="chat",
        template="",
        messages=CHAT_MESSAGES,
        template_format="fstring",
        model_settings={"model_endpoint": "local-gemma", "parameters": {"temperature": 0.2, "max_tokens": 256}},
        variables_schema={"type": "object", "properties": {"input": {"type": "string"}}},
        commit_message="first",
        labels=["production", "staging"],
        tags=["support", "triage"],
    )

    assert body["tags"] == ["support", "triage"]
    assert body["labels"] == {"production": 1, "staging": 1}
    assert body["active_version"] == 1
    latest = body["latest"]
    assert latest["messages"] == CHAT_MESSAGES
    assert latest["variables"] == ["persona", "input"]
    assert latest["model_settings"]["parameters"]["max_tokens"] == 256
    assert latest["commit_message"] == "first"
    assert latest["labels"] == ["production", "staging"]


def test_duplicate_name_is_a_conflict(api):
    create(api)
    response = api.post("/api/v1/prompts", SEED_PROMPT, format="json")
    assert response.status_code == 409
    assert error_of(response)["param"] == "name"
    assert Prompt.objects.count() == 1


@pytest.mark.parametrize("name", ["", "-leading-dash", "has space", "x" * 201])
def test_invalid_names_are_rejected(api, name):
    response = api.post("/api/v1/prompts", {**SEED_PROMPT, "name": name}, format="json")
    assert response.status_code == 400
    assert error_of(response)["param"] == "name"
    assert not Prompt.objects.exists()


def test_whitespace_of_templates_is_kept(api):
    body = create(api, template="  Text: {input}\n\n")
    assert body["latest"]["template"] == "  Text: {input}\n\n"


# --- list, retrieve, update, delete -----------------------------------------------------------------


def test_list_searches_filters_by_tag_and_paginates(api):
    create(api, name="sentiment-analysis", tags=["nlp"])
    create(api, name="summarizer", description="Summarise tickets", tags=["support", "nlp"])
    create(api, name="router", description="Route a ticket", tags=["support"])

    assert [p["name"] for p in api.get("/api/v1/prompts").json()["results"]] == [
        "router",
        "sentiment-analysis",
        "summarizer",
    ]
    assert [p["name"] for p in api.get("/api/v1/prompts?search=ticket").json()["results"]] == [
        "router",
        "summarizer",
    ]
    assert [p["name"] for p in api.get("/api/v1/prompts?tag=support").json()["results"]] == ["router", "summarizer"]
    assert api.get("/api/v1/prompts?tag=sup").json()["count"] == 0
    page = api.get("/api/v1/prompts?limit=2&offset=2").json()
    assert page["count"] == 3 and [p["name"] for p in page["results"]] == ["summarizer"]
    assert page["previous"] is not None and page["next"] is None
    too_many = api.get("/api/v1/prompts?limit=500")
    assert too_many.status_code == 400 and error_of(too_many)["param"] == "limit"


def test_list_shows_active_version_and_labels(api):
    prompt = create(api, labels=["production"])
    api.post(
        f"/api/v1/prompts/{prompt['id']}/versions", {"template": "v2 {input}", "labels": ["staging"]}, format="json"
    )

    listed = api.get("/api/v1/prompts").json()["results"][0]

    assert listed["latest_version"] == 2
    assert listed["active_version"] == 1
    assert listed["labels"] == {"production": 1, "staging": 2}


def test_retrieve_returns_the_prompt_with_its_latest_version(api):
    prompt = create(api)
    body = api.get(f"/api/v1/prompts/{prompt['id']}").json()
    assert body["id"] == prompt["id"]
    assert body["latest"]["template"] == SEED_PROMPT["template"]


def test_patch_changes_description_and_tags_only(api):
    prompt = create(api)
    url = f"/api/v1/prompts/{prompt['id']}"

    response = api.patch(url, {"description": "New words", "tags": ["a", "b", "a"]}, format="json")

    assert response.status_code == 200
    assert response.json()["description"] == "New words"
    assert response.json()["tags"] == ["a", "b"]
    assert response.json()["latest_version"] == 1


@pytest.mark.parametrize("field", ["template", "messages", "kind", "model_settings", "name"])
def test_patch_refuses_content_and_name(api, field):
    prompt = create(api)
    value = {"template": "changed {input}", "messages": CHAT_MESSAGES, "kind": "chat", "model_settings": {}}.get(
        field, "renamed"
    )

    response = api.patch(f"/api/v1/prompts/{prompt['id']}", {field: value}, format="json")

    assert response.status_code == 400
    assert error_of(response)["param"] == field
    version = PromptVersion.objects.get(prompt_id=prompt["id"])
    assert version.template == SEED_PROMPT["template"]
    assert Prompt.objects.get(pk=prompt["id"]).name == SEED_PROMPT["name"]


def test_delete_removes_the_prompt_and_its_versions(api):
    prompt = create(api, labels=["production"])
    response = api.delete(f"/api/v1/prompts/{prompt['id']}")
    assert response.status_code == 204
    assert not Prompt.objects.exists() and not PromptVersion.objects.exists()
    assert api.get(f"/api/v1/prompts/{prompt['id']}").status_code == 404


def test_retrieve_one_version_by_number(api):
    prompt = create(api)
    api.post(f"/api/v1/prompts/{prompt['id']}/versions", {"template": "v2 {input}"}, format="json")

    one = api.get(f"/api/v1/prompts/{prompt['id']}/versions/1")
    missing = api.get(f"/api/v1/prompts/{prompt['id']}/versions/3")

    assert one.status_code == 200
    assert one.json()["version"] == 1
    assert one.json()["template"] == SEED_PROMPT["template"]
    assert one.json()["prompt_name"] == "sentiment-analysis"
    assert missing.status_code == 404


# --- immutable versions ---------------------------------------------------------------------------------


def test_identical_content_returns_the_latest_version_with_200(api):
    prompt = create(api)
    url = f"/api/v1/prompts/{prompt['id']}/versions"

    again = api.post(url, {"template": SEED_PROMPT["template"], "commit_message": "no change"}, format="json")

    assert again.status_code == 200
    assert again.json()["version"] == 1
    assert again.json()["commit_message"] == ""
    assert PromptVersion.objects.filter(prompt_id=prompt["id"]).count() == 1


def test_content_equal_to_an_older_version_is_a_new_version(api):
    prompt = create(api)
    url = f"/api/v1/prompts/{prompt['id']}/versions"
    api.post(url, {"template": "v2 {input}"}, format="json")

    back = api.post(url, {"template": SEED_PROMPT["template"]}, format="json")

    assert back.status_code == 201
    assert back.json()["version"] == 3
    v1 = api.get(f"{url}/1").json()
    assert back.json()["content_hash"] == v1["content_hash"]


def test_model_settings_or_schema_change_makes_a_new_version(api):
    prompt = create(api)
    url = f"/api/v1/prompts/{prompt['id']}/versions"
    template = SEED_PROMPT["template"]

    settings_change = api.post(
        url, {"template": template, "model_settings": {"parameters": {"seed": 1}}}, format="json"
    )
    schema_change = api.post(
        url,
        {
            "template": template,
            "model_settings": {"parameters": {"seed": 1}},
            "variables_schema": {"type": "object", "required": ["input"]},
        },
        format="json",
    )

    assert (settings_change.status_code, schema_change.status_code) == (201, 201)
    assert schema_change.json()["version"] == 3


def test_versions_are_never_modified_by_later_writes(api):
    prompt = create(api, labels=["production"])
    first = api.get(f"/api/v1/prompts/{prompt['id']}/versions/1").json()
    api.post(f"/api/v1/prompts/{prompt['id']}/versions", {"template": "v2 {input}"}, format="json")
    api.patch(f"/api/v1/prompts/{prompt['id']}", {"description": "changed"}, format="json")
    api.post(f"/api/v1/prompts/{prompt['id']}/labels/production", {"version": 2}, format="json")

    again = api.get(f"/api/v1/prompts/{prompt['id']}/versions/1").json()

    for field in ("template", "kind", "template_format", "messages", "model_settings", "content_hash", "created_at"):
        assert again[field] == first[field]


# --- kinds and templates --------------------------------------------------------------------------------


def test_chat_prompt_renders_messages(api):
    prompt = create(api, name="chat", kind="chat", template="", messages=CHAT_MESSAGES)

    response = api.post(
        f"/api/v1/prompts/{prompt['id']}/render",
        {"variables": {"persona": "critic", "input": "great film"}},
        format="json",
    )

    assert response.status_code == 200
    assert response.json() == {
        "version": 1,
        "kind": "chat",
        "messages": [
            {"role": "system", "content": "You are a critic."},
            {"role": "user", "content": "Classify: great film"},
        ],
    }


def test_jinja2_template_with_logic(api):
    prompt = create(
        api,
        name="jinja",
        template_format="jinja2",
        template="{% for item in items %}- {{ item | upper }}\n{% endfor %}{% if urgent %}URGENT{% endif %}",
    )
    assert prompt["latest"]["variables"] == ["items", "urgent"]

    response = api.post(
        f"/api/v1/prompts/{prompt['id']}/render", {"variables": {"items": ["a", "b"], "urgent": True}}, format="json"
    )

    assert response.json()["text"] == "- A\n- B\nURGENT"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"kind": "chat", "template": "", "messages": []}, "messages"),
        ({"kind": "chat", "template": "", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"kind": "chat", "template": "", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"kind": "chat", "template": "hello", "messages": CHAT_MESSAGES}, "template"),
        ({"kind": "text", "template": "x", "messages": CHAT_MESSAGES}, "messages"),
        ({"template": ""}, "template"),
        ({"kind": "text"}, "template"),
        ({"template": "{input", "template_format": "fstring"}, "template"),
        ({"template": "{{ input ", "template_format": "jinja2"}, "template"),
        ({"template": "x", "template_format": "mustache"}, "template_format"),
        ({"template": "x", "kind": "completion"}, "kind"),
        ({"template": "{input}", "variables_schema": {"type": "array"}}, "variables_schema"),
        ({"template": "{input}", "variables_schema": {"type": 5}}, "variables_schema"),
    ],
)
def test_invalid_content_is_a_400_naming_the_problem(api, body, param):
    prompt = create(api)

    response = api.post(f"/api/v1/prompts/{prompt['id']}/versions", body, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "validation_error"
    assert error["param"] == param
    assert PromptVersion.objects.filter(prompt_id=prompt["id"]).count() == 1


@pytest.mark.parametrize(
    ("model_settings", "param"),
    [
        ({"model": "gpt"}, "model_settings.model"),
        ({"model_endpoint": ""}, "model_settings.model_endpoint"),
        ({"parameters": [1, 2]}, "model_settings.parameters"),
        ({"parameters": {"temperature": "hot"}}, "model_settings.parameters.temperature"),
        ({"parameters": {"max_tokens": 1.5}}, "model_settings.parameters.max_tokens"),
        ({"parameters": {"stop": [1]}}, "model_settings.parameters.stop"),
        ({"parameters": {"logit_bias": {"1": 2}}}, "model_settings.parameters.logit_bias"),
        ("fast", "model_settings"),
    ],
)
def test_model_settings_shape_is_validated(api, model_settings, param):
    response = api.post("/api/v1/prompts", {**SEED_PROMPT, "model_settings": model_settings}, format="json")
    assert response.status_code == 400
    assert error_of(response)["param"] == param
    assert not Prompt.objects.exists()


def test_unknown_model_settings_keys_are_named(api):
    response = api.post(
        "/api/v1/prompts", {**SEED_PROMPT, "model_settings": {"provider": "x", "model": "y"}}, format="json"
    )
    assert response.status_code == 400
    assert "model, provider" in error_of(response)["message"]


# --- hostile templates, through the API --------------------------------------------------------------------


@pytest.mark.parametrize("template", ["{0.__class__}", "{x:>99999999}", "{x!r}", "{x[0]}", "{}", "{a.b}"])
def test_hostile_fstring_placeholders_are_a_400(api, template):
    response = api.post("/api/v1/prompts", {**SEED_PROMPT, "template": template}, format="json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_template"
    assert error_of(response)["param"] == "template"


def test_jinja_syntax_in_an_fstring_template_stays_literal_text(api):
    prompt = create(api, template="{{ ''.__class__.__mro__ }} {input}")

    response = api.post(f"/api/v1/prompts/{prompt['id']}/render", {"variables": {"input": "x"}}, format="json")

    assert response.status_code == 200
    assert response.json()["text"] == "{ ''.__class__.__mro__ } x"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{% include 'x' %}",
        "{{ 'a' * 999999999 }}",
        "{% for i in range(999999999) %}x{% endfor %}",
    ],
)
def test_hostile_jinja_templates_are_a_400_at_creation_or_render(api, template):
    created = api.post(
        "/api/v1/prompts", {**SEED_PROMPT, "template_format": "jinja2", "template": template}, format="json"
    )
    if created.status_code == 400:
        assert error_of(created)["param"] == "template"
        return
    assert created.status_code == 201
    rendered = api.post(f"/api/v1/prompts/{created.json()['id']}/render", {"variables": {}}, format="json")
    assert rendered.status_code == 400
    assert error_of(rendered)["code"] in {
        "unsafe_template",
        "output_too_large",
        "invalid_template",
        "render_budget_exceeded",
    }


def test_a_1mb_template_is_a_400_naming_the_template_limit(api):
    response = api.post("/api/v1/prompts", {**SEED_PROMPT, "template": "x" * 1_048_576}, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "template_too_large"
    assert error["param"] == "template"
    assert str(MAX_TEMPLATE_CHARS) in error["message"]
    assert not Prompt.objects.exists()


def test_10000_variables_is_a_400(api):
    template = " ".join(f"{{v{i}}}" for i in range(10_000))

    response = api.post("/api/v1/prompts", {**SEED_PROMPT, "template": template}, format="json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "too_many_variables"
    assert str(MAX_VARIABLES) in error_of(response)["message"]


def test_rendering_with_10000_variables_ignores_the_extra_ones(api):
    prompt = create(api)
    variables = {f"v{i}": i for i in range(10_000)} | {"input": "fine"}

    response = api.post(f"/api/v1/prompts/{prompt['id']}/render", {"variables": variables}, format="json")

    assert response.status_code == 200
    assert response.json()["text"] == "Analyze the sentiment of this text: fine"


# --- render -----------------------------------------------------------------------------------------------


def test_render_defaults_to_production_then_latest_and_accepts_version_or_label(api):
    prompt = create(api)
    url = f"/api/v1/prompts/{prompt['id']}"
    api.post(f"{url}/versions", {"template": "v2: {input}", "labels": ["staging"]}, format="json")

    def render(**selector):
        return api.post(f"{url}/render", {"variables": {"input": "ok"}, **selector}, format="json").json()

    assert render() == {"version": 2, "kind": "text", "text": "v2: ok"}  # no production label: latest
    api.post(f"{url}/labels/production", {"version": 1}, format="json")
    assert render()["version"] == 1
    assert render(version=2)["text"] == "v2: ok"
    assert render(label="staging")["version"] == 2
    assert render(label="latest")["version"] == 2


def test_render_names_a_missing_variable(api):
    prompt = create(api)

    response = api.post(f"/api/v1/prompts/{prompt['id']}/render", {"variables": {}}, format="json")

    assert response.status_code == 400
    assert error_of(response) | {"message": None} == {
        "type": "validation_error",
        "message": None,
        "param": "variables.input",
        "code": "missing_variable",
    }


def test_render_checks_the_variables_schema(api):
    prompt = create(
        api,
        template="Give {count} answers about {input}",
        variables_schema={
            "type": "object",
            "properties": {"count": {"type": "integer", "default": 3}, "input": {"type": "string"}},
        },
    )
    url = f"/api/v1/prompts/{prompt['id']}/render"

    defaulted = api.post(url, {"variables": {"input": "cats"}}, format="json")
    wrong = api.post(url, {"variables": {"input": "cats", "count": "many"}}, format="json")

    assert defaulted.json()["text"] == "Give 3 answers about cats"
    assert wrong.status_code == 400 and error_of(wrong)["param"] == "variables.count"


def test_render_unknown_version_or_label_is_a_404_and_both_is_a_400(api):
    prompt = create(api)
    url = f"/api/v1/prompts/{prompt['id']}/render"
    assert api.post(url, {"version": 9}, format="json").status_code == 404
    assert api.post(url, {"label": "staging"}, format="json").status_code == 404
    both = api.post(url, {"version": 1, "label": "production"}, format="json")
    assert both.status_code == 400 and error_of(both)["param"] == "version"


def test_render_needs_only_the_read_scope_and_writes_need_write(api, project):
    prompt = create(api)
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_key(project=project, scopes=('read',), name='reader')}")

    rendered = reader.post(f"/api/v1/prompts/{prompt['id']}/render", {"variables": {"input": "x"}}, format="json")
    version = reader.post(f"/api/v1/prompts/{prompt['id']}/versions", {"template": "v2 {input}"}, format="json")
    label = reader.post(f"/api/v1/prompts/{prompt['id']}/labels/production", {"version": 1}, format="json")
    created = reader.post("/api/v1/prompts", {**SEED_PROMPT, "name": "other"}, format="json")

    assert rendered.status_code == 200
    assert (version.status_code, label.status_code, created.status_code) == (403, 403, 403)
    assert PromptVersion.objects.count() == 1


def test_requests_without_a_key_are_401(project):
    response = APIClient().get("/api/v1/prompts")
    assert response.status_code == 401


# --- one rendering budget per request ------------------------------------------------------------------


def timed_post(api: APIClient, url: str, body: dict):
    started = time.monotonic()
    response = api.post(url, body, format="json")
    return response, time.monotonic() - started


def test_rendering_a_100_message_chat_is_a_400_within_the_requests_budget(api):
    # Each message takes a tenth of a second: under any per-message limit, 10 s in all.
    prompt = create(
        api, kind="chat", template_format="jinja2", template="", messages=busy_messages(100, seconds_each=0.1)
    )

    response, elapsed = timed_post(api, f"/api/v1/prompts/{prompt['id']}/render", {"variables": {}})

    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["type"] == "validation_error" and error["code"] == "render_budget_exceeded"
    assert error["message"] == "templates took longer than the rendering budget of 2 s for this request"
    assert error["param"].startswith("messages[")
    assert response["X-Request-ID"]
    assert elapsed < 3


@override_settings(RENDER_BUDGET_SECONDS=0.5)
def test_the_request_budget_is_the_render_budget_seconds_setting(api):
    prompt = create(
        api, kind="chat", template_format="jinja2", template="", messages=busy_messages(20, seconds_each=0.1)
    )

    response, elapsed = timed_post(api, f"/api/v1/prompts/{prompt['id']}/render", {"variables": {}})

    assert response.status_code == 400
    assert error_of(response)["message"] == "templates took longer than the rendering budget of 0.5 s for this request"
    assert elapsed < 1.5


def test_a_version_whose_100_templates_take_too_long_to_parse_is_a_400_within_the_budget(api):
    messages = [{"role": "user", "content": slow_to_parse(10_000)} for _ in range(100)]

    response, elapsed = timed_post(
        api,
        "/api/v1/prompts",
        {**SEED_PROMPT, "kind": "chat", "template_format": "jinja2", "template": "", "messages": messages},
    )

    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] == "render_budget_exceeded" and error["param"].startswith("messages[")
    assert elapsed < 3
    assert not Prompt.objects.exists()


def test_a_quick_chat_still_renders_under_the_budget(api):
    prompt = create(
        api, kind="chat", template_format="jinja2", template="", messages=busy_messages(10, seconds_each=0.01)
    )

    response = api.post(f"/api/v1/prompts/{prompt['id']}/render", {"variables": {}}, format="json")

    assert response.status_code == 200
    assert [message["content"] for message in response.json()["messages"]] == [""] * 10
