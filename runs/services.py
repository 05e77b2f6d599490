"""Writes of the execution engine: create, execute, cancel, retry and sweep runs; manage endpoints.

A run is a state machine in the database (queued -> running -> completed | failed | cancelled).
Every transition is a conditional UPDATE on the state its writer expects, so a worker, a second
worker, the sweeper and a cancel can race without row locks and without overwriting each other.
Transitions out of ``running`` also match the attempt number the worker claimed: a worker whose lease
expired, and whose run went to another worker, cannot write over its successor or bill twice.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import DateTimeField, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from kombu.exceptions import KombuError

from accounts.models import APIKey, Project
from llmops.core import resilience
from llmops.core.errors import Conflict, NotFound, ValidationFailed
from llmops.core.hashing import canonical_hash
from llmops.core.request_context import current_request_id
from prompts.models import PromptVersion
from prompts.rendering import render_version
from runs import budgets, concurrency, pricing, selectors
from runs.backoff import retry_delay
from runs.calls import Failure, call_endpoint
from runs.models import CostLog, ModelEndpoint, Run, RunAttempt
from runs.providers import Completion, ProviderError
from runs.providers.base import normalize_parameters
from runs.sanitize import pg_safe, pg_text
from runs.signals import send_run_finished

logger = logging.getLogger(__name__)

MAX_ATTEMPTS_LIMIT = 10
MAX_IDEMPOTENCY_KEY_CHARS = 200  # Run.idempotency_key
MAX_ERROR_CHARS = 2000
# A full endpoint is tried again after a short random pause, so waiting runs do not wake in lockstep.
THROTTLE_SECONDS = (0.05, 0.25)
SWEEP_BATCH = 1000
# A delayed message fires at its due time; a copy arriving earlier than this is a duplicate.
EARLY_SLACK_SECONDS = 0.01
# Pauses between tries of a result write through a lost database connection: first, longest.
RESULT_WRITE_PAUSES = (0.05, 2.0)
# A result write is not tried this close to the end of the run's lease: the sweeper may take the run back.
LEASE_MARGIN_SECONDS = 2.0


@dataclass(frozen=True)
class Execution:
    """What one delivery of a run's task did: completed, failed, retrying, throttled, early (a copy that
    came before the run's due time), skipped (not queued any more, or claimed by another worker),
    discarded (cancelled meanwhile) or unrecorded (the database stayed unreachable after the call)."""

    outcome: str
    delay: float | None = None


@dataclass(frozen=True)
class SweepReport:
    requeued_stuck: int = 0
    requeued_expired: int = 0
    failed_expired: int = 0


@dataclass(frozen=True)
class Claim:
    attempt: int
    lease_expires_at: datetime


# -- creating and enqueueing ---------------------------------------------------------------------------


def run_create(
    *,
    project: Project,
    version: PromptVersion,
    variables: dict,
    model_endpoint: ModelEndpoint | str | None = None,
    parameters: dict | None = None,
    max_attempts: int | None = None,
    api_key: APIKey | None = None,
    idempotency_key: str = "",
    request_id: str = "",
    request_hash: str = "",
    enqueue: bool = True,
) -> tuple[Run, bool]:
    """A queued run of ``version`` rendered with ``variables``, and whether it was created.

    With an ``idempotency_key`` already used in the project, the first run comes back (created False)
    when ``request_hash`` matches, else Conflict. ``request_hash`` defaults to a hash of the resolved
    request; the API passes the hash of the request body instead. The task is published only after
    the surrounding transaction commits."""
    idempotency_key = _checked_idempotency_key(idempotency_key)
    if idempotency_key and request_hash:
        replayed = selectors.run_replay(project=project, idempotency_key=idempotency_key, request_hash=request_hash)
        if replayed is not None:
            return replayed, False
    if version.prompt.project_id != project.pk:
        raise NotFound("prompt not found", param="prompt_id")
    attempts = _checked_max_attempts(max_attempts)
    if not isinstance(variables, dict):
        raise ValidationFailed("variables must be a JSON object", code="invalid", param="variables")
    variables = pg_safe(variables)
    endpoint = _endpoint_for(project=project, version=version, ref=model_endpoint)
    merged = _merged_parameters(endpoint=endpoint, version=version, parameters=parameters)
    rendered = render_version(version=version, variables=variables)
    request_hash = request_hash or canonical_hash(
        {"version": version.pk, "variables": variables, "endpoint": endpoint.pk, "parameters": merged, "max": attempts}
    )
    if idempotency_key:
        replayed = selectors.run_replay(project=project, idempotency_key=idempotency_key, request_hash=request_hash)
        if replayed is not None:
            return replayed, False

    run = Run(
        project=project,
        prompt_version=version,
        model_endpoint=endpoint,
        model_id=endpoint.model_id,
        status=Run.Status.QUEUED,
        variables=variables,
        parameters=merged,
        rendered_prompt=rendered.as_text(),
        rendered_messages=rendered.messages,
        max_attempts=attempts,
        task_id=str(uuid.uuid4()),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        request_id=request_id or current_request_id() or "",
        api_key=api_key,
        next_attempt_at=timezone.now(),
    )
    run.enqueued_at = run.next_attempt_at  # its message is published when the row commits
    run.estimated_cost = budgets.estimate_cost(
        endpoint=endpoint, model_id=endpoint.model_id, prompt_text=run.rendered_prompt, parameters=merged
    )
    try:
        with transaction.atomic():
            budgets.budget_check(
                project=project, api_key=api_key, estimate=run.estimated_cost, model_id=endpoint.model_id
            )
            run.save(force_insert=True)
    except IntegrityError:
        # Two requests with one Idempotency-Key raced past the lookup: the unique constraint let one in.
        replayed = selectors.run_replay(project=project, idempotency_key=idempotency_key, request_hash=request_hash)
        if replayed is None:
            raise
        return replayed, False
    if enqueue:
        run_enqueue(run=run)
    return run, True


def run_enqueue(*, run: Run, countdown: float | None = None) -> None:
    """Publish the run's task once the surrounding transaction commits (at once outside one).

    Every publication of a run reuses its task id, so the id a client holds stays valid across retries
    and one revoke reaches every copy. A failed publication is logged, not raised: the row is queued
    already and the sweeper publishes it again."""
    if not run.task_id:
        run.task_id = str(uuid.uuid4())
        Run.objects.filter(pk=run.pk, task_id="").update(task_id=run.task_id)
    run_id, task_id = str(run.pk), run.task_id
    transaction.on_commit(lambda: _publish(run_id=run_id, task_id=task_id, countdown=countdown))


def _publish(*, run_id: str, task_id: str, countdown: float | None) -> None:
    from runs.tasks import execute_run  # the tasks module imports this one

    sent = resilience.broker_publish(
        f"run {run_id}", lambda: execute_run.apply_async(args=[run_id], task_id=task_id, countdown=countdown)
    )
    if not sent:
        # Not handed to the broker (down, or failed a moment ago): the run stays queued, and the sweeper
        # publishes a queued run without enqueued_at once it is RUN_DUE_GRACE_SECONDS past due.
        try:
            Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(enqueued_at=None)
        except DatabaseError:
            logger.warning("could not mark run %s unpublished; the sweeper publishes it later", run_id)


def _checked_idempotency_key(key: str) -> str:
    key = (key or "").strip()
    if len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise ValidationFailed(
            f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY_CHARS} characters",
            code="invalid_idempotency_key",
            param="Idempotency-Key",
        )
    return key


def _checked_max_attempts(value: object) -> int:
    if value is None:
        return min(settings.RUN_MAX_ATTEMPTS, MAX_ATTEMPTS_LIMIT)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ATTEMPTS_LIMIT:
        raise ValidationFailed(
            f"max_attempts must be an integer from 1 to {MAX_ATTEMPTS_LIMIT}", code="invalid", param="max_attempts"
        )
    return value


def _endpoint_for(*, project: Project, version: PromptVersion, ref: ModelEndpoint | str | None) -> ModelEndpoint:
    """The named endpoint, else the version's ``model_settings.model_endpoint``, within the project."""
    if isinstance(ref, ModelEndpoint):
        label, endpoint = ref.name, (ref if ref.project_id == project.pk else None)
    elif ref:
        label, endpoint = str(ref), selectors.model_endpoint_find(project=project, ref=str(ref))
    else:
        label = (version.model_settings or {}).get("model_endpoint") or ""
        if label:
            endpoint = selectors.model_endpoint_find(project=project, ref=label)
        else:
            endpoint = selectors.model_endpoint_default(project=project)
            if endpoint is None:
                raise ValidationFailed(
                    "no model endpoint is configured: pass model_endpoint, set model_settings.model_endpoint "
                    "on the prompt version, or make one of the project's endpoints its default",
                    code="no_model_endpoint",
                    param="model_endpoint",
                )
            label = endpoint.name
    return selectors.model_endpoint_usable(endpoint, label=label)


