"""``contains``: the expected output, or each of ``params['substrings']``, occurs in the output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Judge, ScorerError, ScorerParam, ScorerSpec, normalize_text, param_bool, param_str
from .registry import register

NAME = "contains"
MODES = ("all", "any")


def _substrings(params: Mapping[str, Any]) -> list[str] | None:
    if "substrings" not in params:
        return None
    value = params["substrings"]
    if not isinstance(value, list) or not value or not all(isinstance(item, str) and item for item in value):
        raise ScorerError(f"{NAME}: param 'substrings' must be a non-empty list of non-empty strings")
    return value


def _validate(params: Mapping[str, Any]) -> None:
    _substrings(params)
    param_str(params, "mode", scorer=NAME, default="all", choices=MODES)
    param_bool(params, "case_sensitive", False, scorer=NAME)
    param_bool(params, "normalize_whitespace", True, scorer=NAME)


def score_contains(
    *, output: str, expected: str | None, inputs: dict, params: Mapping[str, Any], judge: Judge | None
) -> tuple[float, dict]:
    needles = _substrings(params)
    if needles is None:
        if not expected:
            raise ScorerError(f"{NAME} needs an expected output or params 'substrings'")
        needles = [expected]
    mode = param_str(params, "mode", scorer=NAME, default="all", choices=MODES)
    options = {
        "case_sensitive": param_bool(params, "case_sensitive", False, scorer=NAME),
        "normalize_whitespace": param_bool(params, "normalize_whitespace", True, scorer=NAME),
    }
    haystack = normalize_text(output, strip=False, **options)
    found = [needle for needle in needles if normalize_text(needle, **options) in haystack]
    missing = [needle for needle in needles if needle not in found]
    score = len(found) / len(needles) if mode == "all" else float(bool(found))
    return score, {"mode": mode, "found": found, "missing": missing, **options}


SPEC = register(
    ScorerSpec(
        name=NAME,
        func=score_contains,
        default_threshold=1.0,
        description=(
            "Output contains the expected output, or params 'substrings' (mode 'all': score is the "
            "fraction found; 'any': 1 if any is found). Case-insensitive by default."
        ),
        validate=_validate,
        measures="fraction of the required substrings found in the output",
        params=(
            ScorerParam(
                "substrings",
                "array",
                "non-empty strings to look for; absent: the expected output (then required)",
            ),
            ScorerParam(
                "mode",
                "string",
                "all: score is the fraction found; any: 1 if any is found, else 0",
                default="all",
                choices=MODES,
            ),
            ScorerParam("case_sensitive", "boolean", "compare letter case too", default=False),
            ScorerParam("normalize_whitespace", "boolean", "treat runs of whitespace as one space", default=True),
        ),
    )
)
