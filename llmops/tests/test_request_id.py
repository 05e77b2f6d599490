import logging

import pytest
from celery import shared_task
from rest_framework.test import APIClient

from llmops.core.request_context import current_request_id

pytestmark = pytest.mark.django_db


def test_every_response_carries_a_fresh_request_id():
    first = APIClient().get("/api/v1/health?workers=false")
    second = APIClient().get("/api/v1/nowhere")
    assert len(first["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]
    assert second.json()["request_id"] == second["X-Request-ID"]


def test_well_formed_incoming_id_is_kept_and_hostile_one_replaced():
    kept = APIClient().get("/api/v1/health?workers=false", HTTP_X_REQUEST_ID="trace-1234-abcd")
    assert kept["X-Request-ID"] == "trace-1234-abcd"
    replaced = APIClient().get("/api/v1/health?workers=false", HTTP_X_REQUEST_ID="bad id\r\nSet-Cookie: x")
    assert replaced["X-Request-ID"] != "bad id\r\nSet-Cookie: x" and len(replaced["X-Request-ID"]) == 32


def test_log_lines_of_a_request_carry_its_id(caplog):
    logger = logging.getLogger("llmops.core.api.errors")
    with caplog.at_level(logging.INFO):
        response = APIClient().get("/api/v1/missing-route", HTTP_X_REQUEST_ID="req-for-logs-1")
    records = [r for r in caplog.records if r.name.startswith("django.request")]
    assert response.status_code == 404
    assert records and all(r.request_id == "req-for-logs-1" for r in records)
    assert logger  # the filter is installed on the root handler, so app loggers carry it too


@shared_task(name="tests.report_request_id")
def report_request_id() -> str | None:
    return current_request_id()


@pytest.mark.django_db(transaction=True)
def test_request_id_travels_into_celery_tasks(celery_worker):
    from llmops.core.request_context import request_id_var

    token = request_id_var.set("req-into-task-42")
    try:
        result = report_request_id.delay()
    finally:
        request_id_var.reset(token)
    assert result.get(timeout=20) == "req-into-task-42"
    # Without a web request the task still has an id to log: its own task id.
    orphan = report_request_id.delay()
    assert orphan.get(timeout=20) == orphan.id