def _merged_parameters(*, endpoint: ModelEndpoint, version: PromptVersion, parameters: dict | None) -> dict:
    """Endpoint defaults, overridden by the version's parameters, overridden by the request's."""
    if parameters is not None and not isinstance(parameters, dict):
        raise ValidationFailed("parameters must be a JSON object", code="invalid", param="parameters")
    from_version = (version.model_settings or {}).get("parameters") or {}
    merged = pg_safe({**(endpoint.default_parameters or {}), **from_version, **(parameters or {})})
    try:
        normalize_parameters(merged)
    except ProviderError as error:
        raise ValidationFailed(error.message, code="invalid_parameters", param="parameters") from None
    return merged


# -- executing (the worker's body) ---------------------------------------------------------------------


def run_execute(*, run_id: uuid.UUID | str) -> Execution:
    """Claim the run, call its model once, and record the result, a retry or the failure.

    No lock is held across the model call: the claim is a conditional UPDATE, and so is every write
    after the call. The endpoint's concurrency slot is held only around the call."""
    run = Run.objects.select_related("model_endpoint").filter(pk=run_id).first()
    if run is None or run.status != Run.Status.QUEUED:
        return Execution("skipped")
    early = (run.next_attempt_at - timezone.now()).total_seconds() if run.next_attempt_at else 0.0
    if early > EARLY_SLACK_SECONDS:
        # A copy (the sweeper's, a redelivery) while a backoff or throttle wait is pending. The message
        # published with that wait brings the run back, and the sweeper if that message is lost;
        # publishing this copy again would keep two messages circulating for the run from now on.
        return Execution("early", early)
    if early > 0:
        time.sleep(early)  # clock rounding between the due time and the message's countdown

    endpoint = run.model_endpoint
    lease_seconds = (endpoint.timeout_seconds if endpoint else 0) + settings.RUN_LEASE_SECONDS
    slot = (
        concurrency.endpoint_slot(endpoint_id=endpoint.pk, limit=endpoint.max_concurrency, lease_seconds=lease_seconds)
        if endpoint is not None
        else nullcontext(True)
    )
    with slot as acquired:
        if not acquired:
            return _throttle(run)
        claim = _claim(run, lease_seconds=lease_seconds)
        if claim is None:
            return Execution("skipped")
        started = time.monotonic()
        result = call_endpoint(
            endpoint,
            model_id=run.model_id,
            prompt=run.rendered_prompt,
            messages=run.rendered_messages,
            parameters=run.parameters,
        )
        latency_ms = int((time.monotonic() - started) * 1000)
    if isinstance(result, Completion):
        write = partial(_complete, run, attempt=claim.attempt, completion=result, endpoint=endpoint)
    else:
        write = partial(_fail_or_retry, run, attempt=claim.attempt, failure=result, latency_ms=latency_ms)
    return _write_result(write, run=run, claim=claim)


