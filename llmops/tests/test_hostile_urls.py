"""Text PostgreSQL cannot store (a NUL, invalid UTF-8, an encoded surrogate) in a URL or a header is a
400 before any view runs: the error envelope under /api/, a plain 400 page elsewhere; never a 500.

The API routes come from the URL resolver (every route, documented or not) and the query
parameters from the OpenAPI document, so a new route or filter is covered without editing this file.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter
from django.urls.resolvers import RoutePattern

pytestmark = pytest.mark.django_db

NUL = "a%00b"
# Percent-encoded bytes that are not UTF-8 text: a stray continuation byte, an overlong form, a
# UTF-16 surrogate encoded as UTF-8 (CESU), and a truncated sequence.
NOT_UTF8 = ("%FF", "%C0%AF", "%ED%A0%80", "caf%C3")

_CONVERTER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>[^)]*\)")


def _walk(patterns, parts=()):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, (*parts, entry.pattern))
        elif isinstance(entry, URLPattern):
            yield (*parts, entry.pattern), entry.callback


def _template(patterns) -> tuple[str, dict[str, str]]:
    """A route as "/api/v1/prompts/{prompt_id}/versions/{number}" and a valid value for each parameter."""
    template, valid = "", {}
    for pattern in patterns:
        text = str(pattern)
        if isinstance(pattern, RoutePattern):
            for match in _CONVERTER.finditer(text):
                converter = pattern.converters[match["name"]]
                valid[match["name"]] = "1" if isinstance(converter, IntConverter) else str(uuid.uuid4())
            text = _CONVERTER.sub(r"{\g<name>}", text)
        else:  # a router's regular expression; its groups are ids
            for match in _GROUP.finditer(text):
                valid[match["name"]] = str(uuid.uuid4())
            text = _GROUP.sub(r"{\g<name>}", text).lstrip("^").rstrip("$").replace("\\.", ".")
        template += text
    return "/" + template, valid


def _api_routes():
    for patterns, callback in _walk(get_resolver().url_patterns):
        view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        template, valid = _template(patterns)
        if template.startswith("/api/v1/") and view_class is not None:
            actions = getattr(callback, "actions", None)
            methods = (
                sorted(actions)
                if actions
                else [m for m in ("get", "post", "patch", "delete") if hasattr(view_class, m)]
            )
            yield template, valid, methods


API_ROUTES = list(_api_routes())
PATH_CASES = [
    (template, valid, name, method) for template, valid, methods in API_ROUTES for name in valid for method in methods
]


def _list_operations():
    """(path, query parameter names) of every GET in the OpenAPI document, path parameters filled in."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        if "get" not in operations:
            continue
        parameters = operations["get"].get("parameters", [])
        ints = {p["name"] for p in parameters if p["in"] == "path" and p["schema"].get("type") == "integer"}
        concrete = re.sub(r"\{(\w+)\}", lambda m, ints=ints: "1" if m[1] in ints else str(uuid.uuid4()), path)
        names = {p["name"] for p in parameters if p["in"] == "query"} | {"q"}
        yield concrete, sorted(names)


LIST_OPERATIONS = list(_list_operations())
QUERY_CASES = [(path, name) for path, names in LIST_OPERATIONS for name in names]
# The walk must keep finding every kind of parameter, or the tests below would pass vacuously.
assert {"name", "prompt_id", "number", "label", "task_id", "experiment_id", "pk"} <= {
    name for _, valid, _ in API_ROUTES for name in valid
}
assert len(PATH_CASES) >= 40 and len(QUERY_CASES) >= 70


def assert_envelope_400(response, *, param: str | None = None) -> dict:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    body = response.json()
    error = body["error"]
    assert error["type"] == "validation_error" and error["code"] == "invalid_characters", error
    assert body["request_id"] == response["X-Request-ID"]
    if param is not None:
        assert error["param"] == param, error
    return error


@pytest.mark.parametrize(
    ("template", "valid", "param", "method"),
    PATH_CASES,
    ids=[f"{method} {template} {name}" for template, _, name, method in PATH_CASES],
)
def test_nul_in_any_path_parameter_is_a_400(api, template, valid, param, method):
    response = getattr(api, method)(template.format(**{**valid, param: NUL}), {}, format="json")
    error = assert_envelope_400(response)
    # Named after the route's parameter when the route matches (a uuid or int one never does).
    assert error["param"] in (param, "path")
    assert "NUL" in error["message"]
    # Bytes that are not UTF-8 stay literal "%XX" text in Django's path: storable, so the view answers.
    for value in NOT_UTF8:
        response = getattr(api, method)(template.format(**{**valid, param: value}), {}, format="json")
        assert response.status_code < 500 and "error" in response.json(), (value, response.status_code)


