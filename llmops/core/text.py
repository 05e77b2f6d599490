"""Text as people submit it: one line-ending style everywhere."""

from __future__ import annotations

from typing import Any


def normalize_newlines(value: Any) -> Any:
    """``value`` with every ``\\r\\n`` and lone ``\\r`` turned into ``\\n``, inside lists and dicts too.

    Browsers submit textarea line breaks as ``\\r\\n`` and files from Windows carry them: stored as
    given, the same template would hash differently depending on where it was typed."""
    if isinstance(value, str):
        return value.replace("\r\n", "\n").replace("\r", "\n")
    if isinstance(value, list):
        return [normalize_newlines(item) for item in value]
    if isinstance(value, dict):
        return {normalize_newlines(key): normalize_newlines(item) for key, item in value.items()}
    return value
