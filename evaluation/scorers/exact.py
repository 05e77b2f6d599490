"""``exact``: the output equals the expected output after optional normalisation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Judge, ScorerParam, ScorerSpec, normalize_text, param_bool, preview
from .registry import register

NAME = "exact"


def _options(params: Mapping[str, Any]) -> dict[str, bool]:
    return {
        "case_sensitive": param_bool(params, "case_sensitive", False, scorer=NAME),
        "strip": param_bool(params, "strip", True, scorer=NAME),
        "normalize_whitespace": param_bool(params, "normalize_whitespace", True, scorer=NAME),
    }


def _validate(params: Mapping[str, Any]) -> None:
    _options(params)


def _first_difference(a: str, b: str) -> int | None:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return None if len(a) == len(b) else min(len(a), len(b))


def score_exact(
    *, output: str, expected: str | None, inputs: dict, params: Mapping[str, Any], judge: Judge | None
) -> tuple[float, dict]:
    options = _options(params)
    got = normalize_text(output, **options)
    want = normalize_text(expected or "", **options)
    match = got == want
    details: dict[str, Any] = {"match": match, **options}
    if not match:
        # Index into the normalised strings: enough to spot a stray character quickly.
        details["first_difference_at"] = _first_difference(got, want)
        details["normalized_output"] = preview(got)
        details["normalized_expected"] = preview(want)
    return (1.0 if match else 0.0), details


SPEC = register(
    ScorerSpec(
        name=NAME,
        func=score_exact,
        default_threshold=1.0,
        description="Output equals the expected output (case, surrounding and repeated whitespace ignored by default).",
        needs_expected=True,
        validate=_validate,
        measures="exact match with the expected output",
        binary=True,
        params=(
            ScorerParam("case_sensitive", "boolean", "compare letter case too", default=False),
            ScorerParam("strip", "boolean", "ignore leading and trailing whitespace", default=True),
            ScorerParam("normalize_whitespace", "boolean", "treat runs of whitespace as one space", default=True),
        ),
    )
)
