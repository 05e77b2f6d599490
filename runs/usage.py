"""Project-scoped reads of what model calls cost: the cost log, and usage totals grouped by day,
endpoint, model, API key or prompt (``GET /cost-logs``, ``GET /usage``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date
from decimal import Decimal
from typing import Any, TypedDict

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from accounts.models import Project
from llmops.core.csv_cells import neutralise
from llmops.core.errors import ValidationFailed
from llmops.core.ids import parse_uuid
from runs.models import CostLog
from runs.selectors import parse_moment

CURRENCY = "USD"
NONE_LABEL = "(none)"
GROUP_BY = ("day", "endpoint", "model", "key", "prompt")

# Per group: the values that make it up (``.values(...)``), the key and the label shown for it.
_GROUP_FIELDS: dict[str, tuple[str, ...]] = {
    "day": ("day",),
    "endpoint": ("model_endpoint_id", "model_endpoint__name"),
    "model": ("model_id",),
    "key": ("api_key_id", "api_key__name", "api_key__prefix"),
    "prompt": ("run__prompt_version__prompt_id", "run__prompt_version__prompt__name"),
}

COST_LOG_CSV_COLUMNS = (
    "id",
    "created_at",
    "purpose",
    "model_id",
    "model_endpoint",
    "model_endpoint_name",
    "api_key",
    "api_key_name",
    "api_key_prefix",
    "run",
    "prompt_id",
    "prompt_name",
    "input_tokens",
    "output_tokens",
    "input_price_per_million",
    "output_price_per_million",
    "cost",
)
USAGE_CSV_COLUMNS = ("key", "label", "calls", "input_tokens", "output_tokens", "cost", "unpriced_calls")


class UsageTotals(TypedDict):
    calls: int
    input_tokens: int
    output_tokens: int
    cost: Decimal
    unpriced_calls: int


class UsageGroup(UsageTotals):
    key: str | None
    label: str


class Usage(TypedDict):
    group_by: str
    currency: str
    results: list[UsageGroup]
    total: UsageTotals


def cost_logs_for(*, project: Project) -> QuerySet[CostLog]:
    return CostLog.objects.filter(project=project).select_related(
        "api_key", "model_endpoint", "run__prompt_version__prompt"
    )


def cost_logs_filter(queryset: QuerySet[CostLog], *, params: Mapping[str, str]) -> QuerySet[CostLog]:
    """Apply ``?created_after=&created_before=&endpoint=&model=&key=&purpose=``; a bad value (an empty
    one included) is a 400 naming it. Dates are read as ``/runs`` reads them (``runs.selectors``)."""
    if (value := params.get("created_after")) is not None:
        queryset = queryset.filter(created_at__gte=parse_moment(value, param="created_after"))
    if (value := params.get("created_before")) is not None:
        queryset = queryset.filter(created_at__lt=parse_moment(value, param="created_before"))
    if (value := _present(params, "endpoint", "a model endpoint id or name")) is not None:
        endpoint_id = parse_uuid(value)
        queryset = (
            queryset.filter(model_endpoint_id=endpoint_id)
            if endpoint_id is not None
            else queryset.filter(model_endpoint__name=value)
        )
    if (value := _present(params, "model", "a model id")) is not None:
        queryset = queryset.filter(model_id=value)
    if (value := _present(params, "key", "an API key id or prefix")) is not None:
        key_id = parse_uuid(value)
        queryset = queryset.filter(api_key_id=key_id) if key_id is not None else queryset.filter(api_key__prefix=value)
    if (value := params.get("purpose")) is not None:
        if value not in CostLog.Purpose.values:
            raise ValidationFailed(f"purpose must be one of {', '.join(CostLog.Purpose.values)}", param="purpose")
        queryset = queryset.filter(purpose=value)
    return queryset


def group_by_parse(*, value: str | None) -> str:
    """``?group_by=``, ``day`` when absent; anything else is a 400 naming it."""
    if value is None:
        return "day"
    if value not in GROUP_BY:
        raise ValidationFailed(f"group_by must be one of {', '.join(GROUP_BY)}", param="group_by")
    return value


def usage_summary(*, queryset: QuerySet[CostLog], group_by: str) -> Usage:
    """Calls, tokens and known cost per group of a (filtered) cost log, and over all of it.

    ``cost`` sums the known costs only; ``unpriced_calls`` counts the calls whose price was unknown,
    so an unknown price is never reported as free. Days are UTC dates, oldest first; other groups
    come most expensive first. Calls with no endpoint, key or prompt (a judge call has no run, so no
    prompt) form one group with key ``None`` and label ``(none)``."""
    group_by = group_by_parse(value=group_by)
    queryset = queryset.order_by()
    if group_by == "day":
        queryset = queryset.annotate(day=TruncDate("created_at", tzinfo=UTC))
    fields = _GROUP_FIELDS[group_by]
    rows = queryset.values(*fields).annotate(**_AGGREGATES).order_by(*fields)
    results = [_group(group_by, row) for row in rows]
    if group_by == "day":
        results.sort(key=lambda group: group["key"] or "")
    else:
        results.sort(key=lambda group: (-group["cost"], group["label"], group["key"] or ""))
    return {
        "group_by": group_by,
        "currency": CURRENCY,
        "results": results,
        "total": _totals(queryset.aggregate(**_AGGREGATES)),
    }


# Aliases must differ from field names: "cost" as an alias would shadow the column (see run_totals).
_AGGREGATES = {
    "call_count": Count("id"),
    "total_input": Sum("input_tokens"),
    "total_output": Sum("output_tokens"),
    "total_cost": Sum("cost"),
    "unpriced": Count("id", filter=Q(cost__isnull=True)),
}


def _totals(row: Mapping[str, Any]) -> UsageTotals:
    return {
        "calls": row["call_count"],
        "input_tokens": row["total_input"] or 0,
        "output_tokens": row["total_output"] or 0,
        "cost": row["total_cost"] if row["total_cost"] is not None else Decimal("0"),
        "unpriced_calls": row["unpriced"],
    }


def _group(group_by: str, row: Mapping[str, Any]) -> UsageGroup:
    key: str | None
    if group_by == "day":
        day: date = row["day"]
        key = label = day.isoformat()
    elif group_by == "model":
        key = label = row["model_id"]
    elif group_by == "endpoint":
        key, label = _named(row["model_endpoint_id"], row["model_endpoint__name"])
    elif group_by == "key":
        key, label = _named(row["api_key_id"], f"{row['api_key__name']} ({row['api_key__prefix']})")
    else:
        key, label = _named(row["run__prompt_version__prompt_id"], row["run__prompt_version__prompt__name"])
    return {"key": key, "label": label, **_totals(row)}


def _named(object_id: Any, name: str) -> tuple[str | None, str]:
    return (None, NONE_LABEL) if object_id is None else (str(object_id), name)


def _present(params: Mapping[str, str], name: str, what: str) -> str | None:
    value = params.get(name)
    if value is not None and not value.strip():
        raise ValidationFailed(f"{name} must be {what}", param=name)
    return value


# --------------------------------------------------------------------------- CSV


def _cell(value: Any) -> str:
    """Numbers as they are; text through ``neutralise`` (names are user text opened in spreadsheets)."""
    if value is None:
        return ""
    if isinstance(value, int | Decimal):
        return str(value)
    return neutralise(str(value))


def _csv_lines(columns: Iterable[str], rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """RFC 4180 lines (CRLF), header first, one string per row: the file can be streamed."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    columns = tuple(columns)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def cost_log_row(log: CostLog) -> dict[str, Any]:
    """One cost log row as plain values (ids as strings), for the CSV and the JSON list alike."""
    run = log.run
    prompt = run.prompt_version.prompt if run is not None else None
    return {
        "id": str(log.pk),
        "created_at": log.created_at.isoformat().replace("+00:00", "Z"),
        "purpose": log.purpose,
        "model_id": log.model_id,
        "model_endpoint": str(log.model_endpoint_id) if log.model_endpoint_id else None,
        "model_endpoint_name": log.model_endpoint.name if log.model_endpoint is not None else None,
        "api_key": str(log.api_key_id) if log.api_key_id else None,
        "api_key_name": log.api_key.name if log.api_key is not None else None,
        "api_key_prefix": log.api_key.prefix if log.api_key is not None else None,
        "run": str(log.run_id) if log.run_id else None,
        "prompt_id": str(prompt.pk) if prompt is not None else None,
        "prompt_name": prompt.name if prompt is not None else None,
        "input_tokens": log.input_tokens,
        "output_tokens": log.output_tokens,
        "input_price_per_million": log.input_price_per_million,
        "output_price_per_million": log.output_price_per_million,
        "cost": log.cost,
    }


def cost_logs_csv(*, queryset: QuerySet[CostLog]) -> Iterator[str]:
    """Every row of a (filtered) cost log, newest first, read in chunks."""
    rows = (cost_log_row(log) for log in queryset.iterator(chunk_size=2000))
    return _csv_lines(COST_LOG_CSV_COLUMNS, rows)


def usage_csv(*, usage: Usage) -> Iterator[str]:
    """One row per group (no total row: every row is a group)."""
    return _csv_lines(USAGE_CSV_COLUMNS, usage["results"])
