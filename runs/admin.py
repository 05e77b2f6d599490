"""Runs, model endpoints and prices in the console. Runs are read-only here: they change only through
the services (cancel, retry), like everywhere else."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin_access import ProjectScopedAdminMixin
from accounts.admin_services import ServiceSavedAdminMixin
from accounts.models import Membership
from llmops.core.errors import DomainError
from llmops.core.forms import ConsoleFormMixin
from runs import endpoints, pricing, retention, selectors, services
from runs.models import CostLog, ModelEndpoint, ModelPrice, Run, RunAttempt


class ModelEndpointAdminForm(ConsoleFormMixin, forms.ModelForm):
    """Checked by the same service that saves it (runs.endpoints); the key is write-only."""

    api_key = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Sent as a Bearer token to this endpoint only; stored encrypted and never shown again.",
    )
    clear_api_key = forms.BooleanField(required=False, label="Remove the stored key")

    class Meta:
        model = ModelEndpoint
        fields = ("project", *(name for name in endpoints.ENDPOINT_FIELDS if name != "api_key"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.api_key_encrypted:
            self.fields["api_key"].help_text = (
                f"A key is stored ({self.instance.api_key_hint}). Leave blank to keep it; changing provider, "
                "base URL or HF provider needs it again."
            )

    def _get_validation_exclusions(self) -> set[str]:
        # Ticking "is default" moves the project's default here: the service unsets the previous one, so
        # the one-default constraint is not a form error.
        return {*super()._get_validation_exclusions(), "is_default"}

    def service_fields(self) -> dict:
        fields = {
            name: self.cleaned_data[name]
            for name in endpoints.ENDPOINT_FIELDS
            if name != "api_key" and name in self.cleaned_data
        }
        if self.cleaned_data.get("clear_api_key"):
            fields["api_key"] = None
        elif self.cleaned_data.get("api_key"):
            fields["api_key"] = self.cleaned_data["api_key"]
        return fields

    def clean(self) -> dict:
        cleaned = super().clean()
        existing = None if self.instance._state.adding else self.instance
        project = existing.project if existing else cleaned.get("project")
        if self.errors or project is None:
            return cleaned
        try:
            endpoints.model_endpoint_validate(project=project, endpoint=existing, **self.service_fields())
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
        "credential",
        "input_price_per_million",
        "output_price_per_million",
        "timeout_seconds",
        "max_concurrency",
        "enabled",
        "is_default",
        "runtime",
    )
    list_filter = ("provider", "enabled", "is_default", "project")
    search_fields = ("name", "model_id", "base_url")
    list_select_related = ("project",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ["test_connection"]

    @admin.display(description="runtime")
    def runtime(self, obj: ModelEndpoint) -> str:
        # Local endpoints run on the worker's llama.cpp, which the quickstart may still be building.
        if obj.provider != ModelEndpoint.Provider.LOCAL:
            return "-"
        from runs.providers.local import runtime_status

        return runtime_status()[0]

    def get_fields(self, request: HttpRequest, obj: ModelEndpoint | None = None) -> list:
        fields = list(super().get_fields(request, obj))
        if obj is None or not obj.api_key_encrypted:
            fields.remove("clear_api_key")
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: ModelEndpoint | None = None) -> tuple:
        # An endpoint and its credential stay in their project.
        return ("project",) if obj is not None else ()

    def save_form(self, request: HttpRequest, form: ModelEndpointAdminForm, change: bool) -> ModelEndpoint:
        if change:
            return endpoints.model_endpoint_update(endpoint=form.instance, **form.service_fields())
        return endpoints.model_endpoint_create(project=form.cleaned_data["project"], **form.service_fields())

    def save_model(self, request: HttpRequest, obj: ModelEndpoint, form, change: bool) -> None:
        """Saved by save_form through the service."""

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request: HttpRequest, obj: ModelEndpoint) -> None:
        endpoints.model_endpoint_delete(endpoint=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ModelEndpoint]) -> None:
        for endpoint in queryset:
            endpoints.model_endpoint_delete(endpoint=endpoint)

    @admin.display(description="credential")
    def credential(self, endpoint: ModelEndpoint) -> str:
        if endpoint.api_key_encrypted:
            return f"key {endpoint.api_key_hint}"
        return f"${endpoint.api_key_env}" if endpoint.api_key_env else "-"

    @admin.action(description="Test connection (send a tiny prompt)", permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[ModelEndpoint]) -> None:
        for endpoint in self.changeable(request, queryset):
            check = endpoints.model_endpoint_test(endpoint=endpoint)
            if check.ok:
                self.message_user(request, f"{endpoint.name}: OK in {check.latency_ms} ms, {check.detail}")
            else:
                self.message_user(request, f"{endpoint.name}: failed, {check.detail}", level=messages.ERROR)


class ModelPriceForm(ConsoleFormMixin, forms.ModelForm):
    class Meta:
        model = ModelPrice
        fields = ("model_id", "input_price_per_million", "output_price_per_million", "notes")

    def clean(self) -> dict:
        data = super().clean()
        if not self.errors:
            try:
                pricing.model_price_check(**{name: data[name] for name in self._meta.fields if name in data})
            except DomainError as error:
                self.add_error(error.param if error.param in self.fields else None, error.message)
        return data


@admin.register(ModelPrice)
class ModelPriceAdmin(ServiceSavedAdminMixin, admin.ModelAdmin):
    """The platform's price list; cost logs keep the prices they were charged at, so edits never rewrite spend."""

    form = ModelPriceForm
    list_display = ("model_id", "input_price_per_million", "output_price_per_million", "notes", "updated_at")
    list_editable = ("input_price_per_million", "output_price_per_million")
    search_fields = ("model_id", "notes")

    def get_changelist_form(self, request: HttpRequest, **kwargs):
        # The list's editable columns are checked like the change form.
        return super().get_changelist_form(request, form=ModelPriceForm, **kwargs)

    def save_form(self, request: HttpRequest, form: ModelPriceForm, change: bool) -> ModelPrice:
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        if change:
            return pricing.model_price_update(price=ModelPrice.objects.get(pk=form.instance.pk), **fields)
        return pricing.model_price_create(**{name: form.cleaned_data.get(name) for name in form._meta.fields})

    def delete_model(self, request: HttpRequest, obj: ModelPrice) -> None:
        pricing.model_price_delete(price=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ModelPrice]) -> None:
        for price in queryset:
            pricing.model_price_delete(price=price)


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

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # billing records are permanent


