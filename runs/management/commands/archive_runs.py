"""Retention for runs: archive old runs to a JSONL file, then drop their payloads, never their cost."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.models import Project
from runs import retention


class Command(BaseCommand):
    help = (
        "Append finished runs older than --older-than days (with their cost logs and attempts) to a JSONL "
        "file, then empty their payloads (variables, rendered prompt, output, error text). Run rows and cost "
        "logs stay: billing records are permanent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS", help="age in days (>= 1)")
        parser.add_argument("--to", required=True, metavar="FILE.jsonl", help="archive file; appended to")
        parser.add_argument("--project", help="only this project's runs (slug)")

    def handle(self, *args, older_than: int, to: str, project: str | None, **options) -> None:
        if older_than < 1:
            raise CommandError("--older-than must be at least 1 day")
        project_id = None
        if project:
            project_id = Project.objects.filter(slug=project).values_list("pk", flat=True).first()
            if project_id is None:
                raise CommandError(f"no project with slug '{project}'")
        cutoff = timezone.now() - timedelta(days=older_than)
        try:
            report = retention.runs_archive(older_than=cutoff, to=to, project_id=project_id)
        except OSError as error:
            raise CommandError(f"{to}: {error}") from None
        self.stdout.write(f"archived {report.archived} run(s) to {report.path}")
