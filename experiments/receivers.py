"""Runs tell experiments that they finished (runs.signals.run_finished) without importing experiments."""

from __future__ import annotations

import uuid

from experiments.models import ExperimentResult
from experiments.publishing import publish_cell_scoring


def score_cell_of_finished_run(sender, *, run_id: uuid.UUID | str, status: str, **kwargs) -> None:
    """Enqueue the scoring of the cell this run belongs to, if any; the scoring task does the work."""
    cell_id = (
        ExperimentResult.objects.filter(run_id=run_id, status=ExperimentResult.Status.RUNNING)
        .values_list("pk", flat=True)
        .first()
    )
    if cell_id is not None:
        publish_cell_scoring(cell_id=cell_id)