class RunAttemptInline(ProjectScopedAdminMixin, admin.TabularInline):
    """Every attempt of the run, read-only: discarded and lease_expired ones may have been billed."""

    model = RunAttempt
    project_field = "run__project"
    extra = 0
    can_delete = False
    verbose_name_plural = "attempts history"
    fields = (
        "number",
        "outcome",
        "started_at",
        "finished_at",
        "error_type",
        "error_message",
        "input_tokens",
        "output_tokens",
        "latency_ms",
        "cost",
    )
    readonly_fields = fields

    def _project_id_of(self, obj):
        return obj.project_id if isinstance(obj, Run) else obj.run.project_id  # checks receive the parent run

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
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
    inlines = [RunAttemptInline, CostLogInline]
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
                    "enqueued_at",
                    "lease_expires_at",
                    "updated_at",
                )
            },
        ),
    )
    readonly_fields = [field.name for field in Run._meta.fields] + ["cost_display"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # Actions (cancel, retry) need "change"; a run's page is never a form that saves the row.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Billing records are permanent: a billed run (or one still in flight) offers no delete.
        if obj is not None and (not obj.is_terminal or retention.run_is_billed(run=obj)):
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: Run) -> None:
        retention.run_delete(run=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        deleted, refused = 0, []
        for run in queryset:
            try:
                retention.run_delete(run=run)
                deleted += 1
            except DomainError as error:
                refused.append(error.message)
        for message in refused:
            self.message_user(request, f"Not deleted: {message}", messages.ERROR)

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

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # written once by the engine, at the price the call was charged

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # billing records are permanent

    @admin.display(description="cost", ordering="cost")
    def cost_display(self, log: CostLog) -> str:
        return str(log.cost) if log.cost is not None else "unknown price"
