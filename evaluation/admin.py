from django.contrib import admin

from evaluation.models import EvaluationResult, GoldenExample


@admin.register(GoldenExample)
class GoldenExampleAdmin(admin.ModelAdmin):
    list_display = ("id", "prompt", "project", "split", "created_at")
    list_filter = ("split", "project")
    search_fields = ("expected_output", "prompt__name")
    list_select_related = ("prompt", "project")


@admin.register(EvaluationResult)
class EvaluationResultAdmin(admin.ModelAdmin):
    list_display = ("scorer", "score", "passed", "run", "golden_example", "created_at")
    list_filter = ("scorer", "passed", "project")
    search_fields = ("scorer", "run__id")
    list_select_related = ("run", "golden_example", "project")
