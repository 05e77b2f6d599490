"""Fault injection on an experiment: its cells are runs, so a paid answer is kept through lost database
connections the same way (the run's result write), and the cell is scored from it."""

from __future__ import annotations

import pytest

from experiments import services
from experiments.models import ExperimentResult
from experiments.tests.conftest import add_goldens, finished_experiment, make_prompt
from llmops.testing.fake_openai import reply
from runs.models import CostLog, Run, RunAttempt
from runs.tests.conftest import make_endpoint
from runs.tests.test_chaos import terminate_connections_while

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
