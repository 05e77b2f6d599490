import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import pytest
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.tests.factories import issue_key
from llmops.celery import app
from llmops.core.health import reset_worker_cache

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ping_spy():
    """Counts the real worker pings (a broadcast over the broker), whoever triggers them."""
    with mock.patch.object(app.control, "ping", wraps=app.control.ping) as spy:
        yield spy


def _client(key: str | None = None, *, address: str = "127.0.0.1") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.mark.django_db(transaction=True)
def test_health_shows_worker_names_and_latencies_to_an_admin_key_only(celery_worker, tenant):
    admin = _client(tenant.key).get("/api/v1/health")
    body = admin.json()
    assert admin.status_code == 200, body
    assert body["status"] == "ok"
    assert body["components"]["database"]["ok"] and body["components"]["broker"]["ok"]
    assert body["components"]["workers"]["ok"], body["components"]["workers"]
    assert celery_worker.hostname in body["components"]["workers"]["detail"]
    assert isinstance(body["components"]["workers"]["latency_ms"], int)

    anonymous = _client().get("/api/v1/health")
    assert anonymous.status_code == 200
    assert anonymous.json() == {"status": "ok"}
    assert celery_worker.hostname.encode() not in anonymous.content

    # A key without the admin scope is a caller like any other; a wrong key is refused, not ignored.
    reader = _client(issue_key(project=tenant.project, scopes=("read",))).get("/api/v1/health")
    assert reader.json() == {"status": "ok"}
    wrong = _client("sk-not-a-key").get("/api/v1/health")
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"].startswith("Bearer")
    assert wrong.json()["error"]["type"] == "authentication_error"


@pytest.mark.django_db(transaction=True)
@override_settings(METRICS_TOKEN="scrape-secret-123")
def test_health_shows_the_detail_to_the_metrics_token(celery_worker):
    response = _client("scrape-secret-123").get("/api/v1/health")
    assert celery_worker.hostname in response.json()["components"]["workers"]["detail"]


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_health_calls_pings_the_workers_once(celery_worker, ping_spy):
    for _ in range(20):
        response = _client().get("/api/v1/health")
        assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert ping_spy.call_count == 1

    # Another web process (an empty in-process copy) reuses the shared cache's answer.
    reset_worker_cache()
    assert _client().get("/api/v1/health").json() == {"status": "ok"}
    assert ping_spy.call_count == 1


@pytest.mark.django_db(transaction=True)
@override_settings(HEALTH_WORKERS_CACHE_SECONDS=0.5)
def test_the_worker_check_is_refreshed_once_the_cache_expires(celery_worker, ping_spy):
    _client().get("/api/v1/health")
    time.sleep(0.6)
    _client().get("/api/v1/health")
    assert ping_spy.call_count == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_health_calls_wait_for_one_ping_instead_of_each_pinging(celery_worker):
    real_ping = app.control.ping
    pings = []

    def slow_ping(*args, **kwargs):
        pings.append(1)
        time.sleep(0.3)  # keep the refresh in flight while the other callers arrive
        return real_ping(*args, **kwargs)

    start = threading.Barrier(8)
    answers = []

    def call() -> None:
        try:
            start.wait()
            response = _client().get("/api/v1/health")
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    with mock.patch.object(app.control, "ping", side_effect=slow_ping):
        threads = [threading.Thread(target=call) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert answers == [(200, {"status": "ok"})] * 8
    assert len(pings) == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def cache_down():
    """The Django cache (Redis) unreachable; the broker stays up."""
    dead = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_free_port()}/0",
        }
    }
    with override_settings(CACHES=dead):
        yield


@pytest.mark.django_db(transaction=True)
@override_settings(HEALTH_REQUESTS_PER_MINUTE=12)
def test_without_the_shared_cache_the_ping_is_cached_and_calls_are_limited_in_process(
    celery_worker, ping_spy, cache_down
):
    statuses = [_client().get("/api/v1/health").status_code for _ in range(13)]
    assert statuses == [200] * 12 + [429]
    assert ping_spy.call_count == 1


