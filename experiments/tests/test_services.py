"""Services without a worker: cell creation, the dispatcher's limits, idempotent scoring, the cache's
tenancy, cancel, the sweeper's scan and the beat schedule."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from celery import current_app as app  # the platform's Celery app (set current by llmops/__init__.py)
from django.test import override_settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from accounts.tests.factories import ProjectFactory
from evaluation.models import EvaluationResult
from evaluation.tests.factories import GoldenExampleFactory
from experiments import caching, services
from experiments.lanes import Lane
from experiments.models import Experiment, ExperimentResult, ResponseCacheEntry
from experiments.scoring import scorer_spec_parse
from experiments.tests.helpers import add_goldens, make_busy_prompt, make_prompt, version
from llmops.core.errors import Conflict, ValidationFailed
from prompts.rendering import render_version
from prompts.tests.factories import PromptVersionFactory
from runs.models import Run
from runs.tests.factories import RunFactory
from runs.tests.helpers import make_endpoint

pytestmark = pytest.mark.django_db


def create(project, prompt, **options):
    experiment, _ = services.experiment_create(project=project, prompt=prompt, name="x", **options)
    return experiment


def running(experiment) -> int:
    return ExperimentResult.objects.filter(experiment=experiment, status="running").count()


def test_cells_are_written_with_the_experiment_in_dispatch_order(project, endpoint):
    prompt = make_prompt(project, endpoint, ["A {input}", "B {input}"])
    first, second = add_goldens(prompt, [("one", "x"), ("two", "y")])

    experiment = create(project, prompt, repeats=2)

    cells = experiment.results.order_by("position").select_related("prompt_version")
    assert [(c.repeat_index, c.golden_example_id, c.prompt_version.version) for c in cells] == [
        (0, first.pk, 1), (0, first.pk, 2), (0, second.pk, 1), (0, second.pk, 2),
        (1, first.pk, 1), (1, first.pk, 2), (1, second.pk, 1), (1, second.pk, 2),
    ]  # fmt: skip
    assert experiment.total_cells == 8 and experiment.status == "pending"


def claimed(lane: Lane, free: int) -> list:
    """A lane's claim, with its slots given back at once (the calls are not made here)."""
    jobs = lane.claim(free)
    for job in jobs:
        lane._release(job.tokens)
    return jobs


def lane_of(experiment, capacity: int = 32) -> Lane:
    return Lane(Experiment.objects.select_related("project", "api_key").get(pk=experiment.pk), capacity=capacity)


def test_lanes_together_keep_at_most_concurrency_cells_in_flight(project, endpoint):
    prompt = make_prompt(project, endpoint, ["A {input}"])
    add_goldens(prompt, [(f"text {n}", "x") for n in range(6)])
    experiment = create(project, prompt, concurrency=2)
    first, second = lane_of(experiment), lane_of(experiment)

    held = first.claim(5)
    assert (len(held), len(second.claim(5))) == (2, 0)  # the experiment's slots are shared by its lanes
    assert running(experiment) == 2 and Run.objects.filter(project=project, status="running").count() == 2
    cell = experiment.results.filter(status="running").select_related("run", "golden_example").first()
    assert cell.run.rendered_prompt == f"A {cell.golden_example.input_data['input']}"
    assert cell.run.api_key_id == experiment.api_key_id and cell.run.attempts == 1
    assert cell.run.attempts_history.get().outcome == "running"

    first._release(held[0].tokens)  # one call came back
    assert len(claimed(second, 5)) == 1
    assert running(experiment) == 3


def test_a_lane_also_keeps_each_endpoint_within_its_limit(project, fake_openai):
    slow = make_endpoint(project, fake_openai.base_url, max_concurrency=1)
    fast = make_endpoint(project, fake_openai.base_url, max_concurrency=3)
    prompt = make_prompt(project, slow, ["A {input}"])
    PromptVersionFactory(prompt=prompt, version=2, template="B {input}", model_settings={"model_endpoint": fast.name})
    add_goldens(prompt, [(f"text {n}", "x") for n in range(5)])
    experiment = create(project, prompt, concurrency=10)

    lane = lane_of(experiment)
    held = lane.claim(10)

    cells = experiment.results.filter(status="running")
    assert len(held) == 4
    assert cells.filter(prompt_version__version=1).count() == 1
    assert cells.filter(prompt_version__version=2).count() == 3


