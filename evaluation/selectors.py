"""Project-scoped reads of golden examples and of the prompt versions they are checked against."""

from __future__ import annotations

from uuid import UUID

from django.db import connection
from django.db.models import QuerySet

from accounts.models import Project
from evaluation.models import GoldenExample
from llmops.core.errors import NotFound
from prompts.models import Prompt, PromptVersion
from prompts.selectors import prompts_for, version_resolve


def goldens_for(
    *,
    project: Project,
    prompt_id: UUID | str | None = None,
    split: str | None = None,
    tag: str | None = None,
) -> QuerySet[GoldenExample]:
    """The project's golden examples, oldest first; ``split=""`` selects those without a split."""
    goldens = GoldenExample.objects.filter(project=project).select_related("prompt")
    if prompt_id is not None:
        goldens = goldens.filter(prompt_id=prompt_id)
    if split is not None:
        goldens = goldens.filter(split=split)
    if tag is not None:
        goldens = _with_tag(goldens, tag)
    return goldens.order_by("created_at", "id")


def _with_tag(goldens: QuerySet[GoldenExample], tag: str) -> QuerySet[GoldenExample]:
    if connection.vendor == "postgresql":
        return goldens.filter(tags__contains=[tag])  # jsonb @>, exact element match
    # SQLite (the quickstart) has no JSON containment lookup; json_each matches elements exactly too.
    return goldens.extra(  # constant SQL; the tag is a bound parameter
        where=['EXISTS (SELECT 1 FROM json_each("evaluation_goldenexample"."tags") WHERE json_each.value = %s)'],
        params=[tag],
    )


def golden_prompt_get(*, project: Project, prompt_id: UUID | str) -> Prompt:
    """The prompt a golden example belongs to; a prompt of another project is not found."""
    prompt = prompts_for(project=project).filter(pk=prompt_id).first()
    if prompt is None:
        raise NotFound(f"prompt {prompt_id} not found", param="prompt_id")
    return prompt


def prompt_by_name_get(*, project: Project, name: str) -> Prompt:
    prompt = prompts_for(project=project).filter(name=name).first()
    if prompt is None:
        raise NotFound(f"prompt '{name}' not found in project '{project.slug}'", param="prompt")
    return prompt


def reference_version(*, prompt: Prompt) -> PromptVersion | None:
    """The version goldens are checked against: the one labelled ``production``, else the latest;
    ``None`` for a prompt that has no version yet."""
    if prompt._state.adding or not PromptVersion.objects.filter(prompt=prompt).exists():
        return None
    return version_resolve(project=prompt.project, prompt_id=prompt.pk)
