"""A lane's loop (the ``experiments.lane`` task): claim, call, record, until no cell is pending."""

from __future__ import annotations

import logging
import random
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from django.conf import settings
from django.db import InterfaceError, OperationalError

from experiments.lanes import IDLE_POLL_SECONDS, Job, Lane, _reconnect
from experiments.models import Experiment
from llmops.core.request_context import log_context

logger = logging.getLogger(__name__)


@dataclass
class LaneReport:
    cells: int = 0
    rounds: int = 0
    requeued: bool = False


def _claim_or_skip(lane: Lane, free: int) -> list[Job]:
    """A claim that lost its database connection claims nothing this round; the answers in flight
    still come back and are recorded, and the next round tries again."""
    try:
        return lane.claim(free)
    except (OperationalError, InterfaceError) as error:
        logger.warning("experiment lane: could not claim cells (%s); trying again", error)
        _reconnect()
        time.sleep(max(IDLE_POLL_SECONDS))
        return []


def experiment_lane_run(*, experiment_id: uuid.UUID | str, capacity: int) -> LaneReport:
    """Run cells of the experiment until none is pending (or the lane's time is up: it publishes its
    successor), keeping up to ``capacity`` calls in flight; then complete the experiment if it is done."""
    from experiments.publishing import publish_lane
    from experiments.settling import experiment_finish_if_done

    report = LaneReport()
    experiment = Experiment.objects.select_related("project", "api_key").filter(pk=experiment_id).first()
    if experiment is None or not experiment.is_active:
        return report
    with log_context(experiment_id=experiment.pk):
        lane = Lane(experiment, capacity=capacity)
        deadline = time.monotonic() + settings.EXPERIMENT_LANE_SECONDS
        idle_since: float | None = None
        in_flight: dict[Future, Job] = {}
        with ThreadPoolExecutor(max_workers=lane.capacity, thread_name_prefix="lane") as pool:
            while True:
                claiming = time.monotonic() < deadline and len(lane.exhausted) < len(lane.by_endpoint)
                free = lane.capacity - len(in_flight)
                if claiming and free > 0:
                    for job in _claim_or_skip(lane, free):
                        in_flight[pool.submit(lane.call, job)] = job
                    report.rounds += 1
                if not in_flight:
                    if not claiming:
                        break
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > settings.EXPERIMENT_LANE_IDLE_SECONDS:
                        break  # slots held elsewhere all this time: the sweeper brings a lane back
                    time.sleep(random.uniform(*IDLE_POLL_SECONDS))  # noqa: S311 - jitter, not a secret
                    continue
                idle_since = None
                done, _ = wait(in_flight, timeout=max(IDLE_POLL_SECONDS), return_when=FIRST_COMPLETED)
                finished = [future.result() for future in done]
                for future in done:
                    del in_flight[future]
                lane.record(finished)
                report.cells += len(finished)
        if len(lane.exhausted) < len(lane.by_endpoint) and time.monotonic() >= deadline:
            publish_lane(experiment_id=experiment.pk, capacity=capacity)
            report.requeued = True
        experiment_finish_if_done(experiment_id=experiment.pk)
    return report
