"""manage.py run_experiment, the CI gate: a real worker runs the experiment while the command polls."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from experiments import services
from experiments.models import Experiment
from experiments.tests.helpers import add_goldens, make_prompt
from llmops.core.testing.fake_openai import reply
from runs.tests.helpers import wait_until, worker_idle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


@pytest.fixture
def prompt(project, endpoint):
    """v1's answers match the goldens, v2's never do: v2 is worse, significantly, on 10 goldens."""
    prompt = make_prompt(project, endpoint, ["A: {input}", "B: {input}"], name="triage")
    add_goldens(prompt, [(f"ticket {n}", f"echo: A: ticket {n}") for n in range(10)])
    return prompt


def run(project, *arguments: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(
        "run_experiment", "--project", project.slug, "--prompt", "triage", *arguments, "--poll", "0.1",
        stdout=out, stderr=err,
    )  # fmt: skip
    return out.getvalue(), err.getvalue()


def exit_code(project, *arguments: str) -> int:
    try:
        run(project, *arguments)
    except CommandError as error:
        return error.returncode
    return 0


def test_passing_gates_exit_0_with_the_comparison_table(project, prompt):
    out, err = run(project, "--versions", "1", "--scorer", "exact", "--scorer", "contains:threshold=0.5",
                   "--wait", "--fail-under", "0.9")  # fmt: skip

    assert "v1" in out and "exact mean" in out and "contains mean" in out and "100.0%" in out
    assert "PASS: v1 exact mean 1.000 reaches 0.9" in err
    assert "10/10" in err  # the progress bar's last state
    experiment = Experiment.objects.get(project=project)
    assert experiment.status == "completed" and experiment.config["scorers"][1]["threshold"] == 0.5


def test_exit_codes_of_the_gates(project, prompt):
    assert exit_code(project, "--wait", "--fail-under", "0.5") == 1  # v2, the newest, scores 0
    assert exit_code(project, "--wait", "--fail-if-worse-than", "1") == 1  # and is significantly worse
    assert exit_code(project, "--versions", "1", "--wait", "--fail-under", "0.5") == 0


def test_the_verdict_is_printed_and_json_is_the_report(project, prompt):
    with pytest.raises(CommandError) as failed:
        run(project, "--wait", "--fail-if-worse-than", "1", "--format", "json")

    assert "v2 worse than v1, significant at 95%" in str(failed.value)
    out, _ = run(project, "--wait", "--format", "json", "--name", "nightly")
    report = json.loads(out)
    assert report["name"] == "nightly" and report["comparisons"][0]["verdict"].startswith("v2 worse than v1")


def test_a_timeout_exits_2_and_leaves_the_experiment_running(project, prompt, endpoint, fake_openai):
    fake_openai.script(endpoint.model_id, [reply("slow", delay=1.5)])

    assert exit_code(project, "--versions", "1", "--wait", "--timeout", "0.5") == 2

    experiment = Experiment.objects.get(project=project)
    assert experiment.status == "running"
    services.experiment_cancel(experiment=experiment)
    wait_until(worker_idle, timeout=10, what="the worker to go idle")


def test_without_wait_it_prints_the_id_and_returns(project, prompt):
    out, err = run(project, "--versions", "2")

    assert out.strip() == str(Experiment.objects.get(project=project).pk)
    assert "started: 10 cells" in err
    wait_until(lambda: Experiment.objects.get(project=project).status == "completed", what="the experiment")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--fail-under", "0.5"], "need --wait"),
        (["--wait", "--fail-if-worse-than", "2"], r"older than the newest \(2\)"),
        (["--wait", "--scorer", "nonsense"], "unknown scorer 'nonsense'"),
        (["--wait", "--versions", "1,x"], "comma-separated version numbers"),
        (["--wait", "--split", "validation"], "no golden examples matching the filter"),
    ],
)
def test_bad_arguments_start_nothing(project, prompt, arguments, message):
    with pytest.raises(CommandError, match=message):
        run(project, *arguments)

    assert not Experiment.objects.exists()
