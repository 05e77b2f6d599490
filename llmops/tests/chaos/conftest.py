"""Fixtures of outage tests: a Redis server of the test's own and a URL where nothing listens.
Plain helpers live in helpers.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llmops.tests.chaos.helpers import RedisServer, free_port


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def dead_redis_url() -> str:
    """A Redis URL where nothing listens: every connection is refused."""
    return f"redis://127.0.0.1:{free_port()}/0"
