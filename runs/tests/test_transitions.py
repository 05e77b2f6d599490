"""The run state machine as a table: every (from, to) pair of statuses, and whether its transition
function moves a run in that state. Only the pairs listed in runs.transitions.TRANSITIONS may happen."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from runs import transitions
from runs.models import Run
from runs.tests.factories import RunFactory

pytestmark = pytest.mark.django_db
Status = Run.Status


def take(target: str, run: Run) -> bool:
    now = timezone.now()
    expected = transitions.running(run.pk, attempt=run.attempts)
    if target == Status.RUNNING:
        return transitions.run_claim(run.pk, now=now, lease_expires_at=now + timedelta(seconds=60))
    if target == Status.COMPLETED:
        return transitions.run_complete(expected, now=now, output="ok", input_tokens=1, output_tokens=1)
    if target == Status.QUEUED:
        return transitions.run_requeue(expected, now=now, due_at=now, error_type="timeout", error_message="t")
    if target == Status.FAILED:
        return transitions.run_fail(expected, now=now, error_type="bad_request", error_message="b")
    if target == Status.CANCELLED:
        return transitions.run_cancel(run.pk, now=now)
    raise AssertionError(target)


@pytest.mark.parametrize("source", Status.values)
@pytest.mark.parametrize("target", Status.values)
def test_only_the_listed_transitions_happen(source, target):
    run = RunFactory(status=source, attempts=1)

    moved = take(target, run)

    run.refresh_from_db()
    assert moved == transitions.transition_allowed(source, target), (source, target)
    assert run.status == (target if moved else source)


def test_every_status_is_reachable_and_the_final_ones_are_final():
    targets = {target for _, target in transitions.TRANSITIONS}
    assert targets == set(Status.values)
    final = {Status.COMPLETED, Status.FAILED, Status.CANCELLED}
    assert not [pair for pair in transitions.TRANSITIONS if pair[0] in final]


def test_a_transition_needs_the_attempt_and_lease_its_writer_saw():
    lease = timezone.now() + timedelta(seconds=30)
    run = RunFactory(status=Status.RUNNING, attempts=2, lease_expires_at=lease)
    now = timezone.now()

    assert not transitions.run_fail(transitions.running(run.pk, attempt=1), now=now, error_type="x", error_message="")
    stale = transitions.running(run.pk, attempt=2, lease_expires_at=lease - timedelta(seconds=1))
    assert not transitions.run_requeue(stale, now=now, due_at=now, error_type="x", error_message="")
    current = transitions.running(run.pk, attempt=2, lease_expires_at=lease)
    assert transitions.run_requeue(current, now=now, due_at=now, error_type="lease_expired", error_message="lost")
    run.refresh_from_db()
    assert (run.status, run.lease_expires_at, run.error_type) == (Status.QUEUED, None, "lease_expired")


def test_a_claim_waits_for_the_due_time():
    later = timezone.now() + timedelta(seconds=30)
    run = RunFactory(status=Status.QUEUED, attempts=1, next_attempt_at=later)
    now = timezone.now()

    assert not transitions.run_claim(run.pk, now=now, lease_expires_at=now + timedelta(seconds=60))
    assert transitions.run_claim(run.pk, now=later, lease_expires_at=later + timedelta(seconds=60))
    run.refresh_from_db()
    assert (run.status, run.attempts) == (Status.RUNNING, 2)
