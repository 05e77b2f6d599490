"""Every write to the prompt registry: prompts, immutable versions, labels and their history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from accounts.models import APIKey, Project, User
from llmops.core.errors import Conflict, NotFound, ValidationFailed
from llmops.core.text import normalize_newlines
from prompts import cache
from prompts.hashing import content_hash
from prompts.models import Prompt, PromptLabel, PromptLabelEvent, PromptVersion
from prompts.templating import CHAT, TemplateError, validate_template, validate_variables_schema
from prompts.validation import (
    MAX_COMMIT_MESSAGE_CHARS,
    MAX_DESCRIPTION_CHARS,
    MAX_REASON_CHARS,
    check_label,
    check_labels,
    check_model_settings,
    check_name,
    check_tags,
    check_text,
)


@dataclass(frozen=True)
class VersionContent:
    """Validated, normalised content of a version: what the content hash covers, plus its variables."""

    kind: str
    template_format: str
    template: str
    messages: list
    model_settings: dict
    variables_schema: dict | None
    variables: list[str]

    @property
    def content_hash(self) -> str:
        return content_hash(
            kind=self.kind,
            template_format=self.template_format,
            template=self.template,
            messages=self.messages,
            model_settings=self.model_settings,
            variables_schema=self.variables_schema,
        )


def version_content_prepare(
    *,
    kind: str = "text",
    template_format: str = "fstring",
    template: str | None = "",
    messages: list | None = None,
    model_settings: dict | None = None,
    variables_schema: dict | None = None,
) -> VersionContent:
    """Validate a version's content through the template engine; any problem is a ValidationFailed."""
    # One line-ending style whatever the source (browser, file, API): the same text, the same hash.
    template, messages = normalize_newlines(template), normalize_newlines(messages)
    if kind not in PromptVersion.Kind.values:
        raise ValidationFailed(f"kind must be one of {', '.join(PromptVersion.Kind.values)}", param="kind")
    if kind == CHAT:
        template = template or ""  # a chat prompt's content is its messages
    else:
        messages = messages or []
        if template == "" and not messages:
            raise ValidationFailed("a text prompt needs a template", code="required", param="template")
    try:
        variables = validate_template(
            kind=kind, template_format=template_format, template=template, messages=messages or None
        )
        validate_variables_schema(variables_schema)
    except TemplateError as error:
        raise ValidationFailed(error.message, code=error.code, param=error.param) from None
    return VersionContent(
        kind=kind,
        template_format=template_format,
        template=template or "",
        messages=list(messages or []),
        model_settings=check_model_settings(model_settings),
        variables_schema=variables_schema,
        variables=variables,
    )


def prompt_create(
    *,
    project: Project,
    name: str,
    description: str = "",
    template: str = "",
    kind: str = "text",
    template_format: str = "fstring",
    messages: list | None = None,
    model_settings: dict | None = None,
    variables_schema: dict | None = None,
    commit_message: str = "",
    labels: Iterable[str] = (),
    tags: Iterable[str] = (),
    created_by: User | None = None,
    created_by_key: APIKey | None = None,
) -> Prompt:
    """A new prompt with its version 1 (and the given labels on it)."""
    check_name(name)
    description = check_text(description, param="description", limit=MAX_DESCRIPTION_CHARS)
    tags = check_tags(tags)
    # Validate everything before the first write, so a bad template leaves no empty prompt behind.
    content = version_content_prepare(
        kind=kind,
        template_format=template_format,
        template=template,
        messages=messages,
        model_settings=model_settings,
        variables_schema=variables_schema,
    )
    commit_message = check_text(commit_message, param="commit_message", limit=MAX_COMMIT_MESSAGE_CHARS)
    labels = check_labels(labels)
    duplicate = Conflict(f"a prompt named '{name}' already exists in this project", code="duplicate", param="name")
    if Prompt.objects.filter(project=project, name=name).exists():
        raise duplicate
    try:
        with transaction.atomic():
            prompt = Prompt.objects.create(
                project=project, name=name, description=description, tags=tags, created_by=created_by
            )
            _version_insert(
                prompt=prompt,
                content=content,
                commit_message=commit_message,
                labels=labels,
                created_by=created_by,
                created_by_key=created_by_key,
            )
    except IntegrityError:
        raise duplicate from None  # a concurrent creation of the same name won the race
    cache.invalidate(project_id=project.pk, name=name)
    return prompt


