"""The Celery application; request ids travel from the web request into the task's logs."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun

from llmops.core.request_context import current_request_id, request_id_var

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmops.settings")


def _tolerate_closing_a_collected_redis_channel() -> None:
    """When Redis drops while a worker holds unacknowledged messages (acks_late, tasks in flight), kombu
    collects the consumer's connection and then closes its channel once more; that second close tries
    to restore the messages through a transport that is gone and raises AttributeError, which Celery
    treats as unrecoverable: the worker exits. Raising the connection error kombu expects there instead
    lets Celery drop the connection and reconnect once Redis is back; the messages stay in Redis's
    unacknowledged set, and the run sweeper republishes what they carried."""
    try:
        from kombu.transport import redis as kombu_redis
    except ImportError:  # redis-py not installed: no Redis broker
        return
    connparams = kombu_redis.Channel._connparams
    if getattr(connparams, "tolerates_collected_transport", False):
        return

    def _connparams(self, asynchronous: bool = False) -> dict:
        if self.connection.client is None:
            raise kombu_redis.redis.exceptions.ConnectionError("the broker connection was closed")
        return connparams(self, asynchronous=asynchronous)

    _connparams.tolerates_collected_transport = True
    kombu_redis.Channel._connparams = _connparams


_tolerate_closing_a_collected_redis_channel()

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


@task_prerun.connect
def _drop_broken_connections(task=None, **_: object) -> None:
    """What Django does at the start of each request: a connection that failed (killed under a task
    whose retry now runs on the same thread) or outlived DB_CONN_MAX_AGE is closed, not reused. Not for
    eager tasks, which run inside their caller's transaction."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@task_postrun.connect
def _return_pooled_connection(**_: object) -> None:
    """A task's thread gives its pooled database connection back when the task ends, so an idle
    thread of a threads-pool worker never sits on one of the pool's few connections."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
            connection.close()
