"""Runs, model endpoints and prices in the console. Runs are read-only here: they change only through
the services (cancel, retry), like everywhere else."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin_access import ProjectScopedAdminMixin
from accounts.models import Membership
from llmops.errors import DomainError
from runs import selectors, services
from runs.models import CostLog, ModelEndpoint, ModelPrice, Run


class ModelEndpointAdminForm(forms.ModelForm):
    class Meta:
        model = ModelEndpoint
        fields = ("project", *services.ENDPOINT_FIELDS)

    def clean(self) -> dict:
        cleaned = super().clean()
        provider, base_url = cleaned.get("provider"), cleaned.get("base_url")
        if provider and base_url is not None:
            try:
                services.model_endpoint_check(provider=provider, base_url=base_url)
            except DomainError as error:
                self.add_error(error.param if error.param in self.fields else None, error.message)
        return cleaned


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(ProjectScopedAdminMixin, admin.ModelAdmin):
    change_role = Membership.Role.ADMIN  # endpoints spend money and hold where credentials go

    form = ModelEndpointAdminForm
    list_display = (
        "name",
        "project",
        "provider",
        "model_id",
        "base_url",
        "input_price_per_million",
        "output_price_per_million",
        "timeout_seconds",
        "max_concurrency",
        "enabled",
    )
    list_filter = ("provider", "enabled", "project")
    search_fields = ("name", "model_id", "base_url")
    list_select_related = ("project",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ["test_connection"]

    @admin.action(description="Test connection (send a tiny prompt)", permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[ModelEndpoint]) -> None:
        for endpoint in self.changeable(request, queryset):
            check = services.model_endpoint_test(endpoint=endpoint)
            if check.ok:
                self.message_user(request, f"{endpoint.name}: OK in {check.latency_ms} ms, {check.detail}")
            else:
                self.message_user(request, f"{endpoint.name}: failed, {check.detail}", level=messages.ERROR)


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = ("model_id", "input_price_per_million", "output_price_per_million", "notes", "updated_at")
    list_editable = ("input_price_per_million", "output_price_per_million")
    search_fields = ("model_id", "notes")


class CostLogInline(ProjectScopedAdminMixin, admin.StackedInline):
    model = CostLog
    extra = 0
    can_delete = False
    fields = (
        "model_id",
        "model_endpoint",
        "api_key",
        "input_tokens",
        "output_tokens",
        "input_price_per_million",
        "output_price_per_million",
        "cost",
        "created_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Run)
class RunAdmin(ProjectScopedAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "project",
        "prompt_version",
        "model_id",
        "status",
        "attempts",
        "latency_ms",
        "input_tokens",
        "output_tokens",
        "cost_display",
        "created_at",
    )
    list_filter = (
        "status",
        ("model_endpoint", admin.RelatedOnlyFieldListFilter),
        "model_id",
        ("prompt_version__prompt", admin.RelatedOnlyFieldListFilter),
        "created_at",
        "project",
    )
    search_fields = ("id", "task_id", "request_id", "idempotency_key")
    list_select_related = ("project", "prompt_version", "prompt_version__prompt")
    date_hierarchy = "created_at"
    inlines = [CostLogInline]
    actions = ["cancel_runs", "retry_runs"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "status",
                    "project",
                    "prompt_version",
                    "model_endpoint",
                    "model_id",
                    "api_key",
                    "task_id",
                    "request_id",
                    "idempotency_key",
                    "request_hash",
                )
            },
        ),
        ("Input", {"fields": ("variables", "parameters", "rendered_prompt", "rendered_messages")}),
        (
            "Result",
            {
                "fields": (
                    "output",
                    "finish_reason",
                    "error_type",
                    "error_message",
                    "input_tokens",
                    "output_tokens",
                    "latency_ms",
                    "cost_display",
                )
            },
        ),
        (
            "Attempts and timing",
            {
                "fields": (
                    "attempts",
                    "max_attempts",
                    "created_at",
                    "started_at",
                    "finished_at",
                    "next_attempt_at",
                    "lease_expires_at",
                    "updated_at",
                )
            },
        ),
    )
    readonly_fields = [field.name for field in Run._meta.fields] + ["cost_display"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="cost", ordering="cost")
    def cost_display(self, run: Run) -> str:
        if run.cost is not None:
            return str(run.cost)
        return "unknown price" if run.status == Run.Status.COMPLETED else "-"

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context is not None and "cl" in context:
            context["run_totals"] = selectors.run_totals(queryset=context["cl"].queryset)
        return response

    @admin.action(description="Cancel selected runs (queued or running)", permissions=["change"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        cancelled = 0
        for run in self.changeable(request, queryset).filter(status__in=[Run.Status.QUEUED, Run.Status.RUNNING]):
            try:
                services.run_cancel(run=run)
                cancelled += 1
            except DomainError:
                pass  # finished between the listing and the click
        left = queryset.count() - cancelled
        self.message_user(request, f"Cancelled {cancelled} run(s); {left} already finished were left alone.")

    @admin.action(description="Retry selected failed runs (each as a new run)", permissions=["change"])
    def retry_runs(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        created, problems = 0, []
        for run in (
            self.changeable(request, queryset)
            .filter(status=Run.Status.FAILED)
            .select_related("project", "prompt_version__prompt")
        ):
            try:
                services.run_retry(run=run)
                created += 1
            except DomainError as error:
                problems.append(f"{run.pk}: {error.message}")
        self.message_user(request, f"Queued {created} new run(s) for the failed runs selected.")
        for problem in problems:
            self.message_user(request, f"Not retried, {problem}", level=messages.ERROR)


@admin.register(CostLog)
class CostLogAdmin(ProjectScopedAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "project", "purpose", "model_id", "input_tokens", "output_tokens", "cost_display")
    list_filter = ("purpose", "project", "model_id")
    search_fields = ("model_id", "run__id")
    list_select_related = ("project",)
    readonly_fields = [field.name for field in CostLog._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="cost", ordering="cost")
    def cost_display(self, log: CostLog) -> str:
        return str(log.cost) if log.cost is not None else "unknown price"
