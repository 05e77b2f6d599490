from __future__ import annotations

import re
import uuid
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator, URLValidator
from django.db import models

from llmops.core.models import TimeStampedModel
from runs.providers.base import ProviderError, normalize_parameters

MONEY = {"max_digits": 18, "decimal_places": 9}
PRICE = {"max_digits": 14, "decimal_places": 6, "validators": [MinValueValidator(Decimal("0"))]}
ENV_VAR_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


def validate_positive(value: float) -> None:
    if value is None or not value > 0:
        raise ValidationError("must be greater than 0")


# A model id as providers spell them: "org/name", "name:tag", "vendor.model-v1:0", "model@version".
# Never a URL: huggingface_hub sends a request to a model "id" that starts with http(s)://.
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*")


def validate_model_id(value: str) -> None:
    if (
        not _MODEL_ID.fullmatch(value)
        or "//" in value
        or "://" in value
        or re.match(r"[A-Za-z][A-Za-z0-9+.-]*:/", value)
        or any(part in (".", "..") for part in value.split("/"))
    ):
        raise ValidationError(
            "must be a model id such as 'org/model' or 'model:tag' (letters, digits and . _ - : / @ +), not a URL"
        )


def validate_parameters(value: object) -> None:
    """Generation parameters are checked when saved, not discovered broken at the first run."""
    if not isinstance(value, dict):
        raise ValidationError("must be a JSON object of generation parameters")
    try:
        normalize_parameters(value)
    except ProviderError as error:
        raise ValidationError(error.message) from None


class ModelEndpoint(TimeStampedModel):
    """A model a project can run prompts against: a provider kind plus where and how to reach it."""

    class Provider(models.TextChoices):
        HUGGINGFACE = "huggingface", "Hugging Face / OpenAI-compatible (InferenceClient)"
        LOCAL = "local", "Local llama.cpp (Gemma 3 270M)"

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="model_endpoints")
    name = models.CharField(max_length=100)
    provider = models.CharField(max_length=32, choices=Provider.choices, default=Provider.HUGGINGFACE)
    model_id = models.CharField(
        max_length=200, validators=[validate_model_id], help_text="e.g. Qwen/Qwen2.5-1.5B-Instruct"
    )
    base_url = models.URLField(
        max_length=500,
        blank=True,
        validators=[URLValidator(schemes=["http", "https"], message="must be an http(s) URL with a host")],
        help_text="OpenAI-compatible server root; blank: HF providers",
    )
    hf_provider = models.CharField(
        max_length=64, blank=True, help_text="Hugging Face Inference Provider, e.g. 'together'"
    )
    # The project's own credential for this endpoint, as a Fernet token (runs.credentials); write-only.
    api_key_encrypted = models.TextField(blank=True, editable=False)
    api_key_hint = models.CharField(max_length=16, blank=True, editable=False)
    # Or the name of an environment variable that the operator allows (MODEL_CREDENTIAL_ENVS).
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        validators=[RegexValidator(ENV_VAR_NAME, "an environment variable name: letters, digits and '_'")],
        help_text="an environment variable listed in MODEL_CREDENTIAL_ENVS (instead of api_key)",
    )
    default_parameters = models.JSONField(default=dict, blank=True, validators=[validate_parameters])
    input_price_per_million = models.DecimalField(null=True, blank=True, **PRICE)
    output_price_per_million = models.DecimalField(null=True, blank=True, **PRICE)
    timeout_seconds = models.FloatField(default=60.0, validators=[validate_positive])
    # Calls in flight at once across every worker (runs.concurrency).
    max_concurrency = models.PositiveIntegerField(default=4, validators=[MinValueValidator(1)])
    enabled = models.BooleanField(default=True)
    # The project's default: used when neither the request nor the prompt version names an endpoint.
    is_default = models.BooleanField(
        default=False, help_text="used when neither the request nor the prompt version names an endpoint"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="modelendpoint_unique_name_per_project"),
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(is_default=True), name="modelendpoint_one_default_per_project"
            ),
            models.CheckConstraint(condition=models.Q(timeout_seconds__gt=0), name="modelendpoint_timeout_positive"),
            models.CheckConstraint(condition=models.Q(max_concurrency__gte=1), name="modelendpoint_concurrency_min_1"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider}:{self.model_id})"


