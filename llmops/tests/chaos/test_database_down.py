"""PostgreSQL unreachable, or a request's own connection killed by the server mid-request: a 503 with
Retry-After and the error envelope (plain text outside the API), never a 500; /health names the
database. The test database itself stays up: the request's connection is pointed at a port where
nothing listens, or terminated with pg_terminate_backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import OperationalError, close_old_connections, connection, connections
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from accounts.tests.helpers import Tenant
from llmops.tests.chaos.helpers import degraded_count, free_port
from llmops.urls import handler500

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]


@contextmanager
def database_unreachable() -> Iterator[None]:
    """This thread's connection (the one the test client's requests use) goes to a closed port."""
    saved = connection.settings_dict["PORT"]
    connection.close()
    _close_pool()  # a pool keeps connections to the real port; the next one is made with the closed port
    connection.settings_dict["PORT"] = str(free_port())
    try:
        yield
    finally:
        connection.close()
        _close_pool()
        connection.settings_dict["PORT"] = saved


def _close_pool() -> None:
    if getattr(connection, "pool", None) is not None:
        connection.close_pool()


def assert_unavailable(response) -> dict:
    assert response.status_code == 503, (response.status_code, response.content[:500])
    assert response["Retry-After"] == "5"
    body = response.json()
    assert body["error"]["type"] == "unavailable"
    assert body["error"]["code"] == "database_unavailable"
    assert body["request_id"] == response["X-Request-ID"]
    return body


def test_api_requests_answer_503_with_retry_after_when_the_database_is_unreachable(tenant: Tenant):
    before = degraded_count("database")
    with database_unreachable():
        reads = [tenant.client.get("/api/v1/prompts"), tenant.client.get("/api/v1/runs")]
        write = tenant.client.post("/api/v1/run", {"prompt_name": "x", "variables": {}}, format="json")
    for response in [*reads, write]:
        assert_unavailable(response)
    assert degraded_count("database") - before == 3
    assert tenant.client.get("/api/v1/prompts").status_code == 200  # and back once it answers


def test_a_key_served_from_the_cache_still_gets_a_503_when_the_view_needs_the_database(tenant: Tenant):
    assert tenant.client.get("/api/v1/prompts").status_code == 200  # the key is now in the cache
    with database_unreachable():
        assert_unavailable(tenant.client.get("/api/v1/prompts"))


def test_a_request_whose_connection_the_server_kills_midway_answers_503(tenant: Tenant):
    """pg_terminate_backend of the request's own connection, just before one of its queries."""
    killer = connections.create_connection("default")
    terminated = []

    def terminate_own_backend(execute, sql, params, many, context):
        if not terminated and "prompts_prompt" in sql:
            with killer.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [context["connection"].connection.info.backend_pid])
            terminated.append(sql)
        return execute(sql, params, many, context)

    try:
        with connection.execute_wrapper(terminate_own_backend):
            response = tenant.client.get("/api/v1/prompts")
    finally:
        killer.close()
    assert terminated, "the request ran no prompts query"
    assert_unavailable(response)
    # Django closes a connection that failed when the request ends; the test client skips that step.
    close_old_connections()
    assert tenant.client.get("/api/v1/prompts").status_code == 200


def test_health_names_the_database_when_it_is_unreachable():
    with database_unreachable():
        response = APIClient().get("/api/v1/health?workers=false")
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]


def test_admin_pages_answer_503_with_retry_after_when_the_database_is_unreachable():
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert client.get("/admin/").status_code == 200
    with database_unreachable():
        response = client.get("/admin/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/plain")
    assert b"database is unavailable" in response.content


@pytest.mark.parametrize("path", ["/api/v1/prompts", "/admin/"])
def test_the_500_handler_answers_503_for_a_database_error_raised_outside_a_view(path):
    """Middleware errors reach Django's 500 handler, which Django calls while handling the exception."""
    request = RequestFactory().get(path)
    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError:
        response = handler500(request)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"


def test_the_500_handler_still_answers_500_for_a_bug():
    request = RequestFactory().get("/api/v1/prompts")
    try:
        raise ValueError("a bug")
    except ValueError:
        response = handler500(request)
    assert response.status_code == 500
    assert json.loads(response.content)["error"]["type"] == "internal_error"
