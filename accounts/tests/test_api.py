"""API-key authentication and tenancy as a client sees them."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.models import APIKey
from accounts.tests.factories import ProjectFactory, issue_key

pytestmark = pytest.mark.django_db

URL = "/api/v1/project"


def test_bearer_and_x_api_key_headers_both_authenticate():
    project = ProjectFactory()
    key = issue_key(project=project)
    bearer = APIClient().get(URL, HTTP_AUTHORIZATION=f"Bearer {key}")
    header = APIClient().get(URL, HTTP_X_API_KEY=key)
    assert bearer.status_code == header.status_code == 200
    assert bearer.json()["id"] == str(project.id) == header.json()["id"]
    assert bearer.json()["key"]["prefix"] == key[:14]


def _assert_401(response, message_part):
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert body["error"]["type"] == "authentication_error"
    assert message_part in body["error"]["message"]
    assert body["request_id"] == response["X-Request-ID"]


def test_missing_key_is_401_with_www_authenticate():
    _assert_401(APIClient().get(URL), "credentials were not provided")


def test_wrong_malformed_revoked_and_expired_keys_are_401():
    project = ProjectFactory()
    _assert_401(APIClient().get(URL, HTTP_AUTHORIZATION="Bearer llmops_nope"), "malformed")
    _assert_401(APIClient().get(URL, HTTP_AUTHORIZATION="Basic abc"), "Bearer")
    from accounts.keys import generate_key

    _assert_401(APIClient().get(URL, HTTP_X_API_KEY=generate_key()), "invalid API key")

    revoked = services.api_key_create(project=project, name="old")
    services.api_key_revoke(api_key=revoked.api_key)
    _assert_401(APIClient().get(URL, HTTP_X_API_KEY=revoked.secret), "revoked")

    expired = services.api_key_create(project=project, name="exp", expires_at=timezone.now() + timedelta(hours=1))
    APIKey.objects.filter(pk=expired.api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    _assert_401(APIClient().get(URL, HTTP_X_API_KEY=expired.secret), "expired")


def test_key_without_scope_gets_403_naming_the_scope():
    key = issue_key(project=ProjectFactory(), scopes=("run",))
    response = APIClient().get(URL, HTTP_X_API_KEY=key)
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"
    assert "'read'" in response.json()["error"]["message"]
