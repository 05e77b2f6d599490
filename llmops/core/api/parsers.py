"""JSON parsing that refuses values the database or the rest of the code cannot hold safely.

Python's json module accepts NaN, Infinity and 1e309 (parsed as inf), nests until RecursionError,
and passes NUL characters that PostgreSQL text columns reject. Each of these is a 400 here, named,
instead of a 500 somewhere deeper.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.conf import settings
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32
MAX_JSON_INT_DIGITS = 19  # beyond signed 64-bit integers nothing in the platform has a meaning


class HostileJSON(ValueError):
    pass


class PayloadTooLarge(APIException):
    status_code = 413
    default_code = "payload_too_large"

    def __init__(self) -> None:
        super().__init__(f"request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes")


def _reject_constant(name: str) -> float:
    raise HostileJSON(f"{name} is not a valid JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise HostileJSON(f"number {text[:40]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise HostileJSON(f"integer {text[:40]}... is out of range")
    return int(text)


def check_value(value: Any, *, depth: int = 0, path: str = "") -> None:
    """Walk a parsed document iteratively-bounded by depth; reject NUL characters anywhere."""
    if depth > MAX_JSON_DEPTH:
        raise HostileJSON(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise HostileJSON(f"NUL character (\\u0000) in {path or 'body'}")
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise HostileJSON(f"NUL character (\\u0000) in a key of {path or 'body'}")
            check_value(item, depth=depth + 1, path=f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_value(item, depth=depth + 1, path=f"{path}[{index}]")


def loads_strict(text: str) -> Any:
    # The depth check runs after parsing, so the parser's own recursion is bounded by the body cap;
    # RecursionError from absurd nesting is still caught and reported.
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except RecursionError:
        raise HostileJSON(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    check_value(value)
    return value


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        # Read one byte past the cap: a body without Content-Length cannot slip past the middleware.
        raw = stream.read(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) if stream is not None else b""
        if len(raw) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise PayloadTooLarge()
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as error:
            raise ParseError(f"request body is not valid {encoding}: {error.reason}") from None
        try:
            return loads_strict(text)
        except HostileJSON as error:
            raise ParseError(f"JSON parse error - {error}") from None
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from None
