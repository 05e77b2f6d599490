"""``lexical_similarity``: rapidfuzz string similarity on normalised text, scaled to [0, 1]."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rapidfuzz import fuzz, utils

from .base import Judge, ScorerParam, ScorerSpec, param_str
from .registry import register

NAME = "lexical_similarity"
METHODS = {
    "ratio": fuzz.ratio,
    "token_sort_ratio": fuzz.token_sort_ratio,
    "token_set_ratio": fuzz.token_set_ratio,
    "partial_ratio": fuzz.partial_ratio,
}
DEFAULT_METHOD = "token_sort_ratio"


def _method(params: Mapping[str, Any]) -> str:
    return param_str(params, "method", scorer=NAME, default=DEFAULT_METHOD, choices=tuple(METHODS))


def _validate(params: Mapping[str, Any]) -> None:
    _method(params)


def score_lexical_similarity(
    *, output: str, expected: str | None, inputs: dict, params: Mapping[str, Any], judge: Judge | None
) -> tuple[float, dict]:
    method = _method(params)
    # default_process: lowercase, punctuation -> space, trimmed.
    got = utils.default_process(output)
    want = utils.default_process(expected or "")
    if not got or not want:
        # rapidfuzz disagrees across methods on empty input; identical-when-both-empty is the useful answer.
        score = 1.0 if got == want else 0.0
        return score, {"method": method, "similarity": score * 100, "empty_after_normalisation": True}
    similarity = METHODS[method](got, want)
    return similarity / 100.0, {"method": method, "similarity": round(similarity, 4)}


SPEC = register(
    ScorerSpec(
        name=NAME,
        func=score_lexical_similarity,
        default_threshold=0.8,
        description=(
            "rapidfuzz similarity between output and expected output on normalised text; params "
            f"'method' one of {', '.join(METHODS)} (default {DEFAULT_METHOD})."
        ),
        needs_expected=True,
        validate=_validate,
        measures="fuzzy string similarity to the expected output",
        params=(
            ScorerParam(
                "method",
                "string",
                "rapidfuzz comparison (token_sort_ratio ignores word order)",
                default=DEFAULT_METHOD,
                choices=tuple(METHODS),
            ),
        ),
    )
)
