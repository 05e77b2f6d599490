"""Project roles in the admin console.

Superusers see and do everything. A staff user sees only the projects they are a member of, and
their role there decides what they may do: a viewer reads, a member edits prompts and goldens and
launches experiments, an admin (or owner) also manages keys and model endpoints. Roles replace
Django's per-model permissions for project data, so nobody has to maintain both.

A staff user sees nothing of projects they are not in, on any surface of an admin page: lists,
filter sidebars and their facet counts, search and autocomplete answers, the choices of foreign
keys in forms, object pages and their history (an object out of reach is "not found", as one that
does not exist). ``ScopedAdminMixin`` does all of it from one rule, ``visible_to``.
"""

from __future__ import annotations

import functools

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.db.models import Model, Q, QuerySet

from accounts.models import Membership, Project, User

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


@functools.cache
def project_path(model: type[Model]) -> str | None:
    """The ORM path from ``model`` to the Project its rows belong to ("" for Project itself), or None
    for platform-wide rows of no project (users, prices, Celery results)."""
    return _project_path(model, depth=3)


def _project_path(model: type[Model], *, depth: int) -> str | None:
    if model is Project:
        return ""
    # Only required links: a path through a nullable one would lose the rows where it is empty.
    links = [
        field
        for field in model._meta.concrete_fields
        if (field.many_to_one or field.one_to_one) and not field.null and field.related_model is not model
    ]
    for field in links:
        if field.related_model is Project:
            return field.name
    if depth > 1:
        for field in links:
            rest = _project_path(field.related_model, depth=depth - 1)
            if rest is not None:
                return f"{field.name}__{rest}" if rest else field.name
    return None


def visible_to(user, model: type[Model], *, min_role: str = Membership.Role.VIEWER) -> QuerySet | None:
    """The rows of ``model`` that ``user`` may see in the admin (with at least ``min_role`` in their
    project), or None when the model's rows belong to no project and so need no project scope.
    Users are visible to the people they share a project with."""
    manager = model._default_manager
    if user.is_superuser:
        return manager.all()
    projects = projects_for(user, min_role=min_role)
    if model is User:
        return manager.filter(Q(memberships__project__in=projects) | Q(pk=user.pk)).distinct()
    path = project_path(model)
    if path is None:
        return None
    return manager.filter(**{f"{path}__in" if path else "pk__in": projects})


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A related-object filter that offers a staff user only the objects they may see. Objects of
    no project (users, groups) are offered only when a row the user sees refers to them."""

    related_only = False

    def field_choices(self, field, request, model_admin):
        if request.user.is_superuser:
            return super().field_choices(field, request, model_admin)
        limit = Q()
        visible = visible_to(request.user, field.related_model)
        if visible is not None:
            limit &= Q(pk__in=visible.values("pk"))
        if visible is None or self.related_only:
            referenced = model_admin.get_queryset(request).distinct().values_list(f"{self.field_path}__pk", flat=True)
            limit &= Q(pk__in=referenced)
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(include_blank=False, limit_choices_to=limit, ordering=ordering)


class ScopedRelatedOnlyFieldListFilter(ScopedRelatedFieldListFilter, admin.RelatedOnlyFieldListFilter):
    """``RelatedOnlyFieldListFilter`` with the project scope."""

    related_only = True


_SCOPED_FILTERS = {
    admin.RelatedFieldListFilter: ScopedRelatedFieldListFilter,
    admin.RelatedOnlyFieldListFilter: ScopedRelatedOnlyFieldListFilter,
}


def scoped_list_filter(model: type[Model], item):
    """``item`` of a ``list_filter``, with the scoped filter class wherever it filters on a relation."""
    if isinstance(item, (list, tuple)):
        path, filter_class = item
        return (path, _SCOPED_FILTERS.get(filter_class, filter_class))
    if isinstance(item, str) and get_fields_from_path(model, item)[-1].is_relation:
        return (item, ScopedRelatedFieldListFilter)
    return item


class ScopedAdminMixin:
    """Mix into any admin (or inline) whose rows or related objects may belong to projects: for a
    staff user who is not a superuser, every list, filter, facet, search, autocomplete answer,
    foreign-key choice and object page (change, delete, history) shows only what ``visible_to``
    allows. Autocomplete answers come from the related model's admin, so that admin must be scoped
    too. Superusers see everything."""

    def scope_queryset(self, request, queryset: QuerySet) -> QuerySet:
        visible = visible_to(request.user, self.model)
        return queryset if visible is None else queryset.filter(pk__in=visible.values("pk"))

    def get_queryset(self, request) -> QuerySet:
        # Object pages (change, delete, history) find their object through this: out of scope is
        # "does not exist", never "forbidden", so nothing confirms that another project's object exists.
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else self.scope_queryset(request, queryset)

    def get_list_filter(self, request):
        return [scoped_list_filter(self.model, item) for item in super().get_list_filter(request)]

    def choices_for(self, request, model: type[Model]) -> QuerySet | None:
        """The objects of ``model`` a form of this admin may offer (None: no project scope)."""
        return visible_to(request.user, model)

    def get_field_queryset(self, db, db_field, request):
        # The choices of every foreign key and many-to-many field in add and change forms (inlines too).
        queryset = super().get_field_queryset(db, db_field, request)
        if request.user.is_superuser:
            return queryset
        related = db_field.remote_field.model
        allowed = self.choices_for(request, related)
        if allowed is None:
            return queryset
        if queryset is None:
            queryset = related._default_manager.using(db)
        return queryset.filter(pk__in=allowed.values("pk"))


class ProjectScopedAdminMixin(ScopedAdminMixin):
    """Mix into a ModelAdmin whose model reaches its project through ``project_field``: the project
    scope of ``ScopedAdminMixin`` plus permissions by project role."""

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

    def scope_queryset(self, request, queryset: QuerySet) -> QuerySet:
        return queryset.filter(**self._scope_filter(request.user)).distinct()

    def choices_for(self, request, model: type[Model]) -> QuerySet | None:
        # Choices are limited to objects of projects where the user may make changes.
        return visible_to(request.user, model, min_role=self.change_role)

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
