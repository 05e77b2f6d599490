"""Celery adapters: ids in, a service call out. Results are not stored: the rows are the record.

Dispatch, lanes and scoring retry on a lost database connection; anything else they leave to the
sweeper, which publishes lost work again (every one of them is idempotent).
"""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task
from django.db import InterfaceError, OperationalError

from experiments import services

_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "retry_backoff_max": 30,
    "max_retries": 5,
}


@shared_task(name="experiments.dispatch", ignore_result=True, **_RETRY)
def dispatch_experiment(experiment_id: str) -> dict:
    return asdict(services.experiment_dispatch(experiment_id=experiment_id))


@shared_task(name="experiments.lane", ignore_result=True, **_RETRY)
def run_lane(experiment_id: str, capacity: int) -> dict:
    return asdict(services.experiment_lane_run(experiment_id=experiment_id, capacity=int(capacity)))


@shared_task(name="experiments.score_cell", ignore_result=True, **_RETRY)
def score_cell(cell_id: str) -> str:
    return services.experiment_cell_score(cell_id=cell_id)


@shared_task(name="experiments.sweep", ignore_result=True)
def sweep_experiments() -> dict:
    return asdict(services.experiments_sweep())


@shared_task(name="experiments.log_to_wandb", ignore_result=True)
def log_to_wandb(experiment_id: str) -> str | None:
    return services.experiment_wandb_log(experiment_id=experiment_id)


# What experiments.publishing looks tasks up by.
TASKS = {
    "dispatch": dispatch_experiment,
    "lane": run_lane,
    "score_cell": score_cell,
    "log_to_wandb": log_to_wandb,
}
