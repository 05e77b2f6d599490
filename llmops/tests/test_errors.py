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
