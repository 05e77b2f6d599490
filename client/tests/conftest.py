"""The client against a live server on the real stack: pytest-django's ``live_server`` (PostgreSQL, Redis),
the Celery worker fixture, and the fake OpenAI-compatible server; a ``FaultProxy`` in between to stop the
server's port or inject refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llmops_client import LLMOps, RetryPolicy

from runs.tests.helpers import make_endpoint

from .proxy import FaultProxy

FAST_RETRY = RetryPolicy(max_attempts=4, backoff=0.05, max_backoff=0.2, deadline=5.0)


@pytest.fixture
def proxy(live_server) -> Iterator[FaultProxy]:
    with FaultProxy(live_server.url) as running:
        yield running


@pytest.fixture
def client(proxy, tenant) -> Iterator[LLMOps]:
    with LLMOps(proxy.url, tenant.key, retry=FAST_RETRY, timeout=10.0) as made:
        yield made


@pytest.fixture
def endpoint(project, fake_openai):
    return make_endpoint(project, fake_openai.base_url)
