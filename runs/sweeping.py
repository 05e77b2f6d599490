"""The sweeper: publish again queued runs whose message may be lost, and take back running runs whose
worker stopped reporting (re-queued while attempts remain, else failed)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from runs import transitions
from runs.creation import run_enqueue
from runs.execution import attempt_finish
from runs.models import Run, RunAttempt
from runs.signals import send_run_finished

logger = logging.getLogger(__name__)

SWEEP_BATCH = 1000


@dataclass(frozen=True)
class SweepReport:
    requeued_stuck: int = 0
    requeued_expired: int = 0
    failed_expired: int = 0


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
        same = transitions.running(run.pk, attempt=run.attempts, lease_expires_at=run.lease_expires_at)
        lost = f"the worker running attempt {run.attempts} of {run.max_attempts} stopped reporting (lease expired)"
        # The call may have reached the provider, and been billed, before the worker vanished.
        unkept = {"error_type": "lease_expired", "error_message": f"{lost}; its model call may have been billed"}
        with transaction.atomic():
            if run.attempts < run.max_attempts:
                if transitions.run_requeue(
                    same, now=moment, due_at=moment, error_type="lease_expired", error_message=lost
                ):
                    attempt_finish(run, run.attempts, outcome=RunAttempt.Outcome.LEASE_EXPIRED, now=moment, **unkept)
                    run_enqueue(run=run)
                    requeued_expired += 1
            elif transitions.run_fail(same, now=moment, error_type="lease_expired", error_message=lost):
                attempt_finish(run, run.attempts, outcome=RunAttempt.Outcome.LEASE_EXPIRED, now=moment, **unkept)
                send_run_finished(run_id=run.pk, status=Run.Status.FAILED)
                failed_expired += 1
    report = SweepReport(requeued_stuck, requeued_expired, failed_expired)
    if requeued_stuck or requeued_expired or failed_expired:
        logger.info("runs sweep: %s", report)
    return report
