"""Write a prompt version to a YAML or JSON file that prompt_push reads back without a change."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Project
from llmops.core.errors import DomainError
from prompts import promptfile, selectors
from prompts.models import PromptLabel
from prompts.validation import LATEST


class Command(BaseCommand):
    help = "Write a prompt version (default: the latest) as YAML or JSON, in the format prompt_push reads."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs) -> CommandParser:
        # --version means a prompt version here, not Django's version: let ours replace it.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="prompt name")
        parser.add_argument("--project", required=True, help="project slug")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--label", help="version this label points at")
        which.add_argument("--version", type=int, help="version number")
        parser.add_argument("--output", help="file to write; default: stdout")
        parser.add_argument(
            "--format", choices=promptfile.FORMATS, help="default: from --output's extension, else yaml"
        )

    def handle(
        self,
        *args,
        name: str,
        project: str,
        label: str | None,
        version: int | None,
        output: str | None,
        format: str | None,
        **options,
    ) -> None:
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"no project with slug '{project}'")
        # The default is the newest version, not production: a file in git is the head of the
        # prompt, and pushing it back must not create a version.
        if label is None and version is None:
            label = LATEST
        try:
            resolved = selectors.version_resolve(project=target, name=name, label=label, version=version)
        except DomainError as error:
            raise CommandError(error.message) from None
        labels = list(PromptLabel.objects.filter(version=resolved).order_by("name").values_list("name", flat=True))
        text = promptfile.dumps(
            promptfile.to_document(resolved, labels=labels), file_format=promptfile.format_for(output, format)
        )
        if output:
            Path(output).write_text(text, encoding="utf-8")
            self.stderr.write(f"{name} v{resolved.version} written to {output}")
        else:
            self.stdout.write(text, ending="")
