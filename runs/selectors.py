"""Project-scoped reads of runs and model endpoints."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from datetime import time as dt_time
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from accounts.models import Project
from llmops.core.errors import Conflict, NotFound, ValidationFailed
from llmops.core.ids import parse_uuid
from runs import waiting
from runs.models import ModelEndpoint, Run


def runs_for(*, project: Project) -> QuerySet[Run]:
    return Run.objects.filter(project=project).select_related("prompt_version__prompt", "model_endpoint")


def run_get(*, project: Project, run_id: uuid.UUID | str) -> Run:
    run_uuid = parse_uuid(run_id)
    run = runs_for(project=project).filter(pk=run_uuid).first() if run_uuid else None
    if run is None:
        raise NotFound(f"run {run_id} not found", param="run_id")
    return run


def run_by_task_id(*, project: Project, task_id: str) -> Run:
    run = runs_for(project=project).filter(task_id=task_id).first() if task_id else None
    if run is None:
        raise NotFound(f"task {task_id} not found", param="task_id")
    return run


def run_for_idempotency_key(*, project: Project, idempotency_key: str) -> Run | None:
    if not idempotency_key:
        return None
    return runs_for(project=project).filter(idempotency_key=idempotency_key).first()


def run_replay(*, project: Project, idempotency_key: str, request_hash: str) -> Run | None:
    """The run an Idempotency-Key already names, if its request matches; Conflict if it does not."""
    run = run_for_idempotency_key(project=project, idempotency_key=idempotency_key)
    if run is not None and run.request_hash != request_hash:
        raise Conflict(
            f"Idempotency-Key '{idempotency_key}' was already used with a different request",
            code="idempotency_key_reused",
            param="Idempotency-Key",
        )
    return run


def run_wait(*, run_id: uuid.UUID | str, timeout: float) -> Run:
    """The run once terminal, or as it is when ``timeout`` seconds have passed.

    Reads the database, the truth, and between reads waits for the finish to be announced
    (runs.waiting), or, with no announcement channel, polls with short, growing sleeps. A web worker
    must not block on the Celery result backend for a task that may be retried under the same id."""
    deadline = time.monotonic() + max(0.0, timeout)
    interval = 0.02
    with waiting.finished_signal(run_id=run_id) as wait_for_finish:
        while True:
            run = Run.objects.select_related("prompt_version__prompt", "model_endpoint").get(pk=run_id)
            remaining = deadline - time.monotonic()
            if run.is_terminal or remaining <= 0:
                return run
            if wait_for_finish is not None:
                wait_for_finish(min(remaining, waiting.SAFETY_POLL_SECONDS))
            else:
                time.sleep(min(interval, remaining))
                interval = min(interval * 1.5, 0.25)


def runs_filter(queryset: QuerySet[Run], *, params: Mapping[str, str]) -> QuerySet[Run]:
    """Apply ``?prompt=&version=&status=&model=&created_after=&created_before=``; a bad value (an empty
    one included: ``?prompt=`` is not a prompt id) is a 400 naming it."""
    if (value := params.get("prompt")) is not None:
        prompt_id = parse_uuid(value)
        if prompt_id is None:
            raise ValidationFailed("prompt must be a prompt id (UUID)", param="prompt")
        queryset = queryset.filter(prompt_version__prompt_id=prompt_id)
    if (value := params.get("version")) is not None:
        if not value.isdigit() or int(value) < 1:
            raise ValidationFailed("version must be a positive integer", param="version")
        queryset = queryset.filter(prompt_version__version=int(value))
    if (value := params.get("status")) is not None:
        statuses = [Run.STATUS_ALIASES.get(item.strip(), item.strip()) for item in value.split(",") if item.strip()]
        unknown = [item for item in statuses if item not in Run.Status.values]
        if unknown or not statuses:
            allowed = ", ".join([*Run.Status.values, *Run.STATUS_ALIASES])
            raise ValidationFailed(f"status must be one or more of {allowed}", param="status")
        queryset = queryset.filter(status__in=statuses)
    if value := params.get("model"):
        endpoint_id = parse_uuid(value)
        if endpoint_id is not None:
            queryset = queryset.filter(model_endpoint_id=endpoint_id)
        else:
            queryset = queryset.filter(Q(model_endpoint__name=value) | Q(model_id=value))
    if (value := params.get("created_after")) is not None:
        queryset = queryset.filter(created_at__gte=parse_moment(value, param="created_after"))
    if (value := params.get("created_before")) is not None:
        queryset = queryset.filter(created_at__lt=parse_moment(value, param="created_before"))
    return queryset


def run_totals(*, queryset: QuerySet[Run]) -> dict:
    """Counts, tokens and known cost of a (filtered) set of runs, and how many completed unpriced."""
    # Aliases must differ from field names: "cost" as an alias would shadow the column in the filter.
    totals = queryset.order_by().aggregate(
        run_count=Count("id"),
        total_cost=Sum("cost"),
        total_input=Sum("input_tokens"),
        total_output=Sum("output_tokens"),
        unpriced=Count("id", filter=Q(status=Run.Status.COMPLETED, cost__isnull=True)),
    )
    return {
        "runs": totals["run_count"],
        "cost": totals["total_cost"] if totals["total_cost"] is not None else Decimal("0"),
        "input_tokens": totals["total_input"] or 0,
        "output_tokens": totals["total_output"] or 0,
        "unpriced": totals["unpriced"],
    }


def model_endpoints_for(*, project: Project) -> QuerySet[ModelEndpoint]:
    return ModelEndpoint.objects.filter(project=project)


def model_endpoint_find(*, project: Project, ref: str) -> ModelEndpoint | None:
    """An endpoint of the project by id, by name, or by the model id of exactly one of its endpoints
    (the seed's ``"model"`` names a model)."""
    endpoints = model_endpoints_for(project=project)
    endpoint_id = parse_uuid(ref)
    if endpoint_id is not None:
        found = endpoints.filter(pk=endpoint_id).first()
        if found is not None:
            return found
    named = endpoints.filter(name=ref).first()
    if named is not None:
        return named
    serving = list(endpoints.filter(model_id=ref)[:2])
    return serving[0] if len(serving) == 1 else None


def model_endpoint_default(*, project: Project) -> ModelEndpoint | None:
    """The endpoint the project runs on when neither the request nor the version names one."""
    return model_endpoints_for(project=project).filter(is_default=True).first()


def parse_moment(value: str, *, param: str) -> datetime:
    """An ISO 8601 date (midnight UTC) or date-time (UTC when it names no zone)."""
    try:
        moment = parse_datetime(value)
        if moment is None:
            day = parse_date(value)
            moment = datetime.combine(day, dt_time.min) if day is not None else None
    except ValueError:
        moment = None
    if moment is not None:
        try:
            # In UTC: PostgreSQL refuses offsets beyond about 16 hours, which Python accepts up to 24.
            moment = moment.astimezone(UTC) if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)
        except OverflowError:
            moment = None
    if moment is None:
        raise ValidationFailed(
            f"{param} must be an ISO 8601 date or date-time, e.g. 2025-01-31 or 2025-01-31T12:00:00Z", param=param
        )
    return moment


def model_endpoint_usable(endpoint: ModelEndpoint | None, *, label: str) -> ModelEndpoint:
    """``endpoint`` when it can take runs; a missing one (or another project's: the same answer, so
    nothing leaks) and a disabled one are a ValidationFailed naming it."""
    if endpoint is None:
        raise ValidationFailed(
            f"model endpoint '{label}' does not exist in this project",
            code="unknown_model_endpoint",
            param="model_endpoint",
        )
    if not endpoint.enabled:
        raise ValidationFailed(
            f"model endpoint '{endpoint.name}' is disabled", code="model_endpoint_disabled", param="model_endpoint"
        )
    return endpoint
