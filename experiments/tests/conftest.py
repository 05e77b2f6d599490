"""Fixtures of experiment tests: an endpoint on the fake OpenAI server and a counter of model calls
in flight. Plain helpers live in helpers.py."""

from __future__ import annotations

import pytest

from experiments.tests.helpers import (
    InFlight,
)
from runs.models import ModelEndpoint
from runs.tests.helpers import make_endpoint


@pytest.fixture
def in_flight(fake_openai, monkeypatch) -> InFlight:
    counter = InFlight()
    monkeypatch.setattr(fake_openai, "_wait", counter.wrap(fake_openai._wait))
    return counter


@pytest.fixture
def endpoint(project, fake_openai) -> ModelEndpoint:
    """An endpoint of the tenant's project on the fake server, with room for 8 calls at once."""
    return make_endpoint(project, fake_openai.base_url, max_concurrency=8)
