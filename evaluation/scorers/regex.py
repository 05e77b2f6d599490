"""``regex``: ``params['pattern']`` matches somewhere in the output (``re.search``).

Python's ``re`` has no timeout, and patterns come from API users, so the
pattern and the searched text are capped, and nested unbounded quantifiers
such as ``(a+)+`` (exponential backtracking) are rejected up front. Possessive
quantifiers and atomic groups (``(?:a+)++``, ``(?>...)``) do not backtrack and
are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .base import Judge, ScorerError, ScorerParam, ScorerSpec, param_str, preview
from .registry import register

try:
    from re import _constants as sre_constants
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover - Python < 3.11
    sre_constants = sre_parse = None  # type: ignore[assignment]

NAME = "regex"
MAX_PATTERN_LENGTH = 1_000
MAX_OUTPUT_CHARS = 100_000
# A bounded repeat this large behaves like an unbounded one when nested.
_LARGE_REPEAT = 100
_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE, "a": re.ASCII}


def _has_nested_repeat(items: Any, inside_repeat: bool) -> bool:
    c = sre_constants
    for op, av in items:
        if op in (c.MAX_REPEAT, c.MIN_REPEAT):
            _min, maximum, sub = av
            large = maximum == c.MAXREPEAT or maximum >= _LARGE_REPEAT
            if large and inside_repeat:
                return True
            if _has_nested_repeat(sub, inside_repeat or large):
                return True
        elif op == c.POSSESSIVE_REPEAT:
            # No backtracking into it from outside; only its own body matters.
            if _has_nested_repeat(av[2], False):
                return True
        elif op == c.ATOMIC_GROUP:
            if _has_nested_repeat(av, False):
                return True
        elif op == c.SUBPATTERN:
            if _has_nested_repeat(av[-1], inside_repeat):
                return True
        elif op == c.BRANCH:
            if any(_has_nested_repeat(branch, inside_repeat) for branch in av[1]):
                return True
        elif op in (c.ASSERT, c.ASSERT_NOT):
            if _has_nested_repeat(av[1], inside_repeat):
                return True
        elif op == c.GROUPREF_EXISTS and any(
            branch is not None and _has_nested_repeat(branch, inside_repeat) for branch in av[1:]
        ):
            return True
    return False


def _compile(params: Mapping[str, Any]) -> re.Pattern[str]:
    pattern = param_str(params, "pattern", scorer=NAME)
    flag_letters = param_str(params, "flags", scorer=NAME, default="")
    if not pattern:
        raise ScorerError(f"{NAME}: param 'pattern' must not be empty")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ScorerError(f"{NAME}: pattern is longer than {MAX_PATTERN_LENGTH} characters")
    flags = 0
    for letter in flag_letters:
        if letter not in _FLAGS:
            raise ScorerError(f"{NAME}: unknown flag {letter!r}; use any of {''.join(_FLAGS)}")
        flags |= _FLAGS[letter]
    try:
        compiled = re.compile(pattern, flags)
    except re.error as exc:
        raise ScorerError(f"{NAME}: invalid pattern: {exc}") from None
    if sre_parse is not None and _has_nested_repeat(sre_parse.parse(pattern, flags), False):
        raise ScorerError(
            f"{NAME}: nested repetition like (a+)+ can take exponential time; "
            "use a possessive quantifier or atomic group, e.g. (?:a+)++ or (?>...)"
        )
    return compiled


def _validate(params: Mapping[str, Any]) -> None:
    _compile(params)


def score_regex(
    *, output: str, expected: str | None, inputs: dict, params: Mapping[str, Any], judge: Judge | None
) -> tuple[float, dict]:
    compiled = _compile(params)
    truncated = len(output) > MAX_OUTPUT_CHARS
    match = compiled.search(output[:MAX_OUTPUT_CHARS])
    details: dict[str, Any] = {"pattern": compiled.pattern, "matched": match is not None}
    if truncated:
        details["searched_chars"] = MAX_OUTPUT_CHARS
        details["output_truncated"] = True
    if match is not None:
        details["match"] = preview(match.group(0))
        details["span"] = [match.start(), match.end()]
    return (1.0 if match else 0.0), details


SPEC = register(
    ScorerSpec(
        name=NAME,
        func=score_regex,
        default_threshold=1.0,
        description=(
            "Params 'pattern' (Python regex) is found in the output; optional 'flags' from "
            f"'{''.join(_FLAGS)}'. Searches at most the first {MAX_OUTPUT_CHARS:,} characters."
        ),
        validate=_validate,
        measures="whether a regular expression matches the output",
        binary=True,
        params=(
            ScorerParam(
                "pattern",
                "string",
                f"Python regular expression, searched anywhere in the output (at most {MAX_PATTERN_LENGTH} "
                "characters; nested repeats like (a+)+ are refused)",
                required=True,
                example=r"\b(positive|negative|neutral)\b",
            ),
            ScorerParam("flags", "string", f"flag letters, any of {''.join(_FLAGS)}", default=""),
        ),
    )
)
