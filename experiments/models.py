from __future__ import annotations

import uuid

from django.db import models

from llmops.core.models import TimeStampedModel


class Experiment(TimeStampedModel):
    """Scores prompt versions against golden examples; one ExperimentResult per cell."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="experiments")
    prompt = models.ForeignKey("prompts.Prompt", on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    versions = models.ManyToManyField("prompts.PromptVersion", related_name="experiments", blank=True)
    model_endpoint = models.ForeignKey(
        "runs.ModelEndpoint", null=True, blank=True, on_delete=models.SET_NULL, related_name="experiments"
    )
    # Scorers with thresholds, repeats, concurrency, golden filter, parameter overrides, cache flag.
    config = models.JSONField(default=dict, blank=True)
    total_cells = models.PositiveIntegerField(default=0)
    api_key = models.ForeignKey("accounts.APIKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error_message = models.TextField(blank=True)
    # An Idempotency-Key names one experiment per project; the request hash tells a replay from a reuse.
    idempotency_key = models.CharField(max_length=200, blank=True)
    request_hash = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    ACTIVE = (Status.PENDING, Status.RUNNING)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="experiment_unique_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="experiment_project_recent_idx"),
            # The sweeper's scan of experiments still pending or running.
            models.Index(fields=["status"], name="experiment_status_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class ExperimentResult(TimeStampedModel):
    """One cell: a golden example run through one version (one repeat), with its scores."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="results")
    prompt_version = models.ForeignKey("prompts.PromptVersion", on_delete=models.CASCADE, related_name="+")
    golden_example = models.ForeignKey("evaluation.GoldenExample", on_delete=models.CASCADE, related_name="+")
    repeat_index = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    output = models.TextField(blank=True)
    scores = models.JSONField(default=dict, blank=True)
    passed = models.BooleanField(null=True, blank=True)
    error_type = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    cached = models.BooleanField(default=False)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    cost = models.DecimalField(null=True, blank=True, max_digits=18, decimal_places=9)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Dispatch order: repeat, then golden, then version, so both sides of a comparison fill in together.
    position = models.PositiveIntegerField(default=0)
    # SHA-256 of what the model was asked (experiments.caching); set when the experiment caches responses.
    cache_key = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["experiment", "golden_example", "prompt_version", "repeat_index"]
        constraints = [
            # A cell is a durable, idempotent unit: one row per (version, golden, repeat).
            models.UniqueConstraint(
                fields=["experiment", "prompt_version", "golden_example", "repeat_index"],
                name="experimentresult_unique_cell",
            ),
        ]
        indexes = [
            models.Index(fields=["experiment", "status"], name="expresult_progress_idx"),
            # The dispatcher takes the next pending cells of an experiment in order.
            models.Index(fields=["experiment", "status", "position"], name="expresult_dispatch_idx"),
        ]

    def __str__(self) -> str:
        return f"cell {self.prompt_version_id}/{self.golden_example_id}#{self.repeat_index}"


class ResponseCacheEntry(models.Model):
    """A model answer kept for experiments that opt in to the response cache (see experiments.caching)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64)
    output = models.TextField(blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    source_run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "response cache entries"
        constraints = [
            # One answer per request per project: a cache never crosses tenants.
            models.UniqueConstraint(fields=["project", "key"], name="responsecache_unique_key_per_project"),
        ]

    def __str__(self) -> str:
        return f"cached {self.key[:12]}"
