"""Project-scoped reads of prompts, versions, labels and label history."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from uuid import UUID

from django.db import connection
from django.db.models import Prefetch, QuerySet

from accounts.models import Project
from llmops.core.errors import NotFound, ValidationFailed
from prompts import cache
from prompts.models import Prompt, PromptLabel, PromptLabelEvent, PromptVersion
from prompts.validation import LATEST

PRODUCTION = "production"


@dataclass(frozen=True)
class Resolution:
    """A resolved version and the labels pointing at it (what fetch-by-name returns)."""

    version: PromptVersion
    labels: tuple[str, ...]

    @property
    def etag(self) -> str:
        # The content hash alone is not unique: a later version may repeat an earlier one's content.
        return f'"{self.version.content_hash}-v{self.version.version}"'


def prompts_for(*, project: Project) -> QuerySet[Prompt]:
    return Prompt.objects.filter(project=project).prefetch_related(
        Prefetch("labels", queryset=PromptLabel.objects.select_related("version").order_by("name"))
    )


def prompts_with_tag(queryset: QuerySet[Prompt], *, tag: str) -> QuerySet[Prompt]:
    if connection.features.supports_json_field_contains:
        return queryset.filter(tags__contains=[tag])
    # SQLite (the quickstart) cannot do JSON containment: match the tag's JSON text instead.
    return queryset.filter(tags__icontains=json.dumps(tag))


def prompt_get(*, project: Project, prompt_id: UUID | str) -> Prompt:
    try:
        prompt_uuid = prompt_id if isinstance(prompt_id, UUID) else UUID(str(prompt_id))
    except ValueError:
        raise NotFound(f"prompt {prompt_id} not found", param="prompt_id") from None
    prompt = prompts_for(project=project).filter(pk=prompt_uuid).first()
    if prompt is None:
        raise NotFound(f"prompt {prompt_id} not found", param="prompt_id")
    return prompt


def versions_for(*, prompt: Prompt) -> QuerySet[PromptVersion]:
    return (
        PromptVersion.objects.filter(prompt=prompt)
        .select_related("prompt", "created_by", "created_by_key")
        .prefetch_related(Prefetch("labels", queryset=PromptLabel.objects.order_by("name")))
        .order_by("-version")
    )


def labels_for(*, prompt: Prompt) -> QuerySet[PromptLabel]:
    return PromptLabel.objects.filter(prompt=prompt).select_related("version").order_by("name")


def label_events_for(*, prompt: Prompt, label: str | None = None) -> QuerySet[PromptLabelEvent]:
    events = PromptLabelEvent.objects.filter(prompt=prompt).select_related(
        "from_version", "to_version", "actor", "actor_key"
    )
    if label:
        events = events.filter(label=label)
    return events.order_by("-created_at")


def _check_selector(label: str | None, version: int | None) -> None:
    if version is not None and label is not None:
        raise ValidationFailed("give either a version or a label, not both", param="version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise ValidationFailed("version must be a positive integer", param="version")


def version_in(*, prompt: Prompt, label: str | None = None, version: int | None = None) -> PromptVersion:
    """A version of ``prompt`` by number, by label, or (default) ``production`` else the latest."""
    _check_selector(label, version)
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
        pointer = PromptLabel.objects.filter(prompt=prompt, name=PRODUCTION).select_related("version__prompt").first()
        if pointer is not None:
            return pointer.version
    latest = versions.order_by("-version").first()
    if latest is None:
        raise NotFound(f"prompt '{prompt.name}' has no versions", param="version")
    return latest


@dataclass(frozen=True)
class FetchedVersion:
    """What GET /prompts/by-name answers, ready to send: its ETag and its JSON body."""

    etag: str
    body: bytes


def _selector(label: str | None, version: int | None) -> str:
    return f"v:{version}" if version is not None else f"l:{label}" if label is not None else "default"


def _resolve_by_name(*, project: Project, name: str, label: str | None, version: int | None) -> Resolution:
    prompt = Prompt.objects.filter(project=project, name=name).first()
    if prompt is None:
        raise NotFound(f"prompt '{name}' not found", param="name")
    resolved = version_in(prompt=prompt, label=label, version=version)
    names = PromptLabel.objects.filter(version=resolved).order_by("name").values_list("name", flat=True)
    return Resolution(version=resolved, labels=tuple(names))


def resolution_by_name(
    *, project: Project, name: str, label: str | None = None, version: int | None = None
) -> Resolution:
    """The version a by-name fetch means, served from the cache when it can be (see prompts.cache)."""
    _check_selector(label, version)
    return cache.cached_resolution(
        project_id=project.pk,
        name=name,
        selector=_selector(label, version),
        compute=lambda: _resolve_by_name(project=project, name=name, label=label, version=version),
    )


def fetched_by_name(
    *,
    project: Project,
    name: str,
    label: str | None = None,
    version: int | None = None,
    render: Callable[[Resolution], bytes],
    prefetched: Mapping[str, object] | None = None,
) -> FetchedVersion:
    """The by-name fetch's ETag and body, cached as one entry: a repeated fetch, and its 304, cost one
    cache read and no query, no serialisation. Invalidated with the resolution (prompts.cache)."""
    _check_selector(label, version)

    def compute() -> FetchedVersion:
        resolution = _resolve_by_name(project=project, name=name, label=label, version=version)
        return FetchedVersion(etag=resolution.etag, body=render(resolution))

    return cache.cached_resolution(
        project_id=project.pk,
        name=name,
        selector=fetch_selector(label, version),
        compute=compute,
        prefetched=prefetched,
    )


def fetch_selector(label: str | None, version: int | None) -> str:
    return "fetch:" + _selector(label, version)


def _prompt_only(*, project: Project, prompt_id: UUID | str) -> Prompt:
    """The prompt row alone (prompt_get also loads its labels and their versions, for the API)."""
    try:
        prompt_uuid = prompt_id if isinstance(prompt_id, UUID) else UUID(str(prompt_id))
    except ValueError:
        raise NotFound(f"prompt {prompt_id} not found", param="prompt_id") from None
    prompt = Prompt.objects.filter(project=project, pk=prompt_uuid).first()
    if prompt is None:
        raise NotFound(f"prompt {prompt_id} not found", param="prompt_id")
    return prompt


def _version_by_id(*, project: Project, version_id: UUID | str, prompt_id: UUID | str | None) -> PromptVersion:
    found = PromptVersion.objects.filter(pk=version_id, prompt__project=project).select_related("prompt").first()
    if found is None:
        raise NotFound(f"prompt version {version_id} not found", param="prompt_version_id")
    if prompt_id is not None and str(found.prompt_id) != str(prompt_id):
        raise ValidationFailed(
            f"prompt version {version_id} belongs to another prompt than {prompt_id}",
            code="invalid",
            param="prompt_version_id",
        )
    return found


def _labelled_version(
    *, project: Project, prompt_id: UUID | str, label: str | None, version: int | None
) -> PromptVersion | None:
    """The common case of a run in one query: the version a label (``production`` by default) points
    at, in the key's project. None when that is not the case at hand or finds nothing; the caller
    then resolves step by step, with the precise error."""
    if version is not None or label == LATEST:
        return None
    try:
        prompt_uuid = prompt_id if isinstance(prompt_id, UUID) else UUID(str(prompt_id))
    except ValueError:
        return None
    pointer = (
        PromptLabel.objects.filter(prompt_id=prompt_uuid, prompt__project=project, name=label or PRODUCTION)
        .select_related("version__prompt")
        .first()
    )
    return None if pointer is None else pointer.version


def version_resolve(
    *,
    project: Project,
    prompt_id: UUID | str | None = None,
    name: str | None = None,
    label: str | None = None,
    version: int | None = None,
    version_id: UUID | str | None = None,
) -> PromptVersion:
    """The version a caller means: by its own id (``version_id``, of the prompt ``prompt_id`` when both
    are given), or by prompt id or name, then by number, label, or (default) the ``production`` label
    falling back to the latest version. Another project's prompt or version is a NotFound. Lookups by
    name are cached (invalidated whenever a version is created or a label moves)."""
    if version_id is not None:
        return _version_by_id(project=project, version_id=version_id, prompt_id=prompt_id)
    if prompt_id is not None:
        _check_selector(label, version)
        found = _labelled_version(project=project, prompt_id=prompt_id, label=label, version=version)
        if found is not None:
            return found
        return version_in(prompt=_prompt_only(project=project, prompt_id=prompt_id), label=label, version=version)
    if name is not None:
        return resolution_by_name(project=project, name=name, label=label, version=version).version
    raise ValidationFailed("give a prompt id or a prompt name", code="required", param="prompt_id")
