"""Fixtures of the execution engine's tests: an endpoint on the fake OpenAI server and a prompt
version using it. Plain helpers live in helpers.py, importable by the tests of higher apps."""

from __future__ import annotations

import pytest

from prompts.models import PromptVersion
from runs.models import ModelEndpoint
from runs.tests.helpers import make_endpoint, make_version


@pytest.fixture
def endpoint(project, fake_openai) -> ModelEndpoint:
    """An endpoint of the tenant's project on the fake server, priced 0.50 / 1.50 per million tokens."""
    return make_endpoint(project, fake_openai.base_url)


@pytest.fixture
def version(project, endpoint) -> PromptVersion:
    return make_version(project, endpoint=endpoint)
