"""Name -> scorer lookup, parameter validation and the single entry point ``run_scorer``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .base import Judge, ScorerError, ScoreResult, ScorerSpec, clamp_score

_REGISTRY: dict[str, ScorerSpec] = {}


def register(spec: ScorerSpec) -> ScorerSpec:
    existing = _REGISTRY.get(spec.name)
    if existing is not None and existing is not spec:
        # A programming error, not bad user input, hence not ScorerError.
        raise ValueError(f"scorer {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def get_scorer(name: str) -> ScorerSpec:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ScorerError(f"unknown scorer {name!r}; known scorers: {', '.join(scorer_names())}") from None


def scorer_names() -> list[str]:
    return sorted(_REGISTRY)


def _check_threshold(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScorerError(f"{name}: threshold must be a number in [0, 1]")
    value = float(value)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ScorerError(f"{name}: threshold must be a number in [0, 1]")
    return value


def validate_params(name: str, params: Mapping[str, Any] | None) -> None:
    """Raise ScorerError when ``params`` cannot work for scorer ``name``.

    Meant for API input checking, so a bad regex or schema is rejected when a
    run is configured rather than on every example.
    """
    spec = get_scorer(name)
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ScorerError(f"{name}: params must be an object")
    if "threshold" in params:
        _check_threshold(name, params["threshold"])
    if spec.validate is not None:
        spec.validate(params)


def run_scorer(
    name: str,
    *,
    output: str,
    expected: str | None,
    inputs: Mapping[str, Any] | None,
    params: Mapping[str, Any] | None = None,
    threshold: float | None = None,
    judge: Judge | None = None,
) -> ScoreResult:
    """Score one output. Threshold precedence: argument, then ``params['threshold']``, then the scorer default."""
    spec = get_scorer(name)
    params = dict(params or {})
    validate_params(name, params)
    param_threshold = params.pop("threshold", None)
    if threshold is not None:
        effective = _check_threshold(name, threshold)
    elif param_threshold is not None:
        effective = float(param_threshold)
    else:
        effective = spec.default_threshold

    if output is None:
        output = ""
    if not isinstance(output, str):
        raise ScorerError(f"{name}: output must be a string")
    if expected is not None and not isinstance(expected, str):
        raise ScorerError(f"{name}: expected output must be a string")
    if spec.needs_expected and expected is None:
        raise ScorerError(f"{name} needs an expected output")
    if spec.needs_judge and judge is None:
        raise ScorerError(f"{name} needs a judge model endpoint")

    raw_score, details = spec.func(
        output=output, expected=expected, inputs=dict(inputs or {}), params=params, judge=judge
    )
    score = clamp_score(raw_score)
    return ScoreResult(score=score, passed=score >= effective, details=details, threshold=effective)
