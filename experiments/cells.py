"""The cell state machine, in one place: ``pending -> running -> completed | failed | cancelled``, and
back to ``pending`` on resume.

Every transition is a conditional UPDATE from the state (and run) its writer saw, so a lane, a scoring
task, the sweeper, a cancel and a resume can race without counting a cell twice. Services call these
functions; nothing else writes ``ExperimentResult.status``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from experiments.models import ExperimentResult

Status = ExperimentResult.Status

# (from, to) pairs a cell may take, and the function that takes each.
TRANSITIONS: dict[tuple[str, str], str] = {
    (Status.PENDING, Status.RUNNING): "claim (experiments.lanes)",
    (Status.PENDING, Status.FAILED): "cells_fail: cannot start (render error, budget, endpoint gone)",
    (Status.PENDING, Status.CANCELLED): "cells_cancel",
    (Status.RUNNING, Status.COMPLETED): "cell_settle / the lane's record",
    (Status.RUNNING, Status.FAILED): "cell_settle / the lane's record",
    (Status.RUNNING, Status.CANCELLED): "cell_settle (run cancelled) / cells_cancel",
    (Status.FAILED, Status.PENDING): "cells_requeue (resume)",
    (Status.CANCELLED, Status.PENDING): "cells_requeue (resume)",
}
ACTIVE = (Status.PENDING, Status.RUNNING)

_RESET = {
    "run": None,
    "output": "",
    "scores": {},
    "passed": None,
    "error_type": "",
    "error_message": "",
    "cached": False,
    "cache_key": "",
    "latency_ms": None,
    "input_tokens": None,
    "output_tokens": None,
    "cost": None,
    "attempts": 0,
}


def transition_allowed(source: str, target: str) -> bool:
    return (source, target) in TRANSITIONS


def cell_settle(
    cell: ExperimentResult, *, status: str, error: tuple[str, str] = ("", ""), expected: str = Status.RUNNING, **fields
) -> bool:
    """One cell to a final state, only from the state, run and cache flag its writer saw: True if it happened."""
    assert transition_allowed(expected, status), (expected, status)
    error_type, message = error
    return bool(
        ExperimentResult.objects.filter(pk=cell.pk, status=expected, run_id=cell.run_id, cached=cell.cached).update(
            status=status,
            error_type=(error_type or "")[:64],
            error_message=message or "",
            updated_at=timezone.now(),
            **fields,
        )
    )


def cells_fail(failures: Iterable[tuple[ExperimentResult, tuple[str, str]]], *, expected: str = Status.PENDING) -> int:
    """Cells that could not start, each with its reason (error code, message)."""
    return sum(cell_settle(cell, status=Status.FAILED, error=error, expected=expected) for cell, error in failures)


def cells_cancel(cells: QuerySet[ExperimentResult]) -> int:
    return cells.filter(status__in=ACTIVE).update(
        status=Status.CANCELLED,
        error_type="cancelled",
        error_message="the experiment was cancelled",
        updated_at=timezone.now(),
    )


def cells_requeue(cells: QuerySet[ExperimentResult]) -> int:
    """Failed and cancelled cells back to pending with nothing of their last try (resume)."""
    fields: dict[str, Any] = {**_RESET, "updated_at": timezone.now()}
    return cells.filter(status__in=[Status.FAILED, Status.CANCELLED]).update(status=Status.PENDING, **fields)
