from __future__ import annotations

from django.db import models

from llmops.core.models import TimeStampedModel


class GoldenExample(TimeStampedModel):
    """An input for a prompt with the output it should produce."""

    class Split(models.TextChoices):
        NONE = "", "None"
        TRAIN = "train", "Train"
        VALIDATION = "validation", "Validation"
        TEST = "test", "Test"

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="golden_examples")
    prompt = models.ForeignKey("prompts.Prompt", on_delete=models.CASCADE, related_name="golden_examples")
    input_data = models.JSONField(default=dict)
    expected_output = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    split = models.CharField(max_length=16, choices=Split.choices, default=Split.NONE, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["project", "prompt", "created_at"], name="golden_prompt_idx")]

    def __str__(self) -> str:
        return f"golden {str(self.pk)[:8]} for {self.prompt_id}"


class EvaluationResult(TimeStampedModel):
    """One scorer's verdict on one output."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="evaluation_results")
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.CASCADE, related_name="evaluations")
    golden_example = models.ForeignKey(
        GoldenExample, null=True, blank=True, on_delete=models.SET_NULL, related_name="evaluations"
    )
    scorer = models.CharField(max_length=64)
    score = models.FloatField(null=True, blank=True)
    passed = models.BooleanField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__isnull=True) | models.Q(score__gte=0, score__lte=1),
                name="evaluationresult_score_unit_interval",
            ),
        ]
        indexes = [models.Index(fields=["project", "scorer"], name="evalresult_project_scorer_idx")]

    def __str__(self) -> str:
        return f"{self.scorer}={self.score}"
