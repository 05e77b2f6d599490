from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Project
from evaluation import golden_io, selectors, services
from llmops.core.errors import DomainError


def project_get(value: str) -> Project:
    project = Project.objects.filter(slug=value).first() or Project.objects.filter(name=value).first()
    if project is None:
        known = ", ".join(Project.objects.values_list("slug", flat=True)[:20]) or "none"
        raise CommandError(f"no project '{value}' (known: {known})")
    return project


class Command(BaseCommand):
    help = (
        "Import golden examples for a prompt from a JSONL or CSV file (all rows or none). "
        "The file format is the one the API's import and export use."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="path to a .jsonl/.ndjson or .csv file, or '-' for standard input")
        parser.add_argument("--project", required=True, help="project slug or name")
        parser.add_argument("--prompt", required=True, help="prompt name")
        parser.add_argument("--format", choices=golden_io.FORMATS, help="default: from the file extension")

    def handle(self, *args, file: str, project: str, prompt: str, format: str | None, **options) -> None:
        target = project_get(project)
        try:
            file_format = golden_io.detect_format(explicit=format, filename=None if file == "-" else file)
            if file_format is None:
                raise CommandError(f"cannot tell the format of '{file}': pass --format jsonl or --format csv")
            text = golden_io.decode(sys.stdin.buffer.read() if file == "-" else self._read(file))
            rows = golden_io.parse(text, format=file_format)
            prompt_row = selectors.prompt_by_name_get(project=target, name=prompt)
            created = services.goldens_import(project=target, prompt_id=prompt_row.pk, rows=rows)
        except DomainError as error:
            raise CommandError(error.message) from None
        self.stdout.write(
            f"Imported {len(created)} golden examples into prompt '{prompt_row.name}' of project '{target.slug}'."
        )

    @staticmethod
    def _read(path: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as error:
            raise CommandError(f"cannot read '{path}': {error.strerror}") from None
