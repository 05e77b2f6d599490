"""The cell state machine as a table: every pair of states, allowed or not, and a write from a state
the writer did not see changes nothing."""

from __future__ import annotations

import itertools

import pytest

from experiments import services
from experiments.cells import TRANSITIONS, Status, cell_settle, cells_cancel, cells_requeue, transition_allowed
from experiments.models import ExperimentResult
from experiments.tests.helpers import add_goldens, make_prompt

pytestmark = pytest.mark.django_db

ALLOWED = {
    ("pending", "running"), ("pending", "failed"), ("pending", "cancelled"),
    ("running", "completed"), ("running", "failed"), ("running", "cancelled"),
    ("failed", "pending"), ("cancelled", "pending"),
}  # fmt: skip


@pytest.mark.parametrize(("source", "target"), list(itertools.permutations(Status.values, 2)))
def test_the_transition_table(source, target):
    assert transition_allowed(source, target) == ((source, target) in ALLOWED)


def test_the_table_names_every_allowed_transition_once():
    assert set(TRANSITIONS) == ALLOWED


def test_a_settle_from_a_state_the_writer_did_not_see_writes_nothing(project, endpoint):
    prompt = make_prompt(project, endpoint, ["A {input}"])
    add_goldens(prompt, [("one", "x")])
    experiment, _ = services.experiment_create(project=project, prompt=prompt, name="x")
    cell = experiment.results.get()

    assert not cell_settle(cell, status=Status.COMPLETED)  # it is pending, not running
    assert cell_settle(cell, status=Status.FAILED, expected=Status.PENDING, error=("e", "why"))
    assert not cell_settle(cell, status=Status.FAILED, expected=Status.PENDING)  # once only
    assert cells_requeue(experiment.results.all()) == 1
    assert cells_cancel(experiment.results.all()) == 1
    assert ExperimentResult.objects.get(pk=cell.pk).status == "cancelled"
