"""The experiment runner: lanes that claim cells in batches and keep many model calls in flight.

A lane is one Celery task that runs cells of one experiment until none is pending. It keeps up to its
``capacity`` calls in flight on a thread pool (the vetted synchronous client, ``runs.calls``), so one
worker process serves dozens of calls without a task, a broker message or a database connection per
call. Each round it:

1. takes slots from two semaphores in Redis (``runs.concurrency``): the experiment's own (its
   ``concurrency``, across every lane and worker) and each model endpoint's (``max_concurrency``,
   shared with runs and judges);
2. claims that many pending cells in one transaction (``SELECT ... FOR UPDATE SKIP LOCKED`` on cell
   rows only: no lock on the experiment row) and inserts their runs, already claimed, with a budget
   reservation for the whole batch (``runs.batch``);
3. as answers arrive, scores them with the cheap scorers in the thread that got them, and records a
   round's answers in one transaction: runs, attempts, cost logs, cells and evaluation results.

Failures go to the run engine (retry with backoff on the queue, or fail), slow scorers (a judge, the
semantic model) to the scoring task: both come back through ``experiments.settling``. A lane that
dies leaves claimed runs whose lease expires: the runs sweeper gives them back to the run engine, and
each cell still ends once (every cell write is conditional on the state and run its writer saw).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from evaluation.models import EvaluationResult, GoldenExample
from experiments import caching
from experiments.cells import Status, cells_fail
from experiments.config import ExperimentConfig
from experiments.lane_rows import CLAIM_FIELDS, SCORED_FIELDS, cache_entry, evaluation_results, scored_cell
from experiments.models import Experiment, ExperimentResult, ResponseCacheEntry
from experiments.scoring import CellScores, score_output, scorers_are_cheap
from llmops.core.errors import DomainError, ValidationFailed
from prompts.models import PromptVersion
from prompts.rendering import render_version, rendering_budget
from runs import concurrency
from runs.batch import (
    BatchRun,
    PriceBook,
    bulk_update_rows,
    run_batch_failure,
    runs_batch_complete,
    runs_batch_start,
)
from runs.budgets import BudgetExceeded
from runs.calls import Failure, call_endpoint
from runs.models import ModelEndpoint
from runs.providers import Completion
from runs.sanitize import pg_safe, pg_text

logger = logging.getLogger(__name__)

# A lane with nothing claimable (slots taken by others) looks again after a short random pause.
IDLE_POLL_SECONDS = (0.02, 0.1)
# How stale a lane's copy of its endpoints' settings may get.
ENDPOINT_REFRESH_SECONDS = 1.0
# Pauses between tries of a claim or a record through a lost database connection: first, longest.
WRITE_PAUSES = (0.05, 2.0)


def lanes_for(config: ExperimentConfig) -> list[int]:
    """The capacities of the lanes an experiment is spread over: at least EXPERIMENT_LANES (one per
    worker process uses every core), more when its concurrency needs more than EXPERIMENT_LANE_CALLS."""
    wanted = max(settings.EXPERIMENT_LANES, math.ceil(config.concurrency / settings.EXPERIMENT_LANE_CALLS))
    count = max(1, min(wanted, config.concurrency))
    share, extra = divmod(config.concurrency, count)
    return [share + (1 if index < extra else 0) for index in range(count)]


@dataclass
class Job:
    cell: ExperimentResult
    golden: GoldenExample
    item: BatchRun | None = None
    tokens: list[tuple[str, str]] = field(default_factory=list)
    cached: ResponseCacheEntry | None = None
    result: Completion | Failure | None = None
    latency_ms: int | None = None
    scored: CellScores | None = None


class Lane:
    def __init__(self, experiment: Experiment, *, capacity: int) -> None:
        self.experiment = experiment
        self.config = ExperimentConfig.of(experiment)
        self.capacity = max(1, capacity)
        self.cheap = scorers_are_cheap(self.config.scorers)
        self.prices = PriceBook()
        self.versions = {str(v.pk): v for v in PromptVersion.objects.filter(pk__in=self._version_ids())}
        self.goldens: dict[str, GoldenExample] = {}
        self.by_endpoint: dict[str, list[str]] = {}
        for version_id in self.versions:
            self.by_endpoint.setdefault(self.config.endpoints.get(version_id, ""), []).append(version_id)
        self.endpoints: dict[str, ModelEndpoint] = {}
        self.endpoints_read = -math.inf
        self.exhausted: set[str] = set()
        self.single = False  # a batch did not fit a budget: claim one cell at a time from then on
        self.semaphore = concurrency.semaphore()
        self.experiment_slots = f"experiment:{experiment.pk}"
        # As the run engine leases a claimed run: the call's timeout, then RUN_LEASE_SECONDS to record it.
        timeouts = ModelEndpoint.objects.filter(pk__in=[e for e in self.by_endpoint if e]).values_list(
            "timeout_seconds", flat=True
        )
        self.lease_seconds = max(timeouts, default=0.0) + settings.RUN_LEASE_SECONDS

    def _version_ids(self) -> list[str]:
        return list(
            ExperimentResult.objects.filter(experiment=self.experiment)
            .values_list("prompt_version_id", flat=True)
            .distinct()
        )

    # -- slots ----------------------------------------------------------------------------------------------

    def _acquire(self, name: str, *, limit: int, count: int) -> list[tuple[str, str]]:
        tokens = []
        for _ in range(count):
            token = self.semaphore.acquire(name, limit=max(1, limit), lease_seconds=self.lease_seconds)
            if token is None:
                break
            tokens.append((name, token))
        return tokens

    def _release(self, tokens: list[tuple[str, str]]) -> None:
        for name, token in tokens:
            if name:
                self.semaphore.release(name, token)

    # -- claiming -------------------------------------------------------------------------------------------

    def claim(self, free: int) -> list[Job]:
        """Up to ``free`` cells started: slots taken, cells claimed, runs inserted; [] when none could be."""
        if self.single:
            free = min(free, 1)
        taken = self._acquire(self.experiment_slots, limit=self.config.concurrency, count=free)
        if not taken:
            return []
        plan: list = []
        try:
            self._refresh_endpoints()
            for endpoint_id, version_ids in self.by_endpoint.items():
                room = len(taken) - sum(len(tokens) for *_, tokens in plan)
                if room <= 0 or endpoint_id in self.exhausted:
                    continue
                endpoint = self.endpoints.get(endpoint_id)
                tokens = (
                    self._acquire(concurrency.endpoint_key(endpoint.pk), limit=endpoint.max_concurrency, count=room)
                    if endpoint is not None
                    else [("", "")] * room
                )
                if tokens:
                    plan.append((endpoint_id, version_ids, endpoint, tokens))
            return self._claim_cells(plan, taken)
        except BaseException:
            # Nothing was claimed: every slot taken for this round goes back at once.
            self._release(taken + [t for *_, tokens in plan for t in tokens])
            raise

    def _claim_cells(self, plan: list, taken: list[tuple[str, str]]) -> list[Job]:
        jobs: list[Job] = []
        spare = list(taken)
        spare_endpoint: list[tuple[str, str]] = []
        try:
            with transaction.atomic():
                for endpoint_id, version_ids, endpoint, planned in plan:
                    tokens = list(planned)  # a try cut short by a lost connection leaves the plan whole
                    cells = self._lock_pending(version_ids, len(tokens))
                    if len(cells) < len(tokens):
                        self.exhausted.add(endpoint_id)
                    started = self._start(cells, endpoint)
                    for job in started:
                        if job.item is not None:  # holds its slots until its call returns
                            job.tokens = [spare.pop(), tokens.pop()]
                    spare_endpoint += [t for t in tokens if t[0]]
                    jobs += started
        except _Shrink:
            self.single = True
            jobs = []
            spare_endpoint = [t for *_, tokens in plan for t in tokens if t[0]]
            spare = list(taken)
        self._release(spare + spare_endpoint)
        return jobs

    def _lock_pending(self, version_ids: list[str], count: int) -> list[ExperimentResult]:
        pending = ExperimentResult.objects.filter(
            experiment_id=self.experiment.pk,
            experiment__status__in=Experiment.ACTIVE,
            status=Status.PENDING,
            prompt_version_id__in=version_ids,
        ).order_by("position")
        if connection.features.has_select_for_update_skip_locked:
            pending = pending.select_for_update(skip_locked=True, of=("self",))
        cells = list(pending[:count])
        self._load_goldens(cells)
        return cells

    def _load_goldens(self, cells: list[ExperimentResult]) -> None:
        missing = {cell.golden_example_id for cell in cells} - set(self.goldens)
        if missing:
            for golden in GoldenExample.objects.filter(pk__in=missing):
                self.goldens[golden.pk] = golden

    def _refresh_endpoints(self) -> None:
        # Read again every ENDPOINT_REFRESH_SECONDS: an endpoint disabled or limited meanwhile applies
        # to the next calls, as it does to a run's next attempt.
        if time.monotonic() - self.endpoints_read < ENDPOINT_REFRESH_SECONDS:
            return
        ids = [endpoint_id for endpoint_id in self.by_endpoint if endpoint_id]
        self.endpoints = {str(e.pk): e for e in ModelEndpoint.objects.filter(pk__in=ids)}
        self.endpoints_read = time.monotonic()

    def _start(self, cells: list[ExperimentResult], endpoint: ModelEndpoint | None) -> list[Job]:
        """Each locked cell: a run to call, a cached answer, or a failure with its reason."""
        jobs, failures, now = [], [], timezone.now()
        for cell in cells:
            job = Job(cell=cell, golden=self.goldens[cell.golden_example_id])
            try:
                with rendering_budget(scope="this experiment cell"):
                    self._prepare(job, endpoint)
            except DomainError as error:
                failures.append((cell, (error.code, error.message)))
                continue
            jobs.append(job)
        runnable = [job for job in jobs if job.cached is None]
        if runnable:
            try:
                runs_batch_start(
                    project=self.experiment.project,
                    api_key=self.experiment.api_key,
                    items=[job.item for job in runnable],
                    lease_seconds=self.lease_seconds,
                    prices=self.prices,
                )
            except BudgetExceeded as error:
                if len(runnable) > 1:
                    raise _Shrink from None
                failures.append((runnable[0].cell, (error.code, error.message)))
                jobs.remove(runnable[0])
        cells_fail(failures, expected=Status.PENDING)
        for job in jobs:
            job.cell.status, job.cell.updated_at = Status.RUNNING, now
            if job.cached is not None:
                entry = job.cached
                job.cell.cached, job.cell.output, job.cell.cost, job.cell.attempts = True, entry.output, 0, 0
                job.cell.input_tokens, job.cell.output_tokens = entry.input_tokens, entry.output_tokens
                job.cell.latency_ms = entry.latency_ms
            else:
                job.cell.run = job.item.run
        bulk_update_rows([job.cell for job in jobs], CLAIM_FIELDS)
        return jobs

    def _prepare(self, job: Job, endpoint: ModelEndpoint | None) -> None:
        version = self.versions[str(job.cell.prompt_version_id)]
        if endpoint is None:
            raise ValidationFailed("the experiment's model endpoint no longer exists", code="unknown_model_endpoint")
        variables = job.golden.input_data
        if self.config.cache:
            job.cell.cache_key = caching.cache_key(
                endpoint=endpoint,
                version=version,
                variables=variables,
                parameters=self.config.parameters,
                repeat_index=job.cell.repeat_index,
            )
            job.cached = caching.cache_lookup(project=self.experiment.project, key=job.cell.cache_key)
            if job.cached is not None:
                return
        from runs.services import checked_max_attempts, merged_parameters  # the run engine's own rules

        variables = pg_safe(variables)
        rendered = render_version(version=version, variables=variables)
        job.item = BatchRun(
            version_id=version.pk,
            endpoint=endpoint,
            variables=variables,
            parameters=merged_parameters(endpoint=endpoint, version=version, parameters=self.config.parameters or None),
            prompt=rendered.as_text(),
            messages=rendered.messages,
            max_attempts=checked_max_attempts(self.config.max_attempts),
        )

    # -- calling and scoring (in the pool's threads: no database) ------------------------------------------------

    def call(self, job: Job) -> Job:
        if job.item is not None:
            run, started = job.item.run, time.monotonic()
            try:
                job.result = call_endpoint(
                    job.item.endpoint,
                    model_id=run.model_id,
                    prompt=run.rendered_prompt,
                    messages=run.rendered_messages,
                    parameters=run.parameters,
                )
            finally:
                self._release(job.tokens)
            job.latency_ms = int((time.monotonic() - started) * 1000)
        output = job.cached.output if job.cached is not None else None
        if isinstance(job.result, Completion):
            output = pg_text(job.result.text)
        if output is not None and self.cheap:
            job.scored = score_output(
                project=self.experiment.project,
                scorers=self.config.scorers,
                output=output,
                expected=job.golden.expected_output,
                inputs=job.golden.input_data,
            )
        return job

    # -- recording -------------------------------------------------------------------------------------------

    def record(self, jobs: list[Job]) -> None:
        """A round's answers in one transaction; failed calls to the run engine, one by one."""
        answered = [job for job in jobs if isinstance(job.result, Completion)]
        try:
            _retrying(lambda: self._record_answers(answered, [job for job in jobs if job.cached is not None]))
            for job in jobs:
                if isinstance(job.result, Failure):
                    _retrying(
                        lambda job=job: run_batch_failure(item=job.item, failure=job.result, latency_ms=job.latency_ms)
                    )
        except (OperationalError, InterfaceError) as error:
            # As the run engine does: the runs' leases expire and the sweeper gives them back.
            logger.error(
                "experiment lane: could not record %s answers (%s); the sweeper takes them back", len(jobs), error
            )
            connection.close()

    def _record_answers(self, answered: list[Job], cached: list[Job]) -> None:
        from experiments.publishing import publish_cell_scoring

        with transaction.atomic():
            written = runs_batch_complete(answered=[(job.item, job.result) for job in answered])
            ready = cached + [job for job in answered if job.item.run.pk in written]
            live = set(
                ExperimentResult.objects.select_for_update()
                .filter(pk__in=[job.cell.pk for job in ready], status=Status.RUNNING)
                .values_list("pk", flat=True)
            )
            cells, results, entries, now = [], [], [], timezone.now()
            for job in ready:
                if job.cell.pk not in live:
                    continue
                if job.scored is None:  # a slow scorer: the scoring task takes the cell from here
                    publish_cell_scoring(cell_id=job.cell.pk)
                    continue
                cells.append(scored_cell(job, now=now))
                results += evaluation_results(self.experiment, job)
                if self.config.cache and job.cached is None and job.cell.cache_key:
                    entries.append(cache_entry(job))
            bulk_update_rows(cells, SCORED_FIELDS)
            EvaluationResult.objects.bulk_create(results)
            ResponseCacheEntry.objects.bulk_create(entries, ignore_conflicts=True)


class _Shrink(Exception):
    """The batch does not fit a budget: roll it back and claim one cell at a time."""


def _reconnect() -> None:
    connection.close()  # the next query opens (or takes from the pool) a new connection


def _retrying(write: Any) -> Any:
    """A claim or a record, tried again through lost database connections for up to
    RUN_RESULT_WRITE_SECONDS: each is one transaction and conditional on the rows' states, so a try
    whose commit went through changes nothing when repeated."""
    give_up = time.monotonic() + settings.RUN_RESULT_WRITE_SECONDS
    pause = WRITE_PAUSES[0]
    while True:
        try:
            return write()
        except (OperationalError, InterfaceError) as error:
            if connection.in_atomic_block or time.monotonic() + pause >= give_up:
                raise
            logger.warning("experiment lane: database write failed (%s); trying again", error)
            _reconnect()
            time.sleep(pause)
            pause = min(pause * 2, WRITE_PAUSES[1])