def _fresh_window(client: APIClient) -> None:
    """Start counting well inside a rate-limit window, so the test never straddles two."""
    probe = client.get("/api/v1/health?workers=false")
    if int(probe["X-RateLimit-Reset"]) < 5:
        time.sleep(int(probe["X-RateLimit-Reset"]) + 1)
        client.get("/api/v1/health?workers=false")


@pytest.mark.django_db
@override_settings(HEALTH_REQUESTS_PER_MINUTE=5)
def test_health_is_limited_per_client_address():
    client = _client(address="203.0.113.7")
    _fresh_window(client)  # the first of the five
    for _ in range(4):
        assert client.get("/api/v1/health?workers=false").status_code == 200
    limited = client.get("/api/v1/health?workers=false")
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "rate_limit"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited["X-RateLimit-Limit"] == "5" and limited["X-RateLimit-Remaining"] == "0"
    # Another address has its own budget.
    assert _client(address="203.0.113.8").get("/api/v1/health?workers=false").status_code == 200


@pytest.mark.django_db
@override_settings(HEALTH_REQUESTS_PER_MINUTE=3)
def test_a_forwarded_address_counts_only_when_the_operator_trusts_its_header():
    client = _client(address="10.0.0.2")
    _fresh_window(client)
    statuses = [
        client.get("/api/v1/health?workers=false", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code for n in range(3)
    ]
    assert statuses == [200, 200, 429]  # a spoofed header does not buy a new budget

    with override_settings(TRUSTED_CLIENT_IP_HEADER="X-Forwarded-For"):
        proxy = _client(address="10.0.0.3")
        for n in range(3):
            # The proxy appends the peer it saw; what the client wrote before is ignored.
            response = proxy.get("/api/v1/health?workers=false", HTTP_X_FORWARDED_FOR=f"1.1.1.1, 198.51.100.{n}")
            assert response.status_code == 200


def _health_in_subprocess(*, token: str | None = None, **env_overrides: str) -> dict:
    """Run the health check in a fresh process whose settings point at a dead service."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "llmops.settings_test",
        "METRICS_TOKEN": "platform-token-123",
        **env_overrides,
    }
    headers = f"HTTP_AUTHORIZATION='Bearer {token}'" if token else ""
    code = (
        "import django, json; django.setup();"
        "from rest_framework.test import APIClient;"
        f"r = APIClient().get('/api/v1/health', {headers});"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_health_is_503_naming_the_database_when_it_is_down():
    dead = {"DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere"}
    result = _health_in_subprocess(token="platform-token-123", **dead)
    assert result["status"] == 503
    assert result["body"]["failing"] == ["database"]
    assert result["body"]["components"]["broker"]["ok"]
    assert "127.0.0.1" in result["body"]["components"]["database"]["detail"]

    anonymous = _health_in_subprocess(**dead)
    assert anonymous == {"status": 503, "body": {"status": "unavailable", "failing": ["database"]}}


def test_health_is_degraded_not_503_when_only_the_broker_is_down():
    # The web tier still serves reads and accepts work (persisted, published later): a 503 here would
    # pull every web server out of a load balancer during a Redis outage.
    result = _health_in_subprocess(token="platform-token-123", CELERY_BROKER_URL="redis://127.0.0.1:1/0")
    assert result["status"] == 200
    assert (result["body"]["status"], result["body"]["degraded"]) == ("degraded", ["broker"])
    assert "failing" not in result["body"] and "workers" not in result["body"]["components"]

    anonymous = _health_in_subprocess(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
    assert anonymous == {"status": 200, "body": {"status": "degraded", "degraded": ["broker"]}}


@pytest.mark.django_db
def test_health_without_worker_ping_needs_no_auth(ping_spy):
    response = APIClient().get("/api/v1/health?workers=false")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert ping_spy.call_count == 0
    assert APIClient().get("/api/v1/health?workers=maybe").json()["error"]["param"] == "workers"


@pytest.mark.django_db
def test_health_schema_documents_the_limit_and_the_optional_detail():
    document = APIClient().get("/openapi.json").json()
    operation = document["paths"]["/api/v1/health"]["get"]
    assert {"200", "401", "429", "503"} <= set(operation["responses"])
    assert {} in operation["security"] and {"ApiKeyBearer": []} in operation["security"]
    health = document["components"]["schemas"]["Health"]
    assert health["required"] == ["status"]
