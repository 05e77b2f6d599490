from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from evaluation import golden_io, selectors
from evaluation.management.commands.goldens_import import project_get
from llmops.core.errors import DomainError


class Command(BaseCommand):
    help = "Export a prompt's golden examples as JSONL or CSV (the format goldens_import reads)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--project", required=True, help="project slug or name")
        parser.add_argument("--prompt", required=True, help="prompt name")
        parser.add_argument(
            "--format", choices=golden_io.FORMATS, help="default: from the --output extension, else jsonl"
        )
        parser.add_argument("--output", help="file to write; default: standard output")

    def handle(
        self,
        *args,
        project: str,
        prompt: str,
        format: str | None,
        output: str | None,
        **options,
    ) -> None:
        target = project_get(project)
        try:
            prompt_row = selectors.prompt_by_name_get(project=target, name=prompt)
            file_format = golden_io.detect_format(explicit=format, filename=output) or golden_io.JSONL
        except DomainError as error:
            raise CommandError(error.message) from None
        goldens = selectors.goldens_for(project=target, prompt_id=prompt_row.pk).select_related(None)
        exported = 0

        def counted():
            nonlocal exported
            for golden in goldens.iterator(chunk_size=500):
                exported += 1
                yield golden

        chunks = golden_io.export_iter(counted(), format=file_format)
        if output is None:
            for chunk in chunks:
                self.stdout.write(chunk, ending="")
            return
        try:
            with Path(output).open("w", encoding="utf-8", newline="") as handle:
                handle.writelines(chunks)
        except OSError as error:
            raise CommandError(f"cannot write '{output}': {error.strerror}") from None
        self.stderr.write(f"Exported {exported} golden examples of prompt '{prompt_row.name}' to {output}.")
