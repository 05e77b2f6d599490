"""``llmops``, the command line over HTTP: the CI gate of ``manage.py run_experiment`` (same gates, exit
codes and table) with JUnit XML and JSON, prompts as code and golden examples, against the live server."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path
from xml.etree import ElementTree

import pytest
from django.core.management import call_command
from llmops_client import cli

from evaluation.models import GoldenExample
from experiments import gates, selectors
from experiments.exports import report_to_json
from experiments.models import Experiment
from experiments.tests.helpers import add_goldens, make_prompt
from llmops.core.testing.fake_openai import reply
from prompts.models import Prompt, PromptVersion

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


@pytest.fixture
def prompt(project, endpoint):
    """v1's answers match the goldens, v2's never do: v2 is significantly worse on 10 goldens."""
    prompt = make_prompt(project, endpoint, ["A: {input}", "B: {input}"], name="triage")
    add_goldens(prompt, [(f"ticket {n}", f"echo: A: ticket {n}") for n in range(10)])
    return prompt


def llmops(proxy, tenant, *arguments: str, stdin: str | None = None) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = cli.main(["--url", proxy.url, "--key", tenant.key, *arguments])
    finally:
        sys.stdin = old_stdin
    return code, out.getvalue(), err.getvalue()


def experiment(proxy, tenant, *arguments: str) -> tuple[int, str, str]:
    return llmops(proxy, tenant, "experiment", "run", "--prompt", "triage", "--poll", "0.1", *arguments)


def test_passing_gates_exit_0_with_the_same_table_as_manage_py(proxy, tenant, project, prompt, tmp_path):
    junit = tmp_path / "gates.xml"
    arguments = ["--versions", "1", "--scorer", "exact", "--scorer", "contains:threshold=0.5", "--wait"]
    code, out, err = experiment(proxy, tenant, *arguments, "--fail-under", "0.9", "--junit", str(junit))

    assert code == 0, err
    report = selectors.experiment_report(experiment=Experiment.objects.get(project=project))
    assert out == gates.comparison_table(report) + "\n"
    assert "PASS: v1 exact mean 1.000 reaches 0.9" in err and "10/10 cells" in err
    assert report["config"]["scorers"][1]["threshold"] == 0.5
    suite = ElementTree.parse(junit).getroot()  # noqa: S314 - the file this test wrote
    assert (suite.tag, suite.get("tests"), suite.get("failures")) == ("testsuite", "2", "0")  # completed, fail-under
    assert "exact mean" in suite.find("system-out").text


def test_exit_codes_match_manage_py(proxy, tenant, project, prompt):
    def manage_py(*arguments: str) -> int:
        try:
            call_command("run_experiment", "--project", project.slug, "--prompt", "triage", "--poll", "0.1",
                         *arguments, stdout=StringIO(), stderr=StringIO())  # fmt: skip
        except Exception as error:
            return error.returncode
        return 0

    for arguments in (
        ["--wait", "--fail-under", "0.5"],  # v2, the newest, scores 0
        ["--wait", "--fail-if-worse-than", "1"],  # and is significantly worse
        ["--versions", "1", "--wait", "--fail-under", "0.5"],
    ):
        assert experiment(proxy, tenant, *arguments)[0] == manage_py(*arguments), arguments
    assert [experiment(proxy, tenant, *arguments)[0] for arguments in (
        ["--wait", "--fail-under", "0.5"], ["--versions", "1", "--wait", "--fail-under", "0.5"]
    )] == [1, 0]  # fmt: skip


def test_a_failed_gate_is_a_junit_failure_and_json_is_the_servers_report(proxy, tenant, project, prompt, tmp_path):
    junit = tmp_path / "gates.xml"
    code, out, err = experiment(proxy, tenant, "--wait", "--fail-if-worse-than", "1", "--json", "--junit", str(junit))

    assert code == 1
    assert "FAIL: exact: v2 worse than v1, significant at 95%" in err
    report = selectors.experiment_report(experiment=Experiment.objects.get(project=project))
    assert out == report_to_json(report)
    suite = ElementTree.parse(junit).getroot()  # noqa: S314 - the file this test wrote
    assert suite.get("failures") == "1"
    assert "v2 worse than v1" in suite.find("testcase/failure").get("message")


def test_a_timeout_exits_2_and_leaves_the_experiment_running(proxy, tenant, project, prompt, endpoint, fake_openai):
    fake_openai.script(endpoint.model_id, [reply("slow", delay=1.5)])

    code, _, err = experiment(proxy, tenant, "--versions", "1", "--wait", "--timeout", "0.5")

    assert code == 2 and "goes on running" in err
    running = Experiment.objects.get(project=project)
    assert running.status == "running"
    assert proxy.url  # cancel it so the worker goes idle for the next test
    from experiments import services

    services.experiment_cancel(experiment=running)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--fail-under", "0.5"], "need --wait"),
        (["--wait", "--fail-if-worse-than", "2"], r"older than the newest (2)"),
        (["--wait", "--scorer", "nonsense"], "nonsense"),
        (["--wait", "--versions", "1,x"], "comma-separated version numbers"),
        (["--wait", "--split", "validation"], "no golden examples matching the filter"),
    ],
)
def test_bad_arguments_start_nothing(proxy, tenant, prompt, arguments, message):
    code, _, err = experiment(proxy, tenant, *arguments)

    assert code == 1 and message in err
    assert not Experiment.objects.exists()


def test_prompt_pull_writes_what_manage_py_writes_and_push_round_trips(proxy, tenant, project, tmp_path):
    from prompts import services

    services.prompt_create(
        project=project, name="support/triage", description="Route", tags=["support"], kind="chat",
        template_format="jinja2", messages=[{"role": "system", "content": "Route.\nOne team.\n"},
                                            {"role": "user", "content": "{{ ticket }}"}],
        model_settings={"parameters": {"temperature": 0.0}}, labels=["staging"], commit_message="first",
    )  # fmt: skip
    server_side = StringIO()
    call_command("prompt_pull", "support/triage", "--project", project.slug, stdout=server_side)

    code, out, _ = llmops(proxy, tenant, "prompt", "pull", "support/triage")
    assert code == 0 and out == server_side.getvalue()

    pulled = tmp_path / "triage.yaml"
    pulled.write_text(out)
    assert llmops(proxy, tenant, "prompt", "push", str(pulled))[1] == "support/triage: unchanged (version 1)\n"
    pulled.write_text(out.replace("{{ ticket }}", "Ticket: {{ ticket }}").replace("- staging", "- production"))
    code, out, _ = llmops(proxy, tenant, "prompt", "push", str(pulled))
    assert code == 0 and out == "support/triage: created version 2\nsupport/triage: label production -> v2\n"
    assert PromptVersion.objects.get(prompt__name="support/triage", version=2).messages[1]["content"] == (
        "Ticket: {{ ticket }}"
    )

    new = tmp_path / "new.json"
    new.write_text(json.dumps({"name": "fresh", "template": "Hi {name}", "tags": ["x"]}))
    assert llmops(proxy, tenant, "prompt", "push", str(new))[1] == "fresh: created version 1\n"
    assert Prompt.objects.get(project=project, name="fresh").tags == ["x"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: broken\ntemplate: '{0.__class__}'\n")
    code, _, err = llmops(proxy, tenant, "prompt", "push", str(bad))
    assert code == 1 and "(template)" in err


def test_goldens_import_and_export(proxy, tenant, project, endpoint, tmp_path):
    make_prompt(project, endpoint, ["A: {input}"], name="triage")
    source = tmp_path / "goldens.csv"
    source.write_text("input,expected_output\nhello,HELLO\nbye,BYE\n")

    code, out, _ = llmops(proxy, tenant, "goldens", "import", str(source), "--prompt", "triage")
    assert code == 0 and "imported 2" in out
    code, out, _ = llmops(proxy, tenant, "goldens", "export", "--prompt", "triage")
    assert code == 0 and [json.loads(line)["expected_output"] for line in out.splitlines()] == ["HELLO", "BYE"]
    assert llmops(proxy, tenant, "goldens", "import", "-", "--prompt", "triage", stdin=out)[0] == 0
    assert GoldenExample.objects.count() == 4
    code, _, err = llmops(proxy, tenant, "goldens", "import", "-", "--prompt", "triage", stdin='{"x": 1}\n')
    assert code == 1 and "line 1" in err


def test_the_console_script_reads_its_configuration_from_the_environment(proxy, tenant, project, endpoint):
    make_prompt(project, endpoint, ["A: {input}"], name="triage")
    script = shutil.which("llmops", path=str(Path(sys.executable).parent))
    assert script is not None, "pip install -e ./client installs the llmops console script"
    environment = {**os.environ, "LLMOPS_URL": proxy.url, "LLMOPS_API_KEY": tenant.key}

    done = subprocess.run([script, "prompt", "pull", "triage", "--format", "json"], env=environment,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["template"] == "A: {input}"
    missing = subprocess.run([script, "prompt", "pull", "triage"], env={**environment, "LLMOPS_API_KEY": ""},
                             capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert missing.returncode == 1 and "LLMOPS_API_KEY" in missing.stderr
