"""POST /run?wait=: the waiting request is woken by the finish announcement instead of polling the row,
and still answers from the row (the truth) when Redis is away or the announcement is lost."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from llmops.core import resilience
from runs import selectors, waiting
from runs.models import Run
from runs.signals import send_run_finished
from runs.tests.factories import RunFactory

DEAD_REDIS = "redis://127.0.0.1:1/0"


def _finish_later(run_id, *, after: float, announce: bool = True) -> threading.Thread:
    """Another process finishing the run: the row is written and committed, then announced."""

    def finish() -> None:
        time.sleep(after)
        Run.objects.filter(pk=run_id).update(status=Run.Status.COMPLETED, output="done", finished_at=timezone.now())
        if announce:
            send_run_finished(run_id=run_id, status=Run.Status.COMPLETED)  # outside a transaction: at once
        connection.close()

    thread = threading.Thread(target=finish)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_waiting_request_is_woken_by_the_finish_instead_of_polling():
    run = RunFactory(status=Run.Status.RUNNING)
    finisher = _finish_later(run.pk, after=0.4)
    with CaptureQueriesContext(connection) as reads:
        finished = selectors.run_wait(run_id=run.pk, timeout=10)
    finisher.join()

    assert finished.status == Run.Status.COMPLETED and finished.output == "done"
    # One read before the wait, one after the wake-up (a sleeping poll would have read 6 times by then).
    assert len(reads.captured_queries) <= 3, [query["sql"][:60] for query in reads.captured_queries]


@pytest.mark.django_db(transaction=True)
def test_a_lost_announcement_costs_at_most_the_safety_poll():
    run = RunFactory(status=Run.Status.RUNNING)
    finisher = _finish_later(run.pk, after=0.1, announce=False)
    finished = selectors.run_wait(run_id=run.pk, timeout=10)
    finisher.join()
    assert finished.status == Run.Status.COMPLETED


@pytest.mark.django_db(transaction=True)
def test_without_redis_the_wait_polls_the_row(settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": DEAD_REDIS}}
    run = RunFactory(status=Run.Status.RUNNING)
    finisher = _finish_later(run.pk, after=0.2)
    finished = selectors.run_wait(run_id=run.pk, timeout=10)
    finisher.join()
    assert finished.status == Run.Status.COMPLETED
    resilience.reset()


@pytest.mark.django_db
def test_the_wait_ends_with_the_row_as_it_is_when_the_time_is_up():
    run = RunFactory(status=Run.Status.QUEUED)
    assert selectors.run_wait(run_id=run.pk, timeout=0.05).status == Run.Status.QUEUED


def test_each_run_has_its_own_channel_within_the_cache_prefix(settings):
    first, second = waiting.channel("a"), waiting.channel("b")
    assert first != second
    assert first.startswith(str(settings.CACHES["default"]["KEY_PREFIX"]))
