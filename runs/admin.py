from django.contrib import admin

from runs.models import CostLog, ModelEndpoint, ModelPrice, Run


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "provider", "model_id", "base_url", "enabled", "max_concurrency")
    list_filter = ("provider", "enabled", "project")
    search_fields = ("name", "model_id", "base_url")
    list_select_related = ("project",)


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = ("model_id", "input_price_per_million", "output_price_per_million", "updated_at")
    search_fields = ("model_id",)


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "project",
        "prompt_version",
        "model_id",
        "status",
        "attempts",
        "latency_ms",
        "cost",
        "created_at",
    )
    list_filter = ("status", "project", "model_id", "created_at")
    search_fields = ("id", "task_id", "request_id", "idempotency_key")
    list_select_related = ("project", "prompt_version", "prompt_version__prompt")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in Run._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(CostLog)
class CostLogAdmin(admin.ModelAdmin):
    list_display = ("created_at", "project", "model_id", "input_tokens", "output_tokens", "cost")
    list_filter = ("project", "model_id")
    search_fields = ("model_id", "run__id")
    list_select_related = ("project",)
    readonly_fields = [field.name for field in CostLog._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
