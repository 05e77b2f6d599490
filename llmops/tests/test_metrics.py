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


@pytest.fixture
def two_projects_with_data(tenant, other_tenant):
    """Project A (tenant) and project B (other_tenant), each with runs, spend and an experiment."""
    from django.utils import timezone

    from experiments.models import Experiment
    from experiments.tests.factories import ExperimentFactory

    now = timezone.now()
    for project, model, completed in (
        (tenant.project, "vendor/model-a", 1),
        (other_tenant.project, "vendor/model-b", 2),
    ):
        for _ in range(completed):
            run = RunFactory(
                prompt_version__prompt__project=project,
                status=Run.Status.COMPLETED,
                model_id=model,
                latency_ms=300,
                finished_at=now,
            )
            CostLogFactory(run=run, model_id=model, input_tokens=100, output_tokens=40, cost=Decimal("0.25"))
        ExperimentFactory(prompt__project=project, status=Experiment.Status.COMPLETED)
    return tenant, other_tenant


def test_a_project_admin_key_sees_only_its_own_projects_series(two_projects_with_data):
    tenant, other = two_projects_with_data
    tenant.client.get("/api/v1/project")  # a request, so the platform's latency histogram has a sample

    response = tenant.client.get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'llmops_runs{status="completed"} 1.0' in text
    assert 'llmops_experiments{status="completed"} 1.0' in text
    assert 'llmops_tokens_total{direction="input",model="vendor/model-a"} 100.0' in text
    assert 'llmops_cost_usd_total{model="vendor/model-a"} 0.25' in text
    assert 'llmops_model_latency_seconds{model="vendor/model-a",quantile="0.5"} 0.3' in text
    # Nothing of project B, and nothing that spans every project.
    assert "vendor/model-b" not in text
    assert str(other.project.pk) not in text and other.project.name not in text and other.project.slug not in text
    assert "llmops_queue_depth" not in text
    assert "llmops_http_request_duration_seconds" not in text

    other_view = other.client.get("/metrics").content.decode()
    assert 'llmops_runs{status="completed"} 2.0' in other_view
    assert "vendor/model-a" not in other_view


@override_settings(METRICS_TOKEN="scrape-secret-123")
def test_the_metrics_token_sees_every_project_and_the_platform_series(two_projects_with_data):
    tenant, _ = two_projects_with_data
    tenant.client.get("/api/v1/project")

    text = APIClient().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret-123").content.decode()
    assert 'llmops_runs{status="completed"} 3.0' in text
    assert 'llmops_experiments{status="completed"} 2.0' in text
    assert 'llmops_tokens_total{direction="input",model="vendor/model-a"} 100.0' in text
    assert 'llmops_tokens_total{direction="input",model="vendor/model-b"} 200.0' in text
    assert "llmops_queue_depth" in text
    assert 'llmops_http_request_duration_seconds_count{method="GET",route="api/v1/project",status="2xx"}' in text