def test_a_cell_that_cannot_start_fails_with_the_reason_and_the_others_start(project, endpoint):
    prompt = make_prompt(project, endpoint, ["A {input}"])
    add_goldens(prompt, [("one", "x")])
    broken = GoldenExampleFactory(prompt=prompt, input_data={"text": "no input variable"})
    add_goldens(prompt, [("three", "z")])
    experiment = create(project, prompt, concurrency=1)
    lane = lane_of(experiment)

    started = [len(claimed(lane, 1)) for _ in range(3)]

    assert started == [1, 0, 1]  # the broken cell fails in its round; the next round starts the third
    failed = experiment.results.get(golden_example=broken)
    assert (failed.status, failed.error_type) == ("failed", "missing_variable")
    assert "input" in failed.error_message and failed.run_id is None
    assert running(experiment) == 2


def test_the_last_dispatch_completes_the_experiment(project, endpoint):
    prompt = make_prompt(project, endpoint, ["A {input}"])
    add_goldens(prompt, [("one", "x")])
    experiment = create(project, prompt)
    ExperimentResult.objects.filter(experiment=experiment).update(status="failed")

    assert services.experiment_dispatch(experiment_id=experiment.pk).finished
    experiment.refresh_from_db()
    assert experiment.status == "failed" and experiment.finished_at is not None
    assert services.experiment_dispatch(experiment_id=experiment.pk) == services.DispatchReport()


def test_scoring_a_cell_twice_writes_it_once(project, endpoint):
    prompt = make_prompt(project, endpoint, ["A {input}"])
    add_goldens(prompt, [("one", "right")])
    experiment = create(project, prompt, scorers=["exact", "contains"])
    run = RunFactory(prompt_version=version(prompt, 1), project=project, status="completed", output="right")
    cell = experiment.results.get()
    ExperimentResult.objects.filter(pk=cell.pk).update(status="running", run=run)
    loaded = ExperimentResult.objects.select_related("experiment__project", "golden_example", "run")
    first_copy, second_copy = loaded.get(pk=cell.pk), loaded.get(pk=cell.pk)  # two deliveries of one task

    assert services._cell_settle(first_copy) == "completed"
    assert services._cell_settle(second_copy) == "discarded"
    assert services.experiment_cell_score(cell_id=cell.pk) == "skipped"
    experiment.refresh_from_db()
    assert experiment.status == "completed"  # the redelivery still moved the experiment on

    assert EvaluationResult.objects.filter(run=run).count() == 2
    cell.refresh_from_db()
    assert (cell.status, cell.scores, cell.passed) == ("completed", {"exact": 1.0, "contains": 1.0}, True)


def test_a_cell_waits_for_its_run(project, endpoint):
    prompt = make_prompt(project, endpoint, ["A {input}"])
    add_goldens(prompt, [("one", "right")])
    experiment = create(project, prompt)
    run = RunFactory(prompt_version=version(prompt, 1), project=project, status="running")
    ExperimentResult.objects.filter(experiment=experiment).update(status="running", run=run)

    assert services.experiment_cell_score(cell_id=experiment.results.get().pk) == "waiting"


def test_the_cache_never_crosses_projects(project, endpoint, fake_openai):
    prompt = make_prompt(project, endpoint, ["A {input}"])
    key = caching.cache_key(
        endpoint=endpoint, version=version(prompt, 1), variables={"input": "x"}, parameters=None, repeat_index=0
    )
    ResponseCacheEntry.objects.create(project=project, key=key, output="stored")
    other = ProjectFactory()

    assert caching.cache_lookup(project=project, key=key).output == "stored"
    assert caching.cache_lookup(project=other, key=key) is None
    assert key != caching.cache_key(
        endpoint=endpoint, version=version(prompt, 1), variables={"input": "x"}, parameters=None, repeat_index=1
    )
    assert key != caching.cache_key(
        endpoint=endpoint,
        version=version(prompt, 1),
        variables={"input": "x"},
        parameters={"temperature": 0.5},
        repeat_index=0,
    )


