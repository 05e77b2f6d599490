import pytest
from rest_framework.test import APIClient

from accounts import keys
from accounts.models import APIKey
from accounts.tests.factories import issue_key

pytestmark = pytest.mark.django_db


def test_create_shows_secret_once_then_only_the_prefix(api):
    created = api.post("/api/v1/api-keys", {"name": "ci", "scopes": ["read", "run"]}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert keys.is_well_formed(body["key"]) and body["key"].startswith(body["prefix"])
    assert body["scopes"] == ["read", "run"]

    listed = api.get("/api/v1/api-keys").json()
    assert body["id"] in [item["id"] for item in listed["results"]]
    assert all("key" not in item and "key_hash" not in item for item in listed["results"])
    assert "key" not in api.get(f"/api/v1/api-keys/{body['id']}").json()

    fresh = APIClient()
    fresh.credentials(HTTP_X_API_KEY=body["key"])
    assert fresh.get("/api/v1/project").status_code == 200


def test_read_only_fields_cannot_be_assigned(api, tenant):
    response = api.post(
        "/api/v1/api-keys",
        {"name": "sneaky", "prefix": "llmops_AAAAAAA", "revoked_at": "2020-01-01T00:00:00Z", "project": "x"},
        format="json",
    )
    assert response.status_code == 201
    row = APIKey.objects.get(pk=response.json()["id"])
    assert row.prefix != "llmops_AAAAAAA" and row.revoked_at is None and row.project == tenant.project


def test_revoked_key_stops_working_on_the_next_request(api, tenant):
    secret = api.post("/api/v1/api-keys", {"name": "temp"}, format="json").json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret['key']}")
    assert client.get("/api/v1/project").status_code == 200  # now cached
    assert api.post(f"/api/v1/api-keys/{secret['id']}/revoke").json()["revoked_at"] is not None
    assert client.get("/api/v1/project").status_code == 401


def test_managing_keys_needs_the_admin_scope(tenant):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=issue_key(project=tenant.project, scopes=("read", "write", "run")))
    assert client.get("/api/v1/api-keys").status_code == 403
    assert client.post("/api/v1/api-keys", {"name": "x"}, format="json").status_code == 403


def test_another_projects_key_is_invisible(api, other_tenant):
    foreign = APIKey.objects.filter(project=other_tenant.project).first()
    assert api.get(f"/api/v1/api-keys/{foreign.pk}").status_code == 404
    assert api.post(f"/api/v1/api-keys/{foreign.pk}/revoke").status_code == 404
    assert api.delete(f"/api/v1/api-keys/{foreign.pk}").status_code == 404
    foreign.refresh_from_db()
    assert foreign.revoked_at is None


def test_unknown_scope_is_a_400_naming_it(api):
    response = api.post("/api/v1/api-keys", {"name": "x", "scopes": ["read", "root"]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["param"].startswith("scopes")


def test_a_key_revoked_behind_the_cache_stops_within_the_documented_bound(api, settings):
    import time

    from django.utils import timezone

    settings.API_KEY_CACHE_SECONDS = 1
    secret = api.post("/api/v1/api-keys", {"name": "sql-revoked"}, format="json").json()
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret["key"])
    assert client.get("/api/v1/project").status_code == 200  # cached now
    APIKey.objects.filter(pk=secret["id"]).update(revoked_at=timezone.now())  # not through the service
    time.sleep(1.2)
    assert client.get("/api/v1/project").status_code == 401
