"""Deleting and archiving runs without losing what they cost.

Billing records are permanent: a run that was billed (it has a cost log, or an attempt with a cost)
is never deleted; the database refuses too (CostLog.run is PROTECT). Retention is ``runs_archive``:
it writes old runs with their cost logs and attempts to a JSONL file and only then empties the
runs' payloads (variables, rendered prompt, output, error text), keeping a minimal run row that the
cost log and experiments still point at.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Model, ProtectedError, Q, QuerySet
from django.utils import timezone

from llmops.core.errors import Conflict
from runs.models import CostLog, Run, RunAttempt

# What archiving empties: the request and answer text, the bulk of a run row.
PAYLOAD_FIELDS = {
    "variables": {},
    "parameters": {},
    "rendered_prompt": "",
    "rendered_messages": None,
    "output": "",
    "error_message": "",
}
ARCHIVE_BATCH = 500


@dataclass(frozen=True)
class ArchiveReport:
    archived: int
    path: str


def run_is_billed(*, run: Run) -> bool:
    return CostLog.objects.filter(run=run).exists() or RunAttempt.objects.filter(run=run, cost__isnull=False).exists()


def run_delete(*, run: Run) -> None:
    """Delete a finished run that was never billed; a Conflict otherwise."""
    if not run.is_terminal:
        raise Conflict(
            f"run {run.pk} is {run.status}; cancel it before deleting it", code="run_not_finished", param="run_id"
        )
    if run_is_billed(run=run):
        raise _billed(run)
    try:
        with transaction.atomic():
            run.delete()
    except ProtectedError:
        raise _billed(run) from None  # billed between the check and the delete


def _billed(run: Run) -> Conflict:
    return Conflict(
        f"run {run.pk} has a cost log: billing records are kept, so it cannot be deleted "
        "(archive its payload with `manage.py archive_runs` instead)",
        code="run_billed",
        param="run_id",
    )


def archivable_runs(*, older_than: datetime, project_id: Any = None) -> QuerySet[Run]:
    """Finished runs created before ``older_than`` whose payload is still stored."""
    runs = Run.objects.filter(status__in=Run.TERMINAL, created_at__lt=older_than)
    if project_id is not None:
        runs = runs.filter(project_id=project_id)
    has_payload = (
        ~Q(variables={})
        | ~Q(parameters={})
        | ~Q(rendered_prompt="")
        | Q(rendered_messages__isnull=False)
        | ~Q(output="")
        | ~Q(error_message="")
    )
    return runs.filter(has_payload).order_by("created_at", "id")


def runs_archive(*, older_than: datetime, to: Path | str, project_id: Any = None) -> ArchiveReport:
    """Append every archivable run (with its cost log and attempts) to ``to`` as JSON lines, flush the
    file to disk, and only then empty those runs' payloads. A failure while writing leaves the
    database untouched; rows are cleared only when their payload is still the one written."""
    path = Path(to)
    archived = 0
    with path.open("a", encoding="utf-8") as out:
        while True:
            batch = list(
                archivable_runs(older_than=older_than, project_id=project_id)
                .select_related("cost_log")
                .prefetch_related("attempts_history")[:ARCHIVE_BATCH]
            )
            if not batch:
                break
            _write(out, (archive_record(run) for run in batch))
            cleared = _clear_payloads(batch)
            archived += cleared
            if cleared < len(batch):
                break  # a row changed under us: stop rather than loop on it; the next run picks it up
    return ArchiveReport(archived=archived, path=str(path))


def _write(out: IO[str], records: Iterator[dict]) -> None:
    for record in records:
        out.write(json.dumps(record, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True) + "\n")
    out.flush()
    os.fsync(out.fileno())  # on disk before the database forgets the payloads


def _clear_payloads(batch: list[Run]) -> int:
    now = timezone.now()
    cleared = 0
    with transaction.atomic():
        for run in batch:
            unchanged = Q(pk=run.pk, updated_at=run.updated_at)
            cleared += Run.objects.filter(unchanged).update(**PAYLOAD_FIELDS, updated_at=now)
    return cleared


def archive_record(run: Run) -> dict:
    """One JSON line: the run as stored, its cost log and its attempts."""
    cost_log = run.cost_log if _has_cost_log(run) else None
    return {
        **_row(run),
        "cost_log": None if cost_log is None else _row(cost_log),
        "attempts": [_row(attempt) for attempt in run.attempts_history.all()],
    }


def _row(obj: Model) -> dict:
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


def _has_cost_log(run: Run) -> bool:
    try:
        run.cost_log  # noqa: B018 - the reverse one-to-one raises when there is none
    except CostLog.DoesNotExist:
        return False
    return True
