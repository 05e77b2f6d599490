"""Scrape-time series of runs: status counts, model latency, tokens and spend (registered in RunsConfig)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from llmops.core.metrics import ProjectCollector, quantile

LATENCY_WINDOW = timedelta(hours=1)
LATENCY_SAMPLE = 10_000


class RunsCollector(ProjectCollector):
    def collect(self) -> Iterator:
        from runs.models import CostLog, Run

        runs = GaugeMetricFamily("llmops_runs", "Runs by status", labels=["status"])
        counts = dict(self.scoped(Run.objects.all()).values_list("status").annotate(n=Count("id")))
        for status in Run.Status.values:
            runs.add_metric([status], counts.get(status, 0))
        yield runs

        latency = GaugeMetricFamily(
            "llmops_model_latency_seconds",
            "Model call latency of runs finished in the last hour, by model and quantile",
            labels=["model", "quantile"],
        )
        recent = (
            self.scoped(Run.objects.all())
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
                latency.add_metric([model_id, str(q)], quantile(values, q) / 1000)
        yield latency

        tokens = CounterMetricFamily(
            "llmops_tokens", "Tokens billed, by model and direction", labels=["model", "direction"]
        )
        cost = CounterMetricFamily("llmops_cost_usd", "Spend in USD (known prices only), by model", labels=["model"])
        for row in (
            self.scoped(CostLog.objects.all())
            .values("model_id")
            .annotate(input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens"), cost=Sum("cost"))
        ):
            tokens.add_metric([row["model_id"], "input"], row["input_tokens"] or 0)
            tokens.add_metric([row["model_id"], "output"], row["output_tokens"] or 0)
            cost.add_metric([row["model_id"]], float(row["cost"] or 0))
        yield tokens
        yield cost
