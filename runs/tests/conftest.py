"""Fixtures shared by the run tests; no database involved."""

from collections.abc import Iterator

import pytest

from llmops.testing.fake_openai import FakeOpenAIServer


@pytest.fixture(scope="session")
def _fake_openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def fake_openai(_fake_openai_server: FakeOpenAIServer) -> Iterator[FakeOpenAIServer]:
    """A running fake OpenAI-compatible server with no scripts and no recorded requests."""
    _fake_openai_server.reset()
    yield _fake_openai_server
    _fake_openai_server.reset()  # also releases handlers still hanging from the test
