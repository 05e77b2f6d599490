"""The ``fstring`` template format: ``{name}`` placeholders, ``{{``/``}}`` literal braces.

Templates are tokenized with a regular expression and substituted in a single pass;
``str.format`` is never called, so attribute access, indexing, conversions and format
specs are never evaluated. Any ``{...}`` that is not a plain identifier is rejected.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping

from .errors import INVALID_TEMPLATE, OUTPUT_TOO_LARGE, TemplateError, clip

# Order matters: doubled braces win over a placeholder starting at the same brace.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")

# A parsed template: literal text, or the name of a variable to substitute.
Segment = tuple[str, bool]  # (text_or_name, is_variable)


@functools.lru_cache(maxsize=512)
def parse(source: str) -> tuple[Segment, ...]:
    """Split ``source`` into literal and variable segments, rejecting anything unsupported."""
    segments: list[Segment] = []
    literal: list[str] = []
    position = 0
    for match in _TOKEN.finditer(source):
        literal.append(source[position : match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
        elif match.group(1) is not None and match.group(1).isidentifier():
            segments.append(("".join(literal), False))
            segments.append((match.group(1), True))
            literal = []
        elif match.group(1) is not None:
            raise TemplateError(
                f"unsupported placeholder {clip(token, 80)!r}: only plain names such as "
                "'{input}' are substituted; write '{{' and '}}' for literal braces",
                code=INVALID_TEMPLATE,
            )
        else:
            raise TemplateError(
                f"single {token!r} at position {match.start()}: write '{token * 2}' for a literal brace",
                code=INVALID_TEMPLATE,
            )
    literal.append(source[position:])
    segments.append(("".join(literal), False))
    return tuple(segment for segment in segments if segment[1] or segment[0])


def variables(source: str) -> list[str]:
    """Variable names in order of first appearance."""
    return list(dict.fromkeys(text for text, is_variable in parse(source) if is_variable))


def to_text(value: object) -> str:
    """How a variable value appears in an fstring prompt."""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def render(source: str, values: Mapping[str, object], *, max_output_chars: int) -> str:
    """Substitute ``values``; substituted text is never scanned for placeholders again."""
    parts: list[str] = []
    size = 0
    for text, is_variable in parse(source):
        part = to_text(values[text]) if is_variable else text
        size += len(part)
        if size > max_output_chars:
            raise TemplateError(
                f"rendered prompt exceeds the limit of {max_output_chars} characters",
                code=OUTPUT_TOO_LARGE,
            )
        parts.append(part)
    return "".join(parts)
