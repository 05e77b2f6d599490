"""The sweeper: no run stays non-terminal forever, and a run published twice is executed once."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from celery import current_app as app  # the platform's Celery app (set current by llmops/__init__.py)
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from llmops.core.testing.fake_openai import reply
from runs import services
from runs.models import Run, RunAttempt
from runs.tests.helpers import terminal_run, wait_until, worker_idle

VARIABLES = {"input": "I love this!"}


def queued_without_message(project, version) -> Run:
    """A queued run whose broker message was lost (never published)."""
    run, _ = services.run_create(project=project, version=version, variables=VARIABLES, enqueue=False)
    return run


def age(run: Run, seconds: float) -> None:
    """As if the run had been queued, published and due ``seconds`` ago."""
    past = timezone.now() - timedelta(seconds=seconds)
    Run.objects.filter(pk=run.pk).update(created_at=past, next_attempt_at=past, enqueued_at=past)


def claimed_by_a_lost_worker(run: Run, *, attempts: int, expired: bool = True) -> None:
    lease = timezone.now() + timedelta(seconds=-5 if expired else 300)
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.RUNNING, attempts=attempts, lease_expires_at=lease, started_at=timezone.now()
    )


@pytest.mark.parametrize("via", ["service", "command"])
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_a_run_stuck_in_queued_gets_executed(project, version, endpoint, fake_openai, via):
    run = queued_without_message(project, version)
    age(run, settings.RUN_STUCK_QUEUED_SECONDS + 5)

    if via == "command":
        out = StringIO()
        call_command("sweep_runs", stdout=out)
        assert "re-enqueued stuck runs: 1" in out.getvalue()
    else:
        assert services.runs_sweep().requeued_stuck == 1

    run = terminal_run(run.pk)
    assert (run.status, run.attempts) == ("completed", 1)
    assert fake_openai.calls(endpoint.model_id) == 1


@pytest.mark.django_db
def test_recent_queued_and_live_running_runs_are_left_alone(project, version, django_capture_on_commit_callbacks):
    queued_without_message(project, version)
    running = queued_without_message(project, version)
    claimed_by_a_lost_worker(running, attempts=1, expired=False)

    with django_capture_on_commit_callbacks() as callbacks:
        report = services.runs_sweep()

    assert report == services.SweepReport()
    assert callbacks == []


@pytest.mark.django_db
def test_a_stuck_run_is_published_once_per_period_not_every_sweep(project, version, django_capture_on_commit_callbacks):
    run = queued_without_message(project, version)
    age(run, settings.RUN_STUCK_QUEUED_SECONDS + 5)

    with django_capture_on_commit_callbacks() as callbacks:
        first = services.runs_sweep()
        second = services.runs_sweep()

    assert (first.requeued_stuck, second.requeued_stuck) == (1, 0)
    assert len(callbacks) == 1
    later = timezone.now() + timedelta(seconds=settings.RUN_STUCK_QUEUED_SECONDS + 1)
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.runs_sweep(now=later).requeued_stuck == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_an_expired_lease_with_attempts_left_is_requeued_and_finished(project, version, endpoint, fake_openai):
    run = queued_without_message(project, version)
    claimed_by_a_lost_worker(run, attempts=1)

    report = services.runs_sweep()

    assert report.requeued_expired == 1
    run = terminal_run(run.pk)
    assert (run.status, run.attempts) == ("completed", 2)
    assert fake_openai.calls(endpoint.model_id) == 1


@pytest.mark.django_db
def test_an_expired_lease_without_attempts_left_fails_as_lease_expired(project, version, endpoint, fake_openai):
    run = queued_without_message(project, version)
    claimed_by_a_lost_worker(run, attempts=run.max_attempts)

    report = services.runs_sweep()

    run.refresh_from_db()
    assert report.failed_expired == 1
    assert (run.status, run.error_type) == ("failed", "lease_expired")
    assert run.finished_at is not None and "lease expired" in run.error_message
    assert fake_openai.calls(endpoint.model_id) == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_a_run_published_several_times_is_executed_once(project, version, endpoint, fake_openai):
    fake_openai.script(endpoint.model_id, [reply("once", delay=0.3)])
    run = queued_without_message(project, version)

    for _ in range(4):  # e.g. the original message, a sweeper copy and broker redeliveries
        services.run_enqueue(run=run)

    run = terminal_run(run.pk)
    wait_until(worker_idle, what="the worker to drain the copies")
    assert (run.status, run.attempts, run.output) == ("completed", 1, "once")
    assert fake_openai.calls(endpoint.model_id) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_the_sweep_task_runs_on_the_worker(project, version, endpoint, fake_openai):
    run = queued_without_message(project, version)
    age(run, settings.RUN_STUCK_QUEUED_SECONDS + 5)

    app.send_task("runs.sweep")

    assert terminal_run(run.pk).status == "completed"


@pytest.mark.django_db(transaction=True)  # the scheduler manages its own connection and transactions
def test_beat_runs_the_sweeper_every_few_seconds():
    entry = settings.CELERY_BEAT_SCHEDULE["runs-sweep"]
    assert (entry["task"], entry["schedule"]) == ("runs.sweep", 5.0)
    assert settings.RUN_SWEEP_INTERVAL_SECONDS * 2 <= settings.RUN_DUE_GRACE_SECONDS
    app.loader.import_default_modules()  # task autodiscovery, as a worker does at start-up
    assert "runs.sweep" in app.tasks and "runs.execute" in app.tasks

    DatabaseScheduler(app=app)  # what `celery beat` does at start-up

    task = PeriodicTask.objects.get(name="runs-sweep")
    assert task.task == "runs.sweep" and task.enabled
    assert (task.interval.every, task.interval.period) == (5, "seconds")


# -- delayed messages: due work is not hostage to the worker holding it ----------------------------------------


def in_backoff_with_a_lost_message(run: Run, *, overdue: float) -> None:
    """Queued, with a countdown message published for a due time ``overdue`` seconds ago that never came
    back: the worker that held it was killed."""
    due = timezone.now() - timedelta(seconds=overdue)
    Run.objects.filter(pk=run.pk).update(
        attempts=1, next_attempt_at=due, enqueued_at=due - timedelta(seconds=20), error_type="rate_limited"
    )


@pytest.mark.django_db
def test_a_delayed_run_overdue_by_the_grace_is_published_again_once(
    project, version, django_capture_on_commit_callbacks
):
    run = queued_without_message(project, version)
    in_backoff_with_a_lost_message(run, overdue=settings.RUN_DUE_GRACE_SECONDS + 1)

    with django_capture_on_commit_callbacks() as callbacks:
        first = services.runs_sweep()
        second = services.runs_sweep()

    assert (first.requeued_stuck, second.requeued_stuck) == (1, 0)
    assert len(callbacks) == 1
    run.refresh_from_db()
    assert run.status == "queued" and run.enqueued_at > run.next_attempt_at  # published again, due time kept
    much_later = timezone.now() + timedelta(seconds=settings.RUN_STUCK_QUEUED_SECONDS + 1)
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.runs_sweep(now=much_later).requeued_stuck == 1


@pytest.mark.django_db
def test_runs_within_the_grace_or_not_yet_due_are_left_alone(project, version, django_capture_on_commit_callbacks):
    within = queued_without_message(project, version)
    in_backoff_with_a_lost_message(within, overdue=settings.RUN_DUE_GRACE_SECONDS - 3)
    waiting = queued_without_message(project, version)
    Run.objects.filter(pk=waiting.pk).update(
        next_attempt_at=timezone.now() + timedelta(seconds=30),
        enqueued_at=timezone.now() - timedelta(seconds=settings.RUN_STUCK_QUEUED_SECONDS + 5),
    )

    with django_capture_on_commit_callbacks() as callbacks:
        report = services.runs_sweep()

    assert report.requeued_stuck == 0 and callbacks == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_a_republished_run_and_its_late_original_call_the_model_once(project, version, endpoint, fake_openai):
    fake_openai.script(endpoint.model_id, [reply("once", delay=0.3)])
    run = queued_without_message(project, version)
    in_backoff_with_a_lost_message(run, overdue=settings.RUN_DUE_GRACE_SECONDS + 1)

    assert services.runs_sweep().requeued_stuck == 1
    services.run_enqueue(run=run)  # the original delayed message, late (its worker was busy)

    run = terminal_run(run.pk)
    wait_until(worker_idle, what="the worker to drain the copies")
    assert (run.status, run.attempts, run.output) == ("completed", 2, "once")
    assert fake_openai.calls(endpoint.model_id) == 1
    assert list(run.attempts_history.values_list("number", "outcome")) == [(2, "completed")]


@pytest.mark.django_db
def test_an_expired_lease_is_recorded_as_an_attempt_that_may_have_been_billed(project, version, endpoint):
    run = queued_without_message(project, version)
    claimed = services.claim_run(run, lease_seconds=1)  # as the worker that then vanished mid-call did
    Run.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=5))

    assert services.runs_sweep().requeued_expired == 1

    [attempt] = RunAttempt.objects.filter(run=run)
    assert (attempt.number, attempt.outcome) == (claimed.attempt, "lease_expired")
    assert attempt.finished_at is not None and "may have been billed" in attempt.error_message
