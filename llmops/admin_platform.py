"""The console pages of the platform's own machinery are for superusers only.

Celery task results and schedules, groups and login attempts belong to no project and show every
project's data (task arguments name prompts and runs; attempts name people and addresses), so no
project role may read them, and neither may a Django permission granted to a staff user. Every
admin registered by an app other than the project's own is wrapped here, once all admins are
registered, so a third-party app added later is covered without a line for it.
"""

from __future__ import annotations

from django.contrib import admin

# Apps whose admins scope themselves by project (accounts.admin_access); every other app's admin
# is the platform's.
PROJECT_APPS = frozenset({"accounts", "prompts", "runs", "evaluation", "experiments"})


class SuperuserOnlyAdminMixin:
    @staticmethod
    def _is_superuser(request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request) -> bool:
        return self._is_superuser(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._is_superuser(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args) -> bool:
        return self._is_superuser(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._is_superuser(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._is_superuser(request) and super().has_delete_permission(request, obj)


def restrict_platform_admins(site: admin.AdminSite = admin.site) -> list[str]:
    """Re-register every admin outside PROJECT_APPS as superuser-only; returns the models' labels."""
    restricted = []
    for model, model_admin in list(site._registry.items()):
        if model._meta.app_label in PROJECT_APPS or isinstance(model_admin, SuperuserOnlyAdminMixin):
            continue
        base = type(model_admin)
        wrapped = type(base.__name__, (SuperuserOnlyAdminMixin, base), {"__module__": base.__module__})
        site.unregister(model)
        site.register(model, wrapped)
        restricted.append(model._meta.label)
    return restricted
