"""Experiments executed for real: the Celery worker on Redis, runs through InferenceClient to the fake
OpenAI server, the run_finished signal, scoring tasks and the dispatcher."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from kombu.exceptions import KombuError

from evaluation.models import EvaluationResult
from experiments import selectors, services, tasks, wandb_logging
from experiments.models import Experiment, ExperimentResult, ResponseCacheEntry
from experiments.receivers import score_cell_of_finished_run
from experiments.scoring import DEFAULT_SCORERS
from experiments.tests.helpers import add_goldens, finished_experiment, make_prompt
from llmops.core.testing.fake_openai import reply, status
from prompts.tests.factories import PromptVersionFactory
from runs.models import Run
from runs.signals import run_finished
from runs.tests.helpers import make_endpoint, wait_until, worker_idle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

RECEIVER = "experiments.score_cell_of_finished_run"


def launch(project, prompt, **options) -> Experiment:
    options.setdefault("name", "test experiment")
    experiment, created = services.experiment_create(project=project, prompt=prompt, **options)
    assert created
    return experiment


def test_every_cell_runs_is_scored_and_the_experiment_completes(project, endpoint, fake_openai):
    prompt = make_prompt(project, endpoint, ["A: {input}", "B: {input}"])
    goldens = add_goldens(prompt, [("one", "echo: B: one"), ("two", "echo: B: two"), ("three", "echo: A: three")])

    experiment = finished_experiment(launch(project, prompt, scorers=["exact", "contains"]).pk)

    assert experiment.status == "completed" and experiment.started_at <= experiment.finished_at
    cells = list(ExperimentResult.objects.filter(experiment=experiment).select_related("run", "prompt_version"))
    assert len(cells) == 6 == experiment.total_cells
    assert {cell.status for cell in cells} == {"completed"}
    for cell in cells:
        assert cell.run.status == "completed" and cell.output == cell.run.output
        assert (cell.latency_ms, cell.input_tokens, cell.output_tokens, cell.attempts) == (
            cell.run.latency_ms,
            cell.run.input_tokens,
            cell.run.output_tokens,
            1,
        )
        assert cell.cost == cell.run.cost and cell.cost > Decimal("0")
    passed = {(cell.prompt_version.version, cell.golden_example_id): cell.passed for cell in cells}
    assert passed == {
        (1, goldens[0].pk): False,
        (1, goldens[1].pk): False,
        (1, goldens[2].pk): True,
        (2, goldens[0].pk): True,
        (2, goldens[1].pk): True,
        (2, goldens[2].pk): False,
    }
    assert fake_openai.calls(endpoint.model_id) == 6
    results = EvaluationResult.objects.filter(project=project)
    assert results.count() == 12  # one per cell and scorer
    assert {result.run_id for result in results} == {cell.run_id for cell in cells}


def test_cells_run_concurrently_up_to_the_experiments_limit(project, endpoint, fake_openai, in_flight):
    fake_openai.script(endpoint.model_id, [reply("slow answer", delay=0.5)])
    prompt = make_prompt(project, endpoint, ["A: {input}", "B: {input}"])
    add_goldens(prompt, [(f"text {n}", "slow answer") for n in range(6)])
    serial = 12 * 0.5

    started = time.monotonic()
    experiment = finished_experiment(launch(project, prompt, concurrency=4).pk)
    elapsed = time.monotonic() - started

    assert experiment.status == "completed"
    assert ExperimentResult.objects.filter(experiment=experiment, status="completed").count() == 12
    assert in_flight.calls == 12
    assert in_flight.most <= 4, f"{in_flight.most} calls in flight at once"
    assert in_flight.most >= 2
    assert elapsed < 0.75 * serial, f"{elapsed:.2f} s for 12 cells of 0.5 s at concurrency 4"


def test_the_endpoints_limit_holds_when_it_is_lower(project, fake_openai, in_flight):
    endpoint = make_endpoint(project, fake_openai.base_url, max_concurrency=2)
    fake_openai.script(endpoint.model_id, [reply("ok", delay=0.3)])
    prompt = make_prompt(project, endpoint, ["A: {input}"])
    add_goldens(prompt, [(f"text {n}", "ok") for n in range(6)])

    experiment = finished_experiment(launch(project, prompt, concurrency=8).pk)

    assert experiment.status == "completed" and in_flight.calls == 6
    assert in_flight.most <= 2, f"{in_flight.most} calls in flight at once"


def test_a_failing_version_is_recorded_and_the_other_goes_on(project, fake_openai):
    broken = make_endpoint(project, fake_openai.base_url)
    working = make_endpoint(project, fake_openai.base_url)
    fake_openai.script(broken.model_id, [status(400, body={"error": {"message": "context too long"}})])
    prompt = make_prompt(project, broken, ["A: {input}"])
    # Each version runs on the endpoint its model_settings name: v2 on the working one.
    PromptVersionFactory(
        prompt=prompt, version=2, template="B: {input}", model_settings={"model_endpoint": working.name}
    )
    add_goldens(prompt, [("one", "echo: B: one"), ("two", "echo: B: two")])

    experiment = finished_experiment(launch(project, prompt).pk)

    assert experiment.status == "completed"
    cells = {cell.prompt_version.version: cell for cell in experiment.results.select_related("prompt_version")}
    failed = ExperimentResult.objects.filter(experiment=experiment, prompt_version__version=1)
    assert {cell.status for cell in failed} == {"failed"}
    assert {cell.error_type for cell in failed} == {"bad_request"}
    assert all("context too long" in cell.error_message for cell in failed)
    assert cells[2].status == "completed" and cells[2].passed is True
    wait_until(worker_idle, what="the worker to go idle")


def test_an_experiment_where_every_cell_fails_is_failed(project, fake_openai):
    broken = make_endpoint(project, fake_openai.base_url)
    fake_openai.script(broken.model_id, [status(401)])
    prompt = make_prompt(project, broken, ["A: {input}"])
    add_goldens(prompt, [("one", "x"), ("two", "y")])

    experiment = finished_experiment(launch(project, prompt).pk)

    assert experiment.status == "failed" and experiment.finished_at is not None
    assert set(experiment.results.values_list("status", flat=True)) == {"failed"}
    assert Run.objects.filter(project=project).count() == 2


def test_cancel_stops_the_experiment_and_resume_runs_only_what_has_no_result(project, endpoint, fake_openai):
    fake_openai.script(endpoint.model_id, [reply("ok"), reply("ok"), reply("slow", delay=1.5)])
    prompt = make_prompt(project, endpoint, ["A: {input}", "B: {input}"])
    add_goldens(prompt, [(f"text {n}", "ok") for n in range(4)])
    experiment = launch(project, prompt, concurrency=2)
    wait_until(lambda: fake_openai.calls(endpoint.model_id) >= 4, what="two answers and two slow calls")

    services.experiment_cancel(experiment=experiment)

    wait_until(worker_idle, timeout=10, what="the worker to go idle")
    experiment.refresh_from_db()
    assert experiment.status == "cancelled" and experiment.finished_at is not None
    cells = ExperimentResult.objects.filter(experiment=experiment)
    completed = {cell.pk: cell.run_id for cell in cells.filter(status="completed")}
    assert len(completed) == 2
    assert cells.filter(status="cancelled").count() == 6
    assert Run.objects.filter(project=project, status="cancelled").count() == 2  # the two slow calls
    assert fake_openai.calls(endpoint.model_id) == 4  # nothing else was started

    fake_openai.script(endpoint.model_id, [reply("ok")])
    services.experiment_resume(experiment=experiment)
    experiment = finished_experiment(experiment.pk)

    assert experiment.status == "completed"
    assert cells.filter(status="completed").count() == 8
    assert {cell.pk: cell.run_id for cell in cells.filter(pk__in=completed)} == completed  # never run again
    assert fake_openai.calls(endpoint.model_id) == 4 + 6
    assert EvaluationResult.objects.filter(project=project).count() == 8 * len(DEFAULT_SCORERS)


def test_a_cached_experiment_reuses_every_answer_without_calling_the_model(project, endpoint, fake_openai):
    prompt = make_prompt(project, endpoint, ["A: {input}", "B: {input}"])
    add_goldens(prompt, [("one", "echo: B: one"), ("two", "echo: A: two"), ("three", "x")])

    first = finished_experiment(launch(project, prompt, repeats=2, cache=True).pk)
    assert first.status == "completed" and fake_openai.calls(endpoint.model_id) == 12
    assert ResponseCacheEntry.objects.filter(project=project).count() == 12

    second = finished_experiment(launch(project, prompt, repeats=2, cache=True).pk)

    assert second.status == "completed"
    assert fake_openai.calls(endpoint.model_id) == 12  # not one new call
    cells = list(ExperimentResult.objects.filter(experiment=second))
    assert len(cells) == 12 and all(cell.cached and cell.run_id is None for cell in cells)
    assert {cell.cost for cell in cells} == {Decimal("0")}
    originals = {(c.prompt_version_id, c.golden_example_id, c.repeat_index): c for c in first.results.all()}
    for cell in cells:
        original = originals[(cell.prompt_version_id, cell.golden_example_id, cell.repeat_index)]
        assert (cell.output, cell.scores, cell.passed) == (original.output, original.scores, original.passed)
    report = selectors.experiment_report(experiment=second)
    assert report["progress"]["cached"] == 12
    assert [(v["cost"], v["tokens"]) for v in report["versions"]] == [("0.000000000", {"input": 0, "output": 0})] * 2

    finished_experiment(launch(project, prompt, versions=[1], cache=False).pk)
    assert fake_openai.calls(endpoint.model_id) == 15  # without the cache, the model is asked again


def test_the_sweeper_scores_cells_whose_signal_was_lost(project, endpoint, fake_openai):
    # Each cell's first call fails: its run is retried by the run engine, whose run_finished signal
    # (lost here) is how such a cell comes back to be scored.
    fake_openai.script(endpoint.model_id, [status(503), status(503), reply("echo: A: one")])
    prompt = make_prompt(project, endpoint, ["A: {input}"])
    add_goldens(prompt, [("one", "echo: A: one"), ("two", "x")])
    run_finished.disconnect(dispatch_uid=RECEIVER)
    try:
        experiment = launch(project, prompt)
        wait_until(lambda: Run.objects.filter(project=project, status="completed").count() == 2, what="both runs")
        wait_until(worker_idle, what="the worker to go idle")
        assert set(experiment.results.values_list("status", flat=True)) == {"running"}

        assert services.experiments_sweep().rescored == 0  # within the grace period: maybe still on its way
        report = services.experiments_sweep(now=timezone.now() + timedelta(seconds=60))
    finally:
        run_finished.connect(score_cell_of_finished_run, dispatch_uid=RECEIVER)

    assert report.rescored == 2
    experiment = finished_experiment(experiment.pk)
    assert experiment.status == "completed"
    assert sorted(experiment.results.values_list("passed", flat=True)) == [False, True]


def test_the_sweeper_dispatches_an_experiment_whose_dispatch_was_lost(project, endpoint, fake_openai, monkeypatch):
    prompt = make_prompt(project, endpoint, ["A: {input}"])
    add_goldens(prompt, [("one", "x")])

    def broker_down(*args, **kwargs):
        raise KombuError("broker unreachable")

    monkeypatch.setattr(tasks.dispatch_experiment, "apply_async", broker_down)
    experiment = launch(project, prompt)  # the row is committed; the message is lost
    monkeypatch.undo()
    assert Experiment.objects.get(pk=experiment.pk).status == "pending"

    assert services.experiments_sweep().redispatched == 1

    assert finished_experiment(experiment.pk).status == "completed"


def test_a_judge_scorer_asks_the_judge_at_temperature_zero(project, endpoint, fake_openai):
    judge = make_endpoint(project, fake_openai.base_url, name="judge", default_parameters={"temperature": 0.9})
    fake_openai.script(judge.model_id, [reply('{"score": 5, "reason": "accurate"}')])
    prompt = make_prompt(project, endpoint, ["A: {input}"])
    add_goldens(prompt, [("one", "x"), ("two", "y")])
    scorer = {"name": "llm_judge", "threshold": 0.7, "params": {"rubric": "Is it right?", "judge_endpoint": "judge"}}

    experiment = finished_experiment(launch(project, prompt, scorers=[scorer]).pk)

    assert experiment.status == "completed"
    assert [cell.scores for cell in experiment.results.all()] == [{"llm_judge": 1.0}] * 2
    requests = fake_openai.requests(judge.model_id)
    assert len(requests) == 2 and {request["json"]["temperature"] for request in requests} == {0.0}
    assert "Is it right?" in requests[0]["json"]["messages"][0]["content"]
    details = EvaluationResult.objects.filter(scorer="llm_judge").values_list("details", flat=True)
    assert all(detail.get("reason") == "accurate" for detail in details)
    # The judge's calls are billed like runs: in the cost log, to the project, at the judge's prices.
    from runs.models import CostLog

    judge_logs = CostLog.objects.filter(purpose=CostLog.Purpose.JUDGE, project=project)
    assert judge_logs.count() == 2 and all(log.run_id is None and log.cost > 0 for log in judge_logs)
    assert {log.model_endpoint_id for log in judge_logs} == {judge.pk}


def test_a_judge_call_the_budget_cannot_pay_for_is_refused_before_it_is_made(project, endpoint, fake_openai):
    from decimal import Decimal

    judge = make_endpoint(
        project, fake_openai.base_url, name="judge", input_price_per_million=Decimal("1000000"),
        output_price_per_million=Decimal("1000000"),
    )  # fmt: skip
    prompt = make_prompt(project, endpoint, ["A: {input}"])
    add_goldens(prompt, [("one", "x")])
    experiment = launch(
        project, prompt, scorers=[{"name": "llm_judge", "params": {"rubric": "ok?", "judge_endpoint": "judge"}}]
    )
    project.budget_usd = Decimal("5")  # the run fits; a judge call at a dollar a token does not
    project.save()

    experiment = finished_experiment(experiment.pk)

    cell = experiment.results.get()
    assert cell.error_type == "scorer_error" and "budget" in cell.error_message
    assert fake_openai.calls(judge.model_id) == 0


def test_a_failing_judge_is_a_scorer_error_on_the_cell(project, endpoint, fake_openai):
    judge = make_endpoint(project, fake_openai.base_url, name="judge")
    fake_openai.script(judge.model_id, [status(400, body={"error": {"message": "model not loaded"}})])
    prompt = make_prompt(project, endpoint, ["A: {input}"])
    add_goldens(prompt, [("one", "x")])
    scorers = ["exact", {"name": "hallucination_judge", "params": {"judge_endpoint": str(judge.pk)}}]

    experiment = finished_experiment(launch(project, prompt, scorers=scorers).pk)

    assert experiment.status == "failed"  # its only cell failed
    cell = experiment.results.get()
    assert (cell.status, cell.error_type) == ("failed", "scorer_error")
    assert "hallucination_judge" in cell.error_message and "model not loaded" in cell.error_message
    assert cell.output == "echo: A: one" and cell.cost is not None  # the answer was paid for and is kept
    assert cell.scores == {"exact": 0.0}
    failed = EvaluationResult.objects.get(scorer="hallucination_judge")
    assert failed.score is None and "model not loaded" in failed.error
    report = selectors.experiment_report(experiment=experiment)
    assert report["versions"][0]["cost"] == format(cell.cost, "f")


def test_a_finished_experiment_is_logged_to_wandb_and_a_failure_there_changes_nothing(
    project, endpoint, fake_openai, monkeypatch
):
    logged: list[dict] = []

    def log(*, report):
        logged.append(report)
        raise RuntimeError("W&B is down")

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setattr(wandb_logging, "log_experiment_to_wandb", log)
    prompt = make_prompt(project, endpoint, ["A: {input}"])
    add_goldens(prompt, [("one", "echo: A: one")])

    experiment = finished_experiment(launch(project, prompt).pk)

    wait_until(lambda: logged, what="the W&B task")
    assert logged[0]["experiment_id"] == str(experiment.pk) and logged[0]["status"] == "completed"
    assert logged[0]["versions"][0]["pass_rate"] == 1.0
    assert Experiment.objects.get(pk=experiment.pk).status == "completed"