def _claim(run: Run, *, lease_seconds: float) -> Claim | None:
    """Queued and due -> running, counting the attempt and opening its history row; None if another got it."""
    now = timezone.now()
    lease_expires_at = now + timedelta(seconds=lease_seconds)
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    with transaction.atomic():
        claimed = Run.objects.filter(due, pk=run.pk, status=Run.Status.QUEUED).update(
            status=Run.Status.RUNNING,
            attempts=F("attempts") + 1,
            lease_expires_at=lease_expires_at,
            started_at=Coalesce(F("started_at"), Value(now, output_field=DateTimeField())),
            updated_at=now,
        )
        if not claimed:
            return None
        attempt = Run.objects.values_list("attempts", flat=True).get(pk=run.pk)
        RunAttempt.objects.create(run_id=run.pk, number=attempt, started_at=now)
    return Claim(attempt, lease_expires_at)


def _write_result(write: Callable[[], Execution], *, run: Run, claim: Claim) -> Execution:
    """Record what the call returned, trying again through lost database connections.

    The model has answered, and may have been paid: giving up here means calling it again once the
    lease expires. While the lease holds nobody else may take the run, and every write is conditional
    on this attempt, so trying again until shortly before the lease ends is safe."""
    give_up = min(
        claim.lease_expires_at - timedelta(seconds=LEASE_MARGIN_SECONDS),
        timezone.now() + timedelta(seconds=settings.RUN_RESULT_WRITE_SECONDS),
    )
    pause, tries = RESULT_WRITE_PAUSES[0], 0
    while True:
        try:
            return write()
        except (OperationalError, InterfaceError) as error:
            tries += 1
            if connection.in_atomic_block:
                raise  # the caller's transaction is lost with the connection; it must decide
            connection.close()  # the next query opens a new connection
            if timezone.now() + timedelta(seconds=pause) >= give_up:
                logger.error(
                    "could not record attempt %s of run %s after %s tries (%s); the sweeper takes the run "
                    "back when its lease expires",
                    claim.attempt,
                    run.pk,
                    tries,
                    error,
                )
                return Execution("unrecorded")
            logger.warning("recording attempt %s of run %s failed (%s); trying again", claim.attempt, run.pk, error)
            time.sleep(pause)
            pause = min(pause * 2, RESULT_WRITE_PAUSES[1])


