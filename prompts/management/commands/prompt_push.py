"""Create a prompt version from a YAML or JSON file (prompts as code). Unchanged content creates nothing."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Project
from llmops.core.errors import DomainError
from prompts import promptfile, services
from prompts.models import Prompt, PromptLabel


class Command(BaseCommand):
    help = "Create a prompt (or its next version) from a YAML or JSON file; a push of unchanged content is a no-op."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="path of the prompt file, or - for stdin")
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--format", choices=promptfile.FORMATS, help="default: from the extension, else yaml")
        parser.add_argument("--user", help="username recorded as the author")

    def handle(self, *args, file: str, project: str, format: str | None, user: str | None, **options) -> None:
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"no project with slug '{project}'")
        author = None
        if user:
            author = get_user_model().objects.filter(username=user).first()
            if author is None:
                raise CommandError(f"no user named '{user}'")
        try:
            text = self.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
            data = promptfile.loads(text, file_format=promptfile.format_for(file, format))
        except (OSError, promptfile.PromptFileError) as error:
            raise CommandError(f"{file}: {error}") from None
        try:
            self._push(project=target, data=data, author=author)
        except DomainError as error:
            where = f" ({error.param})" if error.param else ""
            raise CommandError(f"{file}: {error.message}{where}") from None

    def _push(self, *, project: Project, data: dict, author) -> None:
        name = data.pop("name")
        description, tags = data.pop("description", None), data.pop("tags", None)
        data = {key: value for key, value in data.items() if value is not None or key == "variables_schema"}
        prompt = Prompt.objects.filter(project=project, name=name).first()
        if prompt is None:
            services.prompt_create(
                project=project, name=name, description=description or "", tags=tags or (), created_by=author, **data
            )
            self.stdout.write(f"{name}: created version 1")
            return
        if (description is not None and description != prompt.description) or (
            tags is not None and list(tags) != prompt.tags
        ):
            services.prompt_update(prompt=prompt, description=description, tags=tags)
            self.stdout.write(f"{name}: updated description/tags")
        labels = list(data.get("labels") or [])
        before = dict(PromptLabel.objects.filter(prompt=prompt, name__in=labels).values_list("name", "version_id"))
        version, created = services.prompt_version_create(prompt=prompt, created_by=author, **data)
        if created:
            self.stdout.write(f"{name}: created version {version.version}")
        else:
            self.stdout.write(f"{name}: unchanged (version {version.version})")
        for label in labels:
            if before.get(label) != version.pk:
                self.stdout.write(f"{name}: label {label} -> v{version.version}")
