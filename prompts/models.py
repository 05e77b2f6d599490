from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from llmops.core.models import TimeStampedModel

LABEL_PATTERN = r"^[a-z0-9_.-]{1,36}$"
PROMPT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,199}$"


class Prompt(TimeStampedModel):
    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="prompts")
    name = models.CharField(
        max_length=200,
        validators=[
            RegexValidator(PROMPT_NAME_PATTERN, "letters, digits, '_', '-', '.', '/'; starts with a letter or digit")
        ],
    )
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    # Highest version number handed out; bumped under a row lock so concurrent creations never collide.
    latest_version_number = models.PositiveIntegerField(default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            # Prompts are fetched by name from application code: a name is unique within a project.
            models.UniqueConstraint(fields=["project", "name"], name="prompt_unique_name_per_project"),
        ]
        indexes = [models.Index(fields=["project", "-updated_at"], name="prompt_project_recent_idx")]

    def __str__(self) -> str:
        return self.name


class PromptVersion(models.Model):
    """Immutable: a change of content is a new version. Only ``created_at`` exists, no ``updated_at``."""

    class Kind(models.TextChoices):
        TEXT = "text", "Text"
        CHAT = "chat", "Chat"

    class TemplateFormat(models.TextChoices):
        FSTRING = "fstring", "f-string ({input})"
        JINJA2 = "jinja2", "Jinja2 (sandboxed)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TEXT)
    template_format = models.CharField(max_length=8, choices=TemplateFormat.choices, default=TemplateFormat.FSTRING)
    template = models.TextField(blank=True)
    messages = models.JSONField(default=list, blank=True)
    # Model endpoint name or model id plus generation parameters used when a run names no endpoint.
    model_settings = models.JSONField(default=dict, blank=True)
    variables_schema = models.JSONField(null=True, blank=True)
    variables = models.JSONField(default=list, blank=True, editable=False)
    commit_message = models.CharField(max_length=500, blank=True)
    # SHA-256 of the canonical content: the ETag of fetch-by-name and the identity check for pushes.
    content_hash = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_key = models.ForeignKey(
        "accounts.APIKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["prompt", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "version"], name="promptversion_unique_number"),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="promptversion_number_positive"),
        ]
        indexes = [models.Index(fields=["prompt", "content_hash"], name="promptversion_hash_idx")]

    def __str__(self) -> str:
        return f"{self.prompt.name} v{self.version}"

    def save(self, *args, **kwargs) -> None:
        # Runs, experiments and ETags all assume a version's content is fixed once written.
        if not self._state.adding:
            raise ValueError("prompt versions are immutable: create a new version instead")
        super().save(*args, **kwargs)


class PromptLabel(models.Model):
    """A movable pointer (production, staging, ...) to one version of a prompt."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=36, validators=[RegexValidator(LABEL_PATTERN)])
    version = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="labels")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["prompt", "name"]
        constraints = [
            # One version per label per prompt.
            models.UniqueConstraint(fields=["prompt", "name"], name="promptlabel_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.prompt.name}@{self.name}"


class PromptLabelEvent(models.Model):
    """Label history: who moved which label of a prompt, when, from which version to which."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="label_events")
    label = models.CharField(max_length=36)
    from_version = models.ForeignKey(PromptVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    to_version = models.ForeignKey(PromptVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_key = models.ForeignKey("accounts.APIKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["prompt", "label", "-created_at"], name="labelevent_history_idx")]

    def __str__(self) -> str:
        return f"{self.prompt.name}@{self.label}: {self.from_version_id} -> {self.to_version_id}"