def test_only_a_running_experiment_can_be_cancelled(project, endpoint):
    prompt = make_prompt(project, endpoint, ["A {input}"])
    add_goldens(prompt, [("one", "x")])
    experiment = create(project, prompt)
    services.experiment_cancel(experiment=experiment)

    with pytest.raises(Conflict):
        services.experiment_cancel(experiment=experiment)


def test_the_sweeper_publishes_lost_scoring_and_idle_experiments(project, endpoint, django_capture_on_commit_callbacks):
    prompt = make_prompt(project, endpoint, ["A {input}"])
    add_goldens(prompt, [("one", "x"), ("two", "y")])
    idle = create(project, prompt)  # nothing in flight: to dispatch
    busy = create(project, prompt)
    finished_run = RunFactory(
        prompt_version=version(prompt, 1), project=project, status="completed", finished_at=timezone.now()
    )
    ExperimentResult.objects.filter(experiment=busy).update(status="running", run=finished_run)

    with django_capture_on_commit_callbacks() as published:
        soon = services.experiments_sweep()
        later = services.experiments_sweep(now=timezone.now() + timedelta(seconds=services.SWEEP_GRACE_SECONDS + 1))

    assert (soon.rescored, soon.redispatched) == (0, 1)
    assert (later.rescored, later.redispatched) == (2, 1)
    assert len(published) == 4
    assert idle.pk != busy.pk


@pytest.mark.django_db(transaction=True)  # the scheduler manages its own connection and transactions
def test_beat_runs_the_experiments_sweeper_every_minute():
    app.loader.import_default_modules()  # task autodiscovery, as a worker does at start-up
    assert {"experiments.sweep", "experiments.dispatch", "experiments.score_cell"} <= set(app.tasks)

    DatabaseScheduler(app=app)  # what `celery beat` does at start-up

    task = PeriodicTask.objects.get(name="experiments-sweep")
    assert task.task == "experiments.sweep" and task.enabled
    assert (task.interval.every, task.interval.period) == (60, "seconds")


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("exact", {"name": "exact"}),
        ("contains:threshold=0.5", {"name": "contains", "threshold": 0.5}),
        ("contains:mode=any,case_sensitive=true",
         {"name": "contains", "params": {"mode": "any", "case_sensitive": True}}),
        ("llm_judge:judge_endpoint=gemma,rubric=Be fair",
         {"name": "llm_judge", "params": {"judge_endpoint": "gemma", "rubric": "Be fair"}}),
    ],
)  # fmt: skip
def test_scorer_specs_from_the_command_line(text, spec):
    assert scorer_spec_parse(text) == spec


def test_a_malformed_scorer_spec_names_the_scorer():
    with pytest.raises(ValidationFailed, match="contains"):
        scorer_spec_parse("contains:threshold")


def test_a_cell_has_one_rendering_budget_for_its_cache_key_and_its_run(project, endpoint):
    prompt = make_busy_prompt(project, endpoint, versions=1, seconds_each=0.4)
    add_goldens(prompt, [("one", "x")])
    experiment = create(project, prompt, cache=True)
    started = time.monotonic()
    render_version(version=version(prompt, 1), variables={})
    once = time.monotonic() - started

    # One render fits the budget; the cell renders twice (its cache key, then its run).
    with override_settings(RENDER_BUDGET_SECONDS=round(1.5 * once, 3)):
        started = claimed(lane_of(experiment), 1)

    cell = ExperimentResult.objects.get(experiment=experiment)
    assert started == [] and cell.status == "failed" and cell.run is None
    assert cell.error_type == "render_budget_exceeded"
    assert cell.error_message.endswith("s for this experiment cell")
    assert not Run.objects.exists()
