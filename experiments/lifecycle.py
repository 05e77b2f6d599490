"""An experiment's lifecycle: start (its lanes), cancel, resume, the sweeper, W&B once it has finished.

Starting publishes lanes (experiments.lanes), which claim cells by themselves: nothing locks the
experiment row per cell. Cancel and resume lock it once, for the moment they change many cells.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from experiments import selectors
from experiments.cells import ACTIVE, Status, cells_cancel, cells_requeue
from experiments.config import ExperimentConfig
from experiments.lanes import lanes_for
from experiments.models import Experiment, ExperimentResult
from experiments.publishing import publish_cell_scoring, publish_dispatch, publish_lane
from experiments.settling import experiment_finish_if_done
from llmops.core.errors import Conflict
from llmops.core.request_context import log_context
from runs.models import Run
from runs.services import run_cancel

logger = logging.getLogger(__name__)

SWEEP_BATCH = 1000
# A finished run whose cell is still running this long after has lost its signal (or its task).
SWEEP_GRACE_SECONDS = 30


@dataclass(frozen=True)
class DispatchReport:
    lanes: int = 0
    finished: bool = False


@dataclass(frozen=True)
class SweepReport:
    rescored: int = 0
    redispatched: int = 0


def experiment_dispatch(*, experiment_id: uuid.UUID | str) -> DispatchReport:
    """Start an active experiment's lanes when it has pending cells; complete it when no cell is left.
    Idempotent: a lane published twice claims what is pending, and the experiment's semaphore keeps
    every lane together within its concurrency."""
    experiment = Experiment.objects.filter(pk=experiment_id, status__in=Experiment.ACTIVE).first()
    if experiment is None:
        return DispatchReport()
    with log_context(experiment_id=experiment.pk):
        now = timezone.now()
        if experiment.status == Experiment.Status.PENDING:
            Experiment.objects.filter(pk=experiment.pk, status=Experiment.Status.PENDING).update(
                status=Experiment.Status.RUNNING, started_at=now, updated_at=now
            )
        if not ExperimentResult.objects.filter(experiment=experiment, status=Status.PENDING).exists():
            return DispatchReport(finished=experiment_finish_if_done(experiment_id=experiment.pk))
        capacities = lanes_for(ExperimentConfig.of(experiment))
        for capacity in capacities:
            publish_lane(experiment_id=experiment.pk, capacity=capacity)
        return DispatchReport(lanes=len(capacities))


# -- cancel, resume -------------------------------------------------------------------------------------------


@transaction.atomic
def experiment_cancel(*, experiment: Experiment) -> Experiment:
    """Pending cells are cancelled, runs in flight are cancelled, the experiment is cancelled; Conflict
    once it has finished. Completed cells keep their results."""
    locked = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if not locked.is_active:
        raise Conflict(
            f"experiment {locked.pk} is already {locked.status}; only pending or running experiments can be cancelled",
            code="experiment_not_cancellable",
            param="experiment_id",
        )
    now = timezone.now()
    cells = ExperimentResult.objects.filter(experiment=locked)
    in_flight = list(Run.objects.filter(pk__in=cells.filter(status=Status.RUNNING).values("run_id")))
    cells_cancel(cells)
    for run in in_flight:
        if not run.is_terminal:
            with suppress(Conflict):  # it finished meanwhile; its cell is cancelled already
                run_cancel(run=run)
    Experiment.objects.filter(pk=locked.pk).update(status=Experiment.Status.CANCELLED, finished_at=now, updated_at=now)
    locked.refresh_from_db()
    logger.info("experiment %s cancelled", locked.pk)
    return locked


@transaction.atomic
def experiment_resume(*, experiment: Experiment) -> Experiment:
    """Run again what has no result: failed and cancelled cells go back to pending (pending ones stay),
    completed cells are never run again. Conflict when every cell has completed."""
    locked = Experiment.objects.select_for_update().get(pk=experiment.pk)
    now = timezone.now()
    cells = ExperimentResult.objects.filter(experiment=locked)
    reset = cells_requeue(cells)
    if not reset and not cells.filter(status__in=ACTIVE).exists():
        raise Conflict(
            f"experiment {locked.pk} has nothing to resume: every cell has completed",
            code="nothing_to_resume",
            param="experiment_id",
        )
    if not locked.is_active:
        Experiment.objects.filter(pk=locked.pk).update(
            status=Experiment.Status.RUNNING, finished_at=None, error_message="", updated_at=now
        )
    publish_dispatch(experiment_id=locked.pk)
    locked.refresh_from_db()
    logger.info("experiment %s resumed: %s cells to run again", locked.pk, reset)
    return locked


# -- the safety net ---------------------------------------------------------------------------------------------


def experiments_sweep(*, now: datetime | None = None) -> SweepReport:
    """Score cells whose run finished but whose signal (or task) was lost, and dispatch experiments that
    have nothing in flight (a lost dispatch, or a completion nobody wrote). Safe to run anywhere, any
    number of times at once: scoring and dispatching are idempotent."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=SWEEP_GRACE_SECONDS)
    lost = ExperimentResult.objects.filter(status=Status.RUNNING, experiment__status__in=Experiment.ACTIVE).filter(
        Q(run__status__in=Run.TERMINAL, run__finished_at__lt=cutoff)
        | Q(run__isnull=True, updated_at__lt=cutoff)  # a cached answer whose task was lost, or a deleted run
    )
    rescored = 0
    for cell_id in lost.values_list("pk", flat=True)[:SWEEP_BATCH]:
        publish_cell_scoring(cell_id=cell_id)
        rescored += 1
    idle = (
        Experiment.objects.filter(status__in=Experiment.ACTIVE)
        .annotate(in_flight=Count("results", filter=Q(results__status=Status.RUNNING)))
        .filter(in_flight=0)
    )
    redispatched = 0
    for experiment_id in idle.values_list("pk", flat=True)[:SWEEP_BATCH]:
        publish_dispatch(experiment_id=experiment_id)
        redispatched += 1
    report = SweepReport(rescored=rescored, redispatched=redispatched)
    if rescored or redispatched:
        logger.info("experiments sweep: %s", report)
    return report


# -- W&B ----------------------------------------------------------------------------------------------------------


def experiment_wandb_log(*, experiment_id: uuid.UUID | str) -> str | None:
    """Log a finished experiment to Weights & Biases; the W&B run id, or None. Never raises: W&B being
    down or misconfigured must not touch the experiment."""
    from experiments.wandb_logging import log_experiment_to_wandb

    experiment = Experiment.objects.select_related("prompt").filter(pk=experiment_id).first()
    if experiment is None:
        return None
    with log_context(experiment_id=experiment.pk):
        try:
            run_id = log_experiment_to_wandb(report=selectors.experiment_report(experiment=experiment))
        except Exception:
            logger.exception("could not log experiment %s to Weights & Biases", experiment.pk)
            return None
        if run_id:
            logger.info("experiment %s logged to Weights & Biases as run %s", experiment.pk, run_id)
        return run_id
