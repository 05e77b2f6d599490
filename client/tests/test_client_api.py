"""Runs, retries, golden examples and experiments through the client, on the live server with a real
Celery worker and the fake OpenAI-compatible server."""

from __future__ import annotations

import time

import pytest
from llmops_client import APIError, LLMOps, RetryPolicy

from evaluation.models import GoldenExample
from experiments.tests.helpers import add_goldens, make_prompt
from llmops.core.testing.fake_openai import reply
from runs.models import CostLog, Run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


@pytest.fixture
def prompt(project, endpoint):
    return make_prompt(project, endpoint, ["A: {input}", "B: {input}"], name="triage")


def test_run_with_wait_returns_the_finished_run(client, prompt, fake_openai, endpoint):
    fake_openai.script(endpoint.model_id, [reply("positive", delay=0.3)])

    run = client.run("triage", label="latest", variables={"input": "I love it"}, wait=15)

    assert run["status"] == "completed" and run["output"] == "positive"
    assert fake_openai.requests(endpoint.model_id)[0]["json"]["messages"][-1]["content"] == "B: I love it"


def test_run_without_wait_is_accepted_at_once(client, prompt, fake_openai, endpoint):
    fake_openai.script(endpoint.model_id, [reply("late", delay=1.0)])

    accepted = client.run("triage", version=1, variables={"input": "x"})

    assert accepted["status"] == "queued" and accepted["run_id"]
    assert client.run("triage", version=1, variables={"input": "y"}, wait=10, poll=0.1)["status"] == "completed"


def test_a_run_whose_answer_was_lost_is_retried_without_a_second_run_or_bill(client, proxy, prompt, fake_openai,
                                                                              endpoint):  # fmt: skip
    proxy.fail("POST", "/api/v1/run", drop=True)  # the server accepts the run; its answer never arrives

    run = client.run("triage", version=1, variables={"input": "x"}, wait=10)

    posts = proxy.requests("POST", "/api/v1/run")
    assert len(posts) == 2 and posts[0].status is None
    assert posts[0].headers["Idempotency-Key"] == posts[1].headers["Idempotency-Key"]
    assert run["status"] == "completed"
    assert Run.objects.count() == 1 and CostLog.objects.count() == 1
    assert fake_openai.calls(endpoint.model_id) == 1


def test_429_and_503_are_retried_after_their_retry_after(client, proxy, prompt):
    proxy.fail("POST", "/api/v1/run", status=429, retry_after=0.4)
    proxy.fail("POST", "/api/v1/run", status=503, retry_after=0.3)

    started = time.monotonic()
    run = client.run("triage", version=1, variables={"input": "x"})

    assert time.monotonic() - started >= 0.7
    assert run["status"] == "queued"
    assert [seen.status for seen in proxy.requests("POST", "/api/v1/run")] == [429, 503, 202]
    assert Run.objects.count() == 1


def test_retries_stop_at_the_deadline(proxy, tenant, prompt):
    for _ in range(20):
        proxy.fail("GET", "/api/v1/prompts/by-name/", status=503, retry_after=0.3)
    retry = RetryPolicy(max_attempts=20, backoff=0.05, deadline=1.0)
    with LLMOps(proxy.url, tenant.key, retry=retry, prompt_deadline=1.0) as client:
        started = time.monotonic()
        with pytest.raises(APIError) as refused:
            client.get_prompt("triage")
        elapsed = time.monotonic() - started

    assert refused.value.status == 503 and refused.value.retry_after == pytest.approx(0.3)
    assert elapsed < 1.5  # no wait starts that would end past the deadline (+ the last request's own time)
    assert 3 <= len(proxy.requests("GET", "/api/v1/prompts/by-name/")) <= 4  # at 0, 0.3, 0.6, (0.9) s


def test_a_client_error_is_not_retried(client, proxy, prompt):
    with pytest.raises(APIError) as invalid:
        client.run("triage", version=1, variables={})

    assert invalid.value.status == 400 and invalid.value.param == "variables.input"
    assert len(proxy.requests("POST", "/api/v1/run")) == 1


def test_goldens_import_and_export_round_trip(client, prompt, tmp_path):
    source = tmp_path / "goldens.csv"
    source.write_text("input,expected_output,split\nhello,echo: A: hello,test\nbye,echo: A: bye,\n")

    assert client.import_goldens("triage", source) == 2
    exported = client.export_goldens("triage", format="jsonl")
    assert client.import_goldens(str(prompt.pk), exported, format="jsonl") == 2

    assert GoldenExample.objects.filter(prompt=prompt).count() == 4
    test_split = client.export_goldens("triage", format="csv", split="test").splitlines()
    assert len(test_split) == 3 and "bye" not in "".join(test_split)  # the header and both copies of "hello"
    with pytest.raises(APIError) as bad:
        client.import_goldens("triage", '{"input_data": {}}\n', format="jsonl")
    assert bad.value.status == 400 and "line 1" in bad.value.message


def test_experiment_start_wait_and_report(client, prompt):
    add_goldens(prompt, [(f"t{n}", f"echo: A: t{n}") for n in range(4)])
    seen: list[str] = []

    started = client.start_experiment("triage", name="v1 vs v2", scorers=["exact"])
    finished = client.wait_experiment(
        started["experiment_id"], timeout=30, poll=0.1, on_progress=lambda e: seen.append(e["status"])
    )
    report = client.experiment_report(started["experiment_id"])

    assert started["total_cells"] == 8 and finished["status"] == "completed" and seen[-1] == "completed"
    means = {summary["version"]: summary["scores"]["exact"]["mean"] for summary in report["versions"]}
    assert means == {1: 1.0, 2: 0.0}
