from django.contrib import admin

from prompts.models import Prompt, PromptLabel, PromptLabelEvent, PromptVersion


class PromptVersionInline(admin.TabularInline):
    model = PromptVersion
    extra = 0
    fields = ("version", "kind", "template_format", "commit_message", "content_hash", "created_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "latest_version_number", "updated_at")
    list_filter = ("project",)
    search_fields = ("name", "description")
    list_select_related = ("project",)
    readonly_fields = ("latest_version_number", "created_at", "updated_at")
    inlines = [PromptVersionInline]


@admin.register(PromptVersion)
class PromptVersionAdmin(admin.ModelAdmin):
    list_display = ("prompt", "version", "kind", "template_format", "commit_message", "created_at")
    list_filter = ("kind", "template_format", "prompt__project")
    search_fields = ("prompt__name", "commit_message", "template")
    list_select_related = ("prompt", "prompt__project")

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # versions are immutable


@admin.register(PromptLabel)
class PromptLabelAdmin(admin.ModelAdmin):
    list_display = ("prompt", "name", "version", "updated_at")
    list_filter = ("name",)
    search_fields = ("prompt__name", "name")
    list_select_related = ("prompt", "version")


@admin.register(PromptLabelEvent)
class PromptLabelEventAdmin(admin.ModelAdmin):
    list_display = ("prompt", "label", "from_version", "to_version", "actor", "actor_key", "created_at")
    list_filter = ("label",)
    search_fields = ("prompt__name", "label")
    list_select_related = ("prompt", "from_version", "to_version", "actor", "actor_key")

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # history is append-only
