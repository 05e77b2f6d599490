"""Creating runs: check a request, render it, resolve its endpoint and parameters, store the queued run
and publish its task. Nothing here calls a model."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from accounts.models import APIKey, Project
from llmops.core import resilience
from llmops.core.errors import NotFound, ValidationFailed
from llmops.core.hashing import canonical_hash
from llmops.core.request_context import current_request_id
from prompts.models import PromptVersion
from prompts.rendering import render_version
from runs import budgets, selectors
from runs.models import ModelEndpoint, Run
from runs.providers import ProviderError
from runs.providers.base import normalize_parameters
from runs.sanitize import pg_safe

logger = logging.getLogger(__name__)

MAX_ATTEMPTS_LIMIT = 10
MAX_IDEMPOTENCY_KEY_CHARS = 200  # Run.idempotency_key


def run_create(
    *,
    project: Project,
    version: PromptVersion,
    variables: dict,
    model_endpoint: ModelEndpoint | str | None = None,
    parameters: dict | None = None,
    max_attempts: int | None = None,
    api_key: APIKey | None = None,
    idempotency_key: str = "",
    request_id: str = "",
    request_hash: str = "",
    enqueue: bool = True,
) -> tuple[Run, bool]:
    """A queued run of ``version`` rendered with ``variables``, and whether it was created.

    With an ``idempotency_key`` already used in the project, the first run comes back (created False)
    when ``request_hash`` matches, else Conflict. ``request_hash`` defaults to a hash of the resolved
    request; the API passes the hash of the request body instead. The task is published only after
    the surrounding transaction commits."""
    idempotency_key = checked_idempotency_key(idempotency_key)
    if idempotency_key and request_hash:
        replayed = selectors.run_replay(project=project, idempotency_key=idempotency_key, request_hash=request_hash)
        if replayed is not None:
            return replayed, False
    if version.prompt.project_id != project.pk:
        raise NotFound("prompt not found", param="prompt_id")
    attempts = checked_max_attempts(max_attempts)
    if not isinstance(variables, dict):
        raise ValidationFailed("variables must be a JSON object", code="invalid", param="variables")
    variables = pg_safe(variables)
    endpoint = _endpoint_for(project=project, version=version, ref=model_endpoint)
    merged = merged_parameters(endpoint=endpoint, version=version, parameters=parameters)
    rendered = render_version(version=version, variables=variables)
    request_hash = request_hash or canonical_hash(
        {"version": version.pk, "variables": variables, "endpoint": endpoint.pk, "parameters": merged, "max": attempts}
    )
    if idempotency_key:
        replayed = selectors.run_replay(project=project, idempotency_key=idempotency_key, request_hash=request_hash)
        if replayed is not None:
            return replayed, False

    run = Run(
        project=project,
        prompt_version=version,
        model_endpoint=endpoint,
        model_id=endpoint.model_id,
        status=Run.Status.QUEUED,
        variables=variables,
        parameters=merged,
        rendered_prompt=rendered.as_text(),
        rendered_messages=rendered.messages,
        max_attempts=attempts,
        task_id=str(uuid.uuid4()),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        request_id=request_id or current_request_id() or "",
        api_key=api_key,
        next_attempt_at=timezone.now(),
    )
    run.enqueued_at = run.next_attempt_at  # its message is published when the row commits
    run.estimated_cost = budgets.estimate_cost(
        endpoint=endpoint, model_id=endpoint.model_id, prompt_text=run.rendered_prompt, parameters=merged
    )
    try:
        with transaction.atomic():
            budgets.budget_check(
                project=project, api_key=api_key, estimate=run.estimated_cost, model_id=endpoint.model_id
            )
            run.save(force_insert=True)
    except IntegrityError:
        # Two requests with one Idempotency-Key raced past the lookup: the unique constraint let one in.
        replayed = selectors.run_replay(project=project, idempotency_key=idempotency_key, request_hash=request_hash)
        if replayed is None:
            raise
        return replayed, False
    if enqueue:
        run_enqueue(run=run)
    return run, True


def run_enqueue(*, run: Run, countdown: float | None = None) -> None:
    """Publish the run's task once the surrounding transaction commits (at once outside one).

    Every publication of a run reuses its task id, so the id a client holds stays valid across retries
    and one revoke reaches every copy. A failed publication is logged, not raised: the row is queued
    already and the sweeper publishes it again."""
    if not run.task_id:
        run.task_id = str(uuid.uuid4())
        Run.objects.filter(pk=run.pk, task_id="").update(task_id=run.task_id)
    run_id, task_id = str(run.pk), run.task_id
    transaction.on_commit(lambda: _publish(run_id=run_id, task_id=task_id, countdown=countdown))


def _publish(*, run_id: str, task_id: str, countdown: float | None) -> None:
    from runs.tasks import execute_run  # the tasks module imports this one

    sent = resilience.broker_publish(
        f"run {run_id}", lambda: execute_run.apply_async(args=[run_id], task_id=task_id, countdown=countdown)
    )
    if not sent:
        # Not handed to the broker (down, or failed a moment ago): the run stays queued, and the sweeper
        # publishes a queued run without enqueued_at once it is RUN_DUE_GRACE_SECONDS past due.
        try:
            Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(enqueued_at=None)
        except DatabaseError:
            logger.warning("could not mark run %s unpublished; the sweeper publishes it later", run_id)


def checked_idempotency_key(key: str) -> str:
    key = (key or "").strip()
    if len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise ValidationFailed(
            f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY_CHARS} characters",
            code="invalid_idempotency_key",
            param="Idempotency-Key",
        )
    return key


def checked_max_attempts(value: object) -> int:
    if value is None:
        return min(settings.RUN_MAX_ATTEMPTS, MAX_ATTEMPTS_LIMIT)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ATTEMPTS_LIMIT:
        raise ValidationFailed(
            f"max_attempts must be an integer from 1 to {MAX_ATTEMPTS_LIMIT}", code="invalid", param="max_attempts"
        )
    return value


def _endpoint_for(*, project: Project, version: PromptVersion, ref: ModelEndpoint | str | None) -> ModelEndpoint:
    """The named endpoint, else the version's ``model_settings.model_endpoint``, within the project."""
    if isinstance(ref, ModelEndpoint):
        label, endpoint = ref.name, (ref if ref.project_id == project.pk else None)
    elif ref:
        label, endpoint = str(ref), selectors.model_endpoint_find(project=project, ref=str(ref))
    else:
        label = (version.model_settings or {}).get("model_endpoint") or ""
        if label:
            endpoint = selectors.model_endpoint_find(project=project, ref=label)
        else:
            endpoint = selectors.model_endpoint_default(project=project)
            if endpoint is None:
                raise ValidationFailed(
                    "no model endpoint is configured: pass model_endpoint, set model_settings.model_endpoint "
                    "on the prompt version, or make one of the project's endpoints its default",
                    code="no_model_endpoint",
                    param="model_endpoint",
                )
            label = endpoint.name
    return selectors.model_endpoint_usable(endpoint, label=label)


def merged_parameters(*, endpoint: ModelEndpoint, version: PromptVersion, parameters: dict | None) -> dict:
    """Endpoint defaults, overridden by the version's parameters, overridden by the request's."""
    if parameters is not None and not isinstance(parameters, dict):
        raise ValidationFailed("parameters must be a JSON object", code="invalid", param="parameters")
    from_version = (version.model_settings or {}).get("parameters") or {}
    merged = pg_safe({**(endpoint.default_parameters or {}), **from_version, **(parameters or {})})
    try:
        normalize_parameters(merged)
    except ProviderError as error:
        raise ValidationFailed(error.message, code="invalid_parameters", param="parameters") from None
    return merged
