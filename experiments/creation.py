"""Creating an experiment: every check that can fail is made before anything is written, then the
experiment and all its cells are written in one transaction, so an experiment is never half created and
never loses a cell. Its lanes are published when that transaction commits (experiments.lifecycle)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import APIKey, Project
from evaluation.models import GoldenExample
from evaluation.selectors import goldens_for
from experiments import selectors
from experiments.config import DEFAULT_CONCURRENCY, ExperimentConfig
from experiments.models import Experiment, ExperimentResult
from experiments.publishing import publish_dispatch
from experiments.scoring import scorers_clean
from llmops.core.errors import NotFound, ValidationFailed
from prompts.models import Prompt, PromptVersion
from prompts.rendering import render_version
from runs.models import ModelEndpoint
from runs.selectors import model_endpoint_default, model_endpoint_find, model_endpoint_usable
from runs.services import MAX_ATTEMPTS_LIMIT, checked_idempotency_key, merged_parameters

logger = logging.getLogger(__name__)

MAX_REPEATS = 10
# Calls in flight per experiment: lanes keep them on thread pools, so one worker process serves many.
MAX_CONCURRENCY = 256
MAX_NAME_CHARS = 200
CELL_BATCH = 1000


@dataclass(frozen=True)
class GoldenFilter:
    split: str | None = None
    tags: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()

    def as_json(self) -> dict:
        return {"split": self.split, "tags": list(self.tags), "ids": list(self.ids)}


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
    idempotency_key = checked_idempotency_key(idempotency_key)
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
            publish_dispatch(experiment_id=experiment.pk)
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
    if label:
        return model_endpoint_usable(model_endpoint_find(project=project, ref=label), label=label)
    default = model_endpoint_default(project=project)
    if default is None:
        raise ValidationFailed(
            f"version {version.version} has no model endpoint: pass model_endpoint, set "
            "model_settings.model_endpoint on the version, or make one of the project's endpoints its default",
            code="no_model_endpoint",
            param="model_endpoint",
        )
    return model_endpoint_usable(default, label=default.name)


def _check_parameters(*, endpoint: ModelEndpoint, version: PromptVersion, parameters: dict | None) -> None:
    merged_parameters(endpoint=endpoint, version=version, parameters=parameters)  # a 400 naming the problem


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
