from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from llmops.core.models import TimeStampedModel


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)


class BudgetPeriod(models.TextChoices):
    DAILY = "daily", "Daily (UTC)"
    MONTHLY = "monthly", "Monthly (UTC)"


class Project(TimeStampedModel):
    """The tenant: every domain row belongs to exactly one project."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    # Spend cap over all of the project's keys; null means no cap.
    budget_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    budget_period = models.CharField(max_length=8, choices=BudgetPeriod.choices, default=BudgetPeriod.MONTHLY)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(TimeStampedModel):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [
            # One role per person per project; a second row would make the role ambiguous.
            models.UniqueConstraint(fields=["user", "project"], name="membership_unique_user_project"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class APIKey(TimeStampedModel):
    class Scope(models.TextChoices):
        READ = "read", "Read"
        RUN = "run", "Run models"
        WRITE = "write", "Write"
        ADMIN = "admin", "Admin"

    DEFAULT_SCOPES = ("read", "run", "write")

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    # The first characters of the key, safe to show: lets a person tell keys apart.
    prefix = models.CharField(max_length=16, db_index=True, editable=False)
    # SHA-256 of the whole key; the key itself is shown once and never stored.
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    # Null: the platform defaults (API_DEFAULT_REQUESTS_PER_MINUTE, API_DEFAULT_RUNS_PER_MINUTE).
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    runs_per_minute = models.PositiveIntegerField(null=True, blank=True)
    budget_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    budget_period = models.CharField(max_length=8, choices=BudgetPeriod.choices, default=BudgetPeriod.MONTHLY)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "revoked_at"], name="apikey_project_active_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes or self.Scope.ADMIN in self.scopes
