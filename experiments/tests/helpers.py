"""Helpers for experiment tests: prompts with versions on the fake OpenAI server, goldens, waiting for
an experiment to finish, and counting the model calls in flight at once (seen by the server)."""

from __future__ import annotations

import threading
import uuid

from accounts.models import Project
from evaluation.models import GoldenExample
from evaluation.tests.factories import GoldenExampleFactory
from experiments.models import Experiment
from prompts.models import Prompt, PromptVersion
from prompts.tests.factories import PromptFactory, PromptVersionFactory
from prompts.tests.heavy_templates import busy_messages
from runs.models import ModelEndpoint
from runs.tests.helpers import wait_until

FINAL = ("completed", "failed", "cancelled")


def make_prompt(project: Project, endpoint: ModelEndpoint | None, templates: list[str], **fields) -> Prompt:
    """A prompt whose versions 1..n have these templates (variable ``input``), each on ``endpoint``."""
    prompt = PromptFactory(project=project, **fields)
    for number, template in enumerate(templates, start=1):
        PromptVersionFactory(
            prompt=prompt,
            version=number,
            template=template,
            model_settings={"model_endpoint": endpoint.name} if endpoint is not None else {},
        )
    return prompt


def make_busy_prompt(project: Project, endpoint: ModelEndpoint, *, versions: int, seconds_each: float) -> Prompt:
    """A prompt whose versions are 100-message jinja2 chats that each take ``seconds_each`` to render."""
    prompt = PromptFactory(project=project)
    for number in range(1, versions + 1):
        PromptVersionFactory(
            prompt=prompt,
            version=number,
            kind="chat",
            template_format="jinja2",
            template="",
            messages=busy_messages(100, seconds_each=seconds_each / 100),
            variables=[],
            model_settings={"model_endpoint": endpoint.name},
        )
    return prompt


def add_goldens(prompt: Prompt, items: list[tuple[str, str]], **fields) -> list[GoldenExample]:
    """Goldens (input, expected output) in this order."""
    return [
        GoldenExampleFactory(prompt=prompt, input_data={"input": text}, expected_output=expected, **fields)
        for text, expected in items
    ]


def version(prompt: Prompt, number: int) -> PromptVersion:
    return PromptVersion.objects.get(prompt=prompt, version=number)


def finished_experiment(experiment_id: uuid.UUID | str, *, timeout: float = 30.0) -> Experiment:
    def done() -> Experiment | None:
        experiment = Experiment.objects.get(pk=experiment_id)
        return experiment if experiment.status in FINAL else None

    return wait_until(done, timeout=timeout, interval=0.05, what=f"experiment {experiment_id} to finish")


class InFlight:
    """Requests the fake server is answering at once (replies with a delay), and the most ever seen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.calls = 0

    def wrap(self, wait):
        def counted(seconds: float, generation: int) -> bool:
            with self.lock:
                self.now += 1
                self.calls += 1
                self.most = max(self.most, self.now)
            try:
                return wait(seconds, generation)
            finally:
                with self.lock:
                    self.now -= 1

        return counted