def prompt_version_create(
    *,
    prompt: Prompt,
    template: str = "",
    kind: str = "text",
    template_format: str = "fstring",
    messages: list | None = None,
    model_settings: dict | None = None,
    variables_schema: dict | None = None,
    commit_message: str = "",
    labels: Iterable[str] = (),
    created_by: User | None = None,
    created_by_key: APIKey | None = None,
) -> tuple[PromptVersion, bool]:
    """The next version, or the latest one (created=False) when its content is identical."""
    content = version_content_prepare(
        kind=kind,
        template_format=template_format,
        template=template,
        messages=messages,
        model_settings=model_settings,
        variables_schema=variables_schema,
    )
    return _version_insert(
        prompt=prompt,
        content=content,
        commit_message=check_text(commit_message, param="commit_message", limit=MAX_COMMIT_MESSAGE_CHARS),
        labels=check_labels(labels),
        created_by=created_by,
        created_by_key=created_by_key,
    )


@transaction.atomic
def _version_insert(
    *,
    prompt: Prompt,
    content: VersionContent,
    commit_message: str,
    labels: list[str],
    created_by: User | None,
    created_by_key: APIKey | None,
) -> tuple[PromptVersion, bool]:
    # The row lock serialises creations per prompt: two writers never read the same latest number.
    locked = _lock(prompt)
    digest = content.content_hash
    latest = PromptVersion.objects.filter(prompt=locked, version=locked.latest_version_number).first()
    if latest is not None and latest.content_hash == digest:
        version, created = latest, False
    else:
        number = locked.latest_version_number + 1
        version = PromptVersion.objects.create(
            prompt=locked,
            version=number,
            kind=content.kind,
            template_format=content.template_format,
            template=content.template,
            messages=content.messages,
            model_settings=content.model_settings,
            variables_schema=content.variables_schema,
            variables=content.variables,
            commit_message=commit_message,
            content_hash=digest,
            created_by=created_by,
            created_by_key=created_by_key,
        )
        Prompt.objects.filter(pk=locked.pk).update(latest_version_number=number, updated_at=timezone.now())
        prompt.latest_version_number = number
        created = True
    for label in labels:
        _label_set(
            prompt=locked,
            label=label,
            target=version,
            actor=created_by,
            actor_key=created_by_key,
            reason=f"set with version {version.version}",
        )
    cache.invalidate(project_id=locked.project_id, name=locked.name)
    version.prompt = prompt
    return version, created


def prompt_update(*, prompt: Prompt, description: str | None = None, tags: Iterable[str] | None = None) -> Prompt:
    """Change a prompt's metadata. Content changes are new versions (prompt_version_create)."""
    fields = []
    if description is not None:
        prompt.description = check_text(description, param="description", limit=MAX_DESCRIPTION_CHARS)
        fields.append("description")
    if tags is not None:
        prompt.tags = check_tags(tags)
        fields.append("tags")
    if fields:
        prompt.save(update_fields=[*fields, "updated_at"])
        cache.invalidate(project_id=prompt.project_id, name=prompt.name)  # cached resolutions carry the prompt
    return prompt


def prompt_delete(*, prompt: Prompt) -> None:
    try:
        with transaction.atomic():
            prompt.delete()
    except ProtectedError:
        raise Conflict(
            f"prompt '{prompt.name}' has runs that reference its versions; it cannot be deleted",
            code="prompt_in_use",
        ) from None
    cache.invalidate(project_id=prompt.project_id, name=prompt.name)


def label_move(
    *,
    prompt: Prompt,
    label: str,
    version: PromptVersion | int,
    actor: User | None = None,
    actor_key: APIKey | None = None,
    reason: str = "",
) -> PromptLabel:
    """Point ``label`` at ``version`` (a version of this prompt or its number), recording the move."""
    check_label(label)
    reason = check_text(reason, param="reason", limit=MAX_REASON_CHARS)
    with transaction.atomic():
        locked = _lock(prompt)
        target = _version_of(locked, version)
        return _label_set(prompt=locked, label=label, target=target, actor=actor, actor_key=actor_key, reason=reason)


