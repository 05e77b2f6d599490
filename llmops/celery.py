"""The Celery application; request ids travel from the web request into the task's logs."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun

from llmops.request_context import current_request_id, request_id_var

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmops.settings")

app = Celery("llmops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

REQUEST_ID_HEADER = "request_id"


@before_task_publish.connect
def _attach_request_id(headers: dict | None = None, **_: object) -> None:
    request_id = current_request_id()
    if headers is not None and request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id


@task_prerun.connect
def _restore_request_id(task=None, **_: object) -> None:
    request_id = getattr(task.request, REQUEST_ID_HEADER, None) if task is not None else None
    task.request._request_id_token = request_id_var.set(request_id or task.request.id)


@task_postrun.connect
def _clear_request_id(task=None, **_: object) -> None:
    token = getattr(task.request, "_request_id_token", None) if task is not None else None
    if token is not None:
        request_id_var.reset(token)
