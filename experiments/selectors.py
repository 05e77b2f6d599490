"""Project-scoped reads of experiments, their progress, and the comparison report."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from django.db.models import Count, Q, QuerySet

from accounts.models import Project
from experiments.models import Experiment, ExperimentResult
from experiments.report import PROGRESS_STATUSES, build_report, progress_of
from llmops.core.errors import Conflict, NotFound, ValidationFailed
from llmops.core.ids import parse_uuid


def experiments_for(*, project: Project) -> QuerySet[Experiment]:
    """The project's experiments, newest first, with their cell counts by status (one query)."""
    counts = {f"cells_{status}": Count("results", filter=Q(results__status=status)) for status in PROGRESS_STATUSES}
    return (
        Experiment.objects.filter(project=project)
        .select_related("prompt", "model_endpoint")
        .annotate(**counts, cells_cached=Count("results", filter=Q(results__cached=True)))
        .order_by("-created_at")
    )


def experiments_filter(queryset: QuerySet[Experiment], *, params: Mapping[str, str]) -> QuerySet[Experiment]:
    """``?prompt=<id>&status=<status>[,<status>]``; a bad value (an empty one included) is a 400 naming it."""
    if (value := params.get("prompt")) is not None:
        prompt_id = parse_uuid(value)
        if prompt_id is None:
            raise ValidationFailed("prompt must be a prompt id (UUID)", param="prompt")
        queryset = queryset.filter(prompt_id=prompt_id)
    if (value := params.get("status")) is not None:
        statuses = [item.strip() for item in value.split(",") if item.strip()]
        if not statuses or any(item not in Experiment.Status.values for item in statuses):
            raise ValidationFailed(
                f"status must be one or more of {', '.join(Experiment.Status.values)}", param="status"
            )
        queryset = queryset.filter(status__in=statuses)
    return queryset


def experiment_get(*, project: Project, experiment_id: uuid.UUID | str) -> Experiment:
    found = parse_uuid(experiment_id)
    experiment = experiments_for(project=project).filter(pk=found).first() if found else None
    if experiment is None:
        raise NotFound(f"experiment {experiment_id} not found", param="experiment_id")
    return experiment


def experiment_replay(*, project: Project, idempotency_key: str, request_hash: str) -> Experiment | None:
    """The experiment an Idempotency-Key already names, if its request matches; Conflict if it does not."""
    if not idempotency_key:
        return None
    experiment = experiments_for(project=project).filter(idempotency_key=idempotency_key).first()
    if experiment is not None and experiment.request_hash != request_hash:
        raise Conflict(
            f"Idempotency-Key '{idempotency_key}' was already used with a different request",
            code="idempotency_key_reused",
            param="Idempotency-Key",
        )
    return experiment


def experiment_progress(*, experiment: Experiment) -> dict:
    """From the annotations of ``experiments_for`` when present, else one aggregate query."""
    if hasattr(experiment, "cells_pending"):
        counts = {status: getattr(experiment, f"cells_{status}") for status in PROGRESS_STATUSES}
        counts["cached"] = experiment.cells_cached
        return progress_of(counts)
    aggregates = ExperimentResult.objects.filter(experiment=experiment).aggregate(
        **{status: Count("id", filter=Q(status=status)) for status in PROGRESS_STATUSES},
        cached=Count("id", filter=Q(cached=True)),
    )
    return progress_of(aggregates)


def experiment_report(*, experiment: Experiment) -> dict:
    """The report of /experiment-results/{id}: progress, per-version summaries, paired comparisons,
    the per-example matrix and flaky examples. Three queries, whatever the number of cells."""
    experiment = Experiment.objects.select_related("prompt").get(pk=experiment.pk)
    versions = list(experiment.versions.order_by("version"))
    cells = list(
        ExperimentResult.objects.filter(experiment=experiment)
        .select_related("golden_example", "prompt_version")
        .only(
            "prompt_version_id",
            "prompt_version__id",
            "prompt_version__version",
            "golden_example_id",
            "golden_example__id",
            "golden_example__input_data",
            "golden_example__expected_output",
            "golden_example__created_at",
            "repeat_index",
            "status",
            "output",
            "scores",
            "passed",
            "error_type",
            "error_message",
            "cached",
            "latency_ms",
            "input_tokens",
            "output_tokens",
            "cost",
        )
        .order_by("golden_example__created_at", "golden_example_id", "prompt_version__version", "repeat_index")
    )
    return build_report(experiment=experiment, versions=versions, cells=cells)
