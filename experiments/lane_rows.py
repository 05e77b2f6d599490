"""The rows a lane writes for a round of answers: cells with their scores, evaluation results, and
cache entries (experiments.lanes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evaluation.models import EvaluationResult
from experiments.cells import Status
from experiments.models import Experiment, ExperimentResult, ResponseCacheEntry

if TYPE_CHECKING:
    from experiments.lanes import Job

CLAIM_FIELDS = [
    "status", "run", "cache_key", "cached", "output", "cost", "attempts", "input_tokens", "output_tokens",
    "latency_ms", "updated_at",
]  # fmt: skip
SCORED_FIELDS = [
    "status", "output", "scores", "passed", "error_type", "error_message", "latency_ms", "input_tokens",
    "output_tokens", "cost", "attempts", "updated_at",
]  # fmt: skip


def scored_cell(job: Job, *, now) -> ExperimentResult:
    cell, scored = job.cell, job.scored
    if job.cached is None:
        run = job.item.run
        cell.output, cell.latency_ms, cell.cost, cell.attempts = run.output, run.latency_ms, run.cost, run.attempts
        cell.input_tokens, cell.output_tokens = run.input_tokens, run.output_tokens
    failure = scored.error
    cell.status = Status.FAILED if failure else Status.COMPLETED
    cell.error_type, cell.error_message = ("scorer_error", failure.error) if failure else ("", "")
    cell.scores, cell.passed, cell.updated_at = scored.scores, scored.passed, now
    return cell


def evaluation_results(experiment: Experiment, job: Job) -> list[EvaluationResult]:
    run = job.item.run if job.item is not None else None
    return [
        EvaluationResult(
            project_id=experiment.project_id,
            run=run,
            golden_example=job.golden,
            scorer=outcome.name,
            score=outcome.score,
            passed=outcome.passed,
            threshold=outcome.threshold,
            details=outcome.details,
            error=outcome.error,
        )
        for outcome in job.scored.outcomes
    ]


def cache_entry(job: Job) -> ResponseCacheEntry:
    run = job.item.run
    return ResponseCacheEntry(
        project_id=run.project_id,
        key=job.cell.cache_key,
        output=run.output,
        input_tokens=run.input_tokens,
        output_tokens=run.output_tokens,
        latency_ms=run.latency_ms,
        source_run=run,
    )
