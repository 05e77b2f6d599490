"""run_finished: sent exactly once per terminal transition, after commit, whoever makes it."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from llmops.core.errors import Conflict
from llmops.core.testing.fake_openai import reply, status
from runs import services
from runs.models import Run
from runs.signals import run_finished
from runs.tests.helpers import terminal_run, wait_until, worker_idle

VARIABLES = {"input": "I love this!"}


class Recorder:
    """Collects (run_id, status) per signal; the worker's threads send them too."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, str]] = []

    def __call__(self, sender, *, run_id, status, **kwargs) -> None:
        with self.lock:
            self.events.append((str(run_id), str(status)))

    def for_run(self, run_id) -> list[str]:
        with self.lock:
            return [status for rid, status in self.events if rid == str(run_id)]


@pytest.fixture
def finished():
    recorder = Recorder()
    run_finished.connect(recorder, dispatch_uid="runs-test-recorder")
    yield recorder
    run_finished.disconnect(dispatch_uid="runs-test-recorder")


# -- through the real worker ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_completion_sends_once_and_a_second_delivery_sends_nothing(project, version, endpoint, fake_openai, finished):
    fake_openai.script(endpoint.model_id, [reply("positive")])
    run, _ = services.run_create(project=project, version=version, variables=VARIABLES)

    terminal_run(run.pk)
    wait_until(lambda: finished.for_run(run.pk), what="the signal")
    assert services.run_execute(run_id=run.pk).outcome == "skipped"  # a re-delivered message

    wait_until(worker_idle, what="the worker to go idle")
    assert finished.for_run(run.pk) == ["completed"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_retries_send_nothing_and_the_final_failure_sends_once(project, version, endpoint, fake_openai, finished):
    fake_openai.script(endpoint.model_id, [status(503)])
    run, _ = services.run_create(project=project, version=version, variables=VARIABLES, max_attempts=3)

    run = terminal_run(run.pk)

    assert (run.status, run.attempts) == ("failed", 3)
    wait_until(worker_idle, what="the worker to go idle")
    assert finished.for_run(run.pk) == ["failed"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_a_run_cancelled_during_the_call_sends_cancelled_only(project, version, endpoint, fake_openai, finished):
    fake_openai.script(endpoint.model_id, [reply("too late", delay=0.5)])
    run, _ = services.run_create(project=project, version=version, variables=VARIABLES)
    wait_until(lambda: fake_openai.calls(endpoint.model_id), what="the model call to start")

    services.run_cancel(run=Run.objects.get(pk=run.pk))

    wait_until(worker_idle, what="the worker to go idle")
    assert Run.objects.get(pk=run.pk).status == "cancelled"
    assert finished.for_run(run.pk) == ["cancelled"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_a_failing_receiver_does_not_break_the_engine(project, version, endpoint, fake_openai, finished):
    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    run_finished.connect(broken, dispatch_uid="runs-test-broken")
    try:
        run, _ = services.run_create(project=project, version=version, variables=VARIABLES)
        assert terminal_run(run.pk).status == "completed"
        wait_until(lambda: finished.for_run(run.pk), what="the other receiver to hear of it")
    finally:
        run_finished.disconnect(dispatch_uid="runs-test-broken")


# -- cancel and the sweeper, in the caller's process ------------------------------------------------------


@pytest.mark.django_db
def test_cancel_sends_once_after_commit_and_a_second_cancel_sends_nothing(
    project, version, finished, django_capture_on_commit_callbacks
):
    run, _ = services.run_create(project=project, version=version, variables=VARIABLES, enqueue=False)

    with django_capture_on_commit_callbacks(execute=True):
        services.run_cancel(run=run)
        assert finished.for_run(run.pk) == []  # not before the transaction commits
    with pytest.raises(Conflict), django_capture_on_commit_callbacks(execute=True):
        services.run_cancel(run=run)

    assert finished.for_run(run.pk) == ["cancelled"]


@pytest.mark.django_db
def test_a_rolled_back_cancel_sends_nothing(project, version, finished, django_capture_on_commit_callbacks):
    run, _ = services.run_create(project=project, version=version, variables=VARIABLES, enqueue=False)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        services.run_cancel(run=run)
        raise RuntimeError("roll back")

    assert Run.objects.get(pk=run.pk).status == "queued"
    assert finished.for_run(run.pk) == []


@pytest.mark.django_db
def test_sweeper_sends_failed_for_an_exhausted_lease_once(
    project, version, finished, django_capture_on_commit_callbacks
):
    exhausted, _ = services.run_create(project=project, version=version, variables=VARIABLES, enqueue=False)
    retried, _ = services.run_create(project=project, version=version, variables=VARIABLES, enqueue=False)
    lease = timezone.now() - timedelta(seconds=5)
    Run.objects.filter(pk=exhausted.pk).update(status="running", attempts=3, max_attempts=3, lease_expires_at=lease)
    Run.objects.filter(pk=retried.pk).update(status="running", attempts=1, max_attempts=3, lease_expires_at=lease)

    with django_capture_on_commit_callbacks(execute=True):
        services.runs_sweep()
        services.runs_sweep()

    assert Run.objects.get(pk=exhausted.pk).error_type == "lease_expired"
    assert finished.for_run(exhausted.pk) == ["failed"]
    assert finished.for_run(retried.pk) == []  # re-queued, not finished
