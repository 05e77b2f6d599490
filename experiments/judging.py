"""The judge model of judge scorers (``llm_judge``, ``hallucination_judge``).

A judge is a plain callable (prompt -> text) handed to ``evaluation.scorers.run_scorer``. It calls the
project's judge endpoint synchronously, inside the scoring task, at temperature 0 so a verdict does not
change between identical calls. It takes one of the endpoint's concurrency slots like any run does, and
retries what retrying can fix. When it cannot get an answer it raises, and the cell records a scorer error.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

from accounts.models import APIKey, Project
from evaluation.scorers import Judge
from runs import concurrency
from runs.backoff import retry_delay
from runs.budgets import BudgetExceeded
from runs.calls import Failure, call_endpoint
from runs.models import ModelEndpoint
from runs.selectors import model_endpoint_find
from runs.services import judge_call_allow, judge_call_bill

JUDGE_ATTEMPTS = 3
_SLOT_POLL_SECONDS = (0.05, 0.25)


class JudgeFailed(Exception):
    """The judge endpoint gave no usable answer."""


def judge_endpoint_find(*, project: Project, ref: str) -> ModelEndpoint | None:
    endpoint = model_endpoint_find(project=project, ref=str(ref))
    return endpoint if endpoint is not None and endpoint.enabled else None


@contextmanager
def _endpoint_slot(endpoint: ModelEndpoint) -> Iterator[None]:
    """Wait (up to the endpoint's timeout) for one of its slots, shared with every run of the endpoint."""
    lease = endpoint.timeout_seconds * 2 + 5
    deadline = time.monotonic() + endpoint.timeout_seconds
    while True:
        with concurrency.endpoint_slot(
            endpoint_id=endpoint.pk, limit=endpoint.max_concurrency, lease_seconds=lease
        ) as acquired:
            if acquired:
                yield
                return
        if time.monotonic() >= deadline:
            raise JudgeFailed(f"judge endpoint '{endpoint.name}' stayed busy for {endpoint.timeout_seconds:g} s")
        time.sleep(random.uniform(*_SLOT_POLL_SECONDS))  # noqa: S311 - jitter, not a secret


def build_judge(*, project: Project, ref: str, api_key: APIKey | None = None) -> Judge:
    """A judge whose calls are checked against the budgets before they are made and written to the
    cost log after (purpose ``judge``), charged to the experiment's key and project like its runs."""
    endpoint = judge_endpoint_find(project=project, ref=ref)
    if endpoint is None:
        raise JudgeFailed(f"judge endpoint '{ref}' does not exist in this project or is disabled")
    parameters = {**(endpoint.default_parameters or {}), "temperature": 0.0}

    def judge(prompt: str) -> str:
        try:
            judge_call_allow(project=project, api_key=api_key, endpoint=endpoint, prompt=prompt, parameters=parameters)
        except BudgetExceeded as error:
            raise JudgeFailed(error.message) from None
        attempt = 1
        while True:
            with _endpoint_slot(endpoint):
                result = call_endpoint(endpoint, model_id=endpoint.model_id, prompt=prompt, parameters=parameters)
            if not isinstance(result, Failure):
                judge_call_bill(project=project, api_key=api_key, endpoint=endpoint, completion=result)
                return result.text
            if not result.retryable or attempt >= JUDGE_ATTEMPTS:
                raise JudgeFailed(f"judge endpoint '{endpoint.name}': {result.error_type}: {result.message}")
            time.sleep(retry_delay(attempt=attempt, retry_after=result.retry_after))
            attempt += 1

    return judge