def label_delete(
    *, prompt: Prompt, label: str, actor: User | None = None, actor_key: APIKey | None = None, reason: str = ""
) -> None:
    reason = check_text(reason, param="reason", limit=MAX_REASON_CHARS)
    with transaction.atomic():
        locked = _lock(prompt)
        pointer = PromptLabel.objects.filter(prompt=locked, name=label).select_related("version").first()
        if pointer is None:
            raise NotFound(f"prompt '{locked.name}' has no label '{label}'", param="label")
        pointer.delete()
        PromptLabelEvent.objects.create(
            prompt=locked,
            label=label,
            from_version=pointer.version,
            to_version=None,
            actor=actor,
            actor_key=actor_key,
            reason=reason,
        )
        cache.invalidate(project_id=locked.project_id, name=locked.name)


def label_rollback(
    *, prompt: Prompt, label: str, actor: User | None = None, actor_key: APIKey | None = None, reason: str = ""
) -> PromptLabel:
    """Point ``label`` back at the version it pointed at before its last move."""
    reason = check_text(reason, param="reason", limit=MAX_REASON_CHARS)
    with transaction.atomic():
        locked = _lock(prompt)
        last = (
            PromptLabelEvent.objects.filter(prompt=locked, label=label)
            .select_related("from_version", "to_version")
            .order_by("-created_at")
            .first()
        )
        if last is None:
            raise NotFound(f"prompt '{locked.name}' has no history for label '{label}'", param="label")
        if last.from_version is None:
            raise Conflict(
                f"label '{label}' pointed at no version before its last move; there is nothing to roll back to",
                code="nothing_to_roll_back",
                param="label",
            )
        current = last.to_version.version if last.to_version else None
        default_reason = f"rollback from v{current} to v{last.from_version.version}" if current else "rollback"
        return _label_set(
            prompt=locked,
            label=label,
            target=last.from_version,
            actor=actor,
            actor_key=actor_key,
            reason=reason or default_reason,
        )


def _lock(prompt: Prompt) -> Prompt:
    locked = Prompt.objects.select_for_update().filter(pk=prompt.pk).first()
    if locked is None:
        raise NotFound(f"prompt {prompt.pk} not found", param="prompt_id")
    return locked


def _version_of(prompt: Prompt, version: PromptVersion | int) -> PromptVersion:
    if isinstance(version, PromptVersion):
        if version.prompt_id != prompt.pk:
            raise ValidationFailed(f"that version belongs to another prompt than '{prompt.name}'", param="version")
        return version
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValidationFailed("version must be a positive integer", param="version")
    found = PromptVersion.objects.filter(prompt=prompt, version=version).first()
    if found is None:
        raise NotFound(f"prompt '{prompt.name}' has no version {version}", param="version")
    return found


def _label_set(
    *,
    prompt: Prompt,
    label: str,
    target: PromptVersion,
    actor: User | None,
    actor_key: APIKey | None,
    reason: str,
) -> PromptLabel:
    """Move or create the label (the caller holds the prompt's row lock) and record the event."""
    pointer = PromptLabel.objects.filter(prompt=prompt, name=label).select_related("version").first()
    if pointer is not None and pointer.version_id == target.pk:
        return pointer  # already there: not a move, no history entry
    previous = pointer.version if pointer is not None else None
    if pointer is None:
        pointer = PromptLabel.objects.create(prompt=prompt, name=label, version=target)
    else:
        pointer.version = target
        pointer.save(update_fields=["version", "updated_at"])
    PromptLabelEvent.objects.create(
        prompt=prompt,
        label=label,
        from_version=previous,
        to_version=target,
        actor=actor,
        actor_key=actor_key,
        reason=reason,
    )
    cache.invalidate(project_id=prompt.project_id, name=prompt.name)
    return pointer
