from django.contrib import admin

from experiments.models import Experiment, ExperimentResult


class ExperimentResultInline(admin.TabularInline):
    model = ExperimentResult
    extra = 0
    fields = ("prompt_version", "golden_example", "repeat_index", "status", "passed", "cached", "latency_ms")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ("name", "prompt", "project", "status", "total_cells", "created_at", "finished_at")
    list_filter = ("status", "project")
    search_fields = ("name", "prompt__name")
    list_select_related = ("prompt", "project")
    inlines = [ExperimentResultInline]


@admin.register(ExperimentResult)
class ExperimentResultAdmin(admin.ModelAdmin):
    list_display = ("experiment", "prompt_version", "golden_example", "repeat_index", "status", "passed", "cached")
    list_filter = ("status", "cached", "passed")
    search_fields = ("experiment__name",)
    list_select_related = ("experiment", "prompt_version", "prompt_version__prompt", "golden_example")
