"""What a person does to a run: cancel it (queued or running) or retry a failed one as a new run."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone
from kombu.exceptions import KombuError

from llmops.core.errors import Conflict
from runs import transitions
from runs.creation import run_create
from runs.models import Run
from runs.signals import send_run_finished

logger = logging.getLogger(__name__)


def run_cancel(*, run: Run) -> Run:
    """Cancel a queued or running run; Conflict for a finished one. The task is revoked, best effort:
    a worker already calling the model finishes the call, and its result is thrown away."""
    cancelled = transitions.run_cancel(run.pk, now=timezone.now())
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
