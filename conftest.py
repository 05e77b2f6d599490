"""Fixtures shared by every app's tests: projects with keys, authenticated API clients, a real
Celery worker on the Redis broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import Project
from accounts.tests.helpers import Tenant, make_tenant
from llmops.core import resilience
from llmops.core.testing.cache import clear_process_cache
from llmops.core.testing.fake_openai import FakeOpenAIServer


@pytest.fixture
def tenant(db) -> Tenant:
    return make_tenant()


@pytest.fixture
def other_tenant(db) -> Tenant:
    """A second project: its key must never see the first one's objects."""
    return make_tenant()


@pytest.fixture
def project(tenant: Tenant) -> Project:
    return tenant.project


@pytest.fixture
def api(tenant: Tenant) -> APIClient:
    return tenant.client


@pytest.fixture(autouse=True)
def _clear_cache():
    clear_process_cache()
    resilience.reset()  # no test inherits another's open circuit breaker (llmops.core.resilience)
    yield


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real Celery worker (thread pool) consuming this test process's queue on Redis.

    Tests that use it need ``transactional_db``: the worker's threads have their own database
    connections and only see committed rows."""
    from celery.contrib.testing.worker import start_worker

    from llmops.celery import app

    app.control.purge()
    with (
        django_db_blocker.unblock(),
        start_worker(
            app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=15
        ) as worker,
    ):
        yield worker


@pytest.fixture(scope="session", autouse=True)
def _release_stray_connections(django_db_setup, django_db_blocker):
    """Threads Django does not manage keep database sessions open: Celery's revoke handler reads the
    result backend from the worker's consumer thread, and live_server's request threads may outlive
    their requests. Any such session would keep PostgreSQL from dropping the test database."""
    yield
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    connection.close()


@pytest.fixture(scope="session")
def _fake_openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def fake_openai(_fake_openai_server: FakeOpenAIServer) -> Iterator[FakeOpenAIServer]:
    """A running fake OpenAI-compatible server (real sockets) with no scripts and no recorded requests."""
    _fake_openai_server.reset()
    yield _fake_openai_server
    _fake_openai_server.reset()  # also releases handlers still hanging from the test
