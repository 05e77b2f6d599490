from decimal import Decimal

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.tests.factories import issue_key
from runs.models import Run
from runs.tests.factories import CostLogFactory, RunFactory

pytestmark = pytest.mark.django_db


def test_metrics_are_not_public(tenant):
    assert APIClient().get("/metrics").status_code == 401
    reader = APIClient()
    reader.credentials(HTTP_X_API_KEY=issue_key(project=tenant.project, scopes=("read",)))
    assert reader.get("/metrics").status_code == 401


@override_settings(METRICS_TOKEN="scrape-secret-123")
def test_metrics_report_runs_tokens_cost_and_request_latency(api):
    from django.utils import timezone

    RunFactory(status=Run.Status.COMPLETED, model_id="m-1", latency_ms=200, finished_at=timezone.now())
    RunFactory(status=Run.Status.FAILED, model_id="m-1")
    CostLogFactory(model_id="m-1", input_tokens=100, output_tokens=40, cost=Decimal("0.25"))
    api.get("/api/v1/project")

    scraper = APIClient()
    response = scraper.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret-123")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'llmops_runs{status="completed"} 1.0' in text
    assert 'llmops_runs{status="failed"} 1.0' in text
    assert 'llmops_tokens_total{direction="input",model="m-1"} 100.0' in text
    assert 'llmops_cost_usd_total{model="m-1"} 0.25' in text
    assert 'llmops_model_latency_seconds{model="m-1",quantile="0.5"} 0.2' in text
    assert 'llmops_http_request_duration_seconds_count{method="GET",route="api/v1/project",status="2xx"}' in text
    assert "llmops_queue_depth" in text
    assert scraper.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert api.get("/metrics").status_code == 200  # the admin-scoped key of the tenant fixture
