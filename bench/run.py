"""Benchmarks, reported as ratios measured in one run (absolute times depend on the machine).

    make bench        # needs PostgreSQL and Redis on 127.0.0.1, as the tests do

1. Fetch by name: a cached resolution against one that misses the cache (the label-move case).
2. POST /run against the model's own latency: the API answers before the model does.
3. Rendering: a Jinja2 template against the same f-string template.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmops.settings_test")

import django

django.setup()

from django.test.utils import setup_databases, setup_test_environment, teardown_databases  # noqa: E402


def timed(function: Callable[[], object], *, repeat: int) -> float:
    """Median seconds of one call."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        rows = run_benchmarks()
    finally:
        teardown_databases(databases, verbosity=0)
    width = max(len(name) for name, *_ in rows)
    print(f"{'benchmark'.ljust(width)}  {'median A':>10}  {'median B':>10}  ratio A/B")
    for name, a, b, note in rows:
        print(f"{name.ljust(width)}  {a * 1000:>8.3f}ms  {b * 1000:>8.3f}ms  {a / b:>9.3f}  {note}")


def run_benchmarks() -> list[tuple[str, float, float, str]]:
    from rest_framework.test import APIClient

    from accounts import services as account_services
    from accounts.models import Project
    from llmops.celery import app
    from llmops.core.testing.cache import clear_process_cache
    from llmops.core.testing.fake_openai import FakeOpenAIServer, reply
    from prompts import cache as prompt_cache
    from prompts import services as prompt_services
    from prompts.templating import render
    from runs.models import ModelEndpoint

    project = Project.objects.create(name="Bench", slug="bench")
    key = account_services.api_key_create(
        project=project, name="bench", requests_per_minute=1_000_000, runs_per_minute=1_000_000
    ).secret
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    prompt = prompt_services.prompt_create(
        project=project,
        name="bench-prompt",
        template="Analyze the sentiment of this text: {input}",
        labels=["production"],
    )
    rows = []

    url = "/api/v1/prompts/by-name/bench-prompt?label=production"
    client.get(url)
    warm = timed(lambda: client.get(url), repeat=300)

    def cold() -> None:
        prompt_cache.invalidate(project_id=project.pk, name=prompt.name)
        client.get(url)

    rows.append(("fetch by name: cached / uncached", warm, timed(cold, repeat=300), "below 1: the cache pays"))

    with FakeOpenAIServer() as server:
        server.script("bench-model", [reply("positive", delay=0.5)])
        ModelEndpoint.objects.create(
            project=project, name="slow", provider="huggingface", model_id="bench-model", base_url=server.base_url
        )
        body = {"prompt_id": str(prompt.pk), "variables": {"input": "I love this!"}, "model_endpoint": "slow"}
        post = timed(lambda: client.post("/api/v1/run", body, format="json"), repeat=50)
        rows.append(("POST /run / model latency (0.5 s)", post, 0.5, "far below 1: /run does not wait for the model"))
    app.control.purge()  # nothing consumes this run's queue

    variables = {"input": "I love this!", "tone": "formal"}
    fstring = "Reply in a {tone} tone. Analyze the sentiment of this text: {input}"
    jinja = "Reply in a {{ tone }} tone. Analyze the sentiment of this text: {{ input }}"

    def render_with(template_format: str, template: str) -> Callable[[], object]:
        return lambda: render(
            kind="text", template_format=template_format, template=template, messages=None, variables=variables
        )

    rows.append(
        (
            "render: jinja2 / f-string",
            timed(render_with("jinja2", jinja), repeat=2000),
            timed(render_with("fstring", fstring), repeat=2000),
            "the sandbox's price per render",
        )
    )
    clear_process_cache()
    return rows


if __name__ == "__main__":
    main()
