"""Executing a run: claim it, call its model (within the endpoint's concurrency), and record the answer
or the failure, retrying or failing it. Transitions go through runs.transitions, so a worker, a second
copy of its message, the sweeper and a cancel can race without a run being claimed or billed twice;
transitions out of running match the attempt the worker claimed."""

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
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from runs import concurrency, pricing, transitions
from runs.backoff import retry_delay
from runs.billing import cost_log_write
from runs.calls import Failure, call_endpoint
from runs.creation import run_enqueue
from runs.models import ModelEndpoint, Run, RunAttempt
from runs.providers import Completion
from runs.sanitize import pg_text
from runs.signals import send_run_finished

logger = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2000
# A full endpoint is tried again after a short random pause, so waiting runs do not wake in lockstep.
THROTTLE_SECONDS = (0.05, 0.25)
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
class Claim:
    attempt: int
    lease_expires_at: datetime


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
        claim = claim_run(run, lease_seconds=lease_seconds)
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
        write = partial(complete_run, run, attempt=claim.attempt, completion=result, endpoint=endpoint)
    else:
        write = partial(fail_or_retry, run, attempt=claim.attempt, failure=result, latency_ms=latency_ms)
    return _write_result(write, run=run, claim=claim)


def claim_run(run: Run, *, lease_seconds: float) -> Claim | None:
    """Queued and due -> running, counting the attempt and opening its history row; None if another got it."""
    now = timezone.now()
    lease_expires_at = now + timedelta(seconds=lease_seconds)
    with transaction.atomic():
        if not transitions.run_claim(run.pk, now=now, lease_expires_at=lease_expires_at):
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


def attempt_finish(
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


def complete_run(run: Run, *, attempt: int, completion: Completion, endpoint: ModelEndpoint | None) -> Execution:
    price = pricing.price_for(endpoint=endpoint, model_id=run.model_id)
    cost = pricing.cost_of(input_tokens=completion.input_tokens, output_tokens=completion.output_tokens, price=price)
    now = timezone.now()
    # The run and its CostLog are written together or not at all; a run cancelled while the model
    # answered matches nothing here and is neither overwritten nor billed.
    with transaction.atomic():
        completed = transitions.run_complete(
            transitions.running(run.pk, attempt=attempt),
            now=now,
            output=pg_text(completion.text),
            finish_reason=pg_text(completion.finish_reason or "")[:32],
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
            latency_ms=completion.latency_ms,
            cost=cost,
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
            attempt_finish(
                run,
                attempt,
                outcome=RunAttempt.Outcome.DISCARDED,
                now=now,
                after=(RunAttempt.Outcome.RUNNING, RunAttempt.Outcome.LEASE_EXPIRED),
                error_message="the answer came after the run was cancelled or taken back; it was not kept",
                **usage,
            )
            return Execution("discarded")
        cost_log_write(
            project_id=run.project_id,
            api_key_id=run.api_key_id,
            endpoint=endpoint,
            model_id=run.model_id,
            completion=completion,
            price=price,
            cost=cost,
            run_id=run.pk,
        )
        attempt_finish(run, attempt, outcome=RunAttempt.Outcome.COMPLETED, now=now, **usage)
        send_run_finished(run_id=run.pk, status=Run.Status.COMPLETED)
    return Execution("completed")


def fail_or_retry(run: Run, *, attempt: int, failure: Failure, latency_ms: int | None = None) -> Execution:
    now = timezone.now()
    message = pg_text(f"{failure.message} (attempt {attempt} of {run.max_attempts})")[:MAX_ERROR_CHARS]
    error = {"error_type": failure.error_type, "error_message": message, "latency_ms": latency_ms}
    with transaction.atomic():
        if failure.retryable and attempt < run.max_attempts:
            delay = retry_delay(attempt=attempt, retry_after=failure.retry_after)
            # From running only: a run cancelled during the call stays cancelled.
            requeued = transitions.run_requeue(
                transitions.running(run.pk, attempt=attempt),
                now=now,
                due_at=now + timedelta(seconds=delay),
                error_type=failure.error_type,
                error_message=message,
            )
            outcome = RunAttempt.Outcome.RETRYING if requeued else RunAttempt.Outcome.FAILED
            attempt_finish(run, attempt, outcome=outcome, now=now, **error)
            if not requeued:
                return Execution("discarded")
            run_enqueue(run=run, countdown=delay)
            return Execution("retrying", delay)
        failed = transitions.run_fail(
            transitions.running(run.pk, attempt=attempt),
            now=now,
            error_type=failure.error_type,
            error_message=message,
        )
        attempt_finish(run, attempt, outcome=RunAttempt.Outcome.FAILED, now=now, **error)
        if failed:
            send_run_finished(run_id=run.pk, status=Run.Status.FAILED)
    return Execution("failed" if failed else "discarded")