def _attempt_finish(
    run: Run,
    attempt: int,
    *,
    outcome: str,
    now: datetime,
    after: tuple[str, ...] = (RunAttempt.Outcome.RUNNING,),
    **fields: Any,
) -> None:
    """Close the attempt's history row, only from the outcome(s) it is expected to have."""
    RunAttempt.objects.filter(run_id=run.pk, number=attempt, outcome__in=after).update(
        outcome=outcome, finished_at=now, **fields
    )


def _running(run: Run, attempt: int) -> QuerySet[Run]:
    return Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING, attempts=attempt)


def _throttle(run: Run) -> Execution:
    """The endpoint is at its limit: wait a moment without spending an attempt."""
    delay = random.uniform(*THROTTLE_SECONDS)  # noqa: S311 - jitter, not a secret
    now = timezone.now()
    # Only from the due time this copy saw: of two copies of one run waiting together, one goes on waiting.
    waiting = Run.objects.filter(pk=run.pk, status=Run.Status.QUEUED, next_attempt_at=run.next_attempt_at).update(
        next_attempt_at=now + timedelta(seconds=delay), enqueued_at=now, updated_at=now
    )
    if waiting:
        run_enqueue(run=run, countdown=delay)
    return Execution("throttled", delay)


def _complete(run: Run, *, attempt: int, completion: Completion, endpoint: ModelEndpoint | None) -> Execution:
    price = pricing.price_for(endpoint=endpoint, model_id=run.model_id)
    cost = pricing.cost_of(input_tokens=completion.input_tokens, output_tokens=completion.output_tokens, price=price)
    now = timezone.now()
    # The run and its CostLog are written together or not at all; a run cancelled while the model
    # answered matches nothing here and is neither overwritten nor billed.
    with transaction.atomic():
        completed = _running(run, attempt).update(
            status=Run.Status.COMPLETED,
            output=pg_text(completion.text),
            finish_reason=pg_text(completion.finish_reason or "")[:32],
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
            latency_ms=completion.latency_ms,
            cost=cost,
            error_type="",
            error_message="",
            finished_at=now,
            lease_expires_at=None,
            next_attempt_at=None,
            updated_at=now,
        )
        usage = {
            "input_tokens": completion.input_tokens,
            "output_tokens": completion.output_tokens,
            "latency_ms": completion.latency_ms,
            "cost": cost,
        }
        if not completed:
            if Run.objects.filter(pk=run.pk, status=Run.Status.COMPLETED, attempts=attempt).exists():
                # Written by an earlier try whose commit went through as its connection broke.
                send_run_finished(run_id=run.pk, status=Run.Status.COMPLETED)
                return Execution("completed")
            _attempt_finish(
                run,
                attempt,
                outcome=RunAttempt.Outcome.DISCARDED,
                now=now,
                after=(RunAttempt.Outcome.RUNNING, RunAttempt.Outcome.LEASE_EXPIRED),
                error_message="the answer came after the run was cancelled or taken back; it was not kept",
                **usage,
            )
            return Execution("discarded")
        _cost_log_write(
            project_id=run.project_id,
            api_key_id=run.api_key_id,
            endpoint=endpoint,
            model_id=run.model_id,
            completion=completion,
            price=price,
            cost=cost,
            run_id=run.pk,
        )
        _attempt_finish(run, attempt, outcome=RunAttempt.Outcome.COMPLETED, now=now, **usage)
        send_run_finished(run_id=run.pk, status=Run.Status.COMPLETED)
    return Execution("completed")


