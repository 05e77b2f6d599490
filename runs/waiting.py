"""Waking a request that waits for its run (``POST /run?wait=N``) as soon as the run finishes.

The process that finishes a run publishes the run's id on a Redis channel once the transaction that
wrote it has committed (runs.signals); a waiting request subscribes before it first reads the row,
so a finish between its read and its wait still wakes it. Without this the request polled the
row with growing sleeps and saw a finished run up to a quarter of a second late.

Redis is a shortcut here, never the truth: the waiter still reads the row, and reads it again every
``SAFETY_POLL_SECONDS`` in case a message is lost; with Redis away (or not configured) it polls.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from django.core.cache import caches

from llmops.core import counters, resilience

COMPONENT = "run_wait"
# The longest a waiter trusts the channel before reading the row again.
SAFETY_POLL_SECONDS = 0.5


def channel(run_id: uuid.UUID | str) -> str:
    # Pub/sub channels span every Redis database: the cache's key prefix keeps deployments apart.
    return caches["default"].make_key(f"runs:finished:{run_id}")


def notify_finished(*, run_id: uuid.UUID | str) -> None:
    """Wake the requests waiting for this run, if any (after the commit that finished it)."""
    client = counters.redis_client()
    if client is None:
        return
    resilience.cache_call(
        COMPONENT,
        lambda: client.publish(channel(run_id), b"1"),
        fallback=None,
        consequence="requests waiting for runs poll the database",
    )


@contextmanager
def finished_signal(*, run_id: uuid.UUID | str) -> Iterator[Callable[[float], bool] | None]:
    """``wait(seconds)``: True once the run's finish was announced, False after ``seconds``; None when
    there is no channel to listen to (the caller polls). Subscribed on entry."""
    client = counters.redis_client()
    pubsub = None
    if client is not None:

        def subscribe():
            subscription = client.pubsub(ignore_subscribe_messages=True)
            subscription.subscribe(channel(run_id))
            return subscription

        pubsub = resilience.cache_call(
            COMPONENT, subscribe, fallback=None, consequence="requests waiting for runs poll the database"
        )
    if pubsub is None:
        yield None
        return

    def wait(seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = pubsub.get_message(timeout=left)
            except resilience.CACHE_ERRORS:
                time.sleep(max(0.0, min(left, 0.05)))  # the row is read again by the caller
                return False
            if message is not None:
                return True
        return False

    try:
        yield wait
    finally:
        with suppress(resilience.CACHE_ERRORS):
            pubsub.close()
