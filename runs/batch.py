"""Runs started and recorded in batches, for callers that keep their own queue of work (experiments).

A batch caller claims its own rows, then asks for many runs at once: they are inserted already
``running`` at attempt 1, with their attempt history row and a lease, in the caller's transaction, so
a caller that dies after the commit leaves runs the sweeper takes back like any other (lease expired:
queued again while attempts remain). The caller makes the calls itself (``runs.calls.call_endpoint``,
inside the endpoint's semaphore) and records the answers in one transaction per batch.

Completed answers are written here in bulk: run, attempt and one cost log each, only for runs still
``running`` at the attempt that was claimed (a cancelled or taken-back run is not overwritten and not
billed). A failure goes to the run engine's own path (retry with backoff on the queue, or fail and
signal ``run_finished``), so retries, Retry-After and the sweeper behave as for any run. Completed
runs send no ``run_finished``: the caller records what follows from them in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import APIKey, Project
from runs import budgets, pricing
from runs.models import CostLog, ModelEndpoint, Run, RunAttempt
from runs.providers import Completion
from runs.sanitize import pg_text


@dataclass
class BatchRun:
    """One run of a batch: what to send, and (after the call) what came back."""

    version_id: object
    endpoint: ModelEndpoint
    variables: dict
    parameters: dict
    prompt: str
    messages: list | None
    max_attempts: int
    run: Run | None = None
    attempt: RunAttempt | None = None
    price: pricing.Price | None = None
    extra: dict = field(default_factory=dict)


class PriceBook:
    """Prices per endpoint, looked up once per batch caller instead of once per run."""

    def __init__(self) -> None:
        self._prices: dict[object, pricing.Price | None] = {}

    def price(self, endpoint: ModelEndpoint) -> pricing.Price | None:
        if endpoint.pk not in self._prices:
            self._prices[endpoint.pk] = pricing.price_for(endpoint=endpoint, model_id=endpoint.model_id)
        return self._prices[endpoint.pk]


def runs_batch_estimate(*, items: list[BatchRun], prices: PriceBook) -> Decimal | None:
    """What the batch reserves against budgets: the sum of the runs' estimates (None: a run has no price)."""
    total = Decimal(0)
    for item in items:
        item.price = prices.price(item.endpoint)
        max_tokens = item.parameters.get("max_tokens") or settings.RUN_ESTIMATE_MAX_TOKENS
        input_tokens = -(-len(item.prompt) // budgets.CHARS_PER_TOKEN)  # rounded up, as budgets.estimate_cost
        estimate = pricing.cost_of(input_tokens=input_tokens, output_tokens=int(max_tokens), price=item.price)
        item.extra["estimate"] = estimate
        if estimate is None:
            return None
        total += estimate
    return total


def runs_batch_start(
    *, project: Project, api_key: APIKey | None, items: list[BatchRun], lease_seconds: float, prices: PriceBook
) -> None:
    """Insert the batch's runs, claimed (running, attempt 1), with their attempt rows. Call inside the
    caller's transaction; raises BudgetExceeded (writing nothing) when the batch does not fit a budget."""
    estimate = runs_batch_estimate(items=items, prices=prices)
    budgets.budget_check(
        project=project, api_key=api_key, estimate=estimate, model_id=items[0].endpoint.model_id if items else ""
    )
    now = timezone.now()
    lease = now + timedelta(seconds=lease_seconds)
    runs = [
        Run(
            project=project,
            prompt_version_id=item.version_id,
            model_endpoint=item.endpoint,
            model_id=item.endpoint.model_id,
            status=Run.Status.RUNNING,
            variables=item.variables,
            parameters=item.parameters,
            rendered_prompt=item.prompt,
            rendered_messages=item.messages,
            max_attempts=item.max_attempts,
            attempts=1,
            task_id=str(uuid.uuid4()),
            api_key=api_key,
            estimated_cost=item.extra.get("estimate"),
            started_at=now,
            enqueued_at=now,
            lease_expires_at=lease,
        )
        for item in items
    ]
    Run.objects.bulk_create(runs)
    attempts = RunAttempt.objects.bulk_create([RunAttempt(run=run, number=1, started_at=now) for run in runs])
    for item, run, attempt in zip(items, runs, attempts, strict=True):
        item.run, item.attempt = run, attempt


def runs_batch_complete(*, answered: list[tuple[BatchRun, Completion]]) -> set:
    """Record answers in bulk: the run, its attempt and one cost log each. Call inside a transaction.
    Returns the ids of the runs written; an answer for a run that is no longer running at its attempt
    (cancelled, taken back by the sweeper) is marked discarded on its attempt, never billed."""
    if not answered:
        return set()
    now = timezone.now()
    ids = [item.run.pk for item, _ in answered]
    live = set(
        Run.objects.select_for_update()
        .filter(pk__in=ids, status=Run.Status.RUNNING, attempts=1)
        .values_list("pk", flat=True)
    )
    runs, attempts, logs = [], [], []
    for item, completion in answered:
        run, attempt = item.run, item.attempt
        cost = pricing.cost_of(
            input_tokens=completion.input_tokens, output_tokens=completion.output_tokens, price=item.price
        )
        usage = {
            "input_tokens": completion.input_tokens,
            "output_tokens": completion.output_tokens,
            "latency_ms": completion.latency_ms,
            "cost": cost,
        }
        if run.pk not in live:
            RunAttempt.objects.filter(
                pk=attempt.pk, outcome__in=(RunAttempt.Outcome.RUNNING, RunAttempt.Outcome.LEASE_EXPIRED)
            ).update(
                outcome=RunAttempt.Outcome.DISCARDED,
                finished_at=now,
                error_message="the answer came after the run was cancelled or taken back; it was not kept",
                **usage,
            )
            continue
        run.status, run.output = Run.Status.COMPLETED, pg_text(completion.text)
        run.finish_reason = pg_text(completion.finish_reason or "")[:32]
        run.input_tokens, run.output_tokens = completion.input_tokens, completion.output_tokens
        run.latency_ms, run.cost, run.finished_at, run.updated_at = completion.latency_ms, cost, now, now
        run.lease_expires_at = run.next_attempt_at = None
        runs.append(run)
        attempt.outcome, attempt.finished_at = RunAttempt.Outcome.COMPLETED, now
        for name, value in usage.items():
            setattr(attempt, name, value)
        attempts.append(attempt)
        logs.append(_cost_log(run=run, completion=completion, price=item.price, cost=cost))
    bulk_update_rows(runs, _RUN_FIELDS)
    bulk_update_rows(attempts, _ATTEMPT_FIELDS)
    CostLog.objects.bulk_create(logs)
    return {run.pk for run in runs}


_RUN_FIELDS = [
    "status", "output", "finish_reason", "input_tokens", "output_tokens", "latency_ms", "cost", "finished_at",
    "lease_expires_at", "next_attempt_at", "updated_at",
]  # fmt: skip
_ATTEMPT_FIELDS = ["outcome", "finished_at", "input_tokens", "output_tokens", "latency_ms", "cost"]


def bulk_update_rows(objects: list, fields: list[str]) -> None:
    """Each row's own values in one ``UPDATE ... FROM (VALUES ...)`` on PostgreSQL: Django's
    bulk_update builds a CASE per field and row, which costs more CPU than the rest of a batch."""
    if not objects:
        return
    model = type(objects[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objects, fields)
        return
    meta = model._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    quote = connection.ops.quote_name
    row = "(" + ", ".join(f"%s::{field.db_type(connection)}" for field in columns) + ")"
    params = [field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objects for field in columns]
    names = ", ".join(quote(field.column) for field in columns)
    assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in columns[1:])
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    # Names come from the model's own metadata, values are parameters.
    values = ", ".join([row] * len(objects))
    sql = f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v({names}) WHERE {table}.{pk} = v.{pk}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _cost_log(*, run: Run, completion: Completion, price: pricing.Price | None, cost: Decimal | None) -> CostLog:
    return CostLog(
        project_id=run.project_id,
        run_id=run.pk,
        purpose=CostLog.Purpose.RUN,
        api_key_id=run.api_key_id,
        model_endpoint=run.model_endpoint,
        model_id=run.model_id,
        input_tokens=completion.input_tokens or 0,
        output_tokens=completion.output_tokens or 0,
        input_price_per_million=price.input_per_million if price else None,
        output_price_per_million=price.output_per_million if price else None,
        cost=cost,
    )


def run_batch_failure(*, item: BatchRun, failure, latency_ms: int | None) -> str:
    """A failed call of a batch run goes to the run engine: retried later on the queue while attempts
    remain, else failed with ``run_finished`` sent. Returns retrying, failed or discarded."""
    from runs.services import fail_or_retry  # the run engine's one path for failed attempts

    with transaction.atomic():
        return fail_or_retry(item.run, attempt=1, failure=failure, latency_ms=latency_ms).outcome
