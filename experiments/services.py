"""Writes of experiments: create, dispatch, score, cancel, resume, sweep.

An experiment is its cells: one ExperimentResult row per (golden x version x repeat), all written with
the experiment in one transaction, so an experiment is never half created and never loses a cell. A cell
moves ``pending -> running -> completed | failed | cancelled`` by conditional UPDATEs on the state its
writer expects: a re-delivered task, the sweeper and a cancel can race without counting a cell twice.

Dispatch keeps at most ``concurrency`` cells of an experiment in flight, and per model endpoint no more
than its ``max_concurrency``. It locks the experiment row for a moment (no model call inside), counts the
running cells, claims the next pending ones and creates their runs, which are published when the
transaction commits. Every model call is a Run, so retries, cost logs, the endpoint's semaphore across
workers, cancel and the runs sweeper all apply. When a run finishes, ``runs.signals.run_finished``
brings its cell to the scoring task (experiments.receivers), which scores it and dispatches again; the
dispatch that finds nothing pending or running completes the experiment.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import APIKey, Project
from evaluation.models import EvaluationResult, GoldenExample
from evaluation.selectors import goldens_for
from experiments import caching, selectors
from experiments.config import DEFAULT_CONCURRENCY, ExperimentConfig
from experiments.models import Experiment, ExperimentResult
from experiments.scoring import score_output, scorers_clean
from llmops import resilience
from llmops.errors import Conflict, DomainError, NotFound, ValidationFailed
from llmops.request_context import log_context
from prompts.models import Prompt, PromptVersion
from prompts.rendering import render_version, rendering_budget
from runs.models import ModelEndpoint, Run
from runs.providers import ProviderError
from runs.providers.base import normalize_parameters
from runs.selectors import model_endpoint_find, model_endpoint_usable
from runs.services import MAX_ATTEMPTS_LIMIT, run_cancel, run_create

logger = logging.getLogger(__name__)

MAX_REPEATS = 10
MAX_CONCURRENCY = 32
MAX_NAME_CHARS = 200
MAX_IDEMPOTENCY_KEY_CHARS = 200
CELL_BATCH = 1000
SWEEP_BATCH = 1000
# A finished run whose cell is still running this long after has lost its signal (or its task).
SWEEP_GRACE_SECONDS = 30
ZERO_COST = Decimal("0")

Status = ExperimentResult.Status


@dataclass(frozen=True)
class GoldenFilter:
    split: str | None = None
    tags: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()

    def as_json(self) -> dict:
        return {"split": self.split, "tags": list(self.tags), "ids": list(self.ids)}


@dataclass(frozen=True)
class DispatchReport:
    started: int = 0
    cached: int = 0
    failed: int = 0
    finished: bool = False


@dataclass(frozen=True)
class SweepReport:
    rescored: int = 0
    redispatched: int = 0


# -- create --------------------------------------------------------------------------------------------


def experiment_create(
    *,
    project: Project,
    prompt: Prompt,
    name: str,
    versions: list[int] | None = None,
    model_endpoint: ModelEndpoint | str | None = None,
    scorers: list | None = None,
    repeats: int = 1,
    concurrency: int = DEFAULT_CONCURRENCY,
    golden_filter: GoldenFilter | None = None,
    parameters: dict | None = None,
    cache: bool = False,
    max_attempts: int | None = None,
    api_key: APIKey | None = None,
    idempotency_key: str = "",
    request_hash: str = "",
) -> tuple[Experiment, bool]:
    """A pending experiment with every cell written, dispatched once the transaction commits; and
    whether it was created (False: the first experiment of a repeated Idempotency-Key)."""
    idempotency_key = _checked_idempotency_key(idempotency_key)
    if idempotency_key:
        replayed = selectors.experiment_replay(
            project=project, idempotency_key=idempotency_key, request_hash=request_hash
        )
        if replayed is not None:
            return replayed, False
    if prompt.project_id != project.pk:
        raise NotFound(f"prompt {prompt.pk} not found", param="prompt_id")
    name = _checked_name(name)
    repeats = _checked_int(repeats, param="repeats", low=1, high=MAX_REPEATS)
    concurrency = _checked_int(concurrency, param="concurrency", low=1, high=MAX_CONCURRENCY)
    if max_attempts is not None:
        max_attempts = _checked_int(max_attempts, param="max_attempts", low=1, high=MAX_ATTEMPTS_LIMIT)
    if parameters is not None and not isinstance(parameters, dict):
        raise ValidationFailed("parameters must be a JSON object", param="parameters")
    golden_filter = golden_filter or GoldenFilter()

    chosen = _versions_of(prompt=prompt, numbers=versions)
    cleaned_scorers = scorers_clean(scorers, project=project)
    endpoint = _explicit_endpoint(project=project, ref=model_endpoint)
    endpoints = {version.pk: endpoint or _version_endpoint(project=project, version=version) for version in chosen}
    for version in chosen:
        _check_parameters(endpoint=endpoints[version.pk], version=version, parameters=parameters)
    goldens = _goldens_of(project=project, prompt=prompt, golden_filter=golden_filter)
    total = len(goldens) * len(chosen) * repeats
    if total > settings.EXPERIMENT_MAX_CELLS:
        raise ValidationFailed(
            f"{len(goldens)} goldens x {len(chosen)} versions x {repeats} repeats is {total} cells, more than the "
            f"limit of {settings.EXPERIMENT_MAX_CELLS} cells per experiment (EXPERIMENT_MAX_CELLS)",
            code="too_many_cells",
            param="goldens",
        )
    _check_rendering(versions=chosen, golden=goldens[0])

    config = ExperimentConfig(
        versions=[version.version for version in chosen],
        scorers=cleaned_scorers,
        repeats=repeats,
        concurrency=concurrency,
        model_endpoint=endpoint.name if endpoint else None,
        cache=bool(cache),
        golden_filter=golden_filter.as_json(),
        parameters=dict(parameters or {}),
        max_attempts=max_attempts,
        endpoints={str(version_id): str(found.pk) for version_id, found in endpoints.items()},
    )
    experiment = Experiment(
        project=project,
        prompt=prompt,
        name=name,
        model_endpoint=endpoint,
        config=config.as_json(),
        total_cells=total,
        api_key=api_key,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
    try:
        with transaction.atomic():
            experiment.save(force_insert=True)
            experiment.versions.set(chosen)
            ExperimentResult.objects.bulk_create(_cells(experiment, goldens, chosen, repeats), batch_size=CELL_BATCH)
            _publish("dispatch", experiment.pk)
    except IntegrityError:
        # Two requests with one Idempotency-Key raced past the lookup: the unique constraint let one in.
        replayed = selectors.experiment_replay(
            project=project, idempotency_key=idempotency_key, request_hash=request_hash
        )
        if not idempotency_key or replayed is None:
            raise
        return replayed, False
    logger.info("experiment %s created with %s cells", experiment.pk, total)
    return experiment, True


def _cells(
    experiment: Experiment, goldens: list[GoldenExample], versions: list[PromptVersion], repeats: int
) -> list[ExperimentResult]:
    # Repeat, then golden, then version: both sides of a comparison are filled in together.
    cells, position = [], 0
    for repeat_index in range(repeats):
        for golden in goldens:
            for version in versions:
                cells.append(
                    ExperimentResult(
                        experiment=experiment,
                        prompt_version=version,
                        golden_example=golden,
                        repeat_index=repeat_index,
                        position=position,
                    )
                )
                position += 1
    return cells


def _checked_idempotency_key(key: str) -> str:
    key = (key or "").strip()
    if len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise ValidationFailed(
            f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY_CHARS} characters",
            code="invalid_idempotency_key",
            param="Idempotency-Key",
        )
    return key


def _checked_name(name: str) -> str:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        raise ValidationFailed("experiment_name is required", code="required", param="experiment_name")
    if len(name) > MAX_NAME_CHARS:
        raise ValidationFailed(f"experiment_name must be at most {MAX_NAME_CHARS} characters", param="experiment_name")
    return name


def _checked_int(value: Any, *, param: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(f"{param} must be an integer from {low} to {high}", param=param)
    return value


def _versions_of(*, prompt: Prompt, numbers: list[int] | None) -> list[PromptVersion]:
    available = {version.version: version for version in PromptVersion.objects.filter(prompt=prompt)}
    if not available:
        raise ValidationFailed(f"prompt '{prompt.name}' has no versions", code="no_versions", param="prompt_id")
    if numbers is None:
        return [available[number] for number in sorted(available)]
    if not isinstance(numbers, list) or not numbers:
        raise ValidationFailed("versions must be a non-empty list of version numbers", param="versions")
    missing = [n for n in numbers if isinstance(n, bool) or not isinstance(n, int) or n not in available]
    if missing:
        raise ValidationFailed(
            f"prompt '{prompt.name}' has no version {missing[0]}", code="unknown_version", param="versions"
        )
    return [available[number] for number in sorted(set(numbers))]


def _explicit_endpoint(*, project: Project, ref: ModelEndpoint | str | None) -> ModelEndpoint | None:
    if ref is None or ref == "":
        return None
    if isinstance(ref, ModelEndpoint):
        endpoint = ref if ref.project_id == project.pk else None
    else:
        endpoint = model_endpoint_find(project=project, ref=str(ref))
    return model_endpoint_usable(endpoint, label=str(ref))


def _version_endpoint(*, project: Project, version: PromptVersion) -> ModelEndpoint:
    label = (version.model_settings or {}).get("model_endpoint") or ""
    if not label:
        raise ValidationFailed(
            f"version {version.version} has no model endpoint: pass model_endpoint, or set "
            "model_settings.model_endpoint on the version",
            code="no_model_endpoint",
            param="model_endpoint",
        )
    return model_endpoint_usable(model_endpoint_find(project=project, ref=label), label=label)


def _check_parameters(*, endpoint: ModelEndpoint, version: PromptVersion, parameters: dict | None) -> None:
    try:
        normalize_parameters(caching.merged_parameters(endpoint=endpoint, version=version, parameters=parameters))
    except ProviderError as error:
        raise ValidationFailed(error.message, code="invalid_parameters", param="parameters") from None


def _goldens_of(*, project: Project, prompt: Prompt, golden_filter: GoldenFilter) -> list[GoldenExample]:
    tags = list(golden_filter.tags)
    goldens = goldens_for(
        project=project, prompt_id=prompt.pk, split=golden_filter.split, tag=tags[0] if tags else None
    )
    if golden_filter.ids:
        wanted = {str(golden_id) for golden_id in golden_filter.ids}
        goldens = goldens.filter(pk__in=wanted)
        found = {str(pk) for pk in goldens.values_list("pk", flat=True)}
        if wanted - found:
            missing = sorted(wanted - found)[0]
            raise ValidationFailed(
                f"golden example {missing} is not a golden example of prompt '{prompt.name}'",
                code="unknown_golden",
                param="goldens.ids",
            )
    selected = [golden for golden in goldens.select_related(None) if all(tag in (golden.tags or []) for tag in tags)]
    if not selected:
        matching = " matching the filter" if golden_filter != GoldenFilter() else ""
        raise ValidationFailed(
            f"prompt '{prompt.name}' has no golden examples{matching}: add some at /api/v1/golden-examples",
            code="no_goldens",
            param="goldens" if matching else "prompt_id",
        )
    return selected


def _check_rendering(*, versions: list[PromptVersion], golden: GoldenExample) -> None:
    """Render each version with one golden: a version that needs a variable the goldens lack is a 400
    now, not an experiment where every cell of that version fails."""
    for version in versions:
        try:
            render_version(version=version, variables=golden.input_data)
        except ValidationFailed as error:
            raise ValidationFailed(
                f"version {version.version} cannot be rendered with golden example {golden.pk}: {error.message}",
                code=error.code,
                param="versions",
            ) from None


# -- dispatch --------------------------------------------------------------------------------------------


def experiment_dispatch(*, experiment_id: uuid.UUID | str) -> DispatchReport:
    """Start pending cells up to the experiment's limits; complete the experiment when no cell is left."""
    with log_context(experiment_id=experiment_id), transaction.atomic():
        experiment = (
            Experiment.objects.select_for_update(of=("self",))
            .select_related("project", "api_key")
            .filter(pk=experiment_id)
            .first()
        )
        if experiment is None or not experiment.is_active:
            return DispatchReport()
        now = timezone.now()
        if experiment.status == Experiment.Status.PENDING:
            experiment.status, experiment.started_at = Experiment.Status.RUNNING, experiment.started_at or now
            Experiment.objects.filter(pk=experiment.pk).update(
                status=experiment.status, started_at=experiment.started_at, updated_at=now
            )
        counts = _status_counts(experiment)
        outcomes: Counter[str] = Counter()
        if counts[Status.PENDING]:
            outcomes = _start_cells(experiment, ExperimentConfig.of(experiment), running=counts[Status.RUNNING])
        finished = False
        if outcomes.total() == 0 or outcomes["failed"]:
            counts = _status_counts(experiment) if outcomes else counts
            if not counts[Status.PENDING] and not counts[Status.RUNNING]:
                _finish(experiment, counts, now=now)
                finished = True
    return DispatchReport(
        started=outcomes["started"], cached=outcomes["cached"], failed=outcomes["failed"], finished=finished
    )


