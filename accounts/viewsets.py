"""Tenancy for API views: every queryset starts from the calling key's project."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import APIKey, Project


class ProjectScopedMixin:
    """Subclasses implement ``scoped_queryset(project)``; objects of other projects are simply absent (404)."""

    @property
    def api_key(self) -> APIKey:
        return self.request.auth

    @property
    def project(self) -> Project:
        return self.request.auth.project

    def scoped_queryset(self, project: Project) -> QuerySet:
        raise NotImplementedError(f"{type(self).__name__} must define scoped_queryset(project)")

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # schema generation runs without a request key
            return self.queryset.none() if getattr(self, "queryset", None) is not None else QuerySet().none()
        return self.scoped_queryset(self.project)
