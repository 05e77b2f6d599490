"""Prometheus metrics.

Request latency is measured in the web process (multi-process safe when PROMETHEUS_MULTIPROC_DIR
is set, as gunicorn needs). Everything about runs, models, tokens, cost and the queue is read from
PostgreSQL and the broker at scrape time, so it is the same whichever web process answers and
needs no coordination with the workers.

Each app registers the collectors of its own tables in its ``AppConfig.ready()``
(``register_collector``), so this module names no app. Who scrapes decides what is collected: the
platform (METRICS_TOKEN) gets every series over all projects; a project's admin key gets the
database series filtered to its project in the queries, and none of the platform-wide ones (request
latency of the whole web tier, the broker queue).
"""

from __future__ import annotations

import abc
import os
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from llmops.core import resilience

REQUEST_LATENCY = Histogram(
    "llmops_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route and status class",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def _route(request: HttpRequest) -> str:
    # The route pattern, not the path: ids in paths would make one series per object. Django set
    # resolver_match when it routed the request; resolve again only when it did not get that far.
    match = getattr(request, "resolver_match", None)
    if match is None:
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


class ProjectCollector(abc.ABC):
    """Database series read at scrape time: of every project (``project=None``), or of one project.
    ``project`` is an ``accounts.models.Project``; each app's subclass implements ``collect()``."""

    def __init__(self, *, project: Any = None) -> None:
        self.project = project

    def scoped(self, queryset: QuerySet) -> QuerySet:
        return queryset if self.project is None else queryset.filter(project=self.project)

    @abc.abstractmethod
    def collect(self) -> Iterator: ...


class _CollectorFactory(Protocol):
    def __call__(self, *, project: Any) -> object: ...


_collectors: dict[str, _CollectorFactory] = {}


def register_collector(name: str, factory: _CollectorFactory) -> None:
    """Add a scrape-time collector; ``factory(project=...)`` returns an object with ``collect()``.
    Registering a name again replaces it (``ready()`` may run more than once)."""
    _collectors[name] = factory


def quantile(sorted_values: list[int], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def queue_depth() -> int | None:
    """Messages waiting in the default queue (Redis broker only; None elsewhere)."""
    from celery import current_app as app  # the platform's app: llmops/__init__.py makes it current

    if not app.conf.broker_url.startswith(("redis://", "rediss://")):
        return None

    def read() -> int:
        with app.connection_for_read() as connection:
            client = connection.channel().client
            return int(client.llen(settings.CELERY_TASK_DEFAULT_QUEUE))

    # A broker outage leaves the gauge out rather than the scrape failing: the scrape is how it is seen.
    return resilience.broker_call("metrics", read, fallback=None, consequence="queue depth left out of /metrics")


class QueueCollector:
    """The broker's queue is shared by every project: platform scrapes only."""

    def collect(self) -> Iterator:
        depth = queue_depth()
        if depth is not None:
            queue = GaugeMetricFamily("llmops_queue_depth", "Tasks waiting in the broker", labels=["queue"])
            queue.add_metric([settings.CELERY_TASK_DEFAULT_QUEUE], depth)
            yield queue


def render_metrics(*, project: Any) -> tuple[bytes, str]:
    """Every series of the platform when ``project`` is None, else that project's share only."""
    registry = CollectorRegistry()
    if project is None:
        # Request latency covers every project's requests (routes, not tenants): platform only.
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            MultiProcessCollector(registry)
        else:
            registry.register(REQUEST_LATENCY)
            registry.register(resilience.DEGRADED)
    for factory in _collectors.values():
        registry.register(factory(project=project))
    if project is None:
        registry.register(QueueCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