def _status_counts(experiment: Experiment) -> Counter[str]:
    rows = ExperimentResult.objects.filter(experiment=experiment).values_list("status").annotate(n=Count("id"))
    return Counter(dict(rows.order_by()))


def _start_cells(experiment: Experiment, config: ExperimentConfig, *, running: int) -> Counter[str]:
    """Claim and start pending cells, in order, while the experiment and their endpoints have room."""
    endpoint_of = config.endpoints  # version id -> endpoint id
    endpoints = {str(pk): found for pk, found in ModelEndpoint.objects.in_bulk(set(endpoint_of.values())).items()}
    in_flight: Counter[str] = Counter()
    running_by_version = (
        ExperimentResult.objects.filter(experiment=experiment, status=Status.RUNNING)
        .values_list("prompt_version_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for version_id, n in running_by_version:
        in_flight[endpoint_of.get(str(version_id), "")] += n

    def full(endpoint_id: str) -> bool:
        if not endpoint_id:
            return False
        limit = endpoints[endpoint_id].max_concurrency if endpoint_id in endpoints else 1
        return in_flight[endpoint_id] >= limit

    outcomes: Counter[str] = Counter()
    free = config.concurrency - running
    while free > 0:
        blocked = [version_id for version_id, endpoint_id in endpoint_of.items() if full(endpoint_id)]
        batch = list(
            ExperimentResult.objects.filter(experiment=experiment, status=Status.PENDING)
            .exclude(prompt_version_id__in=blocked)
            .select_related("golden_example", "prompt_version__prompt")
            .order_by("position")[:free]
        )
        if not batch:
            break
        for cell in batch:
            endpoint_id = endpoint_of.get(str(cell.prompt_version_id), "")
            if free <= 0 or full(endpoint_id):
                continue
            endpoint = endpoints.get(endpoint_id)
            outcome = _cell_start(experiment, config, cell, endpoint_id=endpoint_id, endpoint=endpoint)
            outcomes[outcome] += 1
            if outcome in ("started", "cached"):
                in_flight[endpoint_id] += 1
                free -= 1
    return outcomes


def _cell_start(
    experiment: Experiment,
    config: ExperimentConfig,
    cell: ExperimentResult,
    *,
    endpoint_id: str,
    endpoint: ModelEndpoint | None,
) -> str:
    # The cache key and the run each render the cell's prompt: one budget covers both.
    with rendering_budget(scope="this experiment cell"):
        return _cell_launch(experiment, config, cell, endpoint_id=endpoint_id, endpoint=endpoint)


def _cell_launch(
    experiment: Experiment,
    config: ExperimentConfig,
    cell: ExperimentResult,
    *,
    endpoint_id: str,
    endpoint: ModelEndpoint | None,
) -> str:
    """pending -> running, then a run (or a cached answer); a cell that cannot start fails with the reason."""
    now = timezone.now()
    if not ExperimentResult.objects.filter(pk=cell.pk, status=Status.PENDING).update(
        status=Status.RUNNING, updated_at=now
    ):
        return "skipped"
    version, variables = cell.prompt_version, cell.golden_example.input_data
    try:
        if endpoint_id and endpoint is None:
            raise ValidationFailed("the experiment's model endpoint no longer exists", code="unknown_model_endpoint")
        key = ""
        if config.cache and endpoint is not None:
            key = caching.cache_key(
                endpoint=endpoint,
                version=version,
                variables=variables,
                parameters=config.parameters,
                repeat_index=cell.repeat_index,
            )
            entry = caching.cache_lookup(project=experiment.project, key=key)
            if entry is not None:
                ExperimentResult.objects.filter(pk=cell.pk).update(
                    cached=True,
                    cache_key=key,
                    output=entry.output,
                    input_tokens=entry.input_tokens,
                    output_tokens=entry.output_tokens,
                    latency_ms=entry.latency_ms,
                    cost=ZERO_COST,
                    attempts=0,
                    updated_at=now,
                )
                _publish("score_cell", cell.pk)
                return "cached"
        run, _ = run_create(
            project=experiment.project,
            version=version,
            variables=variables,
            model_endpoint=endpoint,
            parameters=config.parameters or None,
            max_attempts=config.max_attempts,
            api_key=experiment.api_key,
        )
    except DomainError as error:
        _cell_write(cell, expected_status=Status.RUNNING, status=Status.FAILED, error=(error.code, error.message))
        return "failed"
    ExperimentResult.objects.filter(pk=cell.pk).update(run=run, cache_key=key, updated_at=now)
    return "started"


def _finish(experiment: Experiment, counts: Counter[str], *, now: datetime) -> None:
    # Failed only when no cell completed: an experiment with a few failures still has an answer.
    total = sum(counts.values())
    status = Experiment.Status.COMPLETED if counts[Status.COMPLETED] or not total else Experiment.Status.FAILED
    Experiment.objects.filter(pk=experiment.pk, status__in=Experiment.ACTIVE).update(
        status=status, finished_at=now, updated_at=now
    )
    logger.info("experiment %s %s: %s", experiment.pk, status, dict(counts))
    from experiments.wandb_logging import resolve_mode

    if resolve_mode() is not None:
        _publish("log_to_wandb", experiment.pk)


# -- scoring -----------------------------------------------------------------------------------------------


def experiment_cell_score(*, cell_id: uuid.UUID | str) -> str:
    """Score a running cell whose run has finished (or whose answer came from the cache), write the
    result once, and dispatch more cells. Returns what happened: completed, failed, cancelled,
    waiting (its run is not finished), skipped (not running any more) or discarded (cancelled meanwhile)."""
    cell = (
        ExperimentResult.objects.select_related("experiment__project", "golden_example", "run")
        .filter(pk=cell_id)
        .first()
    )
    if cell is None:
        return "skipped"
    if cell.status != Status.RUNNING:
        # A second delivery (or a retry after the cell was written): make sure the experiment moves on.
        experiment_dispatch(experiment_id=cell.experiment_id)
        return "skipped"
    with log_context(experiment_id=cell.experiment_id):
        outcome = _cell_settle(cell)
        if outcome != "waiting":
            experiment_dispatch(experiment_id=cell.experiment_id)
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
            written = _cell_write(cell, status=Status.FAILED, error=("run_missing", "the cell's run no longer exists"))
            return "failed" if written else "discarded"
        if not run.is_terminal:
            return "waiting"
        fields = _run_fields(run)
        if run.status == Run.Status.FAILED:
            error = (run.error_type or "run_failed", run.error_message or "the model call failed")
            return "failed" if _cell_write(cell, status=Status.FAILED, error=error, **fields) else "discarded"
        if run.status == Run.Status.CANCELLED:
            error = ("run_cancelled", f"run {run.pk} was cancelled")
            return "cancelled" if _cell_write(cell, status=Status.CANCELLED, error=error, **fields) else "discarded"
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
        if not _cell_write(cell, status=status, error=error, scores=scored.scores, passed=scored.passed, **fields):
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


def _cell_write(
    cell: ExperimentResult,
    *,
    status: str,
    error: tuple[str, str] = ("", ""),
    expected_status: str = Status.RUNNING,
    **fields: Any,
) -> bool:
    """One transition of one cell, only from the state (and run) its writer saw: True if it happened."""
    error_type, message = error
    return bool(
        ExperimentResult.objects.filter(
            pk=cell.pk, status=expected_status, run_id=cell.run_id, cached=cell.cached
        ).update(
            status=status,
            error_type=(error_type or "")[:64],
            error_message=message or "",
            updated_at=timezone.now(),
            **fields,
        )
    )


# -- cancel, resume -------------------------------------------------------------------------------------------


@transaction.atomic
def experiment_cancel(*, experiment: Experiment) -> Experiment:
    """Pending cells are cancelled, runs in flight are cancelled, the experiment is cancelled; Conflict
    once it has finished. Completed cells keep their results."""
    locked = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if not locked.is_active:
        raise Conflict(
            f"experiment {locked.pk} is already {locked.status}; only pending or running experiments can be cancelled",
            code="experiment_not_cancellable",
            param="experiment_id",
        )
    now = timezone.now()
    cells = ExperimentResult.objects.filter(experiment=locked)
    in_flight = list(Run.objects.filter(pk__in=cells.filter(status=Status.RUNNING).values("run_id")))
    cells.filter(status__in=[Status.PENDING, Status.RUNNING]).update(
        status=Status.CANCELLED,
        error_type="cancelled",
        error_message="the experiment was cancelled",
        updated_at=now,
    )
    for run in in_flight:
        if not run.is_terminal:
            with suppress(Conflict):  # it finished meanwhile; its cell is cancelled already
                run_cancel(run=run)
    Experiment.objects.filter(pk=locked.pk).update(status=Experiment.Status.CANCELLED, finished_at=now, updated_at=now)
    locked.refresh_from_db()
    logger.info("experiment %s cancelled", locked.pk)
    return locked


@transaction.atomic
def experiment_resume(*, experiment: Experiment) -> Experiment:
    """Run again what has no result: failed and cancelled cells go back to pending (pending ones stay),
    completed cells are never run again. Conflict when every cell has completed."""
    locked = Experiment.objects.select_for_update().get(pk=experiment.pk)
    now = timezone.now()
    cells = ExperimentResult.objects.filter(experiment=locked)
    reset = cells.filter(status__in=[Status.FAILED, Status.CANCELLED]).update(
        status=Status.PENDING,
        run=None,
        output="",
        scores={},
        passed=None,
        error_type="",
        error_message="",
        cached=False,
        cache_key="",
        latency_ms=None,
        input_tokens=None,
        output_tokens=None,
        cost=None,
        attempts=0,
        updated_at=now,
    )
    if not reset and not cells.filter(status__in=[Status.PENDING, Status.RUNNING]).exists():
        raise Conflict(
            f"experiment {locked.pk} has nothing to resume: every cell has completed",
            code="nothing_to_resume",
            param="experiment_id",
        )
    if not locked.is_active:
        Experiment.objects.filter(pk=locked.pk).update(
            status=Experiment.Status.RUNNING, finished_at=None, error_message="", updated_at=now
        )
    _publish("dispatch", locked.pk)
    locked.refresh_from_db()
    logger.info("experiment %s resumed: %s cells to run again", locked.pk, reset)
    return locked


# -- the safety net ---------------------------------------------------------------------------------------------


def experiments_sweep(*, now: datetime | None = None) -> SweepReport:
    """Score cells whose run finished but whose signal (or task) was lost, and dispatch experiments that
    have nothing in flight (a lost dispatch, or a completion nobody wrote). Safe to run anywhere, any
    number of times at once: scoring and dispatching are idempotent."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=SWEEP_GRACE_SECONDS)
    lost = ExperimentResult.objects.filter(status=Status.RUNNING, experiment__status__in=Experiment.ACTIVE).filter(
        Q(run__status__in=Run.TERMINAL, run__finished_at__lt=cutoff)
        | Q(run__isnull=True, updated_at__lt=cutoff)  # a cached answer whose task was lost, or a deleted run
    )
    rescored = 0
    for cell_id in lost.values_list("pk", flat=True)[:SWEEP_BATCH]:
        _publish("score_cell", cell_id)
        rescored += 1
    idle = (
        Experiment.objects.filter(status__in=Experiment.ACTIVE)
        .annotate(in_flight=Count("results", filter=Q(results__status=Status.RUNNING)))
        .filter(in_flight=0)
    )
    redispatched = 0
    for experiment_id in idle.values_list("pk", flat=True)[:SWEEP_BATCH]:
        _publish("dispatch", experiment_id)
        redispatched += 1
    report = SweepReport(rescored=rescored, redispatched=redispatched)
    if rescored or redispatched:
        logger.info("experiments sweep: %s", report)
    return report


# -- W&B ----------------------------------------------------------------------------------------------------------


def experiment_wandb_log(*, experiment_id: uuid.UUID | str) -> str | None:
    """Log a finished experiment to Weights & Biases; the W&B run id, or None. Never raises: W&B being
    down or misconfigured must not touch the experiment."""
    from experiments.wandb_logging import log_experiment_to_wandb

    experiment = Experiment.objects.select_related("prompt").filter(pk=experiment_id).first()
    if experiment is None:
        return None
    with log_context(experiment_id=experiment.pk):
        try:
            run_id = log_experiment_to_wandb(report=selectors.experiment_report(experiment=experiment))
        except Exception:
            logger.exception("could not log experiment %s to Weights & Biases", experiment.pk)
            return None
        if run_id:
            logger.info("experiment %s logged to Weights & Biases as run %s", experiment.pk, run_id)
        return run_id


# -- publishing tasks -------------------------------------------------------------------------------------------


def publish_cell_scoring(*, cell_id: uuid.UUID | str) -> None:
    _publish("score_cell", cell_id)


def _publish(task: str, *args: object) -> None:
    """Publish an experiments task once the surrounding transaction commits (at once outside one).
    A failed publication is logged, not raised: the sweeper publishes lost work again."""
    arguments = [str(arg) for arg in args]

    def publish() -> None:
        from experiments import tasks  # the tasks module imports this one

        resilience.broker_publish(f"{task}{tuple(arguments)}", lambda: tasks.TASKS[task].apply_async(args=arguments))

    transaction.on_commit(publish)
