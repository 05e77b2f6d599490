"""What changed between two versions: a unified diff of the prompt text and structured changes."""

from __future__ import annotations

import difflib
import json
from typing import Any

from prompts.models import PromptVersion


def version_text(version: PromptVersion) -> str:
    """The template as a reader sees it; a chat prompt is its messages as ``[role]`` blocks."""
    if version.kind == PromptVersion.Kind.CHAT:
        return "\n".join(f"[{message.get('role')}]\n{message.get('content', '')}" for message in version.messages)
    return version.template


def unified_diff(old: PromptVersion, new: PromptVersion) -> str:
    lines = difflib.unified_diff(
        version_text(old).splitlines(keepends=True),
        version_text(new).splitlines(keepends=True),
        fromfile=f"v{old.version}",
        tofile=f"v{new.version}",
    )
    # A last line without a newline would run into the next hunk header: close every line.
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def html_diff_rows(old: PromptVersion, new: PromptVersion) -> str:
    """Side-by-side table rows (difflib.HtmlDiff) for the admin; the caller marks it safe."""
    return difflib.HtmlDiff(wrapcolumn=80).make_table(
        version_text(old).splitlines(),
        version_text(new).splitlines(),
        fromdesc=f"v{old.version}",
        todesc=f"v{new.version}",
        context=False,
    )


def messages_changes(old: list, new: list) -> list[dict]:
    changes = []
    for index in range(max(len(old), len(new))):
        before = old[index] if index < len(old) else None
        after = new[index] if index < len(new) else None
        if before == after:
            continue
        change = "added" if before is None else "removed" if after is None else "changed"
        changes.append({"index": index, "change": change, "from": before, "to": after})
    return changes


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted keys, so a change deep in a schema names its path; lists stay whole."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, child in value.items():
            flat.update(_flatten(child, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value} if prefix else {}


def mapping_changes(old: dict | None, new: dict | None) -> dict[str, Any]:
    before, after = _flatten(old or {}), _flatten(new or {})
    return {
        "added": {key: after[key] for key in after if key not in before},
        "removed": {key: before[key] for key in before if key not in after},
        "changed": {
            key: {"from": before[key], "to": after[key]}
            for key in after
            if key in before and json.dumps(before[key], sort_keys=True) != json.dumps(after[key], sort_keys=True)
        },
    }


def version_diff(old: PromptVersion, new: PromptVersion) -> dict[str, Any]:
    return {
        "from_version": old.version,
        "to_version": new.version,
        "identical": old.content_hash == new.content_hash,
        "unified_diff": unified_diff(old, new),
        "kind": None if old.kind == new.kind else {"from": old.kind, "to": new.kind},
        "template_format": (
            None
            if old.template_format == new.template_format
            else {"from": old.template_format, "to": new.template_format}
        ),
        "messages": messages_changes(old.messages or [], new.messages or []),
        "model_settings": mapping_changes(old.model_settings, new.model_settings),
        "variables": {
            "added": [name for name in new.variables if name not in old.variables],
            "removed": [name for name in old.variables if name not in new.variables],
        },
        "variables_schema": mapping_changes(old.variables_schema, new.variables_schema),
    }
