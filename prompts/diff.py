"""What changed between two versions: a unified diff of the prompt text and structured changes."""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from prompts.models import PromptVersion


def version_text(version: PromptVersion) -> str:
    """The template as a reader sees it; a chat prompt is its messages as ``[role]`` blocks."""
    if version.kind == PromptVersion.Kind.CHAT:
        return "\n".join(f"[{message.get('role')}]\n{message.get('content', '')}" for message in version.messages)
    return version.template


# Whitespace a reader cannot see, shown where it would otherwise make two lines look identical.
_TRAILING = re.compile(r"[ \t\r]+$")
_MARKS = str.maketrans({" ": "\u00b7", "\t": "\u2192", "\r": "\u240d"})
NO_NEWLINE_AT_END = "\u2205 no newline at end"


def visible_lines(text: str, *, mark_missing_newline: bool = False) -> list[str]:
    """The lines of ``text`` split on ``\\n`` only, with trailing spaces, tabs and carriage returns
    drawn as marks (\u00b7, \u2192, \u240d), and (when asked: the other side has one) a missing final
    newline as a line of its own: a change that is only whitespace at line ends shows in a diff
    instead of two identical-looking lines."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    elif mark_missing_newline:
        lines.append(NO_NEWLINE_AT_END)
    return [_TRAILING.sub(lambda match: match.group(0).translate(_MARKS), line) for line in lines]


def _both_visible(old: PromptVersion, new: PromptVersion) -> tuple[list[str], list[str]]:
    before, after = version_text(old), version_text(new)
    differ = bool(before) and bool(after) and before.endswith("\n") != after.endswith("\n")
    return (
        visible_lines(before, mark_missing_newline=differ),
        visible_lines(after, mark_missing_newline=differ),
    )


def whitespace_only(old: PromptVersion, new: PromptVersion) -> bool:
    """True when the two texts differ only in whitespace at line ends (or in line-ending style)."""
    before, after = version_text(old), version_text(new)
    if before == after:
        return False
    return _stripped(before) == _stripped(after)


def _stripped(text: str) -> list[str]:
    lines = [line.rstrip(" \t\r") for line in text.replace("\r\n", "\n").split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    return lines


def unified_diff(old: PromptVersion, new: PromptVersion) -> str:
    before, after = _both_visible(old, new)
    lines = difflib.unified_diff(
        before,
        after,
        fromfile=f"v{old.version}",
        tofile=f"v{new.version}",
        lineterm="",
    )
    return "".join(line + "\n" for line in lines)


def html_diff_rows(old: PromptVersion, new: PromptVersion) -> str:
    """Side-by-side table rows (difflib.HtmlDiff) for the admin; the caller marks it safe."""
    before, after = _both_visible(old, new)
    return difflib.HtmlDiff(wrapcolumn=80).make_table(
        before,
        after,
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
        "whitespace_only": whitespace_only(old, new),
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
