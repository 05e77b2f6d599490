"""Project roles in the admin console.

Superusers see and do everything. A staff user sees only the projects they are a member of, and
their role there decides what they may do: a viewer reads, a member edits prompts and goldens and
launches experiments, an admin (or owner) also manages keys and model endpoints. Roles replace
Django's per-model permissions for project data, so nobody has to maintain both.
"""

from __future__ import annotations

from django.db.models import Model, QuerySet

from accounts.models import Membership, Project

ROLE_RANK = {
    Membership.Role.VIEWER: 0,
    Membership.Role.MEMBER: 1,
    Membership.Role.ADMIN: 2,
    Membership.Role.OWNER: 3,
}


def projects_for(user, *, min_role: str = Membership.Role.VIEWER) -> QuerySet[Project]:
    roles = [role for role, rank in ROLE_RANK.items() if rank >= ROLE_RANK[min_role]]
    return Project.objects.filter(memberships__user=user, memberships__role__in=roles)


def role_in(user, project_id) -> str | None:
    return Membership.objects.filter(user=user, project_id=project_id).values_list("role", flat=True).first()


def has_role(user, project_id, min_role: str) -> bool:
    role = role_in(user, project_id)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[min_role]


class ProjectScopedAdminMixin:
    """Mix into a ModelAdmin whose model reaches its project through ``project_field``."""

    project_field = "project"  # ORM path to the Project; "" when the model is Project itself
    change_role = Membership.Role.MEMBER  # least role to add, change or delete

    def _project_id_of(self, obj: Model):
        if not self.project_field:
            return obj.pk
        value = obj
        for part in self.project_field.split("__"):
            value = getattr(value, part)
        return value.pk

    def _scope_filter(self, user) -> dict:
        lookup = f"{self.project_field}__in" if self.project_field else "pk__in"
        return {lookup: projects_for(user)}

    def changeable(self, request, queryset: QuerySet) -> QuerySet:
        """The part of ``queryset`` the user may change: for admin actions, whose permission check
        alone does not look at each selected object's project."""
        if request.user.is_superuser:
            return queryset
        allowed = projects_for(request.user, min_role=self.change_role)
        lookup = f"{self.project_field}__in" if self.project_field else "pk__in"
        return queryset.filter(**{lookup: allowed})

    def get_queryset(self, request) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**self._scope_filter(request.user)).distinct()

    def _allowed(self, request, obj, min_role: str) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        if obj is None:
            return projects_for(user, min_role=min_role).exists()
        return has_role(user, self._project_id_of(obj), min_role)

    def has_module_permission(self, request) -> bool:
        if request.user.is_superuser:
            return super().has_module_permission(request)
        return self._allowed(request, None, Membership.Role.VIEWER)

    def has_view_permission(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return super().has_view_permission(request, obj)
        return self._allowed(request, obj, Membership.Role.VIEWER)

    def has_add_permission(self, request, *args) -> bool:
        if request.user.is_superuser:
            return super().has_add_permission(request, *args)
        return self._allowed(request, None, self.change_role)

    def has_change_permission(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return super().has_change_permission(request, obj)
        return self._allowed(request, obj, self.change_role)

    def has_delete_permission(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return super().has_delete_permission(request, obj)
        return self._allowed(request, obj, self.change_role)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Choices are limited to objects of projects where the user may make changes.
        if not request.user.is_superuser:
            allowed = projects_for(request.user, min_role=self.change_role)
            related = db_field.related_model
            if related is Project:
                kwargs["queryset"] = allowed
            elif any(field.name == "project" for field in related._meta.get_fields()):
                kwargs["queryset"] = related._default_manager.filter(project__in=allowed)
            elif any(field.name == "prompt" for field in related._meta.get_fields()):
                kwargs["queryset"] = related._default_manager.filter(prompt__project__in=allowed)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
