"""Helpers for the execution engine's tests: endpoints on the fake OpenAI server with a model id of
their own (so calls are counted per test), prompt versions, and polling with a deadline."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from celery.worker import state as worker_state

from accounts.models import Project
from prompts.models import PromptVersion
from prompts.tests.factories import PromptFactory, PromptVersionFactory
from runs.models import ModelEndpoint, Run
from runs.tests.factories import ModelEndpointFactory

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.02, what: str = "") -> T:
    """Poll until ``predicate()`` is truthy and return its value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


def terminal_run(run_id: object, *, timeout: float = 15.0) -> Run:
    def finished() -> Run | None:
        run = Run.objects.get(pk=run_id)
        return run if run.is_terminal else None

    return wait_until(finished, timeout=timeout, what=f"run {run_id} to finish")


def worker_idle() -> bool:
    """True when the test worker is executing no task (it runs in this process, in threads)."""
    return not worker_state.active_requests


def unique_model() -> str:
    return f"model-{uuid.uuid4().hex[:12]}"


def make_endpoint(project: Project, base_url: str, **fields) -> ModelEndpoint:
    fields.setdefault("model_id", unique_model())
    fields.setdefault("timeout_seconds", 5.0)
    return ModelEndpointFactory(project=project, base_url=base_url, **fields)


def make_version(project: Project, *, endpoint: ModelEndpoint | None = None, **fields) -> PromptVersion:
    fields.setdefault("template", "Analyze the sentiment of this text: {input}")
    fields.setdefault("variables", ["input"])
    if "model_settings" not in fields:
        fields["model_settings"] = {"model_endpoint": endpoint.name} if endpoint is not None else {}
    if "prompt" not in fields:
        fields["prompt"] = PromptFactory(project=project)
    return PromptVersionFactory(**fields)
