"""A person's path through the console, in headless Chromium: log in, create a prompt, edit it into
version 2, compare the versions, launch an experiment and read its report with the chart."""

from __future__ import annotations

import os
import shutil
import time

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"),
]


def _screenshot(page, name: str) -> None:
    """Kept for a person to look at when LLMOPS_SCREENSHOT_DIR is set."""
    if folder := os.environ.get("LLMOPS_SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


@pytest.fixture
def browser_page(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still
    # plain synchronous code, so Django's async-safety guard does not apply to them.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        yield page
        browser.close()


@pytest.mark.django_db(transaction=True)
def test_console_prompt_to_experiment_report(browser_page, live_server, admin_user, celery_worker, fake_openai):
    from accounts.models import Project
    from evaluation.models import GoldenExample
    from experiments.models import Experiment
    from llmops.core.testing.fake_openai import reply
    from prompts.models import Prompt
    from runs.tests.factories import ModelEndpointFactory

    page = browser_page
    project = Project.objects.create(name="Browser", slug="browser")

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    assert page.locator("#site-name").is_visible()

    # Create a prompt: its version 1.
    page.goto(f"{live_server.url}/admin/prompts/prompt/add/")
    page.select_option("#id_project", str(project.pk))
    page.fill("#id_name", "sentiment-analysis")
    page.fill("#id_description", "Analyze sentiment of text")
    page.fill("#id_template", "Analyze the sentiment of this text: {input}")
    page.click("input[name=_continue]")
    page.wait_for_url("**/change/")
    prompt = Prompt.objects.get(project=project, name="sentiment-analysis")
    assert prompt.versions.count() == 1

    # Edit the template: saving creates version 2, version 1 stays as it was.
    page.fill("#id_template", "Classify the sentiment (positive, negative, neutral) of: {input}")
    page.fill("#id_commit_message", "ask for a label")
    page.click("input[name=_continue]")
    assert prompt.versions.count() == 2
    assert prompt.versions.get(version=1).template == "Analyze the sentiment of this text: {input}"

    # The side-by-side diff of v1 and v2.
    page.goto(f"{live_server.url}/admin/prompts/prompt/{prompt.pk}/diff/?from_version=1&to_version=2")
    diff = page.inner_text("body").replace("\xa0", " ")
    assert "Classify the sentiment" in diff and "Analyze the sentiment" in diff
    _screenshot(page, "diff")

    # Goldens and a model to run them against (the suite's fake OpenAI-compatible server).
    for text, label in [("I love this!", "positive"), ("This is awful.", "negative"), ("It is a chair.", "neutral")]:
        GoldenExample.objects.create(project=project, prompt=prompt, input_data={"input": text}, expected_output=label)
    endpoint = ModelEndpointFactory(
        project=project, name="fake", base_url=fake_openai.base_url, model_id="browser-fake"
    )
    fake_openai.script(endpoint.model_id, [reply("positive")])

    # Launch an experiment from the console.
    page.goto(f"{live_server.url}/admin/experiments/experiment/launch/?prompt={prompt.pk}")
    page.fill("#id_name", "v1 vs v2")
    page.fill("#id_model_endpoint", "fake")
    page.fill("#id_scorers", "exact")
    page.click("input[type=submit]")
    page.wait_for_url("**/change/")
    experiment = Experiment.objects.get(project=project, name="v1 vs v2")
    assert experiment.total_cells == 6  # 3 goldens x 2 versions

    deadline = time.monotonic() + 60
    while Experiment.objects.get(pk=experiment.pk).status not in ("completed", "failed"):
        assert time.monotonic() < deadline, "the experiment did not finish in 60 s"
        time.sleep(0.2)
    assert Experiment.objects.get(pk=experiment.pk).status == "completed"

    # Its report, with the chart: one bar per (version, scorer).
    page.reload()
    report = page.frame_locator("iframe.experiment-report")
    chart = report.locator("#score-chart")
    chart.wait_for()
    assert chart.locator("rect.bar").count() == 2
    body = page.inner_text("body")
    assert "v1 vs v2" in body and "completed" in body.lower()
    _screenshot(page, "experiment")
