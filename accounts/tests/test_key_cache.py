"""The per-process copy of API keys in front of the shared cache, and the one-round-trip rate limiter.

"Another process" is simulated by keeping this process's copy when a revocation happens elsewhere
(the revoking process clears only its own copy), or by forgetting this process's copies while the
shared cache keeps its entry.
"""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import keys, services
from accounts.models import APIKey
from accounts.tests.factories import ProjectFactory
from llmops.core import local_cache

pytestmark = pytest.mark.django_db

URL = "/api/v1/project"


def _client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def issued():
    return services.api_key_create(project=ProjectFactory(), name="cached")


def test_a_key_revoked_by_another_process_stops_at_once_although_this_process_holds_a_copy(
    issued, settings, monkeypatch
):
    settings.API_KEY_CACHE_SECONDS = 300  # so only the revocation marker can stop the local copy
    client = _client(issued.secret)
    assert client.get(URL).status_code == 200  # copied into this process

    # The revocation happens in another process: this process's copy stays.
    monkeypatch.setattr(services._local_keys, "delete", lambda key: None)
    services.api_key_revoke(api_key=APIKey.objects.get(pk=issued.api_key.pk))
    monkeypatch.undo()
    assert services._local_keys.get(issued.api_key.key_hash) is not None

    refused = client.get(URL)
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "API key has been revoked"
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert services._local_keys.get(issued.api_key.key_hash) is None  # and the copy is dropped


def test_a_copy_taken_from_the_shared_cache_expires_with_it(issued, settings, monkeypatch):
    """A key changed behind the platform's back (SQL) is seen within API_KEY_CACHE_SECONDS of the
    read from PostgreSQL, however many caches it went through."""
    settings.API_KEY_CACHE_SECONDS = 5
    client = _client(issued.secret)
    assert client.get(URL).status_code == 200  # read from PostgreSQL, stored in Redis and locally
    APIKey.objects.filter(pk=issued.api_key.pk).update(revoked_at=timezone.now())  # not through the service

    # Another process copies the shared entry 4 s later: its copy must last 1 s, not 5.
    local_cache.clear_all()
    read_at = time.time()
    monkeypatch.setattr(services.time, "time", lambda: read_at + 4)
    assert client.get(URL).status_code == 200  # the shared entry, as the bound allows
    monkeypatch.undo()

    later = time.monotonic() + 1.01
    monkeypatch.setattr(local_cache.time, "monotonic", lambda: later)
    assert services._local_keys.get(issued.api_key.key_hash) is None
    cache.delete(services._cache_key(issued.api_key.key_hash))  # the shared entry expired by then too
    assert client.get(URL).status_code == 401


def test_a_cached_key_is_served_without_the_database_or_a_cache_read(issued, settings):
    settings.API_KEY_CACHE_SECONDS = 300
    client = _client(issued.secret)
    assert client.get(URL).status_code == 200
    cache.delete(services._cache_key(issued.api_key.key_hash))  # not in Redis any more

    with CaptureQueriesContext(connection) as queries:
        api_key = services.api_key_authenticate(raw=issued.secret)
    assert api_key.pk == issued.api_key.pk and api_key.project.pk == issued.api_key.project.pk
    assert not [query for query in queries.captured_queries if "accounts_apikey" in query["sql"]]
    assert cache.get(services._cache_key(issued.api_key.key_hash)) is None  # nor re-read from Redis

    # Each request gets its own copy: a change to one is not seen by the next.
    api_key.name = "changed by a request"
    assert services.api_key_authenticate(raw=issued.secret).name == "cached"


def test_a_busy_key_records_its_last_use_once_not_on_every_request(issued, settings):
    settings.API_KEY_CACHE_SECONDS = 300
    client = _client(issued.secret)
    with CaptureQueriesContext(connection) as first:
        assert client.get(URL).status_code == 200
    with CaptureQueriesContext(connection) as later:
        for _ in range(3):
            assert client.get(URL).status_code == 200

    def last_used_writes(queries):
        return [q for q in queries.captured_queries if q["sql"].startswith("UPDATE") and "last_used_at" in q["sql"]]

    assert len(last_used_writes(first)) == 1
    assert last_used_writes(later) == []
    assert APIKey.objects.get(pk=issued.api_key.pk).last_used_at is not None


def test_no_caching_when_the_cache_time_is_zero(issued, settings):
    settings.API_KEY_CACHE_SECONDS = 0
    client = _client(issued.secret)
    assert client.get(URL).status_code == 200
    APIKey.objects.filter(pk=issued.api_key.pk).update(revoked_at=timezone.now())
    assert client.get(URL).status_code == 401
    assert services._local_keys.get(keys.hash_key(issued.secret)) is None


# --- The limiter: one round trip, same budgets and headers ------------------------------------------


def test_a_run_request_counts_both_budgets_and_a_refused_one_spends_no_run(settings):
    project = ProjectFactory()
    secret = services.api_key_create(project=project, name="runs", requests_per_minute=3, runs_per_minute=100).secret
    client = _client(secret)
    answers = [client.post("/api/v1/run", {}, format="json") for _ in range(4)]

    assert [answer.status_code for answer in answers[:3]] == [400, 400, 400]  # counted, then invalid
    assert [answer["X-RateLimit-Remaining"] for answer in answers[:3]] == ["2", "1", "0"]
    assert answers[3].status_code == 429
    assert answers[3]["X-RateLimit-Limit"] == "3"
    runs_counter = [key for key in _redis_keys() if f"apikey.runs:{APIKey.objects.get(project=project).pk}" in key]
    assert len(runs_counter) == 1
    assert int(cache.get(runs_counter[0].split(":", 2)[2])) == 3  # the refused request spent no run


def test_the_file_cache_of_the_quickstart_still_limits(settings, tmp_path):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}
    }
    secret = services.api_key_create(project=ProjectFactory(), name="file", requests_per_minute=2).secret
    client = _client(secret)
    assert [client.get(URL).status_code for _ in range(3)] == [200, 200, 429]


def _redis_keys() -> list[str]:
    client = cache._cache.get_client(write=True)
    prefix = cache.make_key("")
    return [key.decode() for key in client.scan_iter(match=f"{prefix}rl2:*")]
