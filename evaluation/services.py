"""Writes of golden examples. Each is checked field by field and against the prompt's reference
version (``production``, else the latest): the variables its template uses and its schema."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final
from uuid import UUID

from django.db import transaction

from accounts.models import Project
from evaluation import golden_io, selectors
from evaluation.golden_io import GoldenRow, VariableChecker
from evaluation.models import GoldenExample
from llmops.core.errors import ValidationFailed
from prompts.models import Prompt


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()
_IMPORT_BATCH_SIZE = 1000


def variable_checker(*, prompt: Prompt) -> VariableChecker | None:
    """Checks input data against the prompt's reference version; ``None`` while it has no version."""
    version = selectors.reference_version(prompt=prompt)
    if version is None:
        return None
    return VariableChecker(variables=version.variables or [], schema=version.variables_schema)


def golden_check(*, prompt: Prompt, row: GoldenRow) -> None:
    """Raises ``ValidationFailed`` when ``row`` does not fit the prompt's reference version."""
    checker = variable_checker(prompt=prompt)
    if checker is not None:
        checker.check(row.input_data)


def golden_create(
    *,
    project: Project,
    prompt_id: UUID | str,
    input_data: Mapping[str, Any] | str,
    expected_output: str,
    tags: Sequence[str] = (),
    split: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> GoldenExample:
    prompt = selectors.golden_prompt_get(project=project, prompt_id=prompt_id)
    row = golden_io.clean_row(
        input_data=input_data, expected_output=expected_output, tags=tags, split=split, metadata=metadata
    )
    golden_check(prompt=prompt, row=row)
    return GoldenExample.objects.create(
        project=project,
        prompt=prompt,
        input_data=row.input_data,
        expected_output=row.expected_output,
        tags=row.tags,
        split=row.split,
        metadata=row.metadata,
    )


def golden_update(
    *,
    golden: GoldenExample,
    prompt_id: UUID | str | _Unset = UNSET,
    input_data: Mapping[str, Any] | str | _Unset = UNSET,
    expected_output: str | _Unset = UNSET,
    tags: Sequence[str] | _Unset = UNSET,
    split: str | _Unset = UNSET,
    metadata: Mapping[str, Any] | _Unset | None = UNSET,
) -> GoldenExample:
    """Changes the given fields. Input data is checked against the prompt again only when it or the
    prompt changes, so retagging an old golden still works after a new version adds a variable."""
    prompt = golden.prompt
    if not isinstance(prompt_id, _Unset) and str(prompt_id) != str(golden.prompt_id):
        prompt = selectors.golden_prompt_get(project=golden.project, prompt_id=prompt_id)
    row = golden_io.clean_row(
        input_data=golden.input_data if isinstance(input_data, _Unset) else input_data,
        expected_output=golden.expected_output if isinstance(expected_output, _Unset) else expected_output,
        tags=golden.tags if isinstance(tags, _Unset) else tags,
        split=golden.split if isinstance(split, _Unset) else split,
        metadata=golden.metadata if isinstance(metadata, _Unset) else metadata,
    )
    if prompt.pk != golden.prompt_id or row.input_data != golden.input_data:
        golden_check(prompt=prompt, row=row)
    golden.prompt = prompt
    golden.input_data = row.input_data
    golden.expected_output = row.expected_output
    golden.tags = row.tags
    golden.split = row.split
    golden.metadata = row.metadata
    golden.save()
    return golden


def golden_delete(*, golden: GoldenExample) -> None:
    golden.delete()


def goldens_import(
    *,
    project: Project,
    prompt_id: UUID | str,
    rows: Sequence[GoldenRow],
    max_rows: int = golden_io.MAX_IMPORT_ROWS,
) -> list[GoldenExample]:
    """All rows or none: every row is checked before one transaction writes them all.

    ``rows`` come from ``golden_io.parse`` (fields already checked); an error names the row's line
    (JSONL) or row number (CSV)."""
    if len(rows) > max_rows:
        raise ValidationFailed(
            f"{len(rows)} golden examples is more than the limit of {max_rows} per import",
            code="too_many_rows",
            param="file",
        )
    prompt = selectors.golden_prompt_get(project=project, prompt_id=prompt_id)
    checker = variable_checker(prompt=prompt)
    goldens = []
    for index, row in enumerate(rows, start=1):
        if checker is not None:
            try:
                checker.check(row.input_data)
            except ValidationFailed as error:
                location = row.location or f"row {index}"
                raise ValidationFailed(f"{location}: {error.message}", code=error.code, param=error.param) from None
        goldens.append(
            GoldenExample(
                project=project,
                prompt=prompt,
                input_data=row.input_data,
                expected_output=row.expected_output,
                tags=row.tags,
                split=row.split,
                metadata=row.metadata,
            )
        )
    with transaction.atomic():
        return GoldenExample.objects.bulk_create(goldens, batch_size=_IMPORT_BATCH_SIZE)