class Run(TimeStampedModel):
    """One model call for one rendered prompt version; a state machine in the database."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    # The original API's words for two of them, accepted where a status is asked for (?status=).
    STATUS_ALIASES = {"pending": Status.QUEUED, "success": Status.COMPLETED}

    TERMINAL = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="runs")
    prompt_version = models.ForeignKey("prompts.PromptVersion", on_delete=models.PROTECT, related_name="runs")
    model_endpoint = models.ForeignKey(
        ModelEndpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    model_id = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    variables = models.JSONField(default=dict, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    rendered_prompt = models.TextField(blank=True)
    rendered_messages = models.JSONField(null=True, blank=True)
    output = models.TextField(blank=True)
    finish_reason = models.CharField(max_length=32, blank=True)
    error_type = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    cost = models.DecimalField(null=True, blank=True, **MONEY)
    # What the run may cost at most, reserved against budgets until its CostLog settles it.
    estimated_cost = models.DecimalField(null=True, blank=True, editable=False, **MONEY)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    task_id = models.CharField(max_length=64, blank=True, db_index=True)
    idempotency_key = models.CharField(max_length=200, blank=True)
    request_hash = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    api_key = models.ForeignKey(
        "accounts.APIKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    # A running run's worker must finish before this moment, or the sweeper fails the run.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # A queued run may not be claimed before this moment (backoff, Retry-After, a full endpoint).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When the run's task was last handed to the broker. Earlier than next_attempt_at: the message is a
    # delayed (countdown) one that a worker holds until then, and that dies with that worker, so the
    # sweeper publishes the run again soon after it falls due (runs.services.runs_sweep).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # An Idempotency-Key names one run per project, whatever the number of retries.
            models.UniqueConstraint(
                fields=["project", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="run_unique_idempotency_key",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["queued", "running", "completed", "failed", "cancelled"]),
                name="run_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="run_project_recent_idx"),
            models.Index(fields=["project", "status"], name="run_project_status_idx"),
            # The sweeper's scans: stuck queued runs and expired leases.
            models.Index(fields=["status", "lease_expires_at"], name="run_status_lease_idx"),
            models.Index(fields=["status", "next_attempt_at"], name="run_status_next_attempt_idx"),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def cost_known(self) -> bool:
        return self.cost is not None


class RunAttempt(models.Model):
    """One claim of a run by a worker, and what came of it: the history behind ``Run.attempts``.

    An attempt may have reached the provider, and been paid for, without its answer being kept: a
    worker that vanished mid-call (``lease_expired``) or an answer that arrived after the run was
    cancelled (``discarded``). Those calls appear here and nowhere in the cost log."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        RETRYING = "retrying", "Failed, retried later"
        FAILED = "failed", "Failed"
        DISCARDED = "discarded", "Answered after the run was cancelled (not kept)"
        LEASE_EXPIRED = "lease_expired", "Worker lost mid-attempt (may have been billed)"

    # Attempts whose call may have been billed by the provider although the run did not keep the answer.
    UNKEPT = (Outcome.DISCARDED, Outcome.LEASE_EXPIRED)

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="attempts_history")
    number = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    error_type = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    # What the answer would have cost (known for completed and discarded attempts with a known price).
    cost = models.DecimalField(null=True, blank=True, **MONEY)

    class Meta:
        ordering = ["run", "number"]
        constraints = [
            # One row per claim: the claim's conditional UPDATE hands out each attempt number once.
            models.UniqueConstraint(fields=["run", "number"], name="runattempt_unique_number"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of run {self.run_id} ({self.outcome})"


class ModelPrice(TimeStampedModel):
    """Public price list per model id (per million tokens), used when an endpoint sets no price."""

    model_id = models.CharField(max_length=200, unique=True)
    input_price_per_million = models.DecimalField(**PRICE)
    output_price_per_million = models.DecimalField(**PRICE)
    notes = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["model_id"]

    def __str__(self) -> str:
        return self.model_id


class CostLog(models.Model):
    """What one completed model call cost, with the prices it was charged at."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Billing records are permanent: spend that budgets were settled from is never deleted with the
    # run or the project it belongs to (PROTECT); retention archives payloads instead (archive_runs).
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="cost_logs")

    class Purpose(models.TextChoices):
        RUN = "run", "Run"
        JUDGE = "judge", "Judge (scoring an experiment)"

    # Null for calls that are not runs: an LLM judge scoring an experiment's outputs.
    run = models.OneToOneField(Run, null=True, blank=True, on_delete=models.PROTECT, related_name="cost_log")
    purpose = models.CharField(max_length=8, choices=Purpose.choices, default=Purpose.RUN)
    api_key = models.ForeignKey("accounts.APIKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model_endpoint = models.ForeignKey(
        ModelEndpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model_id = models.CharField(max_length=200)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    input_price_per_million = models.DecimalField(null=True, blank=True, **PRICE)
    output_price_per_million = models.DecimalField(null=True, blank=True, **PRICE)
    # Null when the price is unknown: an unknown price is never reported as free.
    cost = models.DecimalField(null=True, blank=True, **MONEY)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["project", "created_at"], name="costlog_project_time_idx"),
            models.Index(fields=["api_key", "created_at"], name="costlog_key_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id}: {self.cost}"

    @property
    def price_known(self) -> bool:
        return self.cost is not None
