from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts import services
from accounts.admin_access import ProjectScopedAdminMixin, ScopedAdminMixin
from accounts.models import APIKey, Membership, Project, User


@admin.register(User)
class UserAdmin(ScopedAdminMixin, BaseUserAdmin):
    """Django's permissions decide who may open it; a staff user who is not a superuser finds only
    the people they share a project with (here and in the member autocomplete)."""

    list_display = ("username", "email", "is_staff", "is_active", "date_joined")


class MembershipInline(ProjectScopedAdminMixin, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)
    change_role = Membership.Role.ADMIN

    def _project_id_of(self, obj):
        return obj.pk  # an inline is asked about its parent, the project


@admin.register(Project)
class ProjectAdmin(ProjectScopedAdminMixin, admin.ModelAdmin):
    project_field = ""
    change_role = Membership.Role.ADMIN

    list_display = ("name", "slug", "budget_usd", "budget_period", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(ProjectScopedAdminMixin, admin.ModelAdmin):
    change_role = Membership.Role.ADMIN

    list_display = ("user", "project", "role", "created_at")
    list_filter = ("role", "project")
    search_fields = ("user__username", "user__email", "project__name")
    list_select_related = ("user", "project")
    autocomplete_fields = ("user", "project")


@admin.register(APIKey)
class APIKeyAdmin(ProjectScopedAdminMixin, admin.ModelAdmin):
    change_role = Membership.Role.ADMIN

    list_display = ("name", "prefix", "project", "scopes", "created_at", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("project", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix", "project__name")
    list_select_related = ("project", "created_by")
    readonly_fields = ("prefix", "key_hash", "created_by", "revoked_at", "last_used_at", "created_at", "updated_at")
    fields = (
        "project",
        "name",
        "scopes",
        "expires_at",
        "requests_per_minute",
        "runs_per_minute",
        "budget_usd",
        "budget_period",
        *readonly_fields,
    )
    actions = ["revoke"]

    def has_change_permission(self, request, obj=None) -> bool:
        # A key's secret and project are fixed at creation; only revocation changes it (an action).
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj: APIKey, form, change: bool) -> None:
        if change:
            return
        issued = services.api_key_create(
            project=obj.project,
            name=obj.name,
            scopes=obj.scopes or None,
            expires_at=obj.expires_at,
            created_by=request.user,
            requests_per_minute=obj.requests_per_minute,
            runs_per_minute=obj.runs_per_minute,
            budget_usd=obj.budget_usd,
            budget_period=obj.budget_period,
        )
        obj.pk = issued.api_key.pk
        obj.__dict__.update(issued.api_key.__dict__)
        messages.warning(request, f"Copy this key now, it will not be shown again: {issued.secret}")

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request, queryset) -> None:
        revoked = 0
        for api_key in queryset.select_related("project"):
            if self.has_delete_permission(request, api_key):  # the admin role in that key's project
                services.api_key_revoke(api_key=api_key)
                revoked += 1
        self.message_user(request, f"Revoked {revoked} key(s).")
