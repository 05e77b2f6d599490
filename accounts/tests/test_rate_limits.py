"""Per-key limits against a real threaded server: concurrent requests, one Redis counter."""

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from accounts import services
from accounts.tests.factories import ProjectFactory


def _get(url: str, key: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"X-API-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


@pytest.mark.django_db(transaction=True)
def test_twice_the_limit_in_parallel_lets_exactly_the_limit_through(live_server):
    project = ProjectFactory()
    limited = services.api_key_create(project=project, name="limited", requests_per_minute=10).secret
    other = services.api_key_create(project=project, name="other", requests_per_minute=10).secret
    url = f"{live_server.url}/api/v1/project"

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda _: _get(url, limited), range(20)))

    statuses = sorted(status for status, _ in results)
    assert statuses.count(200) == 10 and statuses.count(429) == 10, statuses
    refused = next(headers for status, headers in results if status == 429)
    assert int(refused["Retry-After"]) >= 1
    assert refused["X-RateLimit-Limit"] == "10" and refused["X-RateLimit-Remaining"] == "0"
    assert _get(url, other)[0] == 200  # another key has its own counter


@pytest.mark.django_db
def test_rate_limit_headers_and_envelope(tenant):
    from accounts.models import APIKey

    APIKey.objects.filter(project=tenant.project).update(requests_per_minute=2)
    first = tenant.client.get("/api/v1/project")
    assert first["X-RateLimit-Limit"] == "2" and first["X-RateLimit-Remaining"] == "1"
    tenant.client.get("/api/v1/project")
    refused = tenant.client.get("/api/v1/project")
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "rate_limit"
    assert json.loads(refused.content)["request_id"] == refused["X-Request-ID"]
