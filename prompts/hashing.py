"""The identity of a version's content: what makes two versions "the same prompt"."""

from __future__ import annotations

from llmops.core.hashing import canonical_hash


def content_hash(
    *,
    kind: str,
    template_format: str,
    template: str,
    messages: list | None,
    model_settings: dict | None,
    variables_schema: dict | None,
) -> str:
    """SHA-256 of a canonical JSON of the content (sorted keys, no whitespace, UTF-8).

    Metadata (commit message, author, labels) is left out: re-pushing the same content with
    another message is still the same version."""
    return canonical_hash(
        {
            "kind": kind,
            "template_format": template_format,
            "template": template or "",
            "messages": messages or [],
            "model_settings": model_settings or {},
            "variables_schema": variables_schema,
        }
    )