@pytest.mark.parametrize(("path", "name"), QUERY_CASES, ids=[f"{p}?{n}" for p, n in QUERY_CASES])
def test_nul_in_any_query_value_of_a_get_route_is_a_400(api, path, name):
    error = assert_envelope_400(api.get(f"{path}?{name}={NUL}"), param=name)
    assert "NUL" in error["message"]


@pytest.mark.parametrize("value", NOT_UTF8)
def test_invalid_utf8_in_a_query_value_or_name_is_a_400(api, value):
    error = assert_envelope_400(api.get(f"/api/v1/prompts?tag={value}"), param="tag")
    assert "UTF-8" in error["message"]
    assert_envelope_400(api.get(f"/api/v1/prompts?limit=5&{value}=1"))
    # Ordinary text passes: non-ASCII, '+' for space, percent-encoded UTF-8, a stray '%'.
    assert api.get("/api/v1/prompts?tag=caf%C3%A9+au+lait&limit=5").status_code == 200
    assert api.get("/api/v1/prompts?tag=100%&x=%zz").status_code == 200
    assert api.get("/api/v1/prompts/by-name/caf%C3%A9").status_code == 404
    assert api.get("/api/v1/prompts/by-name/résumé").status_code == 404


def test_by_name_lookup_with_nul_names_the_parameter(api):
    error = assert_envelope_400(api.get("/api/v1/prompts/by-name/greet%00ing"), param="name")
    assert "NUL" in error["message"]
    assert_envelope_400(api.get("/api/v1/task-status/abc%00"), param="task_id")
    assert_envelope_400(api.get("/api/v1/prompts/not-a-uuid%00/versions"), param="path")


def test_the_guard_runs_before_authentication():
    from rest_framework.test import APIClient

    assert_envelope_400(APIClient().get("/api/v1/prompts?tag=a%00b"), param="tag")


@pytest.mark.parametrize(
    "header",
    ["HTTP_X_API_KEY", "HTTP_AUTHORIZATION", "HTTP_IDEMPOTENCY_KEY", "HTTP_X_REQUEST_ID", "HTTP_USER_AGENT"],
)
def test_nul_or_line_break_in_a_header_is_a_400(tenant, header):
    from rest_framework.test import APIClient

    for value in (f"{tenant.key}\x00", "abc\r\nSet-Cookie: x=1", "trace-12345678\n"):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {tenant.key}", header: value}
        response = APIClient().post("/api/v1/run", {}, format="json", **headers)
        error = assert_envelope_400(response)
        assert error["param"] == header[5:].replace("_", "-").title()
        assert len(response["X-Request-ID"]) == 32, "the caller's id is replaced, not echoed"
        assert "Set-Cookie" not in response


def test_a_request_id_with_a_trailing_line_break_is_replaced_not_echoed():
    from llmops.core.request_context import accept_request_id

    # "$" matches before a final newline: the id must match as a whole.
    accepted = accept_request_id("trace-1234-abcd\n")
    assert re.fullmatch(r"[0-9a-f]{32}", accepted)
    assert accept_request_id("trace-1234-abcd") == "trace-1234-abcd"


def test_admin_answers_hostile_urls_with_a_400_page(admin_client):
    for url in (
        "/admin/prompts/prompt/?tags=a%00b",  # a list filter reaching PostgreSQL
        "/admin/prompts/prompt/?q=a%00b",
        "/admin/runs/run/?q=%FF",
        "/admin/runs/run/?status=%ED%A0%80",
        "/admin/prompts/prompt/a%00b/change/",
        "/admin/accounts/apikey/?o=1%00",
        "/admin/login/?next=/admin/%00",
    ):
        response = admin_client.get(url)
        assert response.status_code == 400, (url, response.status_code)
        assert response["Content-Type"].startswith("text/html")
        assert b"Bad Request" in response.content


def test_other_pages_answer_hostile_urls_with_a_400(client):
    for url in ("/docs?x=%00", "/openapi.json?format=%ED%A0%80", "/metrics%00", "/admin/%00"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert not response["Content-Type"].startswith("application/json")


def test_middleware_is_early_in_the_stack():
    from django.conf import settings

    names = settings.MIDDLEWARE
    guard = "llmops.core.middleware.RequestTextGuardMiddleware"
    # After the request id (the envelope quotes it), before sessions, auth and every view.
    assert names.index("llmops.core.middleware.RequestIDMiddleware") < names.index(guard)
    assert names.index(guard) < names.index("django.contrib.sessions.middleware.SessionMiddleware")
