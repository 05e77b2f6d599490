"""Spend caps per API key and per project, checked before a run is created.

A run is refused when its estimate (prompt tokens x input price + max tokens x output price) is
more than what is left of a budget in the current period (UTC day or month). What is spent is
settled from CostLog; runs still queued or running count with their estimate, so a burst of
requests cannot overspend between the check and the bill. Checks for one project are serialised
by a row lock on the project, held only while the run row is inserted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import APIKey, BudgetPeriod, Project
from llmops.core.errors import DomainError
from runs import pricing
from runs.models import CostLog, ModelEndpoint, Run

# Without a tokenizer for every model, a prompt is estimated at one token per three characters:
# above the usual four for English, so estimates err towards refusing rather than overspending.
CHARS_PER_TOKEN = 3


class BudgetExceeded(DomainError):
    error_type = "budget_exceeded"
    default_code = "budget_exceeded"


@dataclass(frozen=True)
class Budget:
    owner: str  # "API key 'ci'" or "project 'demo'"
    limit: Decimal
    period: str
    spent_filter: Q
    in_flight_filter: Q
    param: str


def period_start(period: str, now: datetime) -> datetime:
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.replace(day=1) if period == BudgetPeriod.MONTHLY else start


def estimate_cost(*, endpoint: ModelEndpoint, model_id: str, prompt_text: str, parameters: dict) -> Decimal | None:
    price = pricing.price_for(endpoint=endpoint, model_id=model_id)
    max_tokens = parameters.get("max_tokens") or settings.RUN_ESTIMATE_MAX_TOKENS
    return pricing.cost_of(
        input_tokens=math.ceil(len(prompt_text) / CHARS_PER_TOKEN), output_tokens=int(max_tokens), price=price
    )


def budgets_for(*, project: Project, api_key: APIKey | None, now: datetime) -> list[Budget]:
    budgets = []
    if api_key is not None and api_key.budget_usd is not None:
        since = period_start(api_key.budget_period, now)
        budgets.append(
            Budget(
                owner=f"API key '{api_key.name}'",
                limit=Decimal(api_key.budget_usd),
                period=api_key.budget_period,
                spent_filter=Q(api_key=api_key, created_at__gte=since),
                in_flight_filter=Q(api_key=api_key, created_at__gte=since),
                param="api_key.budget_usd",
            )
        )
    if project.budget_usd is not None:
        since = period_start(project.budget_period, now)
        budgets.append(
            Budget(
                owner=f"project '{project.slug}'",
                limit=Decimal(project.budget_usd),
                period=project.budget_period,
                spent_filter=Q(project=project, created_at__gte=since),
                in_flight_filter=Q(project=project, created_at__gte=since),
                param="project.budget_usd",
            )
        )
    return budgets


def _used(budget: Budget) -> Decimal:
    settled = CostLog.objects.filter(budget.spent_filter).aggregate(total=Sum("cost"))["total"] or Decimal(0)
    pending = Run.objects.filter(budget.in_flight_filter, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]).aggregate(
        total=Sum("estimated_cost")
    )["total"] or Decimal(0)
    return settled + pending


def budget_check(*, project: Project, api_key: APIKey | None, estimate: Decimal | None, model_id: str) -> None:
    """Raise BudgetExceeded, naming the budget, when the run would not fit. Call inside the transaction
    that inserts the run: it locks the project row when a budget applies, until that commit."""
    # The key and project the request carries may come from the authentication cache: read the
    # budgets fresh. Only projects with a budget pay for the lock.
    key_budget = api_key is not None and APIKey.objects.filter(pk=api_key.pk, budget_usd__isnull=False).exists()
    if not key_budget and not Project.objects.filter(pk=project.pk, budget_usd__isnull=False).exists():
        return
    project = Project.objects.select_for_update().get(pk=project.pk)
    api_key = APIKey.objects.get(pk=api_key.pk) if api_key is not None else None
    for budget in budgets_for(project=project, api_key=api_key, now=timezone.now()):
        if estimate is None:
            raise BudgetExceeded(
                f"{budget.owner} has a {budget.period} budget, but model '{model_id}' has no price: "
                "set one on the model endpoint or in the price list",
                param=budget.param,
            )
        left = budget.limit - _used(budget)
        if estimate > left:
            raise BudgetExceeded(
                f"run estimated at ${estimate:.6f} exceeds what is left of the {budget.period} budget of "
                f"{budget.owner}: ${max(left, Decimal(0)):.6f} of ${budget.limit:.2f}",
                param=budget.param,
            )