def _cost_log_write(
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
    return _cost_log_write(
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


def _fail_or_retry(run: Run, *, attempt: int, failure: Failure, latency_ms: int | None = None) -> Execution:
    now = timezone.now()
    message = pg_text(f"{failure.message} (attempt {attempt} of {run.max_attempts})")[:MAX_ERROR_CHARS]
    error = {"error_type": failure.error_type, "error_message": message, "latency_ms": latency_ms}
    with transaction.atomic():
        if failure.retryable and attempt < run.max_attempts:
            delay = retry_delay(attempt=attempt, retry_after=failure.retry_after)
            # From running only: a run cancelled during the call stays cancelled.
            requeued = _running(run, attempt).update(
                status=Run.Status.QUEUED,
                next_attempt_at=now + timedelta(seconds=delay),
                enqueued_at=now,
                lease_expires_at=None,
                error_type=failure.error_type,
                error_message=message,
                updated_at=now,
            )
            outcome = RunAttempt.Outcome.RETRYING if requeued else RunAttempt.Outcome.FAILED
            _attempt_finish(run, attempt, outcome=outcome, now=now, **error)
            if not requeued:
                return Execution("discarded")
            run_enqueue(run=run, countdown=delay)
            return Execution("retrying", delay)
        failed = _running(run, attempt).update(
            status=Run.Status.FAILED,
            error_type=failure.error_type,
            error_message=message,
            finished_at=now,
            lease_expires_at=None,
            next_attempt_at=None,
            updated_at=now,
        )
        _attempt_finish(run, attempt, outcome=RunAttempt.Outcome.FAILED, now=now, **error)
        if failed:
            send_run_finished(run_id=run.pk, status=Run.Status.FAILED)
    return Execution("failed" if failed else "discarded")


# -- cancel, retry, sweep ------------------------------------------------------------------------------


def run_cancel(*, run: Run) -> Run:
    """Cancel a queued or running run; Conflict for a finished one. The task is revoked, best effort:
    a worker already calling the model finishes the call, and its result is thrown away."""
    now = timezone.now()
    cancelled = Run.objects.filter(pk=run.pk, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]).update(
        status=Run.Status.CANCELLED, finished_at=now, lease_expires_at=None, next_attempt_at=None, updated_at=now
    )
    run.refresh_from_db()
    if not cancelled:
        raise Conflict(
            f"run {run.pk} is already {run.status}; only queued or running runs can be cancelled",
            code="run_not_cancellable",
            param="run_id",
        )
    send_run_finished(run_id=run.pk, status=Run.Status.CANCELLED)
    if run.task_id:
        task_id = run.task_id
        transaction.on_commit(lambda: _revoke(task_id))
    return run


def _revoke(task_id: str) -> None:
    from celery import current_app as app  # the platform's app: llmops/__init__.py makes it current

    try:
        app.control.revoke(task_id)
    except (KombuError, OSError):
        logger.warning("could not revoke task %s; its run is cancelled in the database anyway", task_id)


def run_retry(*, run: Run) -> Run:
    """A new run with the failed run's version, inputs, endpoint and parameters."""
    if run.status != Run.Status.FAILED:
        raise Conflict(f"run {run.pk} is {run.status}; only failed runs can be retried", code="run_not_failed")
    retried, _ = run_create(
        project=run.project,
        version=run.prompt_version,
        variables=run.variables,
        model_endpoint=run.model_endpoint,
        parameters=run.parameters,
        max_attempts=run.max_attempts,
        api_key=run.api_key,
    )
    return retried


def runs_sweep(*, now: datetime | None = None) -> SweepReport:
    """Publish again the queued runs whose message was lost, and take back runs whose worker vanished.

    A queued run overdue by RUN_DUE_GRACE_SECONDS is published again once: a delayed message (backoff,
    Retry-After, a full endpoint) lives in the worker that took it from the broker and dies with it.
    A run still queued after that is published again every RUN_STUCK_QUEUED_SECONDS.

    Safe to run anywhere and any number of times at once: each change is a conditional UPDATE, a run
    published twice is claimed once, and a copy that finds the run waiting again drops itself."""
    now = now or timezone.now()
    moment = min(now, timezone.now())  # times are never set in the future by a sweep
    grace_cutoff = now - timedelta(seconds=settings.RUN_DUE_GRACE_SECONDS)
    stuck_cutoff = now - timedelta(seconds=settings.RUN_STUCK_QUEUED_SECONDS)
    requeued_stuck = requeued_expired = failed_expired = 0

    overdue = Q(next_attempt_at__lt=grace_cutoff) | Q(next_attempt_at__isnull=True, created_at__lt=grace_cutoff)
    # Not published again since it fell due (nor known to be published at all), or not for a long time.
    unsent = Q(enqueued_at__isnull=True) | Q(enqueued_at__lte=F("next_attempt_at")) | Q(enqueued_at__lt=stuck_cutoff)
    stuck = Run.objects.filter(status=Run.Status.QUEUED).filter(overdue).filter(unsent)
    for run in stuck.only("pk", "task_id", "next_attempt_at", "enqueued_at")[:SWEEP_BATCH]:
        # Note the publication first, so the next sweep waits a full period before publishing again.
        bumped = Run.objects.filter(
            pk=run.pk, status=Run.Status.QUEUED, next_attempt_at=run.next_attempt_at, enqueued_at=run.enqueued_at
        ).update(enqueued_at=moment, updated_at=moment)
        if bumped:
            run_enqueue(run=run)
            requeued_stuck += 1

    expired = Run.objects.filter(status=Run.Status.RUNNING).filter(
        Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True)
    )
    for run in expired.only("pk", "task_id", "attempts", "max_attempts", "lease_expires_at")[:SWEEP_BATCH]:
        same = Run.objects.filter(
            pk=run.pk, status=Run.Status.RUNNING, attempts=run.attempts, lease_expires_at=run.lease_expires_at
        )
        lost = f"the worker running attempt {run.attempts} of {run.max_attempts} stopped reporting (lease expired)"
        # The call may have reached the provider, and been billed, before the worker vanished.
        unkept = {"error_type": "lease_expired", "error_message": f"{lost}; its model call may have been billed"}
        with transaction.atomic():
            if run.attempts < run.max_attempts:
                if same.update(
                    status=Run.Status.QUEUED,
                    next_attempt_at=moment,
                    enqueued_at=moment,
                    lease_expires_at=None,
                    error_type="lease_expired",
                    error_message=lost,
                    updated_at=moment,
                ):
                    _attempt_finish(run, run.attempts, outcome=RunAttempt.Outcome.LEASE_EXPIRED, now=moment, **unkept)
                    run_enqueue(run=run)
                    requeued_expired += 1
            elif same.update(
                status=Run.Status.FAILED,
                error_type="lease_expired",
                error_message=lost,
                finished_at=moment,
                lease_expires_at=None,
                next_attempt_at=None,
                updated_at=moment,
            ):
                _attempt_finish(run, run.attempts, outcome=RunAttempt.Outcome.LEASE_EXPIRED, now=moment, **unkept)
                send_run_finished(run_id=run.pk, status=Run.Status.FAILED)
                failed_expired += 1
    report = SweepReport(requeued_stuck, requeued_expired, failed_expired)
    if requeued_stuck or requeued_expired or failed_expired:
        logger.info("runs sweep: %s", report)
    return report
