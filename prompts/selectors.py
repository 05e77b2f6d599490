"""Project-scoped reads of prompts and versions."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from accounts.models import Project
from llmops.errors import NotFound, ValidationFailed
from prompts.models import Prompt, PromptLabel, PromptVersion

LATEST = "latest"


def prompts_for(*, project: Project) -> QuerySet[Prompt]:
    return Prompt.objects.filter(project=project)


def version_resolve(
    *,
    project: Project,
    prompt_id: UUID | str | None = None,
    name: str | None = None,
    label: str | None = None,
    version: int | None = None,
) -> PromptVersion:
    """The version a caller means: by prompt id or name, then by number, label, or (default) the
    ``production`` label falling back to the latest version. Another project's prompt is a NotFound."""
    if version is not None and label is not None:
        raise ValidationFailed("give either a version or a label, not both", param="version")
    prompts = prompts_for(project=project)
    if prompt_id is not None:
        prompt = prompts.filter(pk=prompt_id).first()
        missing = f"prompt {prompt_id} not found"
    elif name is not None:
        prompt = prompts.filter(name=name).first()
        missing = f"prompt '{name}' not found"
    else:
        raise ValidationFailed("give a prompt id or a prompt name", code="required", param="prompt_id")
    if prompt is None:
        raise NotFound(missing, param="prompt_id" if prompt_id is not None else "name")

    versions = PromptVersion.objects.filter(prompt=prompt).select_related("prompt")
    if version is not None:
        found = versions.filter(version=version).first()
        if found is None:
            raise NotFound(f"prompt '{prompt.name}' has no version {version}", param="version")
        return found
    if label is not None and label != LATEST:
        pointer = PromptLabel.objects.filter(prompt=prompt, name=label).select_related("version__prompt").first()
        if pointer is None:
            raise NotFound(f"prompt '{prompt.name}' has no label '{label}'", param="label")
        return pointer.version
    if label is None:
        production = PromptLabel.objects.filter(prompt=prompt, name="production").select_related("version__prompt")
        if (pointer := production.first()) is not None:
            return pointer.version
    latest = versions.order_by("-version").first()
    if latest is None:
        raise NotFound(f"prompt '{prompt.name}' has no versions", param="version")
    return latest
