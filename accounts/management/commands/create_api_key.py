from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts import services
from accounts.models import APIKey, Project
from llmops.core.errors import DomainError


class Command(BaseCommand):
    help = "Create an API key for a project and print it once (only its hash is stored)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--project", required=True, help="project slug or name")
        parser.add_argument("--name", required=True, help="a name that says who or what uses the key")
        parser.add_argument(
            "--scopes", default=",".join(APIKey.DEFAULT_SCOPES), help="comma-separated: read,run,write,admin"
        )
        parser.add_argument("--expires-in-days", type=int, default=None)
        parser.add_argument("--create-project", action="store_true", help="create the project if it does not exist")

    def handle(
        self, *args, project: str, name: str, scopes: str, expires_in_days: int | None, create_project: bool, **options
    ) -> None:
        target = Project.objects.filter(slug=project).first() or Project.objects.filter(name=project).first()
        if target is None:
            if not create_project:
                known = ", ".join(Project.objects.values_list("slug", flat=True)[:20]) or "none"
                raise CommandError(f"no project '{project}' (known: {known}); pass --create-project to create it")
            target = self._create_project(project)
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days must be at least 1")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        try:
            issued = services.api_key_create(
                project=target,
                name=name,
                scopes=[scope.strip() for scope in scopes.split(",") if scope.strip()],
                expires_at=expires_at,
            )
        except DomainError as error:
            raise CommandError(error.message) from None
        self.stderr.write(f"API key '{name}' for project '{target.slug}' (scopes: {', '.join(issued.api_key.scopes)}).")
        self.stderr.write("Copy it now; it is not stored and will not be shown again:")
        self.stdout.write(issued.secret)

    def _create_project(self, project: str) -> Project:
        try:
            return services.project_create(name=project)
        except DomainError as error:
            raise CommandError(error.message) from None
