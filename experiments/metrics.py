"""Scrape-time series of experiments (registered in ExperimentsConfig)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily

from llmops.core.metrics import ProjectCollector


class ExperimentsCollector(ProjectCollector):
    def collect(self) -> Iterator:
        from experiments.models import Experiment

        experiments = GaugeMetricFamily("llmops_experiments", "Experiments by status", labels=["status"])
        counts = dict(self.scoped(Experiment.objects.all()).values_list("status").annotate(n=Count("id")))
        for status in Experiment.Status.values:
            experiments.add_metric([status], counts.get(status, 0))
        yield experiments
