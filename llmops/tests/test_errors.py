import pytest

pytestmark = pytest.mark.django_db


def test_unknown_api_route_is_a_json_404(api):
    response = api.get("/api/v1/does-not-exist")
    assert response.status_code == 404
    body = response.json()
    assert body["error"]["type"] == "not_found"
    assert "/api/v1/does-not-exist" in body["error"]["message"]


def test_wrong_method_uses_the_envelope(api):
    response = api.delete("/api/v1/project")
    assert response.status_code == 405
    assert response.json()["error"]["type"] == "method_not_allowed"


def test_malformed_json_body_is_a_400_parse_error(tenant):
    response = tenant.client.generic("POST", "/api/v1/project", "{not json", content_type="application/json")
    # POST is not allowed there, but a malformed body on an allowed POST is reported before anything runs.
    assert response.status_code in (400, 405)
    assert response.json()["error"]["type"] in ("validation_error", "method_not_allowed")


UNKNOWN_API_PATHS = [
    "/api/v1/nope",
    "/api/v1/prompts/x/y/z",
    "/api/v1/prompts/",  # the routes have no trailing slash: the slashed form is unknown, not redirected
    "/api/v1/runs/",
    "/api/v1/golden-examples/",
    "/api/v1/prompts/not-a-uuid",
    "/api/v1/",
    "/api/v1",
    "/api/v2/prompts",
    "/api",
]


@pytest.mark.parametrize("method", ["get", "post", "put", "delete", "head", "options"])
def test_unknown_api_paths_are_a_json_404_with_debug_on_or_off(api, settings, method):
    for debug in (False, True):
        settings.DEBUG = debug
        for path in UNKNOWN_API_PATHS:
            response = getattr(api, method)(path)
            assert response.status_code == 404, (debug, path, response.status_code)
            assert response["Content-Type"] == "application/json", (debug, path, response["Content-Type"])
            if method != "head":
                body = response.json()
                assert body["error"] == {
                    "type": "not_found",
                    "message": f"no route matches {path}",
                    "param": None,
                    "code": "not_found",
                }
                assert body["request_id"] == response["X-Request-ID"]


def test_keyless_form_posts_and_wrong_methods_get_the_envelope_with_debug_on_or_off(client, api, settings):
    for debug in (False, True):
        settings.DEBUG = debug
        # A browser-style form post without a key: neither the CSRF page nor the HTML 404.
        response = client.post("/api/v1/nope", {"a": 1})
        assert response.status_code == 404 and response.json()["error"]["type"] == "not_found", debug
        for method, path in [("put", "/api/v1/project"), ("delete", "/api/v1/runs"), ("post", "/api/v1/experiments")]:
            response = getattr(api, method)(path)
            assert response.status_code == 405, (debug, path, response.status_code)
            error = response.json()["error"]
            assert error["type"] == "method_not_allowed" and error["code"] == "method_not_allowed"
        # Outside /api Django keeps its own answers: the slash redirect and an HTML 404.
        assert client.get("/admin").status_code == 301
        response = client.get("/nope")
        assert response.status_code == 404 and not response["Content-Type"].startswith("application/json")
