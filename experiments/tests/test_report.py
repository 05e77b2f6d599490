"""The report: statistics end to end (a real experiment on the fake server says which version is
better), the aggregates on hand-made cells, and a query count that does not grow with the cells."""

from __future__ import annotations

from decimal import Decimal

import pytest

from evaluation.tests.factories import GoldenExampleFactory
from experiments import selectors, services
from experiments.config import ExperimentConfig
from experiments.tests.factories import ExperimentFactory, ExperimentResultFactory
from experiments.tests.helpers import add_goldens, finished_experiment, make_prompt
from prompts.tests.factories import PromptVersionFactory

# -- end to end: the verdict --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_the_report_says_which_version_is_better_and_when_there_is_no_difference(project, endpoint, fake_openai):
    # The fake model echoes the prompt: v2's template gives the expected answer on 17 of 20 goldens.
    prompt = make_prompt(project, endpoint, ["A: {input}", "B: {input}"])
    add_goldens(prompt, [(f"ticket {n}", f"echo: {'A' if n < 3 else 'B'}: ticket {n}") for n in range(20)])

    experiment, _ = services.experiment_create(
        project=project, prompt=prompt, name="v1 vs v2", concurrency=8, scorers=["exact"]
    )
    report = selectors.experiment_report(experiment=finished_experiment(experiment.pk))

    assert report["status"] == "completed" and report["progress"]["percent"] == 100.0
    v1, v2 = report["versions"]
    assert (v1["pass_rate"], v2["pass_rate"]) == (0.15, 0.85)
    assert (v1["scores"]["exact"]["mean"], v2["scores"]["exact"]["mean"]) == (0.15, 0.85)
    [comparison] = report["comparisons"]
    assert (comparison["baseline"], comparison["candidate"], comparison["n"]) == ("v1", "v2", 20)
    assert comparison["significant"] and comparison["ci_low"] > 0
    assert comparison["verdict"].startswith("v2 better than v1, significant at 95%")
    assert comparison["mcnemar_p"] < 0.05 and comparison["wilcoxon_p"] < 0.05

    same = make_prompt(project, endpoint, ["A: {input}", "A: {input}"])
    add_goldens(same, [(f"ticket {n}", f"echo: A: ticket {n}" if n % 2 else "other") for n in range(20)])
    experiment, _ = services.experiment_create(
        project=project, prompt=same, name="v1 vs v1 again", concurrency=8, scorers=["exact"]
    )
    report = selectors.experiment_report(experiment=finished_experiment(experiment.pk))

    [comparison] = report["comparisons"]
    assert not comparison["significant"] and comparison["mean_difference"] == 0.0
    assert comparison["verdict"].startswith("no detectable difference at n=20")


# -- aggregates on hand-made cells --------------------------------------------------------------------------


def _experiment(*, scorers: list[dict], repeats: int = 1, versions: int = 2):
    experiment = ExperimentFactory(
        config=ExperimentConfig(
            versions=list(range(1, versions + 1)), scorers=scorers, repeats=repeats, concurrency=4
        ).as_json()
    )
    made = [PromptVersionFactory(prompt=experiment.prompt, version=n) for n in range(1, versions + 1)]
    experiment.versions.set(made)
    return experiment, made


def _cell(experiment, version, golden, *, repeat=0, **fields):
    fields.setdefault("status", "completed")
    return ExperimentResultFactory(
        experiment=experiment, prompt_version=version, golden_example=golden, repeat_index=repeat, **fields
    )


