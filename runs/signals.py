"""Signals of the execution engine, so apps to the right of runs (experiments) can follow runs
without runs importing them.

``run_finished`` is sent once per terminal transition (completed, failed, cancelled), after the
transaction that wrote it commits, with ``run_id`` and ``status``. Receivers run in the process that
made the transition (a worker, the sweeper, a web request cancelling): they must be quick (enqueue a
task, not do the work). A receiver that loses its database connection is called once more on a new
one; a receiver that raises is logged, never raised into the engine.
"""

from __future__ import annotations

import logging
import uuid

from django.db import InterfaceError, OperationalError, connection, transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

run_finished = Signal()


def send_run_finished(*, run_id: uuid.UUID | str, status: str) -> None:
    """Send ``run_finished`` once the surrounding transaction commits (at once outside one)."""

    def send() -> None:
        from runs.models import Run
        from runs.waiting import notify_finished

        notify_finished(run_id=run_id)  # first: a request waiting for this run answers at once
        for receiver, result in run_finished.send_robust(sender=Run, run_id=run_id, status=status):
            if isinstance(result, (OperationalError, InterfaceError)) and not connection.in_atomic_block:
                connection.close()  # lost since the run was written: the next query opens a new one
                try:
                    receiver(signal=run_finished, sender=Run, run_id=run_id, status=status)
                    continue
                except Exception as error:  # logged below, as send_robust does
                    result = error
            if isinstance(result, Exception):
                logger.error("run_finished receiver %r failed for run %s", receiver, run_id, exc_info=result)

    transaction.on_commit(send)
