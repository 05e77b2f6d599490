"""Prometheus metrics.

Request latency is measured in the web process (multi-process safe when PROMETHEUS_MULTIPROC_DIR
is set, as gunicorn needs). Everything about runs, models, tokens, cost and the queue is read from
PostgreSQL and the broker at scrape time, so it is the same whichever web process answers and
needs no coordination with the workers.

Who scrapes decides what is collected: the platform (METRICS_TOKEN) gets every series over all
projects; a project's admin key gets the database series filtered to its project in the queries,
and none of the platform-wide ones (request latency of the whole web tier, the broker queue).
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from llmops import resilience

if TYPE_CHECKING:
    from accounts.models import Project

REQUEST_LATENCY = Histogram(
    "llmops_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route and status class",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

LATENCY_WINDOW = timedelta(hours=1)
LATENCY_SAMPLE = 10_000


def _route(request: HttpRequest) -> str:
    # The route pattern, not the path: ids in paths would make one series per object.
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return "unmatched"
    return match.route or match.view_name or "unknown"


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        REQUEST_LATENCY.labels(request.method, _route(request), f"{response.status_code // 100}xx").observe(
            time.perf_counter() - started
        )
        return response


def _quantile(sorted_values: list[int], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


class DatabaseCollector:
    """Platform state read at scrape time: of every project, or of ``project`` only."""

    def __init__(self, *, project: Project | None = None) -> None:
        self.project = project

    def _scoped(self, queryset: QuerySet) -> QuerySet:
        return queryset if self.project is None else queryset.filter(project=self.project)

    def collect(self) -> Iterator:
        from experiments.models import Experiment
        from runs.models import CostLog, Run

        runs = GaugeMetricFamily("llmops_runs", "Runs by status", labels=["status"])
        counts = dict(self._scoped(Run.objects.all()).values_list("status").annotate(n=Count("id")))
        for status in Run.Status.values:
            runs.add_metric([status], counts.get(status, 0))
        yield runs

        experiments = GaugeMetricFamily("llmops_experiments", "Experiments by status", labels=["status"])
        counts = dict(self._scoped(Experiment.objects.all()).values_list("status").annotate(n=Count("id")))
        for status in Experiment.Status.values:
            experiments.add_metric([status], counts.get(status, 0))
        yield experiments

        latency = GaugeMetricFamily(
            "llmops_model_latency_seconds",
            "Model call latency of runs finished in the last hour, by model and quantile",
            labels=["model", "quantile"],
        )
        recent = (
            self._scoped(Run.objects.all())
            .filter(finished_at__gte=timezone.now() - LATENCY_WINDOW, latency_ms__isnull=False)
            .order_by("-finished_at")
            .values_list("model_id", "latency_ms")[:LATENCY_SAMPLE]
        )
        by_model: dict[str, list[int]] = defaultdict(list)
        for model_id, latency_ms in recent:
            by_model[model_id or "unknown"].append(latency_ms)
        for model_id, values in by_model.items():
            values.sort()
            for q in (0.5, 0.95, 0.99):
                latency.add_metric([model_id, str(q)], _quantile(values, q) / 1000)
        yield latency

        tokens = CounterMetricFamily(
            "llmops_tokens", "Tokens billed, by model and direction", labels=["model", "direction"]
        )
        cost = CounterMetricFamily("llmops_cost_usd", "Spend in USD (known prices only), by model", labels=["model"])
        for row in (
            self._scoped(CostLog.objects.all())
            .values("model_id")
            .annotate(input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens"), cost=Sum("cost"))
        ):
            tokens.add_metric([row["model_id"], "input"], row["input_tokens"] or 0)
            tokens.add_metric([row["model_id"], "output"], row["output_tokens"] or 0)
            cost.add_metric([row["model_id"]], float(row["cost"] or 0))
        yield tokens
        yield cost

        if self.project is not None:
            return  # the broker's queue is shared by every project
        depth = queue_depth()
        if depth is not None:
            queue = GaugeMetricFamily("llmops_queue_depth", "Tasks waiting in the broker", labels=["queue"])
            queue.add_metric([settings.CELERY_TASK_DEFAULT_QUEUE], depth)
            yield queue


def queue_depth() -> int | None:
    """Messages waiting in the default queue (Redis broker only; None elsewhere)."""
    from llmops.celery import app

    if not app.conf.broker_url.startswith(("redis://", "rediss://")):
        return None

    def read() -> int:
        with app.connection_for_read() as connection:
            client = connection.channel().client
            return int(client.llen(settings.CELERY_TASK_DEFAULT_QUEUE))

    # A broker outage leaves the gauge out rather than the scrape failing: the scrape is how it is seen.
    return resilience.broker_call("metrics", read, fallback=None, consequence="queue depth left out of /metrics")


def render_metrics(*, project: Project | None) -> tuple[bytes, str]:
    """Every series of the platform when ``project`` is None, else that project's share only."""
    registry = CollectorRegistry()
    if project is None:
        # Request latency covers every project's requests (routes, not tenants): platform only.
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            MultiProcessCollector(registry)
        else:
            registry.register(REQUEST_LATENCY)
            registry.register(resilience.DEGRADED)
    registry.register(DatabaseCollector(project=project))
    return generate_latest(registry), CONTENT_TYPE_LATEST
