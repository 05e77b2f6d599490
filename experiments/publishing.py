"""Experiment tasks published once the surrounding transaction commits (at once outside one).

A failed publication is logged, not raised: the rows are the record, and the sweeper publishes lost
work again (a lane for an experiment with nothing running, the scoring of a cell whose run finished).
"""

from __future__ import annotations

import uuid

from django.db import transaction

from llmops.core import resilience


def publish(task: str, *args: object) -> None:
    arguments = [str(arg) if not isinstance(arg, int) else arg for arg in args]

    def send() -> None:
        from experiments import tasks  # the tasks module imports the services

        resilience.broker_publish(f"{task}{tuple(arguments)}", lambda: tasks.TASKS[task].apply_async(args=arguments))

    transaction.on_commit(send)


def publish_cell_scoring(*, cell_id: uuid.UUID | str) -> None:
    publish("score_cell", cell_id)


def publish_lane(*, experiment_id: uuid.UUID | str, capacity: int) -> None:
    publish("lane", experiment_id, capacity)


def publish_dispatch(*, experiment_id: uuid.UUID | str) -> None:
    publish("dispatch", experiment_id)
