"""Fault injection on an experiment: its cells are runs, so a paid answer is kept through lost database
connections the same way (the run's result write), and the cell is scored from it."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings

from evaluation.models import EvaluationResult
from experiments import services, tasks
from experiments.models import ExperimentResult
from experiments.tests.helpers import add_goldens, finished_experiment, make_prompt
from llmops.core.testing.fake_openai import reply
from runs.models import CostLog, Run, RunAttempt
from runs.tests.helpers import make_endpoint, wait_until
from runs.tests.test_chaos import forget_queue, kill_hard, terminate_connections_while, worker_process

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def test_a_100_cell_experiment_keeps_every_paid_answer_through_lost_connections(project, fake_openai, capsys):
    endpoint = make_endpoint(project, fake_openai.base_url, max_concurrency=8)
    fake_openai.script(endpoint.model_id, [reply("ok", prompt_tokens=10, completion_tokens=2, delay=0.15)])
    prompt = make_prompt(project, endpoint, ["A: {input}", "B: {input}"])
    add_goldens(prompt, [(f"text {n}", "ok") for n in range(50)])
    experiment, _ = services.experiment_create(
        project=project, prompt=prompt, name="chaos", scorers=["exact"], concurrency=8
    )

    rounds, terminated = terminate_connections_while(
        lambda: fake_openai.calls(endpoint.model_id) < 100,
        done=lambda: ExperimentResult.objects.filter(experiment=experiment, status="completed").count() == 100,
        timeout=90,
    )
    experiment = finished_experiment(experiment.pk, timeout=30)

    cells = ExperimentResult.objects.filter(experiment=experiment)
    run_ids = list(cells.values_list("run_id", flat=True))
    calls = fake_openai.calls(endpoint.model_id)
    cost_logs = CostLog.objects.filter(run__in=run_ids).count()
    with capsys.disabled():
        print(
            f"\n100-cell experiment under {rounds} rounds of pg_terminate_backend ({terminated} backends "
            f"terminated): {cells.filter(status='completed').count()} cells completed, model calls {calls}, "
            f"cost-log rows {cost_logs}"
        )
    assert rounds >= 5 and terminated >= 5
    assert experiment.status == "completed" and set(cells.values_list("status", "passed")) == {("completed", True)}
    assert (len(run_ids), calls, cost_logs) == (100, 100, 100)
    assert set(Run.objects.filter(pk__in=run_ids).values_list("status", "attempts")) == {("completed", 1)}
    assert set(RunAttempt.objects.filter(run__in=run_ids).values_list("number", "outcome")) == {(1, "completed")}


def test_a_worker_killed_mid_batch_leaves_every_cell_ending_once(project, fake_openai, tmp_path, capsys, monkeypatch):
    """kill -9 of the worker whose lanes hold a batch of cells in flight; a new worker (with beat) takes
    the claimed runs back when their lease expires and starts lanes for the cells never claimed."""
    endpoint = make_endpoint(project, fake_openai.base_url, max_concurrency=16, timeout_seconds=5)
    fake_openai.script(endpoint.model_id, [reply("ok", delay=1.0)])
    prompt = make_prompt(project, endpoint, ["A: {input}", "B: {input}"])
    add_goldens(prompt, [(f"text {n}", "ok") for n in range(20)])
    chaos_queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-chaos-{uuid.uuid4().hex[:8]}"  # only its workers'
    monkeypatch.setattr(tasks.dispatch_experiment, "apply_async", lambda *args, **kwargs: None)
    experiment, _ = services.experiment_create(
        project=project, prompt=prompt, name="kill", scorers=["contains"], concurrency=8
    )
    monkeypatch.undo()

    with worker_process(chaos_queue, tmp_path / "first.log") as first:
        tasks.dispatch_experiment.apply_async(args=[str(experiment.pk)], queue=chaos_queue)
        wait_until(lambda: fake_openai.calls(endpoint.model_id) >= 8, timeout=60, what="a batch of calls in flight")
        kill_hard(first)
    cells = ExperimentResult.objects.filter(experiment=experiment)
    in_flight = cells.filter(status="running").count()
    assert in_flight >= 1 and cells.filter(status="pending").exists()

    try:
        with worker_process(chaos_queue, tmp_path / "second.log", beat=True):
            experiment = finished_experiment(experiment.pk, timeout=150)
    finally:
        forget_queue(chaos_queue)

    runs = Run.objects.filter(pk__in=cells.values("run_id"))
    calls = fake_openai.calls(endpoint.model_id)
    attempts = RunAttempt.objects.filter(run__project=project).count()
    with capsys.disabled():
        print(
            f"\nworker kill -9 with {in_flight} cells in flight: {cells.filter(status='completed').count()}/40 "
            f"cells completed; model calls {calls}, attempts {attempts}"
        )
    assert experiment.status == "completed" and set(cells.values_list("status", flat=True)) == {"completed"}
    # Each cell ended once: one result row per cell and scorer, one run each, one cost log per paid answer.
    assert EvaluationResult.objects.filter(project=project).count() == 40
    assert runs.count() == 40 and CostLog.objects.filter(run__in=runs).count() == 40
    # A call per attempt, never more attempts than a run allows.
    assert calls == attempts and all(run.attempts <= run.max_attempts for run in runs)
