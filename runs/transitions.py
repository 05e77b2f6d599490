"""The run state machine, in one place: ``queued -> running -> completed | failed | cancelled``, and
back to ``queued`` for a retry or when the sweeper takes a run back from a vanished worker.

Every transition is a conditional UPDATE from the state (and attempt, lease or due time) its writer
saw, so a worker, a second copy of its message, the sweeper and a cancel can race without a run being
claimed, billed or finished twice. Services call these functions. Runs are born ``queued`` by
``run_create``; an experiment lane's runs are born ``running`` at attempt 1 and completed in bulk by
``runs.batch``, under row locks and only from running at that attempt: the same running -> completed
edge, taken for many runs in one statement.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import DateTimeField, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from runs.models import Run

Status = Run.Status

# (from, to) pairs a run may take, and the function that takes each.
TRANSITIONS: dict[tuple[str, str], str] = {
    (Status.QUEUED, Status.RUNNING): "run_claim",
    (Status.QUEUED, Status.CANCELLED): "run_cancel",
    (Status.RUNNING, Status.COMPLETED): "run_complete",
    (Status.RUNNING, Status.QUEUED): "run_requeue (a retry; a lease expired with attempts left)",
    (Status.RUNNING, Status.FAILED): "run_fail (an error; a lease expired on the last attempt)",
    (Status.RUNNING, Status.CANCELLED): "run_cancel",
}
CANCELLABLE = (Status.QUEUED, Status.RUNNING)


def transition_allowed(source: str, target: str) -> bool:
    return (source, target) in TRANSITIONS


def running(run_id: Any, *, attempt: int, lease_expires_at: datetime | object | None = ...) -> QuerySet[Run]:
    """The run as its writer saw it: running at ``attempt`` (and, for the sweeper, with that lease)."""
    expected = Run.objects.filter(pk=run_id, status=Status.RUNNING, attempts=attempt)
    return expected if lease_expires_at is ... else expected.filter(lease_expires_at=lease_expires_at)


def run_claim(run_id: Any, *, now: datetime, lease_expires_at: datetime) -> bool:
    """Queued and due -> running, counting the attempt. False when another copy got it or it is not due."""
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return bool(
        Run.objects.filter(due, pk=run_id, status=Status.QUEUED).update(
            status=Status.RUNNING,
            attempts=F("attempts") + 1,
            lease_expires_at=lease_expires_at,
            started_at=Coalesce(F("started_at"), Value(now, output_field=DateTimeField())),
            updated_at=now,
        )
    )


def run_complete(expected: QuerySet[Run], *, now: datetime, **result: Any) -> bool:
    """Running -> completed with the call's result (output, tokens, latency, cost, finish reason)."""
    return bool(
        expected.filter(status=Status.RUNNING).update(
            status=Status.COMPLETED,
            error_type="",
            error_message="",
            finished_at=now,
            lease_expires_at=None,
            next_attempt_at=None,
            updated_at=now,
            **result,
        )
    )


def run_requeue(
    expected: QuerySet[Run], *, now: datetime, due_at: datetime, error_type: str, error_message: str
) -> bool:
    """Running -> queued for another attempt, due at ``due_at``; its last error stays visible."""
    return bool(
        expected.filter(status=Status.RUNNING).update(
            status=Status.QUEUED,
            next_attempt_at=due_at,
            enqueued_at=now,
            lease_expires_at=None,
            error_type=error_type,
            error_message=error_message,
            updated_at=now,
        )
    )


def run_fail(expected: QuerySet[Run], *, now: datetime, error_type: str, error_message: str) -> bool:
    """Running -> failed for good."""
    return bool(
        expected.filter(status=Status.RUNNING).update(
            status=Status.FAILED,
            error_type=error_type,
            error_message=error_message,
            finished_at=now,
            lease_expires_at=None,
            next_attempt_at=None,
            updated_at=now,
        )
    )


def run_cancel(run_id: Any, *, now: datetime) -> bool:
    """Queued or running -> cancelled. False for a run that has already finished."""
    return bool(
        Run.objects.filter(pk=run_id, status__in=CANCELLABLE).update(
            status=Status.CANCELLED, finished_at=now, lease_expires_at=None, next_attempt_at=None, updated_at=now
        )
    )
