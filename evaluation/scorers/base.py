"""Types shared by every scorer, plus small helpers for reading scorer params.

A scorer is a pure function ``func(*, output, expected, inputs, params, judge)``
returning ``(score, details)``; the registry wraps it into a :class:`ScoreResult`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Judge = Callable[[str], str]
"""Sends a prompt to a model endpoint and returns its text; injected by the caller."""

ScorerFunc = Callable[..., tuple[float, dict]]
ParamsValidator = Callable[[Mapping[str, Any]], None]


class ScorerError(ValueError):
    """Bad scorer parameters or input; callers turn it into a 400 naming the scorer."""


class ScorerUnavailable(RuntimeError):
    """The scorer needs an optional dependency that is not installed."""


@dataclass(frozen=True)
class ScoreResult:
    score: float  # always clamped to [0, 1]
    passed: bool  # score >= threshold
    details: dict  # JSON-serialisable explanation
    threshold: float


PARAM_TYPES = ("boolean", "integer", "number", "string", "array", "object")


class _NoDefault:
    """The default of a param that has none: it is required, or absent means something else."""

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True)
class ScorerParam:
    """One parameter a scorer reads from ``params``, as the catalogue (GET /scorers, README) shows it.

    ``type`` is a JSON type (one of PARAM_TYPES); ``default`` is what the scorer uses when the param
    is absent (NO_DEFAULT when there is none); ``example`` is a valid value, given for required params
    so a catalogue entry can show a working configuration.
    """

    name: str
    type: str
    description: str
    default: Any = NO_DEFAULT
    required: bool = False
    choices: tuple[Any, ...] | None = None
    example: Any = NO_DEFAULT

    def __post_init__(self) -> None:
        if self.type not in PARAM_TYPES:
            raise ValueError(f"param {self.name!r}: type must be one of {', '.join(PARAM_TYPES)}")
        if self.required and self.example is NO_DEFAULT:
            raise ValueError(f"param {self.name!r} is required, so it needs an example")

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT


@dataclass(frozen=True)
class ScorerSpec:
    name: str
    func: ScorerFunc
    default_threshold: float
    description: str
    needs_judge: bool = False
    needs_expected: bool = False
    # Checks scorer-specific params up front (API input validation); raises ScorerError.
    validate: ParamsValidator | None = None
    # Catalogue metadata (GET /scorers and the README table come from these; see catalogue.py).
    measures: str = ""  # what the score means, in a few words
    params: tuple[ScorerParam, ...] | None = None  # None: not declared; () declares "no params"
    score_range: tuple[float, float] = (0.0, 1.0)  # the scores the scorer can return
    binary: bool = False  # only ever score_range's two ends (pass/fail checks)
    local_model: str | None = None  # a model this process loads and runs (slow; needs requires_extra)
    requires_extra: str | None = None  # the optional dependency group (pip install '.[extra]')

    @property
    def slow(self) -> bool:
        """Calls a model: a judge endpoint or a local model, rather than a quick pure function."""
        return self.needs_judge or self.local_model is not None


def clamp_score(value: float) -> float:
    """Clamp to [0, 1]; NaN counts as a failed score rather than poisoning aggregates."""
    value = float(value)
    if math.isnan(value):
        return 0.0
    return min(1.0, max(0.0, value))


_WHITESPACE = re.compile(r"\s+")


def normalize_text(
    text: str,
    *,
    case_sensitive: bool = False,
    strip: bool = True,
    normalize_whitespace: bool = True,
) -> str:
    if normalize_whitespace:
        text = _WHITESPACE.sub(" ", text)
    if strip:
        text = text.strip()
    if not case_sensitive:
        text = text.casefold()
    return text


def preview(text: str, limit: int = 200) -> str:
    """Shortened text for details, so stored results stay small."""
    return text if len(text) <= limit else text[:limit] + "…"


def param_bool(params: Mapping[str, Any], key: str, default: bool, *, scorer: str) -> bool:
    value = params.get(key, default)
    if not isinstance(value, bool):
        raise ScorerError(f"{scorer}: param '{key}' must be true or false")
    return value


def param_str(
    params: Mapping[str, Any],
    key: str,
    *,
    scorer: str,
    default: str | None = None,
    choices: tuple[str, ...] | None = None,
) -> str:
    value = params.get(key, default)
    if value is None:
        raise ScorerError(f"{scorer}: param '{key}' is required")
    if not isinstance(value, str):
        raise ScorerError(f"{scorer}: param '{key}' must be a string")
    if choices is not None and value not in choices:
        raise ScorerError(f"{scorer}: param '{key}' must be one of {', '.join(choices)}")
    return value


def param_int(params: Mapping[str, Any], key: str, default: int, *, scorer: str, minimum: int = 0) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ScorerError(f"{scorer}: param '{key}' must be an integer >= {minimum}")
    return value
