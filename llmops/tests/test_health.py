import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)
def test_health_is_200_with_database_broker_and_a_worker(celery_worker):
    response = APIClient().get("/api/v1/health")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["components"]["database"]["ok"] and body["components"]["broker"]["ok"]
    assert body["components"]["workers"]["ok"], body["components"]["workers"]


def _health_in_subprocess(**env_overrides: str) -> dict:
    """Run the health check in a fresh process whose settings point at a dead service."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "llmops.settings_test", **env_overrides}
    code = (
        "import django, json; django.setup();"
        "from rest_framework.test import APIClient;"
        "r = APIClient().get('/api/v1/health');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_health_is_503_naming_the_database_when_it_is_down():
    result = _health_in_subprocess(DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere")
    assert result["status"] == 503
    assert result["body"]["failing"] == ["database"]
    assert result["body"]["components"]["broker"]["ok"]


def test_health_is_503_naming_the_broker_when_it_is_down():
    result = _health_in_subprocess(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
    assert result["status"] == 503
    assert "broker" in result["body"]["failing"]
    assert "workers" not in result["body"]["components"]


@pytest.mark.django_db
def test_health_without_worker_ping_needs_no_auth():
    response = APIClient().get("/api/v1/health?workers=false")
    assert response.status_code == 200
    assert "workers" not in response.json()["components"]
