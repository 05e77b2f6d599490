"""After the model answered, its result is written even if the database connection was lost meanwhile:
the answer may have been paid for, and losing it means calling the model again."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from llmops.core.testing.fake_openai import reply
from runs import services
from runs.models import CostLog, Run, RunAttempt
from runs.providers import Completion

VARIABLES = {"input": "I love this!"}


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def terminate_later(pid: int, *, after: float) -> threading.Thread:
    """Terminate the PostgreSQL backend ``pid`` from another thread (and connection) ``after`` seconds."""

    def terminate() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        finally:
            connection.close()

    thread = threading.Timer(after, terminate)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_an_answer_is_kept_when_the_connection_dies_during_the_call(project, version, endpoint, fake_openai):
    fake_openai.script(endpoint.model_id, [reply("positive", prompt_tokens=1000, completion_tokens=500, delay=0.6)])
    run, _ = services.run_create(project=project, version=version, variables=VARIABLES, enqueue=False)
    killer = terminate_later(backend_pid(), after=0.3)  # while the model is answering

    execution = services.run_execute(run_id=run.pk)
    killer.join()

    assert execution.outcome == "completed"
    run.refresh_from_db()
    assert (run.status, run.attempts, run.output) == ("completed", 1, "positive")
    assert CostLog.objects.get(run=run).cost == Decimal("0.001250000")
    assert list(RunAttempt.objects.filter(run=run).values_list("number", "outcome")) == [(1, "completed")]
    assert fake_openai.calls(endpoint.model_id) == 1


@pytest.mark.django_db
def test_a_write_that_committed_before_its_connection_broke_is_not_written_twice(
    project, version, endpoint, django_capture_on_commit_callbacks
):
    run, _ = services.run_create(project=project, version=version, variables=VARIABLES, enqueue=False)
    claim = services.claim_run(run, lease_seconds=60)
    answer = Completion(
        text="positive", input_tokens=10, output_tokens=2, latency_ms=5, finish_reason="stop", model=run.model_id
    )

    first = services.complete_run(run, attempt=claim.attempt, completion=answer, endpoint=endpoint)
    # Tried again: the COMMIT went through but its confirmation was lost with the connection.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        again = services.complete_run(run, attempt=claim.attempt, completion=answer, endpoint=endpoint)

    assert (first.outcome, again.outcome) == ("completed", "completed")
    assert len(callbacks) == 1  # run_finished, whose first sending was lost with the failed commit
    assert CostLog.objects.filter(run=run).count() == 1
    assert Run.objects.get(pk=run.pk).status == "completed"
    assert list(RunAttempt.objects.filter(run=run).values_list("outcome", flat=True)) == ["completed"]
