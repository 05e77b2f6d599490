"""Billing of model calls: the cost log every paid call writes (runs and judge calls), and the budget
check before a judge call. Budgets are settled from these rows."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import APIKey, Project
from runs import budgets, pricing
from runs.models import CostLog, ModelEndpoint
from runs.providers import Completion


def cost_log_write(
    *,
    project_id: Any,
    api_key_id: Any,
    endpoint: ModelEndpoint | None,
    model_id: str,
    completion: Completion,
    price: pricing.Price | None,
    cost: Any,
    run_id: Any = None,
    purpose: str = CostLog.Purpose.RUN,
) -> CostLog:
    return CostLog.objects.create(
        project_id=project_id,
        run_id=run_id,
        purpose=purpose,
        api_key_id=api_key_id,
        model_endpoint=endpoint,
        model_id=model_id,
        input_tokens=completion.input_tokens or 0,
        output_tokens=completion.output_tokens or 0,
        input_price_per_million=price.input_per_million if price else None,
        output_price_per_million=price.output_per_million if price else None,
        cost=cost,
    )


def judge_call_bill(
    *, project: Project, api_key: APIKey | None, endpoint: ModelEndpoint, completion: Completion
) -> CostLog:
    """Record what a judge call (not a run) cost, so it shows in spend, metrics and budgets."""
    price = pricing.price_for(endpoint=endpoint, model_id=endpoint.model_id)
    cost = pricing.cost_of(input_tokens=completion.input_tokens, output_tokens=completion.output_tokens, price=price)
    return cost_log_write(
        project_id=project.pk,
        api_key_id=api_key.pk if api_key is not None else None,
        endpoint=endpoint,
        model_id=endpoint.model_id,
        completion=completion,
        price=price,
        cost=cost,
        purpose=CostLog.Purpose.JUDGE,
    )


def judge_call_allow(
    *, project: Project, api_key: APIKey | None, endpoint: ModelEndpoint, prompt: str, parameters: dict
) -> None:
    """Refuse a judge call, before it is made, that a budget of the key or the project cannot pay for."""
    estimate = budgets.estimate_cost(
        endpoint=endpoint, model_id=endpoint.model_id, prompt_text=prompt, parameters=parameters
    )
    with transaction.atomic():
        budgets.budget_check(project=project, api_key=api_key, estimate=estimate, model_id=endpoint.model_id)
