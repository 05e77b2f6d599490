"""Cost budgets per key and per project: refused before any model call, settled from CostLog."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts.models import APIKey, BudgetPeriod
from runs.budgets import estimate_cost, period_start
from runs.models import Run
from runs.tests.factories import CostLogFactory, RunFactory
from runs.tests.helpers import make_endpoint, make_version, wait_until

pytestmark = pytest.mark.django_db

# Prices of 1 USD per million tokens in and out make estimates easy to reason about:
# a 46-character prompt is 16 tokens, plus max_tokens 100 => 116 tokens => $0.000116.
PARAMS = {"max_tokens": 100}


@pytest.fixture
def priced(project, fake_openai):
    endpoint = make_endpoint(
        project,
        fake_openai.base_url,
        input_price_per_million=Decimal("1"),
        output_price_per_million=Decimal("1"),
        default_parameters=PARAMS,
    )
    return endpoint, make_version(project, endpoint=endpoint)


def _post(client, version):
    return client.post(
        "/api/v1/run", {"prompt_id": str(version.prompt_id), "variables": {"input": "I love this!"}}, format="json"
    )


def test_estimate_is_prompt_tokens_plus_max_tokens_at_list_price(priced):
    endpoint, _ = priced
    estimate = estimate_cost(endpoint=endpoint, model_id=endpoint.model_id, prompt_text="x" * 48, parameters=PARAMS)
    assert estimate == Decimal("0.000116000")


def test_key_budget_refuses_a_run_that_would_not_fit_before_any_model_call(tenant, priced, fake_openai):
    endpoint, version = priced
    APIKey.objects.filter(project=tenant.project).update(budget_usd=Decimal("0.000200"))
    first = _post(tenant.client, version)
    assert first.status_code == 202, first.content
    second = _post(tenant.client, version)  # the first is still queued: its estimate is reserved
    assert second.status_code == 402
    error = second.json()["error"]
    assert error["type"] == "budget_exceeded" and error["param"] == "api_key.budget_usd"
    assert "monthly budget of API key" in error["message"] and "of $0.00" in error["message"]
    assert Run.objects.filter(project=tenant.project).count() == 1
    assert fake_openai.calls(endpoint.model_id) == 0  # no worker here: nothing was called either way


def test_spend_is_settled_from_cost_logs_of_the_period(tenant, priced):
    _, version = priced
    tenant.project.budget_usd = Decimal("0.001")
    tenant.project.budget_period = BudgetPeriod.DAILY
    tenant.project.save()
    settled = RunFactory(prompt_version=version, status=Run.Status.COMPLETED)
    CostLogFactory(run=settled, cost=Decimal("0.000950"))
    refused = _post(tenant.client, version)
    assert refused.status_code == 402
    assert "daily budget of project" in refused.json()["error"]["message"]
    # Yesterday's spend does not count against today's budget.
    from runs.models import CostLog

    CostLog.objects.update(created_at=timezone.now() - timedelta(days=1, hours=1))
    assert _post(tenant.client, version).status_code == 202


def test_unknown_price_under_a_budget_is_refused_naming_the_model(tenant, project, fake_openai):
    endpoint = make_endpoint(project, fake_openai.base_url, input_price_per_million=None, output_price_per_million=None)
    version = make_version(project, endpoint=endpoint)
    APIKey.objects.filter(project=project).update(budget_usd=Decimal("5"))
    response = _post(tenant.client, version)
    assert response.status_code == 402
    assert f"model '{endpoint.model_id}' has no price" in response.json()["error"]["message"]


def test_no_budget_means_no_limit(tenant, priced):
    _, version = priced
    assert all(_post(tenant.client, version).status_code == 202 for _ in range(3))


def test_period_start_is_utc_midnight_or_first_of_month():
    now = timezone.now().replace(day=17, hour=13)
    assert period_start(BudgetPeriod.DAILY, now) == now.replace(hour=0, minute=0, second=0, microsecond=0)
    assert period_start(BudgetPeriod.MONTHLY, now).day == 1


def _post_http(url: str, key: str, body: dict) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"X-API-Key": key, "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_parallel_requests_never_overspend(live_server, project, priced):
    _, version = priced
    key = account_services.api_key_create(project=project, name="burst", budget_usd=Decimal("0.000250")).secret
    body = {"prompt_id": str(version.prompt_id), "variables": {"input": "I love this!"}}
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(lambda _: _post_http(f"{live_server.url}/api/v1/run", key, body), range(6)))
    assert sorted(statuses) == [202, 202, 402, 402, 402, 402], statuses
    # The accepted runs finish before the test database is flushed: a worker writing during the flush
    # deadlocks it.
    wait_until(
        lambda: not Run.objects.filter(project=project).exclude(status__in=Run.TERMINAL).exists(),
        timeout=30,
        what="the accepted runs to finish",
    )
