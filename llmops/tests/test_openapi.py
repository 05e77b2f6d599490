import pytest
from django.core.management import call_command
from rest_framework.test import APIClient


def test_schema_generates_without_warnings(tmp_path):
    # --fail-on-warn turns every drf-spectacular warning (unresolvable serializer, missing type) into an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3")


@pytest.mark.django_db
def test_schema_and_docs_are_served_with_the_api_key_schemes():
    client = APIClient()
    schema = client.get("/openapi.json")
    assert schema.status_code == 200
    document = schema.json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKeyBearer"] == {"type": "http", "scheme": "bearer"}
    assert schemes["ApiKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert "/api/v1/health" in document["paths"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content and b"cdn.jsdelivr" not in docs.content


@pytest.mark.django_db
def test_static_files_are_served_without_debug(client, settings, tmp_path):
    from django.core.management import call_command as run

    settings.STATIC_ROOT = tmp_path
    run("collectstatic", "--noinput", verbosity=0)
    assert not settings.DEBUG
    response = client.get("/static/admin/css/base.css")  # the client builds its handler now, seeing the files
    assert response.status_code == 200
    assert b"body" in b"".join(response.streaming_content)
