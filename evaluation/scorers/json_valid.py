"""``json_valid``: the output is JSON, optionally conforming to a JSON Schema (Draft 2020-12).

Models often wrap JSON in a Markdown fence, so a ```json (or bare ```) fenced
block is accepted when the whole output is not JSON; details say which was used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .base import Judge, ScorerError, ScorerParam, ScorerSpec, preview
from .registry import register

NAME = "json_valid"
MAX_REPORTED_ERRORS = 5
_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\r?\n(.*?)```", re.DOTALL)


def _validator(params: Mapping[str, Any]) -> Draft202012Validator | None:
    if "schema" not in params or params["schema"] is None:
        return None
    schema = params["schema"]
    if not isinstance(schema, (dict, bool)):
        raise ScorerError(f"{NAME}: param 'schema' must be a JSON Schema object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ScorerError(f"{NAME}: invalid JSON Schema: {exc.message}") from None
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _validate(params: Mapping[str, Any]) -> None:
    _validator(params)


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN/Infinity, which are not JSON.
    raise ValueError(f"{name} is not valid JSON")


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def _parse(output: str) -> tuple[Any, str | None, str | None]:
    """Return (data, source, error); source is None when nothing parsed."""
    try:
        return _loads(output), "raw", None
    except ValueError as exc:
        error = str(exc)
    for block in _FENCE.finditer(output):
        try:
            return _loads(block.group(1)), "fenced_block", None
        except ValueError:
            continue
    return None, None, error


def _json_path(path: Any) -> str:
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def score_json_valid(
    *, output: str, expected: str | None, inputs: dict, params: Mapping[str, Any], judge: Judge | None
) -> tuple[float, dict]:
    validator = _validator(params)
    data, source, error = _parse(output)
    if source is None:
        return 0.0, {"valid_json": False, "error": error}
    details: dict[str, Any] = {"valid_json": True, "source": source}
    if source == "fenced_block":
        details["note"] = "parsed the JSON inside a ``` fenced block"
    if validator is None:
        return 1.0, details
    errors = sorted(validator.iter_errors(data), key=lambda e: ([str(part) for part in e.absolute_path], e.message))
    details["schema_valid"] = not errors
    if errors:
        details["error_count"] = len(errors)
        details["errors"] = [
            {"path": _json_path(error.absolute_path), "message": preview(error.message, 300)}
            for error in errors[:MAX_REPORTED_ERRORS]
        ]
        return 0.0, details
    return 1.0, details


SPEC = register(
    ScorerSpec(
        name=NAME,
        func=score_json_valid,
        default_threshold=1.0,
        description=(
            "Output parses as JSON (a ```json fenced block is accepted); with params 'schema' it "
            "must also validate against that JSON Schema (Draft 2020-12)."
        ),
        validate=_validate,
        measures="whether the output is valid JSON (and matches a JSON Schema)",
        binary=True,
        params=(
            ScorerParam(
                "schema",
                "object",
                "JSON Schema (Draft 2020-12) the parsed output must validate against; absent: any JSON",
            ),
        ),
    )
)
