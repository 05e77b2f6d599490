"""Scoring a cell whose answer came back through the run engine (a retried or failed run) or that
waits for a slow scorer (a judge, the semantic model), and completing an experiment once no cell is
left. Cheap scorers of answers a lane got are scored in the lane itself (experiments.lanes)."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from evaluation.models import EvaluationResult
from experiments import caching
from experiments.cells import Status, cell_settle
from experiments.config import ExperimentConfig
from experiments.models import Experiment, ExperimentResult
from experiments.publishing import publish
from experiments.scoring import score_output
from llmops.core.request_context import log_context
from runs.models import Run

logger = logging.getLogger(__name__)


def experiment_finish_if_done(*, experiment_id: uuid.UUID | str) -> bool:
    """Complete (or fail) an active experiment that has no pending or running cell; True if this call did.
    Whoever writes the last cell sees it committed, so some caller always gets here last."""
    counts = Counter(
        dict(
            ExperimentResult.objects.filter(experiment_id=experiment_id)
            .values_list("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
    )
    if counts[Status.PENDING] or counts[Status.RUNNING]:
        return False
    # Failed only when no cell completed: an experiment with a few failures still has an answer.
    total = sum(counts.values())
    status = Experiment.Status.COMPLETED if counts[Status.COMPLETED] or not total else Experiment.Status.FAILED
    now = timezone.now()
    finished = Experiment.objects.filter(pk=experiment_id, status__in=Experiment.ACTIVE).update(
        status=status, finished_at=now, updated_at=now
    )
    if not finished:
        return False
    logger.info("experiment %s %s: %s", experiment_id, status, dict(counts))
    from experiments.wandb_logging import resolve_mode

    if resolve_mode() is not None:
        publish("log_to_wandb", experiment_id)
    return True


def experiment_cell_score(*, cell_id: uuid.UUID | str) -> str:
    """Score a running cell whose run has finished (or whose answer came from the cache), write the
    result once, and complete the experiment if that was its last cell. Returns what happened: completed,
    failed, cancelled, waiting (its run is not finished), skipped (not running any more) or discarded
    (cancelled meanwhile)."""
    cell = (
        ExperimentResult.objects.select_related("experiment__project", "experiment__api_key", "golden_example", "run")
        .filter(pk=cell_id)
        .first()
    )
    if cell is None:
        return "skipped"
    if cell.status != Status.RUNNING:
        # A second delivery (or a retry after the cell was written): make sure the experiment moves on.
        experiment_finish_if_done(experiment_id=cell.experiment_id)
        return "skipped"
    with log_context(experiment_id=cell.experiment_id):
        outcome = _cell_settle(cell)
        if outcome != "waiting":
            experiment_finish_if_done(experiment_id=cell.experiment_id)
    return outcome


def _run_fields(run: Run) -> dict:
    return {
        "output": run.output,
        "latency_ms": run.latency_ms,
        "input_tokens": run.input_tokens,
        "output_tokens": run.output_tokens,
        "cost": run.cost,
        "attempts": run.attempts,
    }


def _cell_settle(cell: ExperimentResult) -> str:
    experiment, run, golden = cell.experiment, cell.run, cell.golden_example
    config = ExperimentConfig.of(experiment)
    fields: dict[str, Any] = {}
    if not cell.cached:
        if run is None:
            written = cell_settle(cell, status=Status.FAILED, error=("run_missing", "the cell's run no longer exists"))
            return "failed" if written else "discarded"
        if not run.is_terminal:
            return "waiting"
        fields = _run_fields(run)
        if run.status == Run.Status.FAILED:
            error = (run.error_type or "run_failed", run.error_message or "the model call failed")
            return "failed" if cell_settle(cell, status=Status.FAILED, error=error, **fields) else "discarded"
        if run.status == Run.Status.CANCELLED:
            error = ("run_cancelled", f"run {run.pk} was cancelled")
            return "cancelled" if cell_settle(cell, status=Status.CANCELLED, error=error, **fields) else "discarded"
    output = run.output if run is not None and not cell.cached else cell.output
    # The slow part (a judge model, a semantic model) runs outside any transaction and lock.
    scored = score_output(
        project=experiment.project,
        scorers=config.scorers,
        output=output,
        expected=golden.expected_output,
        inputs=golden.input_data,
        api_key=experiment.api_key,
    )
    failure = scored.error
    status = Status.FAILED if failure else Status.COMPLETED
    error = ("scorer_error", failure.error) if failure else ("", "")
    with transaction.atomic():
        if not cell_settle(cell, status=status, error=error, scores=scored.scores, passed=scored.passed, **fields):
            return "discarded"
        EvaluationResult.objects.bulk_create(
            EvaluationResult(
                project_id=experiment.project_id,
                run=None if cell.cached else run,
                golden_example=golden,
                scorer=outcome.name,
                score=outcome.score,
                passed=outcome.passed,
                threshold=outcome.threshold,
                details=outcome.details,
                error=outcome.error,
            )
            for outcome in scored.outcomes
        )
        if config.cache and not cell.cached and run is not None:
            caching.cache_store(cell=cell, run=run)
    return "failed" if failure else "completed"
