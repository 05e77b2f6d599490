"""Billing records are permanent; retention archives run payloads to a file, never the cost."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db.models import ProtectedError
from django.utils import timezone

from llmops.core.errors import Conflict
from runs import retention
from runs.models import CostLog, Run, RunAttempt
from runs.tests.factories import CostLogFactory, RunFactory

pytestmark = pytest.mark.django_db


def _aged(run: Run, days: int) -> Run:
    Run.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(days=days))
    run.refresh_from_db()
    return run


def test_deleting_a_run_never_deletes_its_cost_log():
    log = CostLogFactory(run=RunFactory(status=Run.Status.COMPLETED))

    with pytest.raises(ProtectedError):
        log.run.delete()
    with pytest.raises(Conflict, match="cost log"):
        retention.run_delete(run=log.run)

    assert CostLog.objects.filter(pk=log.pk, cost=Decimal("0.000012500")).exists()


def test_a_run_with_a_billed_attempt_or_still_in_flight_is_not_deleted():
    billed = RunFactory(status=Run.Status.FAILED)
    RunAttempt.objects.create(
        run=billed, number=1, outcome="lease_expired", cost=Decimal("0.01"), started_at=timezone.now()
    )
    with pytest.raises(Conflict):
        retention.run_delete(run=billed)
    running = RunFactory(status=Run.Status.RUNNING)
    with pytest.raises(Conflict, match="cancel it"):
        retention.run_delete(run=running)
    assert Run.objects.filter(pk__in=[billed.pk, running.pk]).count() == 2


def test_archive_runs_writes_runs_and_costs_then_drops_only_payloads(tmp_path):
    old = _aged(RunFactory(status=Run.Status.COMPLETED, output="the answer", input_tokens=10), days=40)
    log = CostLogFactory(run=old, project=old.project)
    RunAttempt.objects.create(
        run=old, number=1, outcome="completed", cost=Decimal("0.000012500"), started_at=timezone.now()
    )
    unbilled = _aged(RunFactory(status=Run.Status.FAILED, error_message="boom"), days=40)
    recent = RunFactory(status=Run.Status.COMPLETED, output="recent answer")
    in_flight = _aged(RunFactory(status=Run.Status.RUNNING), days=40)
    archive = tmp_path / "runs.jsonl"
    out = io.StringIO()

    call_command("archive_runs", "--older-than", "30", "--to", str(archive), stdout=out)

    assert "archived 2 run(s)" in out.getvalue()
    records = {record["id"]: record for record in map(json.loads, archive.read_text().splitlines())}
    assert set(records) == {str(old.pk), str(unbilled.pk)}
    written = records[str(old.pk)]
    assert written["output"] == "the answer"
    assert written["rendered_prompt"].startswith("Analyze the sentiment")
    assert written["variables"] == {"input": "I love this!"}
    assert written["cost_log"]["cost"] == "0.000012500" and written["cost_log"]["id"] == str(log.pk)
    assert written["attempts"][0]["cost"] == "0.000012500"
    assert records[str(unbilled.pk)]["cost_log"] is None

    old.refresh_from_db()
    assert old.output == "" and old.rendered_prompt == "" and old.variables == {}
    assert old.input_tokens == 10 and old.status == Run.Status.COMPLETED  # the minimal row stays
    assert CostLog.objects.get(pk=log.pk).run_id == old.pk  # and the cost stays linked to it
    recent.refresh_from_db()
    in_flight.refresh_from_db()
    assert recent.output == "recent answer" and in_flight.rendered_prompt != ""

    # Archived runs are not written again.
    call_command("archive_runs", "--older-than", "30", "--to", str(archive), stdout=io.StringIO())
    assert len(archive.read_text().splitlines()) == 2


def test_archive_runs_leaves_the_database_alone_when_the_file_cannot_be_written(tmp_path):
    old = _aged(RunFactory(status=Run.Status.COMPLETED, output="keep me"), days=40)

    with pytest.raises(CommandError):
        call_command("archive_runs", "--older-than", "30", "--to", str(tmp_path / "missing" / "runs.jsonl"))

    old.refresh_from_db()
    assert old.output == "keep me"


def test_archive_runs_refuses_a_zero_age(tmp_path):
    with pytest.raises(CommandError, match="at least 1 day"):
        call_command("archive_runs", "--older-than", "0", "--to", str(tmp_path / "x.jsonl"))
