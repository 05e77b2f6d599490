"""Celery adapters: a run id in, a service call; the services own the state machine and retry timing.

Results are not stored (``ignore_result``): the run row is the record, and a run waiting for a full
endpoint is re-published many times under the same task id.

A lost database connection before the claim or at it is retried here: the claim is conditional and
transactional, so a retry of a delivery that had claimed the run finds it running and stops. After the
model call, the service itself retries the write of the result.
"""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task
from django.db import InterfaceError, OperationalError

from llmops.core.request_context import log_context
from runs import services

_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(name="runs.execute", ignore_result=True, **_RETRY)
def execute_run(run_id: str) -> str:
    with log_context(run_id=run_id):
        return services.run_execute(run_id=run_id).outcome


@shared_task(name="runs.sweep", ignore_result=True)
def sweep_runs() -> dict:
    return asdict(services.runs_sweep())
