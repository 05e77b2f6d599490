"""Make model and caller text storable in PostgreSQL.

PostgreSQL text and jsonb cannot hold U+0000 (the driver refuses the whole row), yet models do emit
it and JSON carries it as ``\\u0000``. It is replaced with U+FFFD, the Unicode replacement character,
so the rest of the text is kept and the spot stays visible; nothing else is altered.
"""

from __future__ import annotations

from typing import Any

NUL = "\x00"
REPLACEMENT = "\ufffd"


def pg_text(value: str) -> str:
    return value.replace(NUL, REPLACEMENT) if NUL in value else value


def pg_safe(value: Any) -> Any:
    """``value`` with NUL replaced in every string of a JSON-like structure, keys included."""
    if isinstance(value, str):
        return pg_text(value)
    if isinstance(value, dict):
        return {pg_safe(key): pg_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [pg_safe(item) for item in value]
    return value
