"""Evaluation scorers: pure functions behind a name registry.

Importing this package registers every built-in scorer; use
``run_scorer(name, output=..., expected=..., inputs=...)`` to score, ``catalogue()`` (and
``catalogue_markdown()``) to describe them.
"""

from . import (  # noqa: F401  (importing a scorer module registers it)
    contains,
    exact,
    hallucination,
    json_valid,
    lexical_similarity,
    llm_judge,
    regex,
    registry,
    semantic_similarity,
)
from .base import Judge, ScorerError, ScoreResult, ScorerParam, ScorerSpec, ScorerUnavailable
from .catalogue import catalogue, catalogue_markdown
from .registry import get_scorer, register, run_scorer, scorer_names, validate_params

__all__ = [
    "Judge",
    "ScoreResult",
    "ScorerError",
    "ScorerParam",
    "ScorerSpec",
    "ScorerUnavailable",
    "catalogue",
    "catalogue_markdown",
    "get_scorer",
    "register",
    "registry",
    "run_scorer",
    "scorer_names",
    "validate_params",
]