@pytest.mark.django_db
def test_version_summaries_count_what_was_answered_and_paid():
    scorers = [
        {"name": "exact", "threshold": 1.0, "params": {}},
        {"name": "hallucination", "threshold": 0.7, "params": {}},
    ]
    experiment, (v1, v2) = _experiment(scorers=scorers)
    goldens = [GoldenExampleFactory(prompt=experiment.prompt) for _ in range(4)]
    paid = {"input_tokens": 10, "output_tokens": 2, "cost": Decimal("0.000010000")}
    _cell(experiment, v1, goldens[0], scores={"exact": 1.0, "hallucination": 1.0}, passed=True, latency_ms=100, **paid)
    _cell(experiment, v1, goldens[1], scores={"exact": 0.0, "hallucination": 0.5}, passed=False, latency_ms=300, **paid)
    _cell(
        experiment, v1, goldens[2], scores={"exact": 1.0, "hallucination": 1.0}, passed=True, latency_ms=200,
        cached=True, cost=Decimal("0"), input_tokens=10, output_tokens=2,
    )  # fmt: skip
    _cell(experiment, v1, goldens[3], status="failed", error_type="timeout", error_message="no answer in 60 s")
    _cell(experiment, v2, goldens[0], scores={"exact": 1.0, "hallucination": 1.0}, passed=True, latency_ms=50, **paid)
    _cell(experiment, v2, goldens[1], scores={"exact": 1.0, "hallucination": 1.0}, passed=True, cost=None)
    _cell(experiment, v2, goldens[2], status="running")
    _cell(experiment, v2, goldens[3], status="pending")

    report = selectors.experiment_report(experiment=experiment)

    assert report["progress"] == {
        "total": 8, "pending": 1, "running": 1, "completed": 5, "failed": 1, "cancelled": 0, "cached": 1,
        "percent": 75.0,
    }  # fmt: skip
    first, second = report["versions"]
    assert (first["n"], first["completed"], first["failures"]) == (4, 3, 1)
    assert first["scores"]["exact"] | {"std": None} == {
        "n": 3, "mean": 2 / 3, "min": 0.0, "max": 1.0, "std": None, "p50": 1.0, "p95": 1.0,
    }  # fmt: skip
    assert first["pass_rate"] == 2 / 3 and first["hallucination_rate"] == 1 / 3
    assert first["latency_ms"] == {"mean": 200.0, "p50": 200.0, "p95": 290.0}
    assert first["tokens"] == {"input": 20, "output": 4}  # the cached cell cost nothing
    assert (first["cost"], first["cost_known"]) == ("0.000020000", True)
    assert (second["cost"], second["cost_known"]) == (None, False)  # one answer has no known price
    assert second["pass_rate"] == 1.0 and second["hallucination_rate"] == 0.0
    [exact, hallucination] = report["comparisons"]
    assert (exact["scorer"], exact["n"], hallucination["n"]) == ("exact", 2, 2)
    example = next(e for e in report["examples"] if e["golden_id"] == str(goldens[3].pk))
    assert example["cells"]["1"] == [
        {
            "repeat": 0, "status": "failed", "output": None, "scores": {}, "passed": None, "cached": False,
            "latency_ms": None, "error": "timeout: no answer in 60 s",
        }
    ]  # fmt: skip
    assert example["cells"]["2"][0]["status"] == "pending"
    assert [e["golden_id"] for e in report["examples"]] == [str(golden.pk) for golden in goldens]


@pytest.mark.django_db
def test_repeats_that_disagree_are_flaky_and_repeats_are_averaged_per_golden():
    experiment, (v1, v2) = _experiment(scorers=[{"name": "exact", "threshold": 1.0, "params": {}}], repeats=3)
    steady, shaky = GoldenExampleFactory(prompt=experiment.prompt), GoldenExampleFactory(prompt=experiment.prompt)
    for repeat, score in enumerate([1.0, 0.0, 1.0]):
        _cell(experiment, v1, steady, repeat=repeat, scores={"exact": 1.0}, passed=True)
        _cell(experiment, v1, shaky, repeat=repeat, scores={"exact": 0.0}, passed=False)
        _cell(experiment, v2, steady, repeat=repeat, scores={"exact": 1.0}, passed=True)
        _cell(experiment, v2, shaky, repeat=repeat, scores={"exact": score}, passed=bool(score))

    report = selectors.experiment_report(experiment=experiment)

    assert report["flaky_examples"] == [
        {"golden_id": str(shaky.pk), "version": 2, "scores": [1.0, 0.0, 1.0], "variance": pytest.approx(2 / 9)}
    ]
    [comparison] = report["comparisons"]
    assert comparison["n"] == 2  # goldens, not cells
    assert comparison["mean_candidate"] == pytest.approx((1.0 + 2 / 3) / 2)


@pytest.mark.django_db
def test_an_experiment_without_cells_has_an_empty_report():
    experiment = ExperimentFactory()

    report = selectors.experiment_report(experiment=experiment)

    assert report["progress"]["total"] == 0 and report["progress"]["percent"] == 0.0
    assert report["versions"] == report["comparisons"] == report["examples"] == report["flaky_examples"] == []
    assert report["config"]["scorers"] == [{"name": "exact", "threshold": 1.0, "params": {}}]


@pytest.mark.django_db
@pytest.mark.parametrize(("goldens", "repeats"), [(2, 1), (12, 3)])
def test_the_report_takes_the_same_few_queries_however_many_cells(goldens, repeats, django_assert_max_num_queries):
    experiment, made = _experiment(scorers=[{"name": "exact", "threshold": 1.0, "params": {}}], repeats=repeats)
    for _ in range(goldens):
        golden = GoldenExampleFactory(prompt=experiment.prompt)
        for version in made:
            for repeat in range(repeats):
                _cell(experiment, version, golden, repeat=repeat, scores={"exact": 1.0}, passed=True, latency_ms=9)

    with django_assert_max_num_queries(3):
        report = selectors.experiment_report(experiment=experiment)

    assert report["progress"]["completed"] == goldens * 2 * repeats
