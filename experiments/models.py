from __future__ import annotations

from django.db import models

from llmops.models import TimeStampedModel


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
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "-created_at"], name="experiment_project_recent_idx")]

    def __str__(self) -> str:
        return self.name


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

    class Meta:
        ordering = ["experiment", "golden_example", "prompt_version", "repeat_index"]
        constraints = [
            # A cell is a durable, idempotent unit: one row per (version, golden, repeat).
            models.UniqueConstraint(
                fields=["experiment", "prompt_version", "golden_example", "repeat_index"],
                name="experimentresult_unique_cell",
            ),
        ]
        indexes = [models.Index(fields=["experiment", "status"], name="expresult_progress_idx")]

    def __str__(self) -> str:
        return f"cell {self.prompt_version_id}/{self.golden_example_id}#{self.repeat_index}"
